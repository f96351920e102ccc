//! Trace identity: W3C `traceparent` in and out, and the trace id of a request.
//!
//! A request's trace id is its request id when that is a UUID (Cairn's own ids are
//! UUIDv7, 128 bits like a trace id); a client's non-UUID `x-request-id` is hashed to
//! one. A valid `traceparent` wins: the request continues the caller's trace.

/// Where a trace starts: its id, and the caller's span when it continues one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    /// The caller's span (from `traceparent`), the parent of this request's root.
    pub remote_parent: Option<u64>,
}

impl TraceContext {
    /// The context of a request: its `traceparent` header when valid, else one made
    /// from the request id.
    pub fn for_request(traceparent: Option<&str>, request_id: &str) -> Self {
        traceparent
            .and_then(parse_traceparent)
            .unwrap_or_else(|| Self {
                trace_id: trace_id_of(request_id),
                remote_parent: None,
            })
    }
}

/// Parses a W3C trace-context `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`); `None`
/// for any malformed one, an all-zero id or the forbidden version `ff`.
pub fn parse_traceparent(v: &str) -> Option<TraceContext> {
    let mut parts = v.trim().split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(version, 2) || version.eq_ignore_ascii_case("ff") || !hex(flags, 2) {
        return None;
    }
    // Version 00 has exactly four fields; later versions may append more.
    if version == "00" && parts.next().is_some() {
        return None;
    }
    if !hex(trace, 32) || !hex(parent, 16) {
        return None;
    }
    let trace_id = u128::from_str_radix(trace, 16).ok()?;
    let span = u64::from_str_radix(parent, 16).ok()?;
    (trace_id != 0 && span != 0).then_some(TraceContext {
        trace_id,
        remote_parent: Some(span),
    })
}

/// The `traceparent` naming `span` of `trace` (sampled), for a call Cairn makes.
pub fn format_traceparent(trace: u128, span: u64) -> String {
    format!("00-{trace:032x}-{span:016x}-01")
}

/// The trace id of a request id: the UUID's bits, or a hash of any other text.
pub fn trace_id_of(request_id: &str) -> u128 {
    match uuid::Uuid::try_parse(request_id) {
        Ok(u) if !u.is_nil() => u.as_u128(),
        _ => {
            let h = blake3::hash(request_id.as_bytes());
            let mut b = [0u8; 16];
            b.copy_from_slice(&h.as_bytes()[..16]);
            u128::from_be_bytes(b).max(1)
        }
    }
}

/// A trace id as 32 lowercase hex digits (how the API and OTLP viewers show it).
pub fn trace_hex(trace: u128) -> String {
    format!("{trace:032x}")
}

/// A span id as 16 lowercase hex digits.
pub fn span_hex(span: u64) -> String {
    format!("{span:016x}")
}

/// Parses a trace id given as 32 hex digits or as a UUID.
pub fn parse_trace_id(s: &str) -> Option<u128> {
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return u128::from_str_radix(s, 16).ok().filter(|v| *v != 0);
    }
    uuid::Uuid::try_parse(s)
        .ok()
        .map(|u| u.as_u128())
        .filter(|v| *v != 0)
}

/// A fresh trace id (for work no request started, such as an ingest job).
pub fn new_trace_id() -> u128 {
    rand::random::<u128>().max(1)
}

/// A fresh, non-zero span id.
pub fn new_span_id() -> u64 {
    rand::random::<u64>().max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_continued() {
        let c =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(trace_hex(c.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(c.remote_parent, Some(0x00f0_67aa_0ba9_02b7));
        let ctx = TraceContext::for_request(
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "ignored",
        );
        assert_eq!(ctx, c);
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-zbf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_trace_id_is_the_request_id_when_it_is_a_uuid() {
        let id = "01934f1c-7b2a-7cde-8f00-0123456789ab";
        assert_eq!(
            trace_hex(trace_id_of(id)),
            "01934f1c7b2a7cde8f000123456789ab"
        );
        assert_eq!(
            parse_trace_id(&trace_hex(trace_id_of(id))),
            Some(trace_id_of(id))
        );
        assert_eq!(parse_trace_id(id), Some(trace_id_of(id)));
        // Any other id: a stable hash.
        assert_eq!(trace_id_of("trace-123"), trace_id_of("trace-123"));
        assert_ne!(trace_id_of("trace-123"), trace_id_of("trace-124"));
        let ctx = TraceContext::for_request(Some("garbage"), id);
        assert_eq!(ctx.trace_id, trace_id_of(id));
        assert_eq!(ctx.remote_parent, None);
    }

    #[test]
    fn traceparents_round_trip() {
        let s = format_traceparent(7, 9);
        let c = parse_traceparent(&s).unwrap();
        assert_eq!((c.trace_id, c.remote_parent), (7, Some(9)));
    }
}

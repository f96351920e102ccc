//! Server-sent events (the `text/event-stream` format of WHATWG HTML, "Server-sent
//! events", "Interpreting an event stream"), read from a blocking body as it arrives.
//!
//! The parsing follows the spec: a line ends in CRLF, LF or CR (a CRLF split across two
//! reads is still one line end); one leading byte-order mark is dropped; a line starting
//! with `:` is a comment; a line without a colon is a field with an empty value; one space
//! after the colon is stripped; the `data` lines of one event are joined with `"\n"`; a
//! blank line dispatches the event, and an event without `data` is not dispatched; `event`
//! names the event type, `id` (unless it contains NUL) sets the last event id, which
//! persists across events; unknown fields are ignored. `retry` sets a reconnection delay,
//! which this client never uses (a completion is a `POST` that cannot be resumed), so it
//! is recognized and dropped. At the end of the body, an event without its blank line is
//! discarded, as the spec says.
//!
//! On top of the format, the OpenAI streaming convention: [`SseReader`] yields the `data`
//! payload of each event until one whose data is `[DONE]`; an event of type `error` is the
//! provider reporting a failure; a body that ends before `[DONE]` is an error, not a
//! silent success.
//!
//! A line longer than [`MAX_LINE_BYTES`] or an event whose data exceeds
//! [`MAX_EVENT_BYTES`] ends the stream with an `upstream_error` naming the cap, so a
//! misbehaving provider cannot make the reader buffer without bound.

use crate::{Error, Result};
use std::io::{BufRead, ErrorKind};

/// The largest event accepted: its `data` lines joined with `"\n"`, 1 MiB.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// The longest line accepted, terminator excluded: a full event's data on one line plus
/// 1 KiB for the field name (1025 KiB).
pub const MAX_LINE_BYTES: usize = MAX_EVENT_BYTES + 1024;

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The event type: the last `event` field, or `message` when there was none.
    pub event: String,
    /// The `data` lines, joined with `"\n"`.
    pub data: String,
    /// The last event id at dispatch (the `id` field persists across events).
    pub id: String,
}

/// Reads events from a byte stream; as an iterator, the `data` payloads until `[DONE]`.
pub struct SseReader<R> {
    reader: R,
    /// A line just ended in CR: an LF starting the next read belongs to it.
    after_cr: bool,
    /// No line read yet (the place for a byte-order mark).
    at_start: bool,
    line: Vec<u8>,
    event_type: String,
    data: String,
    last_id: String,
    done: bool,
}

fn upstream(message: String) -> Error {
    Error::Upstream {
        status: None,
        message,
    }
}

/// `bytes` in the largest binary unit that divides it.
fn size(bytes: usize) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

impl<R: BufRead> SseReader<R> {
    /// Reads events from `reader`.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            after_cr: false,
            at_start: true,
            line: Vec::new(),
            event_type: String::new(),
            data: String::new(),
            last_id: String::new(),
            done: false,
        }
    }

    /// Reads the next line into `self.line`, without its terminator. `Ok(false)` at the
    /// end of the body; an unterminated last line is left in `self.line` and dropped.
    fn read_line(&mut self) -> Result<bool> {
        self.line.clear();
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(upstream(format!("reading the stream: {e}"))),
            };
            if buf.is_empty() {
                return Ok(false);
            }
            if self.after_cr {
                self.after_cr = false;
                if buf[0] == b'\n' {
                    self.reader.consume(1);
                    continue;
                }
            }
            let end = buf.iter().position(|&b| b == b'\n' || b == b'\r');
            let take = end.unwrap_or(buf.len());
            if self.line.len() + take > MAX_LINE_BYTES {
                return Err(upstream(format!(
                    "the provider sent an event-stream line longer than the {} line cap",
                    size(MAX_LINE_BYTES)
                )));
            }
            self.line.extend_from_slice(&buf[..take]);
            match end {
                Some(i) => {
                    self.after_cr = buf[i] == b'\r';
                    self.reader.consume(i + 1);
                    return Ok(true);
                }
                None => self.reader.consume(take),
            }
        }
    }

    /// The next dispatched event; `None` at the end of the body.
    pub fn next_event(&mut self) -> Option<Result<SseEvent>> {
        loop {
            match self.read_line() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
            let mut bytes = self.line.as_slice();
            if std::mem::take(&mut self.at_start) {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            if bytes.is_empty() {
                let event_type = std::mem::take(&mut self.event_type);
                if self.data.is_empty() {
                    continue;
                }
                let mut data = std::mem::take(&mut self.data);
                data.pop(); // the "\n" after the last data line
                return Some(Ok(SseEvent {
                    event: if event_type.is_empty() {
                        "message".into()
                    } else {
                        event_type
                    },
                    data,
                    id: self.last_id.clone(),
                }));
            }
            if bytes[0] == b':' {
                continue;
            }
            let line = String::from_utf8_lossy(bytes);
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_ref(), ""),
            };
            match field {
                "event" => self.event_type = value.to_owned(),
                "data" => {
                    if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                        return Some(Err(upstream(format!(
                            "the provider sent an event larger than the {} event cap",
                            size(MAX_EVENT_BYTES)
                        ))));
                    }
                    self.data.push_str(value);
                    self.data.push('\n');
                }
                "id" if !value.contains('\0') => self.last_id = value.to_owned(),
                // `retry` (reconnection delay) is unused: see the module docs.
                _ => {}
            }
        }
    }
}

impl<R: BufRead> Iterator for SseReader<R> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.next_event() {
            Some(Ok(event)) if event.data == "[DONE]" => {
                // Read to the end of the body (what little follows `[DONE]`, at most
                // 64 KiB) so the HTTP client can put the connection back in its pool.
                let _ = std::io::copy(
                    &mut std::io::Read::take(&mut self.reader, 64 << 10),
                    &mut std::io::sink(),
                );
                None
            }
            Some(Ok(event)) if event.event == "error" => {
                let id = if event.id.is_empty() {
                    String::new()
                } else {
                    format!(" (event id {:?})", event.id)
                };
                Some(Err(upstream(format!(
                    "the provider sent an error event{id}: {}",
                    event.data
                ))))
            }
            Some(Ok(event)) => return Some(Ok(event.data)),
            Some(Err(e)) => Some(Err(e)),
            None => {
                let mut message = String::from("the stream ended without [DONE]");
                if !self.last_id.is_empty() {
                    message.push_str(&format!(" (last event id {:?})", self.last_id));
                }
                Some(Err(upstream(message)))
            }
        };
        self.done = true;
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Read};

    /// A body delivered in the given pieces, one per read, as a network stream would.
    struct Chunked {
        pieces: Vec<Vec<u8>>,
        next: usize,
    }

    impl Read for Chunked {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let Some(piece) = self.pieces.get_mut(self.next) else {
                return Ok(0);
            };
            let n = piece.len().min(out.len());
            out[..n].copy_from_slice(&piece[..n]);
            piece.drain(..n);
            if piece.is_empty() {
                self.next += 1;
            }
            Ok(n)
        }
    }

    fn chunked(pieces: &[&str]) -> BufReader<Chunked> {
        BufReader::new(Chunked {
            pieces: pieces.iter().map(|p| p.as_bytes().to_vec()).collect(),
            next: 0,
        })
    }

    fn events<R: BufRead>(reader: R) -> Vec<SseEvent> {
        let mut sse = SseReader::new(reader);
        std::iter::from_fn(|| sse.next_event())
            .map(Result::unwrap)
            .collect()
    }

    fn payloads(body: &str) -> Vec<String> {
        SseReader::new(body.as_bytes())
            .map(Result::unwrap)
            .collect()
    }

    fn event(event: &str, data: &str, id: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: id.into(),
        }
    }

    #[test]
    fn data_lines_until_done() {
        let body = ": keep-alive\n\nevent: message\ndata: {\"a\":1}\r\n\ndata:{\"b\":2}\n\ndata: [DONE]\n\ndata: ignored\n\n";
        assert_eq!(payloads(body), vec!["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn a_cut_stream_is_an_error() {
        let got: Vec<Result<String>> = SseReader::new("data: {}\n\n".as_bytes()).collect();
        assert!(got[0].is_ok());
        let err = got[1].as_ref().unwrap_err();
        assert_eq!(err.code(), cairn_types::ErrorCode::UpstreamError);
        assert!(err.to_string().contains("without [DONE]"), "{err}");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn cr_lf_and_crlf_all_end_lines() {
        assert_eq!(
            payloads("data: a\r\rdata: b\n\ndata: c\r\n\r\ndata: [DONE]\r\r"),
            vec!["a", "b", "c"]
        );
    }

    #[test]
    fn lines_split_across_reads() {
        // Field name, value, and the blank line each cut between reads; a CRLF cut between
        // its CR and its LF is one line end, not an end plus a blank line.
        let reader = chunked(&[
            "da",
            "ta: he",
            "llo\r",
            "\n",
            "data: wor",
            "ld\r",
            "\n\r",
            "\n",
            "id: 7\r",
            "\r",
            "event: x\r",
            "\ndata: y\r",
            "\r\n",
        ]);
        assert_eq!(
            events(reader),
            vec![event("message", "hello\nworld", ""), event("x", "y", "7")]
        );
    }

    #[test]
    fn a_crlf_split_between_reads_does_not_dispatch_early() {
        // Were the LF after a read-ending CR taken for a blank line, "a" and "b" would be
        // dispatched as two events.
        let reader = chunked(&["data: a\r", "\ndata: b\r", "\n\r\n"]);
        assert_eq!(events(reader), vec![event("message", "a\nb", "")]);
    }

    #[test]
    fn multi_line_data_is_one_event_joined_with_newlines() {
        assert_eq!(
            payloads("data: {\"a\":\ndata:  1}\ndata\n\ndata: [DONE]\n\n"),
            // The second line keeps its second space; `data` without a colon adds an empty line.
            vec!["{\"a\":\n 1}\n"]
        );
    }

    #[test]
    fn fields_comments_and_ids_follow_the_spec() {
        let body = "\u{feff}: comment\nevent: delta\nid: 1\nretry: 3000\nfoo: bar\ndata: one\n\n\
                    event: ping\n\n\
                    data: two\nid: a\0b\n\n\
                    id\ndata:\n\n";
        assert_eq!(
            events(body.as_bytes()),
            vec![
                event("delta", "one", "1"),
                // The `ping` event had no data: not dispatched, and its type does not leak.
                // An id with NUL is ignored: the last id persists.
                event("message", "two", "1"),
                // `id` alone resets it; `data:` alone is one empty data line.
                event("message", "", ""),
            ]
        );
    }

    #[test]
    fn an_unterminated_last_event_is_discarded() {
        assert_eq!(
            events("data: a\n\ndata: b\n".as_bytes()),
            vec![event("message", "a", "")]
        );
        let got: Vec<Result<String>> =
            SseReader::new("data: a\n\ndata: [DONE]".as_bytes()).collect();
        assert_eq!(got.len(), 2);
        assert!(got[1].is_err());
    }

    #[test]
    fn an_error_event_is_an_upstream_error() {
        let got: Vec<Result<String>> =
            SseReader::new("id: 3\nevent: error\ndata: overloaded\n\ndata: x\n\n".as_bytes())
                .collect();
        assert_eq!(got.len(), 1);
        let err = got[0].as_ref().unwrap_err();
        assert_eq!(err.code(), cairn_types::ErrorCode::UpstreamError);
        assert!(
            err.to_string()
                .ends_with("error event (event id \"3\"): overloaded"),
            "{err}"
        );
    }

    #[test]
    fn an_oversized_event_fails_naming_the_cap() {
        // Many short data lines: no line is long, the event is.
        let line = format!("data: {}\n", "x".repeat(1023));
        let mut body = line.repeat(MAX_EVENT_BYTES / 1024 + 1);
        body.push('\n');
        let got: Vec<Result<String>> = SseReader::new(body.as_bytes()).collect();
        assert_eq!(got.len(), 1);
        let err = got[0].as_ref().unwrap_err();
        assert_eq!(err.code(), cairn_types::ErrorCode::UpstreamError);
        assert!(err.to_string().contains("1 MiB event cap"), "{err}");

        // An event of exactly the cap, on one line, is accepted.
        let exact = format!(
            "data: {}\n\ndata: [DONE]\n\n",
            "y".repeat(MAX_EVENT_BYTES - 1)
        );
        assert_eq!(payloads(&exact)[0].len(), MAX_EVENT_BYTES - 1);
    }

    #[test]
    fn an_oversized_line_fails_naming_the_cap() {
        // A comment is never buffered as data, but its line still is until its end.
        let body = format!(": {}\n\ndata: [DONE]\n\n", "z".repeat(MAX_LINE_BYTES));
        let got: Vec<Result<String>> = SseReader::new(chunked(&[&body])).collect();
        assert_eq!(got.len(), 1);
        let err = got[0].as_ref().unwrap_err();
        assert_eq!(err.code(), cairn_types::ErrorCode::UpstreamError);
        assert!(err.to_string().contains("1025 KiB line cap"), "{err}");
    }
}

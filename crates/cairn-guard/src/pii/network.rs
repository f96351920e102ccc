//! Email addresses and IP addresses.
//!
//! IPs are parsed with `std::net`, so octets over 255 or malformed IPv6 never match; a
//! dotted quad that is part of a longer dotted run (a version like `10.0.19045.3803.1`) is
//! not an address.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

use super::{Candidate, PiiKind, char_at, char_before};

#[allow(clippy::expect_used)] // literal patterns, covered by tests
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"[\p{L}\p{N}._%+'-]+@[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?)*\.\p{L}{2,24}",
    )
});
static IPV4: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"));
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?")
});

pub(crate) fn find_emails(text: &str, out: &mut Vec<Candidate>) {
    for m in EMAIL.find_iter(text) {
        let raw = m.as_str();
        // Trim punctuation that the local-part class allows but an address rarely starts with.
        let lead = raw.len() - raw.trim_start_matches(['.', '\'', '-', '+']).len();
        let start = m.start() + lead;
        let local = &text[start..text[start..].find('@').map_or(start, |i| start + i)];
        if local.is_empty() || local.ends_with('.') || local.contains("..") {
            continue;
        }
        // "scheme://user:password@host" is a URL with credentials, not an address.
        let token_start = text[..start]
            .rfind(char::is_whitespace)
            .map_or(0, |i| i + 1);
        if char_before(text, start) == Some(':') && text[token_start..start].contains("://") {
            continue;
        }
        out.push(Candidate {
            kind: PiiKind::Email,
            start,
            end: m.end(),
            score: 0.95,
        });
    }
}

pub(crate) fn find_ips(text: &str, out: &mut Vec<Candidate>) {
    for m in IPV4.find_iter(text) {
        let dotted_before = char_before(text, m.start()) == Some('.')
            && char_before(text, m.start() - 1).is_some_and(|c| c.is_ascii_digit());
        let dotted_after = char_at(text, m.end()) == Some('.')
            && char_at(text, m.end() + 1).is_some_and(|c| c.is_ascii_digit());
        if dotted_before || dotted_after || Ipv4Addr::from_str(m.as_str()).is_err() {
            continue;
        }
        out.push(Candidate {
            kind: PiiKind::IpAddress,
            start: m.start(),
            end: m.end(),
            score: 0.9,
        });
    }
    for m in IPV6.find_iter(text) {
        let s = m.as_str();
        let glued_before =
            char_before(text, m.start()).is_some_and(|c| c.is_alphanumeric() || c == ':');
        let glued_after = char_at(text, m.end()).is_some_and(|c| c.is_alphanumeric() || c == ':');
        let groups = s.split(':').filter(|g| !g.is_empty()).count();
        if glued_before || glued_after || groups < 3 || Ipv6Addr::from_str(s).is_err() {
            continue;
        }
        out.push(Candidate {
            kind: PiiKind::IpAddress,
            start: m.start(),
            end: m.end(),
            score: 0.9,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str, f: fn(&str, &mut Vec<Candidate>)) -> Vec<String> {
        let mut out = Vec::new();
        f(text, &mut out);
        out.into_iter()
            .map(|c| text[c.start..c.end].to_owned())
            .collect()
    }

    #[test]
    fn emails() {
        assert_eq!(
            found("mail jane.doe+x@example.co.uk.", find_emails),
            ["jane.doe+x@example.co.uk"]
        );
        assert_eq!(
            found("<müller@exämple.de>", find_emails),
            ["müller@exämple.de"]
        );
        assert!(found("ssh deploy@170.136.199.137", find_emails).is_empty());
        assert!(found("@handle and foo@bar", find_emails).is_empty());
    }

    #[test]
    fn ips() {
        assert_eq!(found("from 192.168.1.20, ok", find_ips), ["192.168.1.20"]);
        assert_eq!(found("allow 39.22.220.94/32", find_ips), ["39.22.220.94"]);
        assert_eq!(
            found("v6 2001:db8::8a2e:370:7334 here", find_ips),
            ["2001:db8::8a2e:370:7334"]
        );
        assert_eq!(
            found("fe80:0:0:0:200:f8ff:fe21:67cf", find_ips),
            ["fe80:0:0:0:200:f8ff:fe21:67cf"]
        );
        assert!(found("version 10.0.19045.3803", find_ips).is_empty());
        assert!(found("bad 256.1.1.1", find_ips).is_empty());
        assert!(
            found(
                "at 12:30:45 and std::vector and 00:1a:2b:3c:4d:5e",
                find_ips
            )
            .is_empty()
        );
    }
}

//! `http_get`: fetches a web page for the agent, off unless the agent lists hosts.
//!
//! - Only `http` and `https` URLs whose host is on the agent's allow-list
//!   (`http_allow_hosts`: exact names or `*.domain`).
//! - The addresses a host resolves to are checked where the connection is made (a
//!   resolver wrapped around ureq's), so a name cannot be re-pointed between a check and
//!   the connection: loopback, private, link-local, unique-local, CGNAT, multicast and
//!   unspecified addresses are refused unless `http_allow_private`.
//! - Redirects are followed by hand (at most five), each target checked like the first.
//! - Time and size limits: 10 s per request, 2 MB read, text only; HTML is reduced to
//!   its text.

use super::{Tool, ToolCtx, ToolSpec, cap, str_arg};
use crate::{Error, Result};
use cairn_config::AgentSpec;
use cairn_types::ErrorCode;
use serde_json::{Value, json};
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Redirects followed.
const MAX_REDIRECTS: usize = 5;
/// Bytes read from a response.
const MAX_BYTES: u64 = 2 * 1024 * 1024;
/// Characters of text returned.
const MAX_CHARS: usize = 5_000;
/// Time per request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The `http_get` tool.
pub struct HttpGet {
    allow_hosts: Vec<String>,
    allow_private: bool,
}

impl HttpGet {
    pub fn new(spec: &AgentSpec) -> Self {
        Self {
            allow_hosts: spec
                .http_allow_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            allow_private: spec.http_allow_private,
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow_hosts.iter().any(|a| match a.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => *a == host,
        })
    }
}

/// Whether `ip` is one only a private network (or this machine) reaches.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 of any IPv4
                || s[0] == 0x2001 && s[1] == 0x0db8 // documentation
        }
    }
}

/// ureq's resolver, refusing private addresses (and saying why in `refused`).
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
    refused: Arc<Mutex<Option<String>>>,
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> std::result::Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        if !self.allow_private {
            let bad: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| is_private(a.ip()))
                .collect();
            if let Some(a) = bad.first() {
                let host = uri.host().unwrap_or("?");
                *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Some(format!(
                    "`{host}` resolves to {}, a private, loopback or link-local address",
                    a.ip()
                ));
                return Err(ureq::Error::HostNotFound);
            }
        }
        Ok(addrs)
    }
}

fn refused(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::Forbidden, message)
}

impl HttpGet {
    fn check_url(&self, url: &str) -> Result<ureq::http::Uri> {
        let lower = url.trim().to_ascii_lowercase();
        let Some(rest) = lower
            .strip_prefix("http://")
            .or_else(|| lower.strip_prefix("https://"))
        else {
            return Err(refused(format!("`{url}`: only http and https URLs")));
        };
        if rest
            .split(['/', '?', '#'])
            .next()
            .is_some_and(|authority| authority.contains('@'))
        {
            return Err(refused(format!(
                "`{url}`: URLs with credentials are refused"
            )));
        }
        let uri: ureq::http::Uri = url.parse().map_err(|e| {
            Error::new(
                ErrorCode::InvalidInput,
                format!("`{url}` is not a URL: {e}"),
            )
        })?;
        let host = uri.host().unwrap_or("");
        if !self.host_allowed(host) {
            return Err(refused(format!(
                "`{host}` is not on this agent's allow-list ({})",
                self.allow_hosts.join(", ")
            )));
        }
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>()
            && !self.allow_private
            && is_private(ip)
        {
            return Err(refused(format!(
                "`{host}` is a private, loopback or link-local address"
            )));
        }
        Ok(uri)
    }

    /// Fetches `url`, following redirects by hand; the final URL, content type and body.
    pub fn fetch(&self, url: &str, timeout: Duration) -> Result<(String, String, String)> {
        let (agent, refused_why) = guarded_agent(self.allow_private, timeout);
        let mut current = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let uri = self.check_url(&current)?;
            let response = match agent.get(&uri).call() {
                Ok(r) => r,
                Err(e) => {
                    if let Some(why) = refusal(&refused_why) {
                        return Err(refused(why));
                    }
                    let code = match e {
                        ureq::Error::Timeout(_) => ErrorCode::Timeout,
                        _ => ErrorCode::UpstreamError,
                    };
                    return Err(Error::new(code, format!("GET {current} failed: {e}")));
                }
            };
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        Error::new(
                            ErrorCode::UpstreamError,
                            format!("{status} without a Location"),
                        )
                    })?;
                current = resolve_location(&uri, location);
                continue;
            }
            if !status.is_success() {
                return Err(Error::new(
                    ErrorCode::UpstreamError,
                    format!("GET {current} answered {status}"),
                ));
            }
            let kind = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            let textual = kind.is_empty()
                || kind.starts_with("text/")
                || kind.contains("json")
                || kind.contains("xml");
            if !textual {
                return Err(Error::new(
                    ErrorCode::UnsupportedMediaType,
                    format!("GET {current} returned `{kind}`, not text"),
                ));
            }
            let mut bytes = Vec::new();
            response
                .into_body()
                .into_reader()
                .take(MAX_BYTES)
                .read_to_end(&mut bytes)
                .map_err(|e| {
                    Error::new(ErrorCode::UpstreamError, format!("reading {current}: {e}"))
                })?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let text = if kind.contains("html") {
                html_text(&text)
            } else {
                text
            };
            return Ok((current, kind, text));
        }
        Err(Error::new(
            ErrorCode::UpstreamError,
            format!("more than {MAX_REDIRECTS} redirects from {url}"),
        ))
    }
}

/// Why the guarded resolver refused a host, if it did.
pub(crate) type Refusal = Arc<Mutex<Option<String>>>;

/// The reason a failed call was refused by the guarded resolver, if it was.
pub(crate) fn refusal(why: &Refusal) -> Option<String> {
    why.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// A client that follows no redirects, reports every status as a response, gives up at
/// `timeout`, and (unless `allow_private`) connects to no private, loopback or
/// link-local address, checked on the addresses the host resolves to.
pub(crate) fn guarded_agent(allow_private: bool, timeout: Duration) -> (ureq::Agent, Refusal) {
    let refused_why = Arc::new(Mutex::new(None));
    let config = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent("cairn-agent/1")
        .build();
    let agent = ureq::Agent::with_parts(
        config,
        DefaultConnector::new(),
        GuardedResolver {
            allow_private,
            refused: refused_why.clone(),
        },
    );
    (agent, refused_why)
}

/// A `Location` header against the URL that sent it.
fn resolve_location(base: &ureq::http::Uri, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let origin = format!(
        "{}://{}",
        base.scheme_str().unwrap_or("http"),
        base.authority().map_or("", |a| a.as_str())
    );
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{}://{rest}", base.scheme_str().unwrap_or("http"));
    }
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = base.path();
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{origin}{dir}/{location}")
}

/// The visible text of an HTML page (scripts, styles and tags dropped, space collapsed).
fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        if lower[i..].starts_with("<script") || lower[i..].starts_with("<style") {
            let close = if lower[i..].starts_with("<script") {
                "</script>"
            } else {
                "</style>"
            };
            i = lower[i..]
                .find(close)
                .map_or(html.len(), |e| i + e + close.len());
            continue;
        }
        if html.as_bytes()[i] == b'<' {
            i = html[i..].find('>').map_or(html.len(), |e| i + e + 1);
            out.push(' ');
            continue;
        }
        let next = html[i..].find('<').map_or(html.len(), |e| i + e);
        out.push_str(&html[i..next]);
        i = next;
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Tool for HttpGet {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "http_get".into(),
            description: format!(
                "Fetches a web page (GET) and returns its text. Allowed hosts: {}.",
                self.allow_hosts.join(", ")
            ),
            parameters: json!({
                "type": "object",
                "properties": {"url": {"type": "string", "maxLength": 2000}},
                "required": ["url"],
                "additionalProperties": false
            }),
            side_effects: true,
        }
    }

    fn call(&self, ctx: &ToolCtx<'_>, args: &Value) -> Result<String> {
        let url = str_arg(args, "url")?;
        let left = ctx
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        let (final_url, kind, text) =
            self.fetch(url, TIMEOUT.min(left).max(Duration::from_millis(100)))?;
        Ok(format!("{final_url} ({kind})\n{}", cap(&text, MAX_CHARS)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn tool(hosts: &[&str], private: bool) -> HttpGet {
        HttpGet::new(&AgentSpec {
            tools: vec!["http_get".into()],
            http_allow_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            http_allow_private: private,
            ..AgentSpec::default()
        })
    }

    #[test]
    fn private_ranges_are_recognized() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::6810:85e5", "8.8.8.8"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_connection() {
        let t = tool(&["docs.example.com", "*.postgresql.org"], false);
        t.check_url("https://docs.example.com/a").unwrap();
        t.check_url("https://www.postgresql.org/docs/").unwrap();
        for (url, why) in [
            ("https://evil.example.net/", "allow-list"),
            ("https://postgresql.org.evil.net/", "allow-list"),
            ("file:///etc/passwd", "only http and https"),
            ("ftp://docs.example.com/", "only http and https"),
            ("https://user:pw@docs.example.com/", "credentials"),
        ] {
            let e = t.check_url(url).unwrap_err();
            assert_eq!(e.code, ErrorCode::Forbidden);
            assert!(e.message.contains(why), "{url}: {}", e.message);
        }
        let t = tool(&["127.0.0.1"], false);
        assert!(
            t.check_url("http://127.0.0.1:8080/")
                .unwrap_err()
                .message
                .contains("private")
        );
    }

    #[test]
    fn names_resolving_to_private_addresses_are_refused_at_connect() {
        // `localhost` is on the list, but resolves to loopback.
        let t = tool(&["localhost"], false);
        let e = t
            .fetch("http://localhost:9/", Duration::from_secs(2))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden, "{}", e.message);
        assert!(e.message.contains("resolves to"), "{}", e.message);
    }

    #[test]
    fn redirects_are_checked_like_the_first_url() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(2) {
                let mut s = stream.unwrap();
                let mut buf = [0u8; 2048];
                let n = s.read(&mut buf).unwrap();
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let reply = if req.starts_with("GET /start") {
                    format!(
                        "HTTP/1.1 302 Found\r\nLocation: http://elsewhere.test:{port}/x\r\nContent-Length: 0\r\n\r\n"
                    )
                } else {
                    let body = "<html><script>x()</script><p>Hello &amp; bye</p></html>";
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                };
                s.write_all(reply.as_bytes()).unwrap();
            }
        });
        let t = tool(&["127.0.0.1"], true);
        let e = t
            .fetch(
                &format!("http://127.0.0.1:{port}/start"),
                Duration::from_secs(5),
            )
            .unwrap_err();
        assert!(
            e.message
                .contains("`elsewhere.test` is not on this agent's allow-list"),
            "{}",
            e.message
        );
        let (_, kind, text) = t
            .fetch(
                &format!("http://127.0.0.1:{port}/page"),
                Duration::from_secs(5),
            )
            .unwrap();
        assert!(kind.starts_with("text/html"));
        assert_eq!(text, "Hello & bye");
    }

    #[test]
    fn locations_resolve_against_the_page() {
        let base: ureq::http::Uri = "https://a.example/docs/x/page.html".parse().unwrap();
        assert_eq!(resolve_location(&base, "/root"), "https://a.example/root");
        assert_eq!(
            resolve_location(&base, "next.html"),
            "https://a.example/docs/x/next.html"
        );
        assert_eq!(
            resolve_location(&base, "//b.example/y"),
            "https://b.example/y"
        );
        assert_eq!(
            resolve_location(&base, "http://c.example/"),
            "http://c.example/"
        );
    }
}

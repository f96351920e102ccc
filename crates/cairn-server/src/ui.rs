//! The web application: `GET /` is its page and `GET /ui/{path}` its files, all
//! compiled into the binary (`ui/` in this crate, browser libraries vendored under
//! `ui/vendor/` by `scripts/vendor-ui.sh`), so debug and release builds serve the same
//! bytes and nothing is read from disk. The files are public (they hold no data; the
//! page signs in to the API like any client) and every response carries a strict
//! Content-Security-Policy: scripts and styles from this origin only, no inline script,
//! no `eval`, no framing. Clients that take gzip get each file gzipped once at first use
//! (with `Vary: Accept-Encoding` and its own ETag).

use crate::error::ApiError;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_types::ErrorCode;
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::OnceLock;

/// One embedded file.
struct Asset {
    /// Its path under `/ui/`.
    path: &'static str,
    mime: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $mime:expr,)*) => {
        &[$(Asset { path: $path, mime: $mime, bytes: include_bytes!(concat!("../ui/", $path)) },)*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the UI serves.
const ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => JS,
    "api.js" => JS,
    "render.js" => JS,
    "library.js" => JS,
    "search.js" => JS,
    "admin.js" => JS,
    "conversations.js" => JS,
    "manage.js" => JS,
    "jobs.js" => JS,
    "assistants.js" => JS,
    "attachments.js" => JS,
    "traces.js" => JS,
    "vendor/preact.mjs" => JS,
    "vendor/hooks.mjs" => JS,
    "vendor/htm.mjs" => JS,
    "vendor/purify.mjs" => JS,
    "vendor/marked.mjs" => JS,
};

/// The policy every UI response carries. `connect-src 'self'`: the page talks to this
/// server's API only; `img-src` allows `data:` for nothing but inline icons the
/// sanitizer lets through.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Whether `path` is one of the UI's (served without authentication).
pub fn is_ui_path(path: &str) -> bool {
    path == "/" || path.starts_with("/ui/")
}

/// Each asset gzipped (level 9) once, when that makes it smaller.
fn gzipped() -> &'static [Option<Vec<u8>>] {
    static GZ: OnceLock<Vec<Option<Vec<u8>>>> = OnceLock::new();
    GZ.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let mut enc = GzEncoder::new(Vec::new(), Compression::best());
                enc.write_all(a.bytes).ok()?;
                enc.finish().ok().filter(|gz| gz.len() < a.bytes.len())
            })
            .collect()
    })
}

/// Whether the client takes gzip (`Accept-Encoding`, not with `q=0`).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Each asset's entity tag (a digest of its bytes), computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.bytes);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// The security headers of every UI response (the request-id layer adds them again to
/// an error it rewrites into the API's envelope).
pub(crate) fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    response
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        let missing = ApiError::new(ErrorCode::NotFound, format!("no UI file `{path}`"));
        return secure(missing.into_response());
    };
    let asset = &ASSETS[i];
    // The gzip variant has its own tag: a strong ETag names exact bytes.
    let gz = gzipped()[i].as_deref().filter(|_| accepts_gzip(request));
    let etag = match gz {
        Some(_) => format!("{}-gz\"", etags()[i].trim_end_matches('"')),
        None => etags()[i].clone(),
    };
    let vary = (header::VARY, HeaderValue::from_static("accept-encoding"));
    if request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(vary.0, vary.1);
        return secure(response);
    }
    let mut response = match gz {
        Some(bytes) => (
            [
                (header::CONTENT_TYPE, asset.mime),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            bytes,
        )
            .into_response(),
        None => ([(header::CONTENT_TYPE, asset.mime)], asset.bytes).into_response(),
    };
    let h = response.headers_mut();
    h.insert(vary.0, vary.1);
    if let Ok(tag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, tag);
    }
    secure(response)
}

/// `GET /`: the application's page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /ui/{path}`: one of its files.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// Every embedded file with its path and bytes (for the size budget's test).
pub fn files() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    ASSETS.iter().map(|a| (a.path, a.bytes))
}

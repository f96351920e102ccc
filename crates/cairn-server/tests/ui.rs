//! The web application's files as the server sends them: public, embedded, under a
//! strict Content-Security-Policy, small, and importing only what is embedded; the
//! vendored libraries byte for byte what `scripts/vendor-ui.sh` wrote.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use sha2::{Digest, Sha256};
use std::io::Write;
use tower::ServiceExt;

fn app() -> axum::Router {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"required\"\n",
        dir.path().join("data").display()
    );
    let (config, _) = cairn_config::load_from_str(&toml, "test", &[]).unwrap();
    let engine = std::sync::Arc::new(cairn_engine::Engine::open(config).unwrap());
    // The directory must outlive the engine; the test process ends soon enough.
    std::mem::forget(dir);
    cairn_server::router(cairn_server::state::AppState::new(engine).unwrap())
}

async fn get(app: &axum::Router, uri: &str, etag: Option<&str>) -> axum::response::Response {
    let mut req = Request::builder().uri(uri);
    if let Some(tag) = etag {
        req = req.header(header::IF_NONE_MATCH, tag);
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn text(res: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn header_of(res: &axum::response::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_page_and_its_files_are_public_and_carry_strict_security_headers() {
    let app = app();
    let page = get(&app, "/", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(header_of(&page, "content-type").starts_with("text/html"));
    let csp = header_of(&page, "content-security-policy");
    for needed in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(needed), "{csp}");
    }
    for banned in ["unsafe-inline", "unsafe-eval", "*", "http:", "https:"] {
        assert!(!csp.contains(banned), "{banned} in {csp}");
    }
    assert_eq!(header_of(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header_of(&page, "referrer-policy"), "no-referrer");
    assert_eq!(header_of(&page, "x-frame-options"), "DENY");

    // No inline script or handler in the page: every script has a src on this origin.
    let html = text(page).await;
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap()];
        assert!(
            tag.contains("src=\"/ui/"),
            "inline or foreign script: {tag}"
        );
    }
    let lower = html.to_lowercase();
    for handler in [" onload=", " onclick=", " onerror=", "javascript:"] {
        assert!(!lower.contains(handler), "{handler}");
    }

    // A file: its type, an entity tag, and 304 when the browser has it.
    let js = get(&app, "/ui/app.js", None).await;
    assert_eq!(js.status(), StatusCode::OK);
    assert!(header_of(&js, "content-type").starts_with("text/javascript"));
    assert_eq!(
        header_of(&js, "content-security-policy"),
        cairn_server::ui::CONTENT_SECURITY_POLICY
    );
    let etag = header_of(&js, "etag");
    assert!(!etag.is_empty());
    let again = get(&app, "/ui/app.js", Some(&etag)).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Anything else under /ui is 404 (no file system behind it); the API still needs a key.
    for missing in [
        "/ui/nope.js",
        "/ui/../Cargo.toml",
        "/ui/vendor/MANIFEST",
        "/ui/",
    ] {
        let res = get(&app, missing, None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{missing}");
    }
    let res = get(&app, "/ui/nope.js", None).await;
    let nosniff = header_of(&res, "x-content-type-options");
    assert_eq!(nosniff, "nosniff", "{}", text(res).await);
    assert_eq!(
        get(&app, "/api/v1/me", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn every_import_is_an_embedded_file_and_the_first_load_is_under_150_kb_gzipped() {
    let files: Vec<(&str, &[u8])> = cairn_server::ui::files().collect();
    let names: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
    for (path, bytes) in &files {
        if !path.ends_with(".js") && !path.ends_with(".mjs") {
            continue;
        }
        let source = std::str::from_utf8(bytes).unwrap();
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        // Static imports: `from"./x"`, `from "./x"`, `import "./x"`.
        for quote in ["from\"", "from \"", "import \""] {
            for (i, _) in source.match_indices(quote) {
                let rest = &source[i + quote.len()..];
                let target = &rest[..rest.find('"').unwrap()];
                assert!(
                    target.starts_with("./"),
                    "{path} imports `{target}`: a bare or foreign specifier"
                );
                let resolved = match dir {
                    "" => target[2..].to_owned(),
                    d => format!("{d}/{}", &target[2..]),
                };
                assert!(
                    names.contains(&resolved.as_str()),
                    "{path} imports {resolved}, which is not embedded"
                );
            }
        }
        assert!(!source.contains("sourceMappingURL"), "{path}");
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for (_, bytes) in &files {
        gz.write_all(bytes).unwrap();
    }
    let total = gz.finish().unwrap().len();
    assert!(total < 150 * 1024, "first load {total} bytes gzipped");
}

#[test]
fn the_vendored_libraries_are_what_the_vendoring_script_wrote() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/vendor");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST")).unwrap();
    let mut checked = 0;
    for line in manifest.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.split_whitespace();
        let (file, package, sha) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let got: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            got, sha,
            "{file} ({package}) differs from what scripts/vendor-ui.sh wrote"
        );
        assert!(
            cairn_server::ui::files().any(|(p, _)| p == format!("vendor/{file}")),
            "{file} is vendored but not served"
        );
        checked += 1;
    }
    assert_eq!(checked, 5);
}

async fn fetch(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> axum::response::Response {
    let mut req = Request::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn body_bytes(res: axum::response::Response) -> Vec<u8> {
    axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn files_go_gzipped_to_clients_that_take_it_with_their_own_etag() {
    use std::io::Read;
    let app = app();
    let plain = fetch(&app, "/ui/app.js", &[]).await;
    assert_eq!(header_of(&plain, "content-encoding"), "");
    assert_eq!(header_of(&plain, "vary"), "accept-encoding");
    let plain_tag = header_of(&plain, "etag");
    let original = body_bytes(plain).await;

    let gz = fetch(&app, "/ui/app.js", &[("accept-encoding", "br, gzip;q=0.8")]).await;
    assert_eq!(header_of(&gz, "content-encoding"), "gzip");
    assert!(header_of(&gz, "content-security-policy").contains("script-src 'self'"));
    let gz_tag = header_of(&gz, "etag");
    assert!(gz_tag != plain_tag && gz_tag.ends_with("-gz\""), "{gz_tag}");
    let packed = body_bytes(gz).await;
    assert!(packed.len() < original.len());
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, original);

    // Refused gzip, and revalidation of each variant with its own tag.
    let refused = fetch(&app, "/ui/app.js", &[("accept-encoding", "gzip;q=0")]).await;
    assert_eq!(header_of(&refused, "content-encoding"), "");
    let again = fetch(
        &app,
        "/ui/app.js",
        &[("accept-encoding", "gzip"), ("if-none-match", &gz_tag)],
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let stale = fetch(
        &app,
        "/ui/app.js",
        &[("accept-encoding", "gzip"), ("if-none-match", &plain_tag)],
    )
    .await;
    assert_eq!(stale.status(), StatusCode::OK);

    // The whole first load as a browser receives it.
    let mut sent = 0;
    for (path, _) in cairn_server::ui::files() {
        let uri = if path == "index.html" {
            "/".to_owned()
        } else {
            format!("/ui/{path}")
        };
        let res = fetch(&app, &uri, &[("accept-encoding", "gzip, deflate, br")]).await;
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        sent += body_bytes(res).await.len();
    }
    assert!(sent < 150 * 1024, "first load as sent: {sent} bytes");
}

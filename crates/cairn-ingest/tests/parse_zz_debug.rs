//! Temporary debugging aid (to be deleted).
#[test]
fn dump() {
    let Ok(path) = std::env::var("DUMP") else { return };
    let bytes = std::fs::read(&path).unwrap();
    let name = std::path::Path::new(&path).file_name().unwrap().to_str().unwrap();
    let r = cairn_ingest::Format::sniff(name, &bytes).and_then(|f| cairn_ingest::parse::parse(f, &bytes, name));
    match r {
        Ok(d) => {
            eprintln!("title={:?} pages={:?} link_chars={} warnings={:?}", d.title, d.pages, d.link_chars, d.warnings);
            for b in &d.blocks { eprintln!("[{:?} {:?} p{:?}] {}", b.kind, b.heading_path, b.page, b.text); }
        }
        Err(e) => eprintln!("ERR {e}"),
    }
}

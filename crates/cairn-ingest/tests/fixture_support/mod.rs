//! The real-document fixtures that `scripts/fetch-fixtures.sh` downloads, for the
//! hardening tests. A missing fixture directory fails the test with a message saying how
//! to get it: these tests never skip silently.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `CAIRN_FIXTURES_DIR`, else `~/.cache/cairn/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("CAIRN_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".cache/cairn/fixtures"),
    }
}

/// Every fixture file whose extension is one of `exts` (lowercase), sorted; panics with
/// the way to fetch them when the fixture directory is missing.
pub fn fixture_files(exts: &[&str]) -> Vec<PathBuf> {
    let dir = fixtures_dir();
    assert!(
        dir.is_dir(),
        "no fixtures at {}: run scripts/fetch-fixtures.sh (or set CAIRN_FIXTURES_DIR)",
        dir.display()
    );
    let mut out = Vec::new();
    collect(&dir, exts, &mut out);
    out.sort();
    out
}

fn collect(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "downloads") {
                collect(&path, exts, out);
            }
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
}

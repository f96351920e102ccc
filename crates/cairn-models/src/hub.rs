//! Model files from the Hugging Face hub, for users whose machines can reach it
//! (`GET {endpoint}/{repo}/resolve/{revision}/{file}`, redirects followed, `HF_TOKEN`
//! as a bearer token). Files are streamed to a temporary name and renamed when complete,
//! so an interrupted download never leaves a truncated model behind.

use crate::{Error, Result};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The public hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A hub client.
pub struct HubClient {
    endpoint: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl HubClient {
    /// A client for `endpoint` with an optional token and a connect timeout.
    pub fn new(endpoint: &str, token: Option<String>, connect_timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.is_empty()),
            agent,
        }
    }

    /// `HF_ENDPOINT` (default the public hub) and `HF_TOKEN` from the environment.
    pub fn from_env() -> Self {
        let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.into());
        Self::new(
            &endpoint,
            std::env::var("HF_TOKEN").ok(),
            Duration::from_secs(20),
        )
    }

    /// The URL of one file.
    pub fn url(&self, repo: &str, revision: &str, filename: &str) -> String {
        format!("{}/{repo}/resolve/{revision}/{filename}", self.endpoint)
    }

    /// Downloads `filename` of `repo` at `revision` into `dest_dir`; returns its path.
    pub fn download(
        &self,
        repo: &str,
        revision: &str,
        filename: &str,
        dest_dir: &Path,
    ) -> Result<PathBuf> {
        check_name(repo, "repository", true)?;
        check_name(revision, "revision", false)?;
        check_name(filename, "file name", true)?;
        let url = self.url(repo, revision, filename);
        let mut request = self.agent.get(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let response = request
            .call()
            .map_err(|e| Error::Fetch(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(Error::Fetch(format!("{url}: HTTP {status}")));
        }
        let dest = dest_dir.join(filename);
        let parent = dest.parent().unwrap_or(dest_dir);
        std::fs::create_dir_all(parent).map_err(|e| Error::Io {
            path: parent.to_path_buf(),
            source: e,
        })?;
        let tmp = dest.with_extension("part");
        let io = |e: std::io::Error| Error::Io {
            path: tmp.clone(),
            source: e,
        };
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        let mut body = response.into_body().into_reader();
        std::io::copy(&mut body, &mut file).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Fetch(format!("{url}: {e}"))
        })?;
        file.flush().and_then(|()| file.sync_all()).map_err(io)?;
        std::fs::rename(&tmp, &dest).map_err(io)?;
        Ok(dest)
    }
}

/// Refuses names that could escape the destination (`..`, absolute paths, backslashes).
fn check_name(name: &str, what: &str, slashes: bool) -> Result<()> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.contains('\\')
        || name
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        || (!slashes && name.contains('/'));
    if bad {
        return Err(Error::InvalidRequest(format!("invalid {what} `{name}`")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_escape_are_refused() {
        for bad in ["../x", "a/../b", "/etc/passwd", "a\\b", "", "a//b", "./x"] {
            assert!(check_name(bad, "file name", true).is_err(), "{bad}");
        }
        check_name("onnx/model.onnx", "file name", true).unwrap();
        assert!(check_name("main/x", "revision", false).is_err());
    }
}

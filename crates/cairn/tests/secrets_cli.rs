//! `cairn secrets rotate-key` end to end, on SQLite and on PostgreSQL: secrets of two
//! tenants are re-sealed under a new master key (new sealed values and key id in the
//! database, the old key opens none of them), `secrets list` still works, a server's
//! remote model still sends each tenant's own API key upstream, and the audit log has the
//! event and still verifies. With the key in `CAIRN_MASTER_KEY`, nothing is written to
//! disk and the command says what the operator must do.

// Tests fail loudly and explain themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::backend::{Backend, key_in, secret_aad};
use common::server::Server;
use common::upstream::{remote_model_toml, upstream, upstream_sees};
use std::path::Path;
use std::process::{Command, Output};

const SECRETS: [(&str, &str, &str); 3] = [
    ("acme", "smtp", "smtp-password"),
    ("acme", "upstream-key", "sk-acme-1"),
    ("globex", "upstream-key", "sk-globex-2"),
];

fn ok(out: &Output) -> String {
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cairn ARGS` with extra environment variables.
fn cairn_env(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .env("CAIRN_DATA_DIR", home.join("data"))
        .env_remove("CAIRN_CONFIG")
        .env_remove("CAIRN_MASTER_KEY")
        .env_remove("CAIRN_MASTER_KEY_OLD")
        .envs(env.iter().copied())
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

fn rotation_keeps_every_secret(backend: &Backend) {
    let (base, seen) = upstream();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    backend.configure(
        h,
        &format!(
            "[models]\ngenerator = \"smollm2-135m-instruct\"\n\n{}",
            remote_model_toml(&base)
        ),
    );
    ok(&common::cairn(h, &["secrets", "init-key"]));
    for (tenant, name, value) in SECRETS {
        ok(&common::cairn(
            h,
            &["--tenant", tenant, "secrets", "set", name, "--value", value],
        ));
    }
    let key_file = h.join("data/master.key");
    let old = key_in(&key_file);
    let before = backend.sealed_secrets(h);
    assert_eq!(before.len(), 3);
    assert!(before.iter().all(|r| r.3 == old.key_id()));

    let said = ok(&common::cairn(h, &["secrets", "rotate-key"]));
    assert!(said.contains("re-sealed 3 secrets of 2 tenants"), "{said}");
    let new = key_in(&key_file);
    assert_ne!(new.key_id(), old.key_id());
    assert_eq!(
        key_in(&h.join("data/master.key.old")).key_id(),
        old.key_id()
    );
    assert!(!h.join("data/master.key.new").exists());

    // In the database: new sealed values under the new key id, which only the new key
    // opens, each to its own plaintext.
    let after = backend.sealed_secrets(h);
    assert_eq!(after.len(), 3);
    for ((b, a), (tenant, name, value)) in before.iter().zip(&after).zip(SECRETS) {
        assert_eq!((a.0.as_str(), a.1.as_str()), (tenant, name));
        assert_ne!(a.2, b.2, "{tenant}/{name} was re-sealed");
        assert_eq!(a.3, new.key_id());
        let aad = secret_aad(tenant, name);
        assert!(
            old.open(&a.2, &aad).is_err(),
            "the old key opens {tenant}/{name}"
        );
        assert_eq!(new.open(&a.2, &aad).unwrap(), value.as_bytes());
    }
    let listed = ok(&common::cairn(h, &["--tenant", "acme", "secrets", "list"]));
    assert!(
        listed.contains("upstream-key") && listed.contains("smtp"),
        "{listed}"
    );
    assert!(listed.contains(&new.key_id()), "{listed}");

    // A server reads the secrets through the remote model, each tenant's own; the old
    // key is no longer needed for that.
    std::fs::remove_file(h.join("data/master.key.old")).unwrap();
    let server = Server::start(h);
    let acme = common::new_key(h, "acme", "member", None);
    let globex = common::new_key(h, "globex", "member", None);
    assert_eq!(upstream_sees(&server, &acme, &seen), "Bearer sk-acme-1");
    assert_eq!(upstream_sees(&server, &globex, &seen), "Bearer sk-globex-2");
    drop(server);

    // Audited in both tenants, key ids only, and the chain verifies.
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    for tenant in ["acme", "globex"] {
        let rows = common::json(&common::cairn(
            h,
            &["--json", "--tenant", tenant, "audit", "list"],
        ));
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == "secrets.rotate_key")
            .unwrap_or_else(|| panic!("no secrets.rotate_key in {tenant}: {rows}"));
        assert_eq!(row["detail"]["old_key_id"], old.key_id().as_str());
        assert_eq!(row["detail"]["new_key_id"], new.key_id().as_str());
        assert!(!row.to_string().contains(key_text.trim()));
    }
    ok(&common::cairn(h, &["audit", "verify"]));
}

#[test]
fn rotating_the_master_key_on_sqlite_keeps_every_secret() {
    rotation_keeps_every_secret(&Backend::Sqlite);
}

#[test]
fn rotating_the_master_key_on_postgres_keeps_every_secret() {
    rotation_keeps_every_secret(&Backend::postgres());
}

#[test]
fn with_the_master_key_in_the_environment_nothing_is_written_to_disk() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    Backend::Sqlite.configure(h, "");
    let key_text = |name: &str| {
        let p = h.join(name);
        std::fs::write(&p, cairn_auth::SecretBox::generate_key_text()).unwrap();
        (std::fs::read_to_string(&p).unwrap(), key_in(&p))
    };
    let (k0, box0) = key_text("k0.key");
    let (k1, box1) = key_text("k1.key");
    let (k2, box2) = key_text("k2.key");
    for (tenant, name, value) in SECRETS {
        ok(&cairn_env(
            h,
            &[("CAIRN_MASTER_KEY", &k0)],
            &["--tenant", tenant, "secrets", "set", name, "--value", value],
        ));
    }
    // No other key: nothing to rotate to, and the error says what to do.
    let out = cairn_env(h, &[("CAIRN_MASTER_KEY", &k0)], &["secrets", "rotate-key"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[invalid_input]"), "{err}");
    assert!(
        err.contains("--new-key-file") && err.contains("CAIRN_MASTER_KEY_OLD"),
        "{err}"
    );
    // Re-sealed under a key file's key; the operator then changes the variable.
    let said = ok(&cairn_env(
        h,
        &[("CAIRN_MASTER_KEY", &k0)],
        &["secrets", "rotate-key", "--new-key-file", "k1.key"],
    ));
    assert!(said.contains("set it to the key in k1.key"), "{said}");
    let rows = Backend::Sqlite.sealed_secrets(h);
    assert!(rows.iter().all(|r| r.3 == box1.key_id()), "{rows:?}");
    let data: Vec<_> = std::fs::read_dir(h.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !data.iter().any(|n| n.starts_with("master.key")),
        "{data:?}"
    );
    // The gapless way: the new key in CAIRN_MASTER_KEY, the previous one beside it.
    let said = ok(&cairn_env(
        h,
        &[("CAIRN_MASTER_KEY", &k2), ("CAIRN_MASTER_KEY_OLD", &k1)],
        &["secrets", "rotate-key"],
    ));
    assert!(said.contains("remove CAIRN_MASTER_KEY_OLD"), "{said}");
    for (r, (tenant, name, value)) in Backend::Sqlite.sealed_secrets(h).iter().zip(SECRETS) {
        assert_eq!(r.3, box2.key_id());
        let aad = secret_aad(tenant, name);
        assert_eq!(box2.open(&r.2, &aad).unwrap(), value.as_bytes());
        assert!(box0.open(&r.2, &aad).is_err() && box1.open(&r.2, &aad).is_err());
    }
    ok(&common::cairn(h, &["audit", "verify"]));
}

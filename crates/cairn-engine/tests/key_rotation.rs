//! Master key rotation through the engine, one crash point at a time: a rotation stopped
//! after any of its steps (as a crash there would leave it) leaves every secret readable
//! by a restarted engine with the keys on disk, and running it again finishes the job.
//! Also what it refuses: a kept key of an earlier rotation, a "new" key equal to the
//! current one, a staged key that is not the one given, secrets under an unknown key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use cairn_auth::SecretBox;
use cairn_engine::Engine;
use cairn_engine::security::{RotateKey, RotationStep};
use cairn_types::{ErrorCode, TenantId};
use std::path::{Path, PathBuf};

const SECRETS: [(&str, &str, &str); 3] = [
    ("acme", "openai", "sk-acme-openai"),
    ("acme", "smtp", "smtp-password"),
    ("globex", "openai", "sk-globex"),
];

fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

/// An engine over `dir` (SQLite), its master key at `<dir>/data/master.key`; opening
/// one again is what a restarted server does.
fn engine(dir: &Path) -> Engine {
    let toml = format!("data_dir = \"{}\"\n", dir.join("data").display());
    let (config, _) = cairn_config::load_from_str(&toml, "test", &[]).unwrap();
    Engine::open(config).unwrap()
}

fn key_path(dir: &Path) -> PathBuf {
    dir.join("data/master.key")
}

fn beside(dir: &Path, suffix: &str) -> PathBuf {
    dir.join(format!("data/master.key.{suffix}"))
}

fn key_id_of(path: &Path) -> String {
    SecretBox::from_key_text(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .key_id()
}

/// A data directory with a master key and [`SECRETS`] sealed under it; the key's id.
fn seeded(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(key_path(dir), SecretBox::generate_key_text()).unwrap();
    let e = engine(dir);
    for (tenant, name, value) in SECRETS {
        e.put_secret(&t(tenant), name, value).unwrap();
    }
    key_id_of(&key_path(dir))
}

fn request(tenant: &str) -> RotateKey {
    RotateKey {
        new_key_file: None,
        old_key_files: Vec::new(),
        keep_old: None,
        operator_tenant: t(tenant),
    }
}

/// Every secret opens, through a freshly opened engine.
fn all_open(dir: &Path) {
    let e = engine(dir);
    for (tenant, name, value) in SECRETS {
        assert_eq!(
            e.secret(&t(tenant), name).unwrap(),
            value,
            "{tenant}/{name}"
        );
    }
}

/// The key ids of the stored secrets.
fn stored_key_ids(dir: &Path) -> Vec<String> {
    engine(dir)
        .store()
        .all_secrets()
        .unwrap()
        .into_iter()
        .map(|r| r.key_id)
        .collect()
}

/// The ids of the keys on disk.
fn keys_on_disk(dir: &Path) -> Vec<String> {
    [key_path(dir), beside(dir, "new"), beside(dir, "old")]
        .iter()
        .filter(|p| p.exists())
        .map(|p| key_id_of(p))
        .collect()
}

#[test]
fn a_rotation_interrupted_after_any_step_loses_nothing_and_a_rerun_finishes_it() {
    for step in [
        RotationStep::StagedNewKey,
        RotationStep::KeptOldKey,
        RotationStep::Resealed,
        RotationStep::Installed,
    ] {
        eprintln!("--- stopped after {step:?}");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let old = seeded(d);
        let err = engine(d)
            .rotate_master_key_until(&request("acme"), Some(step))
            .unwrap_err();
        assert!(err.message.contains("stopped"), "{}", err.message);
        // Every secret is under a key on disk, and a restarted engine opens them all.
        let on_disk = keys_on_disk(d);
        assert!(
            stored_key_ids(d).iter().all(|k| on_disk.contains(k)),
            "after {step:?}: secrets under {:?}, keys on disk {on_disk:?}",
            stored_key_ids(d)
        );
        all_open(d);
        // A writer that still has the old master key seals a secret meanwhile.
        let e = engine(d);
        e.put_secret(&t("acme"), "late", "written-mid-rotation")
            .unwrap();
        assert_eq!(
            e.secret(&t("acme"), "late").unwrap(),
            "written-mid-rotation"
        );

        if step == RotationStep::Installed {
            // The new key is in place; a second run would start another rotation, which
            // waits until the operator has deleted the kept key.
            let new = key_id_of(&key_path(d));
            assert_ne!(new, old);
            assert_eq!(key_id_of(&beside(d, "old")), old);
            let err = e.rotate_master_key(&request("acme")).unwrap_err();
            assert_eq!(err.code, ErrorCode::Conflict, "{}", err.message);
            assert!(err.message.contains("master.key.old"), "{}", err.message);
            all_open(d);
            continue;
        }
        let report = e.rotate_master_key(&request("acme")).unwrap();
        assert!(report.resumed, "after {step:?} the staged key is used");
        assert_eq!(report.resealed, SECRETS.len() + 1);
        let new = key_id_of(&key_path(d));
        assert_eq!(report.new_key_id, new);
        assert_ne!(new, old);
        assert!(!beside(d, "new").exists());
        assert_eq!(key_id_of(&beside(d, "old")), old);
        assert!(stored_key_ids(d).iter().all(|k| *k == new));
        all_open(d);
        assert_eq!(
            engine(d).secret(&t("acme"), "late").unwrap(),
            "written-mid-rotation"
        );
    }
}

#[test]
fn a_finished_rotation_installs_a_private_key_and_the_old_one_no_longer_opens_anything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let old = seeded(d);
    let old_text = std::fs::read_to_string(key_path(d)).unwrap();
    let e = engine(d);
    let report = e.rotate_master_key(&request("ops")).unwrap();
    assert!(!report.resumed && !report.from_env);
    assert_eq!(report.old_key_id, old);
    assert_eq!(report.resealed, 3);
    assert_eq!(report.by_previous_key.get(&old), Some(&3));
    assert_eq!(report.tenants.get("acme"), Some(&2));
    assert_eq!(report.tenants.get("globex"), Some(&1));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for p in [key_path(d), beside(d, "old")] {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", p.display());
        }
    }
    assert_eq!(
        std::fs::read_to_string(beside(d, "old")).unwrap().trim(),
        old_text.trim()
    );
    // Without the kept key, everything still opens; and nothing opens with the old key.
    std::fs::remove_file(beside(d, "old")).unwrap();
    all_open(d);
    let old_box = SecretBox::from_key_text(&old_text).unwrap();
    for r in engine(d).store().all_secrets().unwrap() {
        assert_eq!(r.key_id, report.new_key_id);
        let aad = format!("cairn-secret\u{1f}{}\u{1f}{}", r.tenant, r.name);
        assert!(old_box.open(&r.sealed, aad.as_bytes()).is_err());
    }
    // Audited in every tenant concerned and the operator's, with no key material.
    for tenant in ["acme", "globex", "ops"] {
        let rows = e.tenant_audit(&t(tenant), 10).unwrap();
        let row = rows
            .iter()
            .find(|r| r.action == "secrets.rotate_key")
            .unwrap_or_else(|| panic!("no secrets.rotate_key in {tenant}: {rows:?}"));
        assert_eq!(row.detail["new_key_id"], report.new_key_id.as_str());
        let shown = row.detail.to_string();
        let new_text = std::fs::read_to_string(key_path(d)).unwrap();
        assert!(!shown.contains(old_text.trim()) && !shown.contains(new_text.trim()));
    }
    assert!(e.verify_audit().unwrap().is_intact());
    // Rotating again once the old key is gone works; a staged key is used as given.
    let given = d.join("given.key");
    std::fs::write(&given, SecretBox::generate_key_text()).unwrap();
    let report2 = engine(d)
        .rotate_master_key(&RotateKey {
            new_key_file: Some(given.clone()),
            ..request("ops")
        })
        .unwrap();
    assert_eq!(report2.new_key_id, key_id_of(&given));
    assert_eq!(key_id_of(&key_path(d)), key_id_of(&given));
    all_open(d);
}

#[test]
fn what_a_rotation_refuses_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let old = seeded(d);
    let e = engine(d);
    // The current key as the "new" one.
    let err = e
        .rotate_master_key(&RotateKey {
            new_key_file: Some(key_path(d)),
            ..request("acme")
        })
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput, "{}", err.message);
    // A kept key of an earlier rotation is never overwritten.
    std::fs::write(beside(d, "old"), SecretBox::generate_key_text()).unwrap();
    let err = e.rotate_master_key(&request("acme")).unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict, "{}", err.message);
    assert!(!beside(d, "new").exists());
    std::fs::remove_file(beside(d, "old")).unwrap();
    // A staged key that is not the one given.
    std::fs::write(beside(d, "new"), SecretBox::generate_key_text()).unwrap();
    let given = d.join("given.key");
    std::fs::write(&given, SecretBox::generate_key_text()).unwrap();
    let err = e
        .rotate_master_key(&RotateKey {
            new_key_file: Some(given),
            ..request("acme")
        })
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict, "{}", err.message);
    std::fs::remove_file(beside(d, "new")).unwrap();
    // A secret under a key the configuration does not name: nothing is re-sealed and
    // the key file stays, until that key is given.
    let stray_text = SecretBox::generate_key_text();
    let stray_file = d.join("stray.key");
    std::fs::write(&stray_file, &stray_text).unwrap();
    let stray = SecretBox::from_key_text(&stray_text).unwrap();
    let aad = "cairn-secret\u{1f}acme\u{1f}stray";
    e.store()
        .put_secret(
            &t("acme"),
            "stray",
            &stray.seal(b"x", aad.as_bytes()),
            &stray.key_id(),
            1,
        )
        .unwrap();
    let err = e.rotate_master_key(&request("acme")).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidConfig, "{}", err.message);
    assert!(err.message.contains("--old-key-file"), "{}", err.message);
    assert_eq!(key_id_of(&key_path(d)), old);
    let ids = stored_key_ids(d);
    assert_eq!(ids.iter().filter(|k| **k == old).count(), 3);
    assert!(!beside(d, "new").exists() && !beside(d, "old").exists());
    let report = engine(d)
        .rotate_master_key(&RotateKey {
            old_key_files: vec![stray_file],
            ..request("acme")
        })
        .unwrap();
    assert_eq!(report.resealed, 4);
    assert_eq!(engine(d).secret(&t("acme"), "stray").unwrap(), "x");
    all_open(d);
}

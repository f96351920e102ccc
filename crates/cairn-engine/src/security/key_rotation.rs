//! Master key rotation (`cairn secrets rotate-key`): every secret of every tenant is
//! re-sealed under a new key in one store transaction, and the new key replaces the old
//! one on disk, the old one kept beside it as `master.key.old`.
//!
//! The steps are ordered so that at every moment each stored secret opens with a key on
//! disk, and a run interrupted anywhere is finished by running the command again:
//!
//! 1. the new key is written to `<key file>.new` (a temporary file of mode 0600, synced,
//!    then linked into place): the database is untouched, the master key unchanged;
//! 2. the current key is copied to `<key file>.old` (same way);
//! 3. every secret is re-sealed under the new key in one transaction (the store refuses
//!    it, and the engine reads again, if any secret changed meanwhile);
//! 4. the event is audited (`secrets.rotate_key`, key ids only);
//! 5. `<key file>.new` is renamed over the key file (atomic), the directory synced;
//! 6. secrets sealed under the old key by writers that still had it between 3 and 5 are
//!    re-sealed too.
//!
//! Reads pick the key by the id stored with each secret among the master key, `.new`
//! and `.old` (`secrets.rs`), so servers go on opening secrets through every step. A run
//! that finds `<key file>.new` resumes with that key instead of making another one.
//! With the master key in `CAIRN_MASTER_KEY` nothing is written to disk: the secrets are
//! re-sealed under `--new-key-file`'s key, or under the variable's key when the previous
//! one is given (`CAIRN_MASTER_KEY_OLD` or `--old-key-file`); the operator changes the
//! variables (docs/security.md).

use super::AuditEvent;
use super::secrets::{
    MASTER_KEY_ENV, OLD_MASTER_KEY_ENV, aad, key_file_beside, key_in_file, master_key_from_env,
    master_key_path, old_key_from_env,
};
use crate::engine::now_ms;
use crate::{Engine, Error, Result};
use cairn_auth::SecretBox;
use cairn_store::{ResealedSecret, SealedSecret};
use cairn_types::{ErrorCode, TenantId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How often a re-seal overtaken by another writer is read and tried again.
const RESEAL_ATTEMPTS: usize = 5;

/// What `cairn secrets rotate-key` was asked to do.
#[derive(Clone, Debug)]
pub struct RotateKey {
    /// A file holding the new key. None: a new random key (key file), or with the key in
    /// `CAIRN_MASTER_KEY`, that key itself.
    pub new_key_file: Option<PathBuf>,
    /// Keys no longer configured that stored secrets may still be sealed under.
    pub old_key_files: Vec<PathBuf>,
    /// Where the previous key is kept (default `<key file>.old`, where readers find it).
    pub keep_old: Option<PathBuf>,
    /// The tenant the operator acts for: its audit trail gets the event even when it
    /// holds no secret (every tenant whose secrets were re-sealed gets it too).
    pub operator_tenant: TenantId,
}

/// What a rotation did.
#[derive(Clone, Debug, Serialize)]
pub struct RotationReport {
    /// The master key came from `CAIRN_MASTER_KEY`: no file was written.
    pub from_env: bool,
    /// The master key before the rotation.
    pub old_key_id: String,
    pub new_key_id: String,
    /// A staged key (`<key file>.new`) of an interrupted rotation was used.
    pub resumed: bool,
    /// Secrets re-sealed, all tenants together.
    pub resealed: usize,
    /// Re-sealed secrets by the id of the key they were under.
    pub by_previous_key: BTreeMap<String, usize>,
    /// Re-sealed secrets per tenant.
    pub tenants: BTreeMap<String, usize>,
    /// The key file now holding the new key (key file only).
    pub key_file: Option<PathBuf>,
    /// Where the previous key was kept (key file only).
    pub old_key_kept: Option<PathBuf>,
}

/// The steps of a rotation with the key in a file, for tests that stop after one of them
/// as a crash would ([`Engine::rotate_master_key_until`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RotationStep {
    /// `<key file>.new` written.
    StagedNewKey,
    /// The previous key copied to `<key file>.old`.
    KeptOldKey,
    /// Every secret re-sealed under the new key, the event audited.
    Resealed,
    /// The new key renamed over the key file.
    Installed,
}

/// Re-sealed counts of one pass.
#[derive(Default)]
struct Resealed {
    total: usize,
    by_previous_key: BTreeMap<String, usize>,
    tenants: BTreeMap<String, usize>,
}

impl Engine {
    /// Rotates the master key: see the module documentation.
    pub fn rotate_master_key(&self, req: &RotateKey) -> Result<RotationReport> {
        self.rotate_master_key_until(req, None)
    }

    /// [`Self::rotate_master_key`] that stops right after `stop` (`None`: runs to the
    /// end), leaving things as a crash there would (tests of each crash point).
    #[doc(hidden)]
    pub fn rotate_master_key_until(
        &self,
        req: &RotateKey,
        stop: Option<RotationStep>,
    ) -> Result<RotationReport> {
        if master_key_from_env() {
            return self.rotate_env_key(req);
        }
        let path = master_key_path(&self.config);
        let staged_path = key_file_beside(&path, "new");
        let keep_path = req
            .keep_old
            .clone()
            .unwrap_or_else(|| key_file_beside(&path, "old"));
        let current_text = std::fs::read_to_string(&path).map_err(|e| {
            Error::new(
                ErrorCode::InvalidConfig,
                format!(
                    "no master key to rotate at {}: {e} (set {MASTER_KEY_ENV} or \
                     auth.master_key_file, or create one with `cairn secrets init-key`)",
                    path.display()
                ),
            )
        })?;
        let current = parse_key(&current_text, &path)?;
        let wanted = req.new_key_file.as_deref().map(read_key_file).transpose()?;

        // Every check before anything is written.
        let staged = key_in_file(&staged_path)?;
        if let Some(s) = &staged {
            if s.key_id() == current.key_id() {
                return Err(Error::new(
                    ErrorCode::Conflict,
                    format!(
                        "{} holds the current master key {}: that rotation finished; \
                         delete the file and run again for a new key",
                        staged_path.display(),
                        current.key_id()
                    ),
                ));
            }
            if let Some((w, _)) = &wanted
                && w.key_id() != s.key_id()
            {
                return Err(Error::new(
                    ErrorCode::Conflict,
                    format!(
                        "{} holds key {} of an interrupted rotation, not the key of {} ({}): \
                         run `cairn secrets rotate-key` without --new-key-file to finish it",
                        staged_path.display(),
                        s.key_id(),
                        display(req.new_key_file.as_deref()),
                        w.key_id()
                    ),
                ));
            }
        }
        if let Some((w, _)) = &wanted
            && w.key_id() == current.key_id()
        {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "{} holds the current master key {}; a rotation needs another key",
                    display(req.new_key_file.as_deref()),
                    current.key_id()
                ),
            ));
        }
        let kept = key_in_file(&keep_path)?;
        if let Some(k) = &kept
            && k.key_id() != current.key_id()
        {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "{} holds key {} of an earlier rotation, not the current {}: delete it \
                     once no node needs it (no secret is sealed under it after that \
                     rotation finished), or keep this one elsewhere with --keep-old PATH",
                    keep_path.display(),
                    k.key_id(),
                    current.key_id()
                ),
            ));
        }

        let mut openers = vec![current.clone()];
        openers.extend(self.extra_openers(req)?);
        let resumed = staged.is_some();
        let (new, new_text) = match staged {
            Some(s) => (s, None),
            None => {
                let text = match wanted {
                    Some((_, text)) => text,
                    None => SecretBox::generate_key_text(),
                };
                (parse_key(&text, &staged_path)?, Some(text))
            }
        };
        // A secret no available key opens stops the rotation before any file is written.
        self.check_openable(&new, &openers)?;

        // 1. The new key, staged beside the key file.
        if let Some(text) = &new_text {
            write_key_file(&staged_path, text)?;
        }
        if stop == Some(RotationStep::StagedNewKey) {
            return Err(stopped(RotationStep::StagedNewKey));
        }
        // 2. The current key, kept.
        if kept.is_none() {
            write_key_file(&keep_path, current_text.trim())?;
        }
        if stop == Some(RotationStep::KeptOldKey) {
            return Err(stopped(RotationStep::KeptOldKey));
        }
        // 3. Every secret under the new key, at once; 4. audited.
        let mut done = self.reseal_all(&new, &openers)?;
        self.audit_rotation(req, &current, &new, resumed, &done);
        if stop == Some(RotationStep::Resealed) {
            return Err(stopped(RotationStep::Resealed));
        }
        // 5. The new key in place of the old.
        std::fs::rename(&staged_path, &path).map_err(|e| {
            io_error(
                &format!(
                    "installing the new key: renaming {} to {} (every secret is already \
                     sealed under it; run the command again to finish)",
                    staged_path.display(),
                    path.display()
                ),
                &e,
            )
        })?;
        sync_parent(&path)?;
        if stop == Some(RotationStep::Installed) {
            return Err(stopped(RotationStep::Installed));
        }
        // 6. Secrets sealed under the old key meanwhile.
        if self
            .store
            .all_secrets()?
            .iter()
            .any(|r| r.key_id != new.key_id())
        {
            let late = self.reseal_all(&new, &openers)?;
            for (k, n) in late.by_previous_key {
                if k != new.key_id() {
                    done.total += n;
                    *done.by_previous_key.entry(k).or_default() += n;
                }
            }
        }
        Ok(report(
            false,
            &current,
            &new,
            resumed,
            done,
            Some(path),
            Some(keep_path),
        ))
    }

    /// The rotation with the master key in `CAIRN_MASTER_KEY`: only the database changes.
    fn rotate_env_key(&self, req: &RotateKey) -> Result<RotationReport> {
        let current = super::master_key(&self.config)?.ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidConfig,
                format!("{MASTER_KEY_ENV} is set but holds no key"),
            )
        })?;
        let new = match &req.new_key_file {
            Some(path) => read_key_file(path)?.0,
            None => current.clone(),
        };
        let mut openers = vec![current.clone()];
        openers.extend(self.extra_openers(req)?);
        let has_previous = openers.iter().any(|k| k.key_id() != new.key_id());
        if new.key_id() == current.key_id() && !has_previous {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "the master key comes from {MASTER_KEY_ENV}, which this command cannot \
                     change, and no other key was given. Either re-seal under a new key now: \
                     `cairn secrets init-key --out new.key`, `cairn secrets rotate-key \
                     --new-key-file new.key`, then set {MASTER_KEY_ENV} to that key on every \
                     node and restart them (they cannot open secrets until then); or, with \
                     no gap, restart every node with {MASTER_KEY_ENV}=<new key> and \
                     {OLD_MASTER_KEY_ENV}=<old key>, run `cairn secrets rotate-key` once \
                     with the same two variables, then drop {OLD_MASTER_KEY_ENV}"
                ),
            ));
        }
        let done = self.reseal_all(&new, &openers)?;
        self.audit_rotation(req, &current, &new, false, &done);
        Ok(report(true, &current, &new, false, done, None, None))
    }

    /// The keys given besides the master key: `--old-key-file`s, the staged and kept key
    /// files beside the key file, `CAIRN_MASTER_KEY_OLD`.
    fn extra_openers(&self, req: &RotateKey) -> Result<Vec<SecretBox>> {
        let path = master_key_path(&self.config);
        let mut keys = Vec::new();
        for p in &req.old_key_files {
            keys.push(read_key_file(p)?.0);
        }
        let mut files = vec![key_file_beside(&path, "new"), key_file_beside(&path, "old")];
        files.extend(req.keep_old.clone());
        for p in files {
            keys.extend(key_in_file(&p)?);
        }
        keys.extend(old_key_from_env()?);
        Ok(keys)
    }

    /// Fails as [`Self::reseal_all`] would if a stored secret does not open with the
    /// keys given, without writing anything.
    fn check_openable(&self, new: &SecretBox, openers: &[SecretBox]) -> Result<()> {
        for r in self.store.all_secrets()? {
            opened(&r, new, openers)?;
        }
        Ok(())
    }

    /// Re-seals every stored secret under `new` in one store transaction, opening each
    /// with the key of its id among `openers` and `new`. Read again and retried when
    /// another writer changed a secret in between.
    fn reseal_all(&self, new: &SecretBox, openers: &[SecretBox]) -> Result<Resealed> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let rows = self.store.all_secrets()?;
            let mut done = Resealed::default();
            let mut plan = Vec::with_capacity(rows.len());
            for r in rows {
                let (plain, ad) = opened(&r, new, openers)?;
                let sealed = new
                    .try_seal(&plain, &ad)
                    .map_err(|e| Error::new(e.code(), e.message()))?;
                done.total += 1;
                *done.by_previous_key.entry(r.key_id.clone()).or_default() += 1;
                *done.tenants.entry(r.tenant.to_string()).or_default() += 1;
                plan.push(ResealedSecret {
                    tenant: r.tenant,
                    name: r.name,
                    was: r.sealed,
                    sealed,
                    key_id: new.key_id(),
                });
            }
            match self.store.reseal_secrets(&plan, now_ms()) {
                Ok(_) => return Ok(done),
                Err(cairn_store::Error::Conflict(why)) if attempt < RESEAL_ATTEMPTS => {
                    tracing::info!(attempt, %why, "secrets changed during the re-seal; again");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `secrets.rotate_key` in the operator's tenant and in each tenant whose secrets
    /// were re-sealed. Key ids only: they name keys, they reveal nothing of them.
    fn audit_rotation(
        &self,
        req: &RotateKey,
        old: &SecretBox,
        new: &SecretBox,
        resumed: bool,
        done: &Resealed,
    ) {
        let mut tenants: BTreeMap<String, usize> = done.tenants.clone();
        tenants.entry(req.operator_tenant.to_string()).or_default();
        for (tenant, n) in tenants {
            self.audit_or_log(AuditEvent {
                tenant: &TenantId::new(tenant),
                actor: "operator",
                action: "secrets.rotate_key",
                target: "master-key",
                outcome: "ok",
                detail: serde_json::json!({
                    "old_key_id": old.key_id(),
                    "new_key_id": new.key_id(),
                    "resealed": n,
                    "resealed_all_tenants": done.total,
                    "resumed": resumed,
                }),
            });
        }
    }
}

/// The plaintext of stored secret `r` (with its associated data), opened with the key of
/// its id among `new` and `openers`.
fn opened(r: &SealedSecret, new: &SecretBox, openers: &[SecretBox]) -> Result<(Vec<u8>, Vec<u8>)> {
    let Some(key) = std::iter::once(new)
        .chain(openers)
        .find(|k| k.key_id() == r.key_id)
    else {
        return Err(Error::new(
            ErrorCode::InvalidConfig,
            format!(
                "secret `{}` of tenant `{}` is sealed under key {}, which none of the \
                 available keys is; nothing was changed: pass that key with --old-key-file",
                r.name, r.tenant, r.key_id
            ),
        ));
    };
    let ad = aad(&r.tenant, &r.name);
    let plain = key.open(&r.sealed, &ad).map_err(|e| {
        Error::new(
            e.code(),
            format!(
                "secret `{}` of tenant `{}`: {}; nothing was changed",
                r.name,
                r.tenant,
                e.message()
            ),
        )
    })?;
    Ok((plain, ad))
}

fn report(
    from_env: bool,
    old: &SecretBox,
    new: &SecretBox,
    resumed: bool,
    done: Resealed,
    key_file: Option<PathBuf>,
    old_key_kept: Option<PathBuf>,
) -> RotationReport {
    RotationReport {
        from_env,
        old_key_id: old.key_id(),
        new_key_id: new.key_id(),
        resumed,
        resealed: done.total,
        by_previous_key: done.by_previous_key,
        tenants: done.tenants,
        key_file,
        old_key_kept,
    }
}

/// The error a test's deliberate stop returns.
fn stopped(step: RotationStep) -> Error {
    Error::new(
        ErrorCode::Internal,
        format!("rotation stopped after {step:?}"),
    )
}

fn display(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string()).unwrap_or_default()
}

fn parse_key(text: &str, from: &Path) -> Result<SecretBox> {
    SecretBox::from_key_text(text).map_err(|e| {
        Error::new(
            ErrorCode::InvalidConfig,
            format!("{}: {}", from.display(), e.message()),
        )
    })
}

/// A key file given on the command line: the key and its text.
fn read_key_file(path: &Path) -> Result<(SecretBox, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            ErrorCode::InvalidInput,
            format!("cannot read key file {}: {e}", path.display()),
        )
    })?;
    let key = SecretBox::from_key_text(&text).map_err(|e| {
        Error::new(
            ErrorCode::InvalidInput,
            format!("{}: {}", path.display(), e.message()),
        )
    })?;
    Ok((key, text.trim().to_owned()))
}

/// Writes a new key file: a temporary file of mode 0600 beside it, synced, then linked
/// under its name (never replacing a file) and the directory synced. A crash leaves the
/// file whole or absent (and maybe a `.tmp` leftover, replaced next time).
fn write_key_file(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let tmp = key_file_beside(path, "tmp");
    if tmp.exists() {
        std::fs::remove_file(&tmp)
            .map_err(|e| io_error(&format!("removing {}", tmp.display()), &e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let written = opts.open(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| io_error(&format!("writing {}", path.display()), &e))?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(&format!("syncing {}", dir.display()), &e))
}

fn io_error(doing: &str, e: &std::io::Error) -> Error {
    Error::new(ErrorCode::Internal, format!("{doing}: {e}"))
}

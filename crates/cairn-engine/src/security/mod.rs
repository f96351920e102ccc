//! The engine's security façade, shared by the CLI and the server: the hash-chained
//! audit log, API keys and users, secrets sealed at rest (and master key rotation), GDPR
//! export/erasure, and the data lifecycle (retention sweeps, legal holds, tenant
//! offboarding). Authentication itself (turning a request into a caller) is the
//! server's; the primitives (hashing, chain math, AES-GCM) are `cairn-auth`'s.

mod audit;
mod key_rotation;
mod keys;
mod offboard;
mod privacy;
mod remote;
mod retention;
mod secrets;

pub use audit::{AuditEvent, verify_audit_chain};
pub use key_rotation::{RotateKey, RotationReport, RotationStep};
pub use keys::{KeySpec, NewKey};
pub use offboard::OffboardReport;
pub use remote::{RedactingGenerator, Redaction};
pub use retention::{SweepReport, TenantSweep, cutoffs, retention_for};
pub use secrets::{
    MASTER_KEY_ENV, OLD_MASTER_KEY_ENV, key_file_beside, master_key, master_key_from_env,
    master_key_path,
};

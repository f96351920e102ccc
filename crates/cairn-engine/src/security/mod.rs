//! The engine's security façade, shared by the CLI and the server: the hash-chained
//! audit log, API keys and users, secrets sealed at rest, and GDPR export/erasure.
//! Authentication itself (turning a request into a caller) is the server's; the
//! primitives (hashing, chain math, AES-GCM) are `cairn-auth`'s.

mod audit;
mod keys;
mod privacy;
mod remote;
mod secrets;

pub use audit::AuditEvent;
pub use keys::{KeySpec, NewKey};
pub use remote::RedactingGenerator;
pub use secrets::master_key;

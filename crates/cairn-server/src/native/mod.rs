//! The native API under `/api/v1`.

pub mod answers;
pub mod identity;
pub mod library;
mod spool;
pub mod tenant;

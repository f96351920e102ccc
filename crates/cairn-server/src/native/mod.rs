//! The native API under `/api/v1`.

pub mod answers;
pub mod library;

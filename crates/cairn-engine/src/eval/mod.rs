//! Offline evaluation.

pub mod retrieval;

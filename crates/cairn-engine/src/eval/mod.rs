//! Offline evaluation: retrieval (recall, MRR, nDCG), answers (citation recall, keyword
//! accuracy, abstention, latency) and grounding (hallucination detection).

pub mod answers;
pub mod grounding;
pub mod retrieval;

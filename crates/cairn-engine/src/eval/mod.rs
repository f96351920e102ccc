//! Offline evaluation: retrieval (recall, MRR, nDCG), answers (citation recall, keyword
//! accuracy, abstention, latency) and grounding (hallucination detection); runs kept as
//! data, compared with paired-bootstrap intervals, and reported as HTML.

pub mod answers;
pub mod drift;
pub mod feedback;
pub mod grounding;
pub mod report;
pub mod retrieval;
pub mod runs;
pub mod synth;

//! OpenAI-compatible remote provider (being written).

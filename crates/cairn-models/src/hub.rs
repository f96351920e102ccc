//! Hugging Face hub downloads (being written).

//! The engine's models, loaded on first use and shared: the embedder (ingest and dense
//! search), the local generator (query transforms, LLM reranking) and a user-supplied
//! cross-encoder.

use crate::{Engine, Error, Result};
use cairn_models::{BertEmbedder, CrossEncoder, EmbedderOptions, LocalGenerator, LocalOptions};
use cairn_types::ErrorCode;
use std::sync::{Arc, Mutex, PoisonError};

/// Lazily loaded models. A failed load is not cached, so installing the model and
/// retrying works without a restart.
#[derive(Default)]
pub(crate) struct Models {
    embedder: Mutex<Option<Arc<BertEmbedder>>>,
    generator: Mutex<Option<Arc<LocalGenerator>>>,
    cross_encoder: Mutex<Option<Arc<CrossEncoder>>>,
}

fn get_or_load<T>(
    slot: &Mutex<Option<Arc<T>>>,
    load: impl FnOnce() -> Result<T>,
) -> Result<Arc<T>> {
    let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(m) = guard.as_ref() {
        return Ok(m.clone());
    }
    let m = Arc::new(load()?);
    *guard = Some(m.clone());
    Ok(m)
}

impl Engine {
    /// The configured embedding model.
    pub fn embedder(&self) -> Result<Arc<BertEmbedder>> {
        get_or_load(&self.models.embedder, || {
            Ok(BertEmbedder::load(
                &self.config.embedder_dir(),
                &EmbedderOptions::default(),
            )?)
        })
    }

    /// The configured local chat model.
    pub fn generator(&self) -> Result<Arc<LocalGenerator>> {
        get_or_load(&self.models.generator, || {
            let c = &self.config;
            let options = LocalOptions::configured(c.max_context, &c.requant, &c.backend)
                .map_err(|e| Error::new(ErrorCode::InvalidConfig, e))?;
            Ok(LocalGenerator::load(
                &self.config.generator_path(),
                &options,
            )?)
        })
    }

    /// The user-supplied cross-encoder named by `retrieval.cross_encoder`.
    pub fn cross_encoder(&self) -> Result<Arc<CrossEncoder>> {
        get_or_load(&self.models.cross_encoder, || {
            let dir = self.config.retrieval.cross_encoder.trim();
            if dir.is_empty() {
                return Err(Error::new(
                    ErrorCode::InvalidConfig,
                    "rerank `cross-encoder` needs retrieval.cross_encoder: a BERT \
                     sequence-classification model directory (none is bundled)",
                ));
            }
            Ok(CrossEncoder::load(&self.config.model_path(dir))?)
        })
    }
}

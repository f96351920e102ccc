//! BERT-family sentence embedder on candle (all-MiniLM-L6-v2 by default): tokenize,
//! truncate to the model's `max_seq_length` (reported per input), run the encoder in
//! length-sorted batches, mean-pool over the attention mask, L2-normalize.
//!
//! Threads: tokenization runs on rayon; candle's CPU matmuls use its own thread pool
//! (sized by `RAYON_NUM_THREADS` / the core count).

use super::{Embedder, Embeddings, Truncation, l2_normalize, masked_mean};
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// Knobs for [`BertEmbedder`].
#[derive(Clone, Debug)]
pub struct EmbedderOptions {
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Overrides the model's `max_seq_length` (never above its position limit).
    pub max_tokens: Option<usize>,
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        Self {
            batch_size: 16,
            max_tokens: None,
        }
    }
}

/// A sentence-transformers style BERT embedder.
pub struct BertEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    id: String,
    dim: usize,
    max_tokens: usize,
    batch_size: usize,
    pad_id: u32,
    device: Device,
}

impl BertEmbedder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from a model
    /// directory (sentence-transformers layout; `sentence_bert_config.json` gives the
    /// maximum sequence length when present).
    pub fn load(dir: &Path, options: &EmbedderOptions) -> Result<Self> {
        let need = |name: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(Error::NotInstalled {
                    name: dir_name(dir),
                    dir: dir
                        .parent()
                        .map_or_else(|| dir.to_path_buf(), Path::to_path_buf),
                })
            }
        };
        let config_path = need("config.json")?;
        let weights_path = need("model.safetensors")?;
        let tokenizer_path = need("tokenizer.json")?;
        let config: Config = read_json(&config_path)?;
        let dim = hidden_size(&config_path)?;
        let position_limit = json_usize(&config_path, "max_position_embeddings")?.unwrap_or(512);
        let st_max = match dir.join("sentence_bert_config.json") {
            p if p.is_file() => json_usize(&p, "max_seq_length")?,
            _ => None,
        };
        let max_tokens = options
            .max_tokens
            .or(st_max)
            .unwrap_or(position_limit)
            .min(position_limit)
            .max(2);

        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| Error::Tokenizer {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?;
        let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);

        let device = Device::Cpu;
        let bytes = std::fs::read(&weights_path).map_err(|e| Error::Io {
            path: weights_path.clone(),
            source: e,
        })?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DTYPE, &device)
            .map_err(|e| Error::load(&weights_path, e))?;
        let model = BertModel::load(vb, &config).map_err(|e| Error::load(&weights_path, e))?;
        Ok(Self {
            model,
            tokenizer,
            id: dir_name(dir),
            dim,
            max_tokens,
            batch_size: options.batch_size.max(1),
            pad_id,
            device,
        })
    }

    /// Token ids (with `[CLS]`/`[SEP]`) truncated to the limit, and what was cut.
    fn encode(&self, text: &str) -> Result<(Vec<u32>, Truncation)> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::Inference(format!("tokenize: {e}")))?;
        let mut ids = encoding.get_ids().to_vec();
        let input_tokens = ids.len();
        if ids.len() > self.max_tokens {
            let last = ids[ids.len() - 1];
            ids.truncate(self.max_tokens - 1);
            ids.push(last);
        }
        let kept_tokens = ids.len();
        Ok((
            ids,
            Truncation {
                input_tokens,
                kept_tokens,
            },
        ))
    }

    /// Per-token output vectors, L2-normalized, padding left out (`[CLS]` and `[SEP]`
    /// kept): the document side of late-interaction (MaxSim) scoring.
    pub fn token_vectors(&self, texts: &[&str]) -> Result<Vec<Vec<Vec<f32>>>> {
        let encoded: Vec<Vec<u32>> = texts
            .par_iter()
            .map(|t| self.encode(t).map(|(ids, _)| ids))
            .collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(encoded.len());
        for batch in encoded.chunks(self.batch_size) {
            let refs: Vec<&Vec<u32>> = batch.iter().collect();
            let (hidden, _) = self.hidden(&refs)?;
            let run = || -> candle_core::Result<Vec<Vec<Vec<f32>>>> {
                let normed = hidden.broadcast_div(&hidden.sqr()?.sum_keepdim(2)?.sqrt()?)?;
                let rows = normed.to_vec3::<f32>()?;
                Ok(rows
                    .into_iter()
                    .zip(batch)
                    .map(|(mut r, ids)| {
                        r.truncate(ids.len());
                        r
                    })
                    .collect())
            };
            out.extend(run().map_err(|e| Error::Inference(format!("token vectors: {e}")))?);
        }
        Ok(out)
    }

    /// Encoder output `(batch, width, dim)` and the attention mask for padded ids.
    fn hidden(&self, batch: &[&Vec<u32>]) -> Result<(Tensor, Tensor)> {
        let width = batch.iter().map(|ids| ids.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch.len() * width);
        let mut mask = Vec::with_capacity(batch.len() * width);
        for row in batch {
            ids.extend_from_slice(row);
            ids.extend(std::iter::repeat_n(self.pad_id, width - row.len()));
            mask.extend(std::iter::repeat_n(1u32, row.len()));
            mask.extend(std::iter::repeat_n(0u32, width - row.len()));
        }
        let run = || -> candle_core::Result<(Tensor, Tensor)> {
            let shape = (batch.len(), width);
            let ids = Tensor::from_vec(ids, shape, &self.device)?;
            let mask = Tensor::from_vec(mask, shape, &self.device)?;
            let types = ids.zeros_like()?;
            Ok((self.model.forward(&ids, &types, Some(&mask))?, mask))
        };
        run().map_err(|e| Error::Inference(format!("embedder forward: {e}")))
    }

    fn forward_batch(&self, batch: &[&Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let (hidden, mask) = self.hidden(batch)?;
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            l2_normalize(&masked_mean(&hidden, &mask)?)?.to_vec2::<f32>()
        };
        run().map_err(|e| Error::Inference(format!("embedder forward: {e}")))
    }
}

impl Embedder for BertEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn embed(&self, texts: &[&str]) -> Result<Embeddings> {
        let encoded: Vec<(Vec<u32>, Truncation)> = texts
            .par_iter()
            .map(|t| self.encode(t))
            .collect::<Result<_>>()?;
        // Longest first, so each batch pads little.
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(encoded[*i].0.len()));
        let mut vectors = vec![Vec::new(); encoded.len()];
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&Vec<u32>> = chunk.iter().map(|i| &encoded[*i].0).collect();
            for (slot, vector) in chunk.iter().zip(self.forward_batch(&batch)?) {
                vectors[*slot] = vector;
            }
        }
        Ok(Embeddings {
            vectors,
            truncation: encoded.into_iter().map(|(_, t)| t).collect(),
        })
    }
}

fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map_or_else(|| "embedder".into(), |n| n.to_string_lossy().into_owned())
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::load(path, e))
}

pub(crate) fn json_usize(path: &Path, key: &str) -> Result<Option<usize>> {
    let value: serde_json::Value = read_json(path)?;
    Ok(value
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .map(|v| v as usize))
}

fn hidden_size(config_path: &Path) -> Result<usize> {
    json_usize(config_path, "hidden_size")?
        .ok_or_else(|| Error::load(config_path, "config.json has no hidden_size"))
}

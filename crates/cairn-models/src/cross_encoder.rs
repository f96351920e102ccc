//! A BERT-family cross-encoder (`BertForSequenceClassification` layout: encoder, optional
//! pooler, `classifier`) that scores (query, passage) pairs, for users who supply
//! weights such as an MS MARCO MiniLM cross-encoder. Pairs are encoded as
//! `[CLS] query [SEP] passage [SEP]` with segment ids, the passage truncated to fit.

use crate::embed::bert::{json_usize, read_json};
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use std::path::Path;
use tokenizers::{Tokenizer, TruncationParams, TruncationStrategy};

/// Pairs per forward pass.
const BATCH: usize = 8;

/// A loaded cross-encoder.
pub struct CrossEncoder {
    model: BertModel,
    pooler: Option<Linear>,
    classifier: Linear,
    labels: usize,
    tokenizer: Tokenizer,
    pad_id: u32,
    device: Device,
}

impl CrossEncoder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let file = |name: &str| {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(Error::NotInstalled {
                    name: dir.display().to_string(),
                    dir: dir.to_path_buf(),
                })
            }
        };
        let config_path = file("config.json")?;
        let weights = file("model.safetensors")?;
        let tokenizer_path = file("tokenizer.json")?;
        let config: Config = read_json(&config_path)?;
        let hidden = json_usize(&config_path, "hidden_size")?
            .ok_or_else(|| Error::load(&config_path, "config.json has no hidden_size"))?;
        let max_len = json_usize(&config_path, "max_position_embeddings")?.unwrap_or(512);
        let raw: serde_json::Value = read_json(&config_path)?;
        let labels = raw
            .get("id2label")
            .and_then(|v| v.as_object())
            .map_or(1, |m| m.len().max(1));
        let device = Device::Cpu;
        let bytes = std::fs::read(&weights).map_err(|e| Error::Io {
            path: weights.clone(),
            source: e,
        })?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DTYPE, &device)
            .map_err(|e| Error::load(&weights, e))?;
        let model = BertModel::load(vb.clone(), &config).map_err(|e| Error::load(&weights, e))?;
        let pooler = ["bert.pooler.dense", "pooler.dense"]
            .iter()
            .find_map(|p| candle_nn::linear(hidden, hidden, vb.pp(p)).ok());
        let classifier = candle_nn::linear(hidden, labels, vb.pp("classifier"))
            .map_err(|e| Error::load(&weights, format!("no classifier head: {e}")))?;
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| Error::Tokenizer {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len.min(512),
                strategy: TruncationStrategy::OnlySecond,
                ..TruncationParams::default()
            }))
            .map_err(|e| Error::Tokenizer {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?;
        let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
        Ok(Self {
            model,
            pooler,
            classifier,
            labels,
            tokenizer,
            pad_id,
            device,
        })
    }

    /// Relevance logits of `passages` for `query` (higher is more relevant; with a
    /// two-label head, the "relevant" logit minus the other).
    pub fn score(&self, query: &str, passages: &[&str]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(passages.len());
        for batch in passages.chunks(BATCH) {
            let enc: Vec<(Vec<u32>, Vec<u32>)> = batch
                .iter()
                .map(|p| {
                    self.tokenizer
                        .encode((query, *p), true)
                        .map(|e| (e.get_ids().to_vec(), e.get_type_ids().to_vec()))
                        .map_err(|e| Error::Inference(format!("tokenize pair: {e}")))
                })
                .collect::<Result<_>>()?;
            out.extend(self.forward(&enc)?);
        }
        Ok(out)
    }

    fn forward(&self, enc: &[(Vec<u32>, Vec<u32>)]) -> Result<Vec<f32>> {
        let width = enc.iter().map(|e| e.0.len()).max().unwrap_or(0);
        let (mut ids, mut types, mut mask) = (Vec::new(), Vec::new(), Vec::new());
        for (i, t) in enc {
            let pad = width - i.len();
            ids.extend(
                i.iter()
                    .copied()
                    .chain(std::iter::repeat_n(self.pad_id, pad)),
            );
            types.extend(t.iter().copied().chain(std::iter::repeat_n(0, pad)));
            mask.extend(std::iter::repeat_n(1u32, i.len()).chain(std::iter::repeat_n(0, pad)));
        }
        let run = || -> candle_core::Result<Vec<f32>> {
            let shape = (enc.len(), width);
            let ids = Tensor::from_vec(ids, shape, &self.device)?;
            let types = Tensor::from_vec(types, shape, &self.device)?;
            let mask = Tensor::from_vec(mask, shape, &self.device)?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
            let mut cls = hidden.narrow(1, 0, 1)?.squeeze(1)?;
            if let Some(p) = &self.pooler {
                cls = p.forward(&cls)?.tanh()?;
            }
            let logits = self.classifier.forward(&cls)?.to_vec2::<f32>()?;
            Ok(logits
                .into_iter()
                .map(|row| {
                    if self.labels >= 2 {
                        row[1] - row[0]
                    } else {
                        row[0]
                    }
                })
                .collect())
        };
        run().map_err(|e| Error::Inference(format!("cross-encoder forward: {e}")))
    }
}

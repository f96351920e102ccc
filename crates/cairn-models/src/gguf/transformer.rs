//! A decoder-only transformer over quantized GGUF weights (llama and qwen2
//! architectures), written on candle's primitives so the weights are shared and
//! immutable while every request owns its [`KvCache`]: many requests run at once with no
//! lock, and a cache can be cut back to a shared prompt prefix and reused.
//!
//! Per layer: RMSNorm → Q/K/V projections (+bias for qwen2) → RoPE (interleaved pairs for
//! llama, NeoX halves for qwen2) → grouped-query attention over the cache → output
//! projection → residual; RMSNorm → SwiGLU MLP → residual. The token embedding table
//! stays quantized (rows are dequantized on lookup) and doubles as the output head when
//! the file ties them.

use super::GgufFile;
use crate::{Error, Result};
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_transformers::quantized_nn::RmsNorm;
use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

/// Supported architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Llama family (SmolLM2, Llama 2/3, Mistral): interleaved RoPE, no QKV bias.
    Llama,
    /// Qwen2 family (Qwen2, Qwen2.5): NeoX RoPE, QKV bias.
    Qwen2,
}

impl Arch {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "llama" | "mistral" => Some(Self::Llama),
            "qwen2" => Some(Self::Qwen2),
            _ => None,
        }
    }

    /// The metadata key prefix.
    pub fn key(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Qwen2 => "qwen2",
        }
    }
}

/// Hyper-parameters read from the metadata.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// Architecture.
    pub arch: Arch,
    /// Transformer blocks.
    pub layers: usize,
    /// Hidden size.
    pub embedding: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: usize,
    /// Per-head size.
    pub head_dim: usize,
    /// Trained context length.
    pub context_length: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
    /// RoPE base frequency.
    pub rope_base: f32,
}

impl ModelConfig {
    fn read(file: &GgufFile, max_context: usize) -> Result<Self> {
        let name = file.architecture()?;
        let arch = Arch::from_name(name).ok_or_else(|| {
            Error::load(
                file.path(),
                format!("architecture `{name}` is not supported (llama, mistral, qwen2)"),
            )
        })?;
        let key = |k: &str| format!("{}.{k}", arch.key());
        let need = |k: &str| {
            file.usize(&key(k)).ok_or_else(|| {
                Error::load(file.path(), format!("metadata key `{}` is missing", key(k)))
            })
        };
        let embedding = need("embedding_length")?;
        let heads = need("attention.head_count")?;
        let kv_heads = file.usize(&key("attention.head_count_kv")).unwrap_or(heads);
        let head_dim = file
            .usize(&key("attention.key_length"))
            .unwrap_or(embedding / heads.max(1));
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 {
            return Err(Error::load(
                file.path(),
                format!("bad head counts: {heads} heads, {kv_heads} kv heads"),
            ));
        }
        Ok(Self {
            arch,
            layers: need("block_count")?,
            embedding,
            heads,
            kv_heads,
            head_dim,
            context_length: need("context_length")?.min(max_context),
            rms_eps: f64::from(
                file.f32(&key("attention.layer_norm_rms_epsilon"))
                    .unwrap_or(1e-5),
            ),
            rope_base: file.f32(&key("rope.freq_base")).unwrap_or(10_000.0),
        })
    }
}

struct Layer {
    attn_norm: RmsNorm,
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    bias: Option<[Tensor; 3]>,
    wo: QMatMul,
    ffn_norm: RmsNorm,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
}

/// The model weights, shared read-only by every request.
pub struct Transformer {
    config: ModelConfig,
    embed: QMatMul,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: QMatMul,
    cos: Tensor,
    sin: Tensor,
    vocab: usize,
    device: Device,
}

/// One sequence's attention keys and values, per layer. Cloning is cheap (tensors are
/// reference-counted); [`KvCache::truncate`] cuts it back to a prefix.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// Tokens held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps only the first `len` positions.
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        if len >= self.len {
            return Ok(());
        }
        for slot in &mut self.layers {
            if let Some((k, v)) = slot.take()
                && len > 0
            {
                *slot = Some((
                    k.narrow(2, 0, len).map_err(infer)?,
                    v.narrow(2, 0, len).map_err(infer)?,
                ));
            }
        }
        self.len = len;
        Ok(())
    }

    /// Bytes held (keys and values, f32).
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .flatten()
            .map(|(k, v)| (k.elem_count() + v.elem_count()) * 4)
            .sum()
    }
}

fn infer(e: candle_core::Error) -> Error {
    Error::Inference(e.to_string())
}

impl Transformer {
    /// Loads the weights of `file`. The RoPE tables cover `min(context_length,
    /// max_context)` positions; `requant` says what happens to slow quantization types.
    pub fn load(file: &GgufFile, max_context: usize, requant: Requant) -> Result<Self> {
        let config = ModelConfig::read(file, max_context)?;
        let device = Device::Cpu;
        let path = file.path().to_path_buf();
        let mut reader = BufReader::new(File::open(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?);
        let mut tensor = |name: &str| -> Result<QTensor> {
            file.content()
                .tensor(&mut reader, name, &device)
                .map_err(|e| Error::load(&path, format!("tensor `{name}`: {e}")))
        };
        let embed_q = Arc::new(tensor("token_embd.weight")?);
        let vocab = embed_q.shape().dims2().map_err(infer)?.0;
        let output = match tensor("output.weight") {
            Ok(t) => fast_matmul(t, requant, &device).map_err(infer)?,
            Err(_) => QMatMul::from_arc(embed_q.clone()).map_err(infer)?,
        };
        let embed = QMatMul::from_arc(embed_q).map_err(infer)?;
        let norm =
            RmsNorm::from_qtensor(tensor("output_norm.weight")?, config.rms_eps).map_err(infer)?;
        let mut layers = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let mut mm = |n: &str| -> Result<QMatMul> {
                fast_matmul(tensor(&format!("blk.{i}.{n}.weight"))?, requant, &device)
                    .map_err(infer)
            };
            let (wq, wk, wv, wo) = (
                mm("attn_q")?,
                mm("attn_k")?,
                mm("attn_v")?,
                mm("attn_output")?,
            );
            let (gate, up, down) = (mm("ffn_gate")?, mm("ffn_up")?, mm("ffn_down")?);
            let bias = if config.arch == Arch::Qwen2 {
                let mut b = |n: &str| -> Result<Tensor> {
                    tensor(&format!("blk.{i}.{n}.bias"))?
                        .dequantize(&device)
                        .map_err(infer)
                };
                Some([b("attn_q")?, b("attn_k")?, b("attn_v")?])
            } else {
                None
            };
            let attn_norm = RmsNorm::from_qtensor(
                tensor(&format!("blk.{i}.attn_norm.weight"))?,
                config.rms_eps,
            )
            .map_err(infer)?;
            let ffn_norm =
                RmsNorm::from_qtensor(tensor(&format!("blk.{i}.ffn_norm.weight"))?, config.rms_eps)
                    .map_err(infer)?;
            layers.push(Layer {
                attn_norm,
                wq,
                wk,
                wv,
                bias,
                wo,
                ffn_norm,
                gate,
                up,
                down,
            });
        }
        let (cos, sin) = rope_tables(&config, &device).map_err(infer)?;
        Ok(Self {
            config,
            embed,
            layers,
            norm,
            output,
            cos,
            sin,
            vocab,
            device,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Vocabulary size (rows of the embedding table).
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// An empty cache sized for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![None; self.config.layers],
            len: 0,
        }
    }

    /// Feeds `tokens` after what `cache` holds and returns the logits of the last one.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(Error::Inference("forward needs at least one token".into()));
        }
        let end = cache.len + tokens.len();
        if end > self.config.context_length {
            return Err(Error::ContextLength {
                prompt_tokens: end,
                max_tokens: 0,
                context_length: self.config.context_length,
            });
        }
        if cache.layers.len() != self.layers.len() {
            *cache = self.new_cache();
        }
        let logits = self.forward_inner(tokens, cache).map_err(infer)?;
        cache.len = end;
        Ok(logits)
    }

    fn forward_inner(&self, tokens: &[u32], cache: &mut KvCache) -> candle_core::Result<Vec<f32>> {
        let seq = tokens.len();
        let pos = cache.len;
        let ids = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let mut x = self.embed.embedding(&ids)?;
        let mask = if seq > 1 {
            Some(causal_mask(seq, pos, &self.device)?)
        } else {
            None
        };
        let cos = self.cos.narrow(0, pos, seq)?;
        let sin = self.sin.narrow(0, pos, seq)?;
        for (layer, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let h = layer.attn_norm.forward(&x)?;
            let attn = self.attention(layer, &h, slot, mask.as_ref(), &cos, &sin)?;
            x = (x + attn)?;
            let h = layer.ffn_norm.forward(&x)?;
            let gated =
                (candle_nn::ops::silu(&layer.gate.forward(&h)?)? * layer.up.forward(&h)?)?;
            x = (x + layer.down.forward(&gated)?)?;
        }
        let last = self.norm.forward(&x)?.i((.., seq - 1, ..))?;
        self.output
            .forward(&last)?
            .squeeze(0)?
            .to_dtype(DType::F32)?
            .to_vec1()
    }

    fn attention(
        &self,
        layer: &Layer,
        h: &Tensor,
        slot: &mut Option<(Tensor, Tensor)>,
        mask: Option<&Tensor>,
        cos: &Tensor,
        sin: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let c = &self.config;
        let (_, seq, _) = h.dims3()?;
        let mut q = layer.wq.forward(h)?;
        let mut k = layer.wk.forward(h)?;
        let mut v = layer.wv.forward(h)?;
        if let Some([bq, bk, bv]) = &layer.bias {
            q = q.broadcast_add(bq)?;
            k = k.broadcast_add(bk)?;
            v = v.broadcast_add(bv)?;
        }
        let heads = |t: Tensor, n: usize| -> candle_core::Result<Tensor> {
            t.reshape((1, seq, n, c.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = self.rope(&heads(q, c.heads)?, cos, sin)?;
        let k = self.rope(&heads(k, c.kv_heads)?, cos, sin)?;
        let v = heads(v, c.kv_heads)?;
        let (k, v) = match slot.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        *slot = Some((k.clone(), v.clone()));
        let kv_len = k.dim(2)?;
        // Grouped-query attention without copying K/V: the query heads that share a
        // KV head are stacked along the sequence axis.
        let group = c.heads / c.kv_heads;
        let q = q.reshape((1, c.kv_heads, group * seq, c.head_dim))?;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        let mut att = (q.matmul(&k.t()?)? * scale)?;
        if let Some(mask) = mask {
            att = att
                .reshape((1, c.kv_heads, group, seq, kv_len))?
                .broadcast_add(mask)?
                .reshape((1, c.kv_heads, group * seq, kv_len))?;
        }
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v)?;
        let y = y
            .reshape((1, c.heads, seq, c.head_dim))?
            .transpose(1, 2)?
            .reshape((1, seq, c.heads * c.head_dim))?;
        layer.wo.forward(&y)
    }

    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
        match self.config.arch {
            Arch::Llama => candle_nn::rotary_emb::rope_i(x, cos, sin),
            Arch::Qwen2 => candle_nn::rotary_emb::rope(x, cos, sin),
        }
    }
}

/// What to do at load time with weights whose quantization candle only has scalar code
/// for (Q4_1, Q5_0, Q5_1: several times slower than its SIMD Q4_0, Q8_0 and K-quant
/// kernels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Requant {
    /// Re-quantize to Q8_0 (fastest decode; 8-bit rounding of the 4/5-bit values).
    #[default]
    Q8_0,
    /// Dequantize to f16.
    F16,
    /// Dequantize to f32 (exact values, fastest prompt processing, 4 bytes/weight).
    F32,
    /// Keep the file's format (exact, slow).
    Keep,
}

impl std::str::FromStr for Requant {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "q8_0" => Ok(Self::Q8_0),
            "f16" => Ok(Self::F16),
            "f32" => Ok(Self::F32),
            "keep" => Ok(Self::Keep),
            _ => Err(format!(
                "unknown requant policy `{s}` (q8_0, f16, f32, keep)"
            )),
        }
    }
}

fn fast_matmul(qt: QTensor, requant: Requant, device: &Device) -> candle_core::Result<QMatMul> {
    use candle_core::quantized::GgmlDType;
    if !matches!(
        qt.dtype(),
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1
    ) {
        return QMatMul::from_qtensor(qt);
    }
    match requant {
        Requant::Keep => QMatMul::from_qtensor(qt),
        Requant::F32 => Ok(QMatMul::Tensor(qt.dequantize(device)?)),
        Requant::F16 => Ok(QMatMul::TensorF16(qt.dequantize_f16(device)?)),
        Requant::Q8_0 => {
            let dense = qt.dequantize(device)?;
            QMatMul::from_qtensor(QTensor::quantize(&dense, GgmlDType::Q8_0)?)
        }
    }
}

fn rope_tables(c: &ModelConfig, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let half = c.head_dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| 1.0 / c.rope_base.powf((2 * i) as f32 / c.head_dim as f32))
        .collect();
    let inv_freq = Tensor::from_vec(inv_freq, (1, half), device)?;
    let positions = Tensor::arange(0u32, c.context_length as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((c.context_length, 1))?;
    let angles = positions.matmul(&inv_freq)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// `(seq, pos + seq)` additive mask: 0 where query `pos + i` may see key `j`, −∞ after.
fn causal_mask(seq: usize, pos: usize, device: &Device) -> candle_core::Result<Tensor> {
    let kv = pos + seq;
    let data: Vec<f32> = (0..seq)
        .flat_map(|i| (0..kv).map(move |j| if j > pos + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(data, (seq, kv), device)
}

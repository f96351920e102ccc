//! The GGUF compute backends behind one interface: llama.cpp (the default, cargo feature
//! `llama-cpp`) and Cairn's own candle transformer. Everything above the forward pass
//! (tokenizer, template, sampling, constraints, stops, prefix reuse) is shared, so the
//! backend changes speed, not behaviour.

use crate::gguf::{GgufFile, KvCache, Requant, Transformer};
#[cfg(feature = "llama-cpp")]
use crate::gguf::{LlamaSequence, LlamaSnapshot, LlamaWeights};
use crate::{Error, Result};

/// Which library runs a GGUF model's forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgufBackend {
    /// llama.cpp (ggml's quantized kernels; every architecture llama.cpp knows).
    LlamaCpp,
    /// Cairn's candle transformer (llama and qwen2 architectures; pure Rust).
    Candle,
}

impl Default for GgufBackend {
    fn default() -> Self {
        if cfg!(feature = "llama-cpp") {
            Self::LlamaCpp
        } else {
            Self::Candle
        }
    }
}

impl GgufBackend {
    /// The configuration spelling (`llama.cpp`, `candle`).
    pub fn name(self) -> &'static str {
        match self {
            Self::LlamaCpp => "llama.cpp",
            Self::Candle => "candle",
        }
    }
}

impl std::str::FromStr for GgufBackend {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "llama.cpp" if cfg!(feature = "llama-cpp") => Ok(Self::LlamaCpp),
            "llama.cpp" => Err(
                "models.backend `llama.cpp` needs a build with the `llama-cpp` cargo feature \
                 (on by default); this binary was built without it: use `candle`"
                    .into(),
            ),
            "candle" => Ok(Self::Candle),
            _ => Err(format!("unknown GGUF backend `{s}` (llama.cpp, candle)")),
        }
    }
}

/// A model's weights on one backend.
pub(crate) enum Weights {
    Candle(Transformer),
    #[cfg(feature = "llama-cpp")]
    Llama(LlamaWeights),
}

/// One request's KV cache.
pub(crate) enum Sequence {
    Candle(KvCache),
    #[cfg(feature = "llama-cpp")]
    Llama(LlamaSequence),
}

/// A finished sequence kept for prefix reuse.
#[derive(Clone)]
pub(crate) enum Snapshot {
    Candle(KvCache),
    #[cfg(feature = "llama-cpp")]
    Llama(LlamaSnapshot),
}

#[cfg(feature = "llama-cpp")]
fn mismatch() -> Error {
    Error::Inference("a KV cache from another backend".into())
}

impl Weights {
    pub(crate) fn load(
        file: &GgufFile,
        backend: GgufBackend,
        max_context: usize,
        requant: Requant,
        prefill_chunk: usize,
    ) -> Result<Self> {
        match backend {
            GgufBackend::Candle => Ok(Self::Candle(Transformer::load(file, max_context, requant)?)),
            #[cfg(feature = "llama-cpp")]
            GgufBackend::LlamaCpp => Ok(Self::Llama(LlamaWeights::load(
                file.path(),
                max_context,
                prefill_chunk,
                rayon::current_num_threads(),
            )?)),
            #[cfg(not(feature = "llama-cpp"))]
            GgufBackend::LlamaCpp => {
                let _ = prefill_chunk;
                Err(Error::InvalidRequest(
                    "this build has no llama.cpp backend".into(),
                ))
            }
        }
    }

    pub(crate) fn backend(&self) -> GgufBackend {
        match self {
            Self::Candle(_) => GgufBackend::Candle,
            #[cfg(feature = "llama-cpp")]
            Self::Llama(_) => GgufBackend::LlamaCpp,
        }
    }

    pub(crate) fn context_length(&self) -> usize {
        match self {
            Self::Candle(t) => t.config().context_length,
            #[cfg(feature = "llama-cpp")]
            Self::Llama(w) => w.context_length(),
        }
    }

    pub(crate) fn vocab_size(&self) -> usize {
        match self {
            Self::Candle(t) => t.vocab_size(),
            #[cfg(feature = "llama-cpp")]
            Self::Llama(w) => w.vocab_size(),
        }
    }

    pub(crate) fn layers(&self) -> usize {
        match self {
            Self::Candle(t) => t.config().layers,
            #[cfg(feature = "llama-cpp")]
            Self::Llama(w) => w.layers(),
        }
    }

    /// An empty sequence with room for `capacity` positions.
    pub(crate) fn new_sequence(&self, capacity: usize) -> Result<Sequence> {
        match self {
            Self::Candle(t) => {
                let _ = capacity;
                Ok(Sequence::Candle(t.new_cache()))
            }
            #[cfg(feature = "llama-cpp")]
            Self::Llama(w) => Ok(Sequence::Llama(w.new_sequence(capacity)?)),
        }
    }

    /// Feeds `tokens` after what `seq` holds; the logits of the last one.
    pub(crate) fn forward(&self, tokens: &[u32], seq: &mut Sequence) -> Result<Vec<f32>> {
        match (self, seq) {
            (Self::Candle(t), Sequence::Candle(cache)) => t.forward(tokens, cache),
            #[cfg(feature = "llama-cpp")]
            (Self::Llama(w), Sequence::Llama(s)) => w.forward(tokens, s),
            #[cfg(feature = "llama-cpp")]
            _ => Err(mismatch()),
        }
    }

    /// What to keep of a finished sequence for prefix reuse.
    pub(crate) fn snapshot(&self, seq: &Sequence) -> Result<Snapshot> {
        match (self, seq) {
            (Self::Candle(_), Sequence::Candle(cache)) => Ok(Snapshot::Candle(cache.clone())),
            #[cfg(feature = "llama-cpp")]
            (Self::Llama(w), Sequence::Llama(s)) => Ok(Snapshot::Llama(w.snapshot(s)?)),
            #[cfg(feature = "llama-cpp")]
            _ => Err(mismatch()),
        }
    }

    /// A sequence holding the first `keep` positions of `snapshot`, with room for
    /// `capacity` positions.
    pub(crate) fn resume(
        &self,
        snapshot: &Snapshot,
        keep: usize,
        capacity: usize,
    ) -> Result<Sequence> {
        match (self, snapshot) {
            (Self::Candle(_), Snapshot::Candle(cache)) => {
                let _ = capacity;
                let mut cache = cache.clone();
                cache.truncate(keep)?;
                Ok(Sequence::Candle(cache))
            }
            #[cfg(feature = "llama-cpp")]
            (Self::Llama(w), Snapshot::Llama(s)) => {
                Ok(Sequence::Llama(w.restore(s, keep, capacity)?))
            }
            #[cfg(feature = "llama-cpp")]
            _ => Err(mismatch()),
        }
    }
}

impl Sequence {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Candle(cache) => cache.len(),
            #[cfg(feature = "llama-cpp")]
            Self::Llama(s) => s.len(),
        }
    }
}

impl Snapshot {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Candle(cache) => cache.len(),
            #[cfg(feature = "llama-cpp")]
            Self::Llama(s) => s.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn bytes(&self) -> usize {
        match self {
            Self::Candle(cache) => cache.bytes(),
            #[cfg(feature = "llama-cpp")]
            Self::Llama(s) => s.bytes(),
        }
    }
}

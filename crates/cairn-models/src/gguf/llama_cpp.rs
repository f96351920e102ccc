//! llama.cpp as the GGUF compute backend (cargo feature `llama-cpp`, on by default):
//! ggml's hand-tuned quantized kernels for the forward pass, while tokenization, chat
//! templates, sampling, constraints, stop sequences and the prefix cache stay Cairn's
//! own, so both backends give the same token ids and the same API.
//!
//! - **Weights** are loaded once per process per file and never freed (a llama.cpp
//!   context borrows its model for its whole life; a process-wide registry keeps that
//!   borrow safe). Loading the same file again reuses them.
//! - **One context per sequence**: every request owns its KV cache, sized to what it
//!   needs (prompt + maximum new tokens, rounded up), like the candle backend.
//! - **Prefix reuse**: a finished sequence is kept as a copy of its KV state
//!   ([`LlamaSnapshot`]); a later prompt that shares a prefix restores it into a new
//!   context and drops the positions past the shared part.
//! - **Every forward pass runs on one compute thread** per process, in arrival order.
//!   ggml's threads spin at barriers and each calling thread gets its own OpenMP team,
//!   so passes from several threads at once (or idle teams left spinning) slow each
//!   other down far more than they gain; concurrent requests take turns per pass (a
//!   prefill chunk or one decoded token) instead. A context travels to that thread for
//!   its pass and comes back with the logits.

use crate::{Error, Result};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::session::{LlamaStateSeqFlags, SeqState};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// KV positions a context is rounded up to (llama.cpp pads to 256 itself).
const CONTEXT_GRAIN: usize = 256;

/// `llama_flash_attn_type`'s "disabled" (-1 is auto, 1 enabled). On CPU, flash attention
/// (what auto picks) made prompt processing slower on the 2-core development machine:
/// 53.6 vs 57-58 tokens/s for a 512-token prompt on Qwen2.5-1.5B Q4_K_M, 2 threads,
/// measured once with a standalone llama-cpp-2 program (not in this repository), and
/// decoding no faster.
const FLASH_ATTENTION_OFF: i32 = 0;

type Job = Box<dyn FnOnce() + Send>;

/// Runs `job` on the process's llama.cpp compute thread and waits for its result.
fn on_compute_thread<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    static THREAD: OnceLock<std::result::Result<mpsc::Sender<Job>, String>> = OnceLock::new();
    let jobs = THREAD
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("cairn-llama-cpp".into())
                .spawn(move || {
                    for job in rx {
                        // A panicking pass fails its own request (its reply is dropped);
                        // the thread stays up for the others.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .map(|_| tx)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Inference(format!("llama.cpp compute thread: {e}")))?;
    let (reply, result) = mpsc::sync_channel(1);
    jobs.send(Box::new(move || {
        let _ = reply.send(job());
    }))
    .map_err(|_| Error::Inference("the llama.cpp compute thread has stopped".into()))?;
    result
        .recv()
        .map_err(|_| Error::Inference("a llama.cpp forward pass failed".into()))
}

fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp logs every load to stderr; route it through `tracing` instead.
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Inference(format!("llama.cpp backend: {e}")))
}

/// Models loaded by this process, by canonical path.
fn registry() -> &'static Mutex<HashMap<PathBuf, &'static LlamaModel>> {
    static MODELS: OnceLock<Mutex<HashMap<PathBuf, &'static LlamaModel>>> = OnceLock::new();
    MODELS.get_or_init(Mutex::default)
}

fn load_model(path: &Path) -> Result<&'static LlamaModel> {
    let key = path.canonicalize().map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut models = registry().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(model) = models.get(&key) {
        return Ok(model);
    }
    let model = LlamaModel::load_from_file(backend()?, &key, &LlamaModelParams::default())
        .map_err(|e| Error::load(path, format!("llama.cpp could not load the model: {e}")))?;
    let model: &'static LlamaModel = Box::leak(Box::new(model));
    models.insert(key, model);
    Ok(model)
}

/// A GGUF model's weights in llama.cpp, shared by every sequence.
pub struct LlamaWeights {
    model: &'static LlamaModel,
    threads: i32,
    batch: usize,
    context_length: usize,
    vocab: usize,
    layers: usize,
}

/// One sequence's KV cache: a llama.cpp context of its own.
pub struct LlamaSequence {
    /// Away on the compute thread during a pass; lost only if that pass panicked.
    ctx: Option<LlamaContext<'static>>,
    len: usize,
    capacity: usize,
}

/// A finished sequence's KV state, kept for prefix reuse (cheap to clone).
#[derive(Clone)]
pub struct LlamaSnapshot {
    state: Arc<SeqState>,
    len: usize,
}

impl LlamaSnapshot {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of KV state held.
    pub fn bytes(&self) -> usize {
        self.state.byte_len()
    }
}

impl LlamaSequence {
    fn ctx(&self) -> Result<&LlamaContext<'static>> {
        self.ctx.as_ref().ok_or_else(lost)
    }

    fn ctx_mut(&mut self) -> Result<&mut LlamaContext<'static>> {
        self.ctx.as_mut().ok_or_else(lost)
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn lost() -> Error {
    Error::Inference("this sequence's llama.cpp context was lost by a failed pass".into())
}

impl LlamaWeights {
    /// Loads `path` (or reuses it if this process loaded it already). The context window
    /// is `min(trained context, max_context)`; prompts are fed `batch` tokens per pass
    /// on `threads` threads.
    pub fn load(path: &Path, max_context: usize, batch: usize, threads: usize) -> Result<Self> {
        let model = load_model(path)?;
        let trained = model.n_ctx_train() as usize;
        let vocab = usize::try_from(model.n_vocab())
            .map_err(|_| Error::load(path, "llama.cpp reports a negative vocabulary size"))?;
        Ok(Self {
            model,
            threads: i32::try_from(threads.max(1)).unwrap_or(i32::MAX),
            batch: batch.clamp(1, 4096),
            context_length: trained.min(max_context).max(1),
            vocab,
            layers: model.n_layer() as usize,
        })
    }

    /// The usable context window.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Logits per position (the tokenizer's vocabulary, padded as in the file).
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// Transformer layers.
    pub fn layers(&self) -> usize {
        self.layers
    }

    /// An empty sequence with room for `capacity` positions (capped at the window).
    pub fn new_sequence(&self, capacity: usize) -> Result<LlamaSequence> {
        let capacity = capacity
            .max(1)
            .div_ceil(CONTEXT_GRAIN)
            .saturating_mul(CONTEXT_GRAIN)
            .min(self.context_length);
        let n_ctx = u32::try_from(capacity)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or_else(|| Error::Inference(format!("context of {capacity} positions")))?;
        let batch = u32::try_from(self.batch).unwrap_or(512);
        let params = LlamaContextParams::default()
            .with_n_ctx(Some(n_ctx))
            .with_n_batch(batch)
            .with_n_ubatch(batch)
            .with_n_seq_max(1)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads)
            .with_flash_attention_policy(FLASH_ATTENTION_OFF)
            .with_no_perf(true);
        let ctx = self
            .model
            .new_context(backend()?, params)
            .map_err(|e| Error::Inference(format!("llama.cpp context: {e}")))?;
        Ok(LlamaSequence {
            ctx: Some(ctx),
            len: 0,
            capacity,
        })
    }

    /// Feeds `tokens` after what `seq` holds and returns the logits of the last one.
    pub fn forward(&self, tokens: &[u32], seq: &mut LlamaSequence) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(Error::Inference("forward needs at least one token".into()));
        }
        let end = seq.len + tokens.len();
        if end > seq.capacity {
            return Err(Error::Inference(format!(
                "{end} positions do not fit this sequence's {} (context window {})",
                seq.capacity, self.context_length
            )));
        }
        let mut logits = Vec::new();
        for chunk in tokens.chunks(self.batch) {
            let mut batch = LlamaBatch::new(chunk.len(), 1);
            for (i, token) in chunk.iter().enumerate() {
                let id = i32::try_from(*token)
                    .map_err(|_| Error::Inference(format!("token id {token} out of range")))?;
                let pos = i32::try_from(seq.len + i)
                    .map_err(|_| Error::Inference("position out of range".into()))?;
                batch
                    .add(LlamaToken::new(id), pos, &[0], i + 1 == chunk.len())
                    .map_err(|e| Error::Inference(format!("llama.cpp batch: {e}")))?;
            }
            let mut ctx = seq.ctx.take().ok_or_else(lost)?;
            let (ctx, pass) = on_compute_thread(move || {
                let pass = ctx
                    .decode(&mut batch)
                    .map(|()| ctx.get_logits_ith(batch.n_tokens() - 1).to_vec());
                (ctx, pass)
            })?;
            seq.ctx = Some(ctx);
            logits = pass.map_err(|e| Error::Inference(format!("llama.cpp decode: {e}")))?;
            seq.len += chunk.len();
        }
        Ok(logits)
    }

    /// A copy of `seq`'s KV state for later reuse.
    pub fn snapshot(&self, seq: &LlamaSequence) -> Result<LlamaSnapshot> {
        let state = seq
            .ctx()?
            .state_seq_get(0, LlamaStateSeqFlags::empty())
            .map_err(|e| Error::Inference(format!("llama.cpp state copy: {e}")))?;
        Ok(LlamaSnapshot {
            state: Arc::new(state),
            len: seq.len,
        })
    }

    /// A new sequence holding the first `keep` positions of `snapshot`, with room for
    /// `capacity` positions in all.
    pub fn restore(
        &self,
        snapshot: &LlamaSnapshot,
        keep: usize,
        capacity: usize,
    ) -> Result<LlamaSequence> {
        let mut seq = self.new_sequence(capacity.max(snapshot.len))?;
        seq.ctx_mut()?
            .state_seq_set(&snapshot.state, 0)
            .map_err(|e| Error::Inference(format!("llama.cpp state restore: {e}")))?;
        seq.len = snapshot.len;
        if keep < seq.len {
            let from = u32::try_from(keep)
                .map_err(|_| Error::Inference("position out of range".into()))?;
            seq.ctx_mut()?
                .clear_kv_cache_seq(Some(0), Some(from), None)
                .map_err(|e| Error::Inference(format!("llama.cpp cache cut: {e}")))?;
            seq.len = keep;
        }
        Ok(seq)
    }
}

//! [`LocalGenerator`]: a GGUF chat model run in-process, on llama.cpp (default) or
//! candle ([`GgufBackend`]).
//!
//! Concurrency: the weights are shared read-only; each request owns its KV cache and
//! sampler, so requests run in parallel (one thread each) with no lock held while
//! computing. The only shared mutable state is the prefix cache, locked for a lookup or
//! an insert, never across a forward pass.

mod backend;
mod prefix_cache;
mod stream;
mod utf8;

pub use backend::GgufBackend;
use backend::Weights;
use prefix_cache::PrefixCache;

use crate::constrain::ConstraintCompiler;
use crate::generate::{GenerateRequest, Generator, Prompt, TokenStream};
use crate::gguf::{ChatTemplate, GgufFile, GgufTokenizer, Requant};
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Knobs for [`LocalGenerator`].
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Upper bound on the context window (the model's own may be larger; KV memory grows
    /// with it).
    pub max_context: usize,
    /// Bytes of KV state the prefix cache may keep (0 disables it).
    pub prefix_cache_bytes: usize,
    /// Prompt tokens per forward pass while prefilling (bounds attention memory).
    pub prefill_chunk: usize,
    /// What to do with weight types candle has no SIMD kernel for (candle only).
    pub requant: Requant,
    /// Which library runs the forward pass.
    pub backend: GgufBackend,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            max_context: 8192,
            prefix_cache_bytes: 512 << 20,
            prefill_chunk: 512,
            requant: Requant::default(),
            backend: GgufBackend::default(),
        }
    }
}

impl LocalOptions {
    /// Defaults with the configuration's settings (`models.max_context`,
    /// `models.requant`, `models.backend`); the error names what is wrong.
    pub fn configured(
        max_context: usize,
        requant: &str,
        backend: &str,
    ) -> std::result::Result<Self, String> {
        Ok(Self {
            max_context,
            requant: requant.parse()?,
            backend: backend.parse()?,
            ..Self::default()
        })
    }
}

pub(crate) struct Inner {
    id: String,
    weights: Weights,
    tokenizer: Arc<GgufTokenizer>,
    template: ChatTemplate,
    prefix: Mutex<PrefixCache>,
    constraints: OnceLock<std::result::Result<ConstraintCompiler, String>>,
    prefill_chunk: usize,
}

/// A local GGUF generator. Cheap to clone (shared weights).
#[derive(Clone)]
pub struct LocalGenerator {
    inner: Arc<Inner>,
}

impl LocalGenerator {
    /// Loads a model from a `.gguf` file or a model directory (its manifest's main file,
    /// or its only `.gguf`).
    pub fn load(path: &Path, options: &LocalOptions) -> Result<Self> {
        let file_path = resolve_gguf(path)?;
        let file = GgufFile::open(&file_path)?;
        let tokenizer = Arc::new(GgufTokenizer::from_gguf(&file)?);
        let prefill_chunk = options.prefill_chunk.max(1);
        let weights = Weights::load(
            &file,
            options.backend,
            options.max_context,
            options.requant,
            prefill_chunk,
        )?;
        let text = |id: Option<u32>| id.map(|i| tokenizer.token_text(i)).unwrap_or_default();
        let template = ChatTemplate::new(
            file.string("tokenizer.chat_template"),
            &text(tokenizer.bos()),
            &text(Some(tokenizer.eos())),
        )?;
        let id = model_id(path, &file_path);
        tracing::info!(model = %id, backend = weights.backend().name(), layers = weights.layers(), "loaded GGUF model");
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                weights,
                tokenizer,
                template,
                prefix: Mutex::new(PrefixCache::new(options.prefix_cache_bytes)),
                constraints: OnceLock::new(),
                prefill_chunk,
            }),
        })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.inner.tokenizer
    }

    /// The backend running the forward pass.
    pub fn backend(&self) -> GgufBackend {
        self.inner.weights.backend()
    }

    /// The chat template.
    pub fn template(&self) -> &ChatTemplate {
        &self.inner.template
    }

    /// The text a prompt becomes before tokenization. Message contents are stripped of
    /// control-token text so a message cannot forge turns.
    pub fn render(&self, prompt: &Prompt) -> Result<String> {
        match prompt {
            Prompt::Text(text) => Ok(text.clone()),
            Prompt::Chat(messages) => {
                let safe: Vec<_> = messages
                    .iter()
                    .map(|m| {
                        let mut m = m.clone();
                        m.content = self.inner.tokenizer.neutralize_control_tokens(&m.content);
                        m
                    })
                    .collect();
                self.inner.template.render(&safe, None)
            }
        }
    }

    /// Token ids of a prompt.
    pub fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        self.inner.tokenizer.encode(&self.render(prompt)?)
    }

    /// Entries in the prefix cache.
    pub fn prefix_cache_entries(&self) -> usize {
        self.inner.prefix.lock().map_or(0, |p| p.len())
    }

    /// Raw logits after feeding `tokens` from scratch (for comparisons with other
    /// implementations).
    pub fn logits(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        let weights = &self.inner.weights;
        let mut cache = weights.new_sequence(tokens.len())?;
        let mut logits = Vec::new();
        for chunk in tokens.chunks(self.inner.prefill_chunk) {
            logits = weights.forward(chunk, &mut cache)?;
        }
        Ok(logits)
    }

    fn constraints(&self) -> Result<&ConstraintCompiler> {
        let inner = &self.inner;
        inner
            .constraints
            .get_or_init(|| {
                ConstraintCompiler::new(inner.tokenizer.clone(), inner.weights.vocab_size())
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::Inference(e.clone()))
    }
}

impl Generator for LocalGenerator {
    fn model_id(&self) -> &str {
        &self.inner.id
    }

    fn context_length(&self) -> usize {
        self.inner.weights.context_length()
    }

    fn generate(&self, request: GenerateRequest) -> Result<TokenStream> {
        request.sampling.validate()?;
        let prompt = self.prompt_tokens(&request.prompt)?;
        if prompt.is_empty() {
            return Err(Error::InvalidRequest("the prompt is empty".into()));
        }
        let context = self.context_length();
        let room = context.saturating_sub(prompt.len());
        let max_tokens = match request.sampling.max_tokens {
            Some(n) if n > room => {
                return Err(Error::ContextLength {
                    prompt_tokens: prompt.len(),
                    max_tokens: n,
                    context_length: context,
                });
            }
            Some(n) => n,
            None if room == 0 => {
                return Err(Error::ContextLength {
                    prompt_tokens: prompt.len(),
                    max_tokens: 1,
                    context_length: context,
                });
            }
            None => room,
        };
        let constraint = match &request.constraint {
            Some(c) => Some(self.constraints()?.start(c)?),
            None => None,
        };
        Ok(Box::new(stream::LocalStream::new(
            self.inner.clone(),
            prompt,
            request,
            max_tokens,
            constraint,
        )))
    }
}

fn resolve_gguf(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if !path.is_dir() {
        return Err(Error::NotInstalled {
            name: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            dir: path
                .parent()
                .map_or_else(|| path.to_path_buf(), Path::to_path_buf),
        });
    }
    if let Ok(manifest) = crate::manifest::ModelManifest::read(path) {
        let main = path.join(&manifest.main_file);
        if main.is_file() {
            return Ok(main);
        }
    }
    let ggufs: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    match ggufs.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::load(path, "no .gguf file in the model directory")),
        _ => Err(Error::load(path, "several .gguf files; name one")),
    }
}

/// A directory's name, or a file's name without `.gguf`.
fn model_id(given: &Path, file: &Path) -> String {
    let name = if given.is_dir() {
        given.file_name()
    } else {
        file.file_name()
    };
    let name = name.map_or_else(|| "local".into(), |s| s.to_string_lossy().into_owned());
    name.strip_suffix(".gguf")
        .map_or(name.clone(), str::to_string)
}

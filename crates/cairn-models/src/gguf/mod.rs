//! GGUF models: reading the file ([`GgufFile`]), the tokenizer embedded in its metadata
//! ([`GgufTokenizer`]), its chat template ([`ChatTemplate`]) and the transformer
//! ([`Transformer`], llama and qwen2 architectures) with a per-request [`KvCache`], or
//! llama.cpp's forward pass ([`LlamaWeights`], cargo feature `llama-cpp`).

mod byte_level;
#[cfg(feature = "llama-cpp")]
mod llama_cpp;
mod template;
mod tokenizer;
mod transformer;

#[cfg(feature = "llama-cpp")]
pub use llama_cpp::{LlamaSequence, LlamaSnapshot, LlamaWeights};
pub use template::ChatTemplate;
pub use tokenizer::GgufTokenizer;
pub use transformer::{Arch, KvCache, ModelConfig, Requant, Transformer};

use crate::{Error, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// An opened GGUF file: its metadata and tensor directory (tensors are read on demand).
pub struct GgufFile {
    path: PathBuf,
    content: Content,
}

impl GgufFile {
    /// Reads the header of `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let mut reader = Self::reader(path)?;
        let content = Content::read(&mut reader).map_err(|e| Error::load(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            content,
        })
    }

    fn reader(path: &Path) -> Result<BufReader<File>> {
        let file = File::open(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Ok(BufReader::new(file))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed header.
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    /// A required metadata value.
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key)
            .ok_or_else(|| Error::load(&self.path, format!("metadata key `{key}` is missing")))
    }

    /// A metadata string.
    pub fn string(&self, key: &str) -> Option<&str> {
        self.get(key)
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
    }

    /// A metadata integer (any integer type).
    pub fn usize(&self, key: &str) -> Option<usize> {
        let v = self.get(key)?;
        v.to_u32()
            .map(|x| x as usize)
            .or_else(|_| v.to_u64().map(|x| x as usize))
            .or_else(|_| v.to_i32().map(|x| x.max(0) as usize))
            .ok()
    }

    /// A metadata float.
    pub fn f32(&self, key: &str) -> Option<f32> {
        let v = self.get(key)?;
        v.to_f32().or_else(|_| v.to_f64().map(|x| x as f32)).ok()
    }

    /// A metadata boolean.
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(|v| v.to_bool().ok())
    }

    /// The `general.architecture` string.
    pub fn architecture(&self) -> Result<&str> {
        self.string("general.architecture").ok_or_else(|| {
            Error::load(&self.path, "metadata key `general.architecture` is missing")
        })
    }
}

//! The tokenizer embedded in a GGUF file's metadata (`tokenizer.ggml.*`), rebuilt as a
//! Hugging Face `tokenizers` pipeline so encoding matches llama.cpp token for token:
//! a pre-tokenizer regex chosen by `tokenizer.ggml.pre`, byte-level BPE with the file's
//! merges, and its control tokens matched whole.
//!
//! Supported: `tokenizer.ggml.model = gpt2` (byte-level BPE: Qwen2, SmolLM2, Llama 3…).
//! SentencePiece vocabularies (`llama`) are refused with a clear error.

use super::{GgufFile, byte_level};
use crate::{Error, Result};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const QWEN2_PATTERN: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_PATTERN: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF token types.
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;

/// Token texts that end an assistant turn in common chat formats.
const END_OF_TURN: &[&str] = &[
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<end_of_turn>",
    "<|end|>",
];

/// A GGUF-embedded BPE tokenizer.
pub struct GgufTokenizer {
    inner: Tokenizer,
    /// Raw bytes of every token (special tokens: their text).
    bytes: Vec<Vec<u8>>,
    special: Vec<bool>,
    control_texts: Vec<String>,
    eos: u32,
    bos: Option<u32>,
    add_bos: bool,
    end_tokens: Vec<u32>,
}

impl GgufTokenizer {
    /// Builds the tokenizer from a GGUF file's metadata.
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let path = file.path();
        let model = file.string("tokenizer.ggml.model").unwrap_or("");
        if model != "gpt2" {
            return Err(Error::load(
                path,
                format!("tokenizer model `{model}` is not supported (only byte-level BPE, `gpt2`)"),
            ));
        }
        let tokens = string_list(file, "tokenizer.ggml.tokens")?;
        let merges = string_list(file, "tokenizer.ggml.merges")?;
        let types: Vec<i32> = match file.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| Error::load(path, e))?
                .iter()
                .map(|t| t.to_i32().unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        let pre = file.string("tokenizer.ggml.pre").unwrap_or("default");

        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let merges: Vec<(String, String)> = merges
            .iter()
            .filter_map(|m| m.split_once(' '))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| Error::load(path, format!("BPE: {e}")))?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre_tokenizer(pre).map_err(|e| Error::load(path, e))?));
        inner.with_decoder(Some(ByteLevelDecoder::default()));

        let mut special = vec![false; tokens.len()];
        let mut added = Vec::new();
        let mut control_texts = Vec::new();
        for (i, (text, ty)) in tokens.iter().zip(&types).enumerate() {
            if *ty == TYPE_CONTROL || *ty == TYPE_USER_DEFINED {
                special[i] = *ty == TYPE_CONTROL;
                added.push(AddedToken::from(text.clone(), true));
                if *ty == TYPE_CONTROL {
                    control_texts.push(text.clone());
                }
            }
        }
        inner
            .add_special_tokens(added)
            .map_err(|e| Error::load(path, format!("special tokens: {e}")))?;

        let bytes = tokens
            .iter()
            .zip(&special)
            .map(|(t, is_special)| match byte_level::token_bytes(t) {
                Some(b) if !is_special => b,
                _ => t.as_bytes().to_vec(),
            })
            .collect();
        let eos = file.usize("tokenizer.ggml.eos_token_id").ok_or_else(|| {
            Error::load(
                path,
                "metadata key `tokenizer.ggml.eos_token_id` is missing",
            )
        })? as u32;
        let bos = file.usize("tokenizer.ggml.bos_token_id").map(|b| b as u32);
        let add_bos = file.bool("tokenizer.ggml.add_bos_token").unwrap_or(false);
        let mut end_tokens = vec![eos];
        if let Some(eot) = file.usize("tokenizer.ggml.eot_token_id") {
            end_tokens.push(eot as u32);
        }
        for (i, text) in tokens.iter().enumerate() {
            if special[i] && END_OF_TURN.contains(&text.as_str()) {
                end_tokens.push(i as u32);
            }
        }
        end_tokens.sort_unstable();
        end_tokens.dedup();
        Ok(Self {
            inner,
            bytes,
            special,
            control_texts,
            eos,
            bos,
            add_bos,
            end_tokens,
        })
    }

    /// Encodes text; control tokens written in it (`<|im_start|>`) become their ids.
    /// A BOS token is prepended when the model asks for one.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Inference(format!("tokenize: {e}")))?;
        let mut ids = Vec::with_capacity(encoding.len() + 1);
        if self.add_bos
            && let Some(bos) = self.bos
        {
            ids.push(bos);
        }
        ids.extend_from_slice(encoding.get_ids());
        Ok(ids)
    }

    /// The raw bytes of a token (special tokens: their text).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// The token's text, lossily decoded.
    pub fn token_text(&self, id: u32) -> String {
        String::from_utf8_lossy(self.token_bytes(id)).into_owned()
    }

    /// Decodes ids to text (lossy for cut characters).
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|id| self.token_bytes(*id).iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Whether the id is a control token.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// Tokens that end generation (EOS, end-of-turn).
    pub fn end_tokens(&self) -> &[u32] {
        &self.end_tokens
    }

    /// The end-of-sequence token.
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// The beginning-of-sequence token, if any.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.bytes.len()
    }

    /// Breaks any control-token text inside untrusted content (inserting U+2060 WORD
    /// JOINER after its first character), so a message cannot smuggle `<|im_start|>`
    /// into the prompt as a real control token.
    pub fn neutralize_control_tokens(&self, content: &str) -> String {
        let mut out = content.to_string();
        for text in &self.control_texts {
            if out.contains(text.as_str()) {
                let mut chars = text.chars();
                let first = chars.next().map(String::from).unwrap_or_default();
                let broken = format!("{first}\u{2060}{}", chars.as_str());
                out = out.replace(text.as_str(), &broken);
            }
        }
        out
    }
}

fn string_list(file: &GgufFile, key: &str) -> Result<Vec<String>> {
    let path = file.path();
    file.require(key)?
        .to_vec()
        .map_err(|e| Error::load(path, e))?
        .iter()
        .map(|v| {
            v.to_string()
                .cloned()
                .map_err(|e| Error::load(path, format!("{key}: {e}")))
        })
        .collect()
}

/// The pre-tokenizer llama.cpp uses for `tokenizer.ggml.pre`.
fn pre_tokenizer(pre: &str) -> std::result::Result<PreTokenizerWrapper, String> {
    let split = |pattern: &str| -> std::result::Result<PreTokenizerWrapper, String> {
        Split::new(
            SplitPattern::Regex(pattern.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map(PreTokenizerWrapper::Split)
        .map_err(|e| format!("pre-tokenizer regex: {e}"))
    };
    let byte_level = PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, false));
    let steps = match pre {
        "qwen2" | "deepseek-r1-qwen" => vec![split(QWEN2_PATTERN)?, byte_level],
        "llama3" | "llama-bpe" | "smaug-bpe" => vec![split(LLAMA3_PATTERN)?, byte_level],
        // Digits one by one, then the GPT-2 pattern (StarCoder-style vocabularies).
        "smollm" | "starcoder" | "refact" | "codeshell" => {
            vec![split(r"\p{N}")?, split(GPT2_PATTERN)?, byte_level]
        }
        _ => vec![split(GPT2_PATTERN)?, byte_level],
    };
    Ok(PreTokenizerWrapper::Sequence(Sequence::new(steps)))
}

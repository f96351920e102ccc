//! Constrained decoding with llguidance: a JSON Schema or a regex becomes a grammar, and
//! at every step the matcher says which tokens keep the output inside it. The token
//! trie is built once per model from the GGUF vocabulary's raw bytes.

use crate::generate::OutputConstraint;
use crate::gguf::GgufTokenizer;
use crate::{Error, Result};
use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{SimpleVob, TokEnv, TokRxInfo, TokTrie, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};
use std::sync::Arc;

/// Compiles constraints for one model's vocabulary.
pub struct ConstraintCompiler {
    factory: ParserFactory,
}

struct VocabEnv {
    trie: TokTrie,
    tokenizer: Arc<GgufTokenizer>,
}

impl TokenizerEnv for VocabEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<u32> {
        let text = String::from_utf8_lossy(s);
        let mut ids = self.tokenizer.encode(&text).unwrap_or_default();
        if let Some(bos) = self.tokenizer.bos()
            && ids.first() == Some(&bos)
            && !text.is_empty()
        {
            ids.remove(0);
        }
        ids
    }
}

impl ConstraintCompiler {
    /// Builds the token trie for `tokenizer` over `vocab_size` logits.
    pub fn new(tokenizer: Arc<GgufTokenizer>, vocab_size: usize) -> Result<Self> {
        let words: Vec<Vec<u8>> = (0..vocab_size as u32)
            .map(|id| {
                let bytes = tokenizer.token_bytes(id);
                if tokenizer.is_special(id) || bytes.is_empty() {
                    let mut w = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                    w.extend_from_slice(bytes);
                    w
                } else {
                    bytes.to_vec()
                }
            })
            .collect();
        let mut info = TokRxInfo::new(vocab_size as u32, tokenizer.eos());
        info.tok_bos = tokenizer.bos();
        let trie = TokTrie::from(&info, &words);
        let env: TokEnv = Arc::new(VocabEnv { trie, tokenizer });
        let mut factory = ParserFactory::new_simple(&env)
            .map_err(|e| Error::Inference(format!("constraint engine: {e}")))?;
        factory.quiet();
        Ok(Self { factory })
    }

    /// Starts a matcher for one request. A schema or regex llguidance rejects is an
    /// invalid request.
    pub fn start(&self, constraint: &OutputConstraint) -> Result<ActiveConstraint> {
        let grammar = match constraint {
            OutputConstraint::JsonObject => {
                TopLevelGrammar::from_json_schema(compact(serde_json::json!({"type": "object"})))
            }
            OutputConstraint::JsonSchema(schema) => {
                TopLevelGrammar::from_json_schema(compact(schema.clone()))
            }
            OutputConstraint::Regex(rx) => TopLevelGrammar::from_regex(rx),
            OutputConstraint::Tools { .. } => {
                return Err(Error::InvalidRequest(
                    "native tool calling needs a remote model; local models call tools \
                     through a JSON Schema constraint"
                        .into(),
                ));
            }
        };
        let parser = self
            .factory
            .create_parser(grammar)
            .map_err(|e| Error::InvalidRequest(format!("invalid output constraint: {e}")))?;
        let matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(Error::InvalidRequest(format!(
                "invalid output constraint: {e}"
            )));
        }
        Ok(ActiveConstraint { matcher })
    }
}

/// Objects that list `properties` and say nothing of `additionalProperties` are closed
/// (as OpenAI's strict mode does): small models otherwise invent extra arguments.
pub fn close_objects(schema: &mut serde_json::Value) {
    let serde_json::Value::Object(o) = schema else {
        return;
    };
    if o.contains_key("properties") && !o.contains_key("additionalProperties") {
        o.insert(
            "additionalProperties".into(),
            serde_json::Value::Bool(false),
        );
    }
    for (key, v) in o.iter_mut() {
        match key.as_str() {
            // Maps of name → schema.
            "properties" | "patternProperties" | "$defs" | "definitions" => {
                if let serde_json::Value::Object(m) = v {
                    m.values_mut().for_each(close_objects);
                }
            }
            // One schema.
            "items" | "additionalProperties" | "not" | "if" | "then" | "else" => close_objects(v),
            // Lists of schemas.
            "anyOf" | "allOf" | "oneOf" | "prefixItems" => {
                if let serde_json::Value::Array(list) = v {
                    list.iter_mut().for_each(close_objects);
                }
            }
            _ => {}
        }
    }
}

/// Asks for single-line JSON (`{"a": 1, "b": [2, 3]}`) unless the schema sets its own
/// `x-guidance` options: with free whitespace, small models pad with newlines and
/// tabs until they run out of tokens.
fn compact(mut schema: serde_json::Value) -> serde_json::Value {
    if let Some(object) = schema.as_object_mut()
        && !object.contains_key("x-guidance")
    {
        object.insert(
            "x-guidance".into(),
            serde_json::json!({
                "whitespace_flexible": false,
                "item_separator": ", ",
                "key_separator": ": ",
            }),
        );
    }
    schema
}

/// A constraint in force during one generation.
pub struct ActiveConstraint {
    matcher: Matcher,
}

impl ActiveConstraint {
    /// The tokens allowed next (EOS only once the grammar is complete).
    pub fn mask(&mut self) -> Result<SimpleVob> {
        self.matcher
            .compute_mask_or_eos()
            .map_err(|e| Error::Inference(format!("constraint: {e}")))
    }

    /// Advances past a sampled token.
    pub fn consume(&mut self, token: u32) -> Result<()> {
        self.matcher
            .consume_token(token)
            .map_err(|e| Error::Inference(format!("constraint: {e}")))
    }

    /// Whether the grammar has ended (nothing more may follow).
    pub fn is_stopped(&self) -> bool {
        self.matcher.is_stopped()
    }
}

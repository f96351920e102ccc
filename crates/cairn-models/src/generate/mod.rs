//! The [`Generator`] trait: one streaming interface over every text generator, local
//! (GGUF through candle, [`crate::LocalGenerator`]) or remote (an OpenAI-compatible
//! server, [`crate::RemoteGenerator`]).
//!
//! A request carries either chat messages (rendered with the model's own chat template)
//! or raw prompt text, the sampling parameters, an optional output constraint (JSON
//! Schema or regex, enforced token by token) and how many alternative log-probabilities
//! to report. The answer is a [`TokenStream`]: zero or more [`StreamEvent::Token`]
//! deltas, then exactly one [`StreamEvent::Done`].

mod sampling;
mod stop;

pub use sampling::{Sampler, SamplingParams, TokenChoice};
pub use stop::StopBuffer;

use serde::{Deserialize, Serialize};

/// Who wrote a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person asking.
    User,
    /// The model's earlier answers.
    Assistant,
    /// A tool's result fed back to the model.
    Tool,
}

impl Role {
    /// The role's name as chat templates expect it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
    /// An assistant turn's calls in OpenAI's shape (`[{id, type, function: {name,
    /// arguments}}]`), sent as such to providers that call tools natively. Local models
    /// see calls rendered into `content` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<serde_json::Value>,
    /// A tool turn's answer to this call id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message with the given role.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: None,
            tool_call_id: None,
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
}

/// What to generate from.
#[derive(Clone, Debug, PartialEq)]
pub enum Prompt {
    /// Chat messages, rendered with the model's chat template (generation prompt added).
    Chat(Vec<ChatMessage>),
    /// Raw text, tokenized as is (special tokens in it are honoured).
    Text(String),
}

/// A constraint the output must satisfy, enforced while decoding.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputConstraint {
    /// Any single JSON object.
    JsonObject,
    /// A JSON value valid against this JSON Schema.
    JsonSchema(serde_json::Value),
    /// Text matching this regular expression (whole output).
    Regex(String),
    /// The provider's own tool calling (remote models only): OpenAI-shaped `tools` and
    /// `tool_choice`, passed through; the calls come back in [`Finish::tool_calls`].
    Tools {
        tools: serde_json::Value,
        choice: serde_json::Value,
    },
}

/// One generation request.
#[derive(Clone, Debug)]
pub struct GenerateRequest {
    /// Messages or text.
    pub prompt: Prompt,
    /// Sampling parameters.
    pub sampling: SamplingParams,
    /// Optional output constraint.
    pub constraint: Option<OutputConstraint>,
    /// Report the chosen token's log-probability and this many top alternatives
    /// (`None` = no log-probabilities; `Some(0)` = only the chosen token's).
    pub logprobs: Option<usize>,
}

impl GenerateRequest {
    /// A chat request with default sampling.
    pub fn chat(messages: Vec<ChatMessage>) -> Self {
        Self {
            prompt: Prompt::Chat(messages),
            sampling: SamplingParams::default(),
            constraint: None,
            logprobs: None,
        }
    }

    /// A raw-text request with default sampling.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            prompt: Prompt::Text(text.into()),
            ..Self::chat(Vec::new())
        }
    }
}

/// A candidate token and its log-probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    /// The token id (`None` when a remote provider does not say).
    pub token_id: Option<u32>,
    /// The token's text (lossy UTF-8 for partial characters).
    pub token: String,
    /// Natural-log probability.
    pub logprob: f32,
}

/// Newly generated text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenDelta {
    /// The text this step adds (may be empty while a multi-byte character or a possible
    /// stop sequence is held back).
    pub text: String,
    /// The sampled token id (`None` for remote providers that do not expose ids).
    pub token_id: Option<u32>,
    /// The sampled token's log-probability, when asked for.
    pub logprob: Option<f32>,
    /// The most likely alternatives, when asked for.
    pub top_logprobs: Vec<TopLogprob>,
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn, a stop sequence matched, or the constraint completed.
    Stop,
    /// `max_tokens` was reached.
    Length,
}

/// Token accounting for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Prompt tokens whose KV state came from the prefix cache.
    pub cached_prompt_tokens: usize,
}

/// The end of a stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finish {
    /// Why it ended.
    pub reason: FinishReason,
    /// Token counts.
    pub usage: Usage,
    /// The seed the sampler used (set even when the request gave none, so a run can be
    /// repeated).
    pub seed: Option<u64>,
    /// The registry name of the model that produced the text, when a route or gateway
    /// chose it (absent: the generator that was called).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tool calls a provider made natively ([`OutputConstraint::Tools`]), in OpenAI's
    /// shape: `[{id, type: "function", function: {name, arguments}}]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<serde_json::Value>,
}

/// One event of a [`TokenStream`].
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// New text.
    Token(TokenDelta),
    /// The end; always the last event.
    Done(Finish),
}

/// A stream of generation events. Dropping it cancels the generation.
pub type TokenStream = Box<dyn Iterator<Item = crate::Result<StreamEvent>> + Send>;

/// A text generator.
pub trait Generator: Send + Sync {
    /// The model's identifier.
    fn model_id(&self) -> &str;

    /// The context window in tokens.
    fn context_length(&self) -> usize;

    /// Starts generating. Validation errors (bad parameters, prompt too long, invalid
    /// schema) are returned here, before any token.
    fn generate(&self, request: GenerateRequest) -> crate::Result<TokenStream>;

    /// Generates to the end and collects the text.
    fn complete(&self, request: GenerateRequest) -> crate::Result<Completion> {
        let mut text = String::new();
        let mut tokens = Vec::new();
        for event in self.generate(request)? {
            match event? {
                StreamEvent::Token(delta) => {
                    text.push_str(&delta.text);
                    tokens.push(delta);
                }
                StreamEvent::Done(finish) => {
                    return Ok(Completion {
                        text,
                        tokens,
                        finish,
                    });
                }
            }
        }
        Err(crate::Error::Inference(
            "the token stream ended without a finish event".into(),
        ))
    }
}

/// A finished generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// All generated text.
    pub text: String,
    /// Every step, with ids and log-probabilities when asked for.
    pub tokens: Vec<TokenDelta>,
    /// Why it ended, and the token counts.
    pub finish: Finish,
}

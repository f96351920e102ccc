//! `cairn generate "prompt"`: streams a local (or remote) model's answer to stdout.

use super::Context;
use cairn_models::{
    ChatMessage, GenerateRequest, Generator, OutputConstraint, Prompt, SamplingParams, StreamEvent,
};
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// The prompt (a user message, unless --raw).
    pub prompt: String,
    /// Model: a name under the model cache or a path (default: the config's
    /// `models.generator`).
    #[arg(long)]
    pub model: Option<String>,
    /// A system message.
    #[arg(long)]
    pub system: Option<String>,
    /// Send the prompt as raw text, without the chat template.
    #[arg(long)]
    pub raw: bool,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop sequence (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Constrain the output to this JSON Schema (inline JSON or @file).
    #[arg(long, conflicts_with = "regex")]
    pub json_schema: Option<String>,
    /// Constrain the output to this regular expression.
    #[arg(long)]
    pub regex: Option<String>,
    /// Report log-probabilities with this many alternatives per token.
    #[arg(long)]
    pub logprobs: Option<usize>,
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    let model = super::models::load_generator(ctx, a.model.as_deref())?;
    let prompt = if a.raw {
        Prompt::Text(a.prompt.clone())
    } else {
        let mut messages = Vec::new();
        if let Some(system) = &a.system {
            messages.push(ChatMessage::system(system.clone()));
        }
        messages.push(ChatMessage::user(a.prompt.clone()));
        Prompt::Chat(messages)
    };
    let constraint = match (&a.json_schema, &a.regex) {
        (Some(schema), _) => Some(OutputConstraint::JsonSchema(parse_schema(schema)?)),
        (None, Some(rx)) => Some(OutputConstraint::Regex(rx.clone())),
        (None, None) => None,
    };
    let request = GenerateRequest {
        prompt,
        sampling: SamplingParams {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            min_p: a.min_p,
            repetition_penalty: a.repeat_penalty,
            stop: a.stop.clone(),
            max_tokens: Some(a.max_tokens),
            seed: a.seed,
            ..SamplingParams::default()
        },
        constraint,
        logprobs: a.logprobs,
    };
    let started = Instant::now();
    let stream = model
        .generate(request)
        .map_err(|e| super::fail(e.code(), e))?;
    let mut first_token = None;
    let mut text = String::new();
    let mut tokens = Vec::new();
    for event in stream {
        match event.map_err(|e| super::fail(e.code(), e))? {
            StreamEvent::Token(delta) => {
                first_token.get_or_insert_with(|| started.elapsed());
                if !ctx.json {
                    let mut out = std::io::stdout().lock();
                    if write!(out, "{}", delta.text)
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                text.push_str(&delta.text);
                tokens.push(delta);
            }
            StreamEvent::Done(finish) => {
                let total = started.elapsed();
                let ttft = first_token.unwrap_or(total);
                let decode_s = (total - ttft).as_secs_f64();
                let rate = if decode_s > 0.0 {
                    finish.usage.completion_tokens.saturating_sub(1) as f64 / decode_s
                } else {
                    0.0
                };
                if ctx.json {
                    let value = serde_json::json!({
                        "model": model.model_id(),
                        "text": text,
                        "finish_reason": finish.reason,
                        "usage": finish.usage,
                        "seed": finish.seed,
                        "time_to_first_token_ms": ttft.as_millis() as u64,
                        "total_ms": total.as_millis() as u64,
                        "tokens": a.logprobs.map(|_| &tokens),
                    });
                    ctx.print_json(&value)?;
                } else {
                    outln!();
                    eprintln!(
                        "[{}] {} prompt tokens ({} cached), {} generated, finish {:?}, first token {:.2}s, {:.1} tokens/s, seed {}",
                        model.model_id(),
                        finish.usage.prompt_tokens,
                        finish.usage.cached_prompt_tokens,
                        finish.usage.completion_tokens,
                        finish.reason,
                        ttft.as_secs_f64(),
                        rate,
                        finish.seed.map_or_else(|| "-".into(), |s| s.to_string()),
                    );
                    if a.logprobs.is_some() {
                        for t in &tokens {
                            let alts: Vec<String> = t
                                .top_logprobs
                                .iter()
                                .map(|c| format!("{:?} {:.3}", c.token, c.logprob))
                                .collect();
                            eprintln!(
                                "  {:?} {:.3}  [{}]",
                                t.text,
                                t.logprob.unwrap_or(f32::NAN),
                                alts.join(", ")
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_schema(arg: &str) -> anyhow::Result<serde_json::Value> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            super::fail(cairn_types::ErrorCode::InvalidInput, format!("{path}: {e}"))
        })?,
        None => arg.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| {
        super::fail(
            cairn_types::ErrorCode::InvalidInput,
            format!("--json-schema is not valid JSON: {e}"),
        )
    })
}

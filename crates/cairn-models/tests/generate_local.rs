#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
//! The local GGUF generator on SmolLM2-135M: greedy answers, seeds, stop sequences,
//! log-probabilities, prefix caching, concurrency and errors.

mod support;

use cairn_models::{
    ChatMessage, FinishReason, GenerateRequest, Generator, SamplingParams, StreamEvent,
};

fn ask(question: &str, sampling: SamplingParams) -> GenerateRequest {
    GenerateRequest {
        sampling,
        ..GenerateRequest::chat(vec![ChatMessage::user(question)])
    }
}

#[test]
fn greedy_answer_names_paris() {
    let model = support::smollm2();
    let out = model
        .complete(ask(
            "What is the capital of France?",
            SamplingParams::greedy(24),
        ))
        .unwrap();
    eprintln!("{:?}", out.text);
    assert!(out.text.contains("Paris"), "{:?}", out.text);
    assert!(out.finish.usage.prompt_tokens > 10);
    assert_eq!(out.finish.usage.completion_tokens, out.tokens.len());
}

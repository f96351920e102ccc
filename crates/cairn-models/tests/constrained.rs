#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
//! Constrained decoding with llguidance on SmolLM2-135M: a suite of JSON Schemas (enums,
//! nested objects, arrays, numbers, strings with patterns) and regexes. Every output
//! must parse and validate, sampled hot as well as greedy.

mod support;

use cairn_models::generate::{Completion, FinishReason};
use cairn_models::{ChatMessage, GenerateRequest, Generator, OutputConstraint, SamplingParams};
use serde_json::{Value, json};

fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Classify the sentiment of: 'I love this database!'",
            json!({"type": "object", "properties": {"sentiment": {"enum": ["positive", "negative", "neutral"]}}, "required": ["sentiment"], "additionalProperties": false}),
        ),
        (
            "Describe a person named Ada who is 36 years old.",
            json!({"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 40},
                "age": {"type": "integer", "minimum": 0, "maximum": 150},
                "address": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}}, "required": ["city", "zip"], "additionalProperties": false}
            }, "required": ["name", "age", "address"], "additionalProperties": false}),
        ),
        (
            "List three PostgreSQL index types.",
            json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string", "maxLength": 20}, "minItems": 1, "maxItems": 3}}, "required": ["items"], "additionalProperties": false}),
        ),
        (
            "Give the temperature and humidity of a warm day.",
            json!({"type": "object", "properties": {"celsius": {"type": "number", "minimum": -50, "maximum": 60}, "humidity": {"type": "number", "minimum": 0, "maximum": 1}, "raining": {"type": "boolean"}}, "required": ["celsius", "humidity", "raining"], "additionalProperties": false}),
        ),
        (
            "Return a list of two points with x and y coordinates.",
            json!({"type": "array", "items": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}}, "required": ["x", "y"], "additionalProperties": false}, "minItems": 2, "maxItems": 2}),
        ),
        (
            "Pick a priority level for a failing backup.",
            json!({"type": "object", "properties": {"level": {"enum": [1, 2, 3]}, "reason": {"type": "string", "maxLength": 60}, "tags": {"type": "array", "items": {"enum": ["ops", "db", "urgent"]}, "maxItems": 3}}, "required": ["level", "reason"], "additionalProperties": false}),
        ),
    ]
}

fn run(prompt: &str, constraint: OutputConstraint, sampling: SamplingParams) -> String {
    complete(prompt, constraint, sampling).text
}

fn complete(prompt: &str, constraint: OutputConstraint, sampling: SamplingParams) -> Completion {
    let request = GenerateRequest {
        sampling,
        constraint: Some(constraint),
        ..GenerateRequest::chat(vec![
            ChatMessage::system("Answer in JSON."),
            ChatMessage::user(prompt),
        ])
    };
    support::smollm2().complete(request).unwrap()
}

#[test]
fn every_schema_output_parses_and_validates() {
    let mut total = 0;
    for (prompt, schema) in schemas() {
        let validator = jsonschema::validator_for(&schema).unwrap();
        let samplings = [
            SamplingParams::greedy(200),
            SamplingParams {
                temperature: 1.0,
                seed: Some(1),
                max_tokens: Some(200),
                ..Default::default()
            },
            // Hot, with min-p as the only filter (what min-p is for).
            SamplingParams {
                temperature: 1.2,
                top_k: 0,
                top_p: 1.0,
                min_p: 0.1,
                seed: Some(2),
                max_tokens: Some(200),
                ..Default::default()
            },
        ];
        for sampling in samplings {
            let text = run(
                prompt,
                OutputConstraint::JsonSchema(schema.clone()),
                sampling,
            );
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {text:?} for {schema}"));
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{text} violates {schema}: {errors:?}");
            total += 1;
        }
    }
    eprintln!("{total} constrained outputs, all valid");
}

#[test]
fn json_object_mode_gives_an_object() {
    // Free-form JSON has no length bound, and greedy decoding on a 135M model can loop
    // inside a string on one CPU and not on another (SIMD paths round differently). So:
    // an output that ends must be an object; one that hits `max_tokens` must be a
    // truncated object; and most prompts must end.
    let prompts = [
        "Give the name and the year of first release of PostgreSQL as JSON.",
        "Return a JSON object with keys \"city\" and \"country\" for Paris.",
        "Describe a database table named users with two columns, as JSON.",
    ];
    let mut ended = 0;
    for prompt in prompts {
        let completion = complete(
            prompt,
            OutputConstraint::JsonObject,
            // The repetition penalty keeps the model from looping inside strings.
            SamplingParams {
                repetition_penalty: 1.3,
                ..SamplingParams::greedy(300)
            },
        );
        let text = &completion.text;
        assert!(text.starts_with('{'), "{text:?}");
        if completion.finish.reason == FinishReason::Stop {
            let value: Value =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
            assert!(value.is_object(), "{text}");
            ended += 1;
        } else {
            assert_eq!(completion.finish.usage.completion_tokens, 300, "{text:?}");
        }
    }
    assert!(
        ended >= 2,
        "only {ended} of {} outputs ended",
        prompts.len()
    );
}

#[test]
fn regex_constraints_hold() {
    for (rx, prompt) in [
        (
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
            "When was PostgreSQL 15 released?",
        ),
        (r"(yes|no)", "Is SQL a programming language?"),
        (
            r"[A-Z][a-z]+( [A-Z][a-z]+)?",
            "Name a famous computer scientist.",
        ),
    ] {
        let text = run(
            prompt,
            OutputConstraint::Regex(rx.into()),
            SamplingParams::greedy(30),
        );
        let full = regex_lite_full_match(rx, &text);
        assert!(full, "{text:?} does not match {rx}");
    }
}

/// Whole-string match via the JSON Schema `pattern` keyword (anchored), so the test does
/// not need a regex crate of its own.
fn regex_lite_full_match(rx: &str, text: &str) -> bool {
    let schema = json!({"type": "string", "pattern": format!("^(?:{rx})$")});
    jsonschema::is_valid(&schema, &json!(text))
}

#[test]
fn an_invalid_schema_is_refused_before_generation() {
    let model = support::smollm2();
    let request = GenerateRequest {
        constraint: Some(OutputConstraint::JsonSchema(
            json!({"type": "no-such-type"}),
        )),
        ..GenerateRequest::chat(vec![ChatMessage::user("hi")])
    };
    let err = model.generate(request).err().expect("must fail");
    assert_eq!(err.code().as_str(), "invalid_input", "{err}");
}

//! Query transforms by the rewriter model (`models.rewriter`). Each one's output is returned in the
//! response's trace. Greedy decoding keeps them reproducible; list-shaped outputs are
//! constrained to a JSON array of strings so they always parse.

use super::{Probe, Transform, TransformTrace};
use crate::{Engine, ModelRole, Result};
use cairn_models::{ChatMessage, GenerateRequest, OutputConstraint, Role, SamplingParams};
use cairn_types::TenantId;
use std::time::Instant;

const REWRITE: &str = "Rewrite the user's search question so a search engine over technical \
documentation finds the answer: expand abbreviations, name the feature precisely, keep it one \
sentence. Reply with the rewritten question only.";
const HYDE: &str = "Write a short passage (3 sentences) from technical documentation that \
answers the question. Be specific; invent nothing beyond common knowledge.";
const MULTI: &str = "Write 4 different search queries that would find the answer to the \
question, each worded differently (synonyms, the technical term, a short keyword query). \
Reply with a JSON array of strings.";
const DECOMPOSE: &str = "Split the question into the 2 to 4 simpler sub-questions that must be \
answered to answer it (one per fact needed). If it is already simple, return it alone. Reply \
with a JSON array of strings.";

fn list_schema(min: usize, max: usize) -> serde_json::Value {
    serde_json::json!({
        "type": "array",
        "items": {"type": "string", "minLength": 3, "maxLength": 200},
        "minItems": min,
        "maxItems": max
    })
}

impl Engine {
    /// One greedy answer of the rewriter model to `question` under `system`.
    pub(crate) fn ask_generator(
        &self,
        tenant: &TenantId,
        system: &str,
        question: &str,
        max_tokens: usize,
        constraint: Option<OutputConstraint>,
    ) -> Result<String> {
        let generator = self.role_model(tenant, ModelRole::Rewriter, &self.default_redaction()?)?;
        let mut req = GenerateRequest::chat(vec![
            ChatMessage::new(Role::System, system),
            ChatMessage::new(Role::User, question),
        ]);
        req.sampling = SamplingParams {
            temperature: 0.0,
            max_tokens: Some(max_tokens),
            ..SamplingParams::default()
        };
        req.constraint = constraint;
        Ok(generator.complete(req)?.text.trim().to_owned())
    }

    fn ask_list(
        &self,
        tenant: &TenantId,
        system: &str,
        question: &str,
        min: usize,
        max: usize,
    ) -> Result<Vec<String>> {
        let text = self.ask_generator(
            tenant,
            system,
            question,
            220,
            Some(OutputConstraint::JsonSchema(list_schema(min, max))),
        )?;
        let list: Vec<String> = serde_json::from_str(&text).unwrap_or_default();
        Ok(list
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect())
    }

    /// The probes to run for `query` after `transforms`, and their traces. The first
    /// probe is the (possibly rewritten) query itself.
    pub(super) fn transform_query(
        &self,
        tenant: &TenantId,
        query: &str,
        transforms: &[Transform],
    ) -> Result<(Vec<Probe>, Vec<TransformTrace>)> {
        let mut traces = Vec::new();
        let mut main = query.to_owned();
        let mut dense_main = query.to_owned();
        let mut extra: Vec<String> = Vec::new();
        for &t in transforms {
            let start = Instant::now();
            let output = match t {
                Transform::Rewrite => {
                    let line = self.ask_generator(tenant, REWRITE, &main, 80, None)?;
                    let line = line.lines().next().unwrap_or("").trim().to_owned();
                    if !line.is_empty() {
                        main = format!("{query} {line}");
                        dense_main = line.clone();
                    }
                    vec![line]
                }
                Transform::Hyde => {
                    let passage = self.ask_generator(tenant, HYDE, &main, 160, None)?;
                    if !passage.is_empty() {
                        dense_main = format!("{main}\n{passage}");
                    }
                    vec![passage]
                }
                Transform::MultiQuery => {
                    let list = self.ask_list(tenant, MULTI, &main, 3, 5)?;
                    extra.extend(list.iter().cloned());
                    list
                }
                Transform::Decompose => {
                    let list = self.ask_list(tenant, DECOMPOSE, &main, 1, 4)?;
                    if list.len() > 1 {
                        extra.extend(list.iter().cloned());
                    }
                    list
                }
            };
            traces.push(TransformTrace {
                transform: t,
                output,
                ms: start.elapsed().as_secs_f64() * 1e3,
            });
        }
        let mut probes = vec![Probe {
            lexical: main,
            dense: dense_main,
        }];
        probes.extend(extra.into_iter().map(|q| Probe {
            lexical: q.clone(),
            dense: q,
        }));
        Ok((probes, traces))
    }
}

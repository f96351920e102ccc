//! Feedback to datasets: the answers people rated (and asked again) become training
//! and evaluation data. Each example carries the answer id, its prompt version and the
//! sources it was given, so it can be traced back and filtered by template version.
//!
//! - `sft`: answers rated up (net), as the chat the model saw (the answer prompt's
//!   system message and the sources + question) and the answer it gave.
//! - `dpo`: preference pairs over one prompt: an answer rated up against one rated down
//!   to the same question, or against an earlier answer to the same question in the same
//!   conversation that was not rated up (the asker regenerated it).
//! - `eval`: answers rated down, as dev-set lines (`{id, kind, question, pages,
//!   keywords}`) for a reviewer to complete, with the bad answer and the comments.

use crate::answer::Answer;
use crate::{Engine, Error, Result};
use cairn_types::{ErrorCode, StoredAnswer, TenantId};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Most answers one export reads.
const MAX_ANSWERS: usize = 100_000;

/// Which dataset to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    Sft,
    Dpo,
    Eval,
}

impl DatasetKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sft" => Some(Self::Sft),
            "dpo" => Some(Self::Dpo),
            "eval" => Some(Self::Eval),
            _ => None,
        }
    }
}

/// One recorded answer with what people said about it.
struct Rated {
    stored: StoredAnswer,
    /// The full answer record (sources, standalone query), when it reads back.
    answer: Option<Answer>,
    /// Sum of the ratings (+1 / -1 each).
    net: i64,
    comments: Vec<String>,
}

impl Rated {
    /// The chat the model was given: the answer prompt and the sources + question.
    fn prompt(&self) -> Value {
        let (sources, question) = match &self.answer {
            Some(a) => (a.sources.as_slice(), a.standalone_query.as_str()),
            None => (&[][..], self.stored.question.as_str()),
        };
        json!([
            {"role": "system", "content": crate::answer::prompt::SYSTEM},
            {"role": "user", "content": crate::answer::prompt::user_message(sources, question)},
        ])
    }

    fn abstained(&self) -> bool {
        self.answer.as_ref().is_some_and(|a| a.abstained)
    }

    /// The cited documents' file names.
    fn pages(&self) -> Vec<String> {
        let Some(a) = &self.answer else {
            return Vec::new();
        };
        let mut pages: Vec<String> = a
            .citations
            .iter()
            .map(|c| crate::eval::retrieval::page_of(&c.source).to_owned())
            .collect();
        pages.dedup();
        pages
    }

    fn meta(&self) -> Value {
        json!({
            "answer_id": self.stored.id.as_str(),
            "prompt_version": self.stored.prompt_version,
            "collection": self.stored.collection.as_ref().map(|c| c.as_str()),
            "model": self.answer.as_ref().map(|a| a.model.clone()),
            "created_at": self.stored.created_at,
        })
    }
}

/// Lower-case words: the same question asked twice with other spacing or case.
fn normalized(q: &str) -> String {
    q.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Engine {
    /// The `kind` dataset from the answers recorded in `tenant` at or after `since`
    /// (Unix ms), one JSON object per example, oldest first.
    pub fn export_dataset(
        &self,
        tenant: &TenantId,
        kind: DatasetKind,
        since: i64,
    ) -> Result<Vec<Value>> {
        let answers = self.store.answers_since(tenant, since, MAX_ANSWERS)?;
        if answers.len() == MAX_ANSWERS {
            return Err(Error::new(
                ErrorCode::TooLarge,
                format!("more than {MAX_ANSWERS} answers since then: export a shorter window"),
            ));
        }
        let mut net: HashMap<String, (i64, Vec<String>)> = HashMap::new();
        for f in self.store.feedback_since(tenant, since, MAX_ANSWERS * 4)? {
            let e = net.entry(f.answer.as_str().to_owned()).or_default();
            e.0 += i64::from(f.rating);
            if !f.comment.trim().is_empty() {
                e.1.push(f.comment.trim().to_owned());
            }
        }
        let rated: Vec<Rated> = answers
            .into_iter()
            .map(|stored| {
                let (n, comments) = net.remove(stored.id.as_str()).unwrap_or_default();
                Rated {
                    answer: serde_json::from_value(stored.record.clone()).ok(),
                    stored,
                    net: n,
                    comments,
                }
            })
            .collect();
        Ok(match kind {
            DatasetKind::Sft => sft(&rated),
            DatasetKind::Dpo => dpo(&rated),
            DatasetKind::Eval => eval_cases(&rated),
        })
    }
}

fn sft(rated: &[Rated]) -> Vec<Value> {
    rated
        .iter()
        .filter(|r| r.net > 0 && !r.abstained())
        .map(|r| {
            let mut messages = r.prompt();
            if let Some(list) = messages.as_array_mut() {
                list.push(json!({"role": "assistant", "content": r.stored.answer}));
            }
            json!({"messages": messages, "meta": r.meta()})
        })
        .collect()
}

fn dpo(rated: &[Rated]) -> Vec<Value> {
    // Answers to one question: in one conversation (regenerations), and across them.
    let mut by_question: BTreeMap<String, Vec<&Rated>> = BTreeMap::new();
    for r in rated {
        by_question
            .entry(normalized(&r.stored.question))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for group in by_question.values() {
        for chosen in group.iter().filter(|r| r.net > 0 && !r.abstained()) {
            for rejected in group.iter().filter(|r| r.stored.id != chosen.stored.id) {
                let rated_down = rejected.net < 0;
                // Asked again in the same conversation before the answer rated up, and
                // not rated up itself: the asker wanted another answer.
                let regenerated = rejected.net <= 0
                    && rejected.stored.conversation.is_some()
                    && rejected.stored.conversation == chosen.stored.conversation
                    && rejected.stored.created_at <= chosen.stored.created_at;
                if !(rated_down || regenerated) || rejected.stored.answer == chosen.stored.answer {
                    continue;
                }
                out.push(json!({
                    "prompt": chosen.prompt(),
                    "chosen": chosen.stored.answer,
                    "rejected": rejected.stored.answer,
                    "why": if rated_down { "rated_down" } else { "regenerated" },
                    "meta": {"chosen": chosen.meta(), "rejected": rejected.meta()},
                }));
            }
        }
    }
    out
}

fn eval_cases(rated: &[Rated]) -> Vec<Value> {
    rated
        .iter()
        .filter(|r| r.net < 0)
        .map(|r| {
            json!({
                "id": format!("fb-{}", r.stored.id),
                "kind": "feedback",
                "question": r.stored.question,
                // For the reviewer to fill: the pages that answer it, and its keywords.
                "pages": [],
                "keywords": [],
                "review": {
                    "answer": r.stored.answer,
                    "cited": r.pages(),
                    "comments": r.comments,
                    "abstained": r.abstained(),
                },
                "meta": r.meta(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::{AnswerId, ConversationId};

    fn rated(question: &str, answer: &str, conv: Option<&str>, at: i64, net: i64) -> Rated {
        Rated {
            stored: StoredAnswer {
                tenant: TenantId::new("t"),
                id: AnswerId::new(format!("a{at}")),
                conversation: conv.map(ConversationId::new),
                collection: None,
                question: question.into(),
                answer: answer.into(),
                prompt_version: "rag-v2".into(),
                record: json!({}),
                owner: None,
                created_at: at,
            },
            answer: None,
            net,
            comments: Vec::new(),
        }
    }

    fn pairs(rated: &[Rated]) -> Vec<(String, String, String)> {
        dpo(rated)
            .iter()
            .map(|p| {
                (
                    p["meta"]["chosen"]["answer_id"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                    p["meta"]["rejected"]["answer_id"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                    p["why"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn a_regenerated_answer_is_the_rejected_side_of_the_one_rated_up() {
        let q = "How long is the deadlock timeout?";
        let rated = vec![
            rated(q, "Ten minutes.", Some("c1"), 1, 0),
            rated(q, "One second [1].", Some("c1"), 2, 1),
            // Asked the same way elsewhere and rated down.
            rated(
                "how long is the  DEADLOCK timeout?",
                "Forever.",
                None,
                3,
                -1,
            ),
            // Unrated, in another conversation: no signal.
            rated(q, "An hour.", Some("c2"), 4, 0),
            // After the one rated up, in its conversation: not a regeneration of it.
            rated(q, "Two seconds.", Some("c1"), 5, 0),
        ];
        assert_eq!(
            pairs(&rated),
            [
                ("a2".into(), "a1".into(), "regenerated".into()),
                ("a2".into(), "a3".into(), "rated_down".into()),
            ]
        );
        // The prompt falls back to the question when the record does not read back.
        let p = dpo(&rated)[0]["prompt"][1]["content"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(p.ends_with(q), "{p}");
        assert_eq!(sft(&rated).len(), 1);
        assert_eq!(eval_cases(&rated).len(), 1);
    }
}

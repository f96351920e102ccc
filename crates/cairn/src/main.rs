//! `cairn`: the command-line binary. Thin glue: it parses arguments, loads the config,
//! opens the [`cairn_engine::Engine`] and renders results and progress. All behaviour
//! lives in the engine.
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// `println!` that ends the process quietly when stdout is closed (`cairn docs list | head`)
/// instead of panicking on the broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

mod cmd;
mod logging;
mod progress;
mod threads;

/// mimalloc keeps freed memory for reuse; with the system allocator, the large
/// short-lived tensors of model inference are mapped and page-faulted afresh every time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Cairn: grounded, cited answers over your documents, in one binary.
#[derive(Parser)]
#[command(name = "cairn", version, about, propagate_version = true)]
struct Cli {
    /// Config file (default: $CAIRN_CONFIG, then ./cairn.toml, then built-in defaults).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Tenant to act in (default: the config's `tenant`).
    #[arg(long, global = true)]
    tenant: Option<String>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest a file or directory into a collection.
    Ingest(cmd::ingest::Args),
    /// List, show and remove documents.
    #[command(subcommand)]
    Docs(cmd::docs::DocsCmd),
    /// List and retry ingest jobs.
    #[command(subcommand)]
    Jobs(cmd::jobs::JobsCmd),
    /// Create, list, show and remove collections.
    #[command(subcommand)]
    Collections(cmd::collections::CollectionsCmd),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(cmd::config::ConfigCmd),
    /// Local models.
    #[command(subcommand)]
    Models(cmd::models::ModelsCmd),
    /// Generate text with the chat model, streaming tokens to stdout.
    Generate(cmd::generate::Args),
    /// Embed texts with the embedding model.
    Embed(cmd::embed::Args),
    /// Hybrid search over a collection.
    Search(cmd::search::Args),
    /// Answer a question from a collection, with citations and a grounding check.
    Ask(cmd::ask::Args),
    /// Chat with a collection (a conversation with memory).
    Chat(cmd::chat::Args),
    /// Agents: run one on a task, list them and their runs, approve, deny, cancel.
    #[command(subcommand)]
    Agent(cmd::agent::AgentCmd),
    /// Serve the HTTP API (OpenAI-compatible /v1 and the native /api/v1).
    Serve(cmd::serve::Args),
    /// API keys for the server (created, listed, revoked, rotated).
    #[command(subcommand)]
    Keys(cmd::keys::KeysCmd),
    /// Users of a tenant; GDPR export and erasure.
    #[command(subcommand)]
    Users(cmd::users::UsersCmd),
    /// Verify and read the hash-chained audit log.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCmd),
    /// Request traces from the trace store.
    #[command(subcommand)]
    Traces(cmd::traces::TracesCmd),
    /// Requests, errors, tokens, cost and latency by day, model and route.
    Usage(cmd::usage::Args),
    /// Secrets sealed at rest (AES-256-GCM under the master key).
    #[command(subcommand)]
    Secrets(cmd::secrets::SecretsCmd),
    /// Run ingest jobs from the shared store until stopped (scale-out workers).
    Worker(cmd::worker::Args),
    /// Copy the SQLite state store to a new file while servers keep running.
    Backup(cmd::backup::Args),
    /// Apply the state store's schema migrations (PostgreSQL servers never migrate on
    /// their own; SQLite is migrated on open, and this reports its version).
    Migrate(cmd::migrate::Args),
    /// Data lifecycle: offboard a tenant, legal holds, the retention sweep.
    #[command(subcommand)]
    Tenants(cmd::tenants::TenantsCmd),
    /// Evaluate retrieval quality on a dev set.
    #[command(subcommand)]
    Eval(cmd::eval::EvalCmd),
    /// Datasets built from feedback (SFT, DPO, eval cases).
    #[command(subcommand)]
    Dataset(cmd::dataset::DatasetCmd),
    /// Measure model throughput and memory (JSON lines).
    #[command(subcommand)]
    Bench(cmd::bench::BenchCmd),
    /// Parse one document for the engine (internal: one process per parse).
    #[command(hide = true)]
    ParseWorker(cmd::parse_worker::Args),
}

fn main() -> ExitCode {
    threads::pin_thread_count();
    let cli = Cli::parse();
    // Read once, before logging starts (it picks the log format); a parse process (one
    // per document) reads no configuration at all.
    let loaded = (!matches!(cli.command, Command::ParseWorker(_)))
        .then(|| cairn_config::load(cli.config.as_deref()));
    let format = loaded
        .as_ref()
        .and_then(|l| l.as_ref().ok())
        .map_or("text", |l| l.config.logging.format.as_str());
    logging::init(format);
    match run(cli, loaded) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(
    cli: Cli,
    loaded: Option<cairn_config::Result<cairn_config::Loaded>>,
) -> anyhow::Result<ExitCode> {
    let command = match cli.command {
        // A parse process: no configuration, no engine.
        Command::ParseWorker(a) => return Ok(cmd::parse_worker::run(a)),
        other => other,
    };
    // The engine parses documents in child processes of this binary.
    match std::env::current_exe() {
        Ok(exe) => cairn_engine::ingest::isolate::register_parse_worker(exe),
        Err(e) => tracing::warn!(error = %e, "cannot find this executable to parse in"),
    }
    let Some(loaded) = loaded else {
        anyhow::bail!("the configuration was not read");
    };
    let ctx = cmd::Context::new(loaded, cli.tenant.as_deref(), cli.json)?;
    match command {
        Command::Ingest(a) => cmd::ingest::run(&ctx, a),
        Command::Docs(c) => cmd::docs::run(&ctx, c),
        Command::Jobs(c) => cmd::jobs::run(&ctx, c),
        Command::Collections(c) => cmd::collections::run(&ctx, c),
        Command::Config(c) => cmd::config::run(&ctx, c),
        Command::Models(c) => cmd::models::run(&ctx, c),
        Command::Generate(a) => cmd::generate::run(&ctx, a),
        Command::Embed(a) => cmd::embed::run(&ctx, a),
        Command::Bench(c) => cmd::bench::run(&ctx, c),
        Command::Search(a) => cmd::search::run(&ctx, a),
        Command::Ask(a) => cmd::ask::run(&ctx, a),
        Command::Chat(a) => cmd::chat::run(&ctx, a),
        Command::Agent(c) => cmd::agent::run(&ctx, c),
        Command::Serve(a) => cmd::serve::run(&ctx, a),
        Command::Keys(c) => cmd::keys::run(&ctx, c),
        Command::Users(c) => cmd::users::run(&ctx, c),
        Command::Audit(c) => cmd::audit::run(&ctx, c),
        Command::Traces(c) => cmd::traces::run(&ctx, c),
        Command::Usage(a) => cmd::usage::run(&ctx, a),
        Command::Secrets(c) => cmd::secrets::run(&ctx, c),
        Command::Tenants(c) => cmd::tenants::run(&ctx, c),
        Command::Migrate(a) => cmd::migrate::run(&ctx, a),
        Command::Backup(a) => cmd::backup::run(&ctx, a),
        Command::Worker(a) => cmd::worker::run(&ctx, a),
        Command::Eval(c) => cmd::eval::run(&ctx, c),
        Command::Dataset(c) => cmd::dataset::run(&ctx, c),
        Command::ParseWorker(a) => Ok(cmd::parse_worker::run(a)),
    }
}

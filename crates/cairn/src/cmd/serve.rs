//! `cairn serve`: the HTTP API (OpenAI-compatible `/v1`, native `/api/v1`, `/docs`), the
//! retention sweep every `retention.sweep_interval_secs` on its own thread, and
//! `server.ingest_workers` threads running ingest jobs from the store (asynchronous
//! uploads; 0 leaves them to `cairn worker`), stopped after the server, each finishing
//! the job it holds.

use super::Context;
use anyhow::Context as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on (default: server.listen). Port 0 picks a free port.
    #[arg(long)]
    pub listen: Option<String>,
    /// Load the models before accepting requests (the first request is then not slow).
    #[arg(long)]
    pub warm: bool,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let engine = Arc::new(ctx.engine()?);
    engine.ensure_tenant(&ctx.tenant).map_err(super::eng)?;
    if args.warm {
        engine.embedder().map_err(super::eng)?;
        engine
            .preload(cairn_engine::ModelRole::Generator)
            .map_err(super::eng)?;
    }
    let listen = args
        .listen
        .unwrap_or_else(|| ctx.loaded.config.server.listen.clone());
    if ctx.loaded.config.auth.mode == "off"
        && !listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback())
    {
        return Err(super::fail(
            cairn_types::ErrorCode::InvalidConfig,
            format!(
                "auth.mode = \"off\" serves without credentials: only on a loopback address, not {listen}"
            ),
        ));
    }
    let sweep = ctx.loaded.config.retention.sweep_interval_secs;
    if sweep > 0 {
        super::tenants::spawn_sweeper(engine.clone(), std::time::Duration::from_secs(sweep))
            .context("cannot start the retention sweep")?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let jobs = IngestWorkers::start(&engine, ctx.loaded.config.server.ingest_workers)?;
    let served = runtime.block_on(async move {
        let (listener, addr) = cairn_server::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        // Scripts and tests read this line to find the port.
        outln!("cairn: listening on http://{addr} (docs: http://{addr}/docs)");
        cairn_server::serve(engine, listener, cairn_server::shutdown_signal())
            .await
            .context("the server failed")
    });
    if let Some(jobs) = jobs {
        jobs.stop();
    }
    served?;
    if ctx.loaded.config.logging.format == "json" {
        // Collectors read standard error as JSON lines: no plain text among them.
        tracing::info!(target: "cairn::lifecycle", "stopped");
    } else {
        eprintln!("cairn: stopped");
    }
    Ok(ExitCode::SUCCESS)
}

/// The ingest job threads running beside the server.
struct IngestWorkers {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl IngestWorkers {
    /// Starts `threads` job threads (none for 0).
    fn start(engine: &Arc<cairn_engine::Engine>, threads: usize) -> anyhow::Result<Option<Self>> {
        if threads == 0 {
            return Ok(None);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("cairn-ingest-jobs".into())
            .spawn({
                let (engine, stop) = (engine.clone(), stop.clone());
                move || engine.serve_jobs(threads, &stop, &super::worker::LogProgress)
            })
            .context("cannot start the ingest workers")?;
        tracing::info!(
            threads,
            "running ingest jobs beside the server (server.ingest_workers)"
        );
        Ok(Some(Self { stop, thread }))
    }

    /// Lets the jobs in flight finish, then stops.
    fn stop(self) {
        tracing::info!("stopping the ingest workers: finishing the jobs in flight");
        self.stop.store(true, Ordering::SeqCst);
        if self.thread.join().is_err() {
            tracing::error!("the ingest workers panicked");
        }
    }
}

//! `cairn serve`: the HTTP API (OpenAI-compatible `/v1`, native `/api/v1`, `/docs`), and
//! the retention sweep every `retention.sweep_interval_secs` on its own thread.

use super::Context;
use anyhow::Context as _;
use std::process::ExitCode;
use std::sync::Arc;

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
    runtime.block_on(async move {
        let (listener, addr) = cairn_server::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        // Scripts and tests read this line to find the port.
        outln!("cairn: listening on http://{addr} (docs: http://{addr}/docs)");
        cairn_server::serve(engine, listener, cairn_server::shutdown_signal())
            .await
            .context("the server failed")
    })?;
    eprintln!("cairn: stopped");
    Ok(ExitCode::SUCCESS)
}

//! `cairn parse-worker` (hidden): parses one document for the engine's process-isolated
//! parsing (`ingest.parse_isolation = "process"`) and writes the result as JSON to
//! stdout. Started by the engine, one process per document; not meant to be run by hand.
//! Loads no configuration: the limits arrive as arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_engine::ingest::isolate::{WorkerRequest, run_parse_worker};

#[derive(clap::Args)]
pub struct Args {
    /// Format of the document (text, markdown, html, pdf, docx, csv, json).
    #[arg(long)]
    format: String,
    /// File name, for messages.
    #[arg(long)]
    name: String,
    /// Read the document from this file instead of stdin.
    #[arg(long)]
    path: Option<PathBuf>,
    /// The supervisor's time limit, in milliseconds (CPU time is capped a little above).
    #[arg(long)]
    timeout_ms: u64,
    /// Address-space cap, MiB.
    #[arg(long)]
    memory_mb: u64,
}

pub fn run(a: Args) -> ExitCode {
    ExitCode::from(run_parse_worker(&WorkerRequest {
        format: a.format,
        name: a.name,
        path: a.path,
        timeout_ms: a.timeout_ms,
        memory_mb: a.memory_mb,
    }))
}

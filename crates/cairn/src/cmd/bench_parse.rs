//! `cairn bench parse`: what parsing in a child process (`ingest.parse_isolation =
//! "process"`) costs per document over parsing on a thread of this process: spawning
//! `cairn parse-worker`, feeding it the bytes and reading its JSON reply.

use cairn_engine::ingest::isolate::{Format, Input, Limits, parse_in_process, parse_in_thread};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Times every file `repeat` times both ways (alternating, after one warm-up each) and
/// reports the medians per file and of the per-parse overhead.
pub fn parse(ctx: &super::Context, files: &[PathBuf], repeat: usize) -> anyhow::Result<Value> {
    let exe = std::env::current_exe()?;
    let limits = Limits::from_settings(&ctx.loaded.config.ingest);
    let mut rows = Vec::new();
    let mut overheads = Vec::new();
    for path in files {
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let format = Format::sniff(&name, &bytes)
            .map_err(|e| super::fail(e.code, format!("{}: {}", path.display(), e.message)))?;
        let in_thread = || parse_in_thread(format, &bytes, &name, &limits);
        let in_process = || parse_in_process(&exe, format, Input::Bytes(&bytes), &name, &limits);
        let (here, there) = (in_thread(), in_process());
        if here != there {
            anyhow::bail!("{}: the two parses differ", path.display());
        }
        let (mut thread_t, mut process_t) = (Vec::new(), Vec::new());
        for _ in 0..repeat.max(1) {
            thread_t.push(time(|| drop(in_thread())));
            process_t.push(time(|| drop(in_process())));
        }
        let (t, p) = (median(&mut thread_t), median(&mut process_t));
        overheads.push(p.saturating_sub(t));
        rows.push(json!({
            "file": name, "format": format.as_str(), "bytes": bytes.len(),
            "ok": here.is_ok(), "thread_ms": ms(t), "process_ms": ms(p),
        }));
    }
    Ok(json!({
        "bench": "parse_isolation", "repeat": repeat.max(1), "files": rows,
        "overhead_ms_median": ms(median(&mut overheads)),
    }))
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(xs: &mut [Duration]) -> Duration {
    xs.sort_unstable();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

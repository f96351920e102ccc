//! `cairn bench guard`: prompt-injection and PII detection rates on labelled sets
//! (built by `eval/guard/build.py`), and `cairn bench gate`: what authentication, the
//! rate limiter and the input guardrails add to each request (p50/p99).
//!
//! Rows carrying a `split` (`dev` / `heldout`) are also reported per part, so the numbers
//! the detectors were developed against and the held-out ones sit side by side.

use super::Context;
use cairn_guard::eval::{PiiCase, injection_metrics, pii_metrics};
use cairn_guard::{Guard, InjectionDetector, PiiKind, Policy};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn lines(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// `(text, label, split)` rows; a missing label means malicious (jailbreak-only sets).
type Labelled = Vec<(String, bool, Option<String>)>;

fn labelled(path: &Path) -> anyhow::Result<(String, Labelled)> {
    let rows = lines(path)?;
    let set = rows
        .first()
        .and_then(|v| v["source"].as_str())
        .map(str::to_owned)
        .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let cases = rows
        .into_iter()
        .map(|v| {
            let text = v["text"].as_str().unwrap_or_default().to_owned();
            let label = v["label"].as_i64().unwrap_or(1) == 1;
            let split = v["split"].as_str().map(str::to_owned);
            (text, label, split)
        })
        .collect();
    Ok((set, cases))
}

/// "all", then each split present in the rows ("dev" before "heldout").
fn parts<'a>(splits: impl Iterator<Item = Option<&'a str>>) -> Vec<String> {
    let mut found: Vec<String> = splits.flatten().map(str::to_owned).collect();
    found.sort();
    found.dedup();
    std::iter::once("all".to_owned()).chain(found).collect()
}

fn in_part(split: Option<&str>, part: &str) -> bool {
    part == "all" || split == Some(part)
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Per-call latency of `f` over `inputs`, in microseconds: (p50, p99).
fn latency<T>(inputs: &[T], mut f: impl FnMut(&T)) -> (f64, f64) {
    let mut us: Vec<f64> = inputs
        .iter()
        .map(|x| {
            let t = Instant::now();
            f(x);
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    (percentile(&us, 0.5), percentile(&us, 0.99))
}

/// Detection rates; prints one JSON line per set and split (`all`, then `dev` and
/// `heldout` where the rows have them) and returns the last.
pub fn guard(
    injection: Vec<PathBuf>,
    jailbreak: Option<PathBuf>,
    pii: Option<PathBuf>,
    pii_negatives: Option<PathBuf>,
    threshold: Option<f32>,
) -> anyhow::Result<Value> {
    // Pattern sets and lexicons are built on first use; not part of any one check.
    cairn_guard::warm_up();
    let detector = InjectionDetector::new();
    let threshold = threshold.unwrap_or(Policy::default().injection_threshold);
    let mut last = json!({});
    for path in injection.into_iter().chain(jailbreak) {
        let (set, rows) = labelled(&path)?;
        for part in parts(rows.iter().map(|r| r.2.as_deref())) {
            let cases: Vec<(String, bool)> = rows
                .iter()
                .filter(|r| in_part(r.2.as_deref(), &part))
                .map(|r| (r.0.clone(), r.1))
                .collect();
            let m = injection_metrics(&cases, &detector, threshold);
            let mut line = json!({
                "bench": "injection", "set": set, "split": part,
                "file": path.display().to_string(), "threshold": threshold, "metrics": m,
            });
            if part == "all" {
                let (p50, p99) = latency(&cases, |(t, _)| {
                    detector.score(t);
                });
                line["p50_us"] = json!(p50);
                line["p99_us"] = json!(p99);
            }
            outln!("{line}");
            last = line;
        }
    }
    if pii.is_some() || pii_negatives.is_some() {
        // (case, from the negatives file)
        let mut cases: Vec<(PiiCase, bool)> = Vec::new();
        for (path, negative) in pii
            .iter()
            .map(|p| (p, false))
            .chain(pii_negatives.iter().map(|p| (p, true)))
        {
            for v in lines(path)? {
                cases.push((serde_json::from_value(v)?, negative));
            }
        }
        let kinds = &PiiKind::ALL;
        let splits = cases.iter().map(|c| c.0.split.map(|s| s.as_str()));
        for part in parts(splits) {
            let sel: Vec<&(PiiCase, bool)> = cases
                .iter()
                .filter(|c| in_part(c.0.split.map(|s| s.as_str()), &part))
                .collect();
            let all: Vec<PiiCase> = sel.iter().map(|c| c.0.clone()).collect();
            let negatives: Vec<PiiCase> = sel.iter().filter(|c| c.1).map(|c| c.0.clone()).collect();
            let m = pii_metrics(&all, kinds);
            let negative_fp = pii_metrics(&negatives, kinds).overall.fp;
            let mut line = json!({
                "bench": "pii", "split": part, "sentences": all.len(),
                "negative_sentences": negatives.len(), "negative_fp": negative_fp,
                "metrics": m,
            });
            if part == "all" {
                let (p50, p99) = latency(&all, |c| {
                    cairn_guard::pii::detect(&c.text, kinds);
                });
                line["p50_us"] = json!(p50);
                line["p99_us"] = json!(p99);
            }
            outln!("{line}");
            last = line;
        }
    }
    Ok(last)
}

/// The gate's cost per request: authentication (a cached API key: one store read for
/// the key and one for its user), the four token buckets, and the input guardrails on
/// a typical question, each and together.
pub fn gate(ctx: &Context, requests: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let mut config = ctx.loaded.config.clone();
    config.data_dir = dir.path().to_owned();
    config.store_path = dir.path().join("cairn.db");
    // Buckets are taken on every request but never run dry: the cost measured is the
    // admitting path.
    for rate in [
        &mut config.limits.key_rpm,
        &mut config.limits.key_tpm,
        &mut config.limits.tenant_rpm,
        &mut config.limits.tenant_tpm,
    ] {
        *rate = 1e12;
    }
    let engine =
        std::sync::Arc::new(cairn_engine::Engine::open(config.clone()).map_err(super::eng)?);
    let ledger = cairn_server::usage_ledger::UsageLedger::start(engine.clone());
    let tenant = cairn_types::TenantId::new("bench");
    engine
        .put_user(
            &tenant,
            "u1",
            cairn_auth::Role::Member,
            vec!["eng".into()],
            "",
            "",
        )
        .map_err(super::eng)?;
    let spec = cairn_engine::security::KeySpec {
        name: "bench".into(),
        user: Some("u1".into()),
        ..Default::default()
    };
    let key = engine
        .create_key(&tenant, &spec, None)
        .map_err(super::eng)?;
    let auth =
        cairn_server::auth::Authenticator::new(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        axum::http::header::AUTHORIZATION,
        format!("Bearer {}", key.token).parse()?,
    );
    let now = cairn_server::gate::now_ms();
    let t = Instant::now();
    auth.authenticate(engine.store(), &headers, now)
        .map_err(|f| anyhow::anyhow!("{}", f.error))?;
    let first_verify_ms = t.elapsed().as_secs_f64() * 1e3;
    let settings =
        cairn_server::settings::effective(&config, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let limiter = cairn_auth::MemoryLimiter::new();
    cairn_guard::warm_up();
    let guard = Guard::new(Policy::default());
    let question = "How do I configure autovacuum thresholds for a large, frequently \
                    updated table, and what does the cost limit do?";
    let idx: Vec<usize> = (0..requests.max(1)).collect();
    let id = auth
        .authenticate(engine.store(), &headers, now)
        .map_err(|f| anyhow::anyhow!("{}", f.error))?;
    let (auth50, auth99) = latency(&idx, |_| {
        let _ = auth.authenticate(engine.store(), &headers, now);
    });
    let admit = || {
        let _ = cairn_server::limits::admit(&limiter, &ledger, &id, &settings, now, "/api/v1/ask");
    };
    let (lim50, lim99) = latency(&idx, |_| admit());
    let (g50, g99) = latency(&idx, |_| {
        guard.check_input(question);
    });
    let (all50, all99) = latency(&idx, |_| {
        let _ = auth.authenticate(engine.store(), &headers, now);
        admit();
        guard.check_input(question);
    });
    // What `GET /metrics` adds to every request: the route template and two counts.
    let paths = [
        "/api/v1/documents/01a24ef0-7c83-71e2-811c-22fc1a799795",
        "/api/v1/ask",
        "/v1/models/cairn-rag:kb",
        "/ui/app.js",
    ];
    let (met50, met99) = latency(&idx, |i| {
        let route = cairn_server::metrics::route_of(paths[i % paths.len()]);
        cairn_server::metrics::global().request(route, "GET", 200, 0.001);
    });
    let http = http_overhead(&engine, &config, &key.token, requests.min(5_000))?;
    let line = json!({
        "bench": "gate", "requests": requests,
        "http_us": http,
        "first_key_verify_ms": first_verify_ms,
        "auth_us": {"p50": auth50, "p99": auth99},
        "rate_limit_us": {"p50": lim50, "p99": lim99},
        "guard_input_us": {"p50": g50, "p99": g99},
        "metrics_us": {"p50": met50, "p99": met99},
        "total_us": {"p50": all50, "p99": all99},
    });
    Ok(line)
}

/// End to end over loopback HTTP (keep-alive, one client): the same route served with
/// `auth.mode = "off"` and with an API key, so the difference is what the gate costs
/// a real request (hash cache hit, key and user reads, four buckets, the blocking hop).
fn http_overhead(
    engine: &std::sync::Arc<cairn_engine::Engine>,
    config: &cairn_config::Config,
    token: &str,
    requests: usize,
) -> anyhow::Result<Value> {
    let required =
        cairn_server::AppState::new(engine.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut off_config = config.clone();
    off_config.auth.mode = "off".into();
    off_config.tenant = cairn_types::TenantId::new("bench");
    let off = cairn_server::AppState {
        auth: std::sync::Arc::new(
            cairn_server::auth::Authenticator::new(&off_config)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        ..required.clone()
    };
    let (runtime, a, b) = serve_pair(required, off)?;
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let idx: Vec<usize> = (0..requests.max(1)).collect();
    let run = |addr: std::net::SocketAddr, key: Option<&str>| -> anyhow::Result<(f64, f64)> {
        let url = format!("http://{addr}/api/v1/collections");
        let get = |agent: &ureq::Agent| {
            let mut r = agent.get(&url);
            if let Some(k) = key {
                r = r.header("Authorization", &format!("Bearer {k}"));
            }
            r.call()
        };
        for _ in 0..200 {
            get(&agent)?;
        }
        let mut failed = None;
        let stats = latency(&idx, |_| {
            if let Err(e) = get(&agent) {
                failed = Some(e);
            }
        });
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(stats),
        }
    };
    let (off50, off99) = run(b, None)?;
    let (on50, on99) = run(a, Some(token))?;
    drop(runtime);
    Ok(json!({
        "route": "GET /api/v1/collections",
        "auth_off": {"p50": off50, "p99": off99},
        "api_key": {"p50": on50, "p99": on99},
        "overhead_p50": on50 - off50,
        "overhead_p99": on99 - off99,
    }))
}

/// Serves `a` and `b` on two loopback ports from one runtime (keep the runtime alive
/// while measuring).
pub(super) fn serve_pair(
    a: cairn_server::AppState,
    b: cairn_server::AppState,
) -> anyhow::Result<(
    tokio::runtime::Runtime,
    std::net::SocketAddr,
    std::net::SocketAddr,
)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (x, y) = runtime.block_on(async {
        let (la, x) = cairn_server::bind("127.0.0.1:0").await?;
        let (lb, y) = cairn_server::bind("127.0.0.1:0").await?;
        let ra = cairn_server::router(a);
        let rb = cairn_server::router(b);
        tokio::spawn(async move { axum::serve(la, ra).await });
        tokio::spawn(async move { axum::serve(lb, rb).await });
        Ok::<_, std::io::Error>((x, y))
    })?;
    Ok((runtime, x, y))
}

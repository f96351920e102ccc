//! Kill -9 in the middle of an ingest, re-run, and compare with a clean ingest: no chunk
//! lost, none duplicated. Drives the real `cairn` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // tests fail loudly and explain themselves

use cairn_store::{DocumentRepo, JobFilter, JobRepo, SqliteStore};
use cairn_types::{CollectionId, JobState, TenantId};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FILES: usize = 400;

fn corpus(dir: &Path) {
    for i in 0..FILES {
        let mut body = format!("# Topic {i}\n\n");
        for s in 0..3 {
            body.push_str(&format!("## Part {s}\n\n"));
            for p in 0..6 {
                body.push_str(&format!(
                    "Paragraph {p} of part {s} in topic {i} covers setting number {} and value {} in detail, \
                     so that every file is distinct and long enough to need several chunks. ",
                    i * 97 + s * 13 + p,
                    (i * 7919 + p * 104_729) % 100_003
                ));
                body.push_str("\n\n");
            }
        }
        std::fs::write(dir.join(format!("doc-{i:04}.md")), body).unwrap();
    }
}

fn cairn(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.env("CAIRN_DATA_DIR", data)
        .env_remove("CAIRN_CONFIG")
        .current_dir(data.parent().unwrap());
    cmd
}

fn ingest(data: &Path, src: &Path) -> std::process::Output {
    let out = cairn(data)
        .args(["--json", "ingest"])
        .arg(src)
        .args(["--collection", "crash", "--workers", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cairn ingest failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn succeeded(data: &Path) -> usize {
    let Ok(store) = SqliteStore::open(&data.join("cairn.db")) else {
        return 0;
    };
    let f = JobFilter {
        state: Some(JobState::Succeeded),
        limit: 100_000,
        ..JobFilter::default()
    };
    store
        .list_jobs(&TenantId::default_tenant(), &f)
        .map_or(0, |j| j.len())
}

/// Every chunk as (source, ordinal, text, heading path), plus the number of chunk rows.
/// (source, ordinal, text, heading path)
type ChunkKey = (String, usize, String, Vec<String>);

fn chunk_set(data: &Path) -> (BTreeSet<ChunkKey>, usize) {
    let store = SqliteStore::open(&data.join("cairn.db")).unwrap();
    let t = TenantId::default_tenant();
    let docs = store
        .list_documents(&t, Some(&CollectionId::new("crash")), 100_000, 0)
        .unwrap();
    let mut set = BTreeSet::new();
    let mut rows = 0;
    for d in docs {
        for c in store.list_chunks(&t, &d.id).unwrap() {
            rows += 1;
            set.insert((d.source.clone(), c.ordinal, c.text, c.heading_path));
        }
    }
    (set, rows)
}

#[test]
fn kill_9_mid_ingest_then_rerun_equals_a_clean_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("corpus");
    std::fs::create_dir_all(&src).unwrap();
    corpus(&src);

    // Reference: one clean, uninterrupted ingest.
    let clean = tmp.path().join("clean");
    ingest(&clean, &src);
    let (want, want_rows) = chunk_set(&clean);
    assert_eq!(want.len(), want_rows, "clean ingest has duplicate chunks");
    assert!(
        want.len() >= FILES * 2,
        "corpus too small to be meaningful: {} chunks",
        want.len()
    );

    // Crashy: kill -9 at several points of progress, then let a final run finish.
    let crashy = tmp.path().join("crashy");
    let mut kills_mid_work = 0;
    for target in [FILES / 10, FILES / 3, FILES * 2 / 3] {
        let mut child = cairn(&crashy)
            .args(["ingest"])
            .arg(&src)
            .args(["--collection", "crash", "--workers", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        loop {
            let done = succeeded(&crashy);
            if done >= target || start.elapsed() > Duration::from_secs(120) {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let done = succeeded(&crashy);
        eprintln!("killed at {done}/{FILES} files done");
        if done > 0 && done < FILES {
            kills_mid_work += 1;
        }
    }
    assert!(
        kills_mid_work >= 2,
        "the kills did not land mid-ingest ({kills_mid_work})"
    );

    let out = ingest(&crashy, &src);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("final run: {}", serde_json::to_string(&report).unwrap());
    assert_eq!(report["failed"].as_array().map(Vec::len), Some(0));

    let (got, got_rows) = chunk_set(&crashy);
    assert_eq!(
        got_rows,
        got.len(),
        "duplicated chunks after crash recovery"
    );
    let missing: Vec<_> = want.difference(&got).take(3).collect();
    let extra: Vec<_> = got.difference(&want).take(3).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}\nextra {extra:?}"
    );
    assert_eq!(got_rows, want_rows);

    // Nothing left in flight.
    let store = SqliteStore::open(&crashy.join("cairn.db")).unwrap();
    for state in [JobState::Queued, JobState::Running, JobState::Dead] {
        let f = JobFilter {
            state: Some(state),
            limit: 10,
            ..JobFilter::default()
        };
        assert!(
            store
                .list_jobs(&TenantId::default_tenant(), &f)
                .unwrap()
                .is_empty(),
            "{state:?} jobs remain"
        );
    }
}

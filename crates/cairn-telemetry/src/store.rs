//! The trace store: its own SQLite file (WAL), apart from the state store, so writing
//! traces never waits on (or holds up) ingest, jobs or the audit log. One row per trace:
//! what the list filters on, and its spans as one JSON array (one insert a trace, not
//! one a span); and the scores attached later (feedback, evaluations).

use crate::context::{span_hex, trace_hex};
use crate::span::{CompletedTrace, SpanRecord, SpanStatus, TraceSummary};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A trace-store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("trace store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("trace writer: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The layout version (`PRAGMA user_version`); a file with another is rebuilt.
const LAYOUT: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    request_id TEXT,
    name TEXT NOT NULL,
    method TEXT,
    route TEXT,
    status INTEGER,
    error INTEGER NOT NULL,
    user_id TEXT,
    session_id TEXT,
    model TEXT,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    started_ms INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    span_count INTEGER NOT NULL,
    kept TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    spans TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_by_tenant_time ON traces (tenant, started_ms DESC);
CREATE INDEX IF NOT EXISTS traces_by_time ON traces (started_ms);
CREATE TABLE IF NOT EXISTS scores (
    trace_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    comment TEXT,
    source TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS scores_by_trace ON scores (trace_id);
";

/// A score attached to a trace after the fact: a user's feedback, an evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// e.g. `feedback`, `faithfulness`.
    pub name: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Who gave it: `user`, `eval`.
    pub source: String,
}

/// Which traces to list (always one tenant's).
#[derive(Clone, Debug, Default)]
pub struct TraceQuery {
    pub tenant: String,
    /// Started at or after (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Started before.
    pub until_ms: Option<i64>,
    pub route: Option<String>,
    /// The root span's name (`POST /api/v1/ask`, `ingest <collection>`).
    pub name: Option<String>,
    pub status: Option<i64>,
    pub model: Option<String>,
    pub user: Option<String>,
    pub min_ms: Option<f64>,
    /// Only errors (`true`) or only successes (`false`).
    pub error: Option<bool>,
    pub limit: usize,
}

/// A trace with its span tree and scores.
#[derive(Clone, Debug, Serialize)]
pub struct TraceDetail {
    #[serde(flatten)]
    pub summary: TraceSummary,
    pub started_at: String,
    pub spans: Vec<Value>,
    pub scores: Vec<Score>,
}

const COLUMNS: &str = "trace_id, tenant, request_id, name, method, route, status, error,
    user_id, session_id, model, input_tokens, output_tokens, started_ms, duration_ms,
    span_count, kept";

fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TraceSummary> {
    Ok(TraceSummary {
        trace_id: r.get(0)?,
        tenant: r.get(1)?,
        request_id: r.get(2)?,
        name: r.get(3)?,
        method: r.get(4)?,
        route: r.get(5)?,
        status: r.get(6)?,
        error: r.get(7)?,
        user: r.get(8)?,
        session: r.get(9)?,
        model: r.get(10)?,
        input_tokens: r.get(11)?,
        output_tokens: r.get(12)?,
        started_ms: r.get(13)?,
        duration_ms: r.get(14)?,
        span_count: r.get::<_, i64>(15)? as usize,
        kept: r.get(16)?,
    })
}

/// The store.
pub struct TraceStore {
    conn: Mutex<Connection>,
}

fn started_at(ms: i64) -> String {
    let (y, m, d) = cairn_types::civil_from_ms(ms);
    let rem = ms.rem_euclid(86_400_000);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem % 3_600_000 / 60_000,
        rem % 60_000 / 1000,
        rem % 1000
    )
}

/// A span as the store keeps it (serialized straight from the record).
#[derive(Serialize)]
struct SpanOut<'a> {
    span_id: String,
    parent_id: Option<String>,
    name: &'a str,
    kind: crate::span::SpanKind,
    start_unix_ns: u64,
    duration_ms: f64,
    status: &'static str,
    status_message: Option<&'a str>,
    attributes: Attrs<'a>,
    events: &'a [crate::span::SpanEvent],
}

/// Attributes as one JSON object.
struct Attrs<'a>(&'a [crate::span::Attr]);

impl Serialize for Attrs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k.as_ref(), v)?;
        }
        map.end()
    }
}

fn span_out(s: &SpanRecord) -> SpanOut<'_> {
    let (status, status_message) = match &s.status {
        SpanStatus::Unset => ("unset", None),
        SpanStatus::Ok => ("ok", None),
        SpanStatus::Error(m) => ("error", Some(m.as_str())),
    };
    SpanOut {
        span_id: span_hex(s.span_id),
        parent_id: s.parent_id.map(span_hex),
        name: &s.name,
        kind: s.kind,
        start_unix_ns: s.start_unix_ns,
        duration_ms: s.duration_ms(),
        status,
        status_message,
        attributes: Attrs(&s.attributes),
        events: &s.events,
    }
}

impl TraceStore {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let layout: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if layout != LAYOUT {
            // An older layout of this file (traces are a window, not a record): rebuilt.
            conn.execute_batch(
                "DROP TABLE IF EXISTS spans; DROP TABLE IF EXISTS scores; \
                 DROP TABLE IF EXISTS traces;",
            )?;
            conn.pragma_update(None, "user_version", LAYOUT)?;
        }
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes a batch of kept traces (each with why it was kept) in one transaction.
    pub fn write(&self, batch: &[(&CompletedTrace, &str)]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut trace_row = tx.prepare_cached(
                "INSERT OR REPLACE INTO traces (trace_id, tenant, request_id, name, method,
                 route, status, error, user_id, session_id, model, input_tokens,
                 output_tokens, started_ms, duration_ms, span_count, kept, bytes, spans)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                 ?16, ?17, ?18, ?19)",
            )?;
            for (trace, kept) in batch {
                let s = trace.summary(kept);
                let spans: Vec<SpanOut<'_>> = trace.spans.iter().map(span_out).collect();
                let spans = serde_json::to_string(&spans).unwrap_or_else(|_| "[]".into());
                trace_row.execute(params![
                    s.trace_id,
                    s.tenant,
                    s.request_id,
                    s.name,
                    s.method,
                    s.route,
                    s.status,
                    s.error,
                    s.user,
                    s.session,
                    s.model,
                    s.input_tokens,
                    s.output_tokens,
                    s.started_ms,
                    s.duration_ms,
                    s.span_count as i64,
                    s.kept,
                    spans.len() as i64,
                    spans,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether `tenant` has the trace.
    pub fn has(&self, tenant: &str, trace_id: u128) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM traces WHERE trace_id = ?1 AND tenant = ?2",
                params![trace_hex(trace_id), tenant],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Attaches `score` to a trace of `tenant`; `false` when there is no such trace.
    pub fn add_score(
        &self,
        tenant: &str,
        trace_id: u128,
        score: &Score,
        at_ms: i64,
    ) -> Result<bool> {
        if !self.has(tenant, trace_id)? {
            return Ok(false);
        }
        self.conn().execute(
            "INSERT INTO scores (trace_id, tenant, name, value, comment, source, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                trace_hex(trace_id),
                tenant,
                score.name,
                score.value,
                score.comment,
                score.source,
                at_ms
            ],
        )?;
        Ok(true)
    }

    /// The traces matching `q`, newest first.
    pub fn list(&self, q: &TraceQuery) -> Result<Vec<TraceSummary>> {
        let mut sql = format!("SELECT {COLUMNS} FROM traces WHERE tenant = ?");
        let mut args: Vec<rusqlite::types::Value> = vec![q.tenant.clone().into()];
        let mut cond = |clause: &str, v: rusqlite::types::Value| {
            sql.push_str(clause);
            args.push(v);
        };
        if let Some(v) = q.since_ms {
            cond(" AND started_ms >= ?", v.into());
        }
        if let Some(v) = q.until_ms {
            cond(" AND started_ms < ?", v.into());
        }
        if let Some(v) = &q.route {
            cond(" AND route = ?", v.clone().into());
        }
        if let Some(v) = &q.name {
            cond(" AND name = ?", v.clone().into());
        }
        if let Some(v) = q.status {
            cond(" AND status = ?", v.into());
        }
        if let Some(v) = &q.model {
            cond(" AND model = ?", v.clone().into());
        }
        if let Some(v) = &q.user {
            cond(" AND user_id = ?", v.clone().into());
        }
        if let Some(v) = q.min_ms {
            cond(" AND duration_ms >= ?", v.into());
        }
        if let Some(v) = q.error {
            cond(" AND error = ?", i64::from(v).into());
        }
        sql.push_str(" ORDER BY started_ms DESC, trace_id DESC LIMIT ?");
        args.push((q.limit.clamp(1, 1000) as i64).into());
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), summary_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// One trace of `tenant` with its span tree; `None` when absent or another
    /// tenant's.
    pub fn get(&self, tenant: &str, trace_id: u128) -> Result<Option<TraceDetail>> {
        let id = trace_hex(trace_id);
        let conn = self.conn();
        let summary = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM traces WHERE trace_id = ?1 AND tenant = ?2"),
                params![id, tenant],
                summary_row,
            )
            .optional()?;
        let Some(summary) = summary else {
            return Ok(None);
        };
        let spans: String = conn.query_row(
            "SELECT spans FROM traces WHERE trace_id = ?1",
            params![id],
            |r| r.get(0),
        )?;
        let mut flat: Vec<Value> = serde_json::from_str(&spans).unwrap_or_default();
        // Stored in the order spans closed; shown in the order they started.
        flat.sort_by_key(|s| s["start_unix_ns"].as_u64().unwrap_or(0));
        let mut scores_stmt = conn.prepare(
            "SELECT name, value, comment, source FROM scores WHERE trace_id = ?1 AND tenant = ?2
             ORDER BY at_ms",
        )?;
        let scores = scores_stmt
            .query_map(params![id, tenant], |r| {
                Ok(Score {
                    name: r.get(0)?,
                    value: r.get(1)?,
                    comment: r.get(2)?,
                    source: r.get(3)?,
                })
            })?
            .collect::<std::result::Result<_, _>>()?;
        Ok(Some(TraceDetail {
            started_at: started_at(summary.started_ms),
            spans: tree(flat, summary.started_ms),
            summary,
            scores,
        }))
    }

    /// Deletes traces started before `cutoff_ms`, then the oldest until the traces take
    /// at most `max_bytes`; returns how many went.
    pub fn sweep(&self, cutoff_ms: i64, max_bytes: u64) -> Result<usize> {
        let conn = self.conn();
        let mut gone = delete_traces(
            &conn,
            "SELECT trace_id FROM traces WHERE started_ms < ?1",
            cutoff_ms,
        )?;
        loop {
            let total: i64 =
                conn.query_row("SELECT COALESCE(SUM(bytes), 0) FROM traces", [], |r| {
                    r.get(0)
                })?;
            if total as u64 <= max_bytes {
                break;
            }
            // The oldest tenth (at least one trace) at a time.
            let count: i64 = conn.query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))?;
            gone += delete_traces(
                &conn,
                "SELECT trace_id FROM traces ORDER BY started_ms, trace_id LIMIT ?1",
                (count / 10).max(1),
            )?;
        }
        if gone > 0 {
            conn.execute_batch("PRAGMA incremental_vacuum;")?;
        }
        Ok(gone)
    }

    /// How many traces are kept.
    pub fn count(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))?)
    }
}

/// Deletes the traces `ids` (a query of trace ids with one parameter) with their spans
/// and scores.
fn delete_traces(conn: &Connection, ids: &str, v: i64) -> Result<usize> {
    conn.execute(
        &format!("DELETE FROM scores WHERE trace_id IN ({ids})"),
        params![v],
    )?;
    Ok(conn.execute(
        &format!("DELETE FROM traces WHERE trace_id IN ({ids})"),
        params![v],
    )?)
}

/// Nests flat spans (ordered by start) under their parents; `offset_ms` is each span's
/// start after the trace's.
fn tree(flat: Vec<Value>, started_ms: i64) -> Vec<Value> {
    let origin = flat
        .iter()
        .filter_map(|s| s["start_unix_ns"].as_i64())
        .min()
        .unwrap_or(started_ms * 1_000_000);
    let ids: std::collections::HashSet<String> = flat
        .iter()
        .filter_map(|s| s["span_id"].as_str().map(str::to_owned))
        .collect();
    let mut children: std::collections::HashMap<String, Vec<Value>> =
        std::collections::HashMap::new();
    let mut roots = Vec::new();
    for mut s in flat {
        let start = s["start_unix_ns"].as_i64().unwrap_or(origin);
        s["offset_ms"] = json!((start - origin) as f64 / 1e6);
        match s["parent_id"].as_str().filter(|p| ids.contains(*p)) {
            Some(p) => children.entry(p.to_owned()).or_default().push(s),
            None => roots.push(s),
        }
    }
    fn attach(
        mut node: Value,
        children: &mut std::collections::HashMap<String, Vec<Value>>,
    ) -> Value {
        let id = node["span_id"].as_str().unwrap_or_default().to_owned();
        let kids = children
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .map(|c| attach(c, children))
            .collect();
        node["children"] = Value::Array(kids);
        node
    }
    roots
        .into_iter()
        .map(|r| attach(r, &mut children))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::started_at;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(started_at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(started_at(1_796_601_600_123), "2026-12-07T00:00:00.123Z");
    }
}

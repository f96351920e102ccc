//! `sql`: read-only SQL over the caller's CSV and JSON documents.
//!
//! Each tabular document the caller may read (in the agent's collections) becomes a
//! table named after its file (`servers.csv` → `servers`), rebuilt from the records kept
//! at ingest, in a fresh in-memory SQLite database per call: nothing on disk, nothing
//! shared. Only one read-only statement runs (`Statement::readonly`, and the database
//! is `query_only`); a timer interrupts it at the time limit; rows and cells returned
//! are capped.

use super::{Tool, ToolCtx, ToolSpec, cap, str_arg};
use crate::{Error, Result};
use cairn_config::AgentSpec;
use cairn_store::AclViewer;
use cairn_types::{BlockKind, CollectionId, ErrorCode, ParsedDoc};
use rusqlite::Connection;
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Time one query may take.
const QUERY_TIME: Duration = Duration::from_secs(5);
/// Rows shown.
const MAX_ROWS: usize = 100;
/// Documents loaded as tables per call.
const MAX_TABLES: usize = 64;
/// Rows loaded per table.
const MAX_TABLE_ROWS: usize = 100_000;

/// The `sql` tool.
pub struct Sql {
    collections: Vec<String>,
    /// The caller's tables when the run started, for the model to write queries against.
    schema: String,
}

/// Most tables described to the model.
const DESCRIBED_TABLES: usize = 20;

impl Sql {
    /// The tool for `caller`: its description lists the tables the caller may query.
    pub fn new(spec: &AgentSpec, engine: &cairn_engine::Engine, caller: &crate::Caller) -> Self {
        let schema = match tables(engine, caller, &spec.collections) {
            Ok(t) if !t.is_empty() => {
                let shown = &t[..t.len().min(DESCRIBED_TABLES)];
                format!(" Tables:\n{}", describe(shown))
            }
            Ok(_) => " There are no tables yet.".into(),
            Err(e) => {
                tracing::warn!(error = %e, "sql: the tables could not be listed");
                String::new()
            }
        };
        Self {
            collections: spec.collections.clone(),
            schema,
        }
    }
}

/// A table built from records.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<String>,
    /// Per column: every non-empty value is a number.
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// A table name from a file name: its stem, lowercase, other characters as `_`.
fn table_name(source: &str, title: &str) -> String {
    let file = source.rsplit(['/', '\\', ':']).next().unwrap_or(title);
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "t_");
    }
    name
}

/// The records of a parsed CSV/JSON document as a table (`None`: it has none).
pub fn table_from_records(name: &str, parsed: &ParsedDoc) -> Option<Table> {
    let mut columns: Vec<String> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows = Vec::new();
    for block in parsed.blocks.iter().filter(|b| b.kind == BlockKind::Record) {
        let mut row: Vec<Option<String>> = vec![None; columns.len()];
        for line in block.text.lines() {
            let Some((k, v)) = line.split_once(": ") else {
                continue;
            };
            let k = k.trim().to_owned();
            let i = *index.entry(k.clone()).or_insert_with(|| {
                columns.push(k);
                columns.len() - 1
            });
            if row.len() <= i {
                row.resize(i + 1, None);
            }
            row[i] = Some(v.trim().to_owned());
        }
        rows.push(row);
        if rows.len() >= MAX_TABLE_ROWS {
            break;
        }
    }
    if rows.is_empty() {
        return None;
    }
    for r in &mut rows {
        r.resize(columns.len(), None);
    }
    let numeric = (0..columns.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r[i].as_deref())
                .all(|v| v.parse::<f64>().is_ok_and(f64::is_finite))
        })
        .collect();
    Some(Table {
        name: name.to_owned(),
        columns,
        numeric,
        rows,
    })
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::new(ErrorCode::InvalidInput, format!("SQL error: {e}"))
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// An in-memory database holding `tables`, then made read-only.
pub(crate) fn load(tables: &[Table]) -> Result<Connection> {
    let conn = Connection::open_in_memory().map_err(db_err)?;
    for t in tables {
        let cols: Vec<String> = t
            .columns
            .iter()
            .zip(&t.numeric)
            .map(|(c, n)| format!("{} {}", quote(c), if *n { "REAL" } else { "TEXT" }))
            .collect();
        conn.execute_batch(&format!(
            "CREATE TABLE {} ({})",
            quote(&t.name),
            cols.join(", ")
        ))
        .map_err(db_err)?;
        let marks = vec!["?"; t.columns.len()].join(", ");
        let mut insert = conn
            .prepare(&format!("INSERT INTO {} VALUES ({marks})", quote(&t.name)))
            .map_err(db_err)?;
        for row in &t.rows {
            let values: Vec<SqlValue> = row
                .iter()
                .zip(&t.numeric)
                .map(|(v, n)| match (v, n) {
                    (None, _) => SqlValue::Null,
                    (Some(s), true) => s.parse::<f64>().map_or(SqlValue::Null, SqlValue::Real),
                    (Some(s), false) => SqlValue::Text(s.clone()),
                })
                .collect();
            insert
                .execute(rusqlite::params_from_iter(values))
                .map_err(db_err)?;
        }
    }
    conn.pragma_update(None, "query_only", true)
        .map_err(db_err)?;
    Ok(conn)
}

/// The statement's first keyword, lowercase, after comments.
fn first_keyword(sql: &str) -> String {
    let mut s = sql.trim_start();
    loop {
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    s.chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn cell(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => super::calculator::format_number(f),
        ValueRef::Text(t) => cap(&String::from_utf8_lossy(t), 200),
        ValueRef::Blob(b) => format!("<{} bytes>", b.len()),
    }
}

/// Runs one read-only statement with a time limit; the rows as a Markdown table.
pub(crate) fn query(conn: &Connection, sql: &str, limit: Duration) -> Result<String> {
    let sql = sql.trim().trim_end_matches(';');
    if sql.contains(';') {
        return Err(Error::new(
            ErrorCode::InvalidInput,
            "one statement at a time",
        ));
    }
    // `readonly` is true of ATTACH, DETACH and some PRAGMAs too: only queries run.
    let first = first_keyword(sql);
    if !matches!(first.as_str(), "select" | "with" | "values") {
        return Err(Error::new(
            ErrorCode::Forbidden,
            format!("only read-only statements (SELECT) may run, not `{first}`"),
        ));
    }
    let mut st = conn.prepare(sql).map_err(db_err)?;
    if !st.readonly() {
        return Err(Error::new(
            ErrorCode::Forbidden,
            "only read-only statements (SELECT) may run",
        ));
    }
    let interrupt = conn.get_interrupt_handle();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let timer = std::thread::spawn(move || {
        if done_rx.recv_timeout(limit).is_err() {
            interrupt.interrupt();
        }
    });
    let names: Vec<String> = st.column_names().iter().map(|s| (*s).to_owned()).collect();
    let out = (|| {
        let mut rows = st.query([]).map_err(db_err)?;
        let mut lines = vec![
            format!("| {} |", names.join(" | ")),
            format!("|{}|", vec!["---"; names.len()].join("|")),
        ];
        let mut shown = 0;
        let mut more = false;
        while let Some(r) = rows.next().map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::OperationInterrupted =>
            {
                Error::new(
                    ErrorCode::Timeout,
                    format!("the query ran past {} s", limit.as_secs()),
                )
            }
            e => db_err(e),
        })? {
            if shown == MAX_ROWS {
                more = true;
                break;
            }
            let cells: Vec<String> = (0..names.len())
                .map(|i| r.get_ref(i).map(cell).unwrap_or_default())
                .collect();
            lines.push(format!("| {} |", cells.join(" | ")));
            shown += 1;
        }
        lines.push(if more {
            format!("(first {MAX_ROWS} rows shown; add LIMIT or aggregate)")
        } else {
            format!("({shown} rows)")
        });
        Ok(lines.join("\n"))
    })();
    let _ = done_tx.send(());
    let _ = timer.join();
    out
}

/// The tables `caller` may read in `collections` (all of the tenant's when empty).
fn tables(
    engine: &cairn_engine::Engine,
    caller: &crate::Caller,
    collections: &[String],
) -> Result<Vec<Table>> {
    let store = engine.store();
    let tenant = &caller.tenant;
    let p = &caller.principal;
    let viewer = AclViewer {
        user: p.user.clone(),
        groups: p.groups.clone(),
    };
    let collections: Vec<Option<CollectionId>> = if collections.is_empty() {
        vec![None]
    } else {
        collections
            .iter()
            .map(|c| Some(CollectionId::new(c)))
            .collect()
    };
    let mut tables: Vec<Table> = Vec::new();
    for coll in &collections {
        let docs = if p.all_documents {
            store.list_documents(tenant, coll.as_ref(), MAX_TABLES * 4, 0)?
        } else {
            store.list_documents_for(tenant, coll.as_ref(), &viewer, MAX_TABLES * 4, 0)?
        };
        for d in docs
            .iter()
            .filter(|d| matches!(d.format.as_str(), "csv" | "json"))
        {
            if tables.len() == MAX_TABLES {
                break;
            }
            let Some(parsed) = store.document_text(tenant, &d.id)? else {
                continue;
            };
            let mut name = table_name(&d.source, &d.title);
            let mut n = 2;
            while tables.iter().any(|t| t.name == name) {
                name = format!("{}_{n}", table_name(&d.source, &d.title));
                n += 1;
            }
            if let Some(t) = table_from_records(&name, &parsed) {
                tables.push(t);
            }
        }
    }
    Ok(tables)
}

/// The schema the model is shown alongside a result or an error.
fn describe(tables: &[Table]) -> String {
    tables
        .iter()
        .map(|t| {
            let cols: Vec<String> = t
                .columns
                .iter()
                .zip(&t.numeric)
                .map(|(c, n)| format!("{c} {}", if *n { "REAL" } else { "TEXT" }))
                .collect();
            format!("{}({}) -- {} rows", t.name, cols.join(", "), t.rows.len())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Tool for Sql {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "sql".into(),
            description: "Runs one read-only SQLite SELECT over the CSV and JSON documents \
                you may read: each file is a table named after it (servers.csv -> servers), \
                its header row the columns, numeric columns typed REAL."
                .to_owned()
                + &self.schema,
            parameters: json!({
                "type": "object",
                "properties": {"query": {"type": "string", "maxLength": 4000}},
                "required": ["query"],
                "additionalProperties": false
            }),
            side_effects: false,
        }
    }

    fn call(&self, ctx: &ToolCtx<'_>, args: &Value) -> Result<String> {
        let sql = str_arg(args, "query")?;
        let tables = tables(ctx.engine, ctx.caller, &self.collections)?;
        if tables.is_empty() {
            return Err(Error::new(
                ErrorCode::NotFound,
                "no CSV or JSON documents you may read are in this agent's collections",
            ));
        }
        let conn = load(&tables)?;
        let left = ctx
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        match query(&conn, sql, QUERY_TIME.min(left)) {
            Ok(rows) => Ok(rows),
            Err(e) => Err(Error::new(
                e.code,
                format!("{}\nTables:\n{}", e.message, describe(&tables)),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use cairn_types::Block;

    fn records(rows: &[&str]) -> ParsedDoc {
        ParsedDoc {
            title: Some("servers".into()),
            blocks: rows
                .iter()
                .map(|r| Block {
                    kind: BlockKind::Record,
                    text: r.replace(", ", "\n"),
                    heading_path: Vec::new(),
                    page: None,
                })
                .collect(),
            ..ParsedDoc::default()
        }
    }

    fn servers() -> Connection {
        let t = table_from_records(
            &table_name("upload:ops/Servers-2024.csv", "x"),
            &records(&[
                "name: db1, region: eu, max_connections: 100",
                "name: db2, region: us, max_connections: 250",
                "name: db3, region: eu, max_connections: 400",
            ]),
        )
        .unwrap();
        assert_eq!(t.name, "servers_2024");
        assert_eq!(t.numeric, [false, false, true]);
        load(&[t]).unwrap()
    }

    #[test]
    fn records_become_a_typed_table() {
        let conn = servers();
        let out = query(
            &conn,
            "SELECT region, SUM(max_connections) AS total FROM servers_2024 GROUP BY region ORDER BY region;",
            QUERY_TIME,
        )
        .unwrap();
        assert_eq!(
            out,
            "| region | total |\n|---|---|\n| eu | 500 |\n| us | 250 |\n(2 rows)"
        );
    }

    #[test]
    fn only_one_read_only_statement_runs() {
        let conn = servers();
        for (sql, why) in [
            ("DELETE FROM servers_2024", "read-only"),
            ("SELECT 1; DROP TABLE servers_2024", "one statement"),
            ("ATTACH DATABASE '/tmp/x.db' AS x", "not `attach`"),
            ("/* hi */ PRAGMA writable_schema = ON", "not `pragma`"),
            ("SELECT * FROM nowhere", "no such table"),
        ] {
            let e = query(&conn, sql, QUERY_TIME).unwrap_err();
            assert!(e.message.contains(why), "{sql}: {}", e.message);
        }
        // Even a write that slips past `readonly` is refused by query_only.
        assert!(conn.execute("DELETE FROM servers_2024", []).is_err());
        assert_eq!(
            query(&conn, "SELECT COUNT(*) FROM servers_2024", QUERY_TIME).unwrap(),
            "| COUNT(*) |\n|---|\n| 3 |\n(1 rows)"
        );
    }

    #[test]
    fn a_runaway_query_is_interrupted() {
        let conn = servers();
        let e = query(
            &conn,
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n",
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::Timeout, "{}", e.message);
    }
}

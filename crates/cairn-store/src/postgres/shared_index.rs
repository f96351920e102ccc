//! The shared search state on PostgreSQL (see `crate::shared_index`): `search_spaces`
//! (one row per collection: what it was built for and the change-log sequence applied)
//! and `search_chunks` (one row per searchable chunk).
//!
//! Vectors are stored as `real[]` and indexed through pgvector by an expression index per
//! dimension, created on first use: `hnsw ((embedding::vector(D)) vector_cosine_ops)
//! WHERE dim = D`. The extension is needed only by deployments that search vectors here
//! (`CREATE EXTENSION vector` runs then, with a clear error where it is missing). A
//! filtered search sets `hnsw.iterative_scan`, so the graph walk goes on until enough rows
//! pass the filter (up to `hnsw.max_scan_tuples`); when it still returns fewer than asked,
//! the same query runs as an exact scan of the rows the filter admits.
//!
//! Lexemes are a `tsvector` built from Cairn's own analyzers (positions kept) under a GIN
//! index, ranked with `ts_rank` (length-normalized).

use super::rows::get;
use super::{PostgresStore, db, insert_err, off_runtime, to_i64};
use crate::shared_index::{
    SharedCounts, SharedDoc, SharedFilter, SharedIndexRepo, SharedSpace, VectorHits, VectorPlan,
};
use crate::{Error, Result};
use cairn_types::{CollectionId, TenantId};
use postgres::GenericClient;
use postgres::types::ToSql;
use std::collections::HashSet;
use std::fmt::Write as _;

/// The principal of documents with an empty ACL (every filter's terms include it).
const PUBLIC: &str = "*";
/// A filter admitting at most this many rows is served by an exact scan of them (found
/// through the GIN index on the scoped principals): pgvector's graph walk through a
/// mostly-rejected graph returns near neighbours, not the nearest.
const EXACT_SCAN_LIMIT: i64 = 4_096;
/// How long a sync waits for another one of the same space, and how often it looks.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(20);
/// pgvector's HNSW limit for `vector` columns.
const MAX_INDEXED_DIM: usize = 2_000;
/// pgvector's limit for `hnsw.ef_search`.
const MAX_EF_SEARCH: usize = 1_000;
/// Rows an iterative graph walk may visit before giving up (pgvector's default).
const MAX_SCAN_TUPLES: usize = 20_000;
/// The least `hnsw.ef_search` of a filtered search: the walk keeps a wider candidate
/// list, since most of what it meets is filtered out. Measured on the 20,000-chunk set of
/// `tests/shared_index.rs` before selective ACLs were ranked exactly: under an ACL
/// admitting 1%, recall@10 0.96 at ef 64 with `k` fetched, 0.99–1.00 at 200 with `2k`.
const FILTERED_EF_SEARCH: usize = 200;

/// A `u64` index key as `bigint`, bit for bit.
fn key_to_sql(key: u64) -> i64 {
    i64::from_ne_bytes(key.to_ne_bytes())
}

fn key_from_sql(key: i64) -> u64 {
    u64::from_ne_bytes(key.to_ne_bytes())
}

/// `term` quoted for tsvector / tsquery input.
fn quote_lexeme(term: &str) -> String {
    let mut q = String::with_capacity(term.len() + 2);
    q.push('\'');
    for c in term.chars() {
        if c == '\'' || c == '\\' {
            q.push(c);
        }
        q.push(c);
    }
    q.push('\'');
    q
}

/// A tsvector literal of `terms` in order (positions from 1; PostgreSQL keeps positions
/// up to 16383 and clamps the rest).
fn tsvector_text(terms: &[String]) -> Option<String> {
    if terms.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (i, t) in terms.iter().enumerate() {
        if t.is_empty() || t.len() > 2_000 {
            continue;
        }
        let _ = write!(out, "{}:{} ", quote_lexeme(t), (i + 1).min(16_383));
    }
    Some(out)
}

/// A tsquery matching any of `terms`.
fn tsquery_text(terms: &[String]) -> String {
    let mut seen = HashSet::new();
    terms
        .iter()
        .filter(|t| !t.is_empty() && t.len() <= 2_000 && seen.insert(t.as_str()))
        .map(|t| quote_lexeme(t))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Principal terms as stored: scoped to the tenant and collection (`<tenant> <collection>
/// <term>`, unit separators between), so the GIN index on them finds one collection's
/// readable rows without touching other tenants' (`*` and user names recur across them).
fn scoped(space: &SharedSpace<'_>, terms: &[String]) -> Vec<String> {
    terms
        .iter()
        .map(|t| format!("{}\u{1f}{}\u{1f}{t}", space.tenant, space.collection))
        .collect()
}

/// A search's `WHERE` clause: tenant (`$1`) and collection (`$2`), then the filter's
/// conditions with their parameters numbered from `$3`; a statement's own parameters
/// follow them ([`Where::next`] is the first free number).
struct Where {
    sql: String,
    /// The tenant and collection (`$1`, `$2`).
    scope: [String; 2],
    params: Vec<Box<dyn ToSql + Sync>>,
}

impl Where {
    fn new(space: &SharedSpace<'_>, filter: &SharedFilter) -> Self {
        let mut w = Self {
            sql: "tenant_id = $1 AND collection_id = $2".to_owned(),
            scope: [space.tenant.to_string(), space.collection.to_string()],
            params: Vec::new(),
        };
        if let Some(terms) = &filter.principals {
            w.add("principals && ?::text[]", Box::new(scoped(space, terms)));
        }
        for (cond, values) in [
            ("sources && ?::text[]", &filter.sources),
            ("kind = ANY(?::text[])", &filter.kinds),
            ("tags && ?::text[]", &filter.tags),
        ] {
            if !values.is_empty() {
                w.add(cond, Box::new(values.clone()));
            }
        }
        if let Some(from) = filter.date_from {
            w.add("doc_date >= ?", Box::new(from));
        }
        if let Some(to) = filter.date_to {
            w.add("doc_date <= ?", Box::new(to));
        }
        w
    }

    fn add(&mut self, cond: &str, param: Box<dyn ToSql + Sync>) {
        let n = self.next();
        let _ = write!(self.sql, " AND {}", cond.replace('?', &format!("${n}")));
        self.params.push(param);
    }

    /// Whether the filter restricts anything.
    fn filtered(&self) -> bool {
        !self.params.is_empty()
    }

    /// The number of the first parameter after the filter's.
    fn next(&self) -> usize {
        3 + self.params.len()
    }

    /// All parameters in order: tenant, collection, the filter's, then `own`.
    fn params<'a>(&'a self, own: &[&'a (dyn ToSql + Sync)]) -> Vec<&'a (dyn ToSql + Sync)> {
        let mut all: Vec<&(dyn ToSql + Sync)> = vec![&self.scope[0], &self.scope[1]];
        all.extend(self.params.iter().map(|p| &**p as &(dyn ToSql + Sync)));
        all.extend_from_slice(own);
        all
    }
}

/// What a space is built for, as stored: the embedder (empty and 0 without vectors).
fn shape<'a>(space: &SharedSpace<'a>) -> (&'a str, i32) {
    let (model, dim) = space.vectors.unwrap_or(("", 0));
    (model, i32::try_from(dim).unwrap_or(i32::MAX))
}

/// Creates pgvector (if needed) and the HNSW index of dimension `dim`, once per database,
/// under a transaction-scoped advisory lock (two nodes never race on them).
fn ensure_vector_index(
    tx: &mut impl GenericClient,
    dim: usize,
    hnsw: (usize, usize),
) -> Result<()> {
    if dim == 0 || dim > MAX_INDEXED_DIM {
        return Err(Error::Database(format!(
            "retrieval.dense_backend = \"pgvector\" indexes vectors of 1 to \
             {MAX_INDEXED_DIM} dimensions; the embedder has {dim}"
        )));
    }
    tx.execute("SELECT pg_advisory_xact_lock(4, 0)", &[])
        .map_err(db)?;
    tx.batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
        .map_err(|e| {
            Error::Database(format!(
                "retrieval.dense_backend = \"pgvector\" needs the pgvector extension in \
                 this database, and creating it failed ({}): install pgvector on the \
                 server and run `CREATE EXTENSION vector` as its owner, or use \
                 retrieval.dense_backend = \"usearch\"",
                db(e)
            ))
        })?;
    let (m, ef_construction) = (hnsw.0.clamp(2, 100), hnsw.1.clamp(4, 1_000));
    tx.batch_execute(&format!(
        "CREATE INDEX IF NOT EXISTS search_chunks_hnsw_{dim} ON search_chunks
         USING hnsw ((embedding::vector({dim})) vector_cosine_ops)
         WITH (m = {m}, ef_construction = {ef_construction}) WHERE dim = {dim}"
    ))
    .map_err(db)?;
    Ok(())
}

/// `(chunk_key, score)` rows as index keys with their scores.
fn keyed_scores(
    rows: std::result::Result<Vec<postgres::Row>, postgres::Error>,
) -> Result<Vec<(u64, f32)>> {
    rows.map_err(db)?
        .iter()
        .map(|r| Ok((key_from_sql(get(r, 0, "chunk_key")?), get(r, 1, "score")?)))
        .collect()
}

impl SharedIndexRepo for PostgresStore {
    fn with_shared_lock(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        work: &mut dyn FnMut(),
    ) -> Result<()> {
        let name = format!("{tenant}/{collection}");
        let started = std::time::Instant::now();
        loop {
            let mut client = off_runtime(|| self.pool.take())?;
            let taken = off_runtime(|| {
                client
                    .query_one("SELECT pg_try_advisory_lock(5, hashtext($1))", &[&name])
                    .map(|row| row.get::<_, bool>(0))
            });
            let done = match taken {
                // Another node or thread is syncing: wait without holding a pooled
                // connection (the holder needs some for its work), then try again.
                Ok(false) => {
                    self.pool.give_back(client);
                    if started.elapsed() > LOCK_WAIT {
                        return Err(Error::Busy(format!(
                            "the shared search space of `{collection}` stayed locked by \
                             another sync for {} s",
                            LOCK_WAIT.as_secs()
                        )));
                    }
                    std::thread::sleep(LOCK_RETRY);
                    continue;
                }
                Ok(true) => {
                    work();
                    off_runtime(|| {
                        client.execute("SELECT pg_advisory_unlock(5, hashtext($1))", &[&name])
                    })
                    .map(|_| ())
                }
                Err(e) => Err(e),
            };
            // A connection that failed is closed (ending its lock), never reused.
            if done.is_ok() {
                self.pool.give_back(client);
            } else {
                off_runtime(move || drop(client));
            }
            return done.map_err(db);
        }
    }

    fn shared_current(&self, space: &SharedSpace<'_>) -> Result<Option<i64>> {
        let (model, dim) = shape(space);
        self.read("reading the shared search space's position", |client| {
            let row = client
                .query_opt(
                    "SELECT applied_seq FROM search_spaces
                     WHERE tenant_id = $1 AND collection_id = $2 AND created_at = $3
                       AND generation = $4 AND model = $5 AND dim = $6 AND lexemes = $7",
                    &[
                        &space.tenant.as_str(),
                        &space.collection.as_str(),
                        &space.created_at,
                        &space.generation,
                        &model,
                        &dim,
                        &space.lexemes,
                    ],
                )
                .map_err(db)?;
            row.map(|r| get(&r, 0, "applied_seq")).transpose()
        })
    }

    fn shared_position(&self, space: &SharedSpace<'_>) -> Result<i64> {
        let (model, dim_sql) = shape(space);
        let (tenant, collection) = (space.tenant.as_str(), space.collection.as_str());
        self.write("reading the shared search space", |tx| {
            let row = tx
                .query_opt(
                    "SELECT created_at, generation, model, dim, lexemes, applied_seq
                     FROM search_spaces WHERE tenant_id = $1 AND collection_id = $2 FOR UPDATE",
                    &[&tenant, &collection],
                )
                .map_err(db)?;
            if let Some(r) = &row {
                let same = get::<i64>(r, 0, "created_at")? == space.created_at
                    && get::<i64>(r, 1, "generation")? == space.generation
                    && get::<&str>(r, 2, "model")? == model
                    && get::<i32>(r, 3, "dim")? == dim_sql
                    && get::<bool>(r, 4, "lexemes")? == space.lexemes;
                if same {
                    return get(r, 5, "applied_seq");
                }
            }
            if let Some((_, dim)) = space.vectors {
                ensure_vector_index(tx, dim, space.hnsw)?;
            }
            tx.execute(
                "DELETE FROM search_chunks WHERE tenant_id = $1 AND collection_id = $2",
                &[&tenant, &collection],
            )
            .map_err(db)?;
            tx.execute(
                "INSERT INTO search_spaces(tenant_id, collection_id, created_at, generation,
                     model, dim, lexemes, applied_seq)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, -1)
                 ON CONFLICT(tenant_id, collection_id) DO UPDATE SET
                     created_at = excluded.created_at, generation = excluded.generation,
                     model = excluded.model, dim = excluded.dim, lexemes = excluded.lexemes,
                     applied_seq = -1",
                &[
                    &tenant,
                    &collection,
                    &space.created_at,
                    &space.generation,
                    &model,
                    &dim_sql,
                    &space.lexemes,
                ],
            )
            .map_err(|e| {
                insert_err(
                    e,
                    || format!("search space of `{collection}`"),
                    || format!("collection `{collection}` in tenant `{tenant}`"),
                )
            })?;
            Ok(-1)
        })
    }

    fn shared_apply(
        &self,
        space: &SharedSpace<'_>,
        removed: &[String],
        docs: &[SharedDoc],
        seq: i64,
    ) -> Result<()> {
        let (tenant, collection) = (space.tenant.as_str(), space.collection.as_str());
        self.write("updating the shared search space", |tx| {
            let ids: Vec<&str> = docs.iter().map(|d| d.document.as_str()).collect();
            // Locks the documents still stored: a delete waits for this commit, then its
            // cascade removes what was written here.
            let present: HashSet<String> = tx
                .query(
                    "SELECT id FROM documents WHERE tenant_id = $1 AND id = ANY($2)
                     FOR KEY SHARE",
                    &[&tenant, &ids],
                )
                .map_err(db)?
                .iter()
                .map(|r| get::<String>(r, 0, "id"))
                .collect::<Result<_>>()?;
            let mut gone: Vec<&str> = removed.iter().map(String::as_str).collect();
            gone.extend(&ids);
            tx.execute(
                "DELETE FROM search_chunks
                 WHERE tenant_id = $1 AND collection_id = $2 AND document_id = ANY($3)",
                &[&tenant, &collection, &gone],
            )
            .map_err(db)?;
            let insert = tx
                .prepare(
                    "INSERT INTO search_chunks(tenant_id, collection_id, chunk_key, document_id,
                         principals, sources, kind, tags, doc_date, dim, embedding, lexemes)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text::tsvector)",
                )
                .map_err(db)?;
            let want_vectors = space.vectors.is_some();
            for d in docs.iter().filter(|d| present.contains(&d.document)) {
                let principals = if d.principals.is_empty() {
                    scoped(space, &[PUBLIC.to_owned()])
                } else {
                    scoped(space, &d.principals)
                };
                for c in &d.chunks {
                    let vector = c.vector.as_ref().filter(|_| want_vectors);
                    let dim = vector.map_or(0, |v| i32::try_from(v.len()).unwrap_or(i32::MAX));
                    let lexemes = if space.lexemes {
                        tsvector_text(&c.terms)
                    } else {
                        None
                    };
                    tx.execute(
                        &insert,
                        &[
                            &tenant,
                            &collection,
                            &key_to_sql(c.key),
                            &d.document,
                            &principals,
                            &d.sources,
                            &d.kind,
                            &d.tags,
                            &d.date,
                            &dim,
                            &vector,
                            &lexemes,
                        ],
                    )
                    .map_err(db)?;
                }
            }
            if seq >= 0 {
                tx.execute(
                    "UPDATE search_spaces SET applied_seq = $3
                     WHERE tenant_id = $1 AND collection_id = $2",
                    &[&tenant, &collection, &seq],
                )
                .map_err(db)?;
            }
            Ok(())
        })
    }

    fn shared_vector_search(
        &self,
        space: &SharedSpace<'_>,
        vector: &[f32],
        filter: &SharedFilter,
        k: usize,
        ef_search: usize,
    ) -> Result<VectorHits> {
        let Some((_, dim)) = space.vectors else {
            return Err(Error::Database(
                "this shared search space keeps no vectors".into(),
            ));
        };
        if vector.len() != dim {
            return Err(Error::Database(format!(
                "query vector has {} dimensions, the index {dim}",
                vector.len()
            )));
        }
        let k = k.clamp(1, MAX_EF_SEARCH);
        let cond = Where::new(space, filter);
        let filtered = cond.filtered();
        let floor = if filtered {
            k.max(FILTERED_EF_SEARCH)
        } else {
            k
        };
        let ef = ef_search.max(floor).min(MAX_EF_SEARCH);
        // A filtered walk returns rows in relaxed order: take twice as many, keep the best.
        let fetch = if filtered {
            (2 * k).min(MAX_EF_SEARCH)
        } else {
            k
        };
        let query = vector.to_vec();
        let (q, conds) = (cond.next(), &cond.sql);
        let run = |client: &mut postgres::Transaction<'_>,
                   exact: bool|
         -> Result<Vec<(u64, f32)>> {
            let distance = format!("(embedding::vector({dim}) <=> ${q}::real[]::vector({dim}))");
            // `+ 0` hides the ordering from the HNSW index: an exact scan and sort.
            let order = if exact {
                format!("{distance} + 0")
            } else {
                distance.clone()
            };
            let sql = format!(
                "SELECT chunk_key, (1 - {distance})::real FROM search_chunks
                     WHERE {conds} AND dim = {dim} ORDER BY {order} LIMIT {fetch}"
            );
            keyed_scores(client.query(&sql, &cond.params(&[&query])))
        };
        self.with_client("searching vectors in PostgreSQL", |client| {
            let mut tx = client.transaction().map_err(db)?;
            tx.batch_execute(&format!(
                "SET LOCAL hnsw.ef_search = {ef};
                 SET LOCAL hnsw.iterative_scan = relaxed_order;
                 SET LOCAL hnsw.max_scan_tuples = {MAX_SCAN_TUPLES}"
            ))
            .map_err(db)?;
            // An ACL admitting few rows: count them through the GIN index, and rank
            // them all exactly when they are few.
            let few = filter.principals.is_some() && {
                let sql = format!(
                    "SELECT count(*) FROM (SELECT 1 FROM search_chunks
                     WHERE {conds} AND dim = {dim} LIMIT {}) AS admitted",
                    EXACT_SCAN_LIMIT + 1
                );
                let row = tx.query_one(&sql, &cond.params(&[])).map_err(db)?;
                get::<i64>(&row, 0, "count")? <= EXACT_SCAN_LIMIT
            };
            let (mut hits, mut plan) = if few {
                (run(&mut tx, true)?, VectorPlan::Exact)
            } else {
                (run(&mut tx, false)?, VectorPlan::Graph)
            };
            if plan == VectorPlan::Graph && hits.len() < k {
                hits = run(&mut tx, true)?;
                plan = VectorPlan::Exact;
            }
            tx.commit().map_err(db)?;
            // Relaxed order: the walk may return neighbours slightly out of order.
            hits.sort_by(|a, b| b.1.total_cmp(&a.1));
            hits.truncate(k);
            Ok(VectorHits { hits, plan })
        })
    }

    fn shared_text_search(
        &self,
        space: &SharedSpace<'_>,
        terms: &[String],
        filter: &SharedFilter,
        k: usize,
    ) -> Result<Vec<(u64, f32)>> {
        let query = tsquery_text(terms);
        if query.is_empty() || !space.lexemes {
            return Ok(Vec::new());
        }
        let cond = Where::new(space, filter);
        let k = to_i64(k.max(1));
        self.read("full-text search in PostgreSQL", |client| {
            let sql = format!(
                "SELECT chunk_key, ts_rank(lexemes, q, 1)::real AS score
                 FROM search_chunks, CAST(${}::text AS tsquery) AS q
                 WHERE {} AND lexemes @@ q ORDER BY score DESC, chunk_key LIMIT {k}",
                cond.next(),
                cond.sql
            );
            keyed_scores(client.query(&sql, &cond.params(&[&query])))
        })
    }

    fn shared_vectors(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        keys: &[u64],
    ) -> Result<Vec<Option<Vec<f32>>>> {
        let wanted: Vec<i64> = keys.iter().map(|k| key_to_sql(*k)).collect();
        let found: std::collections::HashMap<i64, Vec<f32>> =
            self.read("reading vectors from PostgreSQL", |client| {
                client
                    .query(
                        "SELECT chunk_key, embedding FROM search_chunks
                         WHERE tenant_id = $1 AND collection_id = $2 AND chunk_key = ANY($3)
                           AND embedding IS NOT NULL",
                        &[&tenant.as_str(), &collection.as_str(), &wanted],
                    )
                    .map_err(db)?
                    .iter()
                    .map(|r| Ok((get(r, 0, "chunk_key")?, get(r, 1, "embedding")?)))
                    .collect()
            })?;
        Ok(wanted.iter().map(|k| found.get(k).cloned()).collect())
    }

    fn shared_counts(&self, tenant: &TenantId, collection: &CollectionId) -> Result<SharedCounts> {
        self.read("counting the shared search space", |client| {
            let row = client
                .query_one(
                    "SELECT COALESCE((SELECT applied_seq FROM search_spaces
                                      WHERE tenant_id = $1 AND collection_id = $2), -1),
                            count(*), count(embedding)
                     FROM search_chunks WHERE tenant_id = $1 AND collection_id = $2",
                    &[&tenant.as_str(), &collection.as_str()],
                )
                .map_err(db)?;
            let n = |i: usize, what: &str| -> Result<usize> {
                Ok(usize::try_from(get::<i64>(&row, i, what)?).unwrap_or(0))
            };
            Ok(SharedCounts {
                applied_seq: get(&row, 0, "applied_seq")?,
                chunks: n(1, "chunks")?,
                vectors: n(2, "vectors")?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexemes_are_quoted_for_tsvector_input() {
        let terms = vec!["it's".to_owned(), "a\\b".to_owned(), "x".to_owned()];
        assert_eq!(
            tsvector_text(&terms).as_deref(),
            Some("'it''s':1 'a\\\\b':2 'x':3 ")
        );
        assert_eq!(tsquery_text(&terms), "'it''s' | 'a\\\\b' | 'x'");
        assert_eq!(tsquery_text(&["x".into(), "x".into()]), "'x'");
    }

    #[test]
    fn keys_round_trip_through_bigint() {
        for key in [0, 1, u64::MAX, 1 << 63, 0x1234_5678_9abc_def0] {
            assert_eq!(key_from_sql(key_to_sql(key)), key);
        }
    }

    #[test]
    fn filters_number_their_parameters_after_tenant_and_collection() {
        let f = SharedFilter {
            principals: Some(vec!["*".into()]),
            kinds: vec!["pdf".into()],
            date_to: Some(5),
            ..SharedFilter::default()
        };
        let (tenant, collection) = (TenantId::new("t"), CollectionId::new("c"));
        let space = SharedSpace {
            tenant: &tenant,
            collection: &collection,
            created_at: 0,
            generation: 0,
            vectors: None,
            lexemes: false,
            hnsw: (16, 64),
        };
        let cond = Where::new(&space, &f);
        assert_eq!(
            cond.sql,
            "tenant_id = $1 AND collection_id = $2 AND principals && $3::text[] \
             AND kind = ANY($4::text[]) AND doc_date <= $5"
        );
        assert_eq!((cond.params.len(), cond.next()), (3, 6));
        assert_eq!(cond.params(&[&1_i64]).len(), 6);
        assert_eq!(scoped(&space, &["*".into()]), vec!["t\u{1f}c\u{1f}*"]);
    }
}

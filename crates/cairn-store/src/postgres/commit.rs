//! The write path of a document: upsert the row, replace the whole chunk set, keep the
//! parsed text, complete the job, record the idempotency key, delete the ingested
//! upload's bytes and append to the index change log, all inside the caller's transaction, so a crash or an error at any point
//! leaves the previous version untouched.
//!
//! Several nodes may commit at once:
//! - two commits of one source meet on the documents row: `INSERT … ON CONFLICT DO
//!   UPDATE` takes its row lock, so the second waits for the first and then replaces it
//!   (the chunk delete and inserts below run under that same lock);
//! - the idempotency key is decided by one `INSERT … ON CONFLICT DO NOTHING` (see
//!   `idempotency.rs`);
//! - the index change is appended last, under [`lock_index_feed`], so the global lock is
//!   held only for the append and the commit, never while waiting on a row.

use super::documents::{doc_not_found, load};
use super::idempotency::{claim as claim_idempotency, key_conflict, lookup as lookup_idempotency};
use super::index_feed::ChunkTable;
use super::jobs::complete_job_tx;
use super::reindex::keep_text;
use super::uploads::delete_upload_tx;
use super::{db, insert_err, lock_index_feed, to_i64};
use crate::columns::{CHUNK_COLS, role_str, to_json};
use crate::repo::DocumentCommit;
use crate::{Error, Result};
use cairn_types::{Chunk, ChunkId, CollectionId, Document, DocumentId, TenantId};
use postgres::Transaction;
use std::collections::HashSet;

/// Chunk rows per insert statement (one round trip each; bounds the message size when
/// the chunks carry embeddings).
const INSERT_BATCH: usize = 256;

/// Commits a document with its chunk set (see [`crate::repo::DocumentRepo::commit_document`]).
pub(crate) fn commit_tx(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    commit: DocumentCommit,
    now: i64,
) -> Result<Document> {
    let DocumentCommit {
        doc,
        chunks,
        job,
        idempotency,
        embeddings,
        parsed,
        upload,
    } = commit;
    // A key already committed with another request costs no writes. This read is only a
    // shortcut: a key claimed concurrently is decided by `claim_idempotency` below.
    if let Some(rec) = &idempotency
        && let Some(prior) = lookup_idempotency(tx, tenant, &rec.key)?
        && prior.request_hash != rec.request_hash
    {
        return Err(key_conflict(tenant, &rec.key));
    }
    if let Some(upload) = &upload {
        delete_upload_tx(tx, tenant, upload)?;
    }
    let Some(id) = upsert_document(tx, tenant, &doc, chunks.len(), upload.is_some(), now)? else {
        // A later upload of this source is stored already (its row is locked now): it
        // stays.
        let id = id_of_source(tx, tenant, &doc)?;
        if let Some(job) = &job {
            complete_job_tx(tx, tenant, job, Some(&id), 0, now)?;
        }
        if let Some(rec) = &idempotency {
            claim_idempotency(tx, tenant, rec, &id, now)?;
        }
        return load(tx, tenant, &id)?.ok_or_else(|| doc_not_found(tenant, &id));
    };
    replace_chunks(tx, tenant, &doc, &id, &chunks, &embeddings)?;
    if let Some(parsed) = &parsed {
        keep_text(tx, tenant, &id, parsed)?;
    }
    if let Some(job) = &job {
        complete_job_tx(tx, tenant, job, Some(&id), chunks.len(), now)?;
    }
    if let Some(rec) = &idempotency {
        claim_idempotency(tx, tenant, rec, &id, now)?;
    }
    let stored = load(tx, tenant, &id)?.ok_or_else(|| doc_not_found(tenant, &id))?;
    log_change(tx, tenant, &doc.collection, &id)?;
    Ok(stored)
}

/// Rewrites a parent id built from the draft document id (`<draft>:<ordinal>`) to the
/// final document id. Ids of any other shape are kept as given.
fn final_parent(parent: &ChunkId, draft: &DocumentId, doc: &DocumentId) -> ChunkId {
    parent
        .as_str()
        .strip_prefix(draft.as_str())
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|ordinal| ordinal.parse::<usize>().ok())
        .map_or_else(
            || parent.clone(),
            |ordinal| ChunkId::for_position(doc, ordinal),
        )
}

/// The id of the document stored for `d`'s source.
fn id_of_source(tx: &mut Transaction<'_>, tenant: &TenantId, d: &Document) -> Result<DocumentId> {
    let row = tx
        .query_one(
            "SELECT id FROM documents WHERE tenant_id = $1 AND collection_id = $2 AND source = $3",
            &[&tenant.as_str(), &d.collection.as_str(), &d.source],
        )
        .map_err(db)?;
    Ok(DocumentId::new(super::rows::get::<String>(&row, 0, "id")?))
}

/// Inserts the document row, or updates the one already stored for its source (keeping
/// its id and `created_at`). Returns the final id; `None` when `in_order` and the stored
/// row has a later `mtime`, which is then left as it is (but locked until the commit).
fn upsert_document(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    d: &Document,
    chunk_count: usize,
    in_order: bool,
    now: i64,
) -> Result<Option<DocumentId>> {
    let (metadata, users, groups, quality) = (
        to_json(&d.metadata)?,
        to_json(&d.acl.users)?,
        to_json(&d.acl.groups)?,
        to_json(&d.quality)?,
    );
    let row = tx
        .query_opt(
            "INSERT INTO documents(tenant_id, id, collection_id, source, title, format,
                content_hash, mtime, size_bytes, metadata, acl_users, acl_groups, status,
                quality, simhash, chunk_count, created_at, updated_at, owner)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                $17, $18, $19)
             ON CONFLICT(tenant_id, collection_id, source) DO UPDATE SET title = excluded.title,
                format = excluded.format, content_hash = excluded.content_hash,
                mtime = excluded.mtime, size_bytes = excluded.size_bytes,
                metadata = excluded.metadata, acl_users = excluded.acl_users,
                acl_groups = excluded.acl_groups, status = excluded.status,
                quality = excluded.quality, simhash = excluded.simhash,
                chunk_count = excluded.chunk_count, updated_at = excluded.updated_at,
                owner = COALESCE(excluded.owner, documents.owner)
             WHERE NOT $20::boolean OR documents.mtime <= excluded.mtime
             RETURNING id",
            &[
                &tenant.as_str(),
                &d.id.as_str(),
                &d.collection.as_str(),
                &d.source,
                &d.title,
                &d.format,
                &d.content_hash,
                &d.mtime,
                &to_i64(d.size_bytes),
                &metadata,
                &users,
                &groups,
                &d.status.as_str(),
                &quality,
                // The SimHash is a u64 stored bit for bit in the signed column.
                &d.quality.simhash.cast_signed(),
                &to_i64(chunk_count),
                &d.created_at,
                &now,
                &d.owner,
                &in_order,
            ],
        )
        .map_err(|e| {
            insert_err(
                e,
                || {
                    format!(
                        "document id `{}` is already taken in tenant `{tenant}`",
                        d.id
                    )
                },
                || format!("collection `{}` in tenant `{tenant}`", d.collection),
            )
        })?;
    row.map(|row| super::rows::get::<String>(&row, 0, "id").map(DocumentId::new))
        .transpose()
}

/// Replaces the document's chunks with `chunks`, ids derived from the final id.
fn replace_chunks(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    d: &Document,
    id: &DocumentId,
    chunks: &[Chunk],
    embeddings: &[Option<Vec<f32>>],
) -> Result<()> {
    tx.execute(
        "DELETE FROM chunks WHERE tenant_id = $1 AND document_id = $2",
        &[&tenant.as_str(), &id.as_str()],
    )
    .map_err(db)?;
    let owner = ChunkOwner {
        tenant,
        collection: &d.collection,
        draft: &d.id,
        id,
    };
    insert_chunks(tx, ChunkTable::Live, &owner, chunks, embeddings)
}

/// Whose chunks are being written: `draft` is the document id the chunks' parent links
/// were built from, `id` the final one (the same for a document already stored).
pub(crate) struct ChunkOwner<'a> {
    pub tenant: &'a TenantId,
    pub collection: &'a CollectionId,
    pub draft: &'a DocumentId,
    pub id: &'a DocumentId,
}

/// Inserts `chunks` (with `embeddings`, one per chunk or none) into `table`, ids derived
/// from the final document id and parent links rewritten to it. One statement, prepared
/// once, inserts up to [`INSERT_BATCH`] rows from arrays (`UNNEST`).
pub(crate) fn insert_chunks(
    tx: &mut Transaction<'_>,
    table: ChunkTable,
    owner: &ChunkOwner<'_>,
    chunks: &[Chunk],
    embeddings: &[Option<Vec<f32>>],
) -> Result<()> {
    let ChunkOwner {
        tenant,
        collection,
        draft,
        id,
    } = owner;
    if !embeddings.is_empty() && embeddings.len() != chunks.len() {
        return Err(Error::Database(format!(
            "{} embeddings for {} chunks of document `{id}`",
            embeddings.len(),
            chunks.len()
        )));
    }
    // A whole batch fails as one statement, so the ordinal a unique violation is about is
    // found here, with the message SQLite's row-by-row insert gives.
    let mut seen = HashSet::with_capacity(chunks.len());
    if let Some(c) = chunks.iter().find(|c| !seen.insert(c.ordinal)) {
        return Err(Error::Conflict(format!(
            "document `{id}` has two chunks with ordinal {}",
            c.ordinal
        )));
    }
    if chunks.is_empty() {
        return Ok(());
    }
    let insert = tx
        .prepare(&format!(
            "INSERT INTO {}({CHUNK_COLS}, embedding)
             SELECT $1::text, u.id, $2::text, $3::text, u.ordinal, u.text, u.heading_path,
                u.token_count, u.role, u.parent_id, u.page, u.embedding
             FROM UNNEST($4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[],
                $9::text[], $10::text[], $11::bigint[], $12::bytea[])
                AS u(id, ordinal, text, heading_path, token_count, role, parent_id, page,
                     embedding)",
            table.name()
        ))
        .map_err(db)?;
    for (batch, part) in chunks.chunks(INSERT_BATCH).enumerate() {
        let first = batch * INSERT_BATCH;
        let mut ids = Vec::with_capacity(part.len());
        let mut ordinals = Vec::with_capacity(part.len());
        let mut texts = Vec::with_capacity(part.len());
        let mut headings = Vec::with_capacity(part.len());
        let mut tokens = Vec::with_capacity(part.len());
        let mut roles = Vec::with_capacity(part.len());
        let mut parents = Vec::with_capacity(part.len());
        let mut pages = Vec::with_capacity(part.len());
        let mut blobs = Vec::with_capacity(part.len());
        for (i, c) in part.iter().enumerate() {
            ids.push(ChunkId::for_position(id, c.ordinal).as_str().to_owned());
            ordinals.push(to_i64(c.ordinal));
            texts.push(c.text.as_str());
            headings.push(to_json(&c.heading_path)?);
            tokens.push(to_i64(c.token_count));
            roles.push(role_str(c.role));
            parents.push(
                c.parent
                    .as_ref()
                    .map(|p| final_parent(p, draft, id).as_str().to_owned()),
            );
            pages.push(c.page.map(i64::from));
            blobs.push(
                embeddings
                    .get(first + i)
                    .and_then(Option::as_deref)
                    .map(vector_blob),
            );
        }
        tx.execute(
            &insert,
            &[
                &tenant.as_str(),
                &id.as_str(),
                &collection.as_str(),
                &ids,
                &ordinals,
                &texts,
                &headings,
                &tokens,
                &roles,
                &parents,
                &pages,
                &blobs,
            ],
        )
        .map_err(|e| {
            insert_err(
                e,
                || format!("a chunk id of document `{id}` is already taken"),
                || format!("document `{id}` in tenant `{tenant}`"),
            )
        })?;
    }
    Ok(())
}

/// Appends to the index change log inside the caller's transaction, under the feed's
/// global lock (held until the transaction ends, so changes commit in `seq` order).
/// Call it after the transaction's row writes: a transaction holding the lock should not
/// then wait on rows another committer holds while it waits on the lock.
pub(crate) fn log_change(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    collection: &CollectionId,
    document: &DocumentId,
) -> Result<()> {
    lock_index_feed(tx)?;
    tx.execute(
        "INSERT INTO index_changes(tenant_id, collection_id, document_id) VALUES ($1, $2, $3)",
        &[&tenant.as_str(), &collection.as_str(), &document.as_str()],
    )
    .map_err(db)?;
    Ok(())
}

/// Little-endian f32 bytes (the same encoding SQLite stores).
pub(crate) fn vector_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_ids_follow_the_final_document_id() {
        let (draft, fin) = (DocumentId::new("draft"), DocumentId::new("final"));
        let p = ChunkId::for_position(&draft, 3);
        assert_eq!(
            final_parent(&p, &draft, &fin),
            ChunkId::for_position(&fin, 3)
        );
        let other = ChunkId::new("draftish:3");
        assert_eq!(final_parent(&other, &draft, &fin), other);
        assert_eq!(final_parent(&p, &draft, &draft), p);
    }

    #[test]
    fn vectors_are_little_endian_f32() {
        assert_eq!(vector_blob(&[1.0, -2.5]), [0, 0, 128, 63, 0, 0, 32, 192]);
        assert_eq!(
            super::super::index_feed::vector(&vector_blob(&[0.25, 7.0])).ok(),
            Some(vec![0.25, 7.0])
        );
    }
}

//! The write path of a document: upsert the row, replace the whole chunk set, complete
//! the job, keep the parsed text, record the idempotency key and delete the ingested
//! upload's bytes, all inside the caller's
//! transaction, so a crash or an error at any point leaves the previous version untouched.

use super::documents::{doc_not_found, load};
use super::idempotency::{lookup as lookup_idempotency, record as record_idempotency};
use super::index_feed::ChunkTable;
use super::jobs::complete_job_tx;
use super::rows::{CHUNK_COLS, role_str, to_json};
use super::uploads::delete_upload_tx;
use super::{db, insert_err, to_i64};
use crate::repo::DocumentCommit;
use crate::{Error, Result};
use cairn_types::{Chunk, ChunkId, CollectionId, Document, DocumentId, TenantId};
use rusqlite::{OptionalExtension, Transaction};

/// Commits a document with its chunk set (see [`crate::repo::DocumentRepo::commit_document`]).
pub(crate) fn commit_tx(
    tx: &Transaction<'_>,
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
    // Checked first so a reused key costs no writes; the rollback would undo them anyway.
    let new_key = match &idempotency {
        Some(rec) => match lookup_idempotency(tx, tenant, &rec.key)? {
            Some(prior) if prior.request_hash != rec.request_hash => {
                return Err(Error::Conflict(format!(
                    "idempotency key `{}` was already used with a different request in tenant \
                     `{tenant}`",
                    rec.key
                )));
            }
            Some(_) => None,
            None => Some(rec),
        },
        None => None,
    };
    if let Some(upload) = &upload {
        delete_upload_tx(tx, tenant, upload)?;
    }
    let Some(id) = upsert_document(tx, tenant, &doc, chunks.len(), upload.is_some(), now)? else {
        // A later upload of this source is stored already: it stays.
        let id = id_of_source(tx, tenant, &doc)?;
        if let Some(job) = &job {
            complete_job_tx(tx, tenant, job, Some(&id), 0, now)?;
        }
        if let Some(rec) = new_key {
            record_idempotency(tx, tenant, rec, &id, now)?;
        }
        return load(tx, tenant, &id)?.ok_or_else(|| doc_not_found(tenant, &id));
    };
    replace_chunks(tx, tenant, &doc, &id, &chunks, &embeddings)?;
    log_change(tx, tenant, &doc.collection, &id)?;
    if let Some(parsed) = &parsed {
        super::reindex::keep_text(tx, tenant, &id, parsed)?;
    }
    if let Some(job) = &job {
        complete_job_tx(tx, tenant, job, Some(&id), chunks.len(), now)?;
    }
    if let Some(rec) = new_key {
        record_idempotency(tx, tenant, rec, &id, now)?;
    }
    load(tx, tenant, &id)?.ok_or_else(|| doc_not_found(tenant, &id))
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
fn id_of_source(tx: &Transaction<'_>, tenant: &TenantId, d: &Document) -> Result<DocumentId> {
    tx.query_row(
        "SELECT id FROM documents WHERE tenant_id = ?1 AND collection_id = ?2 AND source = ?3",
        (tenant.as_str(), d.collection.as_str(), d.source.as_str()),
        |r| r.get::<_, String>(0),
    )
    .map(DocumentId::new)
    .map_err(db)
}

/// Inserts the document row, or updates the one already stored for its source (keeping
/// its id and `created_at`). Returns the final id; `None` when `in_order` and the stored
/// row has a later `mtime`, which is then left as it is.
fn upsert_document(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    d: &Document,
    chunk_count: usize,
    in_order: bool,
    now: i64,
) -> Result<Option<DocumentId>> {
    let id: Option<String> = tx
        .query_row(
            "INSERT INTO documents(tenant_id, id, collection_id, source, title, format, content_hash,
                mtime, size_bytes, metadata, acl_users, acl_groups, status, quality, simhash,
                chunk_count, created_at, updated_at, owner)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
             ON CONFLICT(tenant_id, collection_id, source) DO UPDATE SET title = excluded.title,
                format = excluded.format, content_hash = excluded.content_hash,
                mtime = excluded.mtime, size_bytes = excluded.size_bytes,
                metadata = excluded.metadata, acl_users = excluded.acl_users,
                acl_groups = excluded.acl_groups, status = excluded.status,
                quality = excluded.quality, simhash = excluded.simhash,
                chunk_count = excluded.chunk_count, updated_at = excluded.updated_at,
                owner = COALESCE(excluded.owner, documents.owner)
             WHERE NOT ?20 OR documents.mtime <= excluded.mtime
             RETURNING id",
            rusqlite::params![
                tenant.as_str(),
                d.id.as_str(),
                d.collection.as_str(),
                d.source,
                d.title,
                d.format,
                d.content_hash,
                d.mtime,
                to_i64(d.size_bytes),
                to_json(&d.metadata)?,
                to_json(&d.acl.users)?,
                to_json(&d.acl.groups)?,
                d.status.as_str(),
                to_json(&d.quality)?,
                d.quality.simhash.cast_signed(),
                to_i64(chunk_count),
                d.created_at,
                now,
                d.owner,
                in_order,
            ],
            |r| r.get(0),
        )
        .optional()
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
    Ok(id.map(DocumentId::new))
}

/// Replaces the document's chunks with `chunks`, ids derived from the final id.
fn replace_chunks(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    d: &Document,
    id: &DocumentId,
    chunks: &[Chunk],
    embeddings: &[Option<Vec<f32>>],
) -> Result<()> {
    tx.execute(
        "DELETE FROM chunks WHERE tenant_id = ?1 AND document_id = ?2",
        (tenant.as_str(), id.as_str()),
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
/// from the final document id and parent links rewritten to it.
pub(crate) fn insert_chunks(
    tx: &Transaction<'_>,
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
    let mut st = tx
        .prepare_cached(&format!(
            "INSERT INTO {}({CHUNK_COLS}, embedding)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            table.name()
        ))
        .map_err(db)?;
    for (i, c) in chunks.iter().enumerate() {
        let blob = embeddings
            .get(i)
            .and_then(Option::as_deref)
            .map(vector_blob);
        let parent = c.parent.as_ref().map(|p| final_parent(p, draft, id));
        st.execute(rusqlite::params![
            tenant.as_str(),
            ChunkId::for_position(id, c.ordinal).as_str(),
            id.as_str(),
            collection.as_str(),
            to_i64(c.ordinal),
            c.text,
            to_json(&c.heading_path)?,
            to_i64(c.token_count),
            role_str(c.role),
            parent.as_ref().map(ChunkId::as_str),
            c.page,
            blob,
        ])
        .map_err(|e| {
            insert_err(
                e,
                || format!("document `{id}` has two chunks with ordinal {}", c.ordinal),
                || format!("document `{id}` in tenant `{tenant}`"),
            )
        })?;
    }
    Ok(())
}

/// Appends to the index change log (inside the caller's transaction).
pub(crate) fn log_change(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    collection: &CollectionId,
    document: &DocumentId,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO index_changes(tenant_id, collection_id, document_id) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut st| st.execute((tenant.as_str(), collection.as_str(), document.as_str())))
    .map_err(db)?;
    Ok(())
}

/// Little-endian f32 bytes.
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
        // Not built from the draft id: kept.
        let other = ChunkId::new("draftish:3");
        assert_eq!(final_parent(&other, &draft, &fin), other);
        assert_eq!(final_parent(&p, &draft, &draft), p);
    }
}

//! Turning one source's bytes into a document and its chunks: size check, content hash,
//! format sniffing, parsing (in a child process, see [`super::isolate`]), quality
//! assessment, duplicate checks, chunking. Shared by file jobs and uploads. Writes
//! nothing: the caller commits the result atomically.

use super::{DocOutcome, IngestOptions};
use crate::engine::now_ms;
use crate::{Engine, Error, Result};
use cairn_ingest::{Format, chunk::chunker_for, quality};
use cairn_store::DocumentCommit;
use cairn_types::{
    Chunk, ChunkDraft, ChunkId, ChunkRole, Collection, CollectionId, DocStatus, Document,
    DocumentId, ErrorCode, QualityFlags, TenantId,
};

/// Where the bytes came from.
pub(crate) struct SourceInfo<'a> {
    /// Unique key within the collection (canonical path or upload name).
    pub source: &'a str,
    /// Name used for format detection and as the fallback title.
    pub file_name: &'a str,
    pub mtime: i64,
}

/// The result of processing, ready to commit.
pub(crate) enum Prepared {
    /// Same content hash as the stored document: only the mtime needs recording.
    Unchanged(DocumentId),
    /// A new or changed document with its complete chunk set.
    Commit {
        commit: Box<DocumentCommit>,
        outcome: DocOutcome,
    },
}

impl Engine {
    /// Refuses a source larger than `ingest.max_file_bytes` with `too_large`.
    pub fn check_size(&self, source: &str, len: u64) -> Result<()> {
        let limit = self.config.ingest.max_file_bytes;
        if len > limit {
            return Err(Error::new(
                ErrorCode::TooLarge,
                format!("{source}: {len} bytes exceeds ingest.max_file_bytes ({limit})"),
            ));
        }
        Ok(())
    }

    pub(crate) fn prepare_document(
        &self,
        tenant: &TenantId,
        collection: &Collection,
        info: &SourceInfo<'_>,
        bytes: &[u8],
        opts: &IngestOptions,
    ) -> Result<Prepared> {
        let force = opts.force;
        self.check_size(info.source, bytes.len() as u64)?;
        let hash = opts
            .content_hash
            .clone()
            .unwrap_or_else(|| cairn_ingest::content_hash(bytes));
        let existing = self
            .store
            .find_by_source(tenant, &collection.id, info.source)?;
        if let Some(doc) = existing
            .as_ref()
            .filter(|d| d.content_hash == hash && !force)
        {
            return Ok(Prepared::Unchanged(doc.id.clone()));
        }
        let format = Format::sniff(info.file_name, bytes)?;
        // In a child process killed at the time limit (`ingest.parse_isolation`).
        let mut parsed =
            tracing::info_span!("ingest.parse", cairn.bytes = bytes.len()).in_scope(|| {
                super::isolate::parse(&self.config.ingest, format, bytes, info.file_name)
            })?;
        let pii = opts.guard.as_ref().map(|g| redact_pii(g, &mut parsed));
        let q = &self.config.ingest.quality;
        let policy = quality::QualityPolicy {
            min_chars: q.min_chars,
            link_ratio_threshold: q.link_ratio_threshold,
            near_dup_max_distance: q.near_dup_max_distance,
        };
        let mut flags = quality::assess(&parsed, &policy);
        // An upload is indexed however short it is (its flag stays, for reports).
        let skip_near_empty = q.skip_near_empty && !opts.deliberate;
        flags.duplicate_of = self
            .store
            .find_by_hash(tenant, &collection.id, &hash, info.source)?
            .map(|d| d.id);
        if flags.duplicate_of.is_none() && !flags.near_empty {
            let others = self.store.document_summaries(tenant, &collection.id)?;
            let candidates = others
                .iter()
                .filter(|o| o.source != info.source)
                .map(|o| (&o.id, o.simhash));
            flags.near_duplicate_of =
                quality::find_near_duplicate(flags.simhash, candidates, q.near_dup_max_distance);
        }
        let skip = (flags.near_empty && skip_near_empty)
            || (flags.mostly_links && q.skip_mostly_links)
            || (flags.duplicate_of.is_some() && q.skip_duplicates);
        let drafts = if skip {
            Vec::new()
        } else {
            chunker_for(&collection.chunking, self.token_counter()?).chunk(&parsed)
        };
        let now = now_ms();
        let id = existing
            .as_ref()
            .map_or_else(DocumentId::generate, |d| d.id.clone());
        let mut metadata = serde_json::Map::new();
        if let Some(p) = parsed.pages {
            metadata.insert("pages".into(), p.into());
        }
        if !parsed.warnings.is_empty() {
            metadata.insert("warnings".into(), parsed.warnings.clone().into());
        }
        metadata.extend(opts.metadata.clone());
        if let Some(found) = pii.filter(|f| !f.is_empty()) {
            // What the ingest guardrail found (kinds and counts; never the values).
            metadata.insert("pii".into(), serde_json::json!(found));
        }
        let chunks = chunks_from_drafts(tenant, &collection.id, &id, drafts);
        let title = parsed
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| file_stem(info.file_name));
        let outcome = match (&existing, skip) {
            (_, true) => DocOutcome::Skipped,
            (Some(_), false) => DocOutcome::Updated,
            (None, false) => DocOutcome::Added,
        };
        let doc = Document {
            tenant: tenant.clone(),
            id,
            collection: collection.id.clone(),
            source: info.source.to_owned(),
            title,
            format: format.as_str().to_owned(),
            content_hash: hash,
            mtime: info.mtime,
            size_bytes: bytes.len() as u64,
            metadata: serde_json::Value::Object(metadata),
            acl: opts.acl.clone(),
            status: if skip {
                DocStatus::Skipped
            } else {
                DocStatus::Indexed
            },
            quality: flags,
            chunk_count: chunks.len(),
            owner: opts.owner.clone(),
            created_at: existing.as_ref().map_or(now, |d| d.created_at),
            updated_at: now,
        };
        let embeddings = if skip {
            Vec::new()
        } else {
            tracing::info_span!(
                "ingest.embed",
                openinference.span.kind = cairn_telemetry::names::kind::EMBEDDING,
                gen_ai.operation.name = "embeddings",
                cairn.chunks = chunks.len(),
            )
            .in_scope(|| self.embed_chunks(&chunks))?
        };
        let commit = DocumentCommit {
            doc,
            chunks,
            job: None,
            idempotency: None,
            embeddings,
            parsed: Some(parsed),
            upload: None,
        };
        Ok(Prepared::Commit {
            commit: Box::new(commit),
            outcome,
        })
    }
}

/// Chunk rows for a document's drafts: ids and parent links from `id` and the ordinals.
pub(crate) fn chunks_from_drafts(
    tenant: &TenantId,
    collection: &CollectionId,
    id: &DocumentId,
    drafts: Vec<ChunkDraft>,
) -> Vec<Chunk> {
    drafts
        .into_iter()
        .enumerate()
        .map(|(ordinal, d)| Chunk {
            tenant: tenant.clone(),
            id: ChunkId::for_position(id, ordinal),
            document: id.clone(),
            collection: collection.clone(),
            ordinal,
            text: d.text,
            heading_path: d.heading_path,
            token_count: d.token_count,
            role: d.role,
            parent: d.parent.map(|p| ChunkId::for_position(id, p)),
            page: d.page,
        })
        .collect()
}

impl Engine {
    /// Embeddings of the search targets among `chunks` (leaves and children; parents are
    /// context only), computed before the commit so they are stored atomically with it.
    pub(crate) fn embed_chunks(&self, chunks: &[Chunk]) -> Result<Vec<Option<Vec<f32>>>> {
        let targets: Vec<(usize, String)> = chunks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.role != ChunkRole::Parent)
            .map(|(i, c)| (i, crate::index::embedding_text(&c.heading_path, &c.text)))
            .collect();
        let mut out = vec![None; chunks.len()];
        if targets.is_empty() {
            return Ok(out);
        }
        let texts: Vec<&str> = targets.iter().map(|(_, t)| t.as_str()).collect();
        let vectors = self.embedder()?.embed(&texts)?.vectors;
        for ((i, _), v) in targets.iter().zip(vectors) {
            out[*i] = Some(v);
        }
        Ok(out)
    }
}

/// Why a document was skipped, for reports.
pub(crate) fn skip_reason(flags: &QualityFlags) -> &'static str {
    if flags.duplicate_of.is_some() {
        "exact duplicate"
    } else if flags.near_empty {
        "near-empty"
    } else if flags.mostly_links {
        "mostly links"
    } else {
        "quality policy"
    }
}

fn file_stem(name: &str) -> String {
    std::path::Path::new(name)
        .file_stem()
        .map_or_else(|| name.to_owned(), |s| s.to_string_lossy().into_owned())
}

/// Applies the ingest PII policy to the title and every block; returns the count of
/// findings per category (`pii:email`…), values left out.
fn redact_pii(
    guard: &cairn_guard::Guard,
    parsed: &mut cairn_types::ParsedDoc,
) -> std::collections::BTreeMap<String, usize> {
    let mut found = std::collections::BTreeMap::new();
    let mut apply = |text: &mut String| {
        let (out, decisions) = guard.redact_ingest(text);
        for d in decisions {
            *found.entry(d.category).or_insert(0) += 1;
        }
        *text = out;
    };
    if let Some(t) = parsed.title.as_mut() {
        apply(t);
    }
    for b in &mut parsed.blocks {
        apply(&mut b.text);
    }
    found
}

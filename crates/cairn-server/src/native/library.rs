//! Collections, documents (multipart upload with an idempotency key, ingested in the
//! request or stored with a durable job; list, get, delete) and jobs with progress.

use crate::auth::{Can, Identity, perm};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::settings::TenantSettings;
use crate::state::{AppState, blocking};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::{Extension, Json};
use cairn_engine::security::AuditEvent;
use cairn_engine::{CommitGate, UploadAccepted, UploadRequest};
use cairn_store::AclViewer;
use cairn_store::JobFilter;
use cairn_types::{
    ChunkingSpec, CollectionId, Document, DocumentId, ErrorCode, Job, JobId, JobKind, JobState,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// `POST /api/v1/collections`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCollection {
    /// A slug: lowercase letters, digits, `-` and `_`.
    pub id: String,
    #[serde(default)]
    pub description: String,
    /// Chunking settings (default: the configured `[chunking]`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub chunking: Option<ChunkingSpec>,
}

/// Creates a collection.
#[utoipa::path(post, path = "/api/v1/collections", tag = "collections", request_body = NewCollection,
    responses((status = 201, body = Object), (status = 400, body = Object), (status = 409, description = "Exists", body = Object)))]
pub async fn create_collection(
    State(state): State<AppState>,
    caller: Can<perm::ManageCollections>,
    ApiJson(req): ApiJson<NewCollection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = caller.0;
    let c = blocking(&state, move |e, _| {
        let c = e.create_collection(
            &id.tenant,
            &CollectionId::new(req.id),
            &req.description,
            req.chunking,
        )?;
        audit(e, &id, "collections.create", c.id.as_str(), json!({}));
        Ok(c)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!(c))))
}

/// Lists collections (not the ones holding conversations' attached files).
#[utoipa::path(get, path = "/api/v1/collections", tag = "collections",
    responses((status = 200, description = "`{\"data\": [collection...]}`", body = Object)))]
pub async fn list_collections(
    State(state): State<AppState>,
    caller: Can<perm::ReadDocuments>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    let list = blocking(&state, move |e, _| {
        let mut all = e.store().list_collections(&tenant)?;
        // Conversations' attached files are listed with their conversation.
        all.retain(|c| {
            !cairn_engine::answer::attachments::is_attachments_collection(c.id.as_str())
        });
        Ok(all)
    })
    .await?;
    Ok(Json(json!({ "data": list })))
}

/// One collection with its document and chunk counts.
#[utoipa::path(get, path = "/api/v1/collections/{collection}", tag = "collections",
    params(("collection" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn get_collection(
    State(state): State<AppState>,
    caller: Can<perm::ReadDocuments>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let id = CollectionId::new(id);
        let c = e.store().get_collection(&who.tenant, &id)?;
        let mut v = json!(c);
        // Counts would tell a restricted caller how much it cannot see.
        if who.principal.all_documents {
            v["chunk_count"] = json!(e.store().count_chunks(&who.tenant, Some(&id))?);
        }
        Ok(Json(v))
    })
    .await
}

/// Deletes a collection, its documents, jobs and index.
#[utoipa::path(delete, path = "/api/v1/collections/{collection}", tag = "collections",
    params(("collection" = String, Path)),
    responses((status = 204), (status = 404, body = Object)))]
pub async fn delete_collection(
    State(state): State<AppState>,
    caller: Can<perm::ManageCollections>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.0;
    if !who.principal.all_documents {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "deleting a collection removes documents outside your ACL view; it needs a role \
             that sees every document (admin or owner)",
        ));
    }
    blocking(&state, move |e, _| {
        e.delete_collection(&who.tenant, &CollectionId::new(id.clone()))?;
        audit(e, &who, "collections.delete", &id, json!({}));
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// How an upload is answered.
#[derive(Debug, Deserialize, IntoParams)]
pub struct UploadQuery {
    /// `false`: store the file with a durable job and answer `202` with the job at once
    /// (as `Prefer: respond-async` does); default `true`: ingest it before answering.
    pub wait: Option<bool>,
}

/// Whether a `Prefer` header (RFC 7240) asks for `respond-async`.
pub(crate) fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|pref| {
            pref.split(';')
                .next()
                .is_some_and(|token| token.trim().eq_ignore_ascii_case("respond-async"))
        })
}

/// What the upload handler answers.
enum Uploaded {
    Document(Document),
    Queued(Job),
}

/// Uploads one document (multipart field `file`; optional fields `acl` and `metadata`
/// holding JSON). By default it is ingested before the answer, `201` with the document.
/// With `Prefer: respond-async` or `?wait=false` the file and a durable ingest job are
/// stored (in the store every server and worker shares) and the answer is `202` with
/// the job (`Location: /api/v1/jobs/{id}`, which to poll); the collection must exist
/// then. An `Idempotency-Key` header makes retries safe: the same key with the same
/// upload returns the stored document (`201`; an asynchronous retry whose job is still
/// pending gets that job, `202`), with another upload `409`.
#[utoipa::path(post, path = "/api/v1/collections/{collection}/documents", tag = "documents",
    params(("collection" = String, Path), ("Idempotency-Key" = Option<String>, Header),
           ("Prefer" = Option<String>, Header, description = "`respond-async`: answer 202 with a job instead of waiting"),
           UploadQuery),
    request_body(content_type = "multipart/form-data", content = crate::schemas::UploadForm),
    responses((status = 201, description = "The stored document", body = Object),
              (status = 202, description = "`{\"job\": job}`: stored with its ingest job (asynchronous upload); `Location` names the job",
               body = Object, headers(("Location" = String, description = "`/api/v1/jobs/{id}`"))),
              (status = 404, description = "No such collection (asynchronous upload)", body = Object),
              (status = 409, body = Object), (status = 413, body = Object),
              (status = 415, body = Object), (status = 422, description = "Corrupt or empty file", body = Object)))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Can<perm::WriteDocuments>,
    Extension(settings): Extension<Arc<TenantSettings>>,
    Path(collection): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Value>)> {
    let prefer_async = prefers_async(&headers);
    let asynchronous = prefer_async || query.wait == Some(false);
    let key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| ApiError::invalid("Idempotency-Key must be ASCII"))
        })
        .transpose()?;
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 255) {
        return Err(ApiError::invalid(
            "Idempotency-Key must be 1-255 characters",
        ));
    }
    if cairn_engine::answer::attachments::is_attachments_collection(&collection) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this collection holds a conversation's attached files: attach through \
             /api/v1/conversations/{conversation}/attachments",
        ));
    }
    let form =
        super::spool::read_form(multipart, &state.engine.config().data_dir.join("tmp"), true)
            .await?;
    let (name, spooled, acl, metadata) = (
        form.name,
        form.file,
        form.acl.unwrap_or_default(),
        form.metadata,
    );
    let who = caller.0;
    let uploaded = blocking(&state, move |e, cancel| {
        let coll = CollectionId::new(collection);
        // Re-uploading a name replaces that document: only for someone who can see it.
        if let Some(existing) = e
            .store()
            .find_by_source(&who.tenant, &coll, &format!("upload:{name}"))?
            && !who.principal.can_read(&existing.acl)
        {
            audit(e, &who, "documents.upload", &name, json!({"refused": "not visible"}));
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("an upload named `{name}` already exists in this collection; choose another name"),
            ));
        }
        // Only a file the engine may take is read into memory (once).
        e.check_size(&format!("upload:{name}"), spooled.len)?;
        let bytes = spooled.read().map_err(|err| {
            ApiError::new(
                ErrorCode::Internal,
                format!("could not read the spooled upload: {err}"),
            )
        })?;
        let may_commit = || cancel.begin_commit();
        let req = UploadRequest {
            name: &name,
            bytes: &bytes,
            content_hash: Some(&spooled.sha256),
            commit_gate: Some(CommitGate(&may_commit)),
            idempotency_key: key.as_deref(),
            acl,
            metadata,
            owner: who.principal.owner.clone(),
            guard: Some(settings.guard.clone()),
        };
        let uploaded = if asynchronous {
            match e.enqueue_upload(&who.tenant, &coll, &req)? {
                UploadAccepted::Queued(job) => Uploaded::Queued(job),
                UploadAccepted::Done(doc) => Uploaded::Document(doc),
            }
        } else {
            Uploaded::Document(e.ingest_bytes(&who.tenant, &coll, &req)?)
        };
        match &uploaded {
            Uploaded::Document(doc) => audit(
                e,
                &who,
                "documents.upload",
                doc.id.as_str(),
                json!({"collection": coll.as_str(), "source": doc.source, "bytes": doc.size_bytes}),
            ),
            Uploaded::Queued(job) => audit(
                e,
                &who,
                "documents.upload",
                job.id.as_str(),
                json!({"collection": coll.as_str(), "source": job.kind.target(),
                       "bytes": spooled.len, "job": job.id.as_str()}),
            ),
        }
        // The spooled file goes when this closure returns, before the answer: from then
        // on the bytes live in the store only.
        Ok(uploaded)
    })
    .await?;
    Ok(match uploaded {
        Uploaded::Document(doc) => (StatusCode::CREATED, HeaderMap::new(), Json(json!(doc))),
        Uploaded::Queued(job) => {
            let mut headers = HeaderMap::new();
            if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/jobs/{}", job.id)) {
                headers.insert(header::LOCATION, location);
            }
            if prefer_async {
                headers.insert(
                    "preference-applied",
                    HeaderValue::from_static("respond-async"),
                );
            }
            (StatusCode::ACCEPTED, headers, Json(json!({ "job": job })))
        }
    })
}

/// Paging of listings.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Page {
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// Lists a collection's documents.
#[utoipa::path(get, path = "/api/v1/collections/{collection}/documents", tag = "documents",
    params(("collection" = String, Path), Page),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn list_documents(
    State(state): State<AppState>,
    caller: Can<perm::ReadDocuments>,
    Path(collection): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let id = CollectionId::new(collection);
        let tenant = &who.tenant;
        e.store().get_collection(tenant, &id)?;
        let (limit, offset) = (
            page.limit.unwrap_or(100).clamp(1, 1_000),
            page.offset.unwrap_or(0),
        );
        let docs = match viewer(&who) {
            None => e.store().list_documents(tenant, Some(&id), limit, offset)?,
            Some(v) => e
                .store()
                .list_documents_for(tenant, Some(&id), &v, limit, offset)?,
        };
        Ok(Json(json!({ "data": docs })))
    })
    .await
}

/// What `GET /api/v1/documents/{document}` includes.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct DocumentQuery {
    /// Also the document's text (`text`): its parsed text as kept at ingest, else its
    /// chunks in order.
    #[serde(default)]
    pub text: bool,
}

/// One document.
#[utoipa::path(get, path = "/api/v1/documents/{document}", tag = "documents",
    params(("document" = String, Path), DocumentQuery),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn get_document(
    State(state): State<AppState>,
    caller: Can<perm::ReadDocuments>,
    Path(id): Path<String>,
    Query(q): Query<DocumentQuery>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let doc = visible_document(e, &who, &id)?;
        audit(e, &who, "documents.read", doc.id.as_str(), json!({}));
        let mut v = json!(doc);
        if q.text {
            v["text"] = json!(e.document_text(&doc)?);
        }
        Ok(Json(v))
    })
    .await
}

/// Deletes a document and its chunks (the index follows on the next search).
#[utoipa::path(delete, path = "/api/v1/documents/{document}", tag = "documents",
    params(("document" = String, Path)),
    responses((status = 204), (status = 404, body = Object)))]
pub async fn delete_document(
    State(state): State<AppState>,
    caller: Can<perm::DeleteDocuments>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let doc = visible_document(e, &who, &id)?;
        e.store().delete_document(&who.tenant, &doc.id)?;
        audit(
            e,
            &who,
            "documents.delete",
            doc.id.as_str(),
            json!({"collection": doc.collection.as_str(), "source": doc.source}),
        );
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Job listing filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct JobQuery {
    pub collection: Option<String>,
    /// `queued`, `running`, `succeeded` or `dead`.
    pub state: Option<String>,
    /// Jobs of one `cairn ingest` run.
    pub batch: Option<String>,
    pub limit: Option<usize>,
}

/// Lists ingest jobs, newest first, with progress counts per state.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, description = "`{\"data\": [job...], \"progress\": {state: count}}`", body = Object)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    caller: Can<perm::ReadJobs>,
    Query(q): Query<JobQuery>,
) -> ApiResult<Json<Value>> {
    let job_state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(JobState::parse(s).ok_or_else(|| {
            ApiError::invalid(format!("unknown job state `{s}`")).with_param("state")
        })?),
    };
    let who = caller.0;
    blocking(&state, move |e, _| {
        let tenant = &who.tenant;
        let filter = JobFilter {
            state: job_state,
            batch: q.batch.clone(),
            collection: q.collection.map(CollectionId::new),
            limit: q.limit.unwrap_or(100).clamp(1, 1_000),
        };
        let mut progress = serde_json::Map::new();
        let jobs = match viewer(&who) {
            None => {
                if let Some(batch) = &q.batch {
                    for (s, n) in e.store().batch_counts(tenant, batch)? {
                        progress.insert(s.as_str().to_owned(), json!(n));
                    }
                }
                e.store().list_jobs(tenant, &filter)?
            }
            Some(v) => {
                let jobs = e.store().list_jobs_for(tenant, &filter, &v)?;
                if q.batch.is_some() {
                    for j in &jobs {
                        let n = progress.entry(j.state.as_str()).or_insert(json!(0));
                        *n = json!(n.as_u64().unwrap_or(0) + 1);
                    }
                }
                jobs
            }
        };
        Ok(Json(json!({ "data": jobs, "progress": progress })))
    })
    .await
}

/// One job: state, attempts, last error, the document it produced.
#[utoipa::path(get, path = "/api/v1/jobs/{job}", tag = "jobs", params(("job" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn get_job(
    State(state): State<AppState>,
    caller: Can<perm::ReadJobs>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let job = e.store().get_job(&who.tenant, &JobId::new(id.clone()))?;
        if !job_visible(&who, &job) {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("job `{id}` not found"),
            ));
        }
        Ok(Json(json!(job)))
    })
    .await
}

/// The ACL filter for a caller's listings (`None`: sees everything).
fn viewer(who: &Identity) -> Option<AclViewer> {
    (!who.principal.all_documents).then(|| AclViewer {
        user: who.principal.user.clone(),
        groups: who.principal.groups.clone(),
    })
}

/// The document, if the caller's ACL view includes it; `not_found` otherwise, exactly
/// as for an id that does not exist.
fn visible_document(e: &cairn_engine::Engine, who: &Identity, id: &str) -> ApiResult<Document> {
    match e.store().get_document(&who.tenant, &DocumentId::new(id)) {
        Ok(d) if who.principal.can_read(&d.acl) => Ok(d),
        Ok(_) | Err(cairn_store::Error::NotFound { .. }) => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("document `{id}` not found"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A job is visible to whoever may read the document it ingests, and an upload's job
/// also to its uploader (who may upload for others only).
fn job_visible(who: &Identity, job: &Job) -> bool {
    let uploader = match &job.kind {
        JobKind::IngestFile { .. } => None,
        JobKind::IngestUpload { owner, .. } => owner.as_deref(),
    };
    who.principal.can_read(job.kind.acl())
        || uploader.is_some_and(|o| who.principal.owner.as_deref() == Some(o))
}

/// Audits an action of the caller's.
pub(crate) fn audit(
    e: &cairn_engine::Engine,
    who: &Identity,
    action: &str,
    target: &str,
    detail: Value,
) {
    e.audit_or_log(AuditEvent {
        tenant: &who.tenant,
        actor: &who.actor,
        action,
        target,
        outcome: "ok",
        detail,
    });
}

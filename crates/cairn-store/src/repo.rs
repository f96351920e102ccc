//! Repository traits. Every method that reads or writes tenant data takes the tenant.
//! Times are Unix milliseconds supplied by the caller, so tests control the clock.

use crate::Result;
use cairn_types::{
    AnswerId, Chunk, ChunkId, ChunkingSpec, Collection, CollectionId, Conversation, ConversationId,
    Document, DocumentId, ErrorCode, Feedback, Job, JobId, JobKind, JobState, Message, MessageRole,
    StoredAnswer, Tenant, TenantId,
};

/// Tenants.
pub trait TenantRepo {
    /// Creates the tenant if missing; returns it either way.
    fn ensure_tenant(&self, id: &TenantId, name: &str, now: i64) -> Result<Tenant>;
    fn get_tenant(&self, id: &TenantId) -> Result<Tenant>;
    fn list_tenants(&self) -> Result<Vec<Tenant>>;
}

/// Collections.
pub trait CollectionRepo {
    /// Fails with `Conflict` if the collection exists.
    fn create_collection(
        &self,
        tenant: &TenantId,
        id: &CollectionId,
        description: &str,
        chunking: &ChunkingSpec,
        now: i64,
    ) -> Result<Collection>;
    fn get_collection(&self, tenant: &TenantId, id: &CollectionId) -> Result<Collection>;
    fn list_collections(&self, tenant: &TenantId) -> Result<Vec<Collection>>;
    /// Deletes the collection with its documents, chunks and jobs.
    fn delete_collection(&self, tenant: &TenantId, id: &CollectionId) -> Result<()>;
}

/// What change detection needs to know about a stored document without loading it.
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentSummary {
    pub id: DocumentId,
    pub source: String,
    pub content_hash: String,
    pub mtime: i64,
    pub size_bytes: u64,
    pub simhash: u64,
}

/// A document with its complete new chunk set, written atomically.
#[derive(Clone, Debug)]
pub struct DocumentCommit {
    /// Inserted, or replacing the row with the same (tenant, collection, source); on
    /// replace the stored id and `created_at` are kept and `doc.id` is ignored.
    pub doc: Document,
    /// The complete chunk set (ids derived from the final document id by the store:
    /// `ChunkId::for_position(doc_id, ordinal)`; `parent` given as the parent's ordinal
    /// through `Chunk::parent = Some(ChunkId::for_position(doc.id, parent_ordinal))`
    /// using `doc.id`, which the store rewrites to the final id).
    pub chunks: Vec<Chunk>,
    /// The job that produced it: marked `succeeded` in the same transaction.
    pub job: Option<JobId>,
    /// An upload's idempotency key: recorded in the same transaction, pointing at the
    /// final document id (`IdempotencyRecord::document` is ignored). A key already stored
    /// with another `request_hash` fails the whole commit with `Conflict`.
    pub idempotency: Option<IdempotencyRecord>,
    /// One embedding per chunk, in `chunks` order (`None` for chunks that are not
    /// search targets, e.g. parent sections), or empty when none were computed. Stored
    /// with the chunk so an index can be rebuilt without re-embedding.
    pub embeddings: Vec<Option<Vec<f32>>>,
    /// The parsed text the chunks were cut from, kept (replacing any earlier version) so
    /// the document can be chunked again without its bytes (`cairn collections reindex`).
    pub parsed: Option<cairn_types::ParsedDoc>,
    /// The stored upload whose bytes this commit ingested ([`crate::upload`]): deleted in
    /// the same transaction. Such a commit also keeps the uploads of one source in the
    /// order they were received: `doc.mtime` is when this upload was received, and if the
    /// stored document of the same source has a later `mtime` (a later upload is already
    /// stored), that document is left as it is. Only the job's completion (pointing at
    /// it, 0 chunks), the idempotency key and the upload's deletion are written then, and
    /// the stored document is returned.
    pub upload: Option<cairn_types::UploadId>,
}

/// Documents and their chunks.
pub trait DocumentRepo {
    /// Atomically upserts the document, replaces all its chunks, completes the job and
    /// records the idempotency key. Returns the stored document (with its final id).
    fn commit_document(
        &self,
        tenant: &TenantId,
        commit: DocumentCommit,
        now: i64,
    ) -> Result<Document>;
    /// Records a new mtime for an unchanged document and completes the job, atomically.
    fn touch_document(
        &self,
        tenant: &TenantId,
        id: &DocumentId,
        mtime: i64,
        job: Option<&JobId>,
        now: i64,
    ) -> Result<()>;
    fn get_document(&self, tenant: &TenantId, id: &DocumentId) -> Result<Document>;
    fn find_by_source(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        source: &str,
    ) -> Result<Option<Document>>;
    /// Another indexed document in the collection with this content hash, if any.
    fn find_by_hash(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        content_hash: &str,
        excluding_source: &str,
    ) -> Result<Option<DocumentSummary>>;
    /// All documents of a collection (for change detection, sync and near-dup checks).
    fn document_summaries(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
    ) -> Result<Vec<DocumentSummary>>;
    /// Documents ordered by source; `collection = None` lists the whole tenant, ordered by
    /// collection, then source.
    fn list_documents(
        &self,
        tenant: &TenantId,
        collection: Option<&CollectionId>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Document>>;
    /// [`Self::list_documents`] restricted to what `viewer`'s ACL identity may read
    /// (documents with an empty ACL, or naming the user or one of the groups), filtered
    /// in SQL so paging stays exact.
    fn list_documents_for(
        &self,
        tenant: &TenantId,
        collection: Option<&CollectionId>,
        viewer: &AclViewer,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Document>>;
    /// Deletes the document and its chunks. `NotFound` if absent in this tenant.
    fn delete_document(&self, tenant: &TenantId, id: &DocumentId) -> Result<()>;
    /// The document's chunks in ordinal order.
    fn list_chunks(&self, tenant: &TenantId, document: &DocumentId) -> Result<Vec<Chunk>>;
    /// Number of chunks in a collection (or the whole tenant).
    fn count_chunks(&self, tenant: &TenantId, collection: Option<&CollectionId>) -> Result<usize>;
}

/// One entry of the index change log: the document changed (committed or deleted) at
/// this sequence number.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexChange {
    pub seq: i64,
    pub document: DocumentId,
}

/// What an index needs to (re)index some documents: the documents that still exist and
/// their chunks with stored embeddings. A requested document absent here was deleted.
#[derive(Clone, Debug, Default)]
pub struct IndexBatch {
    pub documents: Vec<Document>,
    pub chunks: Vec<IndexedChunk>,
}

/// A chunk with its stored embedding.
#[derive(Clone, Debug)]
pub struct IndexedChunk {
    pub chunk: Chunk,
    pub embedding: Option<Vec<f32>>,
}

/// The feed search indexes follow. Every chunk write and document delete appends to a
/// change log in the same transaction, so an index that records the last sequence it
/// applied can always catch up (or rebuild) from the store, which stays the truth.
pub trait IndexFeedRepo {
    /// The newest change sequence of a collection (0 when it has none); never below the
    /// log's pruned floor, so it never goes back.
    fn index_head(&self, tenant: &TenantId, collection: &CollectionId) -> Result<i64>;
    /// Changes after `after`, oldest first, at most `limit`.
    fn index_changes(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<IndexChange>>;
    /// Ids of the collection's indexed documents after `after` (by id), at most `limit`:
    /// pages through a collection for a full rebuild.
    fn index_documents(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<DocumentId>>;
    /// The given documents (those that still exist) with all their chunks, and the
    /// chunks' embeddings when `with_embeddings`.
    fn index_batch(
        &self,
        tenant: &TenantId,
        documents: &[DocumentId],
        with_embeddings: bool,
    ) -> Result<IndexBatch>;
    /// Chunks by id (missing ids are left out), in the order given.
    fn get_chunks(&self, tenant: &TenantId, ids: &[ChunkId]) -> Result<Vec<Chunk>>;
    /// Documents by id (missing ids are left out), in the order given.
    fn get_documents(&self, tenant: &TenantId, ids: &[DocumentId]) -> Result<Vec<Document>>;
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub collection: CollectionId,
    pub batch: String,
    pub kind: JobKind,
    pub max_attempts: u32,
}

/// The ACL identity a listing is filtered for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclViewer {
    pub user: Option<String>,
    pub groups: Vec<String>,
}

/// Which jobs to list.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub batch: Option<String>,
    pub collection: Option<CollectionId>,
    /// At most this many, newest first; 0 means no limit.
    pub limit: usize,
}

/// Durable jobs. A job is leased by one worker at a time; a lease that expires or whose
/// owner died is reclaimed and the job runs again.
pub trait JobRepo {
    /// Enqueues jobs, skipping any whose (collection, kind) equals an already queued or
    /// running job's. Returns the ids of the jobs actually enqueued.
    fn enqueue(&self, tenant: &TenantId, jobs: &[NewJob], now: i64) -> Result<Vec<JobId>>;
    /// Atomically leases the oldest runnable job (queued, `run_after <= now`) of any
    /// tenant, restricted to `batch` if given: sets it running, owner, lease expiry, and
    /// increments `attempts`.
    fn claim(
        &self,
        owner: &str,
        lease_ms: i64,
        batch: Option<&str>,
        now: i64,
    ) -> Result<Option<Job>>;
    /// Extends the lease of a running job held by `owner`; `Conflict` if it no longer is.
    fn heartbeat(
        &self,
        tenant: &TenantId,
        id: &JobId,
        owner: &str,
        lease_ms: i64,
        now: i64,
    ) -> Result<()>;
    /// Records a failure: back to `queued` with `run_after = retry_at`, or `dead` when
    /// `retry_at` is `None` or the attempts are used up. A job that already succeeded or
    /// is dead is left as it is. Returns the job's state afterwards.
    fn fail_job(
        &self,
        tenant: &TenantId,
        id: &JobId,
        code: ErrorCode,
        message: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<JobState>;
    /// Marks a job succeeded without a document (e.g. a file skipped by policy).
    /// `succeeded` is final: a job already succeeded or dead is left as it is.
    fn complete_job(&self, tenant: &TenantId, id: &JobId, now: i64) -> Result<()>;
    fn get_job(&self, tenant: &TenantId, id: &JobId) -> Result<Job>;
    fn list_jobs(&self, tenant: &TenantId, filter: &JobFilter) -> Result<Vec<Job>>;
    /// [`Self::list_jobs`] restricted to jobs whose ingest ACL admits `viewer`.
    fn list_jobs_for(
        &self,
        tenant: &TenantId,
        filter: &JobFilter,
        viewer: &AclViewer,
    ) -> Result<Vec<Job>>;
    /// Re-queues a dead job with fresh attempts. `Conflict` if it is not dead.
    fn retry_job(&self, tenant: &TenantId, id: &JobId, now: i64) -> Result<()>;
    /// Owners of currently running jobs (to check which are still alive).
    fn running_owners(&self) -> Result<Vec<String>>;
    /// How many jobs of every tenant are in each state (metrics), by state name.
    fn job_state_counts(&self) -> Result<Vec<(String, u64)>>;
    /// Re-queues running jobs whose lease expired before `now` or whose owner is listed
    /// in `dead_owners`; a job that has used all its attempts goes to the dead letter
    /// instead (code `internal`), so a file that kills its worker cannot loop forever.
    /// Returns how many jobs were reclaimed either way.
    fn reclaim(&self, dead_owners: &[String], now: i64) -> Result<usize>;
    /// Jobs of a collection still queued or running (how workers know a run is done).
    fn pending_count(&self, tenant: &TenantId, collection: &CollectionId) -> Result<usize>;
    /// Counts per state for a batch.
    fn batch_counts(&self, tenant: &TenantId, batch: &str) -> Result<Vec<(JobState, usize)>>;
}

/// A stored idempotency key: the hash of the request it first guarded and its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct IdempotencyRecord {
    pub key: String,
    /// Hash of the request body the key was first used with.
    pub request_hash: String,
    pub document: DocumentId,
}

/// Idempotency keys for uploads.
pub trait IdempotencyRepo {
    fn get_idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<IdempotencyRecord>>;
}

/// Conversations and their messages. Every method is tenant-scoped: another tenant's
/// conversation id is `NotFound`.
pub trait ConversationRepo {
    fn create_conversation(&self, conversation: &Conversation) -> Result<()>;
    fn get_conversation(&self, tenant: &TenantId, id: &ConversationId) -> Result<Conversation>;
    /// Most recently updated first; `owner` restricts to one owner's (None: all).
    fn list_conversations(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Conversation>>;
    /// Conversations whose title or any message contains `query` (case-insensitive for
    /// ASCII), most recently updated first; `owner` as in `list_conversations`.
    fn search_conversations(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Conversation>>;
    /// Sets the title (the conversation keeps its place in the recent list); returns the
    /// renamed conversation (`NotFound` outside its tenant).
    fn rename_conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        title: &str,
    ) -> Result<Conversation>;
    /// Deletes the conversation and its messages; its recorded answers stay, unlinked.
    fn delete_conversation(&self, tenant: &TenantId, id: &ConversationId) -> Result<()>;
    /// Appends messages in one transaction; returns them with their sequence numbers.
    fn append_messages(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        messages: &[(MessageRole, String, Option<AnswerId>)],
        now: i64,
    ) -> Result<Vec<Message>>;
    fn list_messages(&self, tenant: &TenantId, id: &ConversationId) -> Result<Vec<Message>>;
    /// Stores the running summary of the messages up to `through`.
    fn set_summary(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        summary: &str,
        through: i64,
        now: i64,
    ) -> Result<()>;
}

/// Recorded answers and feedback on them.
pub trait AnswerRepo {
    /// Records an answer; if it belongs to a conversation, the question and the answer
    /// are appended to it in the same transaction.
    fn record_answer(&self, answer: &StoredAnswer) -> Result<()>;
    fn get_answer(&self, tenant: &TenantId, id: &AnswerId) -> Result<StoredAnswer>;
    /// `NotFound` if the answer is not this tenant's.
    fn add_feedback(&self, feedback: &Feedback) -> Result<()>;
    fn list_feedback(&self, tenant: &TenantId, answer: &AnswerId) -> Result<Vec<Feedback>>;
    /// Answers recorded at or after `since` (Unix ms), oldest first, at most `limit`.
    fn answers_since(
        &self,
        tenant: &TenantId,
        since: i64,
        limit: usize,
    ) -> Result<Vec<StoredAnswer>>;
    /// Feedback given at or after `since` (Unix ms), oldest first, at most `limit`.
    fn feedback_since(&self, tenant: &TenantId, since: i64, limit: usize) -> Result<Vec<Feedback>>;
}

/// How a store's connections are used now (metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connections {
    /// Open and waiting for a caller.
    pub idle: usize,
    /// Lent to a caller now.
    pub in_use: usize,
    /// The most the store opens (`None`: no bound, e.g. SQLite's readers).
    pub max: Option<usize>,
}

/// A store's connection use.
pub trait ConnectionStats {
    fn connections(&self) -> Connections;
}

/// Everything the engine needs from a state store.
pub trait Store:
    TenantRepo
    + ConnectionStats
    + CollectionRepo
    + DocumentRepo
    + JobRepo
    + IdempotencyRepo
    + IndexFeedRepo
    + ConversationRepo
    + AnswerRepo
    + crate::security::IdentityRepo
    + crate::security::AuditRepo
    + crate::security::TenantDataRepo
    + crate::security::PrivacyRepo
    + crate::lifecycle::LifecycleRepo
    + crate::reindex::ReindexRepo
    + crate::session::SessionRepo
    + crate::assistant::AssistantRepo
    + crate::eval_run::EvalRunRepo
    + crate::agent::AgentRepo
    + crate::duty::DutyRepo
    + crate::replica::ReplicaRepo
    + crate::upload::UploadRepo
    + crate::shared_index::SharedIndexRepo
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: TenantRepo
        + ConnectionStats
        + CollectionRepo
        + DocumentRepo
        + JobRepo
        + IdempotencyRepo
        + IndexFeedRepo
        + ConversationRepo
        + AnswerRepo
        + crate::security::IdentityRepo
        + crate::security::AuditRepo
        + crate::security::TenantDataRepo
        + crate::security::PrivacyRepo
        + crate::lifecycle::LifecycleRepo
        + crate::reindex::ReindexRepo
        + crate::session::SessionRepo
        + crate::assistant::AssistantRepo
        + crate::eval_run::EvalRunRepo
        + crate::agent::AgentRepo
        + crate::duty::DutyRepo
        + crate::replica::ReplicaRepo
        + crate::upload::UploadRepo
        + crate::shared_index::SharedIndexRepo
        + Send
        + Sync
{
}

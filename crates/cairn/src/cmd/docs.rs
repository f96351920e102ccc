//! `cairn docs list|show|rm`

use super::{Context, st, time};
use cairn_types::{CollectionId, DocumentId};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum DocsCmd {
    /// List documents, ordered by source.
    List {
        #[arg(long, short)]
        collection: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Show one document, optionally with its chunks.
    Show {
        id: String,
        #[arg(long)]
        chunks: bool,
    },
    /// Remove a document and its chunks.
    Rm { id: String },
}

pub fn run(ctx: &Context, c: DocsCmd) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    let store = engine.store();
    let t = &ctx.tenant;
    match c {
        DocsCmd::List {
            collection,
            limit,
            offset,
        } => {
            let coll = collection.map(CollectionId::new);
            let docs = store
                .list_documents(t, coll.as_ref(), limit, offset)
                .map_err(st)?;
            if ctx.json {
                return ctx.print_json(&docs).map(|()| ExitCode::SUCCESS);
            }
            outln!(
                "{:<36}  {:<12} {:<8} {:>6}  {:<8}  SOURCE",
                "ID",
                "COLLECTION",
                "FORMAT",
                "CHUNKS",
                "STATUS"
            );
            for d in &docs {
                outln!(
                    "{:<36}  {:<12} {:<8} {:>6}  {:<8}  {}",
                    d.id,
                    d.collection,
                    d.format,
                    d.chunk_count,
                    d.status.as_str(),
                    d.source
                );
            }
            outln!("{} document(s)", docs.len());
        }
        DocsCmd::Show { id, chunks } => {
            let id = DocumentId::new(id);
            let doc = store.get_document(t, &id).map_err(st)?;
            let list = if chunks {
                store.list_chunks(t, &id).map_err(st)?
            } else {
                Vec::new()
            };
            if ctx.json {
                let v = serde_json::json!({ "document": doc, "chunks": list });
                return ctx.print_json(&v).map(|()| ExitCode::SUCCESS);
            }
            outln!("id          {}", doc.id);
            outln!("title       {}", doc.title);
            outln!("collection  {}", doc.collection);
            outln!("source      {}", doc.source);
            outln!(
                "format      {}  ({} bytes, sha256 {})",
                doc.format,
                doc.size_bytes,
                doc.content_hash
            );
            outln!(
                "status      {}  ({} chunks)",
                doc.status.as_str(),
                doc.chunk_count
            );
            outln!("updated     {} UTC", time(doc.updated_at));
            outln!(
                "acl         users {:?} groups {:?}",
                doc.acl.users,
                doc.acl.groups
            );
            outln!("quality     {}", serde_json::to_string(&doc.quality)?);
            outln!("metadata    {}", doc.metadata);
            for c in &list {
                outln!(
                    "\n--- chunk {} [{}] {} tokens · {}",
                    c.ordinal,
                    c.id,
                    c.token_count,
                    c.heading_path.join(" › ")
                );
                outln!("{}", c.text);
            }
        }
        DocsCmd::Rm { id } => {
            store
                .delete_document(t, &DocumentId::new(id.clone()))
                .map_err(st)?;
            if !ctx.json {
                outln!("removed {id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

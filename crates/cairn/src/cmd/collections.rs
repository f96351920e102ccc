//! `cairn collections list|create|show|rm`

use super::{Context, eng, fail, st, time};
use cairn_types::{ChunkerKind, ChunkingSpec, CollectionId, ErrorCode};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum CollectionsCmd {
    /// List collections.
    List,
    /// Create a collection with its chunking settings.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// recursive | sliding | structure | parent_child (default: chunking.strategy)
        #[arg(long)]
        chunker: Option<String>,
        #[arg(long)]
        max_tokens: Option<usize>,
        #[arg(long)]
        overlap_tokens: Option<usize>,
        #[arg(long)]
        child_tokens: Option<usize>,
    },
    /// Show a collection with its document and chunk counts.
    Show { name: String },
    /// Delete a collection with all its documents, chunks and jobs.
    Rm { name: String },
}

pub fn run(ctx: &Context, c: CollectionsCmd) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    let store = engine.store();
    let t = &ctx.tenant;
    match c {
        CollectionsCmd::List => {
            let list = store.list_collections(t).map_err(st)?;
            if ctx.json {
                return ctx.print_json(&list).map(|()| ExitCode::SUCCESS);
            }
            outln!(
                "{:<20} {:<13} {:>6} {:>7}  CREATED (UTC)",
                "NAME",
                "CHUNKER",
                "TOKENS",
                "OVERLAP"
            );
            for c in &list {
                outln!(
                    "{:<20} {:<13} {:>6} {:>7}  {}",
                    c.id,
                    c.chunking.kind.as_str(),
                    c.chunking.max_tokens,
                    c.chunking.overlap_tokens,
                    time(c.created_at)
                );
            }
        }
        CollectionsCmd::Create {
            name,
            description,
            chunker,
            max_tokens,
            overlap_tokens,
            child_tokens,
        } => {
            let d = &ctx.loaded.config.chunking;
            let kind = match chunker {
                Some(k) => ChunkerKind::parse(&k).ok_or_else(|| {
                    fail(
                        ErrorCode::InvalidInput,
                        format!(
                            "unknown chunker `{k}` (recursive, sliding, structure, parent_child)"
                        ),
                    )
                })?,
                None => d.kind,
            };
            let spec = ChunkingSpec {
                kind,
                max_tokens: max_tokens.unwrap_or(d.max_tokens),
                overlap_tokens: overlap_tokens.unwrap_or(d.overlap_tokens),
                child_tokens: child_tokens.unwrap_or(d.child_tokens),
            };
            let c = engine
                .create_collection(t, &CollectionId::new(name), &description, Some(spec))
                .map_err(eng)?;
            if ctx.json {
                return ctx.print_json(&c).map(|()| ExitCode::SUCCESS);
            }
            outln!(
                "created collection `{}` ({} chunker, {} tokens)",
                c.id,
                c.chunking.kind.as_str(),
                c.chunking.max_tokens
            );
        }
        CollectionsCmd::Show { name } => {
            let id = CollectionId::new(name);
            let c = store.get_collection(t, &id).map_err(st)?;
            let docs = store.document_summaries(t, &id).map_err(st)?.len();
            let chunks = store.count_chunks(t, Some(&id)).map_err(st)?;
            if ctx.json {
                let v = serde_json::json!({ "collection": c, "documents": docs, "chunks": chunks });
                return ctx.print_json(&v).map(|()| ExitCode::SUCCESS);
            }
            outln!("name         {}", c.id);
            outln!("description  {}", c.description);
            outln!("chunking     {}", serde_json::to_string(&c.chunking)?);
            outln!("documents    {docs}");
            outln!("chunks       {chunks}");
            outln!("created      {} UTC", time(c.created_at));
        }
        CollectionsCmd::Rm { name } => {
            ctx.engine()?
                .delete_collection(t, &CollectionId::new(name.clone()))
                .map_err(super::eng)?;
            if !ctx.json {
                outln!("removed collection `{name}`");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `cairn collections list|create|show|reindex|rm`

use super::{Context, eng, fail, st, time};
use crate::progress::{Bar, Mode};
use cairn_types::{ChunkerKind, ChunkingSpec, CollectionId, ErrorCode};
use std::process::ExitCode;

/// Chunk settings given on the command line; each one left out keeps its base value.
#[derive(clap::Args)]
pub struct ChunkingArgs {
    /// recursive | sliding | structure | parent_child
    #[arg(long)]
    chunker: Option<String>,
    #[arg(long)]
    max_tokens: Option<usize>,
    #[arg(long)]
    overlap_tokens: Option<usize>,
    #[arg(long)]
    child_tokens: Option<usize>,
}

impl ChunkingArgs {
    fn over(self, base: &ChunkingSpec) -> anyhow::Result<ChunkingSpec> {
        let kind = match self.chunker {
            Some(k) => ChunkerKind::parse(&k).ok_or_else(|| {
                fail(
                    ErrorCode::InvalidInput,
                    format!("unknown chunker `{k}` (recursive, sliding, structure, parent_child)"),
                )
            })?,
            None => base.kind,
        };
        Ok(ChunkingSpec {
            kind,
            max_tokens: self.max_tokens.unwrap_or(base.max_tokens),
            overlap_tokens: self.overlap_tokens.unwrap_or(base.overlap_tokens),
            child_tokens: self.child_tokens.unwrap_or(base.child_tokens),
        })
    }
}

#[derive(clap::Subcommand)]
pub enum CollectionsCmd {
    /// List collections.
    List,
    /// Create a collection with its chunking settings (defaults: `[chunking]`).
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        chunking: ChunkingArgs,
    },
    /// Show a collection with its document and chunk counts.
    Show { name: String },
    /// Chunk and embed every document again (with new settings, or the collection's own
    /// when none are given) behind the live index, then swap the new chunks and index in
    /// at once; searches keep working meanwhile.
    Reindex {
        name: String,
        #[command(flatten)]
        chunking: ChunkingArgs,
    },
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
            chunking,
        } => {
            let spec = chunking.over(&ctx.loaded.config.chunking)?;
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
            outln!("generation   {} (reindexes so far)", c.generation);
            outln!("documents    {docs}");
            outln!("chunks       {chunks}");
            outln!("created      {} UTC", time(c.created_at));
        }
        CollectionsCmd::Reindex { name, chunking } => {
            let id = CollectionId::new(name);
            let current = store.get_collection(t, &id).map_err(st)?;
            let spec = chunking.over(&current.chunking)?;
            let bar = Bar::labeled(Mode::for_output(ctx.json), "reindex");
            let started = std::time::Instant::now();
            let report = engine.reindex_collection(t, &id, Some(spec), &bar);
            bar.finish();
            let r = report.map_err(eng)?;
            if ctx.json {
                return ctx.print_json(&r).map(|()| ExitCode::SUCCESS);
            }
            outln!(
                "reindexed `{}` in {:.1}s: {} documents, {} → {} chunks ({} chunker, {} tokens, \
                 {} overlap), generation {}",
                r.collection,
                started.elapsed().as_secs_f64(),
                r.documents,
                r.chunks_before,
                r.chunks_after,
                r.chunking.kind.as_str(),
                r.chunking.max_tokens,
                r.chunking.overlap_tokens,
                r.generation
            );
            if r.reparsed > 0 || r.restaged > 0 || r.caught_up > 0 {
                outln!(
                    "  {} read again from their files, {} staged again after changing, {} taken \
                     from ingests that ran meanwhile",
                    r.reparsed,
                    r.restaged,
                    r.caught_up
                );
            }
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

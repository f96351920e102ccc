//! `cairn search "query" --collection C`: hybrid search with optional reranking, query
//! transforms, filters and context helpers; `--explain` shows every stage's score.

use super::Context;
use cairn_engine::search::{
    ContextOptions, Fusion, Order, RerankKind, SearchMode, SearchRequest, Transform,
};
use cairn_index::{Access, SearchFilter};
use cairn_types::{CollectionId, ErrorCode};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// What to search for.
    pub query: String,
    /// Collection to search.
    #[arg(long, short)]
    pub collection: String,
    /// More collections searched with it, their hits ranked together (repeatable).
    #[arg(long = "also", value_name = "COLLECTION")]
    pub also: Vec<String>,
    /// lexical, dense or hybrid (default: retrieval.mode).
    #[arg(long)]
    pub mode: Option<String>,
    /// none, maxsim, llm or cross-encoder (default: retrieval.rerank).
    #[arg(long)]
    pub rerank: Option<String>,
    /// Hits to return (default: retrieval.top_k).
    #[arg(long, short = 'k')]
    pub top_k: Option<usize>,
    /// Candidates per retriever and for the reranker (default: retrieval.candidates).
    #[arg(long)]
    pub candidates: Option<usize>,
    /// rrf or weighted (default: retrieval.fusion).
    #[arg(long)]
    pub fusion: Option<String>,
    /// RRF constant.
    #[arg(long)]
    pub rrf_k: Option<f32>,
    /// Dense weight for weighted fusion.
    #[arg(long)]
    pub alpha: Option<f32>,
    /// HNSW ef for this search.
    #[arg(long)]
    pub ef: Option<usize>,
    /// Query transforms, in order: rewrite, hyde, multi-query, decompose.
    #[arg(long = "transform", value_delimiter = ',')]
    pub transforms: Vec<String>,
    /// Only documents with this source or file name (repeatable).
    #[arg(long)]
    pub source: Vec<String>,
    /// Only documents of this type (metadata `type`, else the format).
    #[arg(long = "type")]
    pub kind: Vec<String>,
    /// Only documents with one of these tags.
    #[arg(long)]
    pub tag: Vec<String>,
    /// Only documents dated on or after (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Only documents dated on or before (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Search as this user (applies document ACLs).
    #[arg(long)]
    pub user: Option<String>,
    /// Groups of the `--user` (repeatable).
    #[arg(long)]
    pub group: Vec<String>,
    /// Replace child chunks by their parent section.
    #[arg(long)]
    pub expand_parents: bool,
    /// Merge overlapping windows and drop near-duplicates.
    #[arg(long)]
    pub dedup: bool,
    /// MMR diversity with this lambda (0..1).
    #[arg(long)]
    pub mmr: Option<f32>,
    /// Put the strongest hits at the start and the end.
    #[arg(long)]
    pub edges: bool,
    /// Show lexical, dense, fused and rerank scores per hit.
    #[arg(long)]
    pub explain: bool,
}

fn bad(m: impl std::fmt::Display) -> anyhow::Error {
    super::fail(ErrorCode::InvalidInput, m)
}

fn date(s: Option<&String>, end_of_day: bool) -> anyhow::Result<Option<i64>> {
    let Some(s) = s else { return Ok(None) };
    let ms = cairn_engine::search::parse_date(s)
        .ok_or_else(|| bad(format!("`{s}` is not a YYYY-MM-DD date")))?;
    Ok(Some(if end_of_day { ms + 86_399_999 } else { ms }))
}

/// Builds the engine request from the flags.
pub fn request(a: &Args) -> anyhow::Result<SearchRequest> {
    let mut req = SearchRequest::new(CollectionId::new(a.collection.clone()), a.query.clone());
    req.collections = a.also.iter().cloned().map(CollectionId::new).collect();
    req.mode = a
        .mode
        .as_deref()
        .map(|m| {
            SearchMode::parse(m)
                .ok_or_else(|| bad(format!("unknown mode `{m}` (lexical, dense, hybrid)")))
        })
        .transpose()?;
    req.rerank = a
        .rerank
        .as_deref()
        .map(|m| {
            RerankKind::parse(m).ok_or_else(|| {
                bad(format!(
                    "unknown reranker `{m}` (none, maxsim, llm, cross-encoder)"
                ))
            })
        })
        .transpose()?;
    req.fusion = match (a.fusion.as_deref(), a.rrf_k, a.alpha) {
        (Some("weighted"), _, alpha) | (None, None, alpha @ Some(_)) => Some(Fusion::Weighted {
            alpha: alpha.unwrap_or(0.5),
        }),
        (Some("rrf"), k, _) | (None, k @ Some(_), None) => Some(Fusion::Rrf {
            k: k.unwrap_or(60.0),
        }),
        (None, None, None) => None,
        (Some(other), _, _) => {
            return Err(bad(format!("unknown fusion `{other}` (rrf, weighted)")));
        }
        (None, Some(_), Some(_)) => {
            return Err(bad("--rrf-k and --alpha belong to different fusions"));
        }
    };
    req.top_k = a.top_k;
    req.candidates = a.candidates;
    req.ef_search = a.ef;
    req.transforms = a
        .transforms
        .iter()
        .map(|t| {
            Transform::parse(t).ok_or_else(|| {
                bad(format!(
                    "unknown transform `{t}` (rewrite, hyde, multi-query, decompose)"
                ))
            })
        })
        .collect::<anyhow::Result<_>>()?;
    req.filter = SearchFilter {
        access: if a.user.is_some() || !a.group.is_empty() {
            Access::Principal {
                user: a.user.clone(),
                groups: a.group.clone(),
            }
        } else {
            Access::All
        },
        sources: a.source.clone(),
        kinds: a.kind.clone(),
        tags: a.tag.clone(),
        date_from: date(a.from.as_ref(), false)?,
        date_to: date(a.to.as_ref(), true)?,
    };
    req.context = ContextOptions {
        expand_parents: a.expand_parents,
        dedup: a.dedup,
        mmr_lambda: a.mmr,
        order: if a.edges { Order::Edges } else { Order::Rank },
    };
    Ok(req)
}

fn snippet(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    format!("{cut}…")
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    let req = request(&a)?;
    let engine = ctx.engine()?;
    let resp = engine.search(&ctx.tenant, &req).map_err(super::eng)?;
    if ctx.json {
        ctx.print_json(&resp)?;
        return Ok(ExitCode::SUCCESS);
    }
    for t in &resp.transforms {
        eprintln!(
            "# {:?} ({:.0} ms): {}",
            t.transform,
            t.ms,
            t.output.join(" | ")
        );
    }
    if resp.hits.is_empty() {
        outln!("no results");
    }
    for (i, h) in resp.hits.iter().enumerate() {
        let heading = if h.heading_path.is_empty() {
            String::new()
        } else {
            format!(" › {}", h.heading_path.join(" › "))
        };
        outln!("{:>2}. {:.4}  {}{heading}", i + 1, h.score, h.title);
        if a.also.is_empty() {
            outln!("    {}  [{}]", h.source, h.chunk_id);
        } else {
            outln!("    {}: {}  [{}]", h.collection, h.source, h.chunk_id);
        }
        if a.explain {
            let rs = |r: Option<cairn_engine::search::RankScore>| {
                r.map_or_else(|| "—".to_owned(), |r| format!("#{} {:.4}", r.rank, r.score))
            };
            let rr = h
                .scores
                .rerank
                .map_or_else(|| "—".to_owned(), |s| format!("{s:.4}"));
            outln!(
                "    lexical {}  dense {}  fused {:.4}  rerank {rr}",
                rs(h.scores.lexical),
                rs(h.scores.dense),
                h.scores.fused
            );
        }
        outln!("    {}", snippet(&h.text, 220));
    }
    let t = &resp.timings;
    eprintln!(
        "# {} hits, mode {}, rerank {} — {:.1} ms (sync {:.1}, lexical {:.1}, embed {:.1}, dense {:.1}, rerank {:.1})",
        resp.hits.len(),
        resp.mode.as_str(),
        resp.rerank.as_str(),
        t.total_ms,
        t.sync_ms,
        t.lexical_ms,
        t.embed_ms,
        t.dense_ms,
        t.rerank_ms
    );
    Ok(ExitCode::SUCCESS)
}

//! Turning stored documents and chunks into what an index space takes.

use crate::Result;
use cairn_index::{ChunkInput, DocAttrs, DocInput};
use cairn_models::Embedder;
use cairn_store::IndexBatch;
use cairn_types::{ChunkRole, DocStatus, Document};
use std::collections::HashMap;

/// The text the embedder sees for a chunk: its heading path, then its text.
pub(crate) fn embedding_text(heading_path: &[String], text: &str) -> String {
    if heading_path.is_empty() {
        text.to_owned()
    } else {
        format!("{}\n{text}", heading_path.join(" > "))
    }
}

/// Parses `YYYY-MM-DD` (optionally followed by a time, ignored) as Unix ms (UTC).
pub fn parse_date(s: &str) -> Option<i64> {
    let d = s.get(..10)?;
    let mut parts = d.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (proleptic Gregorian), after H. Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400_000)
}

/// The filter attributes of a document.
pub(crate) fn attrs(d: &Document) -> DocAttrs {
    let meta = d.metadata.as_object();
    let get_str = |k: &str| meta.and_then(|m| m.get(k)).and_then(|v| v.as_str());
    let tags = meta
        .and_then(|m| m.get("tags"))
        .map(|v| match v {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            serde_json::Value::String(s) => s.split(',').map(|t| t.trim().to_owned()).collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    let date = get_str("date")
        .and_then(parse_date)
        .unwrap_or(if d.mtime > 0 { d.mtime } else { d.updated_at });
    let mut principals: Vec<String> = d.acl.users.iter().map(|u| format!("u:{u}")).collect();
    principals.extend(d.acl.groups.iter().map(|g| format!("g:{g}")));
    DocAttrs {
        document: d.id.as_str().to_owned(),
        principals,
        source: d.source.clone(),
        kind: get_str("type").unwrap_or(&d.format).to_owned(),
        tags,
        date,
    }
}

/// Index inputs for a batch: indexed documents with their leaf and child chunks (parent
/// chunks are context, not search targets). With an `embedder`, chunks stored without an
/// embedding are embedded now; without one, the inputs carry no vectors. Returns the
/// inputs, the ids of stored documents that must not be searchable (skipped by a quality
/// rule) and how many chunks were embedded.
pub(crate) fn doc_inputs(
    batch: IndexBatch,
    embedder: Option<&dyn Embedder>,
) -> Result<(Vec<DocInput>, Vec<String>, usize)> {
    let mut by_doc: HashMap<String, Vec<ChunkInput>> = HashMap::new();
    let mut missing: Vec<(String, usize, String)> = Vec::new();
    for ic in batch.chunks {
        let c = ic.chunk;
        if c.role == ChunkRole::Parent {
            continue;
        }
        let list = by_doc.entry(c.document.as_str().to_owned()).or_default();
        let vector = embedder.and_then(|e| ic.embedding.filter(|v| v.len() == e.dim()));
        if vector.is_none() && embedder.is_some() {
            missing.push((
                c.document.as_str().to_owned(),
                list.len(),
                embedding_text(&c.heading_path, &c.text),
            ));
        }
        list.push(ChunkInput {
            ordinal: u32::try_from(c.ordinal).unwrap_or(u32::MAX),
            heading: c.heading_path.join(" > "),
            text: c.text,
            vector,
        });
    }
    let embedded = missing.len();
    if let (false, Some(embedder)) = (missing.is_empty(), embedder) {
        let texts: Vec<&str> = missing.iter().map(|m| m.2.as_str()).collect();
        let vectors = embedder.embed(&texts)?.vectors;
        for ((doc, i, _), v) in missing.iter().zip(vectors) {
            if let Some(c) = by_doc.get_mut(doc).and_then(|l| l.get_mut(*i)) {
                c.vector = Some(v);
            }
        }
    }
    let (indexed, skipped): (Vec<Document>, Vec<Document>) = batch
        .documents
        .into_iter()
        .partition(|d| d.status == DocStatus::Indexed);
    let docs = indexed
        .into_iter()
        .map(|d| DocInput {
            attrs: attrs(&d),
            title: d.title.clone(),
            chunks: by_doc.remove(d.id.as_str()).unwrap_or_default(),
        })
        .collect();
    let skipped = skipped
        .into_iter()
        .map(|d| d.id.as_str().to_owned())
        .collect();
    Ok((docs, skipped, embedded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_to_utc_midnight() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-03-01T10:00:00Z"), Some(1_709_251_200_000));
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("soon"), None);
    }
}

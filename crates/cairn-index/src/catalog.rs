//! The catalog: what a space knows about each indexed document (filter attributes and
//! chunk ordinals), kept in memory for the dense side's filter predicate and for mapping
//! keys back to chunk ids. Persisted next to the HNSW graph.

use crate::chunk_key;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// The filterable attributes of a document, shared by all its chunks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocAttrs {
    pub document: String,
    /// ACL principals: `u:<user>` and `g:<group>`; empty means everyone in the tenant.
    pub principals: Vec<String>,
    pub source: String,
    /// `metadata.type`, else the format label.
    pub kind: String,
    pub tags: Vec<String>,
    /// Unix ms: `metadata.date` when given, else the source mtime, else the update time.
    pub date: i64,
}

impl DocAttrs {
    /// The values the source filter matches: the full source and its file name.
    pub fn source_values(&self) -> Vec<String> {
        let base = self
            .source
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&self.source)
            .to_owned();
        if base == self.source {
            vec![base]
        } else {
            vec![self.source.clone(), base]
        }
    }
}

/// Where a key points.
#[derive(Clone, Debug)]
pub struct ChunkRef {
    pub doc: Arc<DocAttrs>,
    pub ordinal: u32,
}

impl ChunkRef {
    /// The chunk id (`<document>:<ordinal>`).
    pub fn chunk_id(&self) -> String {
        format!("{}:{}", self.doc.document, self.ordinal)
    }
}

#[derive(Serialize, Deserialize)]
struct StoredDoc {
    attrs: DocAttrs,
    ordinals: Vec<u32>,
}

/// Documents and keys of one space.
#[derive(Default)]
pub struct Catalog {
    docs: HashMap<String, (Arc<DocAttrs>, Vec<u32>)>,
    keys: HashMap<u64, ChunkRef>,
}

impl Catalog {
    /// Replaces a document's entry; returns the keys it had before.
    pub fn put(&mut self, attrs: DocAttrs, ordinals: Vec<u32>) -> Vec<u64> {
        let old = self.remove(&attrs.document);
        let attrs = Arc::new(attrs);
        for &ordinal in &ordinals {
            let r = ChunkRef {
                doc: attrs.clone(),
                ordinal,
            };
            self.keys.insert(chunk_key(&r.chunk_id()), r);
        }
        self.docs.insert(attrs.document.clone(), (attrs, ordinals));
        old
    }

    /// Drops a document; returns the keys it had.
    pub fn remove(&mut self, document: &str) -> Vec<u64> {
        let Some((attrs, ordinals)) = self.docs.remove(document) else {
            return Vec::new();
        };
        ordinals
            .iter()
            .map(|o| {
                let k = chunk_key(&format!("{}:{o}", attrs.document));
                self.keys.remove(&k);
                k
            })
            .collect()
    }

    pub fn get(&self, key: u64) -> Option<&ChunkRef> {
        self.keys.get(&key)
    }

    /// Number of chunks.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of documents.
    pub fn documents(&self) -> usize {
        self.docs.len()
    }

    /// All keys (with their chunk references).
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &ChunkRef)> {
        self.keys.iter()
    }

    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        let docs: Vec<StoredDoc> = self
            .docs
            .values()
            .map(|(a, o)| StoredDoc {
                attrs: (**a).clone(),
                ordinals: o.clone(),
            })
            .collect();
        serde_json::to_vec(&docs)
    }

    pub fn from_json(bytes: &[u8]) -> serde_json::Result<Self> {
        let docs: Vec<StoredDoc> = serde_json::from_slice(bytes)?;
        let mut c = Self::default();
        for d in docs {
            c.put(d.attrs, d.ordinals);
        }
        Ok(c)
    }
}

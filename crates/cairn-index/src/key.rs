//! Chunk keys: the u64 both indexes use for a chunk.

/// The index key of a chunk id: the first 8 bytes of its BLAKE3 hash. Deterministic, so
/// a document's old keys can be recomputed from its id and ordinals when it changes.
/// (Collision odds at 10^6 chunks in one space: ~3·10^-8.)
pub fn chunk_key(chunk_id: &str) -> u64 {
    let h = blake3::hash(chunk_id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

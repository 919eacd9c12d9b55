//! How a journal too large for one ConfigMap is laid out: its compressed bytes cut into chunk ConfigMaps
//! named after the journal and the digest of those bytes, and the journal's own ConfigMap (the head) naming
//! them in order with that digest. Every function here is pure; `journal_store` does the writes in the
//! order that keeps a crash safe: every chunk before the head that names it, stale chunks removed after.
//!
//! A chunk's name carries the digest of the whole journal it belongs to, so two versions of a journal never
//! share a chunk name: the version the head names stays whole while the next one is being written, and a
//! chunk written twice (a run killed and resumed) is written with the same bytes.

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use thiserror::Error;

/// The most bytes one ConfigMap keeps of a journal. The API server refuses a ConfigMap whose data passes
/// 1 MiB (1,048,576 bytes); this leaves room for its metadata.
pub const MAX_CHUNK_BYTES: usize = 1_000_000;

/// How the compressed journal is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Small enough for the head ConfigMap itself.
    Inline(Vec<u8>),
    /// Cut into chunk ConfigMaps the head names.
    Chunked {
        /// What the head keeps: the chunks' names in order and the digest of the whole.
        index: ChunkIndex,
        /// Each chunk's bytes, in the order of `index.chunks`.
        parts: Vec<Vec<u8>>,
    },
}

/// What the head ConfigMap of a chunked journal keeps instead of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkIndex {
    /// SHA-256 of the compressed journal, hex.
    pub digest: String,
    /// The chunk ConfigMaps' names, in order.
    pub chunks: Vec<String>,
}

/// Why chunks read back do not make the journal the head names.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MergeError {
    /// A chunk count differs from the index's.
    #[error("the journal names {expected} chunks, {found} were read")]
    Count {
        /// Chunks the index names.
        expected: usize,
        /// Chunks given.
        found: usize,
    },
    /// The merged bytes are not the ones the head's digest names.
    #[error("the journal's chunks do not match its digest {expected} (they make {found})")]
    Digest {
        /// The head's digest.
        expected: String,
        /// The merged bytes' digest.
        found: String,
    },
}

/// SHA-256 of `bytes`, hex.
pub fn digest(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The journal's JSON gzip-compressed, as it is stored.
pub fn compress(json: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(json)?;
    encoder.finish()
}

/// The JSON of a stored journal.
pub fn decompress(compressed: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut json = Vec::new();
    GzDecoder::new(compressed).read_to_end(&mut json)?;
    Ok(json)
}

/// The name of chunk `index` of the journal whose head is `head` and whose compressed bytes have `digest`.
/// The head's name is at most 63 characters, so this stays far under a ConfigMap name's 253.
pub fn chunk_name(head: &str, digest: &str, index: usize) -> String {
    format!("{head}-{}-{index}", &digest[..digest.len().min(12)])
}

/// How `compressed` is stored under the head `head`: inline when it fits in `max` bytes, otherwise cut
/// into chunks of at most `max` bytes.
pub fn layout(compressed: Vec<u8>, head: &str, max: usize) -> Layout {
    if compressed.len() <= max {
        return Layout::Inline(compressed);
    }
    let digest = digest(&compressed);
    let parts: Vec<Vec<u8>> = compressed.chunks(max).map(<[u8]>::to_vec).collect();
    let chunks = (0..parts.len()).map(|i| chunk_name(head, &digest, i)).collect();
    Layout::Chunked { index: ChunkIndex { digest, chunks }, parts }
}

/// The compressed journal from its chunks read in the index's order, checked against the index's digest.
pub fn merge(index: &ChunkIndex, parts: &[Vec<u8>]) -> Result<Vec<u8>, MergeError> {
    if parts.len() != index.chunks.len() {
        return Err(MergeError::Count { expected: index.chunks.len(), found: parts.len() });
    }
    let merged = parts.concat();
    let found = digest(&merged);
    if found != index.digest {
        return Err(MergeError::Digest { expected: index.digest.clone(), found });
    }
    Ok(merged)
}

/// The chunk ConfigMaps found that the head now written no longer names (an older version's, or those a
/// run killed before writing its head left): they go.
pub fn stale_chunks(found: &[String], named: &[String]) -> Vec<String> {
    found.iter().filter(|name| !named.contains(name)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(7);
        (0..len).map(|_| rng.u8(..)).collect()
    }

    #[test]
    fn a_journal_that_fits_stays_inline() {
        assert_eq!(layout(vec![1, 2, 3], "j", 3), Layout::Inline(vec![1, 2, 3]));
    }

    #[test]
    fn a_larger_journal_is_cut_into_chunks_that_merge_back_to_it() {
        let bytes = noise(2_500);
        let Layout::Chunked { index, parts } = layout(bytes.clone(), "operator-upgrade-journal-p", 1_000) else {
            panic!("not chunked")
        };
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [1_000, 1_000, 500]);
        assert_eq!(index.chunks.len(), 3);
        assert_eq!(index.chunks[2], format!("operator-upgrade-journal-p-{}-2", &digest(&bytes)[..12]));
        assert_eq!(merge(&index, &parts), Ok(bytes));
    }

    #[test]
    fn two_versions_of_a_journal_never_share_a_chunk_name() {
        let Layout::Chunked { index: first, .. } = layout(noise(3_000), "j", 1_000) else { panic!() };
        let mut changed = noise(3_000);
        changed[2_999] ^= 1;
        let Layout::Chunked { index: second, .. } = layout(changed, "j", 1_000) else { panic!() };
        assert!(first.chunks.iter().all(|c| !second.chunks.contains(c)), "{first:?} {second:?}");
    }

    #[test]
    fn chunks_missing_reordered_or_from_another_version_are_refused() {
        let Layout::Chunked { index, parts } = layout(noise(3_000), "j", 1_000) else { panic!() };
        assert_eq!(merge(&index, &parts[..2]), Err(MergeError::Count { expected: 3, found: 2 }));
        let swapped = vec![parts[1].clone(), parts[0].clone(), parts[2].clone()];
        assert!(matches!(merge(&index, &swapped), Err(MergeError::Digest { .. })));
    }

    #[test]
    fn only_chunks_the_head_does_not_name_are_stale() {
        let found = vec!["j-a-0".to_owned(), "j-b-0".to_owned(), "j-b-1".to_owned()];
        assert_eq!(stale_chunks(&found, &["j-b-0".to_owned(), "j-b-1".to_owned()]), ["j-a-0"]);
        assert_eq!(stale_chunks(&found, &[]), found);
    }

    #[test]
    fn compression_round_trips() {
        let json = br#"{"members": [1, 2, 3]}"#;
        assert_eq!(decompress(&compress(json).unwrap()).unwrap(), json);
    }
}

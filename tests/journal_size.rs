//! How large a canary's journal gets: a canary of 10% of 100,000 objects, as stored (gzip-compressed JSON),
//! and how it is laid out in ConfigMaps.

use crate::common::big_journal::canary_journal;
use operator_upgrade::cluster::journal_chunks::{compress, layout, Layout, MAX_CHUNK_BYTES};

fn measure(stable_members: bool) -> (usize, usize, usize) {
    let journal = canary_journal("0123456789", "p", 100_000, stable_members);
    let json = serde_json::to_vec(&journal).unwrap();
    let compressed = compress(&json).unwrap();
    let stored = compressed.len();
    let config_maps = match layout(compressed, "operator-upgrade-journal-p", MAX_CHUNK_BYTES) {
        Layout::Inline(_) => 1,
        Layout::Chunked { index, parts } => {
            assert!(parts.iter().all(|p| p.len() <= MAX_CHUNK_BYTES));
            1 + index.chunks.len()
        }
    };
    (json.len(), stored, config_maps)
}

#[test]
fn a_canary_of_a_tenth_of_100000_objects_fits_its_configmaps() {
    for (stable_members, what) in
        [(false, "canary and baseline members (20,000)"), (true, "every object a member (100,000)")]
    {
        let (json, stored, config_maps) = measure(stable_members);
        eprintln!("journal of a 10% canary over 100,000 objects, {what}: {json} bytes of JSON, {stored} bytes stored (gzip), {config_maps} ConfigMap(s)");
        // With canary and baseline members only the journal fits one ConfigMap; with every object a member
        // it passes the API's 1 MiB and is chunked.
        assert_eq!(config_maps > 1, stable_members, "{what}: {stored} bytes in {config_maps} ConfigMaps");
    }
}

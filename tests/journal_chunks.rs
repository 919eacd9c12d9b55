//! A journal over the API's 1 MiB object limit (a canary over 100,000 objects, every one a member), through
//! `kube::Client` on the simulator and the real control plane: one ConfigMap that large is refused, so the
//! journal is cut into chunk ConfigMaps written before the journal that names them. It is saved, loaded by
//! another process, resumed (saved again over what was loaded, after a writer killed between its chunks and
//! its journal left a chunk behind), closed, and replaced by the next run of the plan: no chunk the journal
//! does not name is ever left.

use crate::common::big_journal::canary_journal;
use crate::common::TestCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::ByteString;
use kube::api::{Api, ListParams, PostParams};
use operator_upgrade::cluster::journal_store::{JournalStore, CHUNK_OF_LABEL, RUN_LABEL};
use operator_upgrade::engine::journal::{Journal, RunState};
use std::collections::BTreeMap;

const RUN: &str = "0123456789";

/// The journal's chunk ConfigMaps as listed by the run's label, sorted, and the names its head lists.
async fn chunks(cluster: &TestCluster, namespace: &str, store: &JournalStore) -> (Vec<String>, Vec<String>) {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), namespace);
    let list = api.list(&ListParams::default().labels(&format!("{RUN_LABEL}={RUN}"))).await.unwrap();
    let mut found: Vec<String> = list.items.into_iter().filter_map(|m| m.metadata.name).collect();
    found.sort();
    let head = api.get(&store.config_map_name()).await.unwrap();
    let named = match head.data.as_ref().and_then(|d| d.get("journal.chunks")) {
        Some(index) => serde_json::from_str::<serde_json::Value>(index).unwrap()["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect(),
        None => vec![],
    };
    let mut sorted = named;
    sorted.sort();
    (found, sorted)
}

fn big_config_map(name: &str, bytes: usize, labels: BTreeMap<String, String>) -> ConfigMap {
    let mut map = ConfigMap::default();
    map.metadata.name = Some(name.to_owned());
    map.metadata.labels = Some(labels);
    map.binary_data = Some(BTreeMap::from([("journal.json.gz".to_owned(), ByteString(vec![7; bytes]))]));
    map
}

async fn load(cluster: &TestCluster, namespace: &str, plan: &str) -> (Journal, String) {
    let stored = JournalStore::new(cluster.client(), namespace, plan).load().await.unwrap().expect("the journal");
    (serde_json::from_slice(&stored.json).unwrap(), stored.resource_version)
}

async fn a_journal_over_1_mib_is_chunked_loaded_resumed_and_closed_leaving_no_chunk_behind(cluster: TestCluster) {
    let namespace = cluster.namespace("journal").await;
    let plan = cluster.unique("big-canary");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), &namespace);
    let refused = api.create(&PostParams::default(), &big_config_map("too-large", 1_100_000, BTreeMap::new())).await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(status)) if status.code == 422),
        "one ConfigMap over 1 MiB is refused: {refused:?}"
    );

    let journal = canary_journal(RUN, &plan, 100_000, true);
    let store = JournalStore::new(cluster.client(), &namespace, &plan);
    store.save(&serde_json::to_vec(&journal).unwrap(), None, RUN, false).await.unwrap();
    let (found, named) = chunks(&cluster, &namespace, &store).await;
    assert!(named.len() >= 3, "a 3 MB journal takes several chunks: {named:?}");
    assert_eq!(found, named, "every chunk is named by the journal");

    // Another process reads it whole.
    assert_eq!(load(&cluster, &namespace, &plan).await.0, journal);

    // A writer killed after writing a chunk of its next version and before its journal left that chunk:
    // the journal still names its own chunks and reads whole.
    let labels =
        BTreeMap::from([(CHUNK_OF_LABEL.to_owned(), store.config_map_name()), (RUN_LABEL.to_owned(), RUN.to_owned())]);
    let stray = format!("{}-000000000000-0", store.config_map_name());
    api.create(&PostParams::default(), &big_config_map(&stray, 1_000, labels)).await.unwrap();
    assert_eq!(load(&cluster, &namespace, &plan).await.0, journal);

    // Resumed by a new process: it carries on from what it loaded and saves over that version.
    let resumed_store = JournalStore::new(cluster.client(), &namespace, &plan);
    let stored = resumed_store.load().await.unwrap().expect("the journal");
    let mut resumed: Journal = serde_json::from_slice(&stored.json).unwrap();
    resumed.state = RunState::Paused;
    resumed.notes.push("resumed after a kill".into());
    resumed_store
        .save(&serde_json::to_vec(&resumed).unwrap(), Some(&stored.resource_version), RUN, false)
        .await
        .unwrap();
    let (found, renamed) = chunks(&cluster, &namespace, &resumed_store).await;
    assert_eq!(found, renamed, "the earlier version's chunks and the stray one are gone");
    assert!(renamed.iter().all(|c| !named.contains(c)), "a new version writes chunks of new names");
    let (read, version) = load(&cluster, &namespace, &plan).await;
    assert_eq!(read, resumed);

    // Closed: the journal stays readable (`rollback` again says "already rolled back"), whole, and nothing
    // but its own chunks carries the run's label.
    let closed = Journal { state: RunState::RolledBack, ..resumed };
    resumed_store.save(&serde_json::to_vec(&closed).unwrap(), Some(&version), RUN, true).await.unwrap();
    let (found, named) = chunks(&cluster, &namespace, &resumed_store).await;
    assert_eq!(found, named);
    let (read, version) = load(&cluster, &namespace, &plan).await;
    assert_eq!(read, closed);

    // The next run of the plan replaces the closed journal: a small one, inline, and no chunk of the closed
    // run is left.
    let next = Journal { run_id: "next".into(), canary: None, state: RunState::Running, ..closed };
    let next_store = JournalStore::new(cluster.client(), &namespace, &plan);
    next_store.load().await.unwrap();
    next_store.save(&serde_json::to_vec(&next).unwrap(), Some(&version), "next", false).await.unwrap();
    assert_eq!(chunks(&cluster, &namespace, &next_store).await, (vec![], vec![]), "no chunk of the closed run is left");
    assert_eq!(load(&cluster, &namespace, &plan).await.0, next);
}

on_both_clusters!(a_journal_over_1_mib_is_chunked_loaded_resumed_and_closed_leaving_no_chunk_behind);

//! `finalize` killed (as with SIGKILL, `OPERATOR_UPGRADE_CRASH_AFTER_WRITE`) in the middle of the storage
//! migration of 10,000 objects, then run again, on the simulator: it carries on from the page its journal
//! names rather than from the beginning, and when etcd compacted past that page's continue token meanwhile
//! (410 Gone) it lists from the beginning again. Either way every object ends stored at the new storage
//! version, with fewer writes than two full passes (counted from the simulator's request log), and the
//! journal is written once per page, not once per object.

use crate::common::TestCluster;
use crate::engine::{apply, fast_demo, tool, widgets_api, Demo, GROUP};
use futures::stream::{self, StreamExt};
use kube::api::{DynamicObject, PostParams};
use operator_upgrade::cluster::journal_store::JournalStore;
use operator_upgrade::engine::journal::Journal;
use serde_json::json;

/// The objects migrated: the demo's 8 Widgets and these.
const ADDED: usize = 10_000;
const TOTAL: u64 = ADDED as u64 + 8;
/// The tool's write after which it is killed: about half way through the migration.
const KILL_AT: u64 = 5_000;
/// Objects the migration lists (and the journal records) per page.
const PAGE: u64 = 500;

async fn add_widgets(cluster: &TestCluster, demo: &Demo) {
    let api = widgets_api(cluster, &demo.widgets, "v1alpha1");
    stream::iter(0..ADDED)
        .map(|index| {
            let api = api.clone();
            async move {
                let widget: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": format!("{GROUP}/v1alpha1"), "kind": "Widget",
                    "metadata": {"name": format!("many-{index:05}")},
                    "spec": {"image": "nginx:1.27", "tier": "silver", "replicas": 1}}))
                .unwrap();
                api.create(&PostParams::default(), &widget).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

/// The tool's writes so far: Widgets updated (the migration's rewrites) and journal ConfigMaps written.
fn tool_writes(cluster: &TestCluster) -> (u64, u64) {
    let requests = cluster.sim_handle().unwrap().requests();
    let by_tool = requests.iter().filter(|r| r.user_agent.starts_with("operator-upgrade/"));
    let (mut widgets, mut journal) = (0, 0);
    for request in by_tool {
        let name = request.name.as_deref().unwrap_or_default();
        if request.verb == "update" && request.resource == format!("widgets.{GROUP}") {
            widgets += 1;
        } else if matches!(request.verb.as_str(), "update" | "create") && name.starts_with("operator-upgrade-journal-")
        {
            journal += 1;
        }
    }
    (widgets, journal)
}

fn stored_at_v1(cluster: &TestCluster, demo: &Demo) -> u64 {
    let sim = cluster.sim_handle().unwrap();
    let names = (0..ADDED).map(|i| format!("many-{i:05}")).chain((0..8).map(|i| format!("widget-{i}")));
    names
        .filter(|name| {
            sim.stored_api_version(GROUP, "widgets", &demo.widgets, name).as_deref() == Some(&format!("{GROUP}/v1"))
        })
        .count() as u64
}

async fn journal(cluster: &TestCluster, demo: &Demo) -> Journal {
    let store = JournalStore::new(cluster.client(), &demo.namespace, &demo.plan_name);
    serde_json::from_slice(&store.load().await.unwrap().unwrap().json).unwrap()
}

/// Promotes the demo, adds 10,000 Widgets, kills `finalize` half way through their migration and runs it
/// again (after compacting the list history when `compacted`); returns the Widget writes of the killed and
/// of the resumed `finalize`.
async fn killed_half_way_then_finalized(compacted: bool) -> (u64, u64) {
    let (cluster, demo) = fast_demo().await;
    let (code, out) = apply(&cluster, &demo, &[]).await;
    assert_eq!(code, 0, "apply: {out}");
    add_widgets(&cluster, &demo).await;
    let plan = demo.plan().display().to_string();
    let finalize = ["finalize", "-f", plan.as_str(), "--yes"];

    let (widgets_before, journal_before) = tool_writes(&cluster);
    let (code, out) = tool(&cluster, &finalize, &[("OPERATOR_UPGRADE_CRASH_AFTER_WRITE", KILL_AT.to_string())]).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(&format!("fault point: aborting after API write {KILL_AT}")), "{out}");
    let (widgets_killed, journal_killed) = tool_writes(&cluster);
    let killed = widgets_killed - widgets_before;
    let progress = journal(&cluster, &demo).await.migration.expect("the migration's progress is journaled");
    assert!(progress.done > 0 && progress.done < TOTAL && progress.continue_token.is_some(), "{progress:?}");
    assert!(progress.done <= killed && killed <= progress.done + PAGE, "the journal is at most a page behind");
    let pages = (journal_killed - journal_before) as f64;
    assert!(pages <= killed as f64 / PAGE as f64 + 5.0, "{pages} journal writes for {killed} objects: one per page");
    let stored = stored_at_v1(&cluster, &demo);
    assert!(stored < TOTAL, "the kill left objects to migrate: {stored} of {TOTAL} at v1");

    if compacted {
        cluster.sim_handle().unwrap().compact_list_history();
    }
    let (code, out) = tool(&cluster, &finalize, &[]).await;
    assert_eq!(code, 0, "finalize again: {out}");
    assert!(out.contains("finalized"), "{out}");
    assert_eq!(stored_at_v1(&cluster, &demo), TOTAL, "every object stored at the new storage version");
    let crds: kube::Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        kube::Api::all(cluster.client());
    let crd = crds.get(&format!("widgets.{GROUP}")).await.unwrap();
    assert_eq!(crd.status.unwrap().stored_versions, Some(vec!["v1".to_owned()]));
    let resumed = tool_writes(&cluster).0 - widgets_killed;
    assert!(killed + resumed < 2 * TOTAL, "fewer writes than two full passes: {killed} + {resumed}");
    (killed, resumed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalize_killed_half_way_through_10000_objects_carries_on_from_its_journaled_page() {
    let (killed, resumed) = killed_half_way_then_finalized(false).await;
    eprintln!("migration of {TOTAL} objects: {killed} writes before the kill, {resumed} after it");
    assert!(killed + resumed <= TOTAL + PAGE, "at most the page the kill interrupted is written again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalize_killed_half_way_whose_continue_token_expired_lists_again_and_migrates_every_object() {
    let (killed, resumed) = killed_half_way_then_finalized(true).await;
    eprintln!("migration of {TOTAL} objects, token expired: {killed} writes before the kill, {resumed} after it");
    assert!(resumed >= TOTAL - PAGE, "the expired token's pass started again from the beginning: {resumed}");
}

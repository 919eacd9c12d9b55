//! Which operator Deployment owns which object, tick by tick, for the reconciler record: a worker owns the
//! objects in its scope while it is alive and leads (or elects no leader). Ownership is recomputed only
//! when a leading worker or its list of objects changed (every tracker bumps an epoch when its list is
//! replaced), so idle ticks cost nothing even with 10,000 objects; a double ownership found is recorded
//! again every tick it lasts.

use super::tracker::KindTracker;
use super::WorkerKey;
use crate::sim::reconcilers::{ObjectRef, ReconcilerConflict};
use crate::sim::resources::GroupResource;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// A worker owning objects this tick.
pub(super) struct Owner<'a> {
    pub(super) key: &'a WorkerKey,
    pub(super) pod_uid: &'a str,
    pub(super) deployment: &'a str,
    pub(super) kinds: &'a HashMap<GroupResource, KindTracker>,
}

/// What the owners were computed from, and the double ownerships found then.
#[derive(Default)]
pub(super) struct Ownership {
    signature: Vec<(WorkerKey, String, GroupResource, u64)>,
    conflicts: Vec<(ObjectRef, Vec<String>)>,
}

impl Ownership {
    /// Recomputes the owners when something changed, publishes them, and records this tick's conflicts.
    pub(super) fn sync(&mut self, record: &crate::sim::reconcilers::Reconcilers, owners: &[Owner<'_>], now_ms: u64) {
        let mut signature: Vec<(WorkerKey, String, GroupResource, u64)> = owners
            .iter()
            .flat_map(|o| o.kinds.iter().map(|(gr, t)| (o.key.clone(), o.pod_uid.to_owned(), gr.clone(), t.epoch)))
            .collect();
        signature.sort();
        if signature != self.signature {
            self.signature = signature;
            let current = owners_now(owners);
            self.conflicts = current.values().filter(|(_, d)| d.len() > 1).cloned().collect();
            self.conflicts.sort();
            record.set_owners(Arc::new(current));
        }
        if !self.conflicts.is_empty() {
            record.push_conflicts(self.conflicts.iter().map(|(object, deployments)| ReconcilerConflict {
                object: object.clone(),
                deployments: deployments.clone(),
                at_ms: now_ms,
            }));
        }
    }
}

/// Every object in a leading worker's scope, by uid, with the Deployments owning it (sorted, distinct).
fn owners_now(owners: &[Owner<'_>]) -> HashMap<String, (ObjectRef, Vec<String>)> {
    let mut found: HashMap<&str, (&Value, Vec<&str>)> = HashMap::new();
    for owner in owners {
        for tracker in owner.kinds.values() {
            for known in tracker.known.iter().filter(|k| k.watch.is_some()) {
                let uid = known.object["metadata"]["uid"].as_str().unwrap_or_default();
                let entry = found.entry(uid).or_insert_with(|| (known.object.as_ref(), Vec::new()));
                if !entry.1.contains(&owner.deployment) {
                    entry.1.push(owner.deployment);
                }
            }
        }
    }
    found
        .into_iter()
        .map(|(uid, (object, deployments))| {
            let mut deployments: Vec<String> = deployments.into_iter().map(str::to_owned).collect();
            deployments.sort();
            let kind = object["kind"].as_str().unwrap_or_default();
            (uid.to_owned(), (super::tracker::object_ref(object, kind), deployments))
        })
        .collect()
}

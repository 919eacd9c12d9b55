//! The reconciler record: which operator Deployment owned each custom resource when, every tick in which
//! two Deployments owned the same object (the double ownership a canary rollout must never cause), and a
//! log of the reconciles done. All of it is bounded in memory.
//!
//! A worker (one operator container) owns an object during a tick when its pod is alive (Ready, or
//! terminating), it holds its lease (or elects no leader), and the object is in its scope. Deployments
//! are named by the pod's ReplicaSet's owning Deployment; a pod without one counts under its own name.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// At most this many reconciles are kept in the log (the newest).
pub const RECONCILE_LOG_CAP: usize = 200_000;
/// At most this many conflicts are kept (the first ones: they show when double ownership began); later
/// ones are only counted.
pub const CONFLICT_CAP: usize = 100_000;

/// A custom resource as the record names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// Its uid (a recreated object is another object).
    pub uid: String,
    /// Its kind.
    pub kind: String,
    /// Its namespace (empty when cluster-scoped).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// One tick in which more than one operator Deployment owned an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcilerConflict {
    /// The object.
    pub object: ObjectRef,
    /// The Deployments owning it, sorted.
    pub deployments: Vec<String>,
    /// The tick, in simulated milliseconds since the controllers started.
    pub at_ms: u64,
}

/// One reconcile a simulated operator did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileRecord {
    /// The object reconciled.
    pub object: ObjectRef,
    /// The operator Deployment of the pod.
    pub deployment: String,
    /// The pod.
    pub pod: String,
    /// When, in simulated milliseconds since the controllers started.
    pub at_ms: u64,
    /// Whether the reconcile succeeded (Ready=True written).
    pub succeeded: bool,
}

/// The record, shared between the controllers (which write it) and the handle (which reads it).
#[derive(Default)]
pub struct Reconcilers {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    log: VecDeque<ReconcileRecord>,
    conflicts: Vec<ReconcilerConflict>,
    dropped_conflicts: u64,
    /// The owners as of the last change of ownership: uid -> (object, Deployments).
    owners: Arc<HashMap<String, (ObjectRef, Vec<String>)>>,
}

impl Reconcilers {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a reconcile to the log, dropping the oldest beyond [`RECONCILE_LOG_CAP`].
    pub fn push_reconcile(&self, record: ReconcileRecord) {
        let mut inner = self.lock();
        if inner.log.len() >= RECONCILE_LOG_CAP {
            inner.log.pop_front();
        }
        inner.log.push_back(record);
    }

    /// Records the conflicts of one tick; beyond [`CONFLICT_CAP`] they are only counted.
    pub fn push_conflicts(&self, conflicts: impl IntoIterator<Item = ReconcilerConflict>) {
        let mut inner = self.lock();
        for conflict in conflicts {
            if inner.conflicts.len() < CONFLICT_CAP {
                inner.conflicts.push(conflict);
            } else {
                inner.dropped_conflicts = inner.dropped_conflicts.saturating_add(1);
            }
        }
    }

    /// Replaces the current owners (called only when ownership changed).
    pub fn set_owners(&self, owners: Arc<HashMap<String, (ObjectRef, Vec<String>)>>) {
        self.lock().owners = owners;
    }

    /// The reconciles logged, oldest first.
    pub fn reconcile_log(&self) -> Vec<ReconcileRecord> {
        self.lock().log.iter().cloned().collect()
    }

    /// The conflicts recorded, in order.
    pub fn conflicts(&self) -> Vec<ReconcilerConflict> {
        self.lock().conflicts.clone()
    }

    /// How many conflicts were counted but not kept.
    pub fn dropped_conflicts(&self) -> u64 {
        self.lock().dropped_conflicts
    }

    /// The Deployments owning the objects of `kind` named `namespace`/`name` now (sorted; empty when
    /// nothing owns it).
    pub fn owners_of(&self, kind: &str, namespace: &str, name: &str) -> Vec<String> {
        let owners = self.lock().owners.clone();
        let mut found: Vec<String> = owners
            .values()
            .filter(|(o, _)| o.kind == kind && o.namespace == namespace && o.name == name)
            .flat_map(|(_, deployments)| deployments.iter().cloned())
            .collect();
        found.sort();
        found.dedup();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str) -> ObjectRef {
        ObjectRef { uid: format!("uid-{name}"), kind: "Widget".into(), namespace: "a".into(), name: name.into() }
    }

    #[test]
    fn the_log_keeps_the_newest_and_conflicts_the_first() {
        let record = Reconcilers::default();
        for at_ms in 0..(RECONCILE_LOG_CAP as u64 + 3) {
            let entry = ReconcileRecord {
                object: object("w"),
                deployment: "d".into(),
                pod: "p".into(),
                at_ms,
                succeeded: true,
            };
            record.push_reconcile(entry);
        }
        let log = record.reconcile_log();
        assert_eq!(log.len(), RECONCILE_LOG_CAP);
        assert_eq!(log[0].at_ms, 3);
        let conflict = |at_ms| ReconcilerConflict { object: object("w"), deployments: vec!["a".into()], at_ms };
        record.push_conflicts((0..CONFLICT_CAP as u64 + 5).map(conflict));
        assert_eq!(record.conflicts().len(), CONFLICT_CAP);
        assert_eq!(record.conflicts()[0].at_ms, 0);
        assert_eq!(record.dropped_conflicts(), 5);
    }

    #[test]
    fn owners_are_looked_up_by_kind_namespace_and_name() {
        let record = Reconcilers::default();
        let owners = HashMap::from([("uid-w".to_owned(), (object("w"), vec!["stable".to_owned()]))]);
        record.set_owners(Arc::new(owners));
        assert_eq!(record.owners_of("Widget", "a", "w"), ["stable"]);
        assert!(record.owners_of("Widget", "b", "w").is_empty());
    }
}

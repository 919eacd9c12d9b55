//! The CloudNativePG gate: every database `Cluster` in scope (postgresql.cnpg.io/v1) must have a newest
//! `Backup` that is `completed`, without an error, and stopped less than `maxAge` ago.

use super::fields::{check_age, describe, first_timestamp, is_not_found, str_at};
use super::{GateContext, GateError, GateFailure, GateVerdict};
use crate::plan::file::{CloudNativePgBackupGate, CloudNativePgBackupPhase};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde_json::Value;
use std::fmt;

/// A CloudNativePG backup's `status.phase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudNativePgPhase {
    /// Not started yet (also an absent phase).
    Pending,
    /// Started.
    Started,
    /// Copying data.
    Running,
    /// Writing the last WAL files.
    Finalizing,
    /// Finished.
    Completed,
    /// Failed.
    Failed,
    /// WAL archiving is failing, so the backup cannot complete.
    WalArchivingFailing,
    /// A phase this tool does not know.
    Other(String),
}

impl CloudNativePgPhase {
    /// The phase as a backup's `status.phase` reads (absent or empty is `pending`).
    pub fn parse(phase: Option<&str>) -> CloudNativePgPhase {
        match phase.unwrap_or_default() {
            "" | "pending" => CloudNativePgPhase::Pending,
            "started" => CloudNativePgPhase::Started,
            "running" => CloudNativePgPhase::Running,
            "finalizing" => CloudNativePgPhase::Finalizing,
            "completed" => CloudNativePgPhase::Completed,
            "failed" => CloudNativePgPhase::Failed,
            "walArchivingFailing" => CloudNativePgPhase::WalArchivingFailing,
            other => CloudNativePgPhase::Other(other.to_owned()),
        }
    }

    /// The phase as CloudNativePG writes it.
    pub fn as_str(&self) -> &str {
        match self {
            CloudNativePgPhase::Pending => "pending",
            CloudNativePgPhase::Started => "started",
            CloudNativePgPhase::Running => "running",
            CloudNativePgPhase::Finalizing => "finalizing",
            CloudNativePgPhase::Completed => "completed",
            CloudNativePgPhase::Failed => "failed",
            CloudNativePgPhase::WalArchivingFailing => "walArchivingFailing",
            CloudNativePgPhase::Other(other) => other,
        }
    }
}

impl From<CloudNativePgBackupPhase> for CloudNativePgPhase {
    fn from(phase: CloudNativePgBackupPhase) -> CloudNativePgPhase {
        match phase {
            CloudNativePgBackupPhase::Completed => CloudNativePgPhase::Completed,
        }
    }
}

/// A database `Cluster` that needs a backup.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClusterRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name (what its `Backup`s name in `spec.cluster.name`).
    pub name: String,
}

impl ClusterRef {
    /// The reference to a `Cluster` object as the API server returns it.
    pub fn of(cluster: &Value) -> ClusterRef {
        ClusterRef {
            namespace: str_at(cluster, "metadata.namespace").unwrap_or_default().to_owned(),
            name: str_at(cluster, "metadata.name").unwrap_or_default().to_owned(),
        }
    }

    /// Whether `backup` is a backup of this cluster (same namespace, `spec.cluster.name` is its name).
    pub fn owns(&self, backup: &Value) -> bool {
        str_at(backup, "metadata.namespace") == Some(&self.namespace)
            && str_at(backup, "spec.cluster.name") == Some(&self.name)
    }
}

impl fmt::Display for ClusterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgresql.cnpg.io Cluster {}/{}", self.namespace, self.name)
    }
}

/// Judges one cluster by its newest backup (by `status.stoppedAt`, falling back to `status.startedAt` and
/// `metadata.creationTimestamp` for one still running). `backups` may hold other clusters' backups: only
/// those the cluster [owns](ClusterRef::owns) count.
pub fn judge_cluster(
    cluster: &ClusterRef,
    backups: &[Value],
    gate: &CloudNativePgBackupGate,
    ctx: &GateContext,
) -> GateVerdict {
    match check_cluster(cluster, backups, gate, ctx) {
        Ok(evidence) => GateVerdict::Passed { evidence },
        Err(failure) => GateVerdict::Failed(failure),
    }
}

fn check_cluster(
    cluster: &ClusterRef,
    backups: &[Value],
    gate: &CloudNativePgBackupGate,
    ctx: &GateContext,
) -> Result<String, GateFailure> {
    let newest = backups.iter().filter(|backup| cluster.owns(backup)).max_by_key(|backup| {
        let at = first_timestamp(backup, &["status.stoppedAt", "status.startedAt", "metadata.creationTimestamp"]);
        (at, str_at(backup, "metadata.name").unwrap_or_default().to_owned())
    });
    let Some(backup) = newest else {
        let reason = format!(
            "has none: no postgresql.cnpg.io Backup in namespace {} has spec.cluster.name {}",
            cluster.namespace, cluster.name
        );
        return Err(GateFailure::new(cluster.to_string(), "backups", reason));
    };
    let name = str_at(backup, "metadata.name").unwrap_or_default();
    let subject = format!("postgresql.cnpg.io Backup {}/{name} (of Cluster {})", cluster.namespace, cluster.name);

    let phase = CloudNativePgPhase::parse(str_at(backup, "status.phase"));
    let required = CloudNativePgPhase::from(gate.required_phase);
    if phase != required {
        let reason = format!("is {}, must be {}", phase.as_str(), required.as_str());
        return Err(GateFailure::new(subject, "status.phase", reason));
    }
    if let Some(error) = str_at(backup, "status.error").filter(|error| !error.is_empty()) {
        return Err(GateFailure::new(subject, "status.error", format!("is {error:?}, must be empty")));
    }
    let (stopped, age) = check_age(&subject, backup, "status.stoppedAt", ctx.now, gate.max_age)?;
    Ok(format!("{subject}: completed at {stopped} ({} ago, maxAge {})", describe(age), gate.max_age))
}

/// Judges the gate from the `Cluster`s and `Backup`s listed in its namespaces: the clusters in scope are
/// those `gate.clusters` names (each must exist) or all of them, there must be at least one, and each must
/// pass [`judge_cluster`]. The first failing cluster (in namespace/name order) is the verdict.
pub fn judge_clusters(
    clusters: &[Value],
    backups: &[Value],
    gate: &CloudNativePgBackupGate,
    ctx: &GateContext,
) -> GateVerdict {
    let mut in_scope: Vec<ClusterRef> = clusters
        .iter()
        .map(ClusterRef::of)
        .filter(|cluster| gate.clusters.is_empty() || gate.clusters.contains(&cluster.name))
        .collect();
    in_scope.sort();
    let subject = format!("postgresql.cnpg.io Clusters {}", scope(gate));
    if let Some(missing) = gate.clusters.iter().find(|name| !in_scope.iter().any(|cluster| &cluster.name == *name)) {
        return GateFailure::new(subject, "clusters", format!("names {missing}, which does not exist")).into();
    }
    if in_scope.is_empty() {
        return GateFailure::new(subject, "clusters", "finds none: there is no backup to verify").into();
    }
    let mut evidence = Vec::new();
    for cluster in &in_scope {
        match judge_cluster(cluster, backups, gate, ctx) {
            GateVerdict::Passed { evidence: found } => evidence.push(found),
            failed => return failed,
        }
    }
    GateVerdict::Passed { evidence: evidence.join("; ") }
}

fn scope(gate: &CloudNativePgBackupGate) -> String {
    match gate.namespaces.as_slice() {
        [] => "in every namespace".to_owned(),
        [one] => format!("in namespace {one}"),
        many => format!("in namespaces {}", many.join(", ")),
    }
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("postgresql.cnpg.io", "v1", kind), plural)
}

/// Every object of `resource` in the gate's namespaces; `None` when the resource is not served.
async fn list_in_scope(
    client: &kube::Client,
    resource: &ApiResource,
    gate: &CloudNativePgBackupGate,
) -> Result<Option<Vec<Value>>, GateError> {
    let apis: Vec<Api<DynamicObject>> = match gate.namespaces.as_slice() {
        [] => vec![Api::all_with(client.clone(), resource)],
        namespaces => namespaces.iter().map(|ns| Api::namespaced_with(client.clone(), ns, resource)).collect(),
    };
    let mut objects = Vec::new();
    for api in apis {
        match api.list(&ListParams::default()).await {
            Ok(list) => objects.extend(list.items.iter().map(|item| serde_json::to_value(item).unwrap_or_default())),
            Err(error) if is_not_found(&error) => return Ok(None),
            Err(source) => {
                let what = format!("postgresql.cnpg.io {}s {}", resource.kind, scope(gate));
                return Err(GateError::Api { what, source });
            }
        }
    }
    Ok(Some(objects))
}

/// Lists the gate's clusters and their backups, and judges them.
pub(super) async fn evaluate(
    client: &kube::Client,
    gate: &CloudNativePgBackupGate,
    ctx: &GateContext,
) -> Result<GateVerdict, GateError> {
    let not_installed = |plural: &str| {
        let subject = format!("postgresql.cnpg.io Clusters {}", scope(gate));
        let reason = format!("postgresql.cnpg.io/v1 {plural} is not served: CloudNativePG is not installed");
        Ok(GateFailure::new(subject, "kind", reason).into())
    };
    let Some(clusters) = list_in_scope(client, &resource("Cluster", "clusters"), gate).await? else {
        return not_installed("clusters");
    };
    let Some(backups) = list_in_scope(client, &resource("Backup", "backups"), gate).await? else {
        return not_installed("backups");
    };
    Ok(judge_clusters(&clusters, &backups, gate, ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::fields::with;
    use crate::plan::file::Duration;
    use serde_json::json;

    fn ctx() -> GateContext {
        GateContext {
            now: "2026-03-10T12:00:00Z".parse().unwrap(),
            upgrade_window: std::time::Duration::from_secs(3600),
            base_dir: ".".into(),
        }
    }

    fn gate() -> CloudNativePgBackupGate {
        CloudNativePgBackupGate {
            name: None,
            namespaces: vec!["db".into()],
            clusters: vec![],
            max_age: Duration::from_hours(24),
            required_phase: CloudNativePgBackupPhase::Completed,
        }
    }

    fn cluster(namespace: &str, name: &str) -> Value {
        json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": name, "namespace": namespace}})
    }

    fn backup(namespace: &str, name: &str, cluster: &str, stopped: &str) -> Value {
        json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2026-03-01T00:00:00Z"},
            "spec": {"cluster": {"name": cluster}, "method": "barmanObjectStore"},
            "status": {"phase": "completed", "startedAt": "2026-03-10T02:00:00Z", "stoppedAt": stopped}})
    }

    fn main() -> ClusterRef {
        ClusterRef { namespace: "db".into(), name: "main".into() }
    }

    fn failed(verdict: GateVerdict) -> GateFailure {
        match verdict {
            GateVerdict::Failed(failure) => failure,
            passed => panic!("expected a failure, got {passed:?}"),
        }
    }

    #[test]
    fn a_recent_completed_backup_passes() {
        let backups = [backup("db", "main-1", "main", "2026-03-10T03:00:00Z")];
        let verdict = judge_cluster(&main(), &backups, &gate(), &ctx());
        let GateVerdict::Passed { evidence } = verdict else { panic!("{verdict:?}") };
        assert_eq!(
            evidence,
            "postgresql.cnpg.io Backup db/main-1 (of Cluster main): completed at 2026-03-10T03:00:00Z (9h ago, maxAge 1d)"
        );
    }

    #[test]
    fn the_newest_backup_of_the_cluster_is_judged() {
        let backups = [
            with(backup("db", "main-new", "main", "2026-03-10T03:00:00Z"), "status.phase", json!("failed")),
            backup("db", "main-old", "main", "2026-03-10T01:00:00Z"),
            backup("db", "other-newer", "other", "2026-03-10T04:00:00Z"),
            backup("elsewhere", "main-elsewhere", "main", "2026-03-10T05:00:00Z"),
        ];
        let failure = failed(judge_cluster(&main(), &backups, &gate(), &ctx()));
        assert_eq!(failure.subject, "postgresql.cnpg.io Backup db/main-new (of Cluster main)");
        assert_eq!((failure.field.as_str(), failure.reason.as_str()), ("status.phase", "is failed, must be completed"));
        // A running backup (no stoppedAt yet) started after the last one stopped is the newest.
        let running = with(
            with(backup("db", "main-running", "main", ""), "status.phase", json!("running")),
            "status.startedAt",
            json!("2026-03-10T11:00:00Z"),
        );
        let running = with(running, "status.stoppedAt", Value::Null);
        let verdict = judge_cluster(&main(), &[backups[1].clone(), running], &gate(), &ctx());
        assert_eq!(failed(verdict).reason, "is running, must be completed");
    }

    #[test]
    fn fails_on_phase() {
        for phase in ["failed", "running", "pending", "walArchivingFailing"] {
            let backups = [with(backup("db", "main-1", "main", "2026-03-10T03:00:00Z"), "status.phase", json!(phase))];
            let failure = failed(judge_cluster(&main(), &backups, &gate(), &ctx()));
            assert_eq!(failure.field, "status.phase");
            assert_eq!(failure.reason, format!("is {phase}, must be completed"));
        }
        let unset = [with(backup("db", "main-1", "main", "2026-03-10T03:00:00Z"), "status.phase", Value::Null)];
        assert_eq!(failed(judge_cluster(&main(), &unset, &gate(), &ctx())).reason, "is pending, must be completed");
    }

    #[test]
    fn fails_on_error() {
        let backups = [with(
            backup("db", "main-1", "main", "2026-03-10T03:00:00Z"),
            "status.error",
            json!("can't upload: access denied"),
        )];
        let failure = failed(judge_cluster(&main(), &backups, &gate(), &ctx()));
        assert_eq!(failure.field, "status.error");
        assert_eq!(failure.reason, "is \"can't upload: access denied\", must be empty");
        let empty = [with(backup("db", "main-1", "main", "2026-03-10T03:00:00Z"), "status.error", json!(""))];
        assert!(judge_cluster(&main(), &empty, &gate(), &ctx()).passed());
    }

    #[test]
    fn fails_on_age() {
        let backups = [backup("db", "main-1", "main", "2026-03-09T10:00:00Z")];
        let failure = failed(judge_cluster(&main(), &backups, &gate(), &ctx()));
        assert_eq!(failure.field, "status.stoppedAt");
        assert_eq!(failure.reason, "is 2026-03-09T10:00:00Z, 1d2h ago: older than maxAge 1d");
        let unset = [with(backup("db", "main-1", "main", ""), "status.stoppedAt", Value::Null)];
        assert_eq!(failed(judge_cluster(&main(), &unset, &gate(), &ctx())).field, "status.stoppedAt");
    }

    #[test]
    fn fails_on_no_backup() {
        let backups = [backup("db", "other-1", "other", "2026-03-10T03:00:00Z")];
        let failure = failed(judge_cluster(&main(), &backups, &gate(), &ctx()));
        assert_eq!(failure.subject, "postgresql.cnpg.io Cluster db/main");
        assert_eq!(failure.field, "backups");
        assert!(failure.reason.contains("spec.cluster.name main"), "{failure:?}");
    }

    #[test]
    fn every_cluster_in_scope_must_pass() {
        let clusters = [cluster("db", "main"), cluster("db", "other")];
        let good = [
            backup("db", "main-1", "main", "2026-03-10T03:00:00Z"),
            backup("db", "o-1", "other", "2026-03-10T03:00:00Z"),
        ];
        let verdict = judge_clusters(&clusters, &good, &gate(), &ctx());
        let GateVerdict::Passed { evidence } = verdict else { panic!("{verdict:?}") };
        assert!(evidence.contains("db/main-1") && evidence.contains("db/o-1"), "{evidence}");

        let failure = failed(judge_clusters(&clusters, &good[..1], &gate(), &ctx()));
        assert_eq!(
            (failure.subject.as_str(), failure.field.as_str()),
            ("postgresql.cnpg.io Cluster db/other", "backups")
        );

        let only_main = CloudNativePgBackupGate { clusters: vec!["main".into()], ..gate() };
        assert!(judge_clusters(&clusters, &good[..1], &only_main, &ctx()).passed());
    }

    #[test]
    fn a_named_cluster_must_exist_and_the_scope_must_not_be_empty() {
        let named = CloudNativePgBackupGate { clusters: vec!["main".into(), "gone".into()], ..gate() };
        let backups = [backup("db", "main-1", "main", "2026-03-10T03:00:00Z")];
        let failure = failed(judge_clusters(&[cluster("db", "main")], &backups, &named, &ctx()));
        assert_eq!(failure.subject, "postgresql.cnpg.io Clusters in namespace db");
        assert_eq!((failure.field.as_str(), failure.reason.as_str()), ("clusters", "names gone, which does not exist"));
        let none = failed(judge_clusters(&[], &[], &gate(), &ctx()));
        assert_eq!(
            (none.field.as_str(), none.reason.as_str()),
            ("clusters", "finds none: there is no backup to verify")
        );
    }
}

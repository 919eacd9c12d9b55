//! Backup gates through the real `kube::Client`, each cluster-facing body run against the simulator and
//! the real control plane (see `tests/common`): Velero and CloudNativePG CRDs under their real group
//! names (created once per cluster and shared, since CRDs are cluster-scoped), objects with statuses in
//! the test's own namespaces, and `evaluate` passing and failing on each condition. The command gate runs
//! real processes.

use crate::common;

use common::TestCluster;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use operator_upgrade::gates::{evaluate, GateContext, GateError, GateFailure, GateVerdict};
use operator_upgrade::plan::file::{
    BackupGate, BackupGateKind, CloudNativePgBackupGate, CloudNativePgBackupPhase, CommandGate, Duration,
    JobDefinition, LabelSelectorText, VeleroBackupGate, VeleroBackupPhase,
};
use operator_upgrade::sim::Scenario;
use serde_json::{json, Value};

/// A CRD that keeps every field, with a status subresource, as the real Velero and CloudNativePG CRDs have.
fn crd(group: &str, kind: &str, plural: &str) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase()},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap()
}

/// Creates the CRD unless it exists (the real server is shared by every test and run), and waits until
/// it is served.
async fn ensure_crd(cluster: &TestCluster, group: &str, kind: &str, plural: &str) -> ApiResource {
    if cluster.is_real() {
        check_real_not_installed_once(cluster).await;
    }
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    match crds.create(&PostParams::default(), &crd(group, kind, plural)).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.is_already_exists() => {}
        Err(error) => panic!("the {plural}.{group} CRD is created: {error}"),
    }
    cluster.wait_established(&format!("{plural}.{group}")).await;
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural)
}

/// Creates an object and gives it `status` (through the status subresource when the CRD has one).
async fn create_with_status(cluster: &TestCluster, resource: &ApiResource, namespace: &str, object: Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(cluster.client(), namespace, resource);
    let name = object["metadata"]["name"].as_str().unwrap().to_owned();
    let mut object = object;
    object["apiVersion"] = json!(resource.api_version);
    object["kind"] = json!(resource.kind);
    let created = api.create(&PostParams::default(), &serde_json::from_value(object.clone()).unwrap()).await;
    let created = serde_json::to_value(created.expect("the object is created")).unwrap();
    if created["status"] != object["status"] {
        let patch = Patch::Merge(json!({"status": object["status"]}));
        api.patch_status(&name, &PatchParams::default(), &patch).await.expect("the status is written");
    }
}

fn at(offset: SignedDuration) -> String {
    (Timestamp::now() + offset).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn hours(hours: i64) -> SignedDuration {
    SignedDuration::from_hours(hours)
}

fn ctx() -> GateContext {
    GateContext {
        now: Timestamp::now(),
        upgrade_window: std::time::Duration::from_secs(2 * 3600),
        base_dir: std::env::temp_dir(),
    }
}

async fn verdict(cluster: &TestCluster, gate: BackupGate) -> GateVerdict {
    evaluate(&cluster.client(), &gate, &ctx()).await.expect("the gate is evaluated")
}

async fn failed(cluster: &TestCluster, gate: BackupGate) -> GateFailure {
    match verdict(cluster, gate).await {
        GateVerdict::Failed(failure) => failure,
        passed => panic!("expected a failure, got {passed:?}"),
    }
}

fn velero_gate(namespace: &str) -> VeleroBackupGate {
    VeleroBackupGate {
        namespace: namespace.to_owned(),
        name: None,
        selector: None,
        max_age: Duration::from_hours(24),
        required_phase: VeleroBackupPhase::Completed,
        included_namespaces: vec!["shop".into()],
        test_restore: None,
    }
}

fn by_name(namespace: &str, name: &str) -> BackupGate {
    BackupGate::Velero(VeleroBackupGate { name: Some(name.to_owned()), ..velero_gate(namespace) })
}

/// A Velero backup that passes the gate, with `spec` and `status` fields overridden.
fn velero_backup(name: &str, labels: Value, spec: Value, status: Value) -> Value {
    let mut backup = json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"includedNamespaces": ["shop", "db"], "storageLocation": "default", "ttl": "720h0m0s"},
        "status": {"phase": "Completed", "errors": 0, "startTimestamp": at(hours(-2)),
            "completionTimestamp": at(hours(-1)), "expiration": at(hours(24 * 30))}
    });
    for (part, fields) in [("spec", spec), ("status", status)] {
        for (key, value) in fields.as_object().unwrap() {
            backup[part][key] = value.clone();
        }
    }
    backup
}

async fn velero_backups_pass_and_fail_on_each_condition(cluster: TestCluster) {
    let backups = ensure_crd(&cluster, "velero.io", "Backup", "backups").await;
    let locations = ensure_crd(&cluster, "velero.io", "BackupStorageLocation", "backupstoragelocations").await;
    let ns = cluster.namespace("velero").await;
    for (name, phase) in [("default", "Available"), ("broken", "Unavailable")] {
        let location = json!({"metadata": {"name": name}, "spec": {"provider": "aws"}, "status": {"phase": phase}});
        create_with_status(&cluster, &locations, &ns, location).await;
    }
    let daily = json!({"velero.io/schedule-name": "daily"});
    let none = json!({});
    for backup in [
        velero_backup("daily-new", daily.clone(), json!({}), json!({})),
        velero_backup("daily-old", daily.clone(), json!({}), json!({"completionTimestamp": at(hours(-5))})),
        velero_backup("partial", none.clone(), json!({}), json!({"phase": "PartiallyFailed"})),
        velero_backup("with-errors", none.clone(), json!({}), json!({"errors": 2})),
        velero_backup("stale", none.clone(), json!({}), json!({"completionTimestamp": at(hours(-30))})),
        velero_backup("expiring", none.clone(), json!({}), json!({"expiration": at(SignedDuration::from_mins(30))})),
        velero_backup("narrow", none.clone(), json!({"includedNamespaces": ["db"]}), json!({})),
        velero_backup("all-namespaces", none.clone(), json!({"includedNamespaces": ["*"]}), json!({})),
        velero_backup("unavailable", none.clone(), json!({"storageLocation": "broken"}), json!({})),
        velero_backup("nowhere", none.clone(), json!({"storageLocation": "gone"}), json!({})),
    ] {
        create_with_status(&cluster, &backups, &ns, backup).await;
    }

    // The newest backup of the schedule passes; the evidence names it.
    let daily_gate = VeleroBackupGate {
        selector: Some(LabelSelectorText::parse("velero.io/schedule-name=daily").unwrap()),
        ..velero_gate(&ns)
    };
    let GateVerdict::Passed { evidence } = verdict(&cluster, BackupGate::Velero(daily_gate)).await else {
        panic!("the daily backup passes")
    };
    assert!(evidence.starts_with(&format!("velero.io Backup {ns}/daily-new: Completed with 0 errors")), "{evidence}");
    assert!(verdict(&cluster, by_name(&ns, "daily-old")).await.passed());
    assert!(verdict(&cluster, by_name(&ns, "all-namespaces")).await.passed());

    for (name, subject, field, reason) in [
        ("partial", format!("velero.io Backup {ns}/partial"), "status.phase", "is PartiallyFailed, must be Completed"),
        ("with-errors", format!("velero.io Backup {ns}/with-errors"), "status.errors", "is 2, must be 0"),
        ("stale", format!("velero.io Backup {ns}/stale"), "status.completionTimestamp", "older than maxAge 1d"),
        ("expiring", format!("velero.io Backup {ns}/expiring"), "status.expiration", "expires during the upgrade"),
        (
            "narrow",
            format!("velero.io Backup {ns}/narrow"),
            "spec.includedNamespaces",
            "namespace shop is not backed up",
        ),
        ("unavailable", format!("velero.io BackupStorageLocation {ns}/broken"), "status.phase", "is Unavailable"),
        ("nowhere", format!("velero.io Backup {ns}/nowhere"), "spec.storageLocation", "which does not exist"),
        ("missing", format!("velero.io Backup {ns}/missing"), "metadata.name", "no Backup missing in namespace"),
    ] {
        let failure = failed(&cluster, by_name(&ns, name)).await;
        assert_eq!(
            (failure.subject.as_str(), failure.field.as_str()),
            (subject.as_str(), field),
            "{name}: {failure:?}"
        );
        assert!(failure.reason.contains(reason), "{name}: {failure:?}");
    }

    let weekly = VeleroBackupGate {
        selector: Some(LabelSelectorText::parse("velero.io/schedule-name=weekly").unwrap()),
        ..velero_gate(&ns)
    };
    let failure = failed(&cluster, BackupGate::Velero(weekly)).await;
    assert_eq!(failure.field, "metadata.labels");
    assert_eq!(failure.reason, format!("no Backup in namespace {ns} matches velero.io/schedule-name=weekly"));
}
on_both_clusters!(velero_backups_pass_and_fail_on_each_condition);

fn cnpg_gate(namespaces: &[&str], clusters: &[&str]) -> BackupGate {
    BackupGate::CloudNativePg(CloudNativePgBackupGate {
        name: None,
        namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
        clusters: clusters.iter().map(|s| s.to_string()).collect(),
        max_age: Duration::from_hours(24),
        required_phase: CloudNativePgBackupPhase::Completed,
    })
}

fn cnpg_backup(name: &str, cluster: &str, status: Value) -> Value {
    let mut backup = json!({
        "metadata": {"name": name},
        "spec": {"cluster": {"name": cluster}, "method": "barmanObjectStore"},
        "status": {"phase": "completed", "startedAt": at(hours(-3)), "stoppedAt": at(hours(-2))}
    });
    for (key, value) in status.as_object().unwrap() {
        backup["status"][key] = value.clone();
    }
    backup
}

async fn cloudnative_pg_backups_pass_and_fail_on_each_condition(cluster: TestCluster) {
    let clusters = ensure_crd(&cluster, "postgresql.cnpg.io", "Cluster", "clusters").await;
    let backups = ensure_crd(&cluster, "postgresql.cnpg.io", "Backup", "backups").await;
    let ns = cluster.namespace("db").await;
    // The real server keeps earlier runs' namespaces: a cluster looked for in every namespace has a name
    // of this test's own.
    let main = cluster.unique("main");
    for name in [main.as_str(), "failing", "erring", "stale", "lonely"] {
        let object = json!({"metadata": {"name": name}, "spec": {"instances": 1}, "status": {"phase": "Cluster in healthy state"}});
        create_with_status(&cluster, &clusters, &ns, object).await;
    }
    for backup in [
        cnpg_backup("main-old", &main, json!({"stoppedAt": at(hours(-30))})),
        cnpg_backup("main-new", &main, json!({})),
        cnpg_backup("failing-1", "failing", json!({"phase": "failed", "error": "can't upload: access denied"})),
        cnpg_backup("erring-1", "erring", json!({"error": "WAL archiving lagged"})),
        cnpg_backup("stale-1", "stale", json!({"stoppedAt": at(hours(-30))})),
    ] {
        create_with_status(&cluster, &backups, &ns, backup).await;
    }

    let GateVerdict::Passed { evidence } = verdict(&cluster, cnpg_gate(&[&ns], &[&main])).await else {
        panic!("the main cluster's newest backup passes")
    };
    assert!(evidence.starts_with(&format!("postgresql.cnpg.io Backup {ns}/main-new (of Cluster {main}): completed")));
    assert!(verdict(&cluster, cnpg_gate(&[], &[&main])).await.passed(), "found in every namespace");

    for (name, subject, field, reason) in [
        (
            "failing",
            format!("postgresql.cnpg.io Backup {ns}/failing-1 (of Cluster failing)"),
            "status.phase",
            "is failed, must be completed",
        ),
        (
            "erring",
            format!("postgresql.cnpg.io Backup {ns}/erring-1 (of Cluster erring)"),
            "status.error",
            "is \"WAL archiving lagged\", must be empty",
        ),
        (
            "stale",
            format!("postgresql.cnpg.io Backup {ns}/stale-1 (of Cluster stale)"),
            "status.stoppedAt",
            "older than maxAge 1d",
        ),
        ("lonely", format!("postgresql.cnpg.io Cluster {ns}/lonely"), "backups", "has none"),
        (
            "absent",
            format!("postgresql.cnpg.io Clusters in namespace {ns}"),
            "clusters",
            "names absent, which does not exist",
        ),
    ] {
        let failure = failed(&cluster, cnpg_gate(&[&ns], &[name])).await;
        assert_eq!(
            (failure.subject.as_str(), failure.field.as_str()),
            (subject.as_str(), field),
            "{name}: {failure:?}"
        );
        assert!(failure.reason.contains(reason), "{name}: {failure:?}");
    }

    // Every cluster of the namespace: the first failing one (by name) is the verdict.
    let failure = failed(&cluster, cnpg_gate(&[&ns], &[])).await;
    assert_eq!(
        (failure.subject.as_str(), failure.field.as_str()),
        (format!("postgresql.cnpg.io Backup {ns}/erring-1 (of Cluster erring)").as_str(), "status.error")
    );
    let empty = cluster.namespace("empty").await;
    let failure = failed(&cluster, cnpg_gate(&[&empty], &[])).await;
    assert_eq!(
        (failure.field.as_str(), failure.reason.as_str()),
        ("clusters", "finds none: there is no backup to verify")
    );
}
on_both_clusters!(cloudnative_pg_backups_pass_and_fail_on_each_condition);

/// Checks that, without the CRDs, the gates fail saying what is not installed.
async fn assert_not_installed(cluster: &TestCluster) {
    let failure = failed(cluster, by_name("velero", "daily")).await;
    assert_eq!((failure.subject.as_str(), failure.field.as_str()), ("velero.io Backup velero/daily", "kind"));
    assert!(failure.reason.contains("Velero is not installed"), "{failure:?}");
    let failure = failed(cluster, cnpg_gate(&[], &[])).await;
    assert_eq!(
        (failure.subject.as_str(), failure.field.as_str()),
        ("postgresql.cnpg.io Clusters in every namespace", "kind")
    );
    assert!(failure.reason.contains("CloudNativePG is not installed"), "{failure:?}");
}

/// The real server is shared, so its check runs once, before any test of this file creates the CRDs:
/// whichever test comes first runs it (skipped when an earlier run left the CRDs behind).
static REAL_NOT_INSTALLED_CHECKED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

async fn check_real_not_installed_once(cluster: &TestCluster) {
    REAL_NOT_INSTALLED_CHECKED
        .get_or_init(|| async {
            let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
            for name in ["backups.velero.io", "clusters.postgresql.cnpg.io", "backups.postgresql.cnpg.io"] {
                if crds.get_opt(name).await.unwrap().is_some() {
                    eprintln!("skipped the not-installed check on the real control plane: {name} exists already");
                    return;
                }
            }
            assert_not_installed(cluster).await;
        })
        .await;
}

async fn gates_fail_when_velero_or_cloudnative_pg_is_not_installed(cluster: TestCluster) {
    match cluster.is_real() {
        true => check_real_not_installed_once(&cluster).await,
        false => assert_not_installed(&cluster).await,
    }
}
on_both_clusters!(gates_fail_when_velero_or_cloudnative_pg_is_not_installed);

fn command(argv: &[&str], timeout: &str) -> BackupGate {
    BackupGate::Command(CommandGate {
        name: None,
        command: argv.iter().map(|s| s.to_string()).collect(),
        working_dir: None,
        timeout: Duration::parse(timeout).unwrap(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_gates_pass_on_exit_zero_and_fail_on_exit_status_or_timeout() {
    let cluster = TestCluster::sim(Scenario::default()).await;
    let GateVerdict::Passed { evidence } = verdict(&cluster, command(&["true"], "10s")).await else {
        panic!("`true` passes")
    };
    assert!(evidence.starts_with("command `true`: exited 0"), "{evidence}");

    let exited = failed(&cluster, command(&["sh", "-c", "echo backup missing >&2; exit 3"], "10s")).await;
    assert_eq!(
        (exited.subject.as_str(), exited.field.as_str()),
        ("command `sh -c echo backup missing >&2; exit 3`", "exit status")
    );
    assert!(
        exited.reason.starts_with("is 3, must be 0") && exited.reason.ends_with("output:\nbackup missing\n"),
        "{exited:?}"
    );

    let started = std::time::Instant::now();
    let late = failed(&cluster, command(&["sleep", "5"], "200ms")).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "killed at its timeout: {:?}", started.elapsed());
    assert_eq!(late.field, "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_gates_are_left_to_the_engine() {
    let cluster = TestCluster::sim(Scenario::default()).await;
    let job = BackupGate::Job(JobDefinition {
        name: "check".into(),
        namespace: None,
        timeout: Duration::from_mins(1),
        file: None,
        spec: None,
        needs_contract: false,
    });
    let error = evaluate(&cluster.client(), &job, &ctx()).await.unwrap_err();
    assert!(matches!(error, GateError::NotHandledHere(BackupGateKind::Job)), "{error:?}");
}

/// Plays Velero for one test restore: waits for the run's `Restore`, checks it restores `source` into
/// `scratch` and nothing cluster-scoped, restores a ConfigMap into the scratch namespace, and ends the
/// restore with `status`.
async fn play_velero(client: kube::Client, restores: ApiResource, velero: String, run_id: String, status: Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &velero, &restores);
    let name = operator_upgrade::engine::restore::restore_name(&run_id);
    let restore =
        common::eventually("the test Restore is created", || async { api.get_opt(&name).await.ok().flatten() }).await;
    let restore = serde_json::to_value(restore).unwrap();
    let scratch = restore["spec"]["namespaceMapping"]["shop"].as_str().unwrap().to_owned();
    assert_eq!(restore["spec"]["backupName"], "nightly");
    assert_eq!(restore["spec"]["includedNamespaces"], json!(["shop"]));
    assert_eq!(restore["spec"]["includeClusterResources"], false, "a test restore writes nothing cluster-scoped");
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let labels = namespaces.get(&scratch).await.unwrap().metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("operator-upgrade.dev/run"), Some(&run_id), "the scratch namespace is the run's");
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, &scratch);
    let restored = serde_json::from_value(json!({"metadata": {"name": "restored"}, "data": {"k": "v"}})).unwrap();
    configmaps.create(&PostParams::default(), &restored).await.unwrap();
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await.unwrap();
}

/// Whether the namespace is gone or on its way (a real cluster keeps it `Terminating` while it empties).
async fn removed(cluster: &TestCluster, name: &str) -> bool {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client());
    namespaces.get_opt(name).await.unwrap().is_none_or(|n| n.metadata.deletion_timestamp.is_some())
}

async fn a_test_restore_passes_fails_and_times_out_and_leaves_no_namespace(cluster: TestCluster) {
    use operator_upgrade::cluster::Objects;
    use operator_upgrade::engine::restore::test_restore;
    use operator_upgrade::plan::file::TestRestore;
    let backups = ensure_crd(&cluster, "velero.io", "Backup", "backups").await;
    let locations = ensure_crd(&cluster, "velero.io", "BackupStorageLocation", "backupstoragelocations").await;
    let restores = ensure_crd(&cluster, "velero.io", "Restore", "restores").await;
    let velero = cluster.namespace("velero").await;
    let location =
        json!({"metadata": {"name": "default"}, "spec": {"provider": "aws"}, "status": {"phase": "Available"}});
    create_with_status(&cluster, &locations, &velero, location).await;
    create_with_status(&cluster, &backups, &velero, velero_backup("nightly", json!({}), json!({}), json!({}))).await;
    let objects = Objects::new(cluster.client(), false);
    let gate = VeleroBackupGate { name: Some("nightly".into()), ..velero_gate(&velero) };
    let plan = |scratch: &str, timeout: &str, keep: bool| TestRestore {
        source_namespace: "shop".into(),
        scratch_namespace: scratch.to_owned(),
        timeout: Duration::parse(timeout).unwrap(),
        keep,
    };
    let run = |n: u32| format!("{n:08x}-test");
    // The test restore, while Velero's side (`play_velero`) checks the Restore and ends it with `status`.
    let restored = async |restore: &TestRestore, run_id: &str, status: Value| {
        let velero_side = play_velero(cluster.client(), restores.clone(), velero.clone(), run_id.to_owned(), status);
        let velero_side = tokio::spawn(velero_side);
        let verdict = test_restore(&objects, &gate, restore, "nightly", run_id).await.expect("the test restore runs");
        velero_side.await.expect("Velero's side checked the Restore and ended it");
        verdict
    };

    // Completed with 0 errors passes; the scratch namespace and what was restored into it go.
    let (scratch, run_id) = (cluster.unique("scratch1"), run(1));
    let verdict =
        restored(&plan(&scratch, "30s", false), &run_id, json!({"phase": "Completed", "errors": 0, "warnings": 1}))
            .await;
    let GateVerdict::Passed { evidence } = verdict else { panic!("a completed restore passes: {verdict:?}") };
    assert!(evidence.contains("Completed with 0 errors, 1 warnings") && evidence.contains("removed"), "{evidence}");
    assert!(removed(&cluster, &scratch).await, "the scratch namespace is removed");

    // A partially failed restore fails, naming the Restore and its phase; the namespace goes too.
    let (scratch, run_id) = (cluster.unique("scratch2"), run(2));
    let verdict =
        restored(&plan(&scratch, "30s", false), &run_id, json!({"phase": "PartiallyFailed", "errors": 2})).await;
    let GateVerdict::Failed(failure) = verdict else { panic!("a partially failed restore fails: {verdict:?}") };
    let name = operator_upgrade::engine::restore::restore_name(&run_id);
    assert_eq!(
        (failure.subject, failure.field.as_str()),
        (format!("velero.io Restore {velero}/{name}"), "status.phase")
    );
    assert!(failure.reason.starts_with("is PartiallyFailed, must be Completed (2 errors)"), "{}", failure.reason);
    assert!(removed(&cluster, &scratch).await, "the scratch namespace is removed after a failure");

    // Nobody finishing the restore in time fails on its timeout.
    let (scratch, run_id) = (cluster.unique("scratch3"), run(3));
    let verdict = test_restore(&objects, &gate, &plan(&scratch, "1s", false), "nightly", &run_id).await.unwrap();
    let failure = verdict.failure().expect("a restore nobody ends times out").clone();
    assert!(failure.reason.contains("after 1s: the restore did not finish"), "{failure:?}");
    assert!(removed(&cluster, &scratch).await);

    // `keep` keeps the namespace, without the run's label.
    let (scratch, run_id) = (cluster.unique("scratch4"), run(4));
    let verdict = restored(&plan(&scratch, "30s", true), &run_id, json!({"phase": "Completed", "errors": 0})).await;
    assert!(verdict.passed(), "{verdict:?}");
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client());
    let kept = namespaces.get(&scratch).await.expect("a kept namespace stays");
    assert!(
        !kept.metadata.labels.unwrap_or_default().contains_key("operator-upgrade.dev/run"),
        "no label of the run stays"
    );

    // A namespace that is not the run's is never written into, nor deleted.
    let taken = cluster.namespace("taken").await;
    let verdict = test_restore(&objects, &gate, &plan(&taken, "30s", false), "nightly", &run(5)).await.unwrap();
    let failure = verdict.failure().expect("a foreign namespace fails").clone();
    assert_eq!(
        (failure.subject, failure.field.as_str()),
        (format!("namespace {taken}"), "testRestore.scratchNamespace")
    );
    assert!(!removed(&cluster, &taken).await, "the foreign namespace stays");
    let restores_api: Api<DynamicObject> = Api::namespaced_with(cluster.client(), &velero, &restores);
    assert!(restores_api.get_opt(&operator_upgrade::engine::restore::restore_name(&run(5))).await.unwrap().is_none());
}
on_both_clusters!(a_test_restore_passes_fails_and_times_out_and_leaves_no_namespace);

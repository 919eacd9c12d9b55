//! The Velero gate: the named (or newest matching) velero.io/v1 `Backup` must be `Completed` with zero
//! errors, recent enough, not expiring during the upgrade, cover the namespaces the plan names, and sit in
//! an `Available` `BackupStorageLocation`. Its optional test `Restore` is judged here too ([`judge_restore`]);
//! the engine creates and waits for it, since that writes.

use super::fields::{at, check_age, describe, first_timestamp, is_not_found, object_key, str_at, timestamp_at};
use super::{GateContext, GateError, GateFailure, GateVerdict};
use crate::plan::file::{VeleroBackupGate, VeleroBackupPhase};
use jiff::SignedDuration;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

/// The `BackupStorageLocation` a backup uses when its `spec.storageLocation` is empty.
const DEFAULT_STORAGE_LOCATION: &str = "default";

/// A Velero backup's `status.phase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VeleroPhase {
    /// Not processed yet (also an absent phase).
    New,
    /// The spec was invalid; nothing was backed up.
    FailedValidation,
    /// Running.
    InProgress,
    /// Items are backed up; plugin operations (volume snapshots) are still running.
    WaitingForPluginOperations,
    /// As `WaitingForPluginOperations`, with some failures already.
    WaitingForPluginOperationsPartiallyFailed,
    /// Writing the backup's final metadata.
    Finalizing,
    /// As `Finalizing`, with some failures already.
    FinalizingPartiallyFailed,
    /// Finished with every item backed up.
    Completed,
    /// Finished, but some items failed: not a backup to rely on.
    PartiallyFailed,
    /// Failed.
    Failed,
    /// Being deleted.
    Deleting,
    /// A phase this tool does not know.
    Other(String),
}

impl VeleroPhase {
    /// The phase as a backup's `status.phase` reads (absent or empty is `New`).
    pub fn parse(phase: Option<&str>) -> VeleroPhase {
        match phase.unwrap_or_default() {
            "" | "New" => VeleroPhase::New,
            "FailedValidation" => VeleroPhase::FailedValidation,
            "InProgress" => VeleroPhase::InProgress,
            "WaitingForPluginOperations" => VeleroPhase::WaitingForPluginOperations,
            "WaitingForPluginOperationsPartiallyFailed" => VeleroPhase::WaitingForPluginOperationsPartiallyFailed,
            "Finalizing" => VeleroPhase::Finalizing,
            "FinalizingPartiallyFailed" => VeleroPhase::FinalizingPartiallyFailed,
            "Completed" => VeleroPhase::Completed,
            "PartiallyFailed" => VeleroPhase::PartiallyFailed,
            "Failed" => VeleroPhase::Failed,
            "Deleting" => VeleroPhase::Deleting,
            other => VeleroPhase::Other(other.to_owned()),
        }
    }

    /// The phase as Velero writes it.
    pub fn as_str(&self) -> &str {
        match self {
            VeleroPhase::New => "New",
            VeleroPhase::FailedValidation => "FailedValidation",
            VeleroPhase::InProgress => "InProgress",
            VeleroPhase::WaitingForPluginOperations => "WaitingForPluginOperations",
            VeleroPhase::WaitingForPluginOperationsPartiallyFailed => "WaitingForPluginOperationsPartiallyFailed",
            VeleroPhase::Finalizing => "Finalizing",
            VeleroPhase::FinalizingPartiallyFailed => "FinalizingPartiallyFailed",
            VeleroPhase::Completed => "Completed",
            VeleroPhase::PartiallyFailed => "PartiallyFailed",
            VeleroPhase::Failed => "Failed",
            VeleroPhase::Deleting => "Deleting",
            VeleroPhase::Other(other) => other,
        }
    }
}

impl From<VeleroBackupPhase> for VeleroPhase {
    fn from(phase: VeleroBackupPhase) -> VeleroPhase {
        match phase {
            VeleroBackupPhase::Completed => VeleroPhase::Completed,
        }
    }
}

/// A `BackupStorageLocation`'s `status.phase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocationPhase {
    /// Velero can reach the object store.
    Available,
    /// Velero cannot reach the object store.
    Unavailable,
    /// Velero has not validated the location yet (no phase).
    Unreported,
    /// A phase this tool does not know.
    Other(String),
}

impl StorageLocationPhase {
    /// The phase as a location's `status.phase` reads.
    pub fn parse(phase: Option<&str>) -> StorageLocationPhase {
        match phase.unwrap_or_default() {
            "" => StorageLocationPhase::Unreported,
            "Available" => StorageLocationPhase::Available,
            "Unavailable" => StorageLocationPhase::Unavailable,
            other => StorageLocationPhase::Other(other.to_owned()),
        }
    }

    /// The phase as Velero writes it, or `not set`.
    pub fn describe(&self) -> &str {
        match self {
            StorageLocationPhase::Available => "Available",
            StorageLocationPhase::Unavailable => "Unavailable",
            StorageLocationPhase::Unreported => "not set",
            StorageLocationPhase::Other(other) => other,
        }
    }
}

/// The name of the `BackupStorageLocation` a backup is stored in (`spec.storageLocation`, `default` when
/// empty); it lives in the backup's namespace.
pub fn storage_location_name(backup: &Value) -> &str {
    str_at(backup, "spec.storageLocation").filter(|name| !name.is_empty()).unwrap_or(DEFAULT_STORAGE_LOCATION)
}

/// The newest of `backups`: by `status.completionTimestamp`, falling back to `metadata.creationTimestamp`
/// for a backup that has not completed (ties broken by name, so the choice is stable).
pub fn newest_backup(backups: &[Value]) -> Option<&Value> {
    backups.iter().max_by_key(|backup| {
        let at = first_timestamp(backup, &["status.completionTimestamp", "metadata.creationTimestamp"]);
        (at, str_at(backup, "metadata.name").unwrap_or_default().to_owned())
    })
}

/// Judges one Velero backup and its storage location (`None`: the location does not exist) against the
/// gate. The first condition that fails is the verdict; `testRestore` is not judged here (it writes, so
/// the engine runs it after this passes).
pub fn judge_backup(
    backup: &Value,
    location: Option<&Value>,
    gate: &VeleroBackupGate,
    ctx: &GateContext,
) -> GateVerdict {
    match check_backup(backup, location, gate, ctx) {
        Ok(evidence) => GateVerdict::Passed { evidence },
        Err(failure) => GateVerdict::Failed(failure),
    }
}

fn check_backup(
    backup: &Value,
    location: Option<&Value>,
    gate: &VeleroBackupGate,
    ctx: &GateContext,
) -> Result<String, GateFailure> {
    let subject = format!("velero.io Backup {}", object_key(backup));
    let fail = |field: &str, reason: String| GateFailure::new(&subject, field, reason);

    let phase = VeleroPhase::parse(str_at(backup, "status.phase"));
    let required = VeleroPhase::from(gate.required_phase);
    if phase != required {
        return Err(fail("status.phase", format!("is {}, must be {}", phase.as_str(), required.as_str())));
    }

    match at(backup, "status.errors") {
        None => {}
        Some(errors) if errors.as_u64() == Some(0) => {}
        Some(errors) => return Err(fail("status.errors", format!("is {errors}, must be 0"))),
    }

    let (completed, age) = check_age(&subject, backup, "status.completionTimestamp", ctx.now, gate.max_age)?;

    let window = SignedDuration::try_from(ctx.upgrade_window).unwrap_or(SignedDuration::MAX);
    let window_end = ctx.now.saturating_add(window).unwrap_or(ctx.now);
    let expiry = match timestamp_at(backup, "status.expiration") {
        Ok(None) => "does not expire".to_owned(),
        Ok(Some(expiration)) if expiration > window_end => format!("expires {expiration}"),
        Ok(Some(expiration)) => {
            let reason = format!(
                "is {expiration}: the backup expires during the upgrade window ({} from now, until {window_end})",
                describe(window)
            );
            return Err(fail("status.expiration", reason));
        }
        Err(reason) => return Err(fail("status.expiration", reason)),
    };

    let included = string_list(backup, "spec.includedNamespaces");
    let excluded = string_list(backup, "spec.excludedNamespaces");
    let includes_all = included.is_empty() || included.contains(&"*");
    for namespace in &gate.included_namespaces {
        if !includes_all && !included.contains(&namespace.as_str()) {
            let reason = format!("is [{}]: namespace {namespace} is not backed up", included.join(", "));
            return Err(fail("spec.includedNamespaces", reason));
        }
        if excluded.contains(&namespace.as_str()) {
            let reason = format!("is [{}]: namespace {namespace} is not backed up", excluded.join(", "));
            return Err(fail("spec.excludedNamespaces", reason));
        }
    }

    let namespace = str_at(backup, "metadata.namespace").unwrap_or_default();
    let location_name = storage_location_name(backup);
    let location_subject = format!("velero.io BackupStorageLocation {namespace}/{location_name}");
    let Some(location) = location else {
        return Err(fail("spec.storageLocation", format!("names {location_subject}, which does not exist")));
    };
    let location_phase = StorageLocationPhase::parse(str_at(location, "status.phase"));
    if location_phase != StorageLocationPhase::Available {
        let reason = format!("is {}, must be Available (it stores {subject})", location_phase.describe());
        return Err(GateFailure::new(location_subject, "status.phase", reason));
    }

    let namespaces = match gate.included_namespaces.as_slice() {
        [] => String::new(),
        names => format!(", includes {}", names.join(", ")),
    };
    Ok(format!(
        "{subject}: Completed with 0 errors at {completed} ({} ago, maxAge {}), {expiry}{namespaces}, \
         in {location_subject} (Available)",
        describe(age),
        gate.max_age
    ))
}

fn string_list<'a>(object: &'a Value, path: &str) -> Vec<&'a str> {
    at(object, path)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("velero.io", "v1", kind), plural)
}

/// What a test `Restore`'s status says, judged by [`judge_restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreDecision {
    /// Velero is still working on it: look again.
    Wait,
    /// It ended: passed (`Completed`, 0 errors) or failed, naming the field.
    Ended(GateVerdict),
}

/// Judges a velero.io `Restore` from its status: `Completed` with `status.errors` 0 passes; a failed or
/// partially failed phase, or errors, fails; every other phase is still running.
pub fn judge_restore(restore: &Value) -> RestoreDecision {
    let subject = format!("velero.io Restore {}", object_key(restore));
    let phase = VeleroPhase::parse(str_at(restore, "status.phase"));
    let errors = at(restore, "status.errors").and_then(Value::as_u64).unwrap_or(0);
    let warnings = at(restore, "status.warnings").and_then(Value::as_u64).unwrap_or(0);
    let ended = match phase {
        VeleroPhase::Completed if errors == 0 => {
            let backup = str_at(restore, "spec.backupName").unwrap_or("(no backupName)");
            GateVerdict::Passed {
                evidence: format!("{subject} of backup {backup}: Completed with 0 errors, {warnings} warnings"),
            }
        }
        VeleroPhase::Completed => GateFailure::new(subject, "status.errors", format!("is {errors}, must be 0")).into(),
        VeleroPhase::PartiallyFailed | VeleroPhase::Failed | VeleroPhase::FailedValidation => {
            let why = at(restore, "status.failureReason")
                .and_then(Value::as_str)
                .or_else(|| at(restore, "status.validationErrors").and_then(|e| e.get(0)).and_then(Value::as_str))
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default();
            let reason = format!("is {}, must be Completed ({errors} errors){why}", phase.as_str());
            GateFailure::new(subject, "status.phase", reason).into()
        }
        _ => return RestoreDecision::Wait,
    };
    RestoreDecision::Ended(ended)
}

/// Reads the gate's backup and its storage location, and judges them.
pub(super) async fn evaluate(
    client: &kube::Client,
    gate: &VeleroBackupGate,
    ctx: &GateContext,
) -> Result<GateVerdict, GateError> {
    Ok(evaluate_backup(client, gate, ctx).await?.0)
}

/// As [`evaluate`], also naming the backup that was judged (`None` when none was found), so a test restore
/// restores exactly the backup that passed.
pub async fn evaluate_backup(
    client: &kube::Client,
    gate: &VeleroBackupGate,
    ctx: &GateContext,
) -> Result<(GateVerdict, Option<String>), GateError> {
    let namespace = &gate.namespace;
    let backups: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource("Backup", "backups"));
    let mut params = ListParams::default();
    let (sought, field, missing) = match (&gate.name, &gate.selector) {
        (Some(name), _) => {
            params = params.fields(&format!("metadata.name={name}"));
            (format!("{namespace}/{name}"), "metadata.name", format!("no Backup {name} in namespace {namespace}"))
        }
        (None, Some(selector)) => {
            params = params.labels(selector.as_str());
            let what = format!("no Backup in namespace {namespace} matches {selector}");
            (format!("in namespace {namespace} matching {selector}"), "metadata.labels", what)
        }
        (None, None) => (format!("in namespace {namespace}"), "metadata.name", format!("no Backup in {namespace}")),
    };
    let subject = format!("velero.io Backup {sought}");
    let list = match backups.list(&params).await {
        Ok(list) => list,
        Err(error) if is_not_found(&error) => {
            let reason = "velero.io/v1 backups is not served: Velero is not installed";
            return Ok((GateFailure::new(subject, "kind", reason).into(), None));
        }
        Err(source) => return Err(GateError::Api { what: format!("velero.io Backups {sought}"), source }),
    };
    let items: Vec<Value> = list.items.iter().map(|item| serde_json::to_value(item).unwrap_or_default()).collect();
    let Some(backup) = newest_backup(&items) else {
        return Ok((GateFailure::new(subject, field, missing).into(), None));
    };

    let locations: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &resource("BackupStorageLocation", "backupstoragelocations"));
    let location_name = storage_location_name(backup);
    let location = match locations.get_opt(location_name).await {
        Ok(location) => location.map(|location| serde_json::to_value(location).unwrap_or_default()),
        Err(source) => {
            let what = format!("velero.io BackupStorageLocation {namespace}/{location_name}");
            return Err(GateError::Api { what, source });
        }
    };
    let name = str_at(backup, "metadata.name").map(str::to_owned);
    Ok((judge_backup(backup, location.as_ref(), gate, ctx), name))
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
            upgrade_window: std::time::Duration::from_secs(2 * 3600),
            base_dir: ".".into(),
        }
    }

    fn gate() -> VeleroBackupGate {
        VeleroBackupGate {
            namespace: "velero".into(),
            name: None,
            selector: None,
            max_age: Duration::from_hours(26),
            required_phase: VeleroBackupPhase::Completed,
            included_namespaces: vec!["shop".into(), "db".into()],
            test_restore: None,
        }
    }

    fn backup() -> Value {
        json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "daily-20260310", "namespace": "velero", "creationTimestamp": "2026-03-10T01:00:00Z"},
            "spec": {"includedNamespaces": ["shop", "db", "web"], "storageLocation": "aws", "ttl": "720h0m0s"},
            "status": {"phase": "Completed", "errors": 0, "warnings": 2,
                "startTimestamp": "2026-03-10T01:00:00Z", "completionTimestamp": "2026-03-10T01:10:00Z",
                "expiration": "2026-04-09T01:00:00Z"}
        })
    }

    fn location() -> Value {
        json!({"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": "aws", "namespace": "velero"}, "status": {"phase": "Available"}})
    }

    fn failed(backup: &Value, location: Option<&Value>, gate: &VeleroBackupGate) -> GateFailure {
        match judge_backup(backup, location, gate, &ctx()) {
            GateVerdict::Failed(failure) => failure,
            passed => panic!("expected a failure, got {passed:?}"),
        }
    }

    #[test]
    fn a_complete_recent_backup_passes() {
        let verdict = judge_backup(&backup(), Some(&location()), &gate(), &ctx());
        let GateVerdict::Passed { evidence } = verdict else { panic!("{verdict:?}") };
        assert!(evidence.starts_with("velero.io Backup velero/daily-20260310: Completed with 0 errors"), "{evidence}");
        assert!(evidence.contains("10h50m ago, maxAge 1d2h"), "{evidence}");
        assert!(evidence.contains("velero.io BackupStorageLocation velero/aws (Available)"), "{evidence}");
    }

    #[test]
    fn absent_errors_expiration_and_namespaces_pass() {
        let bare = with(
            with(with(backup(), "status.errors", Value::Null), "status.expiration", Value::Null),
            "spec.includedNamespaces",
            Value::Null,
        );
        assert!(judge_backup(&bare, Some(&location()), &gate(), &ctx()).passed());
        let star = with(backup(), "spec.includedNamespaces", json!(["*"]));
        assert!(judge_backup(&star, Some(&location()), &gate(), &ctx()).passed());
        let empty = with(backup(), "spec.includedNamespaces", json!([]));
        assert!(judge_backup(&empty, Some(&location()), &gate(), &ctx()).passed());
    }

    #[test]
    fn fails_on_every_phase_but_completed() {
        for phase in ["PartiallyFailed", "Failed", "InProgress", "FailedValidation", "Deleting", "Weird"] {
            let failure = failed(&with(backup(), "status.phase", json!(phase)), Some(&location()), &gate());
            assert_eq!(failure.subject, "velero.io Backup velero/daily-20260310");
            assert_eq!(failure.field, "status.phase");
            assert_eq!(failure.reason, format!("is {phase}, must be Completed"));
        }
        let unset = failed(&with(backup(), "status.phase", Value::Null), Some(&location()), &gate());
        assert_eq!((unset.field.as_str(), unset.reason.as_str()), ("status.phase", "is New, must be Completed"));
    }

    #[test]
    fn fails_on_errors() {
        let failure = failed(&with(backup(), "status.errors", json!(3)), Some(&location()), &gate());
        assert_eq!((failure.field.as_str(), failure.reason.as_str()), ("status.errors", "is 3, must be 0"));
    }

    #[test]
    fn fails_when_too_old_or_not_completed() {
        let old = with(backup(), "status.completionTimestamp", json!("2026-03-09T09:00:00Z"));
        let failure = failed(&old, Some(&location()), &gate());
        assert_eq!(failure.field, "status.completionTimestamp");
        assert_eq!(failure.reason, "is 2026-03-09T09:00:00Z, 1d3h ago: older than maxAge 1d2h");
        let unset = with(backup(), "status.completionTimestamp", Value::Null);
        assert_eq!(failed(&unset, Some(&location()), &gate()).field, "status.completionTimestamp");
    }

    #[test]
    fn fails_when_expiring_during_the_upgrade() {
        let soon = with(backup(), "status.expiration", json!("2026-03-10T13:00:00Z"));
        let failure = failed(&soon, Some(&location()), &gate());
        assert_eq!(failure.field, "status.expiration");
        assert!(failure.reason.contains("expires during the upgrade window (2h from now"), "{failure:?}");
        let past = with(backup(), "status.expiration", json!("2026-03-10T11:00:00Z"));
        assert_eq!(failed(&past, Some(&location()), &gate()).field, "status.expiration");
    }

    #[test]
    fn fails_when_a_namespace_is_not_included_or_excluded() {
        let narrow = with(backup(), "spec.includedNamespaces", json!(["shop", "web"]));
        let failure = failed(&narrow, Some(&location()), &gate());
        assert_eq!(failure.field, "spec.includedNamespaces");
        assert_eq!(failure.reason, "is [shop, web]: namespace db is not backed up");
        let excluded = with(backup(), "spec.excludedNamespaces", json!(["db"]));
        assert_eq!(failed(&excluded, Some(&location()), &gate()).field, "spec.excludedNamespaces");
    }

    #[test]
    fn fails_when_the_storage_location_is_missing_or_unavailable() {
        let missing = failed(&backup(), None, &gate());
        assert_eq!(missing.subject, "velero.io Backup velero/daily-20260310");
        assert_eq!(missing.field, "spec.storageLocation");
        assert_eq!(missing.reason, "names velero.io BackupStorageLocation velero/aws, which does not exist");
        let unavailable = failed(&backup(), Some(&with(location(), "status.phase", json!("Unavailable"))), &gate());
        assert_eq!(unavailable.subject, "velero.io BackupStorageLocation velero/aws");
        assert_eq!(unavailable.field, "status.phase");
        assert_eq!(
            unavailable.reason,
            "is Unavailable, must be Available (it stores velero.io Backup velero/daily-20260310)"
        );
        let unreported = failed(&backup(), Some(&with(location(), "status", Value::Null)), &gate());
        assert_eq!(
            unreported.reason,
            "is not set, must be Available (it stores velero.io Backup velero/daily-20260310)"
        );
    }

    #[test]
    fn the_default_location_is_named_default() {
        assert_eq!(storage_location_name(&with(backup(), "spec.storageLocation", Value::Null)), "default");
        assert_eq!(storage_location_name(&with(backup(), "spec.storageLocation", json!(""))), "default");
        assert_eq!(storage_location_name(&backup()), "aws");
    }

    #[test]
    fn the_newest_backup_is_chosen_by_completion_then_creation() {
        let named = |name: &str, completed: Option<&str>, created: &str| {
            let b = with(with(backup(), "metadata.name", json!(name)), "metadata.creationTimestamp", json!(created));
            with(b, "status.completionTimestamp", completed.map_or(Value::Null, |c| json!(c)))
        };
        let backups = [
            named("a", Some("2026-03-09T01:10:00Z"), "2026-03-09T01:00:00Z"),
            named("b", Some("2026-03-10T01:10:00Z"), "2026-03-10T01:00:00Z"),
            named("c", Some("2026-03-08T01:10:00Z"), "2026-03-08T01:00:00Z"),
        ];
        assert_eq!(str_at(newest_backup(&backups).unwrap(), "metadata.name"), Some("b"));
        let running = [backups[1].clone(), named("d", None, "2026-03-10T11:00:00Z")];
        assert_eq!(str_at(newest_backup(&running).unwrap(), "metadata.name"), Some("d"));
        assert!(newest_backup(&[]).is_none());
    }

    fn restore(status: Value) -> Value {
        json!({"apiVersion": "velero.io/v1", "kind": "Restore",
            "metadata": {"name": "check", "namespace": "velero"}, "spec": {"backupName": "nightly"}, "status": status})
    }

    #[test]
    fn a_restore_passes_only_completed_without_errors() {
        let done = judge_restore(&restore(json!({"phase": "Completed", "errors": 0, "warnings": 3})));
        assert_eq!(
            done,
            RestoreDecision::Ended(GateVerdict::Passed {
                evidence: "velero.io Restore velero/check of backup nightly: Completed with 0 errors, 3 warnings"
                    .into()
            })
        );
        let RestoreDecision::Ended(GateVerdict::Failed(errors)) =
            judge_restore(&restore(json!({"phase": "Completed", "errors": 2})))
        else {
            panic!("errors fail")
        };
        assert_eq!((errors.field.as_str(), errors.reason.as_str()), ("status.errors", "is 2, must be 0"));
        for phase in ["PartiallyFailed", "Failed", "FailedValidation"] {
            let status = json!({"phase": phase, "errors": 1, "failureReason": "no backup"});
            let RestoreDecision::Ended(GateVerdict::Failed(failure)) = judge_restore(&restore(status)) else {
                panic!("{phase} fails")
            };
            assert_eq!(failure.subject, "velero.io Restore velero/check");
            assert_eq!(failure.field, "status.phase");
            assert_eq!(failure.reason, format!("is {phase}, must be Completed (1 errors): no backup"));
        }
        for phase in
            [Value::Null, json!("New"), json!("InProgress"), json!("WaitingForPluginOperations"), json!("Finalizing")]
        {
            assert_eq!(judge_restore(&restore(json!({"phase": phase}))), RestoreDecision::Wait, "{phase}");
        }
    }
}

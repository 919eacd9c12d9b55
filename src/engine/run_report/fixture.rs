//! A hand-built run for the renderers' tests: a canary that failed in its third interval, one signal with
//! a gap (an interval that could not be measured) and one without a baseline.

use crate::canary::cohort::{Cohort, CohortMember};
use crate::canary::judge::{Decision, IntervalResult, Reading, SignalReading, Unit};
use crate::canary::scoping::Marker;
use crate::cluster::ObjectKey;
use crate::engine::journal::{CanaryRecord, HealthRecord, Journal, RecordedObject, RunState, StepRecord, StepState};
use crate::plan::steps::StepKind;
use serde_json::json;

fn key(api_version: &str, kind: &str, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey { api_version: api_version.into(), kind: kind.into(), namespace: namespace.into(), name: name.into() }
}

fn conditions(canary: Reading, baseline: f64) -> SignalReading {
    SignalReading {
        signal: "conditions".into(),
        unit: Unit::Count,
        canary,
        baseline: Some(Reading::Value(baseline)),
        max: None,
        tolerance: 0.0,
        detail: None,
    }
}

fn error_ratio(canary: f64) -> SignalReading {
    SignalReading {
        signal: "metric reconcile-error-ratio".into(),
        unit: Unit::Ratio,
        canary: Reading::Value(canary),
        baseline: None,
        max: Some(0.05),
        tolerance: 0.01,
        detail: None,
    }
}

/// Three intervals, 2 s apart: `conditions` (with a baseline) could not be read in the second, the error
/// ratio (without a baseline) climbs over its limit of 0.05 in the third.
pub fn intervals() -> Vec<IntervalResult> {
    let measured = [
        (conditions(Reading::Value(0.0), 0.0), error_ratio(0.0)),
        (conditions(Reading::Error("the API answered 503".into()), 1.0), error_ratio(0.02)),
        (conditions(Reading::Value(4.0), 0.0), error_ratio(0.25)),
    ];
    measured
        .into_iter()
        .enumerate()
        .map(|(i, (c, r))| {
            let mut interval = IntervalResult::judge(i as u32 + 1, 2 * i as u64, vec![c, r]);
            interval.took_ms = 150;
            interval
        })
        .collect()
}

fn step(kind: StepKind, state: StepState, times: Option<(&str, &str)>, message: Option<&str>) -> StepRecord {
    StepRecord {
        kind,
        title: format!("the {} step", kind.as_str()),
        state,
        started: times.map(|(s, _)| s.to_owned()),
        ended: times.map(|(_, e)| e.to_owned()),
        message: message.map(str::to_owned),
        output: None,
    }
}

fn members() -> Vec<CohortMember> {
    let member = |i: usize, cohort: Cohort| CohortMember {
        key: key("demo.operator-upgrade.dev/v1alpha1", "Widget", "default", &format!("widget-{i:02}")),
        uid: format!("uid-{i}"),
        cohort,
        prior: None,
    };
    let cohorts = [Cohort::Canary, Cohort::Canary, Cohort::Baseline, Cohort::Baseline, Cohort::Stable];
    cohorts.into_iter().enumerate().map(|(i, c)| member(i, c)).collect()
}

fn canary() -> CanaryRecord {
    CanaryRecord {
        marker: Some((Marker::Label, "operator-upgrade.dev/cohort".into())),
        members: members(),
        namespaces: Vec::new(),
        stable: key("apps/v1", "Deployment", "demo-system", "demo-operator"),
        copy_leases: Vec::new(),
        access: Vec::new(),
        copies: vec![
            (Cohort::Canary, key("apps/v1", "Deployment", "demo-system", "demo-operator-canary")),
            (Cohort::Baseline, key("apps/v1", "Deployment", "demo-system", "demo-operator-baseline")),
        ],
        started: Some("2026-01-05T10:00:20Z".into()),
        dependents: Default::default(),
        owner_generations: Default::default(),
        unowned: vec![("canary start".into(), 0.4), ("rollback".into(), 1.25)],
        intervals: intervals(),
        decision: Some(Decision::Fail(
            "metric reconcile-error-ratio failed 1 times in 3 intervals (at most 0 allowed): canary 0.250 | baseline -"
                .into(),
        )),
    }
}

fn recorded() -> Vec<RecordedObject> {
    let deployment = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "manager", "image": "registry.example/demo-operator:v1.0.0"}
    ]}}}});
    let record =
        |key, step, before| RecordedObject { key, step, before, secret_data: None, secret_data_missing: false };
    vec![
        record(
            key("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.demo.operator-upgrade.dev"),
            StepKind::CrdExpand,
            Some(json!({"spec": {}})),
        ),
        record(key("apps/v1", "Deployment", "demo-system", "demo-operator"), StepKind::Promotion, Some(deployment)),
        record(
            key("rbac.authorization.k8s.io/v1", "ClusterRole", "", "demo-operator-v1-1"),
            StepKind::RbacExpand,
            None,
        ),
    ]
}

/// A rolled-back run of `demo-operator-v1-1` whose canary failed, with every part a report shows.
pub fn journal() -> Journal {
    Journal {
        run_id: "0123456789".into(),
        plan: "demo-operator-v1-1".into(),
        plan_hash: "0123456789abcdef0123456789abcdef".into(),
        cluster_uid: "kube-system-uid".into(),
        tool_version: "0.1.0".into(),
        operator: "demo-system/demo-operator".into(),
        started: "2026-01-05T10:00:00Z".into(),
        updated: "2026-01-05T10:01:30Z".into(),
        state: RunState::RolledBack,
        accepted: vec!["served-version-removed".into()],
        steps: vec![
            step(
                StepKind::Preflight,
                StepState::Done,
                Some(("2026-01-05T10:00:00Z", "2026-01-05T10:00:02Z")),
                Some("ok"),
            ),
            step(
                StepKind::CanaryRollout,
                StepState::Undone,
                Some(("2026-01-05T10:00:05Z", "2026-01-05T10:00:20Z")),
                Some("2 canary and 2 baseline objects"),
            ),
            step(
                StepKind::Analysis,
                StepState::Failed,
                Some(("2026-01-05T10:00:20Z", "2026-01-05T10:01:25Z")),
                Some("metric reconcile-error-ratio failed | rolled back"),
            ),
            step(StepKind::Promotion, StepState::Pending, None, None),
        ],
        recorded: recorded(),
        baseline_not_ready: Vec::new(),
        health: Some(HealthRecord { at: "2026-01-05T10:01:28Z".into(), summary: "healthy: 5 of 5 Ready".into() }),
        notes: vec!["rollback kept 1 object changed since the run".into()],
        rollback_timeout: None,
        condition_type: None,
        canary: Some(canary()),
        analysis: None,
        rehearsal: None,
        migration: None,
        helm: None,
    }
}

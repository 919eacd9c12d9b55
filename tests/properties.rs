//! Properties: any CRD set diffed with itself yields no findings, and a schema diff never panics whatever
//! two schemas it is given; any plan file that loads can be applied on the simulator without a panic, and
//! any plan file refused is refused with its file and line.

use crate::common;

use common::{eventually, TestCluster};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use operator_upgrade::cluster::{connect, ClusterArgs};
use operator_upgrade::engine::{self, ApplyOptions, OutputMode, RehearsalCheck, Upgrade};
use operator_upgrade::manifest::{Crd, Schema};
use operator_upgrade::plan::file::UpgradePlan;
use operator_upgrade::schema::{diff_crds, diff_schemas};
use operator_upgrade::sim::Scenario;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn scalar_schema() -> impl Strategy<Value = Value> {
    let types = prop_oneof![Just("string"), Just("integer"), Just("number"), Just("boolean")];
    (
        types,
        proptest::option::of("[a-z]{0,6}"),
        proptest::option::of(0u32..100),
        proptest::option::of(proptest::collection::btree_set("[a-c]{1,2}", 1..4)),
        any::<bool>(),
        proptest::option::of(prop_oneof![Just("self.size() > 0"), Just("self == oldSelf")]),
    )
        .prop_map(|(ty, description, maximum, enumeration, nullable, rule)| {
            let mut schema = Map::new();
            schema.insert("type".into(), json!(ty));
            if let Some(d) = description {
                schema.insert("description".into(), json!(d));
            }
            if let Some(m) = maximum {
                schema.insert(if ty == "string" { "maxLength" } else { "maximum" }.into(), json!(m));
            }
            if let (Some(values), "string") = (enumeration, ty) {
                schema.insert("enum".into(), json!(values));
            }
            if nullable {
                schema.insert("nullable".into(), json!(true));
            }
            if let Some(rule) = rule {
                schema.insert("x-kubernetes-validations".into(), json!([{"rule": rule, "message": "m"}]));
            }
            Value::Object(schema)
        })
}

fn schema() -> impl Strategy<Value = Value> {
    scalar_schema().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (proptest::collection::btree_map("[a-z]{1,5}", inner.clone(), 0..5), any::<bool>()).prop_map(
                |(properties, preserve)| {
                    let required: Vec<&String> = properties.keys().take(1).collect();
                    json!({
                        "type": "object",
                        "properties": properties,
                        "required": required,
                        "x-kubernetes-preserve-unknown-fields": preserve,
                    })
                }
            ),
            (inner.clone(), prop_oneof![Just("atomic"), Just("set")]).prop_map(
                |(items, list_type)| json!({"type": "array", "items": items, "x-kubernetes-list-type": list_type})
            ),
            inner.clone().prop_map(|values| json!({"type": "object", "additionalProperties": values})),
            inner.prop_map(|branch| json!({"type": "object", "anyOf": [branch.clone(), branch]})),
        ]
    })
}

fn crd(schemas: Vec<Value>) -> Value {
    let versions: Vec<Value> = schemas
        .into_iter()
        .enumerate()
        .map(|(i, s)| json!({"name": format!("v{}", i + 1), "served": true, "storage": i == 0, "schema": {"openAPIV3Schema": s}}))
        .collect();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Thing", "plural": "things"}, "versions": versions}
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_crd_diffed_with_itself_yields_nothing(schemas in proptest::collection::vec(schema(), 1..3)) {
        let crd = Crd::from_value(crd(schemas)).expect("generated CRDs are valid");
        let findings = diff_crds(Some(&crd), Some(&crd));
        prop_assert!(findings.is_empty(), "{:?}", findings);
    }

    #[test]
    fn any_two_schemas_diff_without_panicking(old in schema(), new in schema()) {
        let old: Schema = serde_json::from_value(old).expect("valid schema");
        let new: Schema = serde_json::from_value(new).expect("valid schema");
        let findings = diff_schemas("things.example.com", "v1", &old, &new, true);
        prop_assert!(old != new || findings.is_empty());
        prop_assert!(old == new || !findings.is_empty(), "a difference must be reported");
    }
}

/// Timeouts a plan gives, from the shortest (which fail fast) to ordinary ones: all within the limits.
fn ordinary_wait() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("1ms"), Just("100ms"), Just("1s"), Just("30s"), Just("1h")]
}

/// Analysis intervals a plan gives.
fn ordinary_interval() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("100ms"), Just("500ms"), Just("1s"), Just("30s")]
}

/// Durations at and past the plan file's limits, and zero.
fn extreme_duration() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("0s"),
        Just("30d"),
        Just("30d1ms"),
        Just("366d"),
        Just("367d"),
        Just("100000000000d"),
        Just("18446744073709551615ms"),
    ]
}

/// Counts at and past the plan file's limit of measurements.
fn extreme_count() -> impl Strategy<Value = u32> {
    prop_oneof![Just(100_000u32), Just(100_001), Just(u32::MAX)]
}

/// How long the analysis runs: by count, by duration, or by default.
#[derive(Debug, Clone)]
enum Length {
    Count(u32),
    Duration(&'static str),
    Default,
}

/// The plan's knobs that touch durations and counts.
#[derive(Debug, Clone)]
struct PlanKnobs {
    interval: &'static str,
    length: Length,
    warm_up: &'static str,
    gate_timeout: &'static str,
    rollback_timeout: &'static str,
    max_catch_up: &'static str,
    failure_limit: u32,
    canary: bool,
}

/// A plan as people write them.
fn ordinary_knobs() -> impl Strategy<Value = PlanKnobs> {
    let length = prop_oneof![
        prop_oneof![Just(1u32), Just(3), Just(20)].prop_map(Length::Count),
        prop_oneof![Just("30s"), Just("1m"), Just("10m")].prop_map(Length::Duration),
        Just(Length::Default)
    ];
    (
        ordinary_interval(),
        length,
        prop_oneof![Just("0s"), ordinary_wait()],
        ordinary_wait(),
        ordinary_wait(),
        ordinary_wait(),
        prop_oneof![Just(0u32), Just(1), Just(3)],
        any::<bool>(),
    )
        .prop_map(
            |(interval, length, warm_up, gate_timeout, rollback_timeout, max_catch_up, failure_limit, canary)| {
                PlanKnobs {
                    interval,
                    length,
                    warm_up,
                    gate_timeout,
                    rollback_timeout,
                    max_catch_up,
                    failure_limit,
                    canary,
                }
            },
        )
}

/// Ordinary plans; plans with one knob at an extreme; and the shape that overflowed in `apply` (an interval
/// of `100000000000d` times a count of 100000 is more than `std::time::Duration` holds).
fn plan_knobs() -> impl Strategy<Value = PlanKnobs> {
    let one_extreme = (ordinary_knobs(), 0..7usize, extreme_duration(), extreme_count()).prop_map(
        |(mut knobs, which, duration, count)| {
            match which {
                0 => knobs.interval = duration,
                1 => knobs.length = Length::Count(count),
                2 => knobs.length = Length::Duration(duration),
                3 => knobs.warm_up = duration,
                4 => knobs.gate_timeout = duration,
                5 => knobs.rollback_timeout = duration,
                _ => (knobs.max_catch_up, knobs.failure_limit) = (duration, count),
            }
            knobs
        },
    );
    let huge_interval = prop_oneof![Just("100000000000d"), Just("18446744073709551615ms")];
    let overflowing = (ordinary_knobs(), huge_interval, extreme_count()).prop_map(|(mut knobs, interval, count)| {
        (knobs.interval, knobs.length) = (interval, Length::Count(count));
        knobs
    });
    prop_oneof![3 => ordinary_knobs(), 2 => one_extreme, 2 => overflowing]
}

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator")
}

/// The demo's upgrade (v1.0.0 to v1.1.0) behind a command gate, with the knobs' values.
fn plan_text(knobs: &PlanKnobs) -> String {
    let length = match knobs.length {
        Length::Count(count) => format!("    count: {count}\n"),
        Length::Duration(duration) => format!("    duration: {duration}\n"),
        Length::Default => String::new(),
    };
    let canary = if knobs.canary {
        r#"  canary:
    cohort:
      resources: [{group: demo.operator-upgrade.dev, kind: Widget}]
      count: 2
    scoping:
      mechanism: {labelSelector: {syntax: setBased}}
      stable: {env: {WATCH_LABEL_SELECTOR: "{cohortSelector}"}}
      baseline: {args: ["--leader-election-id={leaseName}"], env: {WATCH_LABEL_SELECTOR: "{cohortSelector}"}}
      canary: {args: ["--leader-election-id={leaseName}"], env: {WATCH_LABEL_SELECTOR: "{cohortSelector}"}}
"#
    } else {
        ""
    };
    format!(
        r#"apiVersion: operator-upgrade.dev/v1alpha1
kind: UpgradePlan
metadata: {{name: property}}
spec:
  operator: {{namespace: demo-system, deployment: demo-operator, container: manager}}
  from: {{path: {from}, version: v1.0.0}}
  to: {{path: {to}, version: v1.1.0}}
  backups:
    - command: {{command: ["true"], timeout: {gate_timeout}}}
{canary}  analysis:
    interval: {interval}
{length}    warmUp: {warm_up}
    failureLimit: {failure_limit}
    signals:
      - conditions: {{}}
      - observedGeneration: {{maxCatchUp: {max_catch_up}}}
      - podRestarts: {{}}
  rollback: {{automatic: true, timeout: {rollback_timeout}}}
"#,
        from = demo_dir().join("v1.0.0").display(),
        to = demo_dir().join("v1.1.0").display(),
        gate_timeout = knobs.gate_timeout,
        interval = knobs.interval,
        warm_up = knobs.warm_up,
        failure_limit = knobs.failure_limit,
        max_catch_up = knobs.max_catch_up,
        rollback_timeout = knobs.rollback_timeout,
    )
}

/// How long each plan that loads is applied: the property is "no panic", not "finishes".
const APPLY_BOUND: Duration = Duration::from_secs(2);

/// Applies the plan on a fresh simulator running the demo's old release, for at most [`APPLY_BOUND`].
fn apply_on_a_fresh_simulator(plan: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let scenario = Scenario::load(&demo_dir().join("scenario.yaml")).expect("the demo scenario loads");
        let cluster = TestCluster::sim(Scenario { churn: Vec::new(), ..scenario }).await;
        // A run starts only from an Available operator (its preflight refuses otherwise).
        let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "demo-system");
        eventually("the demo operator Available", || async {
            let deployment = deployments.get("demo-operator").await.ok()?;
            let available = deployment.status?.available_replicas.unwrap_or(0);
            (available > 0).then_some(())
        })
        .await;
        let args = ClusterArgs { kubeconfig: Some(cluster.kubeconfig_path().to_owned()), context: None };
        let client = connect(&args).await.expect("a client for the simulator");
        let upgrade = Upgrade::load(plan).expect("a plan that loads has loadable releases");
        let options = ApplyOptions {
            yes: true,
            dry_run: false,
            fail_on: None,
            accept: Vec::new(),
            finalize: true,
            promote: false,
            output: OutputMode::Json,
            rehearsal: RehearsalCheck::Enforce(None),
        };
        // Whatever the run ends in (or that it is still running) is not the property: only a panic fails.
        let _ = tokio::time::timeout(APPLY_BOUND, engine::apply(client, &upgrade, &options)).await;
        drop(cluster);
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
}

/// Few cases by default (each plan that loads starts a simulator); `PROPTEST_CASES` asks for more.
fn plan_cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(10)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: plan_cases(), max_shrink_iters: 32, ..ProptestConfig::default() })]

    #[test]
    fn any_plan_that_loads_applies_without_a_panic(knobs in plan_knobs()) {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan.yaml");
        std::fs::write(&plan, plan_text(&knobs)).unwrap();
        match UpgradePlan::load(&plan) {
            Ok(_) => apply_on_a_fresh_simulator(&plan),
            Err(refused) => {
                let display = refused.to_string();
                prop_assert!(display.contains(&plan.display().to_string()), "the file is not named: {display}");
                prop_assert!(refused.line().is_some(), "no line: {display}");
            }
        }
    }
}

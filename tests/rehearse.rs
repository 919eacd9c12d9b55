//! `rehearse` end to end through the binary and `kube::Client`, with two simulators in one test as staging and
//! production: the plan pinned to production and requiring a rehearsal; `rehearse` refuses production and on
//! staging runs apply, the rollback drill and apply again, writing evidence that `apply` on production then
//! takes, and refuses when it is missing, too old or of an edited plan. A rehearsal of the bad release fails
//! its apply phase and that evidence is refused too, as is that of a drill that cannot restore the operator.

use crate::common;

use common::canary::{
    assert_clean, churn, demo_cluster, demo_run_status, kube_system_uid, operator_image, tool, CanaryPlan, ALL_SIGNALS,
};
use common::TestCluster;
use serde_json::Value;
use std::path::Path;

const GOOD: &str = "registry.example/demo-operator:v1.1.0";
const BAD: &str = "registry.example/demo-operator:v1.1.0-bad";

/// The demo canary plan for `image`, pinned to `production` and requiring a rehearsal no older than an hour.
fn required_plan(image: &str, production: &str) -> CanaryPlan {
    let plan = CanaryPlan::new(image, ALL_SIGNALS, true);
    let text = std::fs::read_to_string(plan.path()).unwrap();
    let pinned = text.replacen(
        "spec:\n",
        &format!("spec:\n  cluster: {{kubeSystemUid: {production}, name: production}}\n  rehearsal: {{required: true, maxAge: 1h}}\n"),
        1,
    );
    assert_ne!(text, pinned);
    std::fs::write(plan.path(), pinned).unwrap();
    plan
}

/// Runs the tool with users changing Widgets meanwhile (so every signal has something to measure).
async fn with_churn(cluster: &TestCluster, args: &[&str]) -> (i32, String) {
    let churn = churn(cluster);
    let result = tool(cluster, args).await;
    churn.abort();
    result
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn phases(evidence: &Value) -> Vec<(String, String)> {
    let phases = evidence["phases"].as_array().unwrap();
    phases
        .iter()
        .map(|p| (p["phase"].as_str().unwrap().to_owned(), p["verdict"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// `rehearse` of the good release on `staging` with `flags`: its exit code, output and evidence.
async fn rehearse_good(staging: &TestCluster, flags: &[&str]) -> (i32, String, Value) {
    let plan = CanaryPlan::new(GOOD, ALL_SIGNALS, true);
    let (file, evidence_file) = (plan.path(), plan.dir.path().join("evidence.json"));
    let args = ["rehearse", "-f", path(&file), "--yes", "--fail-on", "never", "--evidence-out", path(&evidence_file)];
    let (code, output) = with_churn(staging, &[&args[..], flags].concat()).await;
    assert_eq!(code, 0, "{output}");
    let evidence = read_json(&evidence_file);
    (code, output, evidence)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rehearsal_on_staging_is_the_evidence_a_required_apply_on_production_takes() {
    let (staging, production) = (demo_cluster().await, demo_cluster().await);
    let plan = required_plan(GOOD, &kube_system_uid(&production).await);
    let file = plan.path();
    let evidence_file = plan.dir.path().join("evidence.json");
    let rehearse = ["rehearse", "-f", path(&file), "--yes", "--fail-on", "never"];

    let (code, output) = tool(&production, &rehearse).await;
    assert_eq!(code, 3, "rehearse refuses the pinned cluster: {output}");
    assert!(output.contains("is the one the plan pins (spec.cluster)"), "{output}");
    assert_eq!(operator_image(&production).await, "registry.example/demo-operator:v1.0.0");

    let apply = ["apply", "-f", path(&file), "--yes", "--fail-on", "never"];
    let (code, output) = tool(&production, &apply).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("no --rehearsal evidence was given"), "{output}");
    assert!(output.contains(&format!("`operator-upgrade rehearse -f {}", file.display())), "{output}");

    let mut rehearse_staging = rehearse.to_vec();
    rehearse_staging.extend(["--evidence-out", path(&evidence_file)]);
    let (code, output) = with_churn(&staging, &rehearse_staging).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("== rehearsal phase 2/3: rollback-drill"), "{output}");
    let evidence = read_json(&evidence_file);
    assert_eq!(phases(&evidence), pairs(&[("apply", "passed"), ("rollback-drill", "passed"), ("reapply", "passed")]));
    assert_eq!(evidence["cluster"]["kubeSystemUid"], kube_system_uid(&staging).await.as_str());
    assert_eq!(evidence["planHash"].as_str().unwrap().len(), 64);
    let drill = &evidence["drill"];
    assert!(drill["restored"].as_u64().unwrap() > 0 && drill["checked"].as_u64().unwrap() > 0, "{drill}");
    assert_eq!(drill["differences"], serde_json::json!([]), "{drill}");
    assert!(drill["seconds"].as_f64().unwrap() > 0.0, "{drill}");
    let analysis = &evidence["phases"][0]["analysis"];
    assert!(!analysis["intervals"].as_array().unwrap().is_empty(), "{analysis}");
    assert_eq!(analysis["decision"]["decision"], "pass", "{analysis}");
    assert_eq!(operator_image(&staging).await, GOOD, "staging ends on the new release");
    assert_clean(&staging).await;
    let journal = demo_run_status(&staging).await;
    assert_eq!(journal["state"], "promoted", "{journal}");
    assert_eq!(journal["rehearsal"]["planHash"], evidence["planHash"], "the evidence is kept in staging's journal");

    let mut stale = evidence.clone();
    stale["ended"] = "2026-01-01T00:00:00Z".into();
    let stale_file = plan.dir.path().join("stale.json");
    std::fs::write(&stale_file, stale.to_string()).unwrap();
    let (code, output) = tool(&production, &[&apply[..], &["--rehearsal", path(&stale_file)]].concat()).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("older than 1h (spec.rehearsal.maxAge)"), "{output}");

    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}# an edit after the rehearsal\n")).unwrap();
    let (code, output) = tool(&production, &[&apply[..], &["--rehearsal", path(&evidence_file)]].concat()).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("changed since it was rehearsed"), "{output}");
    std::fs::write(&file, text).unwrap();

    let mut broken = std::fs::read_to_string(&evidence_file).unwrap();
    broken.truncate(broken.len() / 2);
    let broken_file = plan.dir.path().join("broken.json");
    std::fs::write(&broken_file, broken).unwrap();
    let (code, output) = tool(&production, &[&apply[..], &["--rehearsal", path(&broken_file)]].concat()).await;
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("broken.json:") && output.contains("not rehearsal evidence"), "{output}");

    let (code, output) = with_churn(&production, &[&apply[..], &["--rehearsal", path(&evidence_file)]].concat()).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("promoted"), "{output}");
    assert_eq!(operator_image(&production).await, GOOD);
    assert_clean(&production).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rehearsal_of_the_bad_release_fails_its_apply_phase_and_that_evidence_is_refused() {
    let (staging, production) = (demo_cluster().await, demo_cluster().await);
    let plan = required_plan(BAD, &kube_system_uid(&production).await);
    let (file, evidence_file) = (plan.path(), plan.dir.path().join("evidence.json"));
    let args = ["rehearse", "-f", path(&file), "--yes", "--fail-on", "never"];
    let (code, output) = with_churn(&staging, &[&args[..], &["--evidence-out", path(&evidence_file)]].concat()).await;
    assert_eq!(code, 1, "the failed apply phase's exit code (rolled back): {output}");
    let evidence = read_json(&evidence_file);
    assert_eq!(phases(&evidence), pairs(&[("apply", "failed")]), "nothing runs after a failed phase");
    assert!(evidence["phases"][0]["outcome"].as_str().unwrap().starts_with("rolled back:"), "{evidence}");
    assert_eq!(evidence["phases"][0]["analysis"]["decision"]["decision"], "fail", "{evidence}");
    assert_eq!(operator_image(&staging).await, "registry.example/demo-operator:v1.0.0");
    assert_clean(&staging).await;

    let apply = ["apply", "-f", path(&file), "--yes", "--fail-on", "never", "--rehearsal", path(&evidence_file)];
    let (code, output) = tool(&production, &apply).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("the rehearsal's apply phase did not pass: rolled back:"), "{output}");
    assert_eq!(operator_image(&production).await, "registry.example/demo-operator:v1.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn leave_rolled_back_stops_after_the_drill_with_staging_on_the_old_release() {
    let staging = demo_cluster().await;
    let (code, output, evidence) = rehearse_good(&staging, &["--leave-rolled-back"]).await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(phases(&evidence), pairs(&[("apply", "passed"), ("rollback-drill", "passed")]));
    assert_eq!(operator_image(&staging).await, "registry.example/demo-operator:v1.0.0");
    assert_clean(&staging).await;
    let journal = demo_run_status(&staging).await;
    assert_eq!(journal["state"], "rolled-back", "{journal}");
    assert_eq!(journal["rehearsal"]["phases"].as_array().unwrap().len(), 2, "{journal}");
}

#[tokio::test(flavor = "multi_thread")]
async fn finalize_runs_after_the_drill_and_the_second_apply() {
    let staging = demo_cluster().await;
    let (code, output, evidence) = rehearse_good(&staging, &["--finalize"]).await;
    assert_eq!(code, 0, "{output}");
    let phases = phases(&evidence);
    let expected = [("apply", "passed"), ("rollback-drill", "passed"), ("reapply", "passed"), ("finalize", "passed")];
    assert_eq!(phases, pairs(&expected));
    assert_eq!(demo_run_status(&staging).await["state"], "finalized");

    let plan = CanaryPlan::new(GOOD, ALL_SIGNALS, true);
    let (code, output) = tool(&staging, &["rehearse", "-f", path(&plan.path()), "--yes", "--fail-on", "never"]).await;
    assert_eq!(code, 3, "a finalized run cannot be rolled back, so it cannot be rehearsed again: {output}");
    assert!(output.contains("is finalized: it cannot be rolled back"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_staging_left_promoted_by_a_rehearsal_is_reset_before_the_next_one_applies_from_the_old_release() {
    let staging = demo_cluster().await;
    rehearse_good(&staging, &[]).await;
    let first = demo_run_status(&staging).await;
    let (_, output, evidence) = rehearse_good(&staging, &[]).await;
    let expected = [("reset", "passed"), ("apply", "passed"), ("rollback-drill", "passed"), ("reapply", "passed")];
    assert_eq!(phases(&evidence), pairs(&expected), "{output}");
    assert!(output.contains("== rehearsal phase 1/4: reset"), "{output}");
    let analysis = &evidence["phases"][1]["analysis"];
    assert!(!analysis["intervals"].as_array().unwrap().is_empty(), "the apply phase ran its own canary: {analysis}");
    assert_eq!(analysis["decision"]["decision"], "pass", "{analysis}");
    let journal = demo_run_status(&staging).await;
    assert_eq!(journal["state"], "promoted", "{journal}");
    assert_ne!(journal["started"], first["started"], "the second rehearsal's apply is a run of its own");
    assert_eq!(operator_image(&staging).await, GOOD);
    assert_clean(&staging).await;
}

#[test]
fn the_evidence_schema_is_printed_and_finalize_conflicts_with_leave_rolled_back() {
    let binary = env!("CARGO_BIN_EXE_operator-upgrade");
    let output = std::process::Command::new(binary).args(["schema", "--evidence"]).output().unwrap();
    assert!(output.status.success());
    let schema: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["title"], "RehearsalEvidence");
    assert!(schema.to_string().contains("rollback-drill"));
    let conflict = std::process::Command::new(binary)
        .args(["rehearse", "-f", "plan.yaml", "--finalize", "--leave-rolled-back"])
        .output()
        .unwrap();
    assert_eq!(conflict.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_that_cannot_restore_the_operator_fails_and_its_evidence_is_still_written_and_refused() {
    let (staging, production) = (demo_cluster().await, demo_cluster().await);
    // Every Deployment update fails (an admission webhook down, say): apply writes by server-side apply, the
    // drill restores the recorded Deployment by update, so the apply phase passes and the drill cannot.
    let rule = common::failing(Some("update"), Some("deployments"), 500, 1.0);
    let sim = staging.sim_handle().unwrap();
    sim.set_faults(operator_upgrade::sim::FaultConfig { errors: vec![rule], ..Default::default() });
    let plan = required_plan(GOOD, &kube_system_uid(&production).await);
    let (file, evidence_file) = (plan.path(), plan.dir.path().join("evidence.json"));
    let args = ["rehearse", "-f", path(&file), "--yes", "--fail-on", "never", "--evidence-out", path(&evidence_file)];
    let (code, output) = with_churn(&staging, &args).await;
    sim.set_faults(operator_upgrade::sim::FaultConfig::default());
    assert_eq!(code, 5, "the failed drill's exit code (needs attention): {output}");
    let evidence = read_json(&evidence_file);
    assert_eq!(phases(&evidence), pairs(&[("apply", "passed"), ("rollback-drill", "failed")]), "{evidence}");
    assert_eq!(evidence["phases"][1]["exitCode"], 5, "{evidence}");
    assert!(output.contains("the rehearsal's rollback-drill phase did not pass"), "{output}");

    let apply = ["apply", "-f", path(&file), "--yes", "--fail-on", "never", "--rehearsal", path(&evidence_file)];
    let (code, output) = tool(&production, &apply).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("the rehearsal's rollback-drill phase did not pass"), "{output}");
    assert_eq!(operator_image(&production).await, "registry.example/demo-operator:v1.0.0");

    // With the webhook back, `rollback` completes the drill's undo and staging is as before.
    let (code, output) = tool(&staging, &["rollback", "--plan", "demo-operator-v1-1", "--yes"]).await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(operator_image(&staging).await, "registry.example/demo-operator:v1.0.0");
    assert_clean(&staging).await;
}

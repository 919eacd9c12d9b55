//! The real `kubectl` against the simulator and the real control plane (skipped with a message when kubectl
//! is not on PATH; `controlplane/run.sh` puts the one it builds first): tables and YAML, server-side apply,
//! label, annotate, merge patch, delete, wait for a CRD to be Established, rollout status of a Deployment
//! (on the real server its Pods run on the test bed's node agent), and a watch.

use crate::common;

use common::TestCluster;
use operator_upgrade::sim::Scenario;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn kubectl_available() -> bool {
    let found = Command::new("kubectl").arg("version").arg("--client").output().is_ok_and(|o| o.status.success());
    if !found {
        let _ = writeln!(std::io::stderr(), "skipped: kubectl is not on PATH");
    }
    found
}

/// kubectl against the test's cluster with a discovery cache of the test's own: the shared one under
/// ~/.kube/cache would remember the versions of a CRD that other tests on the same control plane changed since
/// (`widget` resolved to a version no longer served is "the server could not find the requested resource").
fn kubectl_command(cluster: &TestCluster, cache: &Path) -> Command {
    let mut command = Command::new("kubectl");
    command.arg("--kubeconfig").arg(cluster.kubeconfig_path()).arg("--cache-dir").arg(cache);
    command
}

fn kubectl(cluster: &TestCluster, cache: &Path, args: &[&str]) -> Output {
    kubectl_command(cluster, cache).args(args).output().expect("kubectl runs")
}

fn ok(cluster: &TestCluster, cache: &Path, args: &[&str]) -> String {
    let output = kubectl(cluster, cache, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "kubectl {args:?} failed: {}{stdout}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn demo_file(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(relative).display().to_string()
}

fn widget(namespace: &str) -> String {
    format!(
        "apiVersion: demo.operator-upgrade.dev/v1alpha1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: {namespace}\nspec:\n  image: nginx:1.27\n  tier: gold\n"
    )
}

async fn kubectl_drives_the_cluster(cluster: TestCluster) {
    if !kubectl_available() {
        return;
    }
    let _turn = crate::canary_real::demo_turn(&cluster).await;
    let namespace = cluster.namespace("kubectl").await;
    let ns = namespace.as_str();
    let dir = tempfile::tempdir().unwrap();
    let cache = &dir.path().join("kubectl-cache");
    let widget_file = dir.path().join("widget.yaml");
    std::fs::write(&widget_file, widget(ns)).unwrap();

    let table = ok(&cluster, cache, &["get", "namespaces"]);
    assert!(table.starts_with("NAME") && table.contains("kube-system"), "{table}");

    ok(&cluster, cache, &["apply", "--server-side", "-f", &demo_file("v1.0.0/crds.yaml")]);
    // A CRD created a moment ago may have no status.conditions yet, which `kubectl wait --for=condition`
    // refuses ("accessor error") rather than waits for: the API says when it has them.
    cluster.wait_established("widgets.demo.operator-upgrade.dev").await;
    ok(
        &cluster,
        cache,
        &["wait", "--for=condition=Established", "crd/widgets.demo.operator-upgrade.dev", "--timeout=20s"],
    );
    ok(&cluster, cache, &["apply", "--server-side", "-f", widget_file.to_str().unwrap()]);
    let yaml = ok(&cluster, cache, &["-n", ns, "get", "widget", "w1", "-o", "yaml", "--show-managed-fields"]);
    assert!(
        yaml.contains("tier: gold") && yaml.contains("manager: kubectl") && yaml.contains("operation: Apply"),
        "{yaml}"
    );

    ok(&cluster, cache, &["-n", ns, "label", "widget", "w1", "team=blue"]);
    ok(&cluster, cache, &["-n", ns, "annotate", "widget", "w1", "note=hello"]);
    ok(&cluster, cache, &["-n", ns, "patch", "widget", "w1", "--type=merge", "-p", r#"{"spec":{"replicas":3}}"#]);
    let yaml = ok(&cluster, cache, &["-n", ns, "get", "widget", "w1", "-o", "yaml"]);
    assert!(yaml.contains("team: blue") && yaml.contains("note: hello") && yaml.contains("replicas: 3"), "{yaml}");
    let selected = ok(&cluster, cache, &["-n", ns, "get", "widgets", "-l", "team=blue", "-o", "name"]);
    assert_eq!(selected.trim(), "widget.demo.operator-upgrade.dev/w1");

    ok(&cluster, cache, &["apply", "--server-side", "-f", &demo_file("v1.0.0/operator.yaml")]);
    let rollout =
        ok(&cluster, cache, &["rollout", "status", "deployment/demo-operator", "-n", "demo-system", "--timeout=60s"]);
    assert!(rollout.contains("successfully rolled out"), "{rollout}");

    let mut watch = kubectl_command(&cluster, cache)
        .args(["-n", ns, "get", "configmaps", "--field-selector=metadata.name=watched", "-w", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::thread::spawn({
        let stdout = watch.stdout.take().unwrap();
        move || BufReader::new(stdout).lines().take(4).map(|l| l.unwrap()).collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_millis(500));
    let config_map = dir.path().join("configmap.yaml");
    std::fs::write(
        &config_map,
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\n  namespace: {ns}\ndata:\n  k: v\n"),
    )
    .unwrap();
    ok(&cluster, cache, &["apply", "--server-side", "-f", config_map.to_str().unwrap()]);
    ok(&cluster, cache, &["-n", ns, "label", "configmap", "watched", "seen=yes"]);
    ok(&cluster, cache, &["-n", ns, "delete", "configmap", "watched"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lines.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let lines = lines.join().unwrap();
    let events: Vec<(&str, &str)> =
        lines.iter().filter_map(|l| l.split_whitespace().next().zip(l.split_whitespace().nth(1))).collect();
    assert_eq!(
        events,
        [("EVENT", "NAME"), ("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")],
        "{lines:?}"
    );

    ok(&cluster, cache, &["-n", ns, "delete", "widget", "w1"]);
    let gone = kubectl(&cluster, cache, &["-n", ns, "get", "widget", "w1"]);
    assert!(!gone.status.success() && String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
}
on_both_clusters!(kubectl_drives_the_cluster, Scenario { tick_ms: 20, ..Scenario::default() });

//! `controlplane/run.sh cargo bench --bench real`: the tool's bulk passes on a real API server, each beside
//! what a user would otherwise run, on the same server and objects in the same run:
//!
//! - live validation: `operator-upgrade validate --kubeconfig` (the live plan's list-and-validate) of every
//!   Widget against `kubectl get widgets -A -o json` (the list alone), both whole processes, median of 3
//!   interleaved runs, with each process's peak RSS (target: ours within 1.3x of kubectl);
//! - storage migration: the tool's (`engine::migrate::migrate_kind`, what `finalize` runs) against a tight
//!   loop of PUTs of the listed objects at the same concurrency (target: within 1.5x) and, when
//!   `CONTROLPLANE_STORAGE_VERSION_MIGRATOR=1` turned it on, Kubernetes' own StorageVersionMigration timed to
//!   `Succeeded`. Before each pass the CRD's storage version is switched (v1alpha1 <-> v1), so every pass
//!   rewrites every object in etcd (a PUT of unchanged bytes would be skipped by the server); each pass
//!   counts the objects whose resourceVersion moved, and the 429s the server answered
//!   (`apiserver_request_total{code="429"}`) while it ran. The PUT loop and the tool's pass each run in a
//!   process of their own (this bench run again with `BENCH_REAL_PASS`), so each peak RSS is that pass's
//!   alone, not what the bench's own snapshots of every object left in its heap.
//!
//! Everything but the in-tree migrator runs as a ServiceAccount bound to cluster-admin, not as the
//! kubeconfig's `system:masters` admin, whom API Priority and Fairness exempts: a 429 storm would show.
//! Objects: `OBJECTS=n` Widgets (default 10,000) of the demo operator's CRD in namespace `bench-real`, left
//! on the control plane, which `controlplane/run.sh` removes. Without `OPERATOR_UPGRADE_REAL_KUBECONFIG`
//! (set by `controlplane/run.sh`) it says so and exits 0.

#[path = "support/create.rs"]
mod create;
use create::create_all;
use futures::stream::{self, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use operator_upgrade::cluster::retry::with_retries;
use operator_upgrade::cluster::{connect, ClusterArgs, Objects};
use operator_upgrade::engine::migrate::migrate_kind;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The same allocator as the `operator-upgrade` binary, so the in-process numbers are the command's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_OBJECTS: usize = 10_000;
const GROUP: &str = "demo.operator-upgrade.dev";
const NAMESPACE: &str = "bench-real";
const RUNNER: &str = "bench-runner";
/// The tool's migration concurrency (`engine::migrate`), which the PUT loop uses too.
const CONCURRENCY: usize = 8;
const RUNS: usize = 3;

fn demo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(relative)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The v1.1.0 demo CRD (Widget, versions v1alpha1 and v1, conversion None) storing at `storage`.
fn widget_crd(storage: &str) -> Value {
    let text = std::fs::read_to_string(demo("v1.1.0/crds.yaml")).expect("reads the demo CRDs");
    let mut crd = serde_norway::Deserializer::from_str(&text)
        .map(|document| <Value as serde::Deserialize>::deserialize(document).expect("valid YAML"))
        .find(|d| d["kind"] == "CustomResourceDefinition" && d["spec"]["names"]["kind"] == "Widget")
        .expect("the demo release has the Widget CRD");
    for version in crd["spec"]["versions"].as_array_mut().expect("versions") {
        version["storage"] = json!(version["name"] == storage);
    }
    crd
}

fn crd_api(client: &Client) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
    ));
    Api::all_with(client.clone(), &resource)
}

fn widgets(client: &Client, version: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(GROUP, version, "Widget"));
    Api::namespaced_with(client.clone(), NAMESPACE, &resource)
}

/// Applies the Widget CRD storing at `storage`, waits until it is established, then gives the API server's
/// CRD handler time to swap its storage (nothing in the API tells when it has).
async fn store_widgets_at(admin: &Client, storage: &str) {
    let crd = widget_crd(storage);
    let name = crd["metadata"]["name"].as_str().expect("a name").to_owned();
    let api = crd_api(admin);
    api.patch(&name, &PatchParams::apply("bench-real").force(), &Patch::Apply(&crd)).await.expect("applies the CRD");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let live = serde_json::to_value(api.get(&name).await.expect("reads the CRD")).expect("json");
        let established = live["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
        if established {
            break;
        }
        assert!(Instant::now() < deadline, "the Widget CRD was not established within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // After a storage switch the server rebuilds the kind's watch cache, answering 429 until it is done.
    let (api, one) = (widgets(admin, storage), ListParams::default().limit(1));
    with_retries(|| api.list(&one)).await.expect("the Widgets are served again");
}

/// Server-side applies `body` (of `kind` at `api_version`) as the admin.
async fn apply_as_admin(admin: &Client, api_version: &str, kind: &str, body: Value) {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(group, version, kind));
    let name = body["metadata"]["name"].as_str().expect("a name").to_owned();
    let api: Api<DynamicObject> = match body["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(admin.clone(), ns, &resource),
        None => Api::all_with(admin.clone(), &resource),
    };
    api.patch(&name, &PatchParams::apply("bench-real").force(), &Patch::Apply(&body))
        .await
        .unwrap_or_else(|e| panic!("applies {kind} {name}: {e}"));
}

/// The namespace, and a ServiceAccount bound to cluster-admin with a token: a kubeconfig for it next to the
/// admin's, and the tool's own client for it.
async fn runner_identity(admin: &Client, admin_kubeconfig: &Path, dir: &Path) -> (PathBuf, Client) {
    let apply =
        |api_version: &'static str, kind: &'static str, body: Value| apply_as_admin(admin, api_version, kind, body);
    apply("v1", "Namespace", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})).await;
    apply(
        "v1",
        "ServiceAccount",
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": RUNNER, "namespace": NAMESPACE}}),
    )
    .await;
    apply(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": RUNNER},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": RUNNER, "namespace": NAMESPACE}]
        }),
    )
    .await;
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(admin.clone(), NAMESPACE);
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 86_400}});
    let issued: Value =
        accounts.create_subresource("token", RUNNER, &PostParams::default(), &request).await.expect("a token");
    let token = issued["status"]["token"].as_str().expect("the token request's token").to_owned();

    let text = std::fs::read_to_string(admin_kubeconfig).expect("reads the kubeconfig");
    let mut kubeconfig: Value = serde_norway::from_str(&text).expect("the kubeconfig is YAML");
    kubeconfig["users"][0]["user"] = json!({"token": token});
    let path = dir.join("runner.kubeconfig");
    std::fs::write(&path, serde_norway::to_string(&kubeconfig).expect("writes YAML")).expect("writes the kubeconfig");
    let client = connect(&ClusterArgs { kubeconfig: Some(path.clone()), context: None })
        .await
        .expect("the tool's client for the runner");
    (path, client)
}

/// Creates `count` Widgets (as v1alpha1), 32 at a time; returns how long it took.
async fn create_widgets(client: &Client, count: usize) -> Duration {
    let width = count.saturating_sub(1).to_string().len();
    create_all(&widgets(client, "v1alpha1"), count, |index| {
        json!({
            "apiVersion": format!("{GROUP}/v1alpha1"), "kind": "Widget",
            "metadata": {"name": format!("widget-{index:0width$}"), "namespace": NAMESPACE,
                "labels": {"app.kubernetes.io/part-of": "bench"}},
            "spec": {"image": "nginx:1.27", "tier": "silver", "replicas": 1,
                "ports": [{"name": "http", "port": 80}]}
        })
    })
    .await
}

/// Every Widget, in one list request: run.sh's etcd compacts every 5 s, which would expire a paged list's
/// continue token under load (the tool's passes follow the server's new token; this snapshot must be whole).
async fn list_widgets(client: &Client) -> Vec<DynamicObject> {
    let (api, all) = (widgets(client, "v1"), ListParams::default());
    with_retries(|| api.list(&all)).await.expect("lists the Widgets").items
}

fn resource_versions(objects: &[DynamicObject]) -> HashMap<String, String> {
    objects
        .iter()
        .map(|o| (o.metadata.name.clone().unwrap_or_default(), o.metadata.resource_version.clone().unwrap_or_default()))
        .collect()
}

/// How many Widgets now have another resourceVersion than in `before`: the objects a pass rewrote.
async fn rewritten_since(client: &Client, before: &HashMap<String, String>) -> usize {
    let after = resource_versions(&list_widgets(client).await);
    after.iter().filter(|(name, version)| before.get(*name).is_some_and(|b| b != *version)).count()
}

/// The 429s the API server has answered since it started (`apiserver_request_total{code="429"}`).
async fn throttled(admin: &Client) -> u64 {
    let request = http::Request::get("/metrics").body(Vec::new()).expect("a request");
    let text = admin.request_text(request).await.expect("reads the API server's metrics");
    text.lines()
        .filter(|line| line.starts_with("apiserver_request_total{") && line.contains("code=\"429\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Runs a command to its end; its wall time, peak RSS (KiB, `wait4`) and standard output.
// `wait4` reaps the child (std's `wait` cannot return its rusage).
#[allow(clippy::zombie_processes)]
fn run_process(command: &mut Command) -> (Duration, u64, Vec<u8>) {
    let start = Instant::now();
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the command starts");
    let mut sink = Vec::new();
    child.stdout.take().expect("stdout").read_to_end(&mut sink).expect("reads stdout");
    let mut errors = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut errors).expect("reads stderr");
    let pid = i32::try_from(child.id()).expect("a pid");
    let mut status = 0;
    // SAFETY: wait4 only writes into the status and the rusage we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut usage), pid, "waits for {command:?}");
        usage
    };
    let elapsed = start.elapsed();
    // validate exits 1 when objects have findings at or above --fail-on; anything else is a failure.
    let code = libc::WEXITSTATUS(status);
    assert!(libc::WIFEXITED(status) && code <= 1, "{command:?} failed ({code}): {errors}");
    (elapsed, u64::try_from(usage.ru_maxrss).unwrap_or(0), sink)
}

fn median(mut samples: Vec<(Duration, u64)>) -> (Duration, u64) {
    samples.sort();
    samples[samples.len() / 2]
}

fn live_validation(kubeconfig: &Path, count: usize) {
    let ours = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_operator-upgrade"));
        command
            .args(["validate", "--output", "json", "--fail-on", "never", "--crds"])
            .arg(demo("v1.1.0"))
            .arg("--old-crds")
            .arg(demo("v1.0.0"))
            .arg("--kubeconfig")
            .arg(kubeconfig);
        let (took, rss, out) = run_process(&mut command);
        let report: Value = serde_json::from_slice(&out).expect("validate -o json prints JSON");
        assert_eq!(report["summary"]["objects"], count, "validate read every Widget: {}", report["summary"]);
        (took, rss)
    };
    let kubectl = || {
        let mut command = Command::new("kubectl");
        // One request (`--chunk-size=0`): run.sh's etcd compacts every 5 s, which expires a chunked list's
        // continue token as soon as the list takes longer, and kubectl then fails half-way.
        command.arg("--kubeconfig").arg(kubeconfig).args([
            "get",
            &format!("widgets.{GROUP}"),
            "-A",
            "-o",
            "json",
            "--chunk-size=0",
        ]);
        let (took, rss, out) = run_process(&mut command);
        let list: Value = serde_json::from_slice(&out).expect("kubectl prints JSON");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(count), "kubectl listed every Widget");
        (took, rss)
    };
    let (mut tool_runs, mut kubectl_runs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        kubectl_runs.push(kubectl());
        tool_runs.push(ours());
    }
    let ((tool, tool_rss), (anchor, anchor_rss)) = (median(tool_runs), median(kubectl_runs));
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!("live validation of {count} Widgets (median of {RUNS}, whole processes, as the runner ServiceAccount)");
    println!(
        "  kubectl get widgets -A -o json --chunk-size=0:          {:7.2} s = {:7.0} objects/s; peak RSS {:6.0} MiB (anchor)",
        anchor.as_secs_f64(),
        rate(anchor),
        mib(anchor_rss)
    );
    println!(
        "  operator-upgrade validate --kubeconfig:    {:7.2} s = {:7.0} objects/s; peak RSS {:6.0} MiB ({:.2}x kubectl; target <= 1.30x)",
        tool.as_secs_f64(),
        rate(tool),
        mib(tool_rss),
        tool.as_secs_f64() / anchor.as_secs_f64()
    );
}

/// The PUT loop: every listed Widget written back unchanged, `CONCURRENCY` at a time, no retries. Returns
/// the objects whose resourceVersion moved and the answers by status code that were not 200.
async fn put_loop(client: &Client) -> (usize, HashMap<u16, usize>) {
    let listed = list_widgets(client).await;
    let api = widgets(client, "v1");
    let results: Vec<Result<bool, u16>> = stream::iter(listed)
        .map(|object| {
            let api = api.clone();
            async move {
                let name = object.metadata.name.clone().unwrap_or_default();
                match api.replace(&name, &PostParams::default(), &object).await {
                    Ok(written) => Ok(written.metadata.resource_version != object.metadata.resource_version),
                    Err(kube::Error::Api(status)) => Err(status.code),
                    Err(e) => panic!("PUT {name}: {e}"),
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut failures = HashMap::new();
    for code in results.iter().filter_map(|r| r.err()) {
        *failures.entry(code).or_insert(0) += 1;
    }
    (results.iter().filter(|r| matches!(r, Ok(true))).count(), failures)
}

/// Creates a StorageVersionMigration of the Widgets and waits until it succeeds (or fails, or 30 minutes
/// pass); None when the API server does not serve `storagemigration.k8s.io/v1alpha1`.
async fn in_tree_migration(admin: &Client) -> Option<Result<Duration, String>> {
    let resource = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "storagemigration.k8s.io",
        "v1alpha1",
        "StorageVersionMigration",
    ));
    let api: Api<DynamicObject> = Api::all_with(admin.clone(), &resource);
    let name = format!("widgets-{}", jiff::Timestamp::now().as_second());
    let body: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "storagemigration.k8s.io/v1alpha1", "kind": "StorageVersionMigration",
        "metadata": {"name": name},
        "spec": {"resource": {"group": GROUP, "version": "v1", "resource": "widgets"}}
    }))
    .expect("a StorageVersionMigration");
    let start = Instant::now();
    match api.create(&PostParams::default(), &body).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return None,
        Err(e) => return Some(Err(format!("cannot create the StorageVersionMigration: {e}"))),
    }
    loop {
        let live = serde_json::to_value(api.get(&name).await.expect("reads the migration")).expect("json");
        let condition = |kind: &str| {
            live["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
        };
        if condition("Succeeded") {
            return Some(Ok(start.elapsed()));
        }
        if condition("Failed") {
            return Some(Err(format!("the migration failed: {}", live["status"])));
        }
        if start.elapsed() > Duration::from_secs(1800) {
            return Some(Err("the migration did not finish within 30 minutes".to_owned()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn codes(failures: &HashMap<u16, usize>) -> String {
    if failures.is_empty() {
        return "none".to_owned();
    }
    let mut codes: Vec<_> = failures.iter().collect();
    codes.sort();
    codes.iter().map(|(code, n)| format!("{n} x {code}")).collect::<Vec<_>>().join(", ")
}

/// Which pass a child process of this bench runs (`BENCH_REAL_PASS`), as the runner of `BENCH_REAL_KUBECONFIG`.
const PASS: &str = "BENCH_REAL_PASS";
const PASS_KUBECONFIG: &str = "BENCH_REAL_KUBECONFIG";

/// Runs `pass` in a child process of this bench: its wall time, peak RSS (KiB) and the JSON it printed.
fn pass_process(pass: &str, kubeconfig: &Path) -> (Duration, u64, Value) {
    let mut command = Command::new(std::env::current_exe().expect("the bench's own path"));
    command.env(PASS, pass).env(PASS_KUBECONFIG, kubeconfig);
    let (took, rss, out) = run_process(&mut command);
    (took, rss, serde_json::from_slice(&out).unwrap_or_else(|e| panic!("the {pass} pass prints JSON: {e}")))
}

/// The child process's side: runs the pass `BENCH_REAL_PASS` names and prints its counts as JSON.
async fn run_pass(pass: &str) {
    let kubeconfig = std::env::var_os(PASS_KUBECONFIG).map(PathBuf::from).expect("the runner's kubeconfig");
    let runner = connect(&ClusterArgs { kubeconfig: Some(kubeconfig), context: None }).await.expect("a client");
    let printed = match pass {
        "put" => {
            let (moved, failures) = put_loop(&runner).await;
            json!({"moved": moved, "failures": codes(&failures)})
        }
        "migrate" => {
            let objects = Objects::new(runner.clone(), false);
            let counts = migrate_kind(&objects, &format!("{GROUP}/v1alpha1"), "Widget", &[], |_| {})
                .await
                .expect("the migration succeeds");
            json!({"rewritten": counts.rewritten, "skipped": counts.skipped})
        }
        other => panic!("no pass {other}"),
    };
    println!("{printed}");
}

async fn migrations(admin: &Client, runner: &Client, runner_kubeconfig: &Path, count: usize) {
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!("storage migration of {count} Widgets, {CONCURRENCY} writes at a time, storage version switched before each pass");

    store_widgets_at(admin, "v1").await;
    let throttled_before = throttled(admin).await;
    let (anchor, anchor_rss, put) = pass_process("put", runner_kubeconfig);
    println!(
        "  PUT loop (list, then PUT each, no retries; own process): {:7.2} s = {:6.0} objects/s; rewritten {}; failed: {}; 429s {}; peak RSS {:.0} MiB (anchor)",
        anchor.as_secs_f64(),
        rate(anchor),
        put["moved"],
        put["failures"].as_str().unwrap_or_default(),
        throttled(admin).await - throttled_before,
        mib(anchor_rss),
    );

    store_widgets_at(admin, "v1alpha1").await;
    let before = resource_versions(&list_widgets(runner).await);
    let throttled_before = throttled(admin).await;
    let (ours, ours_rss, counts) = pass_process("migrate", runner_kubeconfig);
    let throttled_ours = throttled(admin).await - throttled_before;
    println!(
        "  operator-upgrade (engine::migrate::migrate_kind; own process): {:7.2} s = {:6.0} objects/s; rewritten {} (resourceVersion moved: {}), skipped {}; 429s {throttled_ours}; peak RSS {:.0} MiB ({:.2}x the PUT loop; target <= 1.50x)",
        ours.as_secs_f64(),
        rate(ours),
        counts["rewritten"],
        rewritten_since(runner, &before).await,
        counts["skipped"],
        mib(ours_rss),
        ours.as_secs_f64() / anchor.as_secs_f64(),
    );
    store_widgets_at(admin, "v1").await;
    let before = resource_versions(&list_widgets(runner).await);
    let throttled_before = throttled(admin).await;
    match in_tree_migration(admin).await {
        None => println!(
            "  in-tree StorageVersionMigrator: not served (run with CONTROLPLANE_STORAGE_VERSION_MIGRATOR=1 controlplane/run.sh)"
        ),
        Some(Err(why)) => println!("  in-tree StorageVersionMigrator: {why}"),
        Some(Ok(took)) => println!(
            "  in-tree StorageVersionMigrator (create to Succeeded): {:7.2} s = {:6.0} objects/s; rewritten (resourceVersion moved) {}; 429s {}; ours is {:.2}x its time (target <= 1.00x)",
            took.as_secs_f64(),
            rate(took),
            rewritten_since(runner, &before).await,
            throttled(admin).await - throttled_before,
            ours.as_secs_f64() / took.as_secs_f64(),
        ),
    }
}

#[tokio::main]
async fn main() {
    if let Ok(pass) = std::env::var(PASS) {
        return run_pass(&pass).await;
    }
    let Some(kubeconfig) = std::env::var_os("OPERATOR_UPGRADE_REAL_KUBECONFIG").map(PathBuf::from) else {
        println!(
            "bench real: no real control plane (OPERATOR_UPGRADE_REAL_KUBECONFIG is unset); run `controlplane/run.sh cargo bench --bench real`; nothing measured"
        );
        return;
    };
    let count = std::env::var("OBJECTS").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_OBJECTS);
    let admin = connect(&ClusterArgs { kubeconfig: Some(kubeconfig.clone()), context: None })
        .await
        .expect("a client for the control plane");
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runner_kubeconfig, runner) = runner_identity(&admin, &kubeconfig, dir.path()).await;

    store_widgets_at(&admin, "v1alpha1").await;
    let created = create_widgets(&runner, count).await;
    println!(
        "real API server: {count} Widgets created in {:.1} s ({:.0} objects/s, 32 at a time)",
        created.as_secs_f64(),
        count as f64 / created.as_secs_f64()
    );
    live_validation(&runner_kubeconfig, count);
    migrations(&admin, &runner, &runner_kubeconfig, count).await;
}

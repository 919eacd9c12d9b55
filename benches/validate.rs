//! `cargo bench --bench validate`: object validation throughput on a real CRD with CEL rules.
//!
//! Generates 100,000 CloudNativePG `Cluster` objects (realistic spec and status; one in a thousand with a
//! violation, a pruned field or a missing default) as one multi-document YAML stream in a temporary file, then
//! validates them against the CloudNativePG v1.30.0 CRDs with `validate_paths`, the same call `validate` makes.
//! Prints objects per second (target: at least 20,000 on 2 cores), CPU use in cores (target: all of them) and
//! the peak RSS (target: bounded, far below the size of the input).
//!
//! Needs `../shared/corpus` (or `OPERATOR_UPGRADE_CORPUS`); without it, says so and exits 0.
//! `OBJECTS=n` changes the number of objects; `KEEP=path` writes them there (and keeps them) for a look with
//! `operator-upgrade validate`.

use operator_upgrade::manifest::load_side;
use operator_upgrade::schema::validate::{validate_paths, Validator};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// The same allocator as the `operator-upgrade` binary, so the numbers are the command's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_OBJECTS: usize = 100_000;

fn corpus() -> Option<PathBuf> {
    let path = std::env::var_os("OPERATOR_UPGRADE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    path.join("crds").is_dir().then_some(path)
}

/// One Cluster as `kubectl get clusters -A -o yaml` would show it; `i` varies names, sizes and the odd defect.
fn cluster(i: usize) -> String {
    let namespace = format!("team-{}", i % 97);
    let instances = 1 + i % 5;
    let memory = 512 << (i % 4);
    let sync = if instances > 1 {
        format!(
            "    synchronous:\n      method: any\n      number: {}\n      dataDurability: required\n",
            instances - 1
        )
    } else {
        String::new()
    };
    // One object in a thousand each: a CEL violation, a field the schema does not declare, a value below minimum.
    let defect = match i % 1000 {
        7 => "  imageCatalogRef:\n    apiGroup: postgresql.cnpg.io\n    kind: ImageCatalog\n    name: catalog\n    major: 16\n",
        17 => "  legacyReplicationMode: streaming\n",
        27 => "  maxSyncReplicas: -1\n",
        _ => "",
    };
    format!(
        "---
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: db-{i}
  namespace: {namespace}
  uid: 6f1c8a2e-0000-4000-8000-{i:012}
  resourceVersion: \"{rv}\"
  generation: 3
  creationTimestamp: \"2025-01-01T00:00:00Z\"
  labels:
    app.kubernetes.io/name: db-{i}
    app.kubernetes.io/part-of: payments
    team: team-{team}
  annotations:
    cnpg.io/skipEmptyWalArchiveCheck: \"enabled\"
spec:
  instances: {instances}
  imageName: ghcr.io/cloudnative-pg/postgresql:16.{minor}
  primaryUpdateStrategy: unsupervised
  primaryUpdateMethod: restart
  enableSuperuserAccess: false
  logLevel: info
  enablePDB: true
  failoverDelay: 0
  maxSyncReplicas: 0
  minSyncReplicas: 0
  postgresGID: 26
  postgresUID: 26
  smartShutdownTimeout: 180
  startDelay: 3600
  stopDelay: 1800
  switchoverDelay: 3600
  replicationSlots:
    highAvailability:
      enabled: true
      slotPrefix: _cnpg_
    updateInterval: 30
  postgresql:
    parameters:
      max_connections: \"{connections}\"
      shared_buffers: {buffers}MB
      work_mem: 4MB
      log_min_duration_statement: \"1000\"
{sync}    pg_hba:
    - host all all 10.0.0.0/8 scram-sha-256
  bootstrap:
    initdb:
      database: app
      owner: app
      dataChecksums: true
      encoding: UTF8
  storage:
    size: {storage}Gi
    storageClass: fast-ssd
    resizeInUseVolumes: true
  walStorage:
    size: 5Gi
    resizeInUseVolumes: true
  resources:
    requests:
      cpu: 500m
      memory: {memory}Mi
    limits:
      memory: {memory}Mi
  affinity:
    enablePodAntiAffinity: true
    topologyKey: kubernetes.io/hostname
    podAntiAffinityType: preferred
  monitoring:
    enablePodMonitor: {monitor}
    disableDefaultQueries: false
  managed:
    roles:
    - name: reporting
      ensure: present
      login: true
      inherit: true
      inRoles: [pg_read_all_data]
      connectionLimit: 10
{defect}status:
  phase: Cluster in healthy state
  instances: {instances}
  readyInstances: {instances}
  currentPrimary: db-{i}-1
  targetPrimary: db-{i}-1
  latestGeneratedNode: {instances}
  timelineID: 1
  instanceNames:
  - db-{i}-1
  conditions:
  - type: Ready
    status: \"True\"
    reason: ClusterIsReady
    message: Cluster is Ready
    lastTransitionTime: \"2025-01-01T00:10:00Z\"
  - type: ContinuousArchiving
    status: \"True\"
    reason: ContinuousArchivingSuccess
    message: Continuous archiving is working
    lastTransitionTime: \"2025-01-01T00:11:00Z\"
",
        rv = 100_000 + i,
        team = i % 13,
        minor = 1 + i % 6,
        connections = 100 + (i % 4) * 50,
        buffers = 128 << (i % 3),
        storage = 10 * (1 + i % 10),
        monitor = i.is_multiple_of(2),
    )
}

fn generate(path: &Path, objects: usize) -> std::io::Result<u64> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    for i in 0..objects {
        out.write_all(cluster(i).as_bytes())?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

struct Usage {
    cpu: Duration,
    peak_rss_kib: i64,
}

fn usage() -> Usage {
    // SAFETY: getrusage only writes into the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    Usage { cpu: time(usage.ru_utime) + time(usage.ru_stime), peak_rss_kib: usage.ru_maxrss }
}

fn main() {
    let Some(corpus) = corpus() else {
        println!("validate bench: ../shared/corpus not found (set OPERATOR_UPGRADE_CORPUS); skipping");
        return;
    };
    let objects: usize = std::env::var("OBJECTS").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_OBJECTS);
    let crds = load_side(&corpus.join("crds/cloudnative-pg/v1.30.0")).unwrap_or_else(|e| panic!("corpus CRDs: {e}"));
    let validator = Validator::new(&crds.crds);

    let dir = tempfile::tempdir().expect("a temporary directory");
    // KEEP=path writes the generated objects there instead, for a look with `operator-upgrade validate`.
    let input = std::env::var_os("KEEP").map_or_else(|| dir.path().join("clusters.yaml"), PathBuf::from);
    let started = Instant::now();
    let bytes = generate(&input, objects).expect("writing the generated objects");
    println!("generated {objects} Cluster objects ({:.1} MB) in {:.2?}", bytes as f64 / 1e6, started.elapsed());

    let before = usage();
    let started = Instant::now();
    let report = validate_paths(&validator, &[input]).unwrap_or_else(|e| panic!("validation failed: {e}"));
    let wall = started.elapsed();
    let after = usage();

    let rate = report.summary.checked as f64 / wall.as_secs_f64();
    let cores = (after.cpu - before.cpu).as_secs_f64() / wall.as_secs_f64();
    println!(
        "validated {} objects ({} findings, {} objects with findings) in {:.2?}",
        report.summary.checked,
        report.findings.len(),
        report.summary.objects_with_findings,
        wall
    );
    println!("throughput: {rate:.0} objects/s (target >= 20000)");
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("cpu: {cores:.2} cores busy of {available} available");
    // Wall-clock numbers suffer when something else runs on the machine; CPU time per object does not.
    let cpu_per_object = (after.cpu - before.cpu).as_secs_f64() / report.summary.checked as f64;
    println!(
        "cpu per object: {:.1} µs, i.e. {:.0} objects/s with all {available} cores to ourselves",
        cpu_per_object * 1e6,
        available as f64 / cpu_per_object
    );
    println!(
        "peak RSS: {:.1} MiB for {:.1} MB of input (streamed, never held whole)",
        after.peak_rss_kib as f64 / 1024.0,
        bytes as f64 / 1e6
    );
    assert_eq!(report.summary.checked, objects, "every generated object is a Cluster and is checked");
}

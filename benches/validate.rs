//! `cargo bench --bench validate`: `operator-upgrade validate` of 100,000 objects, whole process, against a
//! bare parse of the same file in the same run.
//!
//! Generates 100,000 CloudNativePG `Cluster` objects twice, each as one multi-document YAML stream in a
//! temporary file: `full` (realistic spec and status, about 240 MB; one in a thousand with a violation, a
//! pruned field or a missing default) and `minimal` (only what a user writes, about 40 MB), then runs the
//! `operator-upgrade` binary on each as a user would, against the CloudNativePG v1.30.0 CRDs, without
//! `--old-crds` (each minimal object gets 16 `default-applied` infos: 1.6 million findings) and with the
//! v1.29.0 CRDs, in every output format. Each run is a child process: wall time, objects per second, CPU in
//! cores, peak RSS (from `wait4`) and the size of what it printed. The anchor is a bare parse of the same file
//! by this bench in a child process of its own: every document parsed into a `serde_json::Value` and dropped,
//! on one thread, nothing validated; each run is printed as a ratio to it.
//!
//! Targets (issues 27 and 29): at least 100,000 objects/s for the whole process on 2 cores, peak RSS at most
//! 256 MiB in every format.
//!
//! Needs `../shared/corpus` (or `OPERATOR_UPGRADE_CORPUS`); without it, says so and exits 0.
//! `OBJECTS=n` changes the number of objects; `KEEP=path` writes them there (and keeps them) for a look with
//! `operator-upgrade validate`; `EACH=1` also runs `--each` (every finding one by one: about 1 GB of JSON).

use serde::Deserialize;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The same allocator as the `operator-upgrade` binary, so the bare parse is measured as the command would do it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_OBJECTS: usize = 100_000;
const BINARY: &str = env!("CARGO_BIN_EXE_operator-upgrade");

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

/// A Cluster with only what a user writes (about 400 bytes): 16 defaults apply to each, so without the old CRDs
/// every object has 16 `default-applied` findings, all identical across objects.
fn minimal_cluster(i: usize) -> String {
    let instances = 1 + i % 3;
    format!(
        "---
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: db-{i}
  namespace: team-{namespace}
  uid: 6f1c8a2e-0000-4000-8000-{i:012}
  resourceVersion: \"{rv}\"
  generation: 1
  creationTimestamp: \"2025-01-01T00:00:00Z\"
spec:
  instances: {instances}
  imageName: ghcr.io/cloudnative-pg/postgresql:16.{minor}
  storage:
    size: {storage}Gi
status:
  phase: Cluster in healthy state
  instances: {instances}
  readyInstances: {instances}
",
        namespace = i % 97,
        rv = 100_000 + i,
        minor = 1 + i % 6,
        storage = 10 * (1 + i % 10),
    )
}

/// Writes the `i`th object of a set.
type Generator = fn(usize) -> String;

fn generate(path: &Path, objects: usize, object: Generator) -> std::io::Result<u64> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    for i in 0..objects {
        out.write_all(object(i).as_bytes())?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// What one child process took.
struct Run {
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: i64,
    output_bytes: u64,
    exit: i32,
}

/// Runs a command with its standard output to `out`, and measures it as the operating system accounts it.
// The child is reaped by `wait4`, which (unlike `Child::wait`) also returns its resource usage.
#[allow(clippy::zombie_processes)]
fn measure(command: &mut Command, out: &Path) -> Run {
    let file = std::fs::File::create(out).expect("the output file");
    let started = Instant::now();
    let child = command.stdout(file).stderr(Stdio::inherit()).spawn().expect("the command starts");
    let pid = child.id() as libc::pid_t;
    // SAFETY: wait4 only writes into the status and the rusage we pass; the child is ours and not reaped yet.
    let (status, usage) = unsafe {
        let mut status = 0;
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut usage), pid, "waiting for the child");
        (status, usage)
    };
    let wall = started.elapsed();
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    let output_bytes = std::fs::metadata(out).map_or(0, |m| m.len());
    let _ = std::fs::remove_file(out);
    Run {
        wall,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        peak_rss_kib: usage.ru_maxrss,
        output_bytes,
        exit: if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 },
    }
}

/// The anchor, in a child process: every document of the file parsed into a `Value` on one thread.
fn bare_parse(path: &Path) {
    let text = std::fs::read_to_string(path).expect("the generated file");
    let mut documents = 0usize;
    for document in serde_norway::Deserializer::from_str(&text) {
        let value = serde_json::Value::deserialize(document).expect("the generated YAML parses");
        documents += usize::from(!value.is_null());
    }
    println!("{documents}");
}

fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, file] = args.as_slice() {
        if mode == "--bare-parse" {
            return bare_parse(Path::new(file));
        }
    }
    let Some(corpus) = corpus() else {
        println!("validate bench: ../shared/corpus not found (set OPERATOR_UPGRADE_CORPUS); skipping");
        return;
    };
    let objects: usize = std::env::var("OBJECTS").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_OBJECTS);
    let crds = corpus.join("crds/cloudnative-pg/v1.30.0");
    let old_crds = corpus.join("crds/cloudnative-pg/v1.29.0");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("out");
    let me = std::env::current_exe().expect("the bench's own path");
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    let each = std::env::var_os("EACH").is_some();
    for (set, object) in [("full", cluster as Generator), ("minimal", minimal_cluster)] {
        // KEEP=path writes the full objects there instead, for a look with `operator-upgrade validate`.
        let keep = std::env::var_os("KEEP").filter(|_| set == "full");
        let input = keep.map_or_else(|| dir.path().join(format!("{set}.yaml")), PathBuf::from);
        let started = Instant::now();
        let bytes = generate(&input, objects, object).expect("writing the generated objects");
        println!(
            "\n{set}: {objects} Cluster objects ({:.1} MB) generated in {:.2?}",
            bytes as f64 / 1e6,
            started.elapsed()
        );
        let anchor = measure(Command::new(&me).arg("--bare-parse").arg(&input), &out);
        println!(
            "anchor: bare parse (one thread, YAML to Value): {:.2} s = {:.0} objects/s, peak RSS {:.0} MiB",
            anchor.wall.as_secs_f64(),
            objects as f64 / anchor.wall.as_secs_f64(),
            mib(anchor.peak_rss_kib)
        );
        println!(
            "{:<10} {:<16} {:>7} {:>10} {:>6} {:>9} {:>10} {:>9}",
            "old CRDs", "output", "wall s", "objects/s", "cores", "peak MiB", "output MB", "vs parse"
        );
        let mut worst_rate = f64::INFINITY;
        let mut worst_rss = 0;
        for with_old in [false, true] {
            let mut formats =
                vec![("text", false), ("json", false), ("markdown", false), ("github", false), ("sarif", false)];
            if each && !with_old {
                formats.extend([("text", true), ("json", true)]);
            }
            for (format, one_by_one) in formats {
                let mut command = Command::new(BINARY);
                command.arg("validate").arg("--crds").arg(&crds).arg("--objects").arg(&input);
                command.args(["--output", format, "--fail-on", "never", "--color", "never"]);
                if with_old {
                    command.arg("--old-crds").arg(&old_crds);
                }
                if one_by_one {
                    command.arg("--each");
                }
                let run = measure(&mut command, &out);
                assert_eq!(run.exit, 0, "validate -o {format} exits 0 with --fail-on never");
                let rate = objects as f64 / run.wall.as_secs_f64();
                if !one_by_one {
                    worst_rate = worst_rate.min(rate);
                    worst_rss = worst_rss.max(run.peak_rss_kib);
                }
                println!(
                    "{:<10} {:<16} {:>7.2} {:>10.0} {:>6.2} {:>9.0} {:>10.3} {:>8.2}x",
                    if with_old { "v1.29.0" } else { "not given" },
                    if one_by_one { format!("{format} --each") } else { format.to_owned() },
                    run.wall.as_secs_f64(),
                    rate,
                    run.cpu.as_secs_f64() / run.wall.as_secs_f64(),
                    mib(run.peak_rss_kib),
                    run.output_bytes as f64 / 1e6,
                    run.wall.as_secs_f64() / anchor.wall.as_secs_f64()
                );
            }
        }
        println!(
            "{set}: slowest grouped run {worst_rate:.0} objects/s (target >= 100000 on 2 cores; {available} \
             available); largest peak RSS {:.0} MiB (target <= 256)",
            mib(worst_rss)
        );
        let _ = std::fs::remove_file(dir.path().join(format!("{set}.yaml")));
    }
}

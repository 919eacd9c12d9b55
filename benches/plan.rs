//! `cargo bench`: the performance targets of `plan`, measured on the corpus's performance set and printed.
//!
//! - Whole-process wall time of `plan` on provider-upjet-aws v2.5.0 -> v2.6.0 (~400 CRDs, 21 MB a side),
//!   against a plain single-threaded serde_norway parse of both sides (target: at most 0.6x of it).
//! - Peak memory of that process (target: under 512 MiB).
//! - The diff alone, on the loaded sides (target: a small fraction of the whole).
//! - One large (~1.3 MB) CRD pair, loaded and diffed in-process (target: under 100 ms).
//!
//! Needs `../shared/corpus` (or `OPERATOR_UPGRADE_CORPUS`); without it, says so and exits 0.

use operator_upgrade::manifest::{load_side, ManifestSet};
use operator_upgrade::plan::Plan;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn corpus() -> Option<PathBuf> {
    let path = std::env::var_os("OPERATOR_UPGRADE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    path.join("crds").is_dir().then_some(path)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The reference: every document of both sides parsed one after another on one thread.
fn plain_parse(sides: &[&Path]) -> Duration {
    let start = Instant::now();
    for side in sides {
        for file in files_under(side) {
            let text = std::fs::read_to_string(&file).expect("readable");
            for document in serde_norway::Deserializer::from_str(&text) {
                let value: serde_norway::Value = serde::Deserialize::deserialize(document).expect("valid YAML");
                std::hint::black_box(value);
            }
        }
    }
    start.elapsed()
}

fn children_peak_rss_kib() -> i64 {
    // SAFETY: getrusage only writes into the struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median wall time of the whole `plan` process on two sides.
fn time_plan_process(binary: &str, old: &Path, new: &Path) -> Duration {
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                let out = Command::new(binary)
                    .args(["plan", "--output", "json", "--fail-on", "never", "--from"])
                    .arg(old)
                    .arg("--to")
                    .arg(new)
                    .output()
                    .expect("runs");
                assert!(out.status.success(), "plan failed: {}", String::from_utf8_lossy(&out.stderr));
                start.elapsed()
            })
            .collect(),
    )
}

/// Median time of the diff alone on two loaded sides.
fn time_diff(old: &ManifestSet, new: &ManifestSet, runs: usize) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(Plan::build(old, new));
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let Some(corpus) = corpus() else {
        println!("bench plan: ../shared/corpus not found (set OPERATOR_UPGRADE_CORPUS); nothing measured");
        return;
    };
    let upjet = corpus.join("crds/provider-upjet-aws");
    let (old, new) = (upjet.join("v2.5.0"), upjet.join("v2.6.0"));
    let binary = env!("CARGO_BIN_EXE_operator-upgrade");

    let baseline = median((0..RUNS).map(|_| plain_parse(&[&old, &new])).collect());
    let whole = time_plan_process(binary, &old, &new);
    let peak_mib = children_peak_rss_kib() as f64 / 1024.0;

    let (old_set, new_set) = (load_side(&old).expect("loads"), load_side(&new).expect("loads"));
    let diff_only = time_diff(&old_set, &new_set, RUNS);
    let findings = Plan::build(&old_set, &new_set).findings.len();

    println!(
        "performance set: provider-upjet-aws v2.5.0 -> v2.6.0 ({} + {} CRDs)",
        old_set.crds.len(),
        new_set.crds.len()
    );
    println!("  plain single-threaded serde_norway parse of both sides: {:8.1} ms (reference)", ms(baseline));
    println!(
        "  whole `plan --output json` process:                   {:8.1} ms ({:.2}x the reference; target <= 0.60x)",
        ms(whole),
        whole.as_secs_f64() / baseline.as_secs_f64()
    );
    println!("  peak RSS of the plan process:                          {peak_mib:8.1} MiB (target < 512 MiB)");
    println!(
        "  diff of the loaded sides:                              {:8.1} ms ({:.1}% of the whole; {findings} findings)",
        ms(diff_only),
        100.0 * diff_only.as_secs_f64() / whole.as_secs_f64()
    );

    let large = "prometheus-operator/{}/monitoring.coreos.com_alertmanagerconfigs.yaml";
    let (large_old, large_new) = (
        corpus.join("crds").join(large.replace("{}", "v0.75.0")),
        corpus.join("crds").join(large.replace("{}", "v0.76.0")),
    );
    let size_mib = std::fs::metadata(&large_new).map(|m| m.len()).unwrap_or(0) as f64 / (1024.0 * 1024.0);
    let (small_old, small_new) = (load_side(&large_old).expect("loads"), load_side(&large_new).expect("loads"));
    let large_diff = time_diff(&small_old, &small_new, RUNS * 4);
    let large_whole = time_plan_process(binary, &large_old, &large_new);
    println!("single large CRD pair: alertmanagerconfigs v0.75.0 -> v0.76.0 ({size_mib:.2} MiB)");
    println!("  diff:                                                 {:8.1} ms (target < 100 ms)", ms(large_diff));
    println!("  whole `plan` process (load both, diff, render):       {:8.1} ms", ms(large_whole));
}

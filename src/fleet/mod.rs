//! `fleet -f FLEET.yaml`: one plan applied to wave after wave of clusters. Each cluster's run is the tool's
//! own `apply` as a child process (its lines prefixed with the cluster's name), pinned to the cluster's
//! identity from the fleet file and journaled in that cluster, so re-running `fleet` resumes from what the
//! journals say. A wave starts only when every cluster of the one before is promoted and has soaked; a
//! cluster that rolls back, pauses or needs attention stops the fleet: clusters already running finish their
//! own canary or roll back, nothing new starts. `fleet status` shows every cluster's run.

pub mod decide;
pub mod file;

pub use decide::{next_action, ClusterState, NextAction, StopReason};
pub use file::{fleet_file_json_schema, Fleet, FleetCluster, FleetFileError, LoadedFleet, Wave};

use crate::cluster::{cluster_identity, connect, ClusterArgs};
use crate::engine::journal::{Journal, RunState};
use crate::engine::{self, EngineError, Upgrade, EXIT_NEEDS_ATTENTION, EXIT_PAUSED, EXIT_ROLLED_BACK};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// How `fleet` runs each cluster's `apply`.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// The binary each cluster's `apply` runs as (this one).
    pub binary: PathBuf,
    /// Arguments every `apply` gets besides the plan and the cluster (`--fail-on`, `--log-format`, `--accept`, `--rehearsal`).
    pub apply_args: Vec<String>,
    /// Run a cluster whose run of this plan rolled back again, instead of stopping there.
    pub retry_rolled_back: bool,
}

/// A fleet with its plan loaded.
pub struct FleetRun {
    /// The fleet file.
    pub loaded: LoadedFleet,
    /// The plan every cluster gets.
    pub upgrade: Upgrade,
}

impl FleetRun {
    /// Reads the fleet file and its plan; a plan that pins a cluster is refused (the fleet holds the pins).
    pub fn load(path: &std::path::Path) -> Result<FleetRun, EngineError> {
        let loaded = Fleet::load(path).map_err(|e| EngineError::BadInput(e.to_string()))?;
        let upgrade = Upgrade::load(&loaded.plan_file)?;
        if let Some(uid) = upgrade.loaded.pinned_cluster_uid() {
            return Err(EngineError::BadInput(format!(
                "{}: the plan pins kube-system UID {uid}, but a fleet's plan pins nothing: each cluster's kubeSystemUid in {} is its pin",
                loaded.plan_file.display(),
                loaded.file.display()
            )));
        }
        Ok(FleetRun { loaded, upgrade })
    }

    fn waves(&self) -> &[Wave] {
        &self.loaded.fleet.spec.waves
    }
}

fn cluster_args(cluster: &FleetCluster) -> ClusterArgs {
    ClusterArgs { kubeconfig: cluster.kubeconfig.clone(), context: cluster.context.clone() }
}

/// A cluster's run of the plan, from its journal.
pub async fn observe(cluster: &FleetCluster, upgrade: &Upgrade) -> ClusterState {
    let client = match connect(&cluster_args(cluster)).await {
        Ok(client) => client,
        Err(error) => return ClusterState::Unreachable(error.to_string()),
    };
    match cluster_identity(&client).await {
        Ok(uid) if uid == cluster.kube_system_uid => {}
        Ok(uid) => {
            return ClusterState::NeedsAttention(format!(
                "its kube-system UID is {uid}, the fleet file pins {}",
                cluster.kube_system_uid
            ))
        }
        Err(error) => return ClusterState::Unreachable(error.to_string()),
    }
    match engine::journal_of(&client, upgrade).await {
        Ok(journal) => state_of(journal.as_ref(), &upgrade.hash),
        Err(error) => ClusterState::Unreachable(error.to_string()),
    }
}

/// What a cluster's journal (if any) says about its run of the plan with hash `plan_hash`.
pub fn state_of(journal: Option<&Journal>, plan_hash: &str) -> ClusterState {
    let Some(journal) = journal else { return ClusterState::NotStarted };
    if journal.plan_hash != plan_hash {
        return if journal.state.is_closed() {
            ClusterState::NotStarted
        } else {
            ClusterState::NeedsAttention(format!(
                "run {} of another version of the plan is {}",
                journal.run_id, journal.state
            ))
        };
    }
    match journal.state {
        RunState::Running => ClusterState::Running,
        RunState::Paused => ClusterState::Paused,
        RunState::Failed => ClusterState::NeedsAttention(format!("run {} failed", journal.run_id)),
        RunState::RolledBack => ClusterState::RolledBack,
        RunState::Promoted | RunState::Finalized => ClusterState::Promoted { at: last_step_end(journal) },
    }
}

/// When the run's last step ended (seconds since the epoch): the promotion, which the soak counts from.
fn last_step_end(journal: &Journal) -> i64 {
    let seconds = |t: &str| t.parse::<jiff::Timestamp>().ok().map(|t| t.as_second());
    let ends = journal.steps.iter().filter_map(|s| s.ended.as_deref().and_then(seconds)).max();
    ends.or_else(|| seconds(&journal.updated)).unwrap_or(0)
}

/// Every cluster's state, wave by wave. With `until_pending`, only up to the first wave not wholly promoted:
/// the waves after it are not needed to decide and are reported as not started (`fleet status` reads all).
async fn observe_waves(run: &FleetRun, until_pending: bool) -> Vec<Vec<ClusterState>> {
    let mut states = Vec::new();
    let mut pending = false;
    for wave in run.waves() {
        if pending && until_pending {
            states.push(vec![ClusterState::NotStarted; wave.clusters.len()]);
            continue;
        }
        let mut observed = Vec::new();
        for cluster in &wave.clusters {
            observed.push(observe(cluster, &run.upgrade).await);
        }
        pending = pending || observed.iter().any(|s| !matches!(s, ClusterState::Promoted { .. }));
        states.push(observed);
    }
    states
}

/// How a fleet run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetOutcome {
    /// The exit code (the README's table for `fleet`).
    pub exit_code: u8,
    /// What happened, in one line.
    pub message: String,
}

/// Runs the fleet to its end: every wave promoted, or the first cluster that stops it.
pub async fn run(fleet: &FleetRun, options: &FleetOptions) -> FleetOutcome {
    loop {
        let states = observe_waves(fleet, true).await;
        let now = jiff::Timestamp::now().as_second();
        match next_action(&states, fleet.loaded.fleet.spec.soak, now, options.retry_rolled_back) {
            NextAction::Done => {
                return FleetOutcome {
                    exit_code: 0,
                    message: format!(
                        "fleet {}: every cluster of every wave is promoted",
                        fleet.loaded.fleet.metadata.name
                    ),
                }
            }
            NextAction::Stop { reason, at: (wave, index) } => {
                let cluster = &fleet.waves()[wave].clusters[index];
                return stopped(fleet, wave, cluster, &reason, &states[wave][index]);
            }
            NextAction::Soak { wave, remaining } => {
                say(&format!(
                    "fleet: wave {} soaks for {remaining} more before wave {} starts",
                    fleet.waves()[wave - 1].name,
                    fleet.waves()[wave].name
                ));
                tokio::time::sleep(remaining.to_std()).await;
            }
            NextAction::Run { wave, clusters } => {
                let exits = run_wave(fleet, wave, &clusters, options).await;
                // A refusal or bad input changed nothing, so the journals cannot say it: stop on the exit code.
                if let Some((index, code)) = exits.iter().find(|(_, code)| matches!(*code, 2 | 3)) {
                    let cluster = &fleet.waves()[wave].clusters[*index];
                    return FleetOutcome {
                        exit_code: u8::try_from(*code).unwrap_or(EXIT_NEEDS_ATTENTION),
                        message: format!(
                            "fleet stopped at wave {}: cluster {} refused the run (its output above says why); the later waves are untouched",
                            fleet.waves()[wave].name,
                            cluster.name
                        ),
                    };
                }
                if let Some((index, code)) = exits.iter().find(|(_, code)| *code < 0) {
                    let cluster = &fleet.waves()[wave].clusters[*index];
                    return FleetOutcome {
                        exit_code: EXIT_NEEDS_ATTENTION,
                        message: format!(
                            "fleet stopped: the apply of cluster {} ended without an exit code ({code})",
                            cluster.name
                        ),
                    };
                }
            }
        }
    }
}

fn stopped(
    fleet: &FleetRun,
    wave: usize,
    cluster: &FleetCluster,
    reason: &StopReason,
    state: &ClusterState,
) -> FleetOutcome {
    let exit_code = match reason {
        StopReason::RolledBack => EXIT_ROLLED_BACK,
        StopReason::Paused => EXIT_PAUSED,
        StopReason::NeedsAttention => EXIT_NEEDS_ATTENTION,
    };
    let next = match reason {
        StopReason::RolledBack => {
            "fix the release and write a new plan, or `fleet --retry-rolled-back` to run it there again"
        }
        StopReason::Paused => "decide on that cluster (`apply --promote` or `rollback` there), then run `fleet` again",
        StopReason::NeedsAttention => {
            "look at that cluster (`operator-upgrade status --context ...`), then run `fleet` again"
        }
    };
    FleetOutcome {
        exit_code,
        message: format!(
            "fleet stopped at wave {}: cluster {} {}; the later waves are untouched. next: {next}",
            fleet.waves()[wave].name,
            cluster.name,
            state.label()
        ),
    }
}

fn say(line: &str) {
    println!("{line}");
}

/// Runs `apply` on the wave's `clusters`, at most `maxParallel` at once, in order; after the first that
/// does not end promoted, no more start. Returns each started cluster's exit code.
async fn run_wave(fleet: &FleetRun, wave: usize, clusters: &[usize], options: &FleetOptions) -> Vec<(usize, i32)> {
    let spec = &fleet.waves()[wave];
    say(&format!("fleet: wave {} ({} clusters, at most {} at once)", spec.name, clusters.len(), spec.max_parallel));
    let permits = Arc::new(tokio::sync::Semaphore::new(spec.max_parallel as usize));
    let stop = Arc::new(AtomicBool::new(false));
    let mut running = tokio::task::JoinSet::new();
    for &index in clusters {
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let cluster = spec.clusters[index].clone();
        let args = apply_args(fleet, &cluster, options);
        let (binary, stop) = (options.binary.clone(), stop.clone());
        running.spawn(async move {
            let code = run_apply(&binary, &args, &cluster.name).await;
            if code != 0 {
                stop.store(true, Ordering::SeqCst);
            }
            drop(permit);
            (index, code)
        });
    }
    let mut exits = Vec::new();
    while let Some(done) = running.join_next().await {
        exits.push(done.unwrap_or((usize::MAX, -1)));
    }
    exits.retain(|(index, _)| *index != usize::MAX);
    exits.sort();
    exits
}

/// The command line of one cluster's `apply`.
fn apply_args(fleet: &FleetRun, cluster: &FleetCluster, options: &FleetOptions) -> Vec<String> {
    let mut args = vec![
        "apply".to_owned(),
        "-f".to_owned(),
        fleet.loaded.plan_file.display().to_string(),
        "--yes".to_owned(),
        "--cluster-uid".to_owned(),
        cluster.kube_system_uid.clone(),
    ];
    if let Some(kubeconfig) = &cluster.kubeconfig {
        args.extend(["--kubeconfig".to_owned(), kubeconfig.display().to_string()]);
    }
    if let Some(context) = &cluster.context {
        args.extend(["--context".to_owned(), context.clone()]);
    }
    args.extend(options.apply_args.iter().cloned());
    args
}

/// Runs the child `apply`, each line it prints prefixed with the cluster's name; its exit code (-1 when it
/// could not run or was killed).
async fn run_apply(binary: &std::path::Path, args: &[String], name: &str) -> i32 {
    let child = tokio::process::Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            say(&format!("[{name}] cannot run {}: {error}", binary.display()));
            return -1;
        }
    };
    let out = child.stdout.take().map(|o| tokio::spawn(prefix_lines(o, name.to_owned())));
    let err = child.stderr.take().map(|e| tokio::spawn(prefix_lines(e, name.to_owned())));
    let status = child.wait().await;
    for task in [out, err].into_iter().flatten() {
        let _ = task.await;
    }
    status.ok().and_then(|s| s.code()).unwrap_or(-1)
}

async fn prefix_lines(stream: impl AsyncRead + Unpin, name: String) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        say(&format!("[{name}] {line}"));
    }
}

/// `fleet status`: every cluster's state, wave by wave, and what `fleet` would do next.
pub async fn status(fleet: &FleetRun, retry_rolled_back: bool) -> String {
    let states = observe_waves(fleet, false).await;
    let mut out = format!(
        "fleet {} (plan {}, hash {}):\n",
        fleet.loaded.fleet.metadata.name,
        fleet.upgrade.name(),
        &fleet.upgrade.hash[..12]
    );
    for (wave, observed) in fleet.waves().iter().zip(&states) {
        out.push_str(&format!("  wave {}:\n", wave.name));
        for (cluster, state) in wave.clusters.iter().zip(observed) {
            out.push_str(&format!("    {:<20} {:<38} {}\n", cluster.name, cluster.kube_system_uid, state.label()));
        }
    }
    let now = jiff::Timestamp::now().as_second();
    let next = match next_action(&states, fleet.loaded.fleet.spec.soak, now, retry_rolled_back) {
        NextAction::Done => "every wave is promoted".to_owned(),
        NextAction::Run { wave, .. } => format!("`fleet` runs wave {}", fleet.waves()[wave].name),
        NextAction::Soak { wave, remaining } => {
            format!("wave {} starts after {remaining} more soak", fleet.waves()[wave].name)
        }
        NextAction::Stop { reason, at: (wave, index) } => format!(
            "stopped: cluster {} of wave {} {reason}",
            fleet.waves()[wave].clusters[index].name,
            fleet.waves()[wave].name
        ),
    };
    out.push_str(&format!("  next: {next}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::journal::{StepRecord, StepState};
    use crate::plan::steps::StepKind;

    fn journal(hash: &str, state: RunState, ended: &[&str]) -> Journal {
        let mut journal: Journal = serde_json::from_value(serde_json::json!({
            "runId": "r", "plan": "p", "planHash": hash, "clusterUid": "u", "toolVersion": "0", "operator": "ns/op",
            "started": "2026-12-01T10:00:00Z", "updated": "2026-12-01T11:00:00Z", "state": state, "steps": []}))
        .unwrap();
        journal.steps = ended
            .iter()
            .map(|e| StepRecord {
                kind: StepKind::Promotion,
                title: "t".into(),
                state: StepState::Done,
                started: None,
                ended: Some((*e).to_owned()),
                message: None,
                output: None,
            })
            .collect();
        journal
    }

    #[test]
    fn a_journal_of_the_plan_says_where_its_cluster_is() {
        assert_eq!(state_of(None, "h"), ClusterState::NotStarted);
        assert_eq!(state_of(Some(&journal("h", RunState::Running, &[])), "h"), ClusterState::Running);
        assert_eq!(state_of(Some(&journal("h", RunState::RolledBack, &[])), "h"), ClusterState::RolledBack);
        let promoted = journal("h", RunState::Promoted, &["2026-12-01T10:00:00Z", "2026-12-01T10:05:00Z"]);
        let at: jiff::Timestamp = "2026-12-01T10:05:00Z".parse().unwrap();
        assert_eq!(state_of(Some(&promoted), "h"), ClusterState::Promoted { at: at.as_second() });
    }

    #[test]
    fn a_closed_run_of_another_plan_is_not_started_and_an_open_one_needs_attention() {
        assert_eq!(state_of(Some(&journal("old", RunState::Finalized, &[])), "h"), ClusterState::NotStarted);
        let open = state_of(Some(&journal("old", RunState::Paused, &[])), "h");
        assert!(matches!(open, ClusterState::NeedsAttention(why) if why.contains("another version")));
    }
}

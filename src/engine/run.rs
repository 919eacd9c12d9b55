//! A run in progress: the journal as last written, saved after every change, and the Lease held (and renewed
//! in the background as the run's heartbeat) for as long as the tool runs.

use super::journal::{Journal, StepState};
use super::report::Reporter;
use super::{now, EngineError, Outcome, Refusal};
use crate::cluster::journal_store::{decide_lease, JournalStore, LeaseDecision, LEASE_SECONDS};
use crate::cluster::{ClusterError, Objects};
use tokio::task::JoinHandle;

/// The journal of a run, read from the cluster, with what it takes to save it again.
pub struct Run {
    /// Reads and writes cluster objects.
    pub objects: Objects,
    /// Where the journal is kept.
    pub store: JournalStore,
    /// The journal as last saved (or about to be).
    pub journal: Journal,
    /// The resourceVersion the journal was last saved at; None before the first save.
    resource_version: Option<String>,
    /// Prints progress and records Events.
    pub reporter: Reporter,
    heartbeat: Option<JoinHandle<()>>,
}

/// Reads the journal of a plan, if it exists.
pub async fn load_journal(store: &JournalStore) -> Result<Option<(Journal, String)>, EngineError> {
    let Some(stored) = store.load().await? else { return Ok(None) };
    let journal: Journal = serde_json::from_slice(&stored.json).map_err(|e| EngineError::Journal {
        name: format!("{}/{}", store.namespace(), store.config_map_name()),
        message: e.to_string(),
    })?;
    Ok(Some((journal, stored.resource_version)))
}

fn host() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned())
}

/// The holder identity of this process in Leases: `run@host/pid`.
pub fn holder_identity(run_id: &str) -> String {
    format!("{run_id}@{}/{}", host(), std::process::id())
}

/// Whether a Lease holder is a process of this machine that no longer exists (killed, crashed).
fn holder_is_dead_here(holder: &str) -> bool {
    let Some((_, place)) = holder.split_once('@') else { return false };
    let Some((holder_host, pid)) = place.rsplit_once('/') else { return false };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    holder_host == host() && pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Takes the run's Lease, or says which live run holds it. A replace that races another write (409) is
/// decided again from a fresh observation.
pub async fn acquire_lease(store: &JournalStore, holder: &str) -> Result<Result<(), Outcome>, EngineError> {
    let mut attempts = 0;
    loop {
        let observed = store.lease().await?;
        let gone = observed.as_ref().is_some_and(|o| holder_is_dead_here(&o.holder));
        let written = match decide_lease(observed.as_ref(), holder, jiff::Timestamp::now(), gone) {
            LeaseDecision::Refuse { holder: other } => {
                return Ok(Err(Outcome::refused(Refusal::LeaseHeld {
                    lease: format!("{}/{}", store.namespace(), store.lease_name()),
                    holder: other,
                })))
            }
            LeaseDecision::Take => store.hold_lease(holder, None).await,
            LeaseDecision::TakeOver { .. } => store.hold_lease(holder, observed.as_ref()).await,
        };
        match written {
            Ok(()) => return Ok(Ok(())),
            Err(error) if error.status_code() == Some(409) && attempts < 5 => attempts += 1,
            Err(error) => return Err(error.into()),
        }
    }
}

impl Run {
    /// A run whose journal is `journal` (saved at `resource_version`, or not yet saved), holding the Lease.
    pub fn new(
        objects: Objects,
        store: JournalStore,
        journal: Journal,
        resource_version: Option<String>,
        reporter: Reporter,
    ) -> Run {
        Run { objects, store, journal, resource_version, reporter, heartbeat: None }
    }

    /// Renews the Lease in the background until the run ends.
    pub fn start_heartbeat(&mut self, holder: String) {
        let store = self.store.clone();
        self.heartbeat = Some(tokio::spawn(async move {
            let period = std::time::Duration::from_secs((LEASE_SECONDS / 3).max(1) as u64);
            loop {
                tokio::time::sleep(period).await;
                let observed = match store.lease().await {
                    Ok(observed) => observed,
                    Err(error) => {
                        tracing::warn!(%error, "cannot read the Lease to renew it");
                        continue;
                    }
                };
                if let Err(error) = store.hold_lease(&holder, observed.as_ref()).await {
                    tracing::warn!(%error, "cannot renew the Lease");
                }
            }
        }));
    }

    /// Saves the journal (creating it the first time); a conflict means another writer changed it.
    pub async fn save(&mut self) -> Result<(), ClusterError> {
        self.journal.updated = now();
        let json = serde_json::to_vec(&self.journal)
            .map_err(|e| ClusterError::Unexpected(format!("cannot encode the journal: {e}")))?;
        let version = self.store.save(&json, self.resource_version.as_deref()).await?;
        self.resource_version = Some(version);
        Ok(())
    }

    /// Marks a step started (journaled before the step's first write) and reports it.
    pub async fn start_step(&mut self, index: usize) -> Result<(), ClusterError> {
        self.journal.start_step(index, &now());
        self.save().await?;
        let step = self.journal.step(index).clone();
        let total = self.journal.steps.len();
        self.reporter.step((index, total), step.kind, "started", &step.title, false).await;
        Ok(())
    }

    /// Marks a step ended with `message` (journaled) and reports it.
    pub async fn end_step(&mut self, index: usize, state: StepState, message: &str) -> Result<(), ClusterError> {
        self.journal.end_step(index, state, message, &now());
        self.save().await?;
        let kind = self.journal.step(index).kind;
        let total = self.journal.steps.len();
        self.reporter.step((index, total), kind, state.as_str(), message, state == StepState::Failed).await;
        Ok(())
    }

    /// Stops the heartbeat and releases the Lease: the run is no longer being executed by anyone.
    pub async fn release(&mut self) {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
        if let Err(error) = self.store.release_lease().await {
            tracing::warn!(%error, "cannot release the Lease; it expires by itself");
        }
    }
}

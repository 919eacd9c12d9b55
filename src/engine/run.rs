//! A run in progress: the journal as last written, saved after every change, and the operator's Lease held
//! (and renewed in the background as the run's heartbeat) for as long as the tool runs.

use super::journal::{Journal, SecretValues, StepState};
use super::report::Reporter;
use super::{now, EngineError, Outcome, Refusal};
use crate::cluster::journal_store::JournalStore;
use crate::cluster::operator_lock::{decide_lease, LeaseDecision, OperatorLock, LEASE_SECONDS};
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
    /// The operator's Lease, held while the run executes (None for a dry run, which writes nothing).
    lock: Option<HeldLock>,
    /// The recorded Secrets' values as this process last wrote them to the run's Secret (None: not yet).
    secret_values_saved: Option<SecretValues>,
    /// How a run through Helm reaches helm (its rollback after promotion runs `helm rollback`).
    pub helm: super::helm_run::HelmAccess,
}

/// The operator's Lease while this process holds it, renewed in the background until released.
pub struct HeldLock {
    lock: OperatorLock,
    heartbeat: JoinHandle<()>,
}

impl HeldLock {
    /// Stops the heartbeat and removes the Lease: nobody executes a run on the operator any more.
    pub async fn release(self) {
        self.heartbeat.abort();
        if let Err(error) = self.lock.release().await {
            tracing::warn!(%error, "cannot release the Lease; it expires by itself");
        }
    }
}

/// Reads the journal of a plan, if it exists, with the recorded Secrets' values from the run's Secret.
pub async fn load_journal(store: &JournalStore) -> Result<Option<(Journal, String)>, EngineError> {
    let Some(stored) = store.load().await? else { return Ok(None) };
    let journal: Journal = serde_json::from_slice(&stored.json).map_err(|e| EngineError::Journal {
        name: format!("{}/{}", store.namespace(), store.config_map_name()),
        message: e.to_string(),
    })?;
    if !journal.names_secret_values() {
        return Ok(Some((journal, stored.resource_version)));
    }
    let values = store.load_secret_values().await?.map(|entries| {
        // An entry that is not JSON counts as missing: its Secret is then not restored, and says so.
        entries.into_iter().filter_map(|(k, v)| Some((k, serde_json::from_slice(&v).ok()?))).collect()
    });
    Ok(Some((journal.with_secret_values(values.as_ref()), stored.resource_version)))
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

/// Takes the operator's Lease for the run `holder` of `plan` and renews it in the background, or says which
/// live run holds it. A write that races another (409) is decided again from a fresh observation.
pub async fn acquire_lease(
    lock: &OperatorLock,
    holder: &str,
    plan: &str,
) -> Result<Result<HeldLock, Outcome>, EngineError> {
    let mut attempts = 0;
    loop {
        let observed = lock.observe().await?;
        let gone = observed.as_ref().is_some_and(|o| holder_is_dead_here(&o.holder));
        let written = match decide_lease(observed.as_ref(), holder, jiff::Timestamp::now(), gone) {
            LeaseDecision::Refuse { holder: other } => {
                return Ok(Err(Outcome::refused(Refusal::LeaseHeld {
                    lease: format!("{}/{}", lock.namespace(), lock.name()),
                    holder: match observed.and_then(|o| o.plan) {
                        Some(plan) => format!("{other} (plan {plan})"),
                        None => other,
                    },
                })))
            }
            LeaseDecision::Take => lock.hold(holder, plan, None).await,
            LeaseDecision::TakeOver { .. } => lock.hold(holder, plan, observed.as_ref()).await,
        };
        match written {
            Ok(()) => return Ok(Ok(start_heartbeat(lock.clone(), holder.to_owned(), plan.to_owned()))),
            Err(error) if error.status_code() == Some(409) && attempts < 5 => attempts += 1,
            Err(error) => return Err(error.into()),
        }
    }
}

/// Renews the Lease every third of its duration while `holder` still holds it; a Lease someone else took
/// (this process stalled past its duration) is not taken back.
fn start_heartbeat(lock: OperatorLock, holder: String, plan: String) -> HeldLock {
    let renewing = lock.clone();
    let heartbeat = tokio::spawn(async move {
        let period = std::time::Duration::from_secs((LEASE_SECONDS / 3).max(1) as u64);
        loop {
            tokio::time::sleep(period).await;
            let observed = match renewing.observe().await {
                Ok(observed) => observed,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the Lease to renew it");
                    continue;
                }
            };
            if let Some(other) = observed.as_ref().filter(|o| o.holder != holder) {
                tracing::error!(holder = %other.holder, "another run took over the Lease; it is no longer renewed");
                return;
            }
            if let Err(error) = renewing.hold(&holder, &plan, observed.as_ref()).await {
                tracing::warn!(%error, "cannot renew the Lease");
            }
        }
    });
    HeldLock { lock, heartbeat }
}

impl Run {
    /// A run whose journal is `journal` (saved at `resource_version`, or not yet saved), holding the
    /// operator's Lease.
    pub fn new(
        objects: Objects,
        store: JournalStore,
        journal: Journal,
        resource_version: Option<String>,
        reporter: Reporter,
        lock: HeldLock,
    ) -> Run {
        Run {
            objects,
            store,
            journal,
            resource_version,
            reporter,
            lock: Some(lock),
            secret_values_saved: None,
            helm: Default::default(),
        }
    }

    /// A dry run: every write is sent with `dryRun=All`, nothing is journaled, no Lease is held.
    pub fn dry(objects: Objects, store: JournalStore, journal: Journal, reporter: Reporter) -> Run {
        Run {
            objects,
            store,
            journal,
            resource_version: None,
            reporter,
            lock: None,
            secret_values_saved: None,
            helm: Default::default(),
        }
    }

    /// Saves the journal (creating it the first time); a conflict means another writer changed it. The
    /// recorded Secrets' values go to the run's own Secret, written before the journal that names it and
    /// removed once the run is closed.
    pub async fn save(&mut self) -> Result<(), ClusterError> {
        self.journal.updated = now();
        let (stored, values) = self.journal.without_secret_values(&self.store.secret_values_name());
        let closed = self.journal.state.is_closed();
        if !closed {
            self.save_secret_values(values).await?;
        }
        let json = serde_json::to_vec(&stored)
            .map_err(|e| ClusterError::Unexpected(format!("cannot encode the journal: {e}")))?;
        let version = self.store.save(&json, self.resource_version.as_deref(), &self.journal.run_id, closed).await?;
        self.resource_version = Some(version);
        if closed && self.secret_values_saved.as_ref().is_none_or(|saved| !saved.is_empty()) {
            self.store.remove_secret_values().await?;
            self.secret_values_saved = Some(SecretValues::new());
        }
        Ok(())
    }

    /// Writes the run's Secret when the values differ from what this process wrote last; with none to keep,
    /// removes a Secret an earlier run of the plan left (killed between closing its journal and removing it).
    async fn save_secret_values(&mut self, values: SecretValues) -> Result<(), ClusterError> {
        if self.secret_values_saved.as_ref() == Some(&values) {
            return Ok(());
        }
        if values.is_empty() {
            self.store.remove_secret_values().await?;
        } else {
            let encoded = values.iter().map(|(k, v)| (k.clone(), v.to_string().into_bytes())).collect();
            self.store.save_secret_values(&self.journal.run_id, &encoded).await?;
        }
        self.secret_values_saved = Some(values);
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
    pub async fn release(self) {
        if let Some(lock) = self.lock {
            lock.release().await;
        }
    }
}

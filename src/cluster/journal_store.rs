//! Where a run's journal lives: a ConfigMap in the operator's namespace (gzip-compressed JSON, written with
//! the resourceVersion it was read at, so two writers cannot silently overwrite each other), found by its
//! label from any machine, and the Lease that guards it and serves as the run's heartbeat.

use super::retry::{is_write_race, with_race_retries, with_retries};
use super::{ClusterError, FIELD_MANAGER};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// The label every journal ConfigMap carries (its value is `true`).
pub const JOURNAL_LABEL: &str = "operator-upgrade.dev/journal";
/// The annotation naming the plan a journal belongs to.
pub const PLAN_ANNOTATION: &str = "operator-upgrade.dev/plan";
const DATA_KEY: &str = "journal.json.gz";
/// The API server refuses objects over 1.5 MiB (etcd's request limit); stay well under it.
const MAX_STORED_BYTES: usize = 1_000_000;

/// The journal of one plan, in one namespace.
#[derive(Clone)]
pub struct JournalStore {
    client: kube::Client,
    namespace: String,
    plan: String,
}

/// A journal as read: its JSON and the resourceVersion to write the next version against.
#[derive(Debug, Clone)]
pub struct StoredJournal {
    /// The journal's JSON.
    pub json: Vec<u8>,
    /// The ConfigMap's resourceVersion.
    pub resource_version: String,
}

/// A journal found by its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundJournal {
    /// The namespace it is in (the operator's).
    pub namespace: String,
    /// The plan's name.
    pub plan: String,
}

/// Kubernetes names are at most 63 characters in places (Lease holders, labels); keep every derived name
/// short enough everywhere.
fn short_name(prefix: &str, plan: &str) -> String {
    let mut name = format!("{prefix}{plan}");
    name.truncate(63);
    name.trim_end_matches(['-', '.']).to_owned()
}

impl JournalStore {
    /// The journal of `plan` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, plan: &str) -> JournalStore {
        JournalStore { client, namespace: namespace.to_owned(), plan: plan.to_owned() }
    }

    /// The namespace the journal is in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The ConfigMap's name.
    pub fn config_map_name(&self) -> String {
        short_name("operator-upgrade-journal-", &self.plan)
    }

    /// The Lease's name.
    pub fn lease_name(&self) -> String {
        short_name("operator-upgrade-lock-", &self.plan)
    }

    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The stored journal, or None when this plan never ran here.
    pub async fn load(&self) -> Result<Option<StoredJournal>, ClusterError> {
        let name = self.config_map_name();
        let what = || format!("cannot read the journal ConfigMap {}/{name}", self.namespace);
        let api = self.config_maps();
        let Some(map) = with_retries(|| api.get_opt(&name)).await.map_err(|e| ClusterError::api(what(), e))? else {
            return Ok(None);
        };
        let resource_version = map.metadata.resource_version.clone().unwrap_or_default();
        let compressed =
            map.binary_data.as_ref().and_then(|d| d.get(DATA_KEY)).ok_or_else(|| {
                ClusterError::Unexpected(format!("{}: the journal ConfigMap has no {DATA_KEY}", what()))
            })?;
        let mut json = Vec::new();
        GzDecoder::new(compressed.0.as_slice())
            .read_to_end(&mut json)
            .map_err(|e| ClusterError::Unexpected(format!("{}: the journal is not gzip: {e}", what())))?;
        Ok(Some(StoredJournal { json, resource_version }))
    }

    /// Writes the journal: creates it when `resource_version` is None, otherwise replaces the version read
    /// at that resourceVersion (a 409 means another writer got there first, and is an error). Returns the
    /// new resourceVersion.
    pub async fn save(&self, json: &[u8], resource_version: Option<&str>) -> Result<String, ClusterError> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(json).map_err(|e| ClusterError::Unexpected(format!("cannot compress the journal: {e}")))?;
        let compressed =
            encoder.finish().map_err(|e| ClusterError::Unexpected(format!("cannot compress the journal: {e}")))?;
        if compressed.len() > MAX_STORED_BYTES {
            return Err(ClusterError::Unexpected(format!(
                "the journal is {} bytes compressed, over the {MAX_STORED_BYTES} bytes a ConfigMap can hold",
                compressed.len()
            )));
        }
        let map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.config_map_name()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([(JOURNAL_LABEL.to_owned(), "true".to_owned())])),
                annotations: Some(BTreeMap::from([(PLAN_ANNOTATION.to_owned(), self.plan.clone())])),
                resource_version: resource_version.map(str::to_owned),
                ..ObjectMeta::default()
            },
            binary_data: Some(BTreeMap::from([(DATA_KEY.to_owned(), ByteString(compressed))])),
            ..ConfigMap::default()
        };
        let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
        let name = self.config_map_name();
        let api = self.config_maps();
        let written = match resource_version {
            None => with_race_retries(|| api.create(&params, &map)).await,
            Some(expected) => {
                // A 409 is a race only if the stored journal is still the version this run wrote last;
                // any other version means another writer, which must stop this one.
                let mut result = with_retries(|| api.replace(&name, &params, &map)).await;
                for _ in 0..5 {
                    match &result {
                        Err(e) if is_write_race(e) => {
                            let current = with_retries(|| api.get_opt(&name)).await.ok().flatten();
                            if current.and_then(|c| c.metadata.resource_version).as_deref() != Some(expected) {
                                break;
                            }
                            result = with_retries(|| api.replace(&name, &params, &map)).await;
                        }
                        _ => break,
                    }
                }
                result
            }
        }
        .map_err(|e| ClusterError::api(format!("cannot write the journal ConfigMap {}/{name}", self.namespace), e))?;
        super::fault_point::wrote();
        Ok(written.metadata.resource_version.unwrap_or_default())
    }

    /// Every journal in the cluster (or in one namespace), by their label.
    pub async fn find(client: &kube::Client, namespace: Option<&str>) -> Result<Vec<FoundJournal>, ClusterError> {
        let api: Api<ConfigMap> = match namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        };
        let params = ListParams::default().labels(&format!("{JOURNAL_LABEL}=true"));
        let list = with_retries(|| api.list_metadata(&params)).await.map_err(|e| {
            ClusterError::api("cannot list the journals (ConfigMaps labelled operator-upgrade.dev/journal)", e)
        })?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|m| {
                let plan = m.metadata.annotations.as_ref()?.get(PLAN_ANNOTATION)?.clone();
                Some(FoundJournal { namespace: m.metadata.namespace?, plan })
            })
            .collect())
    }

    /// The Lease as it is now.
    pub async fn lease(&self) -> Result<Option<LeaseObservation>, ClusterError> {
        let name = self.lease_name();
        let api = self.leases();
        let lease = with_retries(|| api.get_opt(&name))
            .await
            .map_err(|e| ClusterError::api(format!("cannot read the Lease {}/{name}", self.namespace), e))?;
        Ok(lease.map(|lease| {
            let spec = lease.spec.unwrap_or_default();
            LeaseObservation {
                holder: spec.holder_identity.unwrap_or_default(),
                renewed: spec.renew_time.map(|t| t.0),
                duration_seconds: spec.lease_duration_seconds.unwrap_or(0),
                resource_version: lease.metadata.resource_version.unwrap_or_default(),
            }
        }))
    }

    /// Writes the Lease as held by `holder`, renewed now: creates it, or replaces the version observed.
    pub async fn hold_lease(&self, holder: &str, observed: Option<&LeaseObservation>) -> Result<(), ClusterError> {
        let name = self.lease_name();
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                resource_version: observed.map(|o| o.resource_version.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.to_owned()),
                lease_duration_seconds: Some(LEASE_SECONDS),
                renew_time: Some(MicroTime(jiff::Timestamp::now())),
                ..LeaseSpec::default()
            }),
        };
        let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
        let api = self.leases();
        match observed {
            None => with_race_retries(|| api.create(&params, &lease)).await,
            Some(_) => with_retries(|| api.replace(&name, &params, &lease)).await,
        }
        .map(|_| ())
        .map_err(|e| ClusterError::api(format!("cannot hold the Lease {}/{name}", self.namespace), e))
    }

    /// Removes the Lease (the run ended or paused; nobody holds the journal).
    pub async fn release_lease(&self) -> Result<(), ClusterError> {
        let name = self.lease_name();
        let api = self.leases();
        let params = DeleteParams::default();
        match with_race_retries(|| api.delete(&name, &params)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(ClusterError::api(format!("cannot release the Lease {}/{name}", self.namespace), e)),
        }
    }
}

/// How long a Lease lasts without renewal; the holder renews it every third of that.
pub const LEASE_SECONDS: i32 = 15;

/// The journal's Lease as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseObservation {
    /// Who holds it (a run's holder identity).
    pub holder: String,
    /// When it was last renewed.
    pub renewed: Option<jiff::Timestamp>,
    /// How long it lasts without renewal.
    pub duration_seconds: i32,
    /// Its resourceVersion, to replace exactly this version.
    pub resource_version: String,
}

impl LeaseObservation {
    /// Whether its holder stopped renewing it (dead or gone) at `now`.
    pub fn is_stale(&self, now: jiff::Timestamp) -> bool {
        match self.renewed {
            None => true,
            Some(renewed) => {
                let age = now.duration_since(renewed);
                age > jiff::SignedDuration::from_secs(i64::from(self.duration_seconds.max(1)))
            }
        }
    }
}

/// What a run does about the Lease it finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseDecision {
    /// Nobody holds it: create it.
    Take,
    /// A run that stopped renewing holds it (crashed, killed): take it over.
    TakeOver {
        /// The previous holder.
        from: String,
    },
    /// Another live run holds it: refuse.
    Refuse {
        /// The holder.
        holder: String,
    },
}

/// Decides from the observed Lease whether `me` may take it; `holder_gone` says whether its holder is known
/// to be dead (a process of this machine that no longer exists), so a killed run is resumed at once.
pub fn decide_lease(
    observed: Option<&LeaseObservation>,
    me: &str,
    now: jiff::Timestamp,
    holder_gone: bool,
) -> LeaseDecision {
    match observed {
        None => LeaseDecision::Take,
        Some(lease) if lease.holder == me || holder_gone || lease.is_stale(now) => {
            LeaseDecision::TakeOver { from: lease.holder.clone() }
        }
        Some(lease) => LeaseDecision::Refuse { holder: lease.holder.clone() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed_seconds_ago: i64) -> LeaseObservation {
        LeaseObservation {
            holder: holder.into(),
            renewed: Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(renewed_seconds_ago)),
            duration_seconds: 15,
            resource_version: "1".into(),
        }
    }

    #[test]
    fn a_live_holder_is_refused_a_stale_one_taken_over() {
        let now = jiff::Timestamp::now();
        assert_eq!(decide_lease(None, "me", now, false), LeaseDecision::Take);
        assert_eq!(
            decide_lease(Some(&lease("other", 2)), "me", now, false),
            LeaseDecision::Refuse { holder: "other".into() }
        );
        assert_eq!(
            decide_lease(Some(&lease("other", 60)), "me", now, false),
            LeaseDecision::TakeOver { from: "other".into() }
        );
        assert_eq!(
            decide_lease(Some(&lease("me", 2)), "me", now, false),
            LeaseDecision::TakeOver { from: "me".into() }
        );
        assert_eq!(
            decide_lease(Some(&lease("other", 2)), "me", now, true),
            LeaseDecision::TakeOver { from: "other".into() }
        );
    }

    #[test]
    fn derived_names_fit_in_63_characters() {
        let name = short_name("operator-upgrade-journal-", &"x".repeat(80));
        assert_eq!(name.len(), 63);
    }
}

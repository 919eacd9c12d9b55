//! Where a run's journal lives: a ConfigMap in the operator's namespace (gzip-compressed JSON, written with
//! the resourceVersion it was read at, so two writers cannot silently overwrite each other), found by its
//! label from any machine. The Lease that guards it is the operator's (`operator_lock`).

use super::retry::{delete_if_present, is_write_race, with_race_retries, with_retries};
use super::{ClusterError, FIELD_MANAGER};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// The label every journal ConfigMap carries (its value is `true`).
pub const JOURNAL_LABEL: &str = "operator-upgrade.dev/journal";
/// The label of the Secret that keeps the values of the Secrets a run recorded (its value is `true`).
pub const SECRET_VALUES_LABEL: &str = "operator-upgrade.dev/journal-secret-values";
/// The label naming the run an object belongs to.
pub const RUN_LABEL: &str = "operator-upgrade.dev/run";
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
pub(crate) fn short_name(prefix: &str, plan: &str) -> String {
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

    /// The name of the Secret that keeps the values of the Secrets the run recorded.
    pub fn secret_values_name(&self) -> String {
        short_name("operator-upgrade-secrets-", &self.plan)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The values kept in the run's Secret (each entry a JSON document), or None when it does not exist.
    pub async fn load_secret_values(&self) -> Result<Option<BTreeMap<String, Vec<u8>>>, ClusterError> {
        let name = self.secret_values_name();
        let api = self.secrets();
        let secret = with_retries(|| api.get_opt(&name))
            .await
            .map_err(|e| ClusterError::api(format!("cannot read the Secret {}/{name}", self.namespace), e))?;
        Ok(secret.map(|s| s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()))
    }

    /// Writes the run's Secret with exactly `values` (type Opaque, labelled with the run), creating it or
    /// replacing whatever version is there.
    pub async fn save_secret_values(
        &self,
        run_id: &str,
        values: &BTreeMap<String, Vec<u8>>,
    ) -> Result<(), ClusterError> {
        let name = self.secret_values_name();
        let what = || format!("cannot write the Secret {}/{name}", self.namespace);
        let mut secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([
                    (SECRET_VALUES_LABEL.to_owned(), "true".to_owned()),
                    (RUN_LABEL.to_owned(), run_id.to_owned()),
                ])),
                annotations: Some(BTreeMap::from([(PLAN_ANNOTATION.to_owned(), self.plan.clone())])),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".to_owned()),
            data: Some(values.iter().map(|(k, v)| (k.clone(), ByteString(v.clone()))).collect()),
            ..Secret::default()
        };
        let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
        let api = self.secrets();
        let existing = with_retries(|| api.get_metadata_opt(&name)).await.map_err(|e| ClusterError::api(what(), e))?;
        let written = match existing {
            None => with_race_retries(|| api.create(&params, &secret)).await,
            Some(existing) => {
                secret.metadata.resource_version = existing.metadata.resource_version;
                with_retries(|| api.replace(&name, &params, &secret)).await
            }
        };
        written.map_err(|e| ClusterError::api(what(), e))?;
        super::fault_point::wrote();
        Ok(())
    }

    /// Removes the run's Secret (the run is closed: nothing will be restored from it).
    pub async fn remove_secret_values(&self) -> Result<(), ClusterError> {
        let name = self.secret_values_name();
        let api = self.secrets();
        delete_if_present(&api, &name, &DeleteParams::default())
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::api(format!("cannot remove the Secret {}/{name}", self.namespace), e))
    }

    fn config_maps(&self) -> Api<ConfigMap> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_fit_in_63_characters() {
        let name = short_name("operator-upgrade-journal-", &"x".repeat(80));
        assert_eq!(name.len(), 63);
    }
}

//! Where a run's journal lives: a ConfigMap in the operator's namespace (gzip-compressed JSON, written with
//! the resourceVersion it was read at, so two writers cannot silently overwrite each other), found by its
//! label from any machine; one too large for a ConfigMap is cut into chunk ConfigMaps (`journal_chunks`).
//! The Lease that guards it is the operator's (`operator_lock`).

use super::journal_chunks::{compress, decompress, layout, merge, stale_chunks, ChunkIndex, Layout, MAX_CHUNK_BYTES};
use super::retry::{delete_if_present, is_write_race, with_race_retries, with_retries};
use super::{ClusterError, FIELD_MANAGER};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The label every journal ConfigMap carries (its value is `true`).
pub const JOURNAL_LABEL: &str = "operator-upgrade.dev/journal";
/// The label of the Secret that keeps the values of the Secrets a run recorded (its value is `true`).
pub const SECRET_VALUES_LABEL: &str = "operator-upgrade.dev/journal-secret-values";
/// The label naming the run an object belongs to.
pub const RUN_LABEL: &str = "operator-upgrade.dev/run";
/// The annotation naming the plan a journal belongs to.
pub const PLAN_ANNOTATION: &str = "operator-upgrade.dev/plan";
/// The label of a journal's chunk ConfigMaps, naming the journal's own ConfigMap (the head).
pub const CHUNK_OF_LABEL: &str = "operator-upgrade.dev/journal-chunk-of";
const DATA_KEY: &str = "journal.json.gz";
/// The key of a chunked journal's head that names its chunks (a [`ChunkIndex`] as JSON).
const CHUNKS_KEY: &str = "journal.chunks";

/// A chunk the head named was gone when read.
struct ChunkGone(String);

/// The bytes under `key` of a ConfigMap's binaryData.
fn binary<'a>(map: &'a ConfigMap, key: &str) -> Option<&'a [u8]> {
    map.binary_data.as_ref()?.get(key).map(|b| b.0.as_slice())
}

/// The journal of one plan, in one namespace.
#[derive(Clone)]
pub struct JournalStore {
    client: kube::Client,
    namespace: String,
    plan: String,
    /// Whether the journal was chunked when this store last read or wrote it (its chunks then go once the
    /// journal is not chunked any more).
    chunked: Arc<AtomicBool>,
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
        JournalStore {
            client,
            namespace: namespace.to_owned(),
            plan: plan.to_owned(),
            chunked: Arc::new(AtomicBool::new(false)),
        }
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

    /// The stored journal, or None when this plan never ran here. A chunked journal is read from its
    /// chunks; a chunk gone means a writer replaced the journal meanwhile, so the head is read again.
    pub async fn load(&self) -> Result<Option<StoredJournal>, ClusterError> {
        let mut attempts = 0;
        loop {
            match self.load_once().await {
                Err(ChunkGone(chunk)) if attempts < 3 => {
                    tracing::debug!(%chunk, "a journal chunk went while it was read; reading the journal again");
                    attempts += 1;
                }
                Err(ChunkGone(chunk)) => {
                    return Err(ClusterError::Unexpected(format!(
                        "the journal {}/{} names the chunk {chunk}, which does not exist",
                        self.namespace,
                        self.config_map_name()
                    )))
                }
                Ok(result) => return result,
            }
        }
    }

    async fn load_once(&self) -> Result<Result<Option<StoredJournal>, ClusterError>, ChunkGone> {
        let name = self.config_map_name();
        let what = || format!("cannot read the journal ConfigMap {}/{name}", self.namespace);
        let api = self.config_maps();
        let map = match with_retries(|| api.get_opt(&name)).await {
            Ok(Some(map)) => map,
            Ok(None) => return Ok(Ok(None)),
            Err(e) => return Ok(Err(ClusterError::api(what(), e))),
        };
        let resource_version = map.metadata.resource_version.clone().unwrap_or_default();
        let compressed = match (binary(&map, DATA_KEY), map.data.as_ref().and_then(|d| d.get(CHUNKS_KEY))) {
            (Some(inline), _) => inline.to_vec(),
            (None, Some(index)) => {
                self.chunked.store(true, Ordering::Relaxed);
                let index: ChunkIndex = match serde_json::from_str(index) {
                    Ok(index) => index,
                    Err(e) => return Ok(Err(ClusterError::Unexpected(format!("{}: {CHUNKS_KEY}: {e}", what())))),
                };
                match self.read_chunks(&index).await? {
                    Ok(merged) => merged,
                    Err(e) => return Ok(Err(e)),
                }
            }
            (None, None) => {
                return Ok(Err(ClusterError::Unexpected(format!(
                    "{}: the journal ConfigMap has neither {DATA_KEY} nor {CHUNKS_KEY}",
                    what()
                ))))
            }
        };
        Ok(decompress(&compressed)
            .map(|json| Some(StoredJournal { json, resource_version }))
            .map_err(|e| ClusterError::Unexpected(format!("{}: the journal is not gzip: {e}", what()))))
    }

    /// The compressed journal from the chunks `index` names.
    async fn read_chunks(&self, index: &ChunkIndex) -> Result<Result<Vec<u8>, ClusterError>, ChunkGone> {
        let api = self.config_maps();
        let mut parts = Vec::with_capacity(index.chunks.len());
        for chunk in &index.chunks {
            let map = match with_retries(|| api.get_opt(chunk)).await {
                Ok(Some(map)) => map,
                Ok(None) => return Err(ChunkGone(chunk.clone())),
                Err(e) => return Ok(Err(ClusterError::api(format!("cannot read the journal chunk {chunk}"), e))),
            };
            let Some(part) = binary(&map, DATA_KEY) else {
                return Ok(Err(ClusterError::Unexpected(format!("the journal chunk {chunk} has no {DATA_KEY}"))));
            };
            parts.push(part.to_vec());
        }
        Ok(merge(index, &parts).map_err(|e| ClusterError::Unexpected(format!("the journal {}: {e}", self.plan))))
    }

    /// Writes the journal: creates it when `resource_version` is None, otherwise replaces the version read
    /// at that resourceVersion (a 409 means another writer got there first, and is an error). Returns the
    /// new resourceVersion. A journal too large for one ConfigMap is cut into chunk ConfigMaps (labelled
    /// with the run `run_id`), all written before the journal that names them; chunks no longer named go
    /// after it is written (always when `closing`, so a closed run leaves none behind).
    pub async fn save(
        &self,
        json: &[u8],
        resource_version: Option<&str>,
        run_id: &str,
        closing: bool,
    ) -> Result<String, ClusterError> {
        let compressed =
            compress(json).map_err(|e| ClusterError::Unexpected(format!("cannot compress the journal: {e}")))?;
        let name = self.config_map_name();
        let (binary_data, data, named) = match layout(compressed, &name, MAX_CHUNK_BYTES) {
            Layout::Inline(bytes) => (Some(BTreeMap::from([(DATA_KEY.to_owned(), ByteString(bytes))])), None, vec![]),
            Layout::Chunked { index, parts } => {
                for (chunk, part) in index.chunks.iter().zip(parts) {
                    self.write_chunk(chunk, part, run_id).await?;
                }
                let text = serde_json::to_string(&index)
                    .map_err(|e| ClusterError::Unexpected(format!("cannot encode the journal's chunks: {e}")))?;
                (None, Some(BTreeMap::from([(CHUNKS_KEY.to_owned(), text)])), index.chunks)
            }
        };
        let map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([(JOURNAL_LABEL.to_owned(), "true".to_owned())])),
                annotations: Some(BTreeMap::from([(PLAN_ANNOTATION.to_owned(), self.plan.clone())])),
                resource_version: resource_version.map(str::to_owned),
                ..ObjectMeta::default()
            },
            binary_data,
            data,
            ..ConfigMap::default()
        };
        let version = self.write_head(&map, resource_version).await?;
        let was_chunked = self.chunked.swap(!named.is_empty(), Ordering::Relaxed);
        if closing || was_chunked || !named.is_empty() {
            self.remove_stale_chunks(&named).await?;
        }
        Ok(version)
    }

    /// Writes the head ConfigMap against `resource_version` (see [`JournalStore::save`]).
    async fn write_head(&self, map: &ConfigMap, resource_version: Option<&str>) -> Result<String, ClusterError> {
        let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
        let name = self.config_map_name();
        let api = self.config_maps();
        let written = match resource_version {
            None => with_race_retries(|| api.create(&params, map)).await,
            Some(expected) => {
                // A 409 is a race only if the stored journal is still the version this run wrote last;
                // any other version means another writer, which must stop this one.
                let mut result = with_retries(|| api.replace(&name, &params, map)).await;
                for _ in 0..5 {
                    match &result {
                        Err(e) if is_write_race(e) => {
                            let current = with_retries(|| api.get_opt(&name)).await.ok().flatten();
                            if current.and_then(|c| c.metadata.resource_version).as_deref() != Some(expected) {
                                break;
                            }
                            result = with_retries(|| api.replace(&name, &params, map)).await;
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

    /// Creates one chunk ConfigMap. One that exists already has the same bytes (its name carries the
    /// journal's digest): a run killed after writing it wrote it.
    async fn write_chunk(&self, chunk: &str, part: Vec<u8>, run_id: &str) -> Result<(), ClusterError> {
        let map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(chunk.to_owned()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([
                    (CHUNK_OF_LABEL.to_owned(), self.config_map_name()),
                    (RUN_LABEL.to_owned(), run_id.to_owned()),
                ])),
                annotations: Some(BTreeMap::from([(PLAN_ANNOTATION.to_owned(), self.plan.clone())])),
                ..ObjectMeta::default()
            },
            binary_data: Some(BTreeMap::from([(DATA_KEY.to_owned(), ByteString(part))])),
            ..ConfigMap::default()
        };
        let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
        let api = self.config_maps();
        match with_retries(|| api.create(&params, &map)).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 && status.reason == "AlreadyExists" => {}
            Err(e) => {
                return Err(ClusterError::api(format!("cannot write the journal chunk {}/{chunk}", self.namespace), e))
            }
        }
        super::fault_point::wrote();
        Ok(())
    }

    /// Removes this journal's chunk ConfigMaps that `named` (the head just written) does not name.
    async fn remove_stale_chunks(&self, named: &[String]) -> Result<(), ClusterError> {
        let api = self.config_maps();
        let params = ListParams::default().labels(&format!("{CHUNK_OF_LABEL}={}", self.config_map_name()));
        let found = with_retries(|| api.list_metadata(&params))
            .await
            .map_err(|e| ClusterError::api("cannot list the journal's chunks", e))?;
        let found: Vec<String> = found.items.into_iter().filter_map(|m| m.metadata.name).collect();
        for chunk in stale_chunks(&found, named) {
            delete_if_present(&api, &chunk, &DeleteParams::default())
                .await
                .map_err(|e| ClusterError::api(format!("cannot remove the journal chunk {chunk}"), e))?;
            super::fault_point::wrote();
        }
        Ok(())
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

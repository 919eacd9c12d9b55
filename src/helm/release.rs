//! Helm's release records, read without helm: a revision is a Secret `sh.helm.release.v1.<name>.v<rev>` of
//! type `helm.sh/release.v1` whose `data.release` is base64 of gzip of the release JSON (chart, the user's
//! values, the rendered manifest, the status and, since Helm 4, how it was applied).

use super::HelmError;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Read;

/// The Secret type Helm stores release revisions as.
pub const RELEASE_SECRET_TYPE: &str = "helm.sh/release.v1";

/// The status of a release revision, as Helm writes it in `info.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseStatus {
    /// Helm could not tell.
    Unknown,
    /// The release's current revision.
    Deployed,
    /// `helm uninstall --keep-history` left it.
    Uninstalled,
    /// A later revision replaced it.
    Superseded,
    /// The install, upgrade or rollback of this revision failed.
    Failed,
    /// `helm uninstall` is deleting it.
    Uninstalling,
    /// `helm install` is writing it.
    PendingInstall,
    /// `helm upgrade` is writing it.
    PendingUpgrade,
    /// `helm rollback` is writing it.
    PendingRollback,
}

impl ReleaseStatus {
    /// Whether a Helm operation is under way on the release (or was killed during one).
    pub fn is_pending(self) -> bool {
        matches!(self, ReleaseStatus::PendingInstall | ReleaseStatus::PendingUpgrade | ReleaseStatus::PendingRollback)
    }

    /// The status as Helm prints it (`pending-upgrade`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Unknown => "unknown",
            ReleaseStatus::Deployed => "deployed",
            ReleaseStatus::Uninstalled => "uninstalled",
            ReleaseStatus::Superseded => "superseded",
            ReleaseStatus::Failed => "failed",
            ReleaseStatus::Uninstalling => "uninstalling",
            ReleaseStatus::PendingInstall => "pending-install",
            ReleaseStatus::PendingUpgrade => "pending-upgrade",
            ReleaseStatus::PendingRollback => "pending-rollback",
        }
    }
}

/// How Helm applied the release: Helm 4 installs server-side and upgrades with the release's own method
/// (`--server-side=auto`); Helm 3 releases carry no method and were applied client-side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyMethod {
    /// Server-side apply (field manager `helm`).
    #[serde(rename = "ssa")]
    ServerSide,
    /// Client-side three-way merge (Helm 3, or Helm 4 with `--server-side=false`).
    #[serde(rename = "csa")]
    ClientSide,
}

/// The chart a release was made from, as its `Chart.yaml` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartMetadata {
    /// The chart's name.
    pub name: String,
    /// The chart's version (what `from.version`/`to.version` of a Helm plan name).
    pub version: String,
    /// The version of the software it installs, when the chart says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
}

/// One file of a chart outside `templates/` (`crds/` files among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    /// The path inside the chart (`crds/crds.yaml`).
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// One revision of a Helm release, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// The release's name.
    pub name: String,
    /// The namespace the release lives in.
    pub namespace: String,
    /// The revision number (`helm history`'s REVISION).
    pub revision: u32,
    /// Its status.
    pub status: ReleaseStatus,
    /// The chart's metadata.
    pub chart: ChartMetadata,
    /// The chart's default values (its `values.yaml`).
    pub chart_values: Value,
    /// The values the user gave (`helm get values`), an empty object when none.
    pub config: Value,
    /// The rendered manifest Helm applied (`helm get manifest`), hooks and `crds/` excluded.
    pub manifest: String,
    /// The chart's `crds/` files, which Helm installs with the first revision and never upgrades.
    pub crd_files: Vec<ChartFile>,
    /// How it was applied; None for a release of Helm 3, which applies client-side.
    pub apply_method: Option<ApplyMethod>,
}

#[derive(Deserialize)]
struct RawRelease {
    name: String,
    #[serde(default)]
    namespace: String,
    version: u32,
    info: RawInfo,
    chart: RawChart,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    manifest: String,
    #[serde(default)]
    apply_method: Option<ApplyMethod>,
}

#[derive(Deserialize)]
struct RawInfo {
    status: ReleaseStatus,
}

#[derive(Deserialize)]
struct RawChart {
    metadata: ChartMetadata,
    #[serde(default)]
    values: Option<Value>,
    #[serde(default)]
    files: Option<Vec<RawFile>>,
}

#[derive(Deserialize)]
struct RawFile {
    name: String,
    /// Go's `[]byte` in JSON: standard base64.
    #[serde(default)]
    data: String,
}

/// Decodes `data.release` of a release Secret (the bytes after Kubernetes' own base64): Helm's base64 of
/// gzip of the release JSON. `secret` names the Secret in messages.
pub fn decode_release(secret: &str, data: &[u8]) -> Result<Release, HelmError> {
    let bad = |why: String| HelmError::BadRelease { secret: secret.to_owned(), why };
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(data.trim_ascii())
        .map_err(|e| bad(format!("data.release is not base64: {e}")))?;
    // Helm gzips what it stores and reads back records that are not (written by older Helm 2 migrations).
    let json = if compressed.starts_with(&[0x1f, 0x8b]) {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_end(&mut json)
            .map_err(|e| bad(format!("data.release is not gzip: {e}")))?;
        json
    } else {
        compressed
    };
    let raw: RawRelease = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&json))
        .map_err(|e| bad(format!("the release JSON does not read as a Helm release: {e}")))?;
    let mut crd_files = Vec::new();
    for file in raw.chart.files.unwrap_or_default() {
        if !file.name.starts_with("crds/") {
            continue;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&file.data)
            .map_err(|e| bad(format!("chart file {} is not base64: {e}", file.name)))?;
        let text = String::from_utf8(bytes).map_err(|_| bad(format!("chart file {} is not UTF-8 text", file.name)))?;
        crd_files.push(ChartFile { name: file.name, text });
    }
    crd_files.sort_by(|a, b| a.name.cmp(&b.name));
    let object_or_empty = |value: Option<Value>| match value {
        Some(Value::Null) | None => Value::Object(Default::default()),
        Some(value) => value,
    };
    Ok(Release {
        name: raw.name,
        namespace: raw.namespace,
        revision: raw.version,
        status: raw.info.status,
        chart: raw.chart.metadata,
        chart_values: object_or_empty(raw.chart.values),
        config: object_or_empty(raw.config),
        manifest: raw.manifest,
        crd_files,
        apply_method: raw.apply_method,
    })
}

/// Picks the revision a run starts from out of every revision of one release: the latest `deployed` one.
/// A latest revision that is pending means Helm is mid-operation (or was killed in one): refused, as is a
/// release with no deployed revision.
pub fn current_revision(name: &str, namespace: &str, mut revisions: Vec<Release>) -> Result<Release, HelmError> {
    revisions.sort_by_key(|r| r.revision);
    let Some(latest) = revisions.last() else {
        return Err(HelmError::NoRelease { release: name.to_owned(), namespace: namespace.to_owned() });
    };
    if latest.status.is_pending() {
        return Err(HelmError::Pending {
            release: name.to_owned(),
            namespace: namespace.to_owned(),
            revision: latest.revision,
            status: latest.status,
        });
    }
    let latest_status = latest.status;
    revisions.into_iter().rev().find(|r| r.status == ReleaseStatus::Deployed).ok_or(HelmError::NotDeployed {
        release: name.to_owned(),
        namespace: namespace.to_owned(),
        status: latest_status,
    })
}

/// Encodes a release JSON as Helm stores it in `data.release` (base64 of gzip): for tests and the test bed,
/// which write release records the way Helm does.
pub fn encode_release(json: &Value) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(json.to_string().as_bytes());
    let gzipped = encoder.finish().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(gzipped).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn release_json(revision: u32, status: &str) -> Value {
        let crd = base64::engine::general_purpose::STANDARD.encode("kind: CustomResourceDefinition\n");
        json!({
            "name": "demo", "namespace": "ops", "version": revision,
            "info": {"status": status, "description": "Install complete"},
            "chart": {
                "metadata": {"name": "demo-operator", "version": "1.0.0", "appVersion": "v1.0.0"},
                "values": {"replicas": 1, "image": {"tag": "v1.0.0"}},
                "templates": [{"name": "templates/deployment.yaml", "data": "eA=="}],
                "files": [{"name": "crds/widgets.yaml", "data": crd}, {"name": "README.md", "data": "eA=="}]
            },
            "config": {"replicas": 2},
            "manifest": "---\nkind: Deployment\n",
            "apply_method": "ssa"
        })
    }

    fn decoded(revision: u32, status: &str) -> Release {
        decode_release("sh.helm.release.v1.demo.v1", &encode_release(&release_json(revision, status))).unwrap()
    }

    #[test]
    fn a_release_secret_decodes_into_its_chart_values_manifest_and_crd_files() {
        let release = decoded(3, "deployed");
        assert_eq!((release.name.as_str(), release.namespace.as_str(), release.revision), ("demo", "ops", 3));
        assert_eq!(release.status, ReleaseStatus::Deployed);
        assert_eq!(release.chart.version, "1.0.0");
        assert_eq!(release.chart.app_version.as_deref(), Some("v1.0.0"));
        assert_eq!(release.config, json!({"replicas": 2}));
        assert_eq!(release.chart_values["image"]["tag"], "v1.0.0");
        assert_eq!(release.manifest, "---\nkind: Deployment\n");
        assert_eq!(
            release.crd_files,
            vec![ChartFile { name: "crds/widgets.yaml".into(), text: "kind: CustomResourceDefinition\n".into() }]
        );
        assert_eq!(release.apply_method, Some(ApplyMethod::ServerSide));
    }

    #[test]
    fn a_helm3_release_without_values_or_method_reads_as_client_side_with_empty_values() {
        let mut json = release_json(1, "deployed");
        json.as_object_mut().unwrap().remove("apply_method");
        json["config"] = Value::Null;
        let release = decode_release("s", &encode_release(&json)).unwrap();
        assert_eq!(release.apply_method, None);
        assert_eq!(release.config, json!({}));
    }

    #[test]
    fn garbage_is_an_error_naming_the_secret_and_what_is_wrong() {
        let error = decode_release("sh.helm.release.v1.demo.v2", b"%%%").unwrap_err().to_string();
        assert!(error.contains("sh.helm.release.v1.demo.v2") && error.contains("not base64"), "{error}");
        let not_a_release = base64::engine::general_purpose::STANDARD.encode(b"{\"name\": 3}");
        let error = decode_release("s", not_a_release.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("does not read as a Helm release") && error.contains("name"), "{error}");
    }

    #[test]
    fn the_current_revision_is_the_latest_deployed_one() {
        let picked = current_revision("demo", "ops", vec![decoded(2, "deployed"), decoded(1, "superseded")]).unwrap();
        assert_eq!(picked.revision, 2);
        // A failed upgrade leaves the previous revision deployed.
        let picked = current_revision("demo", "ops", vec![decoded(1, "deployed"), decoded(2, "failed")]).unwrap();
        assert_eq!(picked.revision, 1);
    }

    #[test]
    fn a_pending_latest_revision_is_refused_whatever_is_deployed() {
        for status in ["pending-install", "pending-upgrade", "pending-rollback"] {
            let error = current_revision("demo", "ops", vec![decoded(1, "deployed"), decoded(2, status)]).unwrap_err();
            assert!(matches!(error, HelmError::Pending { revision: 2, .. }), "{error:?}");
            assert!(error.to_string().contains(status), "{error}");
        }
    }

    #[test]
    fn no_revision_or_none_deployed_is_an_error() {
        assert!(matches!(current_revision("demo", "ops", vec![]), Err(HelmError::NoRelease { .. })));
        let error = current_revision("demo", "ops", vec![decoded(1, "failed")]).unwrap_err();
        assert!(matches!(error, HelmError::NotDeployed { status: ReleaseStatus::Failed, .. }), "{error:?}");
    }
}

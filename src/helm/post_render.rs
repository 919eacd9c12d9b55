//! The post-renderer that keeps the expanded CRDs in a `helm upgrade` until `finalize`: Helm renders the new
//! chart, hands every rendered document to the post-renderer, and applies and records what it returns. Each
//! CRD the run expanded gets the expanded `spec` (both releases' versions served, the old storage version),
//! so Helm's record says exactly what is live; every other document passes through byte for byte.
//!
//! Helm 4 runs post-renderers only as plugins (`--post-renderer NAME`, a `postrenderer/v1` plugin found under
//! `HELM_PLUGINS`): [`install_plugin`] writes one whose command is this tool's hidden `helm-post-render`
//! subcommand, and [`post_render`] is what that subcommand does.

use super::HelmError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The plugin's name, as `helm upgrade --post-renderer` is given it.
pub const PLUGIN_NAME: &str = "operator-upgrade-expanded-crds";

/// The hidden subcommand of the tool the plugin runs.
pub const SUBCOMMAND: &str = "helm-post-render";

/// The annotation Helm 4 puts on each document it hands a post-renderer to put it back in its template
/// file afterwards: kept on the documents the post-renderer rewrites.
pub const FILENAME_ANNOTATION: &str = "postrenderer.helm.sh/postrender-filename";

/// Why a post-rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum PostRenderError {
    /// A CRD document from Helm does not parse.
    #[error("a rendered CustomResourceDefinition does not parse: {0}")]
    BadDocument(String),
    /// The expanded CRDs file does not read.
    #[error("the expanded CRDs {}: {why}", file.display())]
    BadCrds {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Replaces the `spec` of each rendered CRD named in `expanded` (name -> expanded CRD) with the expanded one,
/// keeping the chart's metadata (its labels, `helm.sh/resource-policy`, Helm's filename annotation). Documents
/// that are not such a CRD are returned as they came.
pub fn swap_crds(stream: &str, expanded: &BTreeMap<String, Value>) -> Result<String, PostRenderError> {
    let mut out = String::with_capacity(stream.len());
    let mut copied = 0;
    for (start, end) in document_spans(stream) {
        if let Some(rewritten) = swapped(&stream[start..end], expanded)? {
            out.push_str(&stream[copied..start]);
            out.push_str(&rewritten);
            copied = end;
        }
    }
    out.push_str(&stream[copied..]);
    Ok(out)
}

/// The document rewritten with the expanded spec, when it is a CRD the run expanded.
fn swapped(document: &str, expanded: &BTreeMap<String, Value>) -> Result<Option<String>, PostRenderError> {
    if !document.contains("CustomResourceDefinition") {
        return Ok(None);
    }
    let parsed: Option<Value> =
        serde_norway::from_str(document).map_err(|e| PostRenderError::BadDocument(e.to_string()))?;
    let Some(mut crd) = parsed.filter(|d| d["kind"] == "CustomResourceDefinition") else { return Ok(None) };
    let Some(replacement) = crd["metadata"]["name"].as_str().and_then(|name| expanded.get(name)) else {
        return Ok(None);
    };
    crd["spec"] = replacement["spec"].clone();
    serde_norway::to_string(&crd).map(Some).map_err(|e| PostRenderError::BadDocument(e.to_string()))
}

/// The byte ranges of the documents of a YAML stream, between `---` lines.
fn document_spans(stream: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let (mut start, mut offset) = (0, 0);
    for line in stream.split_inclusive('\n') {
        if line.trim_end() == "---" {
            spans.push((start, offset));
            start = offset + line.len();
        }
        offset += line.len();
    }
    spans.push((start, stream.len()));
    spans.into_iter().filter(|(start, end)| !stream[*start..*end].trim().is_empty()).collect()
}

/// Reads the expanded CRDs a run wrote for the post-renderer (a JSON list of CRDs), by name.
pub fn read_expanded(file: &Path) -> Result<BTreeMap<String, Value>, PostRenderError> {
    let bad = |why: String| PostRenderError::BadCrds { file: file.to_owned(), why };
    let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
    let crds: Vec<Value> = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    crds.into_iter()
        .map(|crd| match crd["metadata"]["name"].as_str() {
            Some(name) => Ok((name.to_owned(), crd.clone())),
            None => Err(bad("a CRD without metadata.name".to_owned())),
        })
        .collect()
}

/// What the hidden subcommand does: Helm's rendered documents on `input`, the swapped ones on `output`.
pub fn post_render(
    crds_file: &Path,
    input: &mut impl std::io::Read,
    output: &mut impl std::io::Write,
) -> Result<(), PostRenderError> {
    let expanded = read_expanded(crds_file)?;
    let mut stream = String::new();
    input.read_to_string(&mut stream).map_err(|e| PostRenderError::BadDocument(e.to_string()))?;
    let swapped = swap_crds(&stream, &expanded)?;
    output.write_all(swapped.as_bytes()).map_err(|e| PostRenderError::BadDocument(e.to_string()))
}

/// Writes the expanded CRDs and a `postrenderer/v1` plugin running `executable helm-post-render --crds FILE`
/// into `plugins` (the directory helm is then given as `HELM_PLUGINS`).
pub fn install_plugin(plugins: &Path, executable: &Path, expanded: &[Value]) -> Result<(), HelmError> {
    let io = |what: &Path| {
        let what = what.display().to_string();
        move |cause| HelmError::Io { what, cause }
    };
    let dir = plugins.join(PLUGIN_NAME);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let crds = dir.join("expanded-crds.json");
    std::fs::write(&crds, Value::Array(expanded.to_vec()).to_string()).map_err(io(&crds))?;
    let manifest = serde_json::json!({
        "apiVersion": "v1",
        "type": "postrenderer/v1",
        "name": PLUGIN_NAME,
        "version": env!("CARGO_PKG_VERSION"),
        "runtime": "subprocess",
        "runtimeConfig": {"platformCommand": [{
            "command": executable.display().to_string(),
            "args": [SUBCOMMAND, "--crds", crds.display().to_string()],
        }]},
    });
    let file = dir.join("plugin.yaml");
    std::fs::write(&file, manifest.to_string()).map_err(io(&file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RENDERED: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  annotations:\n    helm.sh/resource-policy: keep\n    postrenderer.helm.sh/postrender-filename: demo/templates/crds.yaml\n  name: widgets.example.com\nspec:\n  group: example.com\n  versions:\n  - name: v1\n    served: true\n    storage: true\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  annotations:\n    postrenderer.helm.sh/postrender-filename: demo/templates/operator.yaml\n  name: demo   # comments survive\n";

    fn expanded() -> BTreeMap<String, Value> {
        let crd = json!({"metadata": {"name": "widgets.example.com", "annotations": {"meta.helm.sh/release-name": "x"}},
            "spec": {"group": "example.com", "versions": [
                {"name": "v1alpha1", "served": true, "storage": true},
                {"name": "v1", "served": true, "storage": false}]}});
        BTreeMap::from([("widgets.example.com".to_owned(), crd)])
    }

    #[test]
    fn an_expanded_crd_replaces_the_spec_and_keeps_the_charts_metadata_and_the_rest_passes_through() {
        let out = swap_crds(RENDERED, &expanded()).unwrap();
        let documents: Vec<Value> =
            serde_norway::Deserializer::from_str(&out).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect();
        assert_eq!(documents.len(), 2, "{out}");
        assert_eq!(documents[0]["spec"], expanded()["widgets.example.com"]["spec"]);
        assert_eq!(documents[0]["metadata"]["annotations"][FILENAME_ANNOTATION], "demo/templates/crds.yaml");
        assert_eq!(documents[0]["metadata"]["annotations"]["helm.sh/resource-policy"], "keep");
        assert!(documents[0]["metadata"]["annotations"].get("meta.helm.sh/release-name").is_none());
        assert!(out.ends_with("  name: demo   # comments survive\n"), "{out}");
    }

    #[test]
    fn without_an_expanded_crd_the_stream_is_unchanged() {
        assert_eq!(swap_crds(RENDERED, &BTreeMap::new()).unwrap(), RENDERED);
        let with_separator = format!("---\n{RENDERED}");
        assert_eq!(swap_crds(&with_separator, &BTreeMap::new()).unwrap(), with_separator);
    }

    #[test]
    fn the_plugin_runs_the_tools_subcommand_with_the_expanded_crds() {
        let dir = tempfile::tempdir().unwrap();
        let crd = expanded()["widgets.example.com"].clone();
        install_plugin(dir.path(), Path::new("/usr/bin/operator-upgrade"), &[crd]).unwrap();
        let plugin: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(PLUGIN_NAME).join("plugin.yaml")).unwrap())
                .unwrap();
        assert_eq!(plugin["type"], "postrenderer/v1");
        let command = &plugin["runtimeConfig"]["platformCommand"][0];
        assert_eq!(command["command"], "/usr/bin/operator-upgrade");
        let crds = PathBuf::from(command["args"][2].as_str().unwrap());
        assert_eq!(read_expanded(&crds).unwrap(), expanded());
        let (mut input, mut output) = (RENDERED.as_bytes(), Vec::new());
        post_render(&crds, &mut input, &mut output).unwrap();
        assert_eq!(String::from_utf8(output).unwrap(), swap_crds(RENDERED, &expanded()).unwrap());
    }
}

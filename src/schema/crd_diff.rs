//! CRD-level and version rules: names, scope, versions, storage, conversion, subresources, columns.

use super::node_diff::diff_schemas;
use crate::findings::{sort_findings, Finding, FindingCode, Severity};
use crate::manifest::{ConversionStrategy, Crd, CrdVersion, LoadedCrd};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Diffs two sides' CRDs, matched by `metadata.name`; the findings are sorted.
pub fn diff_crd_sets(old: &BTreeMap<String, LoadedCrd>, new: &BTreeMap<String, LoadedCrd>) -> Vec<Finding> {
    let names: Vec<&String> = old.keys().chain(new.keys().filter(|n| !old.contains_key(*n))).collect();
    let mut findings: Vec<Finding> = names
        .par_iter()
        .flat_map_iter(|name| diff_crds(old.get(*name).map(|l| &l.crd), new.get(*name).map(|l| &l.crd)))
        .collect();
    sort_findings(&mut findings);
    findings
}

/// Diffs one CRD across releases; either side may be absent (added or removed CRD).
pub fn diff_crds(old: Option<&Crd>, new: Option<&Crd>) -> Vec<Finding> {
    match (old, new) {
        (None, None) => Vec::new(),
        (None, Some(new)) => {
            let mut findings = vec![Finding::new(FindingCode::CrdAdded, &new.name, format!("CRD {} added", new.name))];
            findings.extend(divergence(None, new));
            findings
        }
        (Some(old), None) => vec![Finding::new(
            FindingCode::CrdRemoved,
            &old.name,
            format!(
                "CRD {} is no longer shipped; its objects stay but nothing manages them (never delete the CRD)",
                old.name
            ),
        )],
        (Some(old), Some(new)) => CrdDiff { old, new, findings: Vec::new() }.run(),
    }
}

struct CrdDiff<'a> {
    old: &'a Crd,
    new: &'a Crd,
    findings: Vec<Finding>,
}

impl CrdDiff<'_> {
    fn run(mut self) -> Vec<Finding> {
        self.identity();
        self.name_lists();
        self.pruning();
        self.conversion();
        self.versions();
        self.storage();
        self.findings.extend(divergence(Some(self.old), self.new));
        self.findings
    }

    fn push(&mut self, code: FindingCode, message: String, old: Option<Value>, new: Option<Value>) -> &mut Finding {
        self.findings.push(Finding::new(code, &self.new.name, message).values(old, new));
        self.findings.last_mut().expect("just pushed")
    }

    fn identity(&mut self) {
        let (old, new) = (self.old, self.new);
        if old.scope != new.scope {
            let message = format!("scope changed from {:?} to {:?}; the API server rejects this", old.scope, new.scope);
            self.push(
                FindingCode::ScopeChanged,
                message,
                Some(json!(format!("{:?}", old.scope))),
                Some(json!(format!("{:?}", new.scope))),
            );
        }
        let immutable = [
            ("group", &old.group, &new.group),
            ("names.kind", &old.names.kind, &new.names.kind),
            ("names.plural", &old.names.plural, &new.names.plural),
        ];
        for (field, before, after) in immutable {
            if before != after {
                let message = format!("spec.{field} changed from {before} to {after}; the API server rejects this");
                self.push(FindingCode::NamesChanged, message, Some(json!(before)), Some(json!(after)));
            }
        }
        let defaulted = [
            ("names.singular", old.names.effective_singular(), new.names.effective_singular()),
            ("names.listKind", old.names.effective_list_kind(), new.names.effective_list_kind()),
        ];
        for (field, before, after) in defaulted {
            if before != after {
                let message =
                    format!("spec.{field} changed from {before} to {after}; clients addressing the old name break");
                // Mutable names only break clients that address them, not the update.
                self.push(FindingCode::NamesChanged, message, Some(json!(before)), Some(json!(after))).severity =
                    Severity::Warning;
            }
        }
    }

    fn name_lists(&mut self) {
        let (old, new) = (&self.old.names, &self.new.names);
        if sorted(&old.short_names) != sorted(&new.short_names) {
            let message = format!(
                "short names changed from [{}] to [{}]",
                old.short_names.join(", "),
                new.short_names.join(", ")
            );
            self.push(
                FindingCode::ShortNamesChanged,
                message,
                Some(json!(old.short_names)),
                Some(json!(new.short_names)),
            );
        }
        if sorted(&old.categories) != sorted(&new.categories) {
            let message =
                format!("categories changed from [{}] to [{}]", old.categories.join(", "), new.categories.join(", "));
            self.push(
                FindingCode::CategoriesChanged,
                message,
                Some(json!(old.categories)),
                Some(json!(new.categories)),
            );
        }
    }

    fn pruning(&mut self) {
        match (self.old.preserve_unknown_fields, self.new.preserve_unknown_fields) {
            (true, false) => {
                let message = "spec.preserveUnknownFields is now false: fields the schema does not declare are pruned from every object on its next write".to_owned();
                self.push(FindingCode::PreserveUnknownFieldsRemoved, message, Some(json!(true)), Some(json!(false)));
            }
            (false, true) => {
                let message = "spec.preserveUnknownFields is now true: unknown fields are kept".to_owned();
                self.push(FindingCode::PreserveUnknownFieldsAdded, message, Some(json!(false)), Some(json!(true)));
            }
            _ => {}
        }
    }

    fn conversion(&mut self) {
        let (old_strategy, new_strategy) = (self.old.conversion_strategy(), self.new.conversion_strategy());
        if old_strategy != new_strategy {
            let message = format!("conversion strategy changed from {old_strategy:?} to {new_strategy:?}");
            self.push(
                FindingCode::ConversionChanged,
                message,
                Some(json!(format!("{old_strategy:?}"))),
                Some(json!(format!("{new_strategy:?}"))),
            );
            return;
        }
        let webhook = |crd: &Crd| crd.conversion.as_ref().and_then(|c| c.webhook.clone());
        let (Some(old), Some(new)) = (webhook(self.old), webhook(self.new)) else { return };
        let (old_config, new_config) = (
            old.client_config.unwrap_or_else(empty_client_config),
            new.client_config.unwrap_or_else(empty_client_config),
        );
        let aspects = [
            ("URL", json_opt(&old_config.url), json_opt(&new_config.url)),
            (
                "service",
                old_config.service.as_ref().map(|s| json!(format!("{}/{}", s.namespace, s.name))),
                new_config.service.as_ref().map(|s| json!(format!("{}/{}", s.namespace, s.name))),
            ),
            (
                "service path",
                old_config.service.as_ref().and_then(|s| json_opt(&s.path)),
                new_config.service.as_ref().and_then(|s| json_opt(&s.path)),
            ),
            (
                "service port",
                old_config.service.as_ref().map(|s| json!(s.port.unwrap_or(443))),
                new_config.service.as_ref().map(|s| json!(s.port.unwrap_or(443))),
            ),
            (
                "review versions",
                Some(json!(old.conversion_review_versions)),
                Some(json!(new.conversion_review_versions)),
            ),
        ];
        for (aspect, before, after) in aspects {
            if before != after {
                self.push(
                    FindingCode::ConversionChanged,
                    format!("conversion webhook {aspect} changed"),
                    before,
                    after,
                );
            }
        }
    }

    fn versions(&mut self) {
        let old_storage = self.old.storage_version().map(|v| v.name.clone());
        for old_version in &self.old.versions {
            match self.new.version(&old_version.name) {
                Some(new_version) => self.version_pair(old_version, new_version),
                None => self.version_removed(old_version, old_storage.as_deref() == Some(&old_version.name)),
            }
        }
        for new_version in self.new.versions.iter().filter(|v| self.old.version(&v.name).is_none()) {
            let served = if new_version.served { "served" } else { "not served" };
            let message = format!("version {} added ({served})", new_version.name);
            self.push(FindingCode::VersionAdded, message, None, None).version = Some(new_version.name.clone());
        }
    }

    fn version_removed(&mut self, old_version: &CrdVersion, was_storage: bool) {
        let (severity, message) = if was_storage {
            (Severity::Blocker, format!("version {} removed, but it was the storage version: it is in status.storedVersions, so the API server rejects the update until every object is migrated and storedVersions is trimmed", old_version.name))
        } else if old_version.served {
            (Severity::Breaking, format!("served version {} removed: clients using it fail, and the update is rejected if it is still in status.storedVersions", old_version.name))
        } else {
            (
                Severity::Warning,
                format!(
                    "unserved version {} removed: the update is rejected if it is still in status.storedVersions",
                    old_version.name
                ),
            )
        };
        let finding = self.push(FindingCode::VersionRemoved, message, None, None);
        finding.version = Some(old_version.name.clone());
        finding.severity = severity;
    }

    fn version_pair(&mut self, old: &CrdVersion, new: &CrdVersion) {
        let version = new.name.as_str();
        let mut local = Vec::new();
        let mut push = |code: FindingCode, message: String, before: Option<Value>, after: Option<Value>| {
            local.push(Finding::new(code, &self.new.name, message).in_version(version).values(before, after));
        };
        match (old.served, new.served) {
            (true, false) => {
                push(FindingCode::VersionUnserved, format!("version {version} is no longer served"), None, None)
            }
            (false, true) => push(FindingCode::VersionServed, format!("version {version} is served again"), None, None),
            _ => {}
        }
        if new.deprecated && !old.deprecated {
            push(
                FindingCode::VersionDeprecated,
                format!("version {version} is deprecated"),
                None,
                json_opt(&new.deprecation_warning),
            );
        }
        subresource_changes(version, "status", &old.subresources.status, &new.subresources.status, &mut push);
        subresource_changes(version, "scale", &old.subresources.scale, &new.subresources.scale, &mut push);

        if old.additional_printer_columns != new.additional_printer_columns {
            let names = |v: &CrdVersion| {
                json!(v.additional_printer_columns.iter().filter_map(|c| c.get("name").cloned()).collect::<Vec<_>>())
            };
            push(
                FindingCode::PrinterColumnsChanged,
                format!("printer columns of {version} changed"),
                Some(names(old)),
                Some(names(new)),
            );
        }
        let fields = |v: &CrdVersion| {
            let mut paths: Vec<String> = v.selectable_fields.iter().map(|f| f.json_path.clone()).collect();
            paths.sort();
            paths
        };
        let (old_fields, new_fields) = (fields(old), fields(new));
        if old_fields != new_fields {
            let removed = old_fields.iter().any(|f| !new_fields.contains(f));
            let message = format!(
                "selectable fields of {version} changed from [{}] to [{}]",
                old_fields.join(", "),
                new_fields.join(", ")
            );
            let mut finding = Finding::new(FindingCode::SelectableFieldsChanged, &self.new.name, message)
                .in_version(version)
                .values(Some(json!(old_fields)), Some(json!(new_fields)));
            if removed {
                // Field selectors on a removed field are rejected.
                finding.severity = Severity::Warning;
            }
            local.push(finding);
        }
        local.extend(scale_paths_changed(&self.new.name, version, old, new));
        self.findings.extend(local);
        self.schema(old, new);
    }

    fn schema(&mut self, old: &CrdVersion, new: &CrdVersion) {
        let pruning = !self.new.preserve_unknown_fields;
        match (&old.schema, &new.schema) {
            (Some(a), Some(b)) => self.findings.extend(diff_schemas(&self.new.name, &new.name, a, b, pruning)),
            (None, None) => {}
            (before, _) => {
                let message = if before.is_some() { "schema removed" } else { "schema added" };
                let finding = Finding::new(
                    FindingCode::SchemaChanged,
                    &self.new.name,
                    format!("{message} for version {}", new.name),
                )
                .in_version(&new.name)
                .at_path(".");
                self.findings.push(finding);
            }
        }
    }

    fn storage(&mut self) {
        let (old, new) = (self.old.storage_version(), self.new.storage_version());
        if let (Some(old), Some(new)) = (old, new) {
            if old.name != new.name {
                let message = format!("storage version changed from {} to {}: objects stay stored at {} until rewritten, then storedVersions must be trimmed", old.name, new.name, old.name);
                self.push(FindingCode::StorageVersionChanged, message, Some(json!(old.name)), Some(json!(new.name)))
                    .version = Some(new.name.clone());
            }
        }
    }
}

fn subresource_changes(
    version: &str,
    name: &str,
    old: &Option<Value>,
    new: &Option<Value>,
    push: &mut impl FnMut(FindingCode, String, Option<Value>, Option<Value>),
) {
    match (old.is_some(), new.is_some()) {
        (false, true) => push(
            FindingCode::SubresourceAdded,
            format!("{name} subresource added to {version}"),
            None,
            Some(json!(name)),
        ),
        (true, false) => push(
            FindingCode::SubresourceRemoved,
            format!("{name} subresource removed from {version}"),
            Some(json!(name)),
            None,
        ),
        // The scale subresource's paths have their own rule (`scale_paths_changed`).
        (true, true) if old != new && !(name == "scale" && both_objects(old, new)) => push(
            FindingCode::SchemaChanged,
            format!("{name} subresource of {version} reconfigured"),
            old.clone(),
            new.clone(),
        ),
        _ => {}
    }
}

fn both_objects(old: &Option<Value>, new: &Option<Value>) -> bool {
    matches!((old, new), (Some(Value::Object(_)), Some(Value::Object(_))))
}

/// `scale-subresource-changed`: the scale subresource's paths differ. Only paths added (a label selector for
/// autoscalers) changes nothing existing: info.
fn scale_paths_changed(crd: &str, version: &str, old: &CrdVersion, new: &CrdVersion) -> Option<Finding> {
    let (Some(Value::Object(before)), Some(Value::Object(after))) = (&old.subresources.scale, &new.subresources.scale)
    else {
        return None;
    };
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let changed: Vec<String> = keys
        .into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .map(|key| {
            let shown = |value: Option<&Value>| {
                value.map_or("none".to_owned(), |v| v.as_str().map_or(v.to_string(), str::to_owned))
            };
            format!("{key} {} -> {}", shown(before.get(key)), shown(after.get(key)))
        })
        .collect();
    if changed.is_empty() {
        return None;
    }
    let only_added = before.iter().all(|(key, value)| after.get(key) == Some(value));
    let message = format!("scale subresource of {version} changed: {}", changed.join(", "));
    let finding = Finding::new(FindingCode::ScaleSubresourceChanged, crd, message)
        .in_version(version)
        .values(old.subresources.scale.clone(), new.subresources.scale.clone());
    // Adding a path (labelSelectorPath for autoscalers) leaves every existing use of /scale as it was.
    Some(if only_added { finding.with_severity(Severity::Info) } else { finding })
}

/// `schema-diverged-without-conversion`: the new CRD serves versions whose schemas differ beyond
/// descriptions while conversion is None, for a pair of versions the old CRD did not already serve that way.
fn divergence(old: Option<&Crd>, new: &Crd) -> Option<Finding> {
    let already = old.map(diverged_pairs).unwrap_or_default();
    let fresh: Vec<(String, String)> = diverged_pairs(new).into_iter().filter(|pair| !already.contains(pair)).collect();
    let (a, b) = fresh.first()?;
    let others = if fresh.len() > 1 { format!(" (and {} more pairs)", fresh.len() - 1) } else { String::new() };
    let message = format!(
        "versions {a} and {b}{others} are served with different schemas and conversion None: data written through one is pruned by the other"
    );
    let pairs: Vec<Value> = fresh.iter().map(|(a, b)| json!([a, b])).collect();
    Some(
        Finding::new(FindingCode::SchemaDivergedWithoutConversion, &new.name, message)
            .values(None, Some(Value::Array(pairs))),
    )
}

/// Every pair of served versions (in file order) whose schemas differ beyond descriptions, when the CRD
/// has no conversion webhook.
fn diverged_pairs(crd: &Crd) -> Vec<(String, String)> {
    if crd.conversion_strategy() != ConversionStrategy::None {
        return Vec::new();
    }
    let served: Vec<&CrdVersion> = crd.versions.iter().filter(|v| v.served).collect();
    let empty = Default::default();
    let mut pairs = Vec::new();
    for (index, a) in served.iter().enumerate() {
        for b in &served[index + 1..] {
            let (schema_a, schema_b) = (a.schema.as_ref().unwrap_or(&empty), b.schema.as_ref().unwrap_or(&empty));
            let differs = diff_schemas(&crd.name, &a.name, schema_a, schema_b, true)
                .iter()
                .any(|f| f.code != FindingCode::DescriptionChanged);
            if differs {
                let mut pair = (a.name.clone(), b.name.clone());
                if pair.0 > pair.1 {
                    std::mem::swap(&mut pair.0, &mut pair.1);
                }
                pairs.push(pair);
            }
        }
    }
    pairs
}

fn sorted(values: &[String]) -> Vec<&String> {
    let mut sorted: Vec<&String> = values.iter().collect();
    sorted.sort();
    sorted
}

fn json_opt(value: &Option<String>) -> Option<Value> {
    value.clone().map(Value::String)
}

fn empty_client_config() -> crate::manifest::ClientConfig {
    crate::manifest::ClientConfig { url: None, service: None }
}

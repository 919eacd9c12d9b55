//! The operator manifest diff and the production-readiness lint.
//!
//! [`diff_manifests`] matches the non-CRD objects of two releases by API group, kind, namespace and name
//! and reports what changed: workloads field by field (image with the direction of the version change,
//! args, env, resources, replicas, probes, securityContext, serviceAccount, volumes), RBAC as single
//! permissions, webhook configurations webhook by webhook, and anything else as a unified diff of
//! normalised YAML. [`lint`] checks the new release for production readiness and marks what the old
//! release did not have as a regression. [`permission_union`] gives the RBAC to apply while both
//! operator versions run during a canary.
//!
//! Secret values never appear in any finding: they are replaced before any text is made.

mod compare;
mod image;
mod lint;
mod matching;
mod pod;
mod rbac;
mod text_diff;
mod webhooks;
mod workload;

pub use rbac::permission_union;

use crate::findings::{sort_operator_findings, FindingCode, OperatorFinding};
use crate::manifest::Object;
use matching::{pairs, Pair, SideIndex};
use rbac::{RbacDiff, BINDING_KINDS, RBAC_GROUP, ROLE_KINDS};

/// Which rules an object gets, by its group and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectClass {
    Workload,
    Role,
    Binding,
    WebhookConfiguration,
    Other,
}

fn classify(pair: &Pair) -> ObjectClass {
    let key = &pair.key;
    if pod::is_workload(key) {
        ObjectClass::Workload
    } else if key.is(RBAC_GROUP, ROLE_KINDS) {
        ObjectClass::Role
    } else if key.is(RBAC_GROUP, BINDING_KINDS) {
        ObjectClass::Binding
    } else if key.is(webhooks::ADMISSION_GROUP, webhooks::CONFIGURATION_KINDS) {
        ObjectClass::WebhookConfiguration
    } else {
        ObjectClass::Other
    }
}

/// Every difference between the old and the new release's non-CRD objects (`ManifestSet::objects`),
/// sorted. Diffing a side with itself yields nothing.
pub fn diff_manifests(old: &[Object], new: &[Object]) -> Vec<OperatorFinding> {
    let (old_side, new_side) = (SideIndex::new(old), SideIndex::new(new));
    let all = pairs(&old_side, &new_side);
    let mut rbac = RbacDiff::new(&old_side, &new_side);
    let mut findings = Vec::new();
    // Roles first: a binding reports new cluster-wide access only where no role finding already did.
    for pair in all.iter().filter(|p| classify(p) == ObjectClass::Role) {
        findings.extend(rbac.role(pair));
    }
    for pair in &all {
        match classify(pair) {
            ObjectClass::Role => {}
            ObjectClass::Binding => findings.extend(rbac.binding(pair)),
            ObjectClass::WebhookConfiguration => findings.extend(webhooks::diff(pair)),
            ObjectClass::Workload => findings.extend(object_diff(pair, workload::diff)),
            ObjectClass::Other => findings.extend(object_diff(pair, |pair, old, new| {
                text_diff::remainder_finding(pair, old, new, "the object").into_iter().collect()
            })),
        }
    }
    sort_operator_findings(&mut findings);
    findings
}

/// `object-added` or `object-removed` for an object on one side, `changed` for one on both.
fn object_diff(
    pair: &Pair,
    changed: impl Fn(&Pair, &serde_json::Value, &serde_json::Value) -> Vec<OperatorFinding>,
) -> Vec<OperatorFinding> {
    let (code, what) = match (pair.old, pair.new) {
        (Some(old), Some(new)) => return changed(pair, &old.value, &new.value),
        (None, _) => (FindingCode::ObjectAdded, "added"),
        (_, None) => (FindingCode::ObjectRemoved, "removed"),
    };
    let object = pair.manifest_ref();
    let message = format!("{object} {what}");
    vec![OperatorFinding::new(code, object, message).located_at(pair.location())]
}

/// The production-readiness problems of the new release's non-CRD objects; those the old release did
/// not have are marked `regression` and sorted first. Each message ends with why the problem matters in
/// production.
pub fn lint(old: &[Object], new: &[Object]) -> Vec<OperatorFinding> {
    lint::lint(old, new)
}

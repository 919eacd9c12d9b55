//! What readers saw before the upgrade, for judging what the new CRDs change: the old release's CRDs (when
//! known) by group and kind, the defaults they applied, and the `default-applied` and `object-kind-unknown`
//! findings that depend on them.
//!
//! A field the new schema defaults is only news where the old schema did not default it, or defaulted it to
//! another value: the API server has always filled in a default both releases share. Without the old CRDs that
//! cannot be told, so the finding is `info` ("would read as X").

use super::structural::shown;
use super::FindingContext;
use crate::findings::{FindingCode, ObjectFinding, ObjectRef, Severity, SourceLocation};
use crate::manifest::{Crd, LoadedCrd, Schema};
use crate::schema::value_at;
use crate::schema::values::{apply_defaults, AppliedDefault};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The old release's CRDs, indexed by group and kind.
#[derive(Debug, Default)]
pub(super) struct OldCrds {
    /// group -> kind -> the CRD.
    kinds: HashMap<String, HashMap<String, Crd>>,
}

impl OldCrds {
    /// Indexes the old release's CRDs.
    pub(super) fn new(crds: &BTreeMap<String, LoadedCrd>) -> OldCrds {
        let mut kinds: HashMap<String, HashMap<String, Crd>> = HashMap::new();
        for loaded in crds.values() {
            let crd = loaded.crd.clone();
            kinds.entry(crd.group.clone()).or_default().insert(crd.names.kind.clone(), crd);
        }
        OldCrds { kinds }
    }

    /// The old CRD of an object's group and kind.
    pub(super) fn crd_for(&self, reference: &ObjectRef) -> Option<&Crd> {
        self.kinds.get(reference.group())?.get(&reference.kind)
    }

    /// The old schema an object was read through: its own version, or the old storage version when the old CRD
    /// did not have it.
    pub(super) fn schema_for(&self, reference: &ObjectRef) -> Option<&Schema> {
        let crd = self.crd_for(reference)?;
        let version = crd.version(reference.version()).or_else(|| crd.storage_version())?;
        version.schema.as_ref()
    }
}

/// What an object read as under the old schema, at the paths the new schema defaults.
pub(super) enum Baseline {
    /// The old CRDs are not known: nothing to compare with.
    Unknown,
    /// The old CRDs are known but do not define the kind: the new CRD's defaults are all it has ever had.
    KindIsNew,
    /// The object as the old schema defaults it.
    Old(Value),
}

impl Baseline {
    /// The object (before the new defaults) as the old schema defaults it.
    pub(super) fn old(mut object: Value, old_schema: &Schema) -> Baseline {
        apply_defaults(&mut object, old_schema);
        Baseline::Old(object)
    }

    /// What readers saw at `path` before.
    fn before(&self, path: &str) -> Before<'_> {
        match self {
            Baseline::Unknown => Before::Unknown,
            Baseline::KindIsNew => Before::KindIsNew,
            Baseline::Old(object) => match value_at(object, path) {
                None | Some(Value::Null) => Before::Unset,
                Some(value) => Before::Defaulted(value),
            },
        }
    }
}

/// What readers saw at one defaulted path before the upgrade.
enum Before<'a> {
    /// The old CRDs are not known.
    Unknown,
    /// The old CRDs do not define the kind.
    KindIsNew,
    /// The old schema did not default the field.
    Unset,
    /// The old schema defaulted it to this value.
    Defaulted(&'a Value),
}

/// The `default-applied` finding for a default the new schema applies, judged against what readers saw before:
/// none where the old schema defaulted the field to the same value.
pub(super) fn default_finding(
    at: &FindingContext<'_>,
    applied: AppliedDefault,
    baseline: &Baseline,
) -> Option<ObjectFinding> {
    let AppliedDefault { path, value, .. } = applied;
    let new = shown(&value);
    let (severity, message, old) = match baseline.before(&path) {
        Before::Defaulted(old) if *old == value => return None,
        Before::Defaulted(old) => (
            Severity::Warning,
            format!(
                "{path} is unset: it read as {} (the old default) and now reads as {new} (the new default); the value \
                 is written back on the next update",
                shown(old)
            ),
            Some(old.clone()),
        ),
        Before::Unset => (
            // A zero-value default is indistinguishable from unset for Go readers (the design's zero-value rule).
            if is_zero_value(&value) { Severity::Info } else { Severity::Warning },
            format!(
                "{path} is unset and now reads as {new} (a default the old CRDs did not have); the value is written \
                 back on the next update"
            ),
            None,
        ),
        // A kind new in this release has always had its defaults.
        Before::KindIsNew => (
            Severity::Info,
            format!("{path} is unset and reads as {new} (the default of a kind the old CRDs do not define)"),
            None,
        ),
        // Without the old CRDs this may be a default the API server has always filled in: not a risk on its own.
        Before::Unknown => (
            Severity::Info,
            format!(
                "{path} is unset and would read as {new} (the new schema's default; give the old CRDs to tell \
                 whether that is new)"
            ),
            None,
        ),
    };
    let mut finding = at.finding(FindingCode::DefaultApplied, &path, message).with_value(value).with_severity(severity);
    finding.key.old = old;
    Some(finding)
}

fn is_zero_value(value: &Value) -> bool {
    match value {
        Value::String(text) => text.is_empty(),
        Value::Bool(flag) => !flag,
        Value::Number(number) => number.as_f64() == Some(0.0),
        _ => false,
    }
}

/// What the CRD sets say about an object's group, for an object whose kind the new set does not define.
pub(super) struct GroupKnowledge<'a> {
    /// Kinds of the object's group that the new set defines, sorted.
    pub(super) new_kinds: BTreeSet<&'a str>,
    /// The old release's CRD of the object's kind, when the old CRDs are known and define it.
    pub(super) old_crd: Option<&'a str>,
}

/// The `object-kind-unknown` finding. A kind of a group no CRD of either set defines belongs to another project
/// (a cert-manager Certificate among CloudNativePG samples): `info`. A kind missing from a group the sets do
/// define is suspicious, its CRD may have been removed from the release: a `warning` naming the missing CRD.
pub(super) fn unknown_kind_finding(
    reference: &ObjectRef,
    known: &GroupKnowledge<'_>,
    source: Option<SourceLocation>,
) -> ObjectFinding {
    let (kind, group) = (&reference.kind, reference.group());
    let finding = |message: String| {
        ObjectFinding::new(FindingCode::ObjectKindUnknown, reference.clone(), ".", message).at_source(source.clone())
    };
    if known.new_kinds.is_empty() && known.old_crd.is_none() {
        let message = format!(
            "{kind} belongs to {group}, a group no CRD of the set defines (another project's API): not checked"
        );
        return finding(message).with_severity(Severity::Info);
    }
    let siblings = match known.new_kinds.is_empty() {
        true => String::new(),
        false => {
            let kinds: Vec<&str> = known.new_kinds.iter().copied().collect();
            format!(", though it defines {} of {group}", kinds.join(", "))
        }
    };
    let missing = match known.old_crd {
        Some(name) => format!("the old release's CRD {name} is not in the new set{siblings}"),
        None => format!(
            "no CRD of the new set defines {kind}{siblings}: the CRD for {kind}.{group} may have been removed from \
             the release"
        ),
    };
    finding(format!("{missing}; the object cannot be checked and the new release may not manage it"))
        .with_severity(Severity::Warning)
}

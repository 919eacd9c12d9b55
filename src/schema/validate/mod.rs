//! Validating existing custom resources against the new CRDs: which of *these* objects break, how, and when.
//!
//! For each object the [`Validator`] finds the new CRD of its group and kind and the version of its `apiVersion`,
//! then does what the API server would do on the object's next write: prune undeclared fields (`data-pruned`:
//! data loss), drop non-nullable nulls, apply defaults (`default-applied`: what readers see at once), and
//! validate the result structurally ([`structural`]) and with the CEL rules ([`cel`]). Every violation says
//! whether validation ratcheting lets an unchanged value through (a warning) or whether the next write is
//! rejected whatever changes (breaking).
//!
//! The validator only sees `serde_json::Value`s, so where objects come from is the caller's business: files
//! ([`validate_paths`] streams them, in parallel), or a live cluster.

mod admission;
mod baseline;
pub mod cel;
mod compiled;
pub(crate) mod fast_yaml;
mod formats;
pub mod groups;
mod json_stream;
mod pattern;
mod report;
mod split;
pub mod spool;
mod stream;
mod structural;

pub use admission::{CrdAdmission, WriteRejection};
pub use groups::{FindingGroup, GroupedObject};
pub use report::{CrdCounts, ReportBuilder, ValidationReport, ValidationSummary};
pub use spool::FindingSpool;
pub use stream::{validate_paths, validate_paths_keeping};

use crate::findings::{FindingCode, Keyword, ObjectFinding, ObjectRef, Severity, Side, SourceLocation};
use crate::manifest::{ConversionStrategy, Crd, LoadedCrd, Schema};
use crate::schema::unset_at;
use crate::schema::values::{
    apply_defaults_collecting, prune_collecting, prune_non_nullable_nulls, AppliedDefault, PrunedField,
};
use baseline::{default_finding, unknown_kind_finding, Baseline, GroupKnowledge, OldCrds};
use cel::{CelOutcome, CelRules};
use compiled::Node;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use structural::{shown, Enforcement, Violation};

/// Checks objects against a set of CRDs (the new release's). Build once, share across threads (`Sync`): each CRD
/// version's schema, regexes and CEL rules are compiled the first time an object needs them.
#[derive(Debug)]
pub struct Validator {
    /// group -> kind -> index into `crds`.
    kinds: HashMap<String, HashMap<String, usize>>,
    crds: Vec<CrdEntry>,
    /// The old release's CRDs, when known: what readers saw before, and which CRDs the new set lost.
    old: Option<OldCrds>,
}

#[derive(Debug)]
struct CrdEntry {
    crd: Crd,
    versions: Vec<OnceLock<Option<CompiledVersion>>>,
}

/// One CRD version, ready to check objects.
#[derive(Debug)]
struct CompiledVersion {
    schema: Schema,
    root: Node,
    cel: CelRules,
}

/// What became of one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectOutcome {
    /// The object.
    pub object: ObjectRef,
    /// Whether and against what it was checked.
    pub class: ObjectClass,
    /// What happens to it under the new CRDs.
    pub findings: Vec<ObjectFinding>,
}

/// How an object relates to the CRD set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectClass {
    /// A CRD of the set defines its kind (`metadata.name` of the CRD).
    Checked(String),
    /// Its group is one the CRDs define (or the old CRDs defined its kind), but no CRD of the new set defines the
    /// kind: its CRD may have been removed from the release.
    UnknownKind,
    /// Its group looks like a custom resource's but no CRD of the set belongs to it: another project's API.
    OtherGroup,
    /// A built-in kind (core or `*.k8s.io` group) or a CRD itself: not a custom resource of the set, not checked.
    NotCustom,
}

impl Validator {
    /// Indexes a CRD set (typically the new release's `ManifestSet::crds`) by group and kind.
    pub fn new(crds: &BTreeMap<String, LoadedCrd>) -> Validator {
        let mut kinds: HashMap<String, HashMap<String, usize>> = HashMap::new();
        let crds: Vec<CrdEntry> = crds
            .values()
            .enumerate()
            .map(|(index, loaded)| {
                let crd = loaded.crd.clone();
                kinds.entry(crd.group.clone()).or_default().insert(crd.names.kind.clone(), index);
                CrdEntry::new(crd)
            })
            .collect();
        Validator { kinds, crds, old: None }
    }

    /// Judges against the old release's CRDs too: a default both releases apply alike is no finding, a new or
    /// changed one is a warning, and a kind the old set defined but the new one lacks is named.
    pub fn compared_with(mut self, old: &BTreeMap<String, LoadedCrd>) -> Validator {
        self.old = Some(OldCrds::new(old));
        self
    }

    /// Whether the old release's CRDs are known ([`Validator::compared_with`]).
    pub fn knows_old_crds(&self) -> bool {
        self.old.is_some()
    }

    /// How many CRDs the validator knows.
    pub fn crd_count(&self) -> usize {
        self.crds.len()
    }

    /// The findings for one object (cloned: see [`Validator::check`] to hand over an owned value).
    pub fn validate(&self, object: &Value, source: Option<SourceLocation>) -> Vec<ObjectFinding> {
        self.check(object.clone(), source).findings
    }

    /// Checks one object, consuming it (it is pruned and defaulted in place, as the API server would).
    pub fn check(&self, mut object: Value, source: Option<SourceLocation>) -> ObjectOutcome {
        let reference = ObjectRef::of(&object);
        let Some(entry) = self.entry_for(&reference) else {
            return self.outcome_without_crd(reference, source);
        };
        let mut findings = Vec::new();
        let version = match resolve_version(&entry.crd, &reference) {
            VersionChoice::Served(index) => Some(index),
            VersionChoice::NotServed { target } => {
                findings.push(not_served_finding(&entry.crd, &reference, target));
                // With conversion None the API server only rewrites apiVersion, so the object will be read through
                // the target version's schema: checking it there shows what the migration does to it.
                let migrated = target.filter(|_| entry.crd.conversion_strategy() == ConversionStrategy::None);
                if let (Some(index), Value::Object(fields)) = (migrated, &mut object) {
                    let api_version = format!("{}/{}", entry.crd.group, entry.crd.versions[index].name);
                    fields.insert("apiVersion".to_owned(), Value::String(api_version));
                }
                migrated
            }
        };
        if let Some(index) = version {
            if let Some(compiled) = entry.compiled(index) {
                let version_name = &entry.crd.versions[index].name;
                let context = FindingContext { crd: &entry.crd, version: version_name, object: &reference };
                let old_schema = self.old.as_ref().map(|old| old.schema_for(&reference));
                findings.extend(check_against(&entry.crd, compiled, object, &context, old_schema));
            }
        }
        let crd_name = entry.crd.name.clone();
        for finding in &mut findings {
            finding.source.clone_from(&source);
        }
        ObjectOutcome { object: reference, class: ObjectClass::Checked(crd_name), findings }
    }

    fn entry_for(&self, reference: &ObjectRef) -> Option<&CrdEntry> {
        let index = *self.kinds.get(reference.group())?.get(&reference.kind)?;
        self.crds.get(index)
    }

    fn outcome_without_crd(&self, reference: ObjectRef, source: Option<SourceLocation>) -> ObjectOutcome {
        if is_built_in_group(reference.group()) || reference.kind == "CustomResourceDefinition" {
            return ObjectOutcome { object: reference, class: ObjectClass::NotCustom, findings: Vec::new() };
        }
        let known = GroupKnowledge {
            new_kinds: self
                .kinds
                .get(reference.group())
                .map(|kinds| kinds.keys().map(String::as_str).collect())
                .unwrap_or_default(),
            old_crd: self.old.as_ref().and_then(|old| old.crd_for(&reference)).map(|crd| crd.name.as_str()),
        };
        let finding = unknown_kind_finding(&reference, &known, source);
        let class =
            if finding.key.severity >= Severity::Warning { ObjectClass::UnknownKind } else { ObjectClass::OtherGroup };
        ObjectOutcome { object: reference, class, findings: vec![finding] }
    }
}

impl CrdEntry {
    fn new(crd: Crd) -> CrdEntry {
        CrdEntry { versions: crd.versions.iter().map(|_| OnceLock::new()).collect(), crd }
    }

    fn compiled(&self, index: usize) -> Option<&CompiledVersion> {
        self.versions[index]
            .get_or_init(|| {
                let schema = self.crd.versions[index].schema.clone()?;
                Some(CompiledVersion { root: Node::compile(&schema), cel: CelRules::compile(&schema), schema })
            })
            .as_ref()
    }
}

/// Core and `*.k8s.io` groups hold Kubernetes' own kinds (unless a CRD of the set claims the group).
fn is_built_in_group(group: &str) -> bool {
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

enum VersionChoice {
    /// The object's version is served: check it there.
    Served(usize),
    /// It is not; `target` is the version to migrate to, if the CRD has one.
    NotServed { target: Option<usize> },
}

fn resolve_version(crd: &Crd, reference: &ObjectRef) -> VersionChoice {
    let version = reference.version();
    if let Some(index) = crd.versions.iter().position(|v| v.name == version && v.served) {
        return VersionChoice::Served(index);
    }
    let storage = crd.versions.iter().position(|v| v.storage && v.served);
    VersionChoice::NotServed { target: storage.or_else(|| crd.versions.iter().position(|v| v.served)) }
}

fn not_served_finding(crd: &Crd, reference: &ObjectRef, target: Option<usize>) -> ObjectFinding {
    let version = reference.version();
    let status = match crd.version(version) {
        Some(_) => format!("still lists {version} but does not serve it"),
        None => format!("has no version {version}"),
    };
    let migrate = match target.map(|index| &crd.versions[index]) {
        Some(target) if target.storage => {
            format!("migrate it to {}/{} (the storage version) before upgrading", crd.group, target.name)
        }
        Some(target) => format!("migrate it to {}/{} before upgrading", crd.group, target.name),
        None => "the new CRD serves no version at all".to_owned(),
    };
    let message = format!("{} in the new release {status}: {migrate}", crd.name);
    let mut finding = ObjectFinding::new(FindingCode::ObjectVersionNotServed, reference.clone(), ".", message)
        .against(&crd.name, None);
    if let Some(index) = target {
        finding.key.value = Some(Value::String(format!("{}/{}", crd.group, crd.versions[index].name)));
    }
    finding
}

/// Who a finding is about, shared by every finding of one object.
struct FindingContext<'a> {
    crd: &'a Crd,
    version: &'a str,
    object: &'a ObjectRef,
}

impl FindingContext<'_> {
    fn finding(&self, code: FindingCode, path: &str, message: String) -> ObjectFinding {
        let path = if path.is_empty() { "." } else { path };
        ObjectFinding::new(code, self.object.clone(), path, message).against(&self.crd.name, Some(self.version))
    }
}

/// Prunes, defaults and validates one object as the API server would on its next write.
/// `old_schema` is `None` without the old CRDs, `Some(None)` when they do not define the object's kind.
fn check_against(
    crd: &Crd,
    compiled: &CompiledVersion,
    mut object: Value,
    at: &FindingContext<'_>,
    old_schema: Option<Option<&Schema>>,
) -> Vec<ObjectFinding> {
    let mut findings = Vec::new();
    if !crd.preserve_unknown_fields {
        for pruned in prune_collecting(&mut object, &compiled.schema) {
            findings.push(pruned_finding(at, pruned));
        }
        prune_non_nullable_nulls(&mut object, &compiled.schema);
    }
    let applied: Vec<_> =
        apply_defaults_collecting(&mut object, &compiled.schema).into_iter().filter(|a| !a.nested).collect();
    if !applied.is_empty() {
        let baseline = match old_schema {
            // What the object read as before, rebuilt only here: most objects get no default, and a copy of
            // every object up front was a tenth of the run with the old CRDs.
            Some(Some(schema)) => Baseline::old(without_defaults(&object, &applied), schema),
            Some(None) => Baseline::KindIsNew,
            None => Baseline::Unknown,
        };
        findings.extend(applied.into_iter().filter_map(|applied| default_finding(at, applied, &baseline)));
    }
    findings.extend(structural::validate(&compiled.root, &object).into_iter().map(|v| violation_finding(at, v)));
    if !compiled.cel.is_empty() {
        findings.extend(compiled.cel.evaluate(&object).into_iter().map(|outcome| cel_finding(at, outcome)));
    }
    findings
}

/// The object as it was before `applied` (the outermost defaults set on it): each one taken out again. Defaulting
/// only fills absent fields and non-nullable nulls, so this is exactly the object before.
fn without_defaults(object: &Value, applied: &[AppliedDefault]) -> Value {
    let mut before = object.clone();
    for default in applied {
        unset_at(&mut before, &default.path, default.replaced_null);
    }
    before
}

fn pruned_finding(at: &FindingContext<'_>, pruned: PrunedField) -> ObjectFinding {
    let PrunedField { path, value, in_wrong_type } = pruned;
    let side = Side::of_path(&path);
    let message = match (in_wrong_type, side) {
        (Some((node, declared)), _) => format!(
            "{path} = {} is a key of a mapping under {node}, which the schema declares {}: the API server prunes \
             every key of such a mapping, on write and on read (it reads back as {{}}), so even an unchanged \
             update loses it",
            shown(&value),
            with_article(&declared)
        ),
        (None, Side::Spec) => format!(
            "{path} = {} is not declared by the new schema: the API server deletes it on the object's next write \
             (data loss)",
            shown(&value)
        ),
        (None, Side::Status) => format!(
            "{path} = {} is not declared by the new status schema: deleted on the next status write",
            shown(&value)
        ),
    };
    let finding = at.finding(FindingCode::DataPruned, &path, message).with_value(value);
    match side {
        Side::Spec => finding,
        // Status is rewritten by the operator, which no longer writes an undeclared field: nothing users wrote is lost.
        Side::Status => finding.with_severity(Severity::Warning),
    }
}

/// A type name with its indefinite article ("an array", "a string").
fn with_article(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {type_name}")
}

fn violation_finding(at: &FindingContext<'_>, violation: Violation) -> ObjectFinding {
    let side = Side::of_path(&violation.path);
    let (severity, consequence) = violation_consequence(violation.code, violation.enforcement, side);
    let message = match consequence {
        Some(consequence) => format!("{}; {consequence}", violation.message),
        None => violation.message,
    };
    at.finding(violation.code, &violation.path, message).with_keyword(violation.keyword).with_severity(severity)
}

/// The severity of a structural violation and what it means for the next write (when the message does not
/// say it already).
fn violation_consequence(code: FindingCode, enforcement: Enforcement, side: Side) -> (Severity, Option<&'static str>) {
    let default = code.info().severity;
    let (severity, consequence) = match (code, enforcement, side) {
        (FindingCode::PatternUnevaluable, _, _) => (default, "the value was not checked"),
        // The message explains that only decoding clients fail.
        (_, Enforcement::ClientOnly, _) => return (Severity::Warning, None),
        // The stored object is the one that breaks the rule, so its writes pass, status writes included.
        (_, Enforcement::ListTypeRatcheted, _) => (
            Severity::Warning,
            "ratcheted while the stored object has such entries: its writes pass, but re-creating it (a restore \
             from backup, a copy in another cluster) is rejected",
        ),
        // Status is the operator's to write, so the value changes with every status write: nothing ratchets.
        (_, _, Side::Status) => (Severity::Breaking, "the operator's status updates are rejected until it changes"),
        (_, Enforcement::Ratcheted, Side::Spec) => {
            (default, "ratcheted: writes that keep this value pass, a changed value must be valid")
        }
        (_, Enforcement::Always, Side::Spec) => {
            (Severity::Breaking, "not ratcheted: every write of the object is rejected until it is fixed")
        }
    };
    (severity, Some(consequence))
}

fn cel_finding(at: &FindingContext<'_>, outcome: CelOutcome) -> ObjectFinding {
    match outcome {
        CelOutcome::Violated { path, rule, message, reason, transition } => {
            let side = Side::of_path(&path);
            let (severity, consequence) = match (transition, side) {
                (true, _) => (Severity::Breaking, "a transition rule (oldSelf) is never ratcheted"),
                (false, Side::Status) => (Severity::Breaking, "the operator's status updates are rejected"),
                (false, Side::Spec) => {
                    (Severity::Warning, "ratcheted: writes that keep the value pass, a changed value must satisfy it")
                }
            };
            let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
            let message = format!("{message}{reason}; {consequence}");
            at.finding(FindingCode::CelRuleViolated, &path, message)
                .with_keyword(Keyword::Cel)
                .with_rule(rule)
                .with_severity(severity)
        }
        CelOutcome::Unevaluable { path, rule, error } => {
            let message = format!("the rule cannot be evaluated here ({error}): the object was not checked against it");
            at.finding(FindingCode::CelUnevaluable, &path, message).with_keyword(Keyword::Cel).with_rule(rule)
        }
    }
}

#[cfg(test)]
mod tests;

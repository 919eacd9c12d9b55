//! Identical findings across objects, grouped as they come: a release that adds a default puts every object of
//! a kind in the same place, and 100,000 objects must not mean 100,000 findings held or printed. Findings with
//! the same code, severity, CRD, version, path, message and value are one [`FindingGroup`] with the count and
//! the first few objects.
//!
//! Memory is bounded whatever the input: a group names at most [`OBJECTS_NAMED`] objects, and one code of one
//! CRD version keeps at most [`GROUPS_PER_CODE`] groups apart; findings at further places (a pruned field
//! whose value differs in every object) are counted in one group of that code's other places. Which groups
//! are kept and which objects are named depends only on the findings, never on the order workers saw them
//! (the smallest places and the first objects in namespace/name order), so parallel runs print the same.

use crate::findings::{FindingCode, FindingKey, Keyword, ObjectFinding, ObjectRef, Severity, Side, SourceLocation};
use serde::Serialize;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

/// How many objects a group names; the others are counted.
pub const OBJECTS_NAMED: usize = 5;
/// How many places (path, message, value) of one code in one CRD version are kept as groups of their own.
pub const GROUPS_PER_CODE: usize = 100;

/// Identical findings about several objects: what they say once (the key every one of them has; for a group of
/// other places, the first one's path, message and value), how many there are and the first objects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingGroup {
    /// What the findings say.
    #[serde(flatten)]
    pub key: FindingKey,
    /// How many findings the group stands for (one per object, as an object has a path once).
    pub count: usize,
    /// The first objects (namespace, then name), at most [`OBJECTS_NAMED`], each with where it was read.
    pub objects: Vec<GroupedObject>,
    /// Findings of this code at more places than are listed one by one ([`GROUPS_PER_CODE`]): `path`,
    /// `message` and `value` are those of the first of them, `count` counts them all.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub other_places: bool,
}

/// One object of a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct GroupedObject {
    /// The object.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// Where it was read from, when it came from a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceLocation>,
}

impl FindingGroup {
    /// How many of the group's findings are not named in `objects`.
    pub fn unnamed(&self) -> usize {
        self.count - self.objects.len()
    }

    /// The objects named, as `kind namespace/name`, and how many more there are.
    pub fn objects_line(&self) -> String {
        let names: Vec<String> = self.objects.iter().map(|o| o.object.display_name()).collect();
        match self.unnamed() {
            0 => names.join(", "),
            more => format!("{} and {more} more", names.join(", ")),
        }
    }
}

/// Which findings share a bound: one code at one severity in one CRD version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Family {
    crd: Option<String>,
    version: Option<String>,
    code: FindingCode,
    severity: Severity,
}

/// What identical findings share beyond their family.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Place {
    path: String,
    message: String,
    rule: Option<String>,
    keyword: Option<Keyword>,
    /// `value` and `old` as compact JSON, so places compare and hash.
    values: Option<(String, String)>,
}

#[derive(Debug, Clone)]
struct Members {
    count: usize,
    side: Side,
    value: Option<Value>,
    old: Option<Value>,
    /// Sorted, at most [`OBJECTS_NAMED`].
    objects: Vec<GroupedObject>,
}

impl Members {
    fn absorb(&mut self, other: Members) {
        self.count += other.count;
        for object in other.objects {
            self.name(object);
        }
    }

    /// Names an object if it is among the first [`OBJECTS_NAMED`].
    fn name(&mut self, object: GroupedObject) {
        let at = self.objects.partition_point(|o| object_order(o, &object).is_le());
        if at < OBJECTS_NAMED {
            self.objects.insert(at, object);
            self.objects.truncate(OBJECTS_NAMED);
        }
    }
}

/// Objects in namespace, then name order (then the rest, so the order is total).
fn object_order(a: &GroupedObject, b: &GroupedObject) -> std::cmp::Ordering {
    (a.object.namespace.as_deref(), a.object.name.as_str())
        .cmp(&(b.object.namespace.as_deref(), b.object.name.as_str()))
        .then_with(|| a.cmp(b))
}

#[derive(Debug, Default, Clone)]
struct FamilyGroups {
    places: BTreeMap<Place, Members>,
    /// The places beyond the first [`GROUPS_PER_CODE`], counted together; the place shown is the smallest.
    other: Option<(Place, Members)>,
}

impl FamilyGroups {
    fn add(&mut self, place: Place, members: Members) {
        match self.places.get_mut(&place) {
            Some(existing) => existing.absorb(members),
            None => {
                let beyond = self.places.len() >= GROUPS_PER_CODE
                    && self.places.last_key_value().is_some_and(|(last, _)| *last < place);
                if beyond {
                    self.fold(place, members);
                    return;
                }
                self.places.insert(place, members);
                if self.places.len() > GROUPS_PER_CODE {
                    if let Some((place, members)) = self.places.pop_last() {
                        self.fold(place, members);
                    }
                }
            }
        }
    }

    fn fold(&mut self, place: Place, members: Members) {
        match &mut self.other {
            None => self.other = Some((place, members)),
            Some((shown, other)) => {
                if place < *shown {
                    *shown = place;
                    other.side = members.side;
                    other.value = members.value.clone();
                    other.old = members.old.clone();
                }
                other.absorb(members);
            }
        }
    }
}

/// Findings counted and grouped as they come; builders of parallel workers merge.
#[derive(Debug, Default, Clone)]
pub struct Grouper {
    families: HashMap<Family, FamilyGroups>,
}

impl Grouper {
    /// Adds one finding.
    pub fn add(&mut self, finding: ObjectFinding) {
        let ObjectFinding { key, object, source } = finding;
        let FindingKey { code, severity, crd, version, path, side, keyword, message, rule, value, old } = key;
        let values = (value.is_some() || old.is_some()).then(|| (compact(value.as_ref()), compact(old.as_ref())));
        let place = Place { path, message, rule, keyword, values };
        let members = Members { count: 1, side, value, old, objects: vec![GroupedObject { object, source }] };
        self.families.entry(Family { crd, version, code, severity }).or_default().add(place, members);
    }

    /// Adds every group another grouper collected.
    pub fn merge(&mut self, other: Grouper) {
        for (family, groups) in other.families {
            let mine = self.families.entry(family).or_default();
            for (place, members) in groups.places {
                mine.add(place, members);
            }
            if let Some((place, members)) = groups.other {
                mine.fold(place, members);
            }
        }
    }

    /// The groups, by CRD, the worst first, then code, version and path.
    pub fn finish(self) -> Vec<FindingGroup> {
        let mut groups = Vec::new();
        for (family, family_groups) in self.families {
            let places = family_groups.places.into_iter().map(|(place, members)| (place, members, false));
            let other = family_groups.other.into_iter().map(|(place, members)| (place, members, true));
            for (place, members, other_places) in places.chain(other) {
                let key = FindingKey {
                    code: family.code,
                    severity: family.severity,
                    crd: family.crd.clone(),
                    version: family.version.clone(),
                    path: place.path,
                    side: members.side,
                    keyword: place.keyword,
                    message: place.message,
                    rule: place.rule,
                    value: members.value,
                    old: members.old,
                };
                groups.push(FindingGroup { key, count: members.count, objects: members.objects, other_places });
            }
        }
        groups.sort_by(|a, b| group_order(a).cmp(&group_order(b)));
        groups
    }
}

/// Groups by CRD, the worst first, then code, version, the other places last, path and message.
fn group_order(group: &FindingGroup) -> impl Ord + '_ {
    let k = &group.key;
    (&k.crd, Reverse(k.severity), k.code, &k.version, group.other_places, &k.path, &k.message)
}

fn compact(value: Option<&Value>) -> String {
    value.map(Value::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finding(name: &str, path: &str, value: Value) -> ObjectFinding {
        let object = ObjectRef::of(&json!({"apiVersion": "a.io/v1", "kind": "K",
            "metadata": {"name": name, "namespace": "ns"}}));
        ObjectFinding::new(FindingCode::DefaultApplied, object, path, format!("{path} reads as {value}"))
            .against("ks.a.io", Some("v1"))
            .with_value(value)
    }

    #[test]
    fn identical_findings_are_one_group_naming_the_first_objects() {
        let mut grouper = Grouper::default();
        for i in (0..20).rev() {
            grouper.add(finding(&format!("o{i:02}"), ".spec.a", json!(1)));
        }
        grouper.add(finding("x", ".spec.a", json!(2)));
        let groups = grouper.finish();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].count, 20);
        let names: Vec<&str> = groups[0].objects.iter().map(|o| o.object.name.as_str()).collect();
        assert_eq!(names, ["o00", "o01", "o02", "o03", "o04"]);
        assert_eq!(groups[0].objects_line(), "ns/o00, ns/o01, ns/o02, ns/o03, ns/o04 and 15 more");
        assert_eq!((groups[1].count, groups[1].key.value.clone()), (1, Some(json!(2))));
    }

    #[test]
    fn places_beyond_the_bound_are_counted_in_one_group_whatever_the_order() {
        let findings: Vec<ObjectFinding> =
            (0..GROUPS_PER_CODE + 50).map(|i| finding(&format!("o{i}"), &format!(".spec.f{i:04}"), json!(i))).collect();
        let mut forward = Grouper::default();
        findings.iter().cloned().for_each(|f| forward.add(f));
        // Two workers that each saw half, in reverse order, merged.
        let (mut left, mut right) = (Grouper::default(), Grouper::default());
        for (i, f) in findings.iter().rev().cloned().enumerate() {
            if i % 2 == 0 {
                left.add(f)
            } else {
                right.add(f)
            }
        }
        left.merge(right);
        let (forward, merged) = (forward.finish(), left.finish());
        assert_eq!(forward, merged);
        assert_eq!(forward.len(), GROUPS_PER_CODE + 1);
        let other = forward.last().unwrap();
        assert!(other.other_places);
        assert_eq!((other.count, other.key.path.as_str()), (50, ".spec.f0100"));
        assert_eq!(forward.iter().map(|g| g.count).sum::<usize>(), findings.len());
    }
}

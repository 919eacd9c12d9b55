//! Drawing the cohorts: which objects (or namespaces) the canary and the baseline own, seeded from the run
//! so a resumed run draws the same, and which objects follow their owner into its cohort.

use crate::canary::scoping::{marker_of, marks_stable};
use crate::cluster::ObjectKey;
use crate::manifest::LabelSelector;
use crate::plan::file::{CanaryPolicy, CohortSelection, CohortSize, FollowerKind, ScopingMechanism};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt;

/// Which Deployment owns an object during the canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cohort {
    /// The new release on a few objects.
    Canary,
    /// A fresh Deployment of the old release on as many objects.
    Baseline,
    /// The long-running Deployment, on every other object.
    Stable,
}

impl Cohort {
    /// The value of the cohort label (and the `{cohort}` placeholder).
    pub fn as_str(self) -> &'static str {
        match self {
            Cohort::Canary => "canary",
            Cohort::Baseline => "baseline",
            Cohort::Stable => "stable",
        }
    }
}

impl fmt::Display for Cohort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The units drawn into the canary and the baseline (object keys or namespaces, as text), disjoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draw {
    /// Units of the canary cohort.
    pub canary: Vec<String>,
    /// Units of the baseline cohort (empty without a baseline).
    pub baseline: Vec<String>,
}

/// How many units the canary gets out of `candidates`: the count (at most what leaves an equal baseline),
/// or the percentage rounded up, at least one.
pub fn cohort_size(size: CohortSize, candidates: usize, baseline: bool) -> usize {
    let wanted = match size {
        CohortSize::Count(count) => count as usize,
        CohortSize::Percentage(percentage) => (candidates * usize::from(percentage)).div_ceil(100).max(1),
    };
    let room = if baseline { candidates / 2 } else { candidates };
    wanted.min(room)
}

/// Draws the canary and an equal-sized, disjoint baseline from `units` with a generator seeded by `seed`:
/// the same units and seed always draw the same cohorts, whatever order the units were listed in.
pub fn draw(units: &[String], size: CohortSize, baseline: bool, seed: u64) -> Draw {
    let mut sorted: Vec<String> = units.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let n = cohort_size(size, sorted.len(), baseline);
    fastrand::Rng::with_seed(seed).shuffle(&mut sorted);
    let mut canary: Vec<String> = sorted[..n].to_vec();
    let mut drawn_baseline: Vec<String> = if baseline { sorted[n..2 * n].to_vec() } else { Vec::new() };
    canary.sort();
    drawn_baseline.sort();
    Draw { canary, baseline: drawn_baseline }
}

/// The seed of a run's draw, from its run id (hex digits of the plan hash).
pub fn seed_of(run_id: &str) -> u64 {
    u64::from_str_radix(&run_id[..run_id.len().min(16)], 16).unwrap_or(0)
}

/// Whether an object can be drawn: in one of the plan's namespaces (if any), matching its selector (if any),
/// not being deleted.
pub fn is_candidate(selection: &CohortSelection, selector: Option<&LabelSelector>, object: &Value) -> bool {
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let deleting = object["metadata"].get("deletionTimestamp").is_some_and(|t| !t.is_null());
    !deleting
        && (selection.namespaces.is_empty() || selection.namespaces.iter().any(|n| n == namespace))
        && selector.is_none_or(|s| s.matches(object))
}

/// The unit of an object when the cohort is drawn from objects.
pub fn object_unit(key: &ObjectKey) -> String {
    format!("{}/{}/{}", key.namespace, key.kind, key.name)
}

/// The name of the owner a follower points to, through its label or field.
pub fn owner_name<'a>(follower: &FollowerKind, object: &'a Value) -> Option<&'a str> {
    if let Some(label) = &follower.owner.label {
        return object["metadata"]["labels"][label.as_str()].as_str();
    }
    let path = follower.owner.field.as_deref()?;
    let mut node = object;
    for part in path.trim_start_matches('.').split('.') {
        node = node.get(part)?;
    }
    node.as_str()
}

/// The names an owner gives its followers at `path` (`.spec.steps[*].analysis.templates[*].templateName`),
/// where `[*]` walks every item of a list.
pub fn referenced_names<'a>(owner: &'a Value, path: &str) -> Vec<&'a str> {
    let mut nodes = vec![owner];
    for part in path.trim_start_matches('.').split('.') {
        let (key, every_item) = part.strip_suffix("[*]").map_or((part, false), |key| (key, true));
        nodes = nodes
            .into_iter()
            .filter_map(|node| node.get(key))
            .flat_map(|node| match (every_item, node.as_array()) {
                (true, Some(items)) => items.iter().collect(),
                (true, None) => Vec::new(),
                (false, _) => vec![node],
            })
            .collect();
    }
    nodes.into_iter().filter_map(Value::as_str).collect()
}

/// The followers their owners name (`referencedAt`), each with the units of every owner that names it, by
/// the follower's unit (`namespace/Kind/name`, in its owner's namespace).
fn named_followers(canary: &CanaryPolicy, owners: &[Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut named: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for follower in &canary.cohort.followers {
        let Some(path) = follower.owner.referenced_at.as_deref() else { continue };
        for owner in owners.iter().filter(|o| o["kind"] == follower.owner.kind.as_str()) {
            let key = ObjectKey::of(owner);
            for name in referenced_names(owner, path) {
                let unit = format!("{}/{}/{name}", key.namespace, follower.kind);
                named.entry(unit).or_default().insert(object_unit(&key));
            }
        }
    }
    named
}

/// One object of a cohort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CohortMember {
    /// The object.
    pub key: ObjectKey,
    /// Its uid when drawn (events and dependents point to it).
    pub uid: String,
    /// Its cohort.
    pub cohort: Cohort,
    /// The marker's value before the run marked it (None: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<String>,
}

/// The cohorts drawn: the units (objects or namespaces) and every member with its cohort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The drawn units.
    pub units: Draw,
    /// Every object the canary marks or measures.
    pub members: Vec<CohortMember>,
}

/// Assigns the live objects to cohorts: the canary and an equal baseline drawn from the candidates among
/// `drawn_objects` (by object, or by namespace with namespace scoping), `followers` with their owner (or
/// their namespace), and with an equality-only selector every other object to the stable cohort; each
/// member with the marker's current value. Err when nothing can be drawn.
pub fn assign_cohorts(
    canary: &CanaryPolicy,
    selector: Option<&LabelSelector>,
    drawn_objects: &[Value],
    followers: &[Value],
    seed: u64,
) -> Result<Assignment, String> {
    let by_namespace = matches!(canary.scoping.mechanism, ScopingMechanism::Namespaces);
    let named = if by_namespace { BTreeMap::new() } else { named_followers(canary, drawn_objects) };
    // An owner that shares a follower with another owner cannot be drawn: marking the follower for its
    // cohort would hide it from the other owner's operator.
    let shares_a_follower = |object: &Value| {
        let unit = object_unit(&ObjectKey::of(object));
        named.values().any(|owners| owners.len() > 1 && owners.contains(&unit))
    };
    let candidates: Vec<&Value> =
        drawn_objects.iter().filter(|o| is_candidate(&canary.cohort, selector, o) && !shares_a_follower(o)).collect();
    let unit_of = |object: &Value| {
        let key = ObjectKey::of(object);
        if by_namespace {
            key.namespace
        } else {
            object_unit(&key)
        }
    };
    let units: Vec<String> = candidates.iter().map(|o| unit_of(o)).collect();
    let Some(size) = canary.cohort.size() else { return Err("the cohort has no size".to_owned()) };
    let drawn = draw(&units, size, canary.baseline, seed);
    if drawn.canary.is_empty() {
        return Err(format!(
            "no cohort can be drawn: {} candidate objects{}",
            candidates.len(),
            if canary.baseline { " (the canary and the baseline need one each)" } else { "" }
        ));
    }
    let cohort_of_unit: BTreeMap<&str, Cohort> = drawn
        .canary
        .iter()
        .map(|u| (u.as_str(), Cohort::Canary))
        .chain(drawn.baseline.iter().map(|u| (u.as_str(), Cohort::Baseline)))
        .collect();
    let marker = (!by_namespace).then(|| marker_of(canary));
    let prior = |object: &Value| {
        marker.as_ref().and_then(|(m, key)| object["metadata"][m.section()][key.as_str()].as_str().map(str::to_owned))
    };
    let member = |object: &Value, cohort: Cohort| CohortMember {
        key: ObjectKey::of(object),
        uid: object["metadata"]["uid"].as_str().unwrap_or_default().to_owned(),
        cohort,
        prior: prior(object),
    };
    let mut members = Vec::new();
    let mut owner_cohort: BTreeMap<String, Cohort> = BTreeMap::new();
    for object in drawn_objects {
        let cohort = if candidates.iter().any(|c| std::ptr::eq(*c, object)) {
            cohort_of_unit.get(unit_of(object).as_str()).copied()
        } else {
            None
        };
        let cohort = match (cohort, by_namespace) {
            (Some(c), _) => Some(c),
            // Namespace scoping: every object of a drawn namespace belongs to its cohort.
            (None, true) => cohort_of_unit.get(ObjectKey::of(object).namespace.as_str()).copied(),
            (None, false) => None,
        };
        let key = ObjectKey::of(object);
        match cohort {
            Some(c) => {
                owner_cohort.insert(format!("{}/{}/{}", key.namespace, key.kind, key.name), c);
                members.push(member(object, c));
            }
            None if marks_stable(canary) => members.push(member(object, Cohort::Stable)),
            None => {}
        }
    }
    for object in followers {
        let key = ObjectKey::of(object);
        let follower = canary.cohort.followers.iter().find(|f| f.kind == key.kind);
        let cohort = match follower {
            _ if by_namespace => cohort_of_unit.get(key.namespace.as_str()).copied(),
            Some(f) if f.owner.referenced_at.is_some() => match named.get(&object_unit(&key)) {
                Some(owners) if owners.len() == 1 => owners.first().and_then(|o| owner_cohort.get(o)).copied(),
                _ => None,
            },
            Some(f) => owner_name(f, object)
                .and_then(|name| owner_cohort.get(&format!("{}/{}/{name}", key.namespace, f.owner.kind)))
                .copied(),
            None => None,
        };
        match cohort {
            Some(c) => members.push(member(object, c)),
            None if marks_stable(canary) => members.push(member(object, Cohort::Stable)),
            None => {}
        }
    }
    Ok(Assignment { units: drawn, members })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::file::OwnerPointer;
    use serde_json::json;

    fn units(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("default/Widget/w-{i:02}")).collect()
    }

    #[test]
    fn sizes_round_up_and_leave_room_for_an_equal_baseline() {
        assert_eq!(cohort_size(CohortSize::Percentage(10), 40, true), 4);
        assert_eq!(cohort_size(CohortSize::Percentage(10), 41, true), 5);
        assert_eq!(cohort_size(CohortSize::Percentage(1), 3, false), 1);
        assert_eq!(cohort_size(CohortSize::Count(5), 6, true), 3);
        assert_eq!(cohort_size(CohortSize::Count(5), 6, false), 5);
        assert_eq!(cohort_size(CohortSize::Count(1), 1, true), 0);
    }

    #[test]
    fn a_draw_is_disjoint_equal_sized_and_the_same_for_the_same_seed_in_any_order() {
        let all = units(40);
        let first = draw(&all, CohortSize::Percentage(10), true, 7);
        assert_eq!((first.canary.len(), first.baseline.len()), (4, 4));
        assert!(first.canary.iter().all(|u| !first.baseline.contains(u)));
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(draw(&reversed, CohortSize::Percentage(10), true, 7), first);
        assert_ne!(draw(&all, CohortSize::Percentage(10), true, 8), first);
        assert!(draw(&all, CohortSize::Count(3), false, 7).baseline.is_empty());
    }

    #[test]
    fn seeds_differ_between_runs() {
        assert_ne!(seed_of("0a1b2c3d4e"), seed_of("0a1b2c3d4f"));
        assert_eq!(seed_of("zz"), 0);
    }

    #[test]
    fn followers_name_their_owner_by_label_or_field() {
        let by_label = FollowerKind {
            group: "kafka.strimzi.io".into(),
            kind: "KafkaNodePool".into(),
            owner: OwnerPointer {
                kind: "Kafka".into(),
                label: Some("strimzi.io/cluster".into()),
                field: None,
                referenced_at: None,
            },
        };
        let pool = json!({"metadata": {"labels": {"strimzi.io/cluster": "my-cluster"}}});
        assert_eq!(owner_name(&by_label, &pool), Some("my-cluster"));
        let by_field = FollowerKind {
            group: "postgresql.cnpg.io".into(),
            kind: "Pooler".into(),
            owner: OwnerPointer {
                kind: "Cluster".into(),
                label: None,
                field: Some(".spec.cluster.name".into()),
                referenced_at: None,
            },
        };
        assert_eq!(owner_name(&by_field, &json!({"spec": {"cluster": {"name": "pg"}}})), Some("pg"));
        assert_eq!(owner_name(&by_field, &json!({"spec": {}})), None);
    }

    fn canary(mechanism: ScopingMechanism, followers: Vec<FollowerKind>) -> CanaryPolicy {
        let text = serde_json::json!({
            "cohort": {"resources": [{"group": "kafka.strimzi.io", "kind": "Kafka"}], "count": 1},
            "scoping": {"mechanism": "namespaces"},
        });
        let mut policy: CanaryPolicy = serde_json::from_value(text).unwrap();
        policy.scoping.mechanism = mechanism;
        policy.cohort.followers = followers;
        policy
    }

    fn kafka(namespace: &str, name: &str, cohort: Option<&str>) -> Value {
        let labels = cohort.map_or(json!({}), |c| json!({"operator-upgrade.dev/cohort": c}));
        json!({"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "Kafka",
            "metadata": {"namespace": namespace, "name": name, "uid": format!("uid-{name}"), "labels": labels}})
    }

    fn pool(namespace: &str, name: &str, cluster: &str) -> Value {
        json!({"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaNodePool",
            "metadata": {"namespace": namespace, "name": name, "labels": {"strimzi.io/cluster": cluster}}})
    }

    fn node_pools() -> FollowerKind {
        FollowerKind {
            group: "kafka.strimzi.io".into(),
            kind: "KafkaNodePool".into(),
            owner: OwnerPointer {
                kind: "Kafka".into(),
                label: Some("strimzi.io/cluster".into()),
                field: None,
                referenced_at: None,
            },
        }
    }

    fn cohort_of(assignment: &Assignment, name: &str) -> Option<Cohort> {
        assignment.members.iter().find(|m| m.key.name == name).map(|m| m.cohort)
    }

    #[test]
    fn followers_join_their_owners_cohort_and_equality_only_marks_everyone_else_stable() {
        use crate::plan::file::{LabelSelectorScoping, SelectorSyntax};
        let equality = ScopingMechanism::LabelSelector(LabelSelectorScoping { syntax: SelectorSyntax::EqualityOnly });
        let policy = canary(equality, vec![node_pools()]);
        let kafkas = vec![kafka("k", "a", Some("old")), kafka("k", "b", None), kafka("k", "c", None)];
        let pools = vec![pool("k", "a-pool", "a"), pool("k", "b-pool", "b"), pool("k", "c-pool", "c")];
        let assignment = assign_cohorts(&policy, None, &kafkas, &pools, 3).unwrap();
        assert_eq!((assignment.units.canary.len(), assignment.units.baseline.len()), (1, 1));
        for (kafka, pool) in [("a", "a-pool"), ("b", "b-pool"), ("c", "c-pool")] {
            assert_eq!(cohort_of(&assignment, kafka), cohort_of(&assignment, pool), "{pool} follows {kafka}");
        }
        let stable = assignment.members.iter().filter(|m| m.cohort == Cohort::Stable).count();
        assert_eq!(stable, 2, "the undrawn Kafka and its pool are marked stable");
        let a = assignment.members.iter().find(|m| m.key.name == "a").unwrap();
        assert_eq!((a.prior.as_deref(), a.uid.as_str()), (Some("old"), "uid-a"));
    }

    #[test]
    fn namespace_scoping_draws_namespaces_and_takes_every_object_in_them() {
        let policy = canary(ScopingMechanism::Namespaces, vec![node_pools()]);
        let kafkas = vec![kafka("n1", "a", None), kafka("n1", "b", None), kafka("n2", "c", None)];
        let pools = vec![pool("n1", "a-pool", "a"), pool("n2", "c-pool", "c")];
        let assignment = assign_cohorts(&policy, None, &kafkas, &pools, 1).unwrap();
        let canary_ns = &assignment.units.canary;
        assert_eq!(canary_ns.len(), 1);
        let in_canary: Vec<&str> = assignment
            .members
            .iter()
            .filter(|m| m.cohort == Cohort::Canary)
            .map(|m| m.key.namespace.as_str())
            .collect();
        assert!(in_canary.iter().all(|n| *n == canary_ns[0].as_str()));
        assert_eq!(assignment.members.len(), 5, "every object of both namespaces is a member");
        assert!(assignment.members.iter().all(|m| m.prior.is_none()), "namespace scoping marks nothing");
    }

    #[test]
    fn a_draw_needs_candidates_for_the_canary_and_the_baseline() {
        let policy = canary(ScopingMechanism::Namespaces, vec![]);
        let error = assign_cohorts(&policy, None, &[kafka("n1", "a", None)], &[], 1).unwrap_err();
        assert!(error.contains("1 candidate objects (the canary and the baseline need one each)"), "{error}");
    }

    fn rollout(name: &str, templates: &[&str]) -> Value {
        let templates: Vec<Value> = templates.iter().map(|t| json!({"templateName": t})).collect();
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"namespace": "r", "name": name, "uid": format!("uid-{name}")},
            "spec": {"strategy": {"canary": {"steps": [{"setWeight": 50}, {"analysis": {"templates": templates}}]}}}})
    }

    fn template(name: &str) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate", "metadata": {"namespace": "r", "name": name}})
    }

    const STEPS_TEMPLATES: &str = ".spec.strategy.canary.steps[*].analysis.templates[*].templateName";

    #[test]
    fn an_owner_names_its_followers_at_a_path_with_lists() {
        let owner = rollout("a", &["t1", "t2"]);
        assert_eq!(referenced_names(&owner, STEPS_TEMPLATES), ["t1", "t2"]);
        assert!(referenced_names(&owner, ".spec.strategy.blueGreen.prePromotionAnalysis.templates[*].templateName")
            .is_empty());
        assert!(referenced_names(&json!({"spec": {"strategy": {"canary": {"steps": {}}}}}), STEPS_TEMPLATES).is_empty());
    }

    /// Argo Rollouts' controller sees only the AnalysisTemplates of its own instance id: a Rollout's templates
    /// follow it into its cohort, and Rollouts sharing a template are never drawn (the template must stay
    /// visible to both controllers).
    #[test]
    fn followers_named_by_their_owner_follow_it_and_shared_ones_keep_their_owners_out_of_the_draw() {
        use crate::plan::file::ControllerIdScoping;
        let label = ControllerIdScoping {
            annotation: None,
            label: Some("argo-rollouts.argoproj.io/controller-instance-id".into()),
        };
        let templates = FollowerKind {
            group: "argoproj.io".into(),
            kind: "AnalysisTemplate".into(),
            owner: OwnerPointer {
                kind: "Rollout".into(),
                label: None,
                field: None,
                referenced_at: Some(STEPS_TEMPLATES.into()),
            },
        };
        let mut policy = canary(ScopingMechanism::ControllerId(label), vec![templates]);
        policy.cohort.resources[0].kind = "Rollout".into();
        let rollouts =
            vec![rollout("a", &["a-t"]), rollout("b", &["shared"]), rollout("c", &["shared"]), rollout("d", &["d-t"])];
        let followers = vec![template("a-t"), template("shared"), template("d-t")];
        for seed in 0..20 {
            let assignment = assign_cohorts(&policy, None, &rollouts, &followers, seed).unwrap();
            let drawn: BTreeSet<&str> =
                assignment.units.canary.iter().chain(&assignment.units.baseline).map(String::as_str).collect();
            assert_eq!(drawn, BTreeSet::from(["r/Rollout/a", "r/Rollout/d"]), "seed {seed}");
            assert_eq!(cohort_of(&assignment, "a-t"), cohort_of(&assignment, "a"));
            assert_eq!(cohort_of(&assignment, "d-t"), cohort_of(&assignment, "d"));
            assert_eq!(cohort_of(&assignment, "shared"), None, "a shared template stays with the stable operator");
        }
    }
}

//! Users changing specs (the scenario's `churn`): every `everyMs` of simulated time, each entry draws
//! `count` of the objects of its kind that match it (namespace, label selector, not being deleted) and
//! sets its field on each to the value after the current one in its `values`. The write is a user's
//! update of the main resource: admitted as the API admits it (pruning, defaulting, validation), then a
//! store update at the listed resourceVersion, so a spec change bumps `metadata.generation`, the
//! resourceVersion moves and watchers see a MODIFIED event; status is left as it is. An operator then
//! has a new generation to catch up with, which is what an observedGeneration signal measures.
//!
//! Nothing is refused here: an entry whose field path or selector is unusable (which `Scenario::load`
//! reports) writes nothing, as does a write the API would reject or a lost race with another writer.
//! A due entry lists its kind once and tests objects only as it draws them, so a round over 10,000
//! objects costs one list and a handful of checks.

use super::{is_deleting, object_at, Env};
use crate::sim::crds;
use crate::sim::resources::ResourceType;
use crate::sim::scenario::{Churn, Scenario};
use crate::sim::selectors::LabelSelector;
use serde_json::Value;

/// Mixed into the scenario's seed so the users' draws are a sequence of their own: when a round falls
/// does not shift the names the other controllers generate.
const SEED_SALT: u64 = 0x6368_7572_6e5f_7573;

/// The users behind every churn entry of the scenario.
pub(super) struct UserChurn {
    rng: fastrand::Rng,
    /// One per scenario entry, in order.
    entries: Vec<Entry>,
}

/// One churn entry compiled, with when it is next due.
struct Entry {
    /// Simulated milliseconds at which the next round is due.
    next_due_ms: u64,
    /// The field's keys; None when the path is unusable (nothing is written).
    path: Option<Vec<String>>,
    /// None: every object; Some(None): the selector does not parse (nothing matches).
    selector: Option<Option<LabelSelector>>,
}

impl UserChurn {
    /// The users of the scenario's churn entries, each first due `everyMs` after start.
    pub(super) fn new(scenario: &Scenario) -> UserChurn {
        let entries = scenario
            .churn
            .iter()
            .map(|churn| Entry {
                next_due_ms: every_ms(churn),
                path: churn.field_path().ok().map(|keys| keys.into_iter().map(str::to_owned).collect()),
                selector: churn.label_selector.as_deref().map(|s| LabelSelector::parse(s).ok()),
            })
            .collect();
        UserChurn { rng: fastrand::Rng::with_seed(scenario.seed ^ SEED_SALT), entries }
    }

    /// Runs every entry that is due: one round each, however late the tick (no catch-up bursts).
    pub(super) fn sync(&mut self, env: &Env<'_>) {
        let mut types: Option<Vec<ResourceType>> = None;
        for (churn, entry) in env.scenario.churn.iter().zip(&mut self.entries) {
            if env.now_ms < entry.next_due_ms {
                continue;
            }
            let every = every_ms(churn);
            let rounds = (env.now_ms - entry.next_due_ms) / every + 1;
            entry.next_due_ms = entry.next_due_ms.saturating_add(every.saturating_mul(rounds));
            let types = types.get_or_insert_with(|| env.state.types());
            round(env, &mut self.rng, churn, entry, types);
        }
    }
}

/// The entry's period; a zero one (which `Scenario::load` refuses) runs every tick.
fn every_ms(churn: &Churn) -> u64 {
    churn.every_ms.max(1)
}

/// One round of an entry: list once, draw `count` of the matching objects, change each.
fn round(env: &Env<'_>, rng: &mut fastrand::Rng, churn: &Churn, entry: &Entry, types: &[ResourceType]) {
    let Some(path) = &entry.path else { return };
    let selector = match &entry.selector {
        None => None,
        Some(Some(selector)) => Some(selector),
        Some(None) => return,
    };
    let kinds: Vec<&ResourceType> = types.iter().filter(|t| t.group == churn.group && t.kind == churn.kind).collect();
    // The CRD may not be installed (yet): nothing to change.
    let Some(first) = kinds.first() else { return };
    let (mut objects, _) = env.state.store.list(&first.group_resource(), churn.namespace.as_deref());
    let matches = |o: &Value| !is_deleting(o) && selector.is_none_or(|s| s.matches(o));
    // A partial Fisher-Yates shuffle that tests each object as it is drawn: the chosen ones are a uniform
    // draw without repetition among the matching, and a round usually looks at a handful of objects.
    let mut chosen = Vec::with_capacity(churn.count.min(objects.len()));
    let mut drawn = 0;
    while chosen.len() < churn.count && drawn < objects.len() {
        let other = rng.usize(drawn..objects.len());
        objects.swap(drawn, other);
        if matches(&objects[drawn]) {
            chosen.push(drawn);
        }
        drawn += 1;
    }
    for object in chosen.into_iter().map(|index| &objects[index]) {
        let resource_type = kinds.iter().find(|t| object["apiVersion"] == t.api_version().as_str()).unwrap_or(first);
        change(env, resource_type, object, path, &churn.values);
    }
}

/// Sets the field of one object to its next value, as a user's update would; writes nothing when there
/// is no other value, something that is not an object is in the way, or the API would refuse the write.
fn change(env: &Env<'_>, resource_type: &ResourceType, current: &Value, path: &[String], values: &[Value]) {
    let Some((last, parents)) = path.split_last() else { return };
    let present = path.iter().try_fold(current, |node, key| node.get(key.as_str())).unwrap_or(&Value::Null);
    let Some(value) = next_value(values, present) else { return };
    let mut object = current.clone();
    let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
    let Some(parent) = object_at(&mut object, &parents) else { return };
    parent.insert(last.clone(), value.clone());
    let Ok(admitted) = crds::admit(env.state, resource_type, Some(current), object, false) else { return };
    // Pruned away (a field the schema does not know): the API would write nothing either.
    if admitted == *current {
        return;
    }
    let version = current["metadata"]["resourceVersion"].as_str().unwrap_or_default();
    // A conflict (another writer got there first since the list) or a deletion: this round skips it.
    let _ = env.state.store.update(&resource_type.group_resource(), admitted, Some(version));
}

/// The first value after `current` in `values` (cyclically) that differs from it; from the start when
/// `current` is not among them. None when every value equals `current`.
fn next_value<'a>(values: &'a [Value], current: &Value) -> Option<&'a Value> {
    let start = values.iter().position(|v| v == current).map_or(0, |index| index + 1);
    (0..values.len()).map(|offset| &values[(start + offset) % values.len()]).find(|v| *v != current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_next_value_differs_from_the_current_one() {
        let values = [json!(1), json!(2), json!(3)];
        assert_eq!(next_value(&values, &json!(1)), Some(&json!(2)));
        assert_eq!(next_value(&values, &json!(3)), Some(&json!(1)));
        assert_eq!(next_value(&values, &json!(7)), Some(&json!(1)));
        assert_eq!(next_value(&values, &Value::Null), Some(&json!(1)));
        assert_eq!(next_value(&[json!(1), json!(1), json!(2)], &json!(1)), Some(&json!(2)));
        assert_eq!(next_value(&[json!(1)], &json!(1)), None);
        assert_eq!(next_value(&[], &json!(1)), None);
    }
}

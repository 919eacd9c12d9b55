//! What a simulated operator container reconciles (its scope, read from its env vars and arguments the
//! way real operators read it) and which objects its image always fails on.

use crate::sim::scenario::{ObjectMatch, ScopeSource, DEFAULT_CONTROLLER_ID_ANNOTATION};
use crate::sim::selectors::LabelSelector;
use crate::sim::table::json_path;
use serde_json::Value;

/// The objects one operator container reconciles.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Scope {
    /// None: every namespace.
    namespaces: Option<Vec<String>>,
    /// Requirements from every configured source, all of which must hold.
    selector: LabelSelector,
    /// Controller-id scoping (prometheus-operator's `--controller-id`): the annotation, and the id the
    /// operator runs with (empty: none, so it takes only objects without the annotation or with it empty).
    controller_id: Option<(String, String)>,
}

impl Scope {
    /// Reads the scope from the container as the scenario says the operator does. A selector that does
    /// not parse is an error (a real operator would exit at start-up).
    pub(crate) fn of_container(pod: &Value, container: &Value, source: &ScopeSource) -> Result<Scope, String> {
        let mut scope = Scope::default();
        if let Some(variable) = &source.namespaces_env {
            let listed: Vec<String> = env_value(pod, container, variable)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            // `WATCH_NAMESPACE=""` means every namespace, the operator-sdk convention.
            scope.namespaces = (!listed.is_empty()).then_some(listed);
        }
        let env_selector = source.label_selector_env.as_deref().and_then(|v| env_value(pod, container, v));
        let arg_selector = source.label_selector_arg.as_deref().and_then(|f| flag_value(container, f));
        for text in [env_selector, arg_selector].into_iter().flatten() {
            let selector = LabelSelector::parse(text).map_err(|e| e.to_string())?;
            scope.selector.0.extend(selector.0);
        }
        if let Some(flag) = &source.controller_id_arg {
            let annotation = source.controller_id_annotation.as_deref().unwrap_or(DEFAULT_CONTROLLER_ID_ANNOTATION);
            let id = flag_value(container, flag).unwrap_or_default();
            scope.controller_id = Some((annotation.to_owned(), id.to_owned()));
        }
        Ok(scope)
    }

    /// Whether an object is in the scope.
    pub(crate) fn contains(&self, object: &Value) -> bool {
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
        self.namespaces.as_ref().is_none_or(|n| n.iter().any(|n| n == namespace))
            && self.selector.matches(object)
            && self.controller_id.as_ref().is_none_or(|(annotation, id)| {
                let value = object["metadata"]["annotations"][annotation.as_str()].as_str().unwrap_or_default();
                value == id
            })
    }

    /// The one namespace the scope is limited to, so only that namespace needs listing.
    pub(super) fn single_namespace(&self) -> Option<&str> {
        match self.namespaces.as_deref() {
            Some([only]) => Some(only),
            _ => None,
        }
    }
}

/// An env var's value: a literal `value`, or the pod's namespace or name through a `fieldRef` (the usual
/// way `WATCH_NAMESPACE` is set). Other sources (ConfigMaps, Secrets) count as unset.
pub(crate) fn env_value<'a>(pod: &'a Value, container: &'a Value, name: &str) -> Option<&'a str> {
    let variable = container["env"].as_array()?.iter().rev().find(|v| v["name"].as_str() == Some(name))?;
    if let Some(value) = variable["value"].as_str() {
        return Some(value);
    }
    match variable["valueFrom"]["fieldRef"]["fieldPath"].as_str()? {
        "metadata.namespace" => pod["metadata"]["namespace"].as_str(),
        "metadata.name" => pod["metadata"]["name"].as_str(),
        _ => None,
    }
}

/// A flag's value from the container's command and args, `--flag=value` or `--flag value` (one or two
/// dashes, with or without them in the scenario); the last occurrence wins, as with Go's flag package.
pub(crate) fn flag_value<'a>(container: &'a Value, flag: &str) -> Option<&'a str> {
    let flag = flag.trim_start_matches('-');
    let words: Vec<&str> = ["command", "args"]
        .iter()
        .filter_map(|key| container[*key].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut found = None;
    for (index, word) in words.iter().enumerate() {
        let Some(body) = word.strip_prefix('-').map(|w| w.trim_start_matches('-')) else { continue };
        if body == flag {
            found = words.get(index + 1).copied().or(found);
        } else if let Some(value) = body.strip_prefix(flag).and_then(|rest| rest.strip_prefix('=')) {
            found = Some(value);
        }
    }
    found
}

/// A boolean flag from the container's command and args: `--flag` or `--flag=true` is true,
/// `--flag=false` (or `--flag false`, as the scenario allows) false; the last occurrence wins; None when
/// absent or unreadable.
pub(crate) fn flag_bool(container: &Value, flag: &str) -> Option<bool> {
    let flag = flag.trim_start_matches('-');
    let words: Vec<&str> = ["command", "args"]
        .iter()
        .filter_map(|key| container[*key].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let parse = |text: &str| match text {
        "true" | "True" | "TRUE" | "t" | "T" | "1" => Some(true),
        "false" | "False" | "FALSE" | "f" | "F" | "0" => Some(false),
        _ => None,
    };
    let mut found = None;
    for (index, word) in words.iter().enumerate() {
        let Some(body) = word.strip_prefix('-').map(|w| w.trim_start_matches('-')) else { continue };
        if body == flag {
            found = Some(words.get(index + 1).and_then(|next| parse(next)).unwrap_or(true));
        } else if let Some(value) = body.strip_prefix(flag).and_then(|rest| rest.strip_prefix('=')) {
            found = parse(value).or(found);
        }
    }
    found
}

/// A compiled `failOn` rule: every part given must match.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FailRule {
    /// None when the rule has no label selector; an unparsable one matches nothing.
    selector: Option<Result<LabelSelector, ()>>,
    field: Option<String>,
    equals: Option<Value>,
    /// How the rule reads in error messages.
    description: String,
}

impl FailRule {
    /// Compiles a rule from the scenario.
    pub(crate) fn compile(rule: &ObjectMatch) -> FailRule {
        let selector = rule.label_selector.as_deref().map(|s| LabelSelector::parse(s).map_err(|_| ()));
        let mut parts = Vec::new();
        if let Some(selector) = &rule.label_selector {
            parts.push(format!("labels {selector}"));
        }
        if let Some(field) = &rule.field {
            match &rule.equals {
                Some(value) => parts.push(format!("{field} == {value}")),
                None => parts.push(format!("{field} is set")),
            }
        }
        FailRule { selector, field: rule.field.clone(), equals: rule.equals.clone(), description: parts.join(", ") }
    }

    /// Whether the rule matches an object. A rule with neither a selector nor a field matches nothing:
    /// an empty entry in a scenario is more likely a mistake than "fail everything". A field without
    /// `equals` matches when the field is present.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        if self.selector.is_none() && self.field.is_none() {
            return false;
        }
        let labels_match = match &self.selector {
            None => true,
            Some(Ok(selector)) => selector.matches(object),
            Some(Err(())) => false,
        };
        labels_match && self.field.as_deref().is_none_or(|path| self.field_matches(object, path))
    }

    fn field_matches(&self, object: &Value, path: &str) -> bool {
        let actual = json_path(object, path);
        match &self.equals {
            Some(expected) => &actual == expected,
            None => !actual.is_null(),
        }
    }

    /// The rule as error messages quote it.
    pub(crate) fn description(&self) -> &str {
        &self.description
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "op-1", "namespace": "operators"}})
    }

    fn object(namespace: &str, labels: Value) -> Value {
        let metadata = json!({"name": "w", "namespace": namespace, "labels": labels});
        json!({"metadata": metadata, "spec": {"tier": "gold", "size": 3}})
    }

    #[test]
    fn label_selector_from_env() {
        let source = ScopeSource { label_selector_env: Some("SELECTOR".into()), ..ScopeSource::default() };
        let container =
            json!({"env": [{"name": "OTHER", "value": "x=y"}, {"name": "SELECTOR", "value": "cohort=canary"}]});
        let scope = Scope::of_container(&pod(), &container, &source).unwrap();
        assert!(scope.contains(&object("a", json!({"cohort": "canary"}))));
        assert!(!scope.contains(&object("a", json!({"cohort": "baseline"}))));
        // Unset or empty: everything.
        let scope = Scope::of_container(&pod(), &json!({}), &source).unwrap();
        assert!(scope.contains(&object("a", json!({}))));
    }

    #[test]
    fn label_selector_from_args_in_both_spellings() {
        let source =
            ScopeSource { label_selector_arg: Some("--watch-label-selector".into()), ..ScopeSource::default() };
        let equals = json!({"args": ["--metrics=:8080", "--watch-label-selector=cohort notin (canary,baseline)"]});
        let scope = Scope::of_container(&pod(), &equals, &source).unwrap();
        assert!(scope.contains(&object("a", json!({}))));
        assert!(!scope.contains(&object("a", json!({"cohort": "canary"}))));
        let separate = json!({"command": ["/manager", "-watch-label-selector", "cohort=canary"]});
        let scope = Scope::of_container(&pod(), &separate, &source).unwrap();
        assert!(scope.contains(&object("a", json!({"cohort": "canary"}))));
        assert!(!scope.contains(&object("a", json!({}))));
        // A longer flag sharing the prefix is a different flag.
        let other = json!({"args": ["--watch-label-selector-extra=x=y"]});
        assert_eq!(flag_value(&other, "watch-label-selector"), None);
        let unparsable = json!({"args": ["--watch-label-selector=tier in gold"]});
        assert!(Scope::of_container(&pod(), &unparsable, &source).is_err());
    }

    #[test]
    fn controller_id_from_args_against_the_annotation() {
        let source = ScopeSource { controller_id_arg: Some("--controller-id".into()), ..ScopeSource::default() };
        let annotated = |value: Option<&str>| {
            let mut object = object("a", json!({}));
            if let Some(value) = value {
                object["metadata"]["annotations"] = json!({DEFAULT_CONTROLLER_ID_ANNOTATION: value});
            }
            object
        };
        // With an id: only objects annotated with exactly that id.
        let canary = json!({"args": ["--log-level=info", "--controller-id=canary"]});
        let scope = Scope::of_container(&pod(), &canary, &source).unwrap();
        assert!(scope.contains(&annotated(Some("canary"))));
        assert!(!scope.contains(&annotated(Some("baseline"))));
        assert!(!scope.contains(&annotated(None)) && !scope.contains(&annotated(Some(""))));
        // Without an id (no flag, or an empty one): only objects without the annotation or with it empty.
        for container in [json!({"args": ["--log-level=info"]}), json!({"args": ["--controller-id="]})] {
            let scope = Scope::of_container(&pod(), &container, &source).unwrap();
            assert!(scope.contains(&annotated(None)) && scope.contains(&annotated(Some(""))), "{container}");
            assert!(!scope.contains(&annotated(Some("canary"))), "{container}");
        }
        // The last occurrence wins, and another annotation can be configured.
        let twice = json!({"args": ["--controller-id=a", "--controller-id", "b"]});
        let custom = ScopeSource { controller_id_annotation: Some("example.com/owner".into()), ..source.clone() };
        let scope = Scope::of_container(&pod(), &twice, &custom).unwrap();
        let mut owned = object("a", json!({}));
        owned["metadata"]["annotations"] = json!({"example.com/owner": "b"});
        assert!(scope.contains(&owned) && !scope.contains(&annotated(Some("b"))));
        // An operator without controller-id scoping ignores the annotation.
        let plain = Scope::of_container(&pod(), &canary, &ScopeSource::default()).unwrap();
        assert!(plain.contains(&annotated(Some("other"))) && plain.contains(&annotated(None)));
    }

    #[test]
    fn strimzi_selector_and_lease_from_env() {
        // STRIMZI_CUSTOM_RESOURCE_SELECTOR as the plan's equalityOnly mechanism writes it.
        let source = ScopeSource {
            label_selector_env: Some("STRIMZI_CUSTOM_RESOURCE_SELECTOR".into()),
            ..ScopeSource::default()
        };
        let env = |selector: &str| json!({"env": [{"name": "STRIMZI_CUSTOM_RESOURCE_SELECTOR", "value": selector}]});
        let scope = Scope::of_container(&pod(), &env("operator-upgrade.dev/cohort=stable"), &source).unwrap();
        assert!(scope.contains(&object("kafka", json!({"operator-upgrade.dev/cohort": "stable"}))));
        assert!(!scope.contains(&object("kafka", json!({}))));
        assert!(!scope.contains(&object("kafka", json!({"operator-upgrade.dev/cohort": "canary"}))));
    }

    #[test]
    fn boolean_flags_in_every_spelling() {
        let args = |words: Value| json!({ "args": words });
        assert_eq!(flag_bool(&args(json!(["--leader-elect", "--metrics=:8080"])), "--leader-elect"), Some(true));
        assert_eq!(flag_bool(&args(json!(["--leader-elect=false"])), "leader-elect"), Some(false));
        assert_eq!(flag_bool(&args(json!(["--leader-elect", "false"])), "--leader-elect"), Some(false));
        assert_eq!(flag_bool(&args(json!(["-leader-elect=true"])), "--leader-elect"), Some(true));
        assert_eq!(flag_bool(&args(json!(["--leader-elect=false", "--leader-elect"])), "--leader-elect"), Some(true));
        assert_eq!(flag_bool(&args(json!(["--leader-elect-id=x"])), "--leader-elect"), None);
        assert_eq!(flag_bool(&args(json!(["--leader-elect=maybe"])), "--leader-elect"), None);
        assert_eq!(flag_bool(&json!({}), "--leader-elect"), None);
    }

    #[test]
    fn namespaces_from_env_literal_or_field_ref() {
        let source = ScopeSource { namespaces_env: Some("WATCH_NAMESPACE".into()), ..ScopeSource::default() };
        let listed = json!({"env": [{"name": "WATCH_NAMESPACE", "value": "a, b"}]});
        let scope = Scope::of_container(&pod(), &listed, &source).unwrap();
        assert!(scope.contains(&object("a", json!({}))) && scope.contains(&object("b", json!({}))));
        assert!(!scope.contains(&object("c", json!({}))));
        assert_eq!(scope.single_namespace(), None);
        let field_ref = json!({"fieldRef": {"fieldPath": "metadata.namespace"}});
        let own = json!({"env": [{"name": "WATCH_NAMESPACE", "valueFrom": field_ref}]});
        let scope = Scope::of_container(&pod(), &own, &source).unwrap();
        assert_eq!(scope.single_namespace(), Some("operators"));
        let all = json!({"env": [{"name": "WATCH_NAMESPACE", "value": ""}]});
        assert!(Scope::of_container(&pod(), &all, &source).unwrap().contains(&object("c", json!({}))));
    }

    #[test]
    fn fail_rules_by_labels_and_fields() {
        let rule = |m: ObjectMatch| FailRule::compile(&m);
        let gold = object("a", json!({"tier": "gold"}));
        let plain = object("a", json!({}));
        let by_label = rule(ObjectMatch { label_selector: Some("tier=gold".into()), ..ObjectMatch::default() });
        assert!(by_label.matches(&gold) && !by_label.matches(&plain));
        let by_field = rule(ObjectMatch {
            field: Some(".spec.tier".into()),
            equals: Some(json!("gold")),
            ..ObjectMatch::default()
        });
        assert!(by_field.matches(&plain));
        let by_number =
            rule(ObjectMatch { field: Some(".spec.size".into()), equals: Some(json!(4)), ..ObjectMatch::default() });
        assert!(!by_number.matches(&plain));
        let present = rule(ObjectMatch { field: Some(".spec.size".into()), ..ObjectMatch::default() });
        assert!(present.matches(&plain));
        let both = rule(ObjectMatch {
            label_selector: Some("tier=gold".into()),
            field: Some(".spec.size".into()),
            equals: Some(json!(3)),
        });
        assert!(both.matches(&gold) && !both.matches(&plain));
        assert!(!rule(ObjectMatch::default()).matches(&gold));
        assert!(
            !rule(ObjectMatch { label_selector: Some("tier in gold".into()), ..ObjectMatch::default() }).matches(&gold)
        );
        assert_eq!(both.description(), "labels tier=gold, .spec.size == 3");
    }
}

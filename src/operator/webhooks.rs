//! Mutating and validating webhook configurations, webhook by webhook (matched by name): client
//! (service, path, port or URL), rules, failurePolicy, selectors and match conditions, and call settings.
//!
//! CRD conversion webhooks are not handled here: CRDs are not among the objects this module sees, and the
//! CRD diff already reports a changed conversion service, path, port, URL or review versions as
//! `conversion-changed` (one change is one finding).

use super::compare::{changed_settings, compact, entries_by};
use super::matching::Pair;
use super::text_diff::{normalise, remainder_finding};
use crate::findings::{FindingCode, OperatorFinding, Severity};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

pub(crate) const ADMISSION_GROUP: &str = "admissionregistration.k8s.io";
pub(crate) const CONFIGURATION_KINDS: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

/// Fields of a webhook that decide which requests it sees.
const SELECTOR_FIELDS: &[&str] = &["namespaceSelector", "objectSelector", "matchConditions", "matchPolicy"];

/// Fields of a webhook that say how the API server calls it.
const SETTINGS_FIELDS: &[&str] = &["sideEffects", "timeoutSeconds", "admissionReviewVersions", "reinvocationPolicy"];

/// Fields a specific rule reports (`name` identifies the webhook).
const COVERED_FIELDS: &[&str] = &["name", "clientConfig", "rules", "failurePolicy"];

/// The findings for a webhook configuration on either or both sides. A configuration added or removed as
/// a whole is reported webhook by webhook (`webhook-added`, `webhook-removed`), since that is what
/// changes the admission of writes; one without webhooks is an ordinary added or removed object.
pub(crate) fn diff(pair: &Pair) -> Vec<OperatorFinding> {
    let old_hooks = entries_by(pair.old.and_then(|o| o.value.get("webhooks")), "name");
    let new_hooks = entries_by(pair.new.and_then(|o| o.value.get("webhooks")), "name");
    let mut findings = Vec::new();
    if pair.old.is_none() && new_hooks.is_empty() {
        return vec![object_finding(pair, FindingCode::ObjectAdded, "added")];
    }
    if pair.new.is_none() && old_hooks.is_empty() {
        return vec![object_finding(pair, FindingCode::ObjectRemoved, "removed")];
    }
    for (name, hook) in &new_hooks {
        match old_hooks.get(name) {
            Some(old_hook) => findings.extend(webhook_pair(pair, name, old_hook, hook)),
            None => findings.push(added(pair, name, hook)),
        }
    }
    for (name, hook) in &old_hooks {
        if !new_hooks.contains_key(name) {
            findings.push(removed(pair, name, hook));
        }
    }
    if let (Some(old), Some(new)) = (pair.old, pair.new) {
        let matched: BTreeSet<&String> = old_hooks.keys().filter(|name| new_hooks.contains_key(*name)).collect();
        let (old_rest, new_rest) = (remainder(&old.value, &matched), remainder(&new.value, &matched));
        findings.extend(remainder_finding(pair, &old_rest, &new_rest, "other fields"));
    }
    findings
}

fn field(name: &str, rest: &str) -> String {
    if rest.is_empty() {
        format!("webhooks[{name}]")
    } else {
        format!("webhooks[{name}].{rest}")
    }
}

fn added(pair: &Pair, name: &str, hook: &Value) -> OperatorFinding {
    let message = format!(
        "{}: webhook {name} added ({}, failurePolicy {}) for {}",
        pair.manifest_ref(),
        describe_client(&client(hook)),
        failure_policy(hook),
        describe_rules(&rules(hook))
    );
    OperatorFinding::new(FindingCode::WebhookAdded, pair.manifest_ref(), message)
        .at_field(field(name, ""))
        .values(None, Some(client(hook)))
        .located_at(pair.location())
}

fn removed(pair: &Pair, name: &str, hook: &Value) -> OperatorFinding {
    let message = format!("{}: webhook {name} removed (was {})", pair.manifest_ref(), describe_client(&client(hook)));
    OperatorFinding::new(FindingCode::WebhookRemoved, pair.manifest_ref(), message)
        .at_field(field(name, ""))
        .values(Some(client(hook)), None)
        .located_at(pair.location())
}

fn webhook_pair(pair: &Pair, name: &str, old: &Value, new: &Value) -> Vec<OperatorFinding> {
    let finding = |code: FindingCode, rest: &str, message: String, before: Value, after: Value| {
        OperatorFinding::new(code, pair.manifest_ref(), format!("{}: webhook {name} {message}", pair.manifest_ref()))
            .at_field(field(name, rest))
            .values(Some(before), Some(after))
            .located_at(pair.location())
    };
    let mut findings = Vec::new();
    let (old_client, new_client) = (client(old), client(new));
    if old_client != new_client {
        let message = format!("calls {} instead of {}", describe_client(&new_client), describe_client(&old_client));
        findings.push(finding(FindingCode::WebhookClientChanged, "clientConfig", message, old_client, new_client));
    }
    let (old_policy, new_policy) = (failure_policy(old), failure_policy(new));
    if old_policy != new_policy {
        // Failing open (Ignore) cannot block a write; failing closed can.
        let severity = if new_policy == "Ignore" { Severity::Info } else { Severity::Warning };
        let message = format!("failurePolicy {old_policy} -> {new_policy}");
        findings.push(
            finding(
                FindingCode::WebhookFailurePolicyChanged,
                "failurePolicy",
                message,
                json!(old_policy),
                json!(new_policy),
            )
            .with_severity(severity),
        );
    }
    findings.extend(rules_finding(old, new, |message, before, after| {
        finding(FindingCode::WebhookRulesChanged, "rules", message, before, after)
    }));
    for (code, fields, what) in [
        (FindingCode::WebhookSelectorChanged, SELECTOR_FIELDS, "selection"),
        (FindingCode::WebhookSettingsChanged, SETTINGS_FIELDS, "settings"),
    ] {
        let mutating = pair.key.kind == "MutatingWebhookConfiguration";
        let (before, after) = (pick(old, fields, mutating), pick(new, fields, mutating));
        let changes = changed_settings(Some(&before), Some(&after));
        if !changes.is_empty() {
            let rest = if changes.len() == 1 { changes[0].split(':').next().unwrap_or_default() } else { "" };
            let message = format!("{what} changed: {}", changes.join(", "));
            let mut found = finding(code, "", message, before, after);
            found.field = Some(field(name, rest));
            findings.push(found);
        }
    }
    findings
}

/// `webhook-rules-changed`: a warning when more requests go through the webhook, info when it only sees
/// fewer.
fn rules_finding(
    old: &Value,
    new: &Value,
    finding: impl Fn(String, Value, Value) -> OperatorFinding,
) -> Option<OperatorFinding> {
    let (before, after) = (rules(old), rules(new));
    if before == after {
        return None;
    }
    let added: Vec<&String> = after.difference(&before).collect();
    let removed: Vec<&String> = before.difference(&after).collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("now also intercepts {}", list(&added)));
    }
    if !removed.is_empty() {
        parts.push(format!("no longer intercepts {}", list(&removed)));
    }
    let severity = if added.is_empty() { Severity::Info } else { Severity::Warning };
    Some(finding(format!("rules: {}", parts.join("; ")), json!(before), json!(after)).with_severity(severity))
}

fn list(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// The client the API server calls, with the service port defaulted and the injected caBundle left out
/// (cert-manager or the operator writes it at runtime; release manifests carry a placeholder or nothing).
fn client(hook: &Value) -> Value {
    let mut client = hook.get("clientConfig").cloned().unwrap_or(Value::Null);
    if let Value::Object(map) = &mut client {
        map.remove("caBundle");
        if let Some(Value::Object(service)) = map.get_mut("service") {
            service.entry("port").or_insert(json!(443));
        }
    }
    normalise(&client)
}

fn describe_client(client: &Value) -> String {
    if let Some(url) = client.get("url").and_then(Value::as_str) {
        return url.to_owned();
    }
    let service = client.get("service").unwrap_or(&Value::Null);
    format!(
        "service {}/{}:{}{}",
        compact(service.get("namespace")),
        compact(service.get("name")),
        compact(service.get("port")),
        service.get("path").and_then(Value::as_str).unwrap_or_default()
    )
}

/// `failurePolicy`, defaulting to `Fail` as `admissionregistration.k8s.io/v1` does.
fn failure_policy(hook: &Value) -> String {
    hook.get("failurePolicy").and_then(Value::as_str).unwrap_or("Fail").to_owned()
}

/// The rules as single `OPERATION group/version/resource (scope)` entries, so regrouping is not a change.
fn rules(hook: &Value) -> BTreeSet<String> {
    let strings = |rule: &Value, field: &str| -> Vec<String> {
        rule.get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let mut entries = BTreeSet::new();
    for rule in hook.get("rules").and_then(Value::as_array).into_iter().flatten() {
        let scope = rule.get("scope").and_then(Value::as_str).unwrap_or("*");
        for operation in strings(rule, "operations") {
            for group in strings(rule, "apiGroups") {
                for version in strings(rule, "apiVersions") {
                    for resource in strings(rule, "resources") {
                        let group = if group.is_empty() { "core".to_owned() } else { group.clone() };
                        entries.insert(format!("{operation} {group}/{version}/{resource} ({scope})"));
                    }
                }
            }
        }
    }
    entries
}

fn describe_rules(rules: &BTreeSet<String>) -> String {
    if rules.is_empty() {
        "no rules".to_owned()
    } else {
        rules.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The given fields of a webhook, with the API server's defaults filled in so that spelling a default
/// out is not a change.
fn pick(hook: &Value, fields: &[&str], mutating: bool) -> Value {
    let mut defaults = vec![("matchPolicy", json!("Equivalent")), ("timeoutSeconds", json!(10))];
    // reinvocationPolicy exists for mutating webhooks only.
    if mutating {
        defaults.push(("reinvocationPolicy", json!("Never")));
    }
    let mut picked = Map::new();
    for field in fields {
        let value = hook.get(*field).filter(|v| !v.is_null()).cloned();
        let default = defaults.iter().find(|(name, _)| name == field).map(|(_, v)| v.clone());
        if let Some(value) = value.or(default) {
            picked.insert((*field).to_owned(), normalise(&value));
        }
    }
    Value::Object(picked)
}

/// The configuration without what the specific rules report: each webhook on both sides keeps only the
/// fields no rule covers, keyed by name (added and removed webhooks have their own findings).
fn remainder(configuration: &Value, matched: &BTreeSet<&String>) -> Value {
    let mut rest = configuration.clone();
    if let Value::Object(map) = &mut rest {
        let hooks = entries_by(map.get("webhooks"), "name");
        let others: Map<String, Value> = hooks
            .into_iter()
            .map(|(name, hook)| {
                let mut hook = hook.clone();
                if let Value::Object(fields) = &mut hook {
                    for field in COVERED_FIELDS.iter().chain(SELECTOR_FIELDS).chain(SETTINGS_FIELDS) {
                        fields.remove(*field);
                    }
                }
                (name, hook)
            })
            .filter(|(name, hook)| matched.contains(name) && hook.as_object().is_some_and(|m| !m.is_empty()))
            .collect();
        map.remove("webhooks");
        if !others.is_empty() {
            map.insert("webhooks".to_owned(), Value::Object(others));
        }
    }
    rest
}

fn object_finding(pair: &Pair, code: FindingCode, what: &str) -> OperatorFinding {
    OperatorFinding::new(code, pair.manifest_ref(), format!("{} {what}", pair.manifest_ref()))
        .located_at(pair.location())
}

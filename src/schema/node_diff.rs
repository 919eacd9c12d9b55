//! The walk over two versions of one structural schema. Every node present on both sides is compared
//! keyword by keyword; a node present on one side only is one finding (`field-added` / `field-removed`),
//! never one per keyword or child.

use super::path::child_property_path;
use crate::findings::{Finding, FindingCode, Severity, Side};
use crate::manifest::{AdditionalProperties, Schema, ValidationRule};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Diffs two schemas of the same CRD version. `pruning` is whether the new CRD prunes unknown fields at
/// all (legacy CRDs with `preserveUnknownFields: true` do not), which decides whether a removed field
/// loses data.
pub fn diff_schemas(crd: &str, version: &str, old: &Schema, new: &Schema, pruning: bool) -> Vec<Finding> {
    let mut walk = Walk { crd, version, findings: Vec::new() };
    walk.node("", old, new, Context { preserved: !pruning });
    walk.findings
}

/// What the walk knows about the ancestors of the node it is comparing.
#[derive(Clone, Copy)]
struct Context {
    /// An ancestor (or the CRD) keeps unknown fields, so nothing under it is pruned.
    preserved: bool,
}

impl Context {
    fn under(self, new: &Schema) -> Context {
        Context { preserved: self.preserved || new.preserve_unknown_fields }
    }
}

struct Walk<'a> {
    crd: &'a str,
    version: &'a str,
    findings: Vec<Finding>,
}

/// What `additionalProperties` allows, with `false` and absent treated alike (both prune undeclared keys).
#[derive(PartialEq)]
enum MapValues<'a> {
    Closed,
    Any,
    Constrained(&'a Schema),
}

impl<'a> MapValues<'a> {
    fn of(schema: &'a Schema) -> MapValues<'a> {
        match &schema.additional_properties {
            None | Some(AdditionalProperties::Allowed(false)) => MapValues::Closed,
            Some(AdditionalProperties::Allowed(true)) => MapValues::Any,
            Some(AdditionalProperties::Schema(values)) => MapValues::Constrained(values),
        }
    }
}

/// Which way a numeric bound restricts values.
#[derive(Clone, Copy, PartialEq)]
enum Bound {
    Upper,
    Lower,
}

fn shown(path: &str) -> &str {
    if path.is_empty() {
        "."
    } else {
        path
    }
}

impl Walk<'_> {
    fn emit(&mut self, code: FindingCode, path: &str, message: String) -> &mut Finding {
        let finding = Finding::new(code, self.crd, message).in_version(self.version).at_path(shown(path));
        self.findings.push(finding);
        self.findings.last_mut().expect("just pushed")
    }

    fn emit_change(&mut self, code: FindingCode, path: &str, message: String, old: Option<Value>, new: Option<Value>) {
        let finding = self.emit(code, path, message);
        finding.old = old;
        finding.new = new;
    }

    fn node(&mut self, path: &str, old: &Schema, new: &Schema, context: Context) {
        if old.is_int_or_string() != new.is_int_or_string() {
            self.int_or_string_changed(path, old, new);
            // One change, one finding: the keyword and the anyOf spelling int-or-string are part of it.
            return self.keywords_and_children(path, &old.without_type(), &new.without_type(), context);
        }
        if self.type_changed(path, old, new) {
            return;
        }
        self.keywords_and_children(path, old, new, context);
    }

    fn keywords_and_children(&mut self, path: &str, old: &Schema, new: &Schema, context: Context) {
        self.documentation(path, old, new);
        self.format(path, old, new);
        self.enumeration(path, old, new);
        self.pattern(path, old, new);
        self.bounds(path, old, new);
        self.nullable(path, old, new);
        self.default(path, old, new);
        self.required(path, old, new);
        self.list_type(path, old, new);
        self.unique_items(path, old, new);
        self.preserve_unknown_fields(path, old, new);
        self.validation_rules(path, &old.validations, &new.validations);
        self.other_keywords(path, old, new);
        let context = context.under(new);
        self.properties(path, old, new, context);
        self.items(path, old, new, context);
        self.additional_properties(path, old, new, context);
        self.combinators(path, old, new, context);
    }

    /// A node that gains or loses int-or-string: one `type-changed`. Every integer (or string) stays valid when
    /// gaining it, and losing it rejects only values of the other type, so it is a warning either way.
    fn int_or_string_changed(&mut self, path: &str, old: &Schema, new: &Schema) {
        let (old_type, new_type) = (old.type_name(), new.type_name());
        let message = format!("type of {} changed from {old_type} to {new_type}", shown(path));
        let finding = self.emit(FindingCode::TypeChanged, path, message);
        finding.old = Some(json!(old_type));
        finding.new = Some(json!(new_type));
        finding.severity = Severity::Warning;
    }

    /// Reports a type change; returns true when the node is incompatible and its children are not compared.
    fn type_changed(&mut self, path: &str, old: &Schema, new: &Schema) -> bool {
        if old.type_ == new.type_ {
            return false;
        }
        let (old_type, new_type) = (old.type_.as_deref(), new.type_.as_deref());
        let both_typed = old_type.is_some() && new_type.is_some();
        let message = format!(
            "type of {} changed from {} to {}",
            shown(path),
            old_type.unwrap_or("any"),
            new_type.unwrap_or("any")
        );
        let finding = self.emit(FindingCode::TypeChanged, path, message);
        finding.old = old.type_.clone().map(Value::String);
        finding.new = new.type_.clone().map(Value::String);
        if !both_typed {
            // Gaining or losing a type (int-or-string, preserve-unknown-fields nodes) narrows or widens
            // values without making every existing one invalid.
            finding.severity = Severity::Warning;
        }
        both_typed
    }

    fn documentation(&mut self, path: &str, old: &Schema, new: &Schema) {
        let doc_keywords = ["example", "externalDocs"];
        let changed = old.description != new.description
            || old.title != new.title
            || doc_keywords.iter().any(|k| old.other.get(*k) != new.other.get(*k));
        if changed {
            self.emit(FindingCode::DescriptionChanged, path, format!("documentation of {} changed", shown(path)));
        }
    }

    fn format(&mut self, path: &str, old: &Schema, new: &Schema) {
        let code = match (&old.format, &new.format) {
            (a, b) if a == b => return,
            (None, Some(_)) => FindingCode::FormatAdded,
            (Some(_), None) => FindingCode::ConstraintRelaxed,
            (Some(_), Some(_)) => FindingCode::FormatChanged,
            (None, None) => return,
        };
        let message =
            format!("format of {} changed from {} to {}", shown(path), or_none(&old.format), or_none(&new.format));
        self.emit_change(code, path, message, opt_string(&old.format), opt_string(&new.format));
    }

    fn enumeration(&mut self, path: &str, old: &Schema, new: &Schema) {
        let status = Side::of_path(shown(path)) == Side::Status;
        match (&old.enum_, &new.enum_) {
            (None, None) => {}
            (None, Some(values)) => self.emit_change(
                FindingCode::EnumAdded,
                path,
                format!("{} is now restricted to {} values", shown(path), values.len()),
                None,
                Some(Value::Array(values.clone())),
            ),
            (Some(values), None) => self.emit_change(
                FindingCode::ConstraintRelaxed,
                path,
                format!("{} is no longer restricted to an enum", shown(path)),
                Some(Value::Array(values.clone())),
                None,
            ),
            (Some(old_values), Some(new_values)) => {
                let removed: Vec<Value> = old_values.iter().filter(|v| !new_values.contains(v)).cloned().collect();
                let added: Vec<Value> = new_values.iter().filter(|v| !old_values.contains(v)).cloned().collect();
                if !removed.is_empty() {
                    let message = format!("{} no longer accepts {}", shown(path), list(&removed));
                    let finding = self.emit(FindingCode::EnumValueRemoved, path, message);
                    finding.old = Some(Value::Array(removed));
                    if status {
                        // The operator stops writing the value; readers are not surprised and stored values ratchet.
                        finding.severity = Severity::Warning;
                    }
                }
                if !added.is_empty() {
                    let message = format!("{} also accepts {}", shown(path), list(&added));
                    let finding = self.emit(FindingCode::EnumValueAdded, path, message);
                    finding.new = Some(Value::Array(added));
                    if status {
                        // Readers of status may not handle a value they have never seen.
                        finding.severity = Severity::Warning;
                    }
                }
            }
        }
    }

    fn pattern(&mut self, path: &str, old: &Schema, new: &Schema) {
        let code = match (&old.pattern, &new.pattern) {
            (a, b) if a == b => return,
            (None, Some(_)) => FindingCode::PatternAdded,
            (Some(_), None) => FindingCode::PatternRemoved,
            _ => FindingCode::PatternChanged,
        };
        let message =
            format!("pattern of {} changed from {} to {}", shown(path), or_none(&old.pattern), or_none(&new.pattern));
        self.emit_change(code, path, message, opt_string(&old.pattern), opt_string(&new.pattern));
    }

    fn bounds(&mut self, path: &str, old: &Schema, new: &Schema) {
        let as_f64 = |v: Option<u64>| v.map(|v| v as f64);
        let numeric = [
            ("maximum", Bound::Upper, old.maximum, new.maximum, old.exclusive_maximum, new.exclusive_maximum),
            ("minimum", Bound::Lower, old.minimum, new.minimum, old.exclusive_minimum, new.exclusive_minimum),
            ("maxLength", Bound::Upper, as_f64(old.max_length), as_f64(new.max_length), false, false),
            ("minLength", Bound::Lower, as_f64(old.min_length), as_f64(new.min_length), false, false),
            ("maxItems", Bound::Upper, as_f64(old.max_items), as_f64(new.max_items), false, false),
            ("minItems", Bound::Lower, as_f64(old.min_items), as_f64(new.min_items), false, false),
            ("maxProperties", Bound::Upper, as_f64(old.max_properties), as_f64(new.max_properties), false, false),
            ("minProperties", Bound::Lower, as_f64(old.min_properties), as_f64(new.min_properties), false, false),
        ];
        for (keyword, bound, old_value, new_value, old_exclusive, new_exclusive) in numeric {
            self.bound(path, keyword, bound, (old_value, old_exclusive), (new_value, new_exclusive));
        }
    }

    fn bound(&mut self, path: &str, keyword: &str, bound: Bound, old: (Option<f64>, bool), new: (Option<f64>, bool)) {
        let tightened = match (old.0, new.0) {
            (None, None) => return,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) if a == b => match (old.1, new.1) {
                (false, true) => true,
                (true, false) => false,
                _ => return,
            },
            (Some(a), Some(b)) => (bound == Bound::Upper) == (b < a),
        };
        let code = match (tightened, bound) {
            (false, _) => FindingCode::ConstraintRelaxed,
            (true, Bound::Upper) => FindingCode::MaxTightened,
            (true, Bound::Lower) => FindingCode::MinTightened,
        };
        let describe = |(value, exclusive): (Option<f64>, bool)| match value {
            None => "none".to_owned(),
            Some(v) if exclusive => format!("{} (exclusive)", number(v)),
            Some(v) => number(v).to_string(),
        };
        let message = format!("{keyword} of {} changed from {} to {}", shown(path), describe(old), describe(new));
        self.emit_change(code, path, message, old.0.map(number), new.0.map(number));
    }

    fn nullable(&mut self, path: &str, old: &Schema, new: &Schema) {
        let (code, message) = match (old.nullable, new.nullable) {
            (false, true) => (FindingCode::NullableAdded, "now accepts null"),
            (true, false) => (FindingCode::NullableRemoved, "no longer accepts null"),
            _ => return,
        };
        self.emit(code, path, format!("{} {message}", shown(path)));
    }

    fn default(&mut self, path: &str, old: &Schema, new: &Schema) {
        let (code, zero) = match (&old.default, &new.default) {
            (a, b) if a == b => return,
            (None, Some(value)) => (FindingCode::DefaultAdded, is_zero_value(value)),
            (Some(value), None) => (FindingCode::DefaultRemoved, is_zero_value(value)),
            _ => (FindingCode::DefaultChanged, false),
        };
        let message = format!(
            "default of {} changed from {} to {}",
            shown(path),
            old.default.as_ref().map_or("none".to_owned(), Value::to_string),
            new.default.as_ref().map_or("none".to_owned(), Value::to_string)
        );
        let finding = self.emit(code, path, message);
        finding.old = old.default.clone();
        finding.new = new.default.clone();
        if zero {
            // Go operators cannot tell a zero value from an absent one, so readers see no change.
            finding.severity = Severity::Info;
        }
    }

    fn required(&mut self, path: &str, old: &Schema, new: &Schema) {
        for name in new.required.iter().filter(|n| !old.required.contains(n)) {
            let field = child_property_path(path, name);
            let default = new.properties.get(name).and_then(|p| p.default.clone());
            let message = match &default {
                Some(value) => format!("{field} is now required; objects without it get the default {value}"),
                None => format!("{field} is now required; writes of objects without it are rejected"),
            };
            let finding = self.emit(FindingCode::RequiredAdded, &field, message);
            finding.new = default.clone();
            if default.is_some() {
                // Defaulting runs before validation, so objects lacking the field still pass.
                finding.severity = Severity::Warning;
            }
        }
        for name in old.required.iter().filter(|n| !new.required.contains(n)) {
            let field = child_property_path(path, name);
            self.emit(FindingCode::RequiredRemoved, &field, format!("{field} is no longer required"));
        }
    }

    fn list_type(&mut self, path: &str, old: &Schema, new: &Schema) {
        if old.list_type == new.list_type && old.list_map_keys == new.list_map_keys {
            return;
        }
        let rank = |list_type: &Option<String>| match list_type.as_deref() {
            Some("map") => 2,
            Some("set") => 1,
            _ => 0,
        };
        let (old_rank, new_rank) = (rank(&old.list_type), rank(&new.list_type));
        let keys_changed = old_rank == 2 && new_rank == 2 && old.list_map_keys != new.list_map_keys;
        let code = if new_rank > old_rank || keys_changed {
            FindingCode::ListTypeTightened
        } else {
            FindingCode::ListTypeChanged
        };
        let describe = |s: &Schema| match (s.list_type.as_deref(), s.list_map_keys.is_empty()) {
            (None, _) => "unset".to_owned(),
            (Some(t), true) => t.to_owned(),
            (Some(t), false) => format!("{t} keyed by {}", s.list_map_keys.join(", ")),
        };
        let message = format!("list type of {} changed from {} to {}", shown(path), describe(old), describe(new));
        let as_value = |s: &Schema| Some(json!(describe(s)));
        self.emit_change(code, path, message, as_value(old), as_value(new));
    }

    fn unique_items(&mut self, path: &str, old: &Schema, new: &Schema) {
        match (old.unique_items, new.unique_items) {
            (false, true) => {
                self.emit(FindingCode::UniqueItemsAdded, path, format!("{} must now hold unique items", shown(path)));
            }
            (true, false) => {
                self.emit(FindingCode::ConstraintRelaxed, path, format!("{} may now hold duplicates", shown(path)));
            }
            _ => {}
        }
    }

    fn preserve_unknown_fields(&mut self, path: &str, old: &Schema, new: &Schema) {
        match (old.preserve_unknown_fields, new.preserve_unknown_fields) {
            (true, false) => {
                let message =
                    format!("{} no longer preserves unknown fields: undeclared fields are pruned", shown(path));
                self.emit(FindingCode::PreserveUnknownFieldsRemoved, path, message);
            }
            (false, true) => {
                let message = format!("{} now preserves unknown fields", shown(path));
                self.emit(FindingCode::PreserveUnknownFieldsAdded, path, message);
            }
            _ => {}
        }
    }

    fn validation_rules(&mut self, path: &str, old: &[ValidationRule], new: &[ValidationRule]) {
        let mut unmatched_old: Vec<&ValidationRule> = Vec::new();
        for rule in old {
            match new.iter().find(|n| n.rule == rule.rule) {
                Some(same) => self.rule_details(path, rule, same),
                None => unmatched_old.push(rule),
            }
        }
        let unmatched_new: Vec<&ValidationRule> =
            new.iter().filter(|n| !old.iter().any(|o| o.rule == n.rule)).collect();
        // A rule whose text changed is paired with the old rule of the same message, else by position.
        let mut pairs = Vec::new();
        let mut added = Vec::new();
        for rule in unmatched_new {
            let same_message = unmatched_old.iter().position(|o| o.message.is_some() && o.message == rule.message);
            match same_message {
                Some(index) => pairs.push((unmatched_old.remove(index), rule)),
                None => added.push(rule),
            }
        }
        let paired_by_position = added.len().min(unmatched_old.len());
        for rule in added.drain(..paired_by_position).collect::<Vec<_>>() {
            pairs.push((unmatched_old.remove(0), rule));
        }
        for (before, after) in pairs {
            self.rule_changed(path, before, after);
        }
        for rule in added {
            let code =
                if rule.is_transition_rule() { FindingCode::CelTransitionRuleAdded } else { FindingCode::CelRuleAdded };
            let message = format!("{} gains the rule `{}`", shown(path), rule.rule);
            self.emit_change(code, path, message, None, Some(json!(rule.rule)));
        }
        for rule in unmatched_old {
            let message = format!("{} loses the rule `{}`", shown(path), rule.rule);
            self.emit_change(FindingCode::CelRuleRemoved, path, message, Some(json!(rule.rule)), None);
        }
    }

    fn rule_changed(&mut self, path: &str, before: &ValidationRule, after: &ValidationRule) {
        let code = if after.is_transition_rule() && !before.is_transition_rule() {
            FindingCode::CelTransitionRuleAdded
        } else {
            FindingCode::CelRuleChanged
        };
        let message = format!("rule on {} changed from `{}` to `{}`", shown(path), before.rule, after.rule);
        self.emit_change(code, path, message, Some(json!(before.rule)), Some(json!(after.rule)));
    }

    fn rule_details(&mut self, path: &str, old: &ValidationRule, new: &ValidationRule) {
        let reporting_changed = old.message != new.message
            || old.message_expression != new.message_expression
            || old.reason != new.reason
            || old.field_path != new.field_path;
        if reporting_changed {
            let message = format!("message of the rule `{}` on {} changed", new.rule, shown(path));
            let finding = self.emit(FindingCode::CelMessageChanged, path, message);
            finding.old = old.message.clone().map(Value::String);
            finding.new = new.message.clone().map(Value::String);
        }
        if old.optional_old_self != new.optional_old_self {
            let message = format!("optionalOldSelf of the rule `{}` on {} changed", new.rule, shown(path));
            self.emit(FindingCode::CelRuleChanged, path, message);
        }
    }

    fn other_keywords(&mut self, path: &str, old: &Schema, new: &Schema) {
        let keywords: BTreeSet<&String> = old.other.keys().chain(new.other.keys()).collect();
        for keyword in keywords {
            if matches!(keyword.as_str(), "example" | "externalDocs") {
                continue;
            }
            let (before, after) = (old.other.get(keyword), new.other.get(keyword));
            if before == after {
                continue;
            }
            let message = format!("schema keyword `{keyword}` of {} changed", shown(path));
            self.emit_change(FindingCode::SchemaChanged, path, message, small(before), small(after));
        }
    }

    fn properties(&mut self, path: &str, old: &Schema, new: &Schema, context: Context) {
        // The API server never prunes TypeMeta and ObjectMeta at a resource root (the object itself or an
        // embedded resource), whatever the schema says.
        let resource_root = path.is_empty() || new.is_embedded_resource();
        for (name, old_property) in &old.properties {
            let child = child_property_path(path, name);
            match new.properties.get(name) {
                Some(new_property) => self.node(&child, old_property, new_property, context),
                None if resource_root && matches!(name.as_str(), "apiVersion" | "kind" | "metadata") => {
                    let message = format!(
                        "{child} removed from the schema; it is never pruned at a resource root, so nothing is lost"
                    );
                    self.emit(FindingCode::FieldRemoved, &child, message).severity = Severity::Info;
                }
                None => self.field_removed(&child, context),
            }
        }
        for name in new.properties.keys().filter(|n| !old.properties.contains_key(*n)) {
            let child = child_property_path(path, name);
            self.emit(FindingCode::FieldAdded, &child, format!("{child} added"));
        }
    }

    fn field_removed(&mut self, path: &str, context: Context) {
        if context.preserved {
            let message = format!("{path} removed from the schema; unknown fields are preserved here, so data is kept but clients lose the field");
            self.emit(FindingCode::FieldRemoved, path, message).severity = Severity::Warning;
        } else {
            let message = format!("{path} removed: pruned from every object on its next write");
            self.emit(FindingCode::FieldRemoved, path, message);
        }
    }

    fn items(&mut self, path: &str, old: &Schema, new: &Schema, context: Context) {
        let child = format!("{path}[*]");
        match (&old.items, &new.items) {
            (Some(a), Some(b)) => self.node(&child, a, b, context),
            (None, Some(_)) => {
                self.emit(FindingCode::SchemaChanged, path, format!("schema keyword `items` added to {}", shown(path)));
            }
            (Some(_), None) => {
                self.emit(
                    FindingCode::ConstraintRelaxed,
                    path,
                    format!("items of {} are no longer constrained", shown(path)),
                );
            }
            (None, None) => {}
        }
    }

    fn additional_properties(&mut self, path: &str, old: &Schema, new: &Schema, context: Context) {
        let child = format!("{path}{{*}}");
        match (MapValues::of(old), MapValues::of(new)) {
            (MapValues::Constrained(a), MapValues::Constrained(b)) => self.node(&child, a, b, context),
            (a, b) if a == b => {}
            (MapValues::Closed, MapValues::Constrained(_)) => {
                self.emit(FindingCode::FieldAdded, &child, format!("{} now accepts map entries", shown(path)));
            }
            (MapValues::Closed, MapValues::Any) | (MapValues::Constrained(_), MapValues::Any) => {
                let message = format!("values of the map {} are no longer constrained", shown(path));
                self.emit(FindingCode::ConstraintRelaxed, path, message);
            }
            (MapValues::Any, MapValues::Constrained(_)) => {
                let message = format!("values of the map {} are now constrained by a schema", shown(path));
                self.emit(FindingCode::AdditionalPropertiesRestricted, path, message);
            }
            (_, MapValues::Closed) => {
                let message =
                    format!("{} no longer accepts map entries: existing entries are pruned or rejected", shown(path));
                let finding = self.emit(FindingCode::AdditionalPropertiesRestricted, path, message);
                if !context.preserved {
                    // Entries not declared as properties are pruned on the next write: data loss.
                    finding.severity = Severity::Breaking;
                }
            }
            (MapValues::Any, MapValues::Any) => {}
        }
    }

    fn combinators(&mut self, path: &str, old: &Schema, new: &Schema, context: Context) {
        use Combinator::{AllOf, AnyOf, OneOf};
        for (combinator, old_list, new_list) in
            [(AllOf, &old.all_of, &new.all_of), (AnyOf, &old.any_of, &new.any_of), (OneOf, &old.one_of, &new.one_of)]
        {
            let keyword = combinator.keyword();
            for (index, (a, b)) in old_list.iter().zip(new_list.iter()).enumerate() {
                self.node(&format!("{path}.{keyword}[{index}]"), a, b, context);
            }
            let added = old_list.len()..new_list.len();
            let removed = new_list.len()..old_list.len();
            for (index, gained) in added.map(|i| (i, true)).chain(removed.map(|i| (i, false))) {
                let at = format!("{path}.{keyword}[{index}]");
                let change = if gained { "gains" } else { "loses" };
                let message = format!("`{keyword}` of {} {change} an entry", shown(path));
                // allOf entries all apply and anyOf entries are alternatives, so an entry tightens one and
                // widens the other; a oneOf change can go either way. Combinators are never ratcheted.
                let tightens = match combinator {
                    AllOf => gained,
                    AnyOf => !gained,
                    OneOf => true,
                };
                let code = if tightens { FindingCode::SchemaChanged } else { FindingCode::ConstraintRelaxed };
                self.emit(code, &at, message);
            }
        }
        let child = format!("{path}.not");
        match (&old.not, &new.not) {
            (Some(a), Some(b)) => self.node(&child, a, b, context),
            (None, Some(_)) => {
                self.emit(FindingCode::SchemaChanged, &child, format!("schema keyword `not` added to {}", shown(path)));
            }
            (Some(_), None) => {
                self.emit(FindingCode::ConstraintRelaxed, &child, format!("`not` removed from {}", shown(path)));
            }
            (None, None) => {}
        }
    }
}

/// The schema combinators, which differ in whether an extra entry restricts or widens.
#[derive(Clone, Copy)]
#[allow(clippy::enum_variant_names)] // named after the keywords they stand for
enum Combinator {
    AllOf,
    AnyOf,
    OneOf,
}

impl Combinator {
    fn keyword(self) -> &'static str {
        match self {
            Combinator::AllOf => "allOf",
            Combinator::AnyOf => "anyOf",
            Combinator::OneOf => "oneOf",
        }
    }
}

fn or_none(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("none")
}

fn opt_string(value: &Option<String>) -> Option<Value> {
    value.clone().map(Value::String)
}

fn list(values: &[Value]) -> String {
    values.iter().map(Value::to_string).collect::<Vec<_>>().join(", ")
}

/// A bound as JSON: integral values print without a fractional part.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// A keyword value small enough to show; large structures are named, not dumped.
fn small(value: Option<&Value>) -> Option<Value> {
    value.filter(|v| v.to_string().len() <= 120).cloned()
}

/// Whether a default is its type's zero value, which Go operators cannot tell from an absent field.
fn is_zero_value(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
        Value::Null => true,
        Value::Array(_) | Value::Object(_) => false,
    }
}

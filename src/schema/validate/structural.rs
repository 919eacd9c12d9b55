//! Structural validation of one object against a compiled schema, with the API server's semantics: kube-openapi's
//! validators (type, format, enum, pattern, bounds, required, combinators), apiextensions' list-type checks and
//! the TypeMeta/ObjectMeta checks of embedded resources.
//!
//! Every violation says how the API server enforces it on the object's next write ([`Enforcement`]), which is
//! what decides between a warning and a breaking finding.

use super::compiled::{Additional, JsonType, ListType, Node};
use crate::findings::{FindingCode, Keyword};
use crate::schema::{LazyPath, SortedLookup};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::LazyLock;

/// How the API server treats a violated check when the object is next written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enforcement {
    /// Ratcheted: a write that leaves the value unchanged passes; a changed value must be valid.
    Ratcheted,
    /// Not ratcheted: every write of the object is rejected until the value is fixed.
    Always,
    /// The API server accepts the value, but typed clients (usually the operator) cannot decode it.
    ClientOnly,
    /// `x-kubernetes-list-type` set/map rules: on update the API server skips them all while the stored
    /// object already breaks any of them, whatever the write changes; they apply again once it does not.
    ListTypeRatcheted,
}

/// One check the object fails.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Violation {
    /// The finding code it becomes.
    pub code: FindingCode,
    /// The keyword violated.
    pub keyword: Keyword,
    /// The concrete path (`""` for the object itself).
    pub path: String,
    /// What is wrong, for people.
    pub message: String,
    /// How the API server enforces the check.
    pub enforcement: Enforcement,
}

/// The fields a resource (the root, or an embedded resource) owns outside its schema.
const TYPE_AND_OBJECT_META: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Validates a whole object (already pruned and defaulted, as the API server validates it) against its
/// version's compiled root schema.
pub(crate) fn validate(root: &Node, object: &Value) -> Vec<Violation> {
    let mut walker = Walker::default();
    walker.node(root, object, &LazyPath::Root, true);
    walker.out
}

#[derive(Default)]
struct Walker {
    out: Vec<Violation>,
    /// Under allOf/anyOf/oneOf/not: nothing is ratcheted there.
    in_combinator: bool,
}

impl Walker {
    fn report(&mut self, code: FindingCode, keyword: Keyword, path: &LazyPath<'_>, message: String, how: Enforcement) {
        let enforcement = if self.in_combinator && how == Enforcement::Ratcheted { Enforcement::Always } else { how };
        self.out.push(Violation { code, keyword, path: path.render(), message, enforcement });
    }

    fn invalid(&mut self, keyword: Keyword, path: &LazyPath<'_>, message: String) {
        self.report(FindingCode::ValueInvalid, keyword, path, message, Enforcement::Ratcheted);
    }

    /// Validates one value. `is_resource` marks the root, whose TypeMeta and ObjectMeta the schema need not declare.
    fn node(&mut self, node: &Node, value: &Value, path: &LazyPath<'_>, is_resource: bool) {
        if value.is_null() {
            if !node.nullable && (node.type_.is_some() || node.int_or_string) {
                self.invalid(Keyword::Type, path, format!("null is not allowed here (not nullable){}", expected(node)));
            }
            return;
        }
        if !self.type_matches(node, value, path) {
            // Like kube-openapi, a value of the wrong type is not judged by the keywords of the right one.
            return;
        }
        if let Some(allowed) = &node.enum_ {
            if !allowed.iter().any(|candidate| json_equal(candidate, value)) {
                let message = format!("{} is not one of the allowed values {}", shown(value), shown_list(allowed));
                self.invalid(Keyword::Enum, path, message);
            }
        }
        match value {
            Value::String(text) => self.string(node, text, path),
            Value::Number(number) => self.number(node, number, path),
            Value::Array(items) => self.array(node, items, path),
            Value::Object(fields) => self.object(node, fields, path, is_resource),
            Value::Bool(_) | Value::Null => {}
        }
        self.combinators(node, value, path);
    }

    fn type_matches(&mut self, node: &Node, value: &Value, path: &LazyPath<'_>) -> bool {
        if node.int_or_string {
            let ok = value.is_string() || is_json_integer(value);
            if !ok {
                self.invalid(Keyword::Type, path, format!("{} must be an integer or a string", shown(value)));
            }
            return ok;
        }
        let Some(expected) = node.type_ else { return true };
        let ok = match expected {
            JsonType::Object => value.is_object(),
            JsonType::Array => value.is_array(),
            JsonType::String => value.is_string(),
            JsonType::Boolean => value.is_boolean(),
            JsonType::Number => value.is_number(),
            JsonType::Integer => is_json_integer(value),
        };
        if !ok {
            self.invalid(Keyword::Type, path, format!("{} must be of type {}", shown(value), expected.name()));
        }
        ok
    }

    fn string(&mut self, node: &Node, text: &str, path: &LazyPath<'_>) {
        if let Some(format) = node.format {
            if !format.accepts(text) {
                self.invalid(Keyword::Format, path, format!("{} is not a valid {}", shown_str(text), format.name()));
            }
        }
        let bounds = &node.bounds;
        if bounds.min_length.is_some() || bounds.max_length.is_some() {
            // The API server counts characters (Unicode scalar values), not bytes.
            let length = text.chars().count() as u64;
            if let Some(min) = bounds.min_length.filter(|&min| length < min) {
                let message = format!("{} is {length} characters long, shorter than minLength {min}", shown_str(text));
                self.invalid(Keyword::MinLength, path, message);
            }
            if let Some(max) = bounds.max_length.filter(|&max| length > max) {
                let message = format!("{} is {length} characters long, longer than maxLength {max}", shown_str(text));
                self.invalid(Keyword::MaxLength, path, message);
            }
        }
        if let Some(pattern) = &node.pattern {
            match &pattern.compiled {
                Ok(regex) if !regex.is_match(text) => {
                    let message = format!("{} does not match the pattern {}", shown_str(text), pattern.source);
                    self.invalid(Keyword::Pattern, path, message);
                }
                Ok(_) => {}
                Err(error) => {
                    // The regex crate's error spans lines (the pattern, a caret, the reason): keep the reason.
                    let reason = error.lines().last().unwrap_or(error).trim_start_matches("error: ");
                    let message = format!("the pattern {} cannot be evaluated here ({reason})", pattern.source);
                    let code = FindingCode::PatternUnevaluable;
                    self.report(code, Keyword::Pattern, path, message, Enforcement::Ratcheted);
                }
            }
        }
    }

    fn number(&mut self, node: &Node, number: &Number, path: &LazyPath<'_>) {
        let Some(value) = number.as_f64() else { return };
        let bounds = &node.bounds;
        if let Some(min) = bounds.minimum {
            let (fails, relation) =
                if bounds.exclusive_minimum { (value <= min, "greater than") } else { (value < min, "at least") };
            if fails {
                self.invalid(Keyword::Minimum, path, format!("{number} must be {relation} {}", shown_f64(min)));
            }
        }
        if let Some(max) = bounds.maximum {
            let (fails, relation) =
                if bounds.exclusive_maximum { (value >= max, "less than") } else { (value > max, "at most") };
            if fails {
                self.invalid(Keyword::Maximum, path, format!("{number} must be {relation} {}", shown_f64(max)));
            }
        }
        if let Some(factor) = bounds.multiple_of.filter(|&factor| factor > 0.0) {
            // go-openapi divides this way round to keep small factors exact enough.
            let quotient = if factor < 1.0 { 1.0 / factor * value } else { value / factor };
            if !is_float64_json_integer(quotient) {
                let message = format!("{number} is not a multiple of {}", shown_f64(factor));
                self.invalid(Keyword::MultipleOf, path, message);
            }
        }
        if node.int32 && (value < f64::from(i32::MIN) || value > f64::from(i32::MAX)) {
            let message = format!(
                "{number} is outside the int32 range of format int32: the API server accepts it, but clients \
                 decoding the field as int32 (typically the operator) fail on the object"
            );
            self.report(FindingCode::ValueInvalid, Keyword::Format, path, message, Enforcement::ClientOnly);
        }
    }

    fn array(&mut self, node: &Node, items: &[Value], path: &LazyPath<'_>) {
        let count = items.len() as u64;
        if let Some(min) = node.bounds.min_items.filter(|&min| count < min) {
            self.invalid(Keyword::MinItems, path, format!("{count} items, fewer than minItems {min}"));
        }
        if let Some(max) = node.bounds.max_items.filter(|&max| count > max) {
            self.invalid(Keyword::MaxItems, path, format!("{count} items, more than maxItems {max}"));
        }
        if node.unique_items {
            for (index, first) in duplicates(items.iter().map(|item| Some(canonical(item)))) {
                let message = format!("{} repeats item [{first}] (uniqueItems)", shown(&items[index]));
                self.invalid(Keyword::UniqueItems, &LazyPath::Index(path, index), message);
            }
        }
        match &node.list_type {
            ListType::Atomic => {}
            ListType::Set => self.set_items(items, path),
            ListType::Map(keys) => self.map_items(keys, items, path),
        }
        if let Some(item_node) = &node.items {
            for (index, item) in items.iter().enumerate() {
                self.node(item_node, item, &LazyPath::Index(path, index), false);
            }
        }
    }

    fn set_items(&mut self, items: &[Value], path: &LazyPath<'_>) {
        for (index, first) in duplicates(items.iter().map(|item| Some(canonical(item)))) {
            let message = format!("{} duplicates item [{first}] of a list of type set", shown(&items[index]));
            let at = LazyPath::Index(path, index);
            self.report(FindingCode::DuplicateListKey, Keyword::ListType, &at, message, Enforcement::ListTypeRatcheted);
        }
    }

    fn map_items(&mut self, keys: &[String], items: &[Value], path: &LazyPath<'_>) {
        for (index, item) in items.iter().enumerate() {
            if !item.is_object() && !item.is_null() {
                let message = format!("{} must be an object in a list of type map", shown(item));
                let at = LazyPath::Index(path, index);
                self.report(FindingCode::ValueInvalid, Keyword::ListType, &at, message, Enforcement::ListTypeRatcheted);
            }
        }
        let key_of = |item: &Value| item.as_object().map(|fields| map_key(keys, fields));
        for (index, first) in duplicates(items.iter().map(key_of)) {
            let key = key_of(&items[index]).unwrap_or_default();
            let message = format!("duplicate entry for key ({key}) of a list of type map, also at [{first}]");
            let at = LazyPath::Index(path, index);
            self.report(FindingCode::DuplicateListKey, Keyword::ListType, &at, message, Enforcement::ListTypeRatcheted);
        }
    }

    fn object(&mut self, node: &Node, fields: &Map<String, Value>, path: &LazyPath<'_>, is_resource: bool) {
        let count = fields.len() as u64;
        if let Some(min) = node.bounds.min_properties.filter(|&min| count < min) {
            self.invalid(Keyword::MinProperties, path, format!("{count} properties, fewer than minProperties {min}"));
        }
        if let Some(max) = node.bounds.max_properties.filter(|&max| count > max) {
            self.invalid(Keyword::MaxProperties, path, format!("{count} properties, more than maxProperties {max}"));
        }
        for name in node.required.iter().filter(|name| !fields.contains_key(name.as_str())) {
            let message = "required field is missing".to_owned();
            let at = LazyPath::Field(path, name);
            self.report(FindingCode::RequiredMissing, Keyword::Required, &at, message, Enforcement::Always);
        }
        if node.embedded {
            self.embedded_resource(fields, path);
        }
        let owns_meta = is_resource || node.embedded;
        let mut declared = SortedLookup::new(&node.properties);
        for (name, value) in fields {
            let child = LazyPath::Field(path, name);
            if let Some(property) = declared.find(name) {
                self.node(property, value, &child, false);
                continue;
            }
            if owns_meta && TYPE_AND_OBJECT_META.contains(&name.as_str()) {
                continue;
            }
            match &node.additional {
                Additional::Values(values) => self.node(values, value, &child, false),
                Additional::Forbidden => {
                    let message = "the field is not allowed (additionalProperties: false)".to_owned();
                    self.invalid(Keyword::AdditionalProperties, &child, message);
                }
                Additional::Any | Additional::Unspecified => {}
            }
        }
    }

    /// The TypeMeta and ObjectMeta checks of an `x-kubernetes-embedded-resource` (apiextensions' objectmeta
    /// validation): outside the schema validator, so never ratcheted.
    fn embedded_resource(&mut self, fields: &Map<String, Value>, path: &LazyPath<'_>) {
        let problem = |walker: &mut Walker, field: &str, required: bool, message: String| {
            let code = if required { FindingCode::RequiredMissing } else { FindingCode::ValueInvalid };
            let at = LazyPath::Field(path, field);
            walker.report(code, Keyword::EmbeddedResource, &at, message, Enforcement::Always);
        };
        match fields.get("apiVersion") {
            None => problem(self, "apiVersion", true, "an embedded resource needs apiVersion".to_owned()),
            Some(Value::String(api_version)) if is_group_version(api_version) => {}
            Some(other) => problem(self, "apiVersion", false, format!("{} is not a group/version", shown(other))),
        }
        match fields.get("kind") {
            None => problem(self, "kind", true, "an embedded resource needs kind".to_owned()),
            Some(Value::String(kind)) if is_dns1035_label(&kind.to_lowercase()) => {}
            Some(other) => problem(self, "kind", false, format!("{} is not a valid kind", shown(other))),
        }
        match fields.get("metadata") {
            None => {}
            Some(Value::Object(metadata)) => {
                for (field, message) in object_meta_problems(metadata) {
                    let at = LazyPath::Field(path, "metadata");
                    let at = LazyPath::Field(&at, field);
                    self.report(
                        FindingCode::ValueInvalid,
                        Keyword::EmbeddedResource,
                        &at,
                        message,
                        Enforcement::Always,
                    );
                }
            }
            Some(other) => problem(self, "metadata", false, format!("{} must be an object", shown(other))),
        }
    }

    fn combinators(&mut self, node: &Node, value: &Value, path: &LazyPath<'_>) {
        if !node.all_of.is_empty() {
            let outer = std::mem::replace(&mut self.in_combinator, true);
            for sub in &node.all_of {
                self.node(sub, value, path, false);
            }
            self.in_combinator = outer;
        }
        if !node.any_of.is_empty() {
            let failures: Vec<Vec<Violation>> = node.any_of.iter().map(|sub| probe(sub, value)).collect();
            if failures.iter().all(|f| !passes(f)) {
                let first = failures.first().and_then(|f| f.first()).map(|v| v.message.as_str()).unwrap_or_default();
                let message = format!("matches none of the {} anyOf alternatives (the first: {first})", failures.len());
                self.report(FindingCode::ValueInvalid, Keyword::AnyOf, path, message, Enforcement::Always);
            }
        }
        if !node.one_of.is_empty() {
            let matching = node.one_of.iter().filter(|sub| passes(&probe(sub, value))).count();
            if matching != 1 {
                let message =
                    format!("matches {matching} of the {} oneOf alternatives, not exactly one", node.one_of.len());
                self.report(FindingCode::ValueInvalid, Keyword::OneOf, path, message, Enforcement::Always);
            }
        }
        if let Some(not) = &node.not {
            if passes(&probe(not, value)) {
                let message = format!("{} matches the schema under not", shown(value));
                self.report(FindingCode::ValueInvalid, Keyword::Not, path, message, Enforcement::Always);
            }
        }
    }
}

/// The violations of `value` against a combinator alternative, with paths relative to the value.
fn probe(node: &Node, value: &Value) -> Vec<Violation> {
    let mut walker = Walker { out: Vec::new(), in_combinator: true };
    walker.node(node, value, &LazyPath::Root, false);
    walker.out
}

/// Whether an alternative matched: an unevaluable pattern is not evidence either way, so it does not count.
fn passes(violations: &[Violation]) -> bool {
    violations.iter().all(|v| v.code == FindingCode::PatternUnevaluable)
}

fn expected(node: &Node) -> String {
    match (node.type_, node.int_or_string) {
        (_, true) => ": expected an integer or a string".to_owned(),
        (Some(type_), false) => format!(": expected {}", type_.name()),
        (None, false) => String::new(),
    }
}

/// go-openapi's notion of an integer: Kubernetes decodes integers beyond int64 as float64, which are integers
/// only up to 2^53.
fn is_json_integer(value: &Value) -> bool {
    match value {
        Value::Number(number) if number.is_i64() => true,
        Value::Number(number) if number.is_u64() => false,
        Value::Number(number) => number.as_f64().is_some_and(is_float64_json_integer),
        _ => false,
    }
}

/// swag's `IsFloat64AJSONInteger`: integral (within a relative epsilon) and within ±(2^53 - 1).
fn is_float64_json_integer(value: f64) -> bool {
    const MAX_JSON_FLOAT: f64 = 9_007_199_254_740_991.0;
    const EPSILON: f64 = 1e-9;
    if !value.is_finite() || !(-MAX_JSON_FLOAT..=MAX_JSON_FLOAT).contains(&value) {
        return false;
    }
    let truncated = value.trunc();
    if value == truncated {
        return true;
    }
    let difference = (value - truncated).abs();
    if truncated == 0.0 {
        return difference < EPSILON * f64::MIN_POSITIVE;
    }
    difference / (value.abs() + truncated.abs()) < EPSILON
}

/// JSON equality with numbers compared by value (`1` equals `1.0`), as the enum check converts types.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(key, value)| y.get(key).is_some_and(|other| json_equal(value, other)))
        }
        _ => a == b,
    }
}

/// A canonical text of a value, for finding duplicates in one pass.
fn canonical(value: &Value) -> String {
    value.to_string()
}

/// The key tuple of a list-map item, as `name="a", port=80`; an absent key is `name=<unset>`.
fn map_key(keys: &[String], fields: &Map<String, Value>) -> String {
    let mut out = String::new();
    for (i, key) in keys.iter().enumerate() {
        let separator = if i == 0 { "" } else { ", " };
        let value = fields.get(key).map_or_else(|| "<unset>".to_owned(), canonical);
        let _ = write!(out, "{separator}{key}={value}");
    }
    out
}

/// For every item whose key repeats an earlier one: its index and the first index with that key. Items without a
/// key (`None`) are skipped.
fn duplicates(keys: impl Iterator<Item = Option<String>>) -> Vec<(usize, usize)> {
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut repeated = Vec::new();
    for (index, key) in keys.enumerate() {
        let Some(key) = key else { continue };
        match first_seen.get(&key) {
            Some(&first) => repeated.push((index, first)),
            None => {
                first_seen.insert(key, index);
            }
        }
    }
    repeated
}

/// `schema.ParseGroupVersion`: `version` or `group/version`.
fn is_group_version(text: &str) -> bool {
    !text.is_empty() && text.matches('/').count() <= 1 && !text.starts_with('/') && !text.ends_with('/')
}

fn is_dns1035_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[bytes.len() - 1] != b'-'
}

static QUALIFIED_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
        .unwrap_or_else(|e| panic!("built-in qualified-name pattern is invalid: {e}"))
});

/// `metav1validation` of a label key or annotation key: an optional DNS-subdomain prefix and a name of at most
/// 63 characters.
fn is_qualified_name(text: &str) -> bool {
    let (prefix, name) = text.rsplit_once('/').map_or(("", text), |(prefix, name)| (prefix, name));
    QUALIFIED_NAME.is_match(text) && name.len() <= 63 && prefix.len() <= 253
}

fn is_label_value(text: &str) -> bool {
    text.is_empty() || (text.len() <= 63 && QUALIFIED_NAME.is_match(text) && !text.contains('/'))
}

/// The ObjectMeta problems the API server checks in an embedded resource's metadata.
fn object_meta_problems(metadata: &Map<String, Value>) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    match metadata.get("name") {
        Some(Value::String(name)) if name == "." || name == ".." || name.contains(['/', '%']) => {
            problems.push(("name", format!("{} may not be '.', '..' or contain '/' or '%'", shown_str(name))));
        }
        Some(Value::String(_)) | None => {}
        Some(other) => problems.push(("name", format!("{} must be a string", shown(other)))),
    }
    match metadata.get("labels") {
        Some(Value::Object(labels)) => {
            for (key, value) in labels {
                let valid_value = value.as_str().is_some_and(is_label_value);
                if !is_qualified_name(key) || !valid_value {
                    problems.push(("labels", format!("label {key}={} is not a valid label", shown(value))));
                }
            }
        }
        Some(Value::Null) | None => {}
        Some(other) => problems.push(("labels", format!("{} must be a map of strings", shown(other)))),
    }
    match metadata.get("annotations") {
        Some(Value::Object(annotations)) => {
            for (key, value) in annotations {
                if !is_qualified_name(key) || !value.is_string() {
                    problems.push(("annotations", format!("annotation {key}={} is not valid", shown(value))));
                }
            }
        }
        Some(Value::Null) | None => {}
        Some(other) => problems.push(("annotations", format!("{} must be a map of strings", shown(other)))),
    }
    problems
}

const SHOWN_LIMIT: usize = 80;

/// A value as messages quote it: compact JSON, cut after a few dozen characters.
pub(crate) fn shown(value: &Value) -> String {
    truncate(value.to_string())
}

fn shown_str(text: &str) -> String {
    truncate(Value::String(text.to_owned()).to_string())
}

fn shown_list(values: &[Value]) -> String {
    truncate(Value::Array(values.to_vec()).to_string())
}

fn shown_f64(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        value.to_string()
    }
}

fn truncate(text: String) -> String {
    match text.char_indices().nth(SHOWN_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

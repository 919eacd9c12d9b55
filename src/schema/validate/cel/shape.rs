//! How a value under a schema node becomes a CEL value, following the API server's conversion
//! (`UnstructuredToVal` and `SchemaDeclType` in apiextensions-apiserver):
//! - declared property names are escaped (`namespace` -> `__namespace__`, `x-y` -> `x__dash__y`, `a__b` ->
//!   `a__underscores__b`); names that cannot be escaped are not visible to CEL; map keys (additionalProperties)
//!   are data and stay as they are;
//! - `type: number` is always a double, `type: integer` an int, `x-kubernetes-int-or-string` keeps the JSON kind;
//! - strings with `format: date-time`/`date` are timestamps, `duration` durations, `byte` bytes;
//! - at a resource root (the object itself, or an `x-kubernetes-embedded-resource`), `apiVersion` and `kind`
//!   are strings and `metadata` only carries `name` and `generateName`.

use crate::manifest::{AdditionalProperties, Schema};
use kube::core::cel::cel::objects::{Key, Map};
use kube::core::cel::cel::Value;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;

/// The conversion-relevant part of a structural schema node, shared by every rule node beneath it.
#[derive(Debug, Default)]
pub(super) struct Shape {
    kind: ShapeKind,
}

#[derive(Debug, Default)]
enum ShapeKind {
    /// An object with declared properties, keyed by their JSON names.
    Object {
        fields: HashMap<String, Field>,
        /// `x-kubernetes-preserve-unknown-fields`: undeclared fields are kept (with their raw names).
        keep_unknown: bool,
        /// The root of a resource: `apiVersion`, `kind`, `metadata.{name,generateName}` only.
        resource_root: bool,
    },
    /// A map (`additionalProperties`): keys are data.
    Map { values: Arc<Shape> },
    /// A list; `correlated` when items can be matched with their old values (`x-kubernetes-list-type: map`).
    List { items: Arc<Shape>, correlated: bool },
    /// A string with a format the API server converts.
    String(StringFormat),
    /// `type: integer`.
    Integer,
    /// `type: number`.
    Number,
    /// Anything else (`boolean`, int-or-string, preserve-unknown-fields, no schema): as the JSON says.
    #[default]
    Dynamic,
}

/// A declared property: its CEL name (None when the name cannot be escaped) and its shape.
#[derive(Debug)]
struct Field {
    cel_name: Option<Arc<String>>,
    shape: Arc<Shape>,
}

/// String formats with their own CEL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StringFormat {
    Plain,
    DateTime,
    Date,
    Duration,
    Byte,
}

impl Shape {
    /// The shape of a structural schema node (`resource_root` for the CRD's root schema).
    pub(super) fn of(schema: &Schema, resource_root: bool) -> Arc<Shape> {
        let resource_root = resource_root || schema.is_embedded_resource();
        let int_or_string = schema.other.get("x-kubernetes-int-or-string") == Some(&Json::Bool(true));
        let kind = if int_or_string {
            ShapeKind::Dynamic
        } else {
            match schema.type_.as_deref() {
                Some("object") | None if is_map(schema) => ShapeKind::Map { values: map_values(schema) },
                Some("object") => object_kind(schema, resource_root),
                None if !schema.properties.is_empty() || resource_root => object_kind(schema, resource_root),
                Some("array") => ShapeKind::List {
                    items: schema.items.as_deref().map_or_else(Arc::default, |items| Shape::of(items, false)),
                    correlated: schema.list_type.as_deref() == Some("map"),
                },
                Some("string") => ShapeKind::String(string_format(schema.format.as_deref())),
                Some("integer") => ShapeKind::Integer,
                Some("number") => ShapeKind::Number,
                _ => ShapeKind::Dynamic,
            }
        };
        Arc::new(Shape { kind })
    }

    /// The shape of declared property `name`, if the node declares it.
    pub(super) fn property(&self, name: &str) -> Option<&Arc<Shape>> {
        match &self.kind {
            ShapeKind::Object { fields, .. } => fields.get(name).map(|f| &f.shape),
            _ => None,
        }
    }

    /// The shape of list items, and whether they correlate with old items on update.
    pub(super) fn items(&self) -> Option<(&Arc<Shape>, bool)> {
        match &self.kind {
            ShapeKind::List { items, correlated } => Some((items, *correlated)),
            _ => None,
        }
    }

    /// The shape of map values.
    pub(super) fn map_values(&self) -> Option<&Arc<Shape>> {
        match &self.kind {
            ShapeKind::Map { values } => Some(values),
            _ => None,
        }
    }

    /// How to convert only the fields with the given CEL names of this node's objects or maps, for rules
    /// that only ever select fields of `self`; None for other shapes (they convert whole).
    pub(super) fn projection(&self, cel_names: &[String]) -> Option<Projection> {
        let fields = match &self.kind {
            ShapeKind::Object { fields, keep_unknown, resource_root } => cel_names
                .iter()
                .filter_map(|cel_name| {
                    if *resource_root && matches!(cel_name.as_str(), "apiVersion" | "kind" | "metadata") {
                        return Some(ProjectedField::new(cel_name, cel_name, Converter::ResourceRoot));
                    }
                    let declared =
                        fields.iter().find(|(_, f)| f.cel_name.as_deref().map(String::as_str) == Some(cel_name));
                    match declared {
                        Some((json_name, field)) => {
                            Some(ProjectedField::new(json_name, cel_name, Converter::Shape(Arc::clone(&field.shape))))
                        }
                        // Undeclared: visible under its raw name where unknown fields are kept, else never.
                        None => keep_unknown.then(|| ProjectedField::new(cel_name, cel_name, Converter::Dynamic)),
                    }
                })
                .collect(),
            ShapeKind::Map { values } => cel_names
                .iter()
                .map(|key| ProjectedField::new(key, key, Converter::Shape(Arc::clone(values))))
                .collect(),
            _ => return None,
        };
        Some(Projection { fields })
    }

    /// Converts `value` to the CEL value the API server binds for it.
    pub(super) fn to_cel(&self, value: &Json) -> Value {
        match (value, &self.kind) {
            (Json::Null, _) => Value::Null,
            (Json::Bool(b), _) => Value::Bool(*b),
            (Json::Number(n), ShapeKind::Number) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            (Json::Number(n), ShapeKind::Integer) => integer(n),
            (Json::Number(n), _) => dynamic_number(n),
            (Json::String(s), ShapeKind::String(format)) => string(s, *format),
            (Json::String(s), _) => Value::String(Arc::new(s.clone())),
            (Json::Array(items), ShapeKind::List { items: shape, .. }) => {
                Value::List(Arc::new(items.iter().map(|item| shape.to_cel(item)).collect()))
            }
            (Json::Array(items), _) => Value::List(Arc::new(items.iter().map(dynamic).collect())),
            (Json::Object(map), ShapeKind::Object { fields, keep_unknown, resource_root }) => {
                object(map, fields, *keep_unknown, *resource_root)
            }
            (Json::Object(map), ShapeKind::Map { values }) => {
                map_value(map.iter().map(|(key, v)| (Key::String(Arc::new(key.clone())), values.to_cel(v))))
            }
            (Json::Object(_), _) => dynamic(value),
        }
    }
}

/// The fields of `self` a node's rules read, resolved once: converting only them is what keeps a rule on a
/// large object cheap. Selecting a field left out is an error and `has()` false, exactly as on the whole value.
#[derive(Debug)]
pub(super) struct Projection {
    fields: Vec<ProjectedField>,
}

#[derive(Debug)]
struct ProjectedField {
    json_name: String,
    cel_name: Arc<String>,
    converter: Converter,
}

#[derive(Debug)]
enum Converter {
    Shape(Arc<Shape>),
    ResourceRoot,
    Dynamic,
}

impl ProjectedField {
    fn new(json_name: &str, cel_name: &str, converter: Converter) -> ProjectedField {
        ProjectedField { json_name: json_name.to_owned(), cel_name: Arc::new(cel_name.to_owned()), converter }
    }
}

impl Projection {
    /// Converts the projected fields of `value`; a value that is not an object converts whole with `shape`.
    pub(super) fn to_cel(&self, value: &Json, shape: &Shape) -> Value {
        let Json::Object(map) = value else { return shape.to_cel(value) };
        let entries = self.fields.iter().filter_map(|field| {
            let value = map.get(&field.json_name)?;
            let converted = match &field.converter {
                Converter::Shape(shape) => shape.to_cel(value),
                Converter::ResourceRoot => resource_root_field(&field.json_name, value),
                Converter::Dynamic => dynamic(value),
            };
            Some((Key::String(Arc::clone(&field.cel_name)), converted))
        });
        map_value(entries)
    }
}

fn is_map(schema: &Schema) -> bool {
    schema.properties.is_empty()
        && matches!(
            &schema.additional_properties,
            Some(AdditionalProperties::Schema(_)) | Some(AdditionalProperties::Allowed(true))
        )
}

fn map_values(schema: &Schema) -> Arc<Shape> {
    match &schema.additional_properties {
        Some(AdditionalProperties::Schema(values)) => Shape::of(values, false),
        _ => Arc::default(),
    }
}

fn object_kind(schema: &Schema, resource_root: bool) -> ShapeKind {
    let fields = schema
        .properties
        .iter()
        .map(|(name, property)| {
            let field = Field { cel_name: escape_property_name(name).map(Arc::new), shape: Shape::of(property, false) };
            (name.clone(), field)
        })
        .collect();
    ShapeKind::Object { fields, keep_unknown: schema.preserve_unknown_fields, resource_root }
}

fn string_format(format: Option<&str>) -> StringFormat {
    match format {
        Some("date-time") => StringFormat::DateTime,
        Some("date") => StringFormat::Date,
        Some("duration") => StringFormat::Duration,
        Some("byte") => StringFormat::Byte,
        _ => StringFormat::Plain,
    }
}

fn object(
    map: &serde_json::Map<String, Json>,
    fields: &HashMap<String, Field>,
    keep_unknown: bool,
    resource_root: bool,
) -> Value {
    let mut out = HashMap::with_capacity(map.len());
    for (name, value) in map {
        if resource_root && matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
            out.insert(Key::String(Arc::new(name.clone())), resource_root_field(name, value));
            continue;
        }
        match fields.get(name) {
            Some(Field { cel_name: Some(cel_name), shape }) => {
                out.insert(Key::String(Arc::clone(cel_name)), shape.to_cel(value));
            }
            Some(_) => {}
            None if keep_unknown => {
                out.insert(Key::String(Arc::new(name.clone())), dynamic(value));
            }
            None => {}
        }
    }
    Value::Map(Map { map: Arc::new(out) })
}

/// `apiVersion`, `kind` and `metadata` at a resource root, as `WithTypeAndObjectMeta` declares them.
fn resource_root_field(name: &str, value: &Json) -> Value {
    match (name, value) {
        ("metadata", Json::Object(metadata)) => map_value(
            ["name", "generateName"]
                .into_iter()
                .filter_map(|key| metadata.get(key).map(|v| (Key::String(Arc::new(key.to_owned())), dynamic(v)))),
        ),
        _ => dynamic(value),
    }
}

fn map_value(entries: impl Iterator<Item = (Key, Value)>) -> Value {
    Value::Map(Map { map: Arc::new(entries.collect()) })
}

/// A value without a schema (int-or-string, preserved unknown fields): as the JSON says, keys unescaped.
fn dynamic(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => dynamic_number(n),
        Json::String(s) => Value::String(Arc::new(s.clone())),
        Json::Array(items) => Value::List(Arc::new(items.iter().map(dynamic).collect())),
        Json::Object(map) => map_value(map.iter().map(|(k, v)| (Key::String(Arc::new(k.clone())), dynamic(v)))),
    }
}

fn dynamic_number(n: &serde_json::Number) -> Value {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => Value::Int(i),
        (None, Some(u)) => Value::UInt(u),
        _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// An integer field: JSON may spell it `3.0`, which is still the int 3.
fn integer(n: &serde_json::Number) -> Value {
    if let Some(i) = n.as_i64() {
        return Value::Int(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Value::Int(f as i64),
        _ => dynamic_number(n),
    }
}

/// A string with a format; a value that does not parse stays a string (structural validation reports it).
fn string(s: &str, format: StringFormat) -> Value {
    let parsed = match format {
        StringFormat::Plain => None,
        StringFormat::DateTime => chrono::DateTime::parse_from_rfc3339(s).ok().map(Value::Timestamp),
        StringFormat::Date => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(|midnight| Value::Timestamp(midnight.and_utc().fixed_offset())),
        StringFormat::Duration => parse_go_duration(s).map(Value::Duration),
        StringFormat::Byte => serde_json::from_value::<k8s_openapi::ByteString>(Json::String(s.to_owned()))
            .ok()
            .map(|bytes| Value::Bytes(Arc::new(bytes.0))),
    };
    parsed.unwrap_or_else(|| Value::String(Arc::new(s.to_owned())))
}

/// CEL reserved words: a property named like one is visible as `__word__`.
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// The CEL name of a declared property, as the API server escapes it; None when CEL cannot see it
/// (it must match `[a-zA-Z_.-/][a-zA-Z0-9_.-/]*`).
pub(super) fn escape_property_name(name: &str) -> Option<String> {
    let first = name.chars().next()?;
    if first.is_ascii_digit() {
        return None;
    }
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let mut escaped = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                escaped.push_str("__underscores__");
            }
            '.' => escaped.push_str("__dot__"),
            '-' => escaped.push_str("__dash__"),
            '/' => escaped.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => escaped.push(c),
            _ => return None,
        }
    }
    Some(escaped)
}

/// Parses a Go duration (`1h30m`, `-1.5s`, `300ms`, `0`), as `format: duration` values are written.
fn parse_go_duration(text: &str) -> Option<chrono::Duration> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(chrono::Duration::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut nanos: i128 = 0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit_nanos: f64 = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        nanos += (number * unit_nanos) as i128;
    }
    let nanos = i64::try_from(if negative { -nanos } else { nanos }).ok()?;
    Some(chrono::Duration::nanoseconds(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(value: Json) -> Schema {
        serde_json::from_value(value).unwrap()
    }

    fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
        match value {
            Value::Map(map) => map.map.get(&Key::String(Arc::new(name.to_owned()))),
            _ => None,
        }
    }

    #[test]
    fn property_names_are_escaped_as_the_api_server_does() {
        assert_eq!(escape_property_name("namespace").as_deref(), Some("__namespace__"));
        assert_eq!(escape_property_name("x-prop").as_deref(), Some("x__dash__prop"));
        assert_eq!(escape_property_name("redact__d").as_deref(), Some("redact__underscores__d"));
        assert_eq!(escape_property_name("foo_bar").as_deref(), Some("foo_bar"));
        assert_eq!(escape_property_name("a.b/c").as_deref(), Some("a__dot__b__slash__c"));
        assert_eq!(escape_property_name("string").as_deref(), Some("string"));
        assert_eq!(escape_property_name("1abc"), None);
        assert_eq!(escape_property_name("a b"), None);
        assert_eq!(escape_property_name(""), None);
    }

    #[test]
    fn declared_names_are_escaped_and_map_keys_are_not() {
        let shape = Shape::of(
            &schema(json!({
                "type": "object",
                "properties": {
                    "namespace": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                }
            })),
            false,
        );
        let value =
            shape.to_cel(&json!({"namespace": "a", "labels": {"app.kubernetes.io/name": "x"}, "undeclared": 1}));
        assert!(field(&value, "__namespace__").is_some());
        assert!(field(&value, "namespace").is_none());
        assert!(field(&value, "undeclared").is_none(), "undeclared fields are pruned, so CEL never sees them");
        let labels = field(&value, "labels").unwrap();
        assert!(field(labels, "app.kubernetes.io/name").is_some());
    }

    #[test]
    fn numbers_and_formats_follow_the_schema() {
        let shape = Shape::of(
            &schema(json!({
                "type": "object",
                "properties": {
                    "ratio": {"type": "number"},
                    "count": {"type": "integer"},
                    "port": {"x-kubernetes-int-or-string": true},
                    "at": {"type": "string", "format": "date-time"},
                    "day": {"type": "string", "format": "date"},
                    "every": {"type": "string", "format": "duration"},
                    "data": {"type": "string", "format": "byte"},
                    "broken": {"type": "string", "format": "date-time"}
                }
            })),
            false,
        );
        let value = shape.to_cel(&json!({
            "ratio": 1, "count": 3.0, "port": "http", "at": "2024-05-01T10:00:00Z", "day": "2024-05-01",
            "every": "1h30m", "data": "aGVsbG8=", "broken": "yesterday"
        }));
        assert_eq!(field(&value, "ratio"), Some(&Value::Float(1.0)));
        assert_eq!(field(&value, "count"), Some(&Value::Int(3)));
        assert_eq!(field(&value, "port"), Some(&Value::String(Arc::new("http".into()))));
        assert!(matches!(field(&value, "at"), Some(Value::Timestamp(_))));
        assert!(matches!(field(&value, "day"), Some(Value::Timestamp(_))));
        assert_eq!(field(&value, "every"), Some(&Value::Duration(chrono::Duration::minutes(90))));
        assert_eq!(field(&value, "data"), Some(&Value::Bytes(Arc::new(b"hello".to_vec()))));
        assert_eq!(field(&value, "broken"), Some(&Value::String(Arc::new("yesterday".into()))));
    }

    #[test]
    fn resource_roots_expose_only_name_and_generate_name_of_metadata() {
        let shape = Shape::of(
            &schema(
                json!({"type": "object", "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}}}),
            ),
            true,
        );
        let value = shape.to_cel(&json!({
            "apiVersion": "v1", "kind": "K",
            "metadata": {"name": "n", "generateName": "g", "namespace": "ns", "labels": {"a": "b"}},
            "spec": {}
        }));
        let metadata = field(&value, "metadata").unwrap();
        assert!(field(metadata, "name").is_some() && field(metadata, "generateName").is_some());
        assert!(field(metadata, "namespace").is_none() && field(metadata, "labels").is_none());
        assert_eq!(field(&value, "kind"), Some(&Value::String(Arc::new("K".into()))));
    }

    #[test]
    fn projection_keeps_only_the_named_fields() {
        let shape = Shape::of(
            &schema(json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}})),
            false,
        );
        let projection = shape.projection(&["a".to_owned()]).expect("objects project");
        let value = projection.to_cel(&json!({"a": "x", "b": "y"}), &shape);
        assert!(field(&value, "a").is_some());
        assert!(field(&value, "b").is_none());
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("300ms"), Some(chrono::Duration::milliseconds(300)));
        assert_eq!(parse_go_duration("-1.5h"), Some(chrono::Duration::minutes(-90)));
        assert_eq!(parse_go_duration("0"), Some(chrono::Duration::zero()));
        assert_eq!(parse_go_duration("1d"), None);
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("h"), None);
    }
}

//! Applying a CRD version's structural schema to an object as the API server does on write: pruning the fields
//! the schema does not declare ([`prune`]) and filling in defaults ([`apply_defaults`]).
//!
//! Both walks follow apiextensions-apiserver (`schema/pruning` and `schema/defaulting`). Where a value's JSON type
//! disagrees with its schema the value is left as it is: rejecting it is validation's job, and guessing a shape
//! here would report removals the API server never makes. The walks recurse only where the value and the schema
//! both have structure, so their depth is bounded by the schema's.
//!
//! Object validation runs these walks on every object it checks, so paths are built lazily ([`LazyPath`]): only
//! a removal or a default that is reported pays for its path's text.

use super::path::push_property;
use crate::manifest::{AdditionalProperties, DefaultsAt, Schema};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::LazyLock;

/// The fields an embedded resource (and the resource root) owns outside its schema: TypeMeta and ObjectMeta.
const TYPE_AND_OBJECT_META: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// A concrete path in an object (`.spec.rules[0].match`), linked to its parent on the walk's stack so that
/// nothing is allocated until the text is needed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LazyPath<'a> {
    /// The object itself (rendered as the empty string).
    Root,
    /// A field of the parent object (quoted where the name is not a plain identifier).
    Field(&'a LazyPath<'a>, &'a str),
    /// An item of the parent array.
    Index(&'a LazyPath<'a>, usize),
}

impl LazyPath<'_> {
    /// The path's text: `""` for the root, `.spec.list[2]["a.b"]` below it.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(64);
        self.write_into(&mut out);
        out
    }

    fn write_into(&self, out: &mut String) {
        match self {
            LazyPath::Root => {}
            LazyPath::Field(parent, name) => {
                parent.write_into(out);
                push_property(out, name);
            }
            LazyPath::Index(parent, index) => {
                parent.write_into(out);
                let _ = write!(out, "[{index}]");
            }
        }
    }
}

/// Finds an object's fields among a schema's `properties` in one merged pass instead of a lookup per field:
/// serde_json's map and the schema's `BTreeMap` both iterate in key order. Fields must be looked up in the
/// order the object iterates them; should serde_json ever be built with ordered maps, this falls back to lookups.
pub(crate) struct SortedLookup<'m, V> {
    map: &'m BTreeMap<String, V>,
    entries: std::iter::Peekable<std::collections::btree_map::Iter<'m, String, V>>,
    sorted: bool,
}

impl<'m, V> SortedLookup<'m, V> {
    /// A lookup over `map`'s entries.
    pub(crate) fn new(map: &'m BTreeMap<String, V>) -> Self {
        SortedLookup { map, entries: map.iter().peekable(), sorted: object_fields_are_sorted() }
    }

    /// The entry named `name`, the next field of the object in its iteration order.
    pub(crate) fn find(&mut self, name: &str) -> Option<&'m V> {
        if !self.sorted {
            return self.map.get(name);
        }
        while let Some((key, _)) = self.entries.peek() {
            match compare_names(key, name) {
                Ordering::Less => {
                    self.entries.next();
                }
                Ordering::Equal => return self.entries.next().map(|(_, value)| value),
                Ordering::Greater => return None,
            }
        }
        None
    }
}

/// `str` ordering, deciding on the first byte where it can: most steps of a merge differ there, and it saves a
/// `memcmp` call per step.
fn compare_names(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    match a.first().cmp(&b.first()) {
        Ordering::Equal => a.cmp(b),
        different => different,
    }
}

/// Whether serde_json's object map iterates in key order (it does unless its `preserve_order` feature is on).
fn object_fields_are_sorted() -> bool {
    static SORTED: LazyLock<bool> = LazyLock::new(|| {
        let mut probe = Map::new();
        probe.insert("b".to_owned(), Value::Null);
        probe.insert("a".to_owned(), Value::Null);
        probe.keys().next().map(String::as_str) == Some("a")
    });
    *SORTED
}

/// A field the API server would remove, with the data it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct PrunedField {
    /// The field's path, e.g. `.spec.items[2].bar`.
    pub path: String,
    /// The value removed with it.
    pub value: Value,
    /// When the field is a key of a mapping held where the schema declares no fields (an array, a scalar, or
    /// an item of a list where the schema declares an object): that node's path and type name. Every key goes
    /// then, and the mapping reads back as `{}`.
    pub in_wrong_type: Option<(String, String)>,
}

/// A default the API server would fill in.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedDefault {
    /// The path that received the default, e.g. `.spec.issuerRef.group`.
    pub path: String,
    /// The value readers see there afterwards: the default, with the defaults nested inside it applied.
    pub value: Value,
    /// Whether the path lies inside another default applied by the same walk (its value is part of that one's).
    pub nested: bool,
    /// Whether the default replaced a `null` (a non-nullable one) rather than an absent field.
    pub replaced_null: bool,
}

/// Removes from `object` every field the schema does not declare, as the API server does on write.
/// `object` is a whole custom resource (root schema = the version's openAPIV3Schema). Returns the JSON paths
/// (like `.spec.foo`, `.spec.items[2].bar`, `.metadata.labels` never) of the fields removed, in document order.
///
/// The CRD-wide `spec.preserveUnknownFields: true` (legacy v1beta1) disables pruning altogether; honouring it is
/// the caller's decision, this function always prunes.
pub fn prune(object: &mut Value, schema: &Schema) -> Vec<String> {
    prune_collecting(object, schema).into_iter().map(|pruned| pruned.path).collect()
}

/// [`prune`], returning each removed field with the data it held (what the object loses on its next write).
pub fn prune_collecting(object: &mut Value, schema: &Schema) -> Vec<PrunedField> {
    let mut removed = Vec::new();
    // The API server treats the root as an embedded resource whatever its schema says, so TypeMeta and
    // ObjectMeta survive even when the schema does not declare them.
    if let Value::Object(fields) = object {
        let walk = ObjectWalk { keeps_meta: true, preserves_unknown: schema.preserve_unknown_fields };
        prune_fields(fields, schema, walk, &LazyPath::Root, &mut removed);
    }
    removed
}

/// Removes `null` values the schema neither allows (`nullable`) nor defaults, as the API server does right after
/// pruning: such a null is no data, and the API server treats it as an absent field rather than a type error.
/// Nulls inside arrays are kept (an item cannot be absent); validation judges them.
pub fn prune_non_nullable_nulls(object: &mut Value, schema: &Schema) {
    // Most objects hold no null at all: finding that out is much cheaper than the walk with the schema.
    if contains_null(object) {
        prune_nulls_in(object, schema);
    }
}

fn contains_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().any(contains_null),
        Value::Object(fields) => fields.values().any(contains_null),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => false,
    }
}

fn prune_nulls_in(object: &mut Value, schema: &Schema) {
    match object {
        Value::Object(fields) => {
            let mut declared = SortedLookup::new(&schema.properties);
            fields.retain(|name, value| {
                let Some(field_schema) = declared_schema(schema, declared.find(name).map(Box::as_ref)) else {
                    return true;
                };
                if value.is_null() && !field_schema.nullable && usable_default(field_schema).is_none() {
                    return false;
                }
                prune_nulls_in(value, field_schema);
                true
            })
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.items.as_deref() {
                items.iter_mut().for_each(|item| prune_nulls_in(item, item_schema));
            }
        }
        _ => {}
    }
}

/// The schema a field's value follows, when one is declared (a property or an `additionalProperties` schema).
fn declared_schema<'a>(schema: &'a Schema, property: Option<&'a Schema>) -> Option<&'a Schema> {
    match field_rule_in(schema, property) {
        FieldRule::Declared(field_schema) => Some(field_schema),
        FieldRule::AnyValue | FieldRule::Undeclared => None,
    }
}

/// Applies the schema's defaults to `object` as the API server does (on read from storage and on write):
/// for every object node present in the value, each declared property that is absent and has a `default`
/// gets a deep copy of it; recursion continues into existing values and into defaults just set (nested
/// defaults inside a defaulted object apply too). Returns the paths that received a default.
///
/// A property present as `null` counts as absent unless its schema is `nullable`; the same goes for `null` array
/// items and map values. Paths are listed in document order, each before the defaults applied inside it.
pub fn apply_defaults(object: &mut Value, schema: &Schema) -> Vec<String> {
    apply_defaults_collecting(object, schema).into_iter().map(|applied| applied.path).collect()
}

/// [`apply_defaults`], returning each default with the value readers see afterwards.
pub fn apply_defaults_collecting(object: &mut Value, schema: &Schema) -> Vec<AppliedDefault> {
    let mut applied = Vec::new();
    if let Value::Object(fields) = object {
        let at = DefaultingAt { path: &LazyPath::Root, inside_default: false };
        default_fields(fields, schema, true, at, &mut applied);
    }
    applied
}

/// How a node's object value is pruned.
#[derive(Clone, Copy)]
struct ObjectWalk {
    /// An embedded resource (or the root) keeps `apiVersion`, `kind` and `metadata` unexamined.
    keeps_meta: bool,
    /// Fields the schema does not declare are kept.
    preserves_unknown: bool,
}

/// What the schema says about one field of an object.
enum FieldRule<'a> {
    /// The field's value follows this schema (a declared property or an `additionalProperties` schema).
    Declared(&'a Schema),
    /// `additionalProperties: true`: any value is allowed and nothing below it is examined.
    AnyValue,
    /// Nothing declares the field.
    Undeclared,
}

/// The rule for a field, given its entry in `properties` (found by a lookup or a [`SortedLookup`]).
fn field_rule_in<'a>(schema: &'a Schema, property: Option<&'a Schema>) -> FieldRule<'a> {
    if let Some(property) = property {
        return FieldRule::Declared(property);
    }
    match &schema.additional_properties {
        Some(AdditionalProperties::Schema(values)) => FieldRule::Declared(values),
        Some(AdditionalProperties::Allowed(true)) => FieldRule::AnyValue,
        Some(AdditionalProperties::Allowed(false)) | None => FieldRule::Undeclared,
    }
}

/// Whether an object value is walked with this schema. A typeless node (`x-kubernetes-int-or-string`, or a bare
/// `x-kubernetes-preserve-unknown-fields`) is walked only when it declares object structure: otherwise an
/// unexpected object there would lose every field to a schema that never described it.
fn describes_object(schema: &Schema) -> bool {
    match schema.type_.as_deref() {
        Some(type_) => type_ == "object",
        None => {
            !schema.properties.is_empty() || schema.additional_properties.is_some() || schema.is_embedded_resource()
        }
    }
}

/// The schema of an array value's items, when the node describes an array. Without `items` (which structural
/// schemas require) nothing is declared to judge the items by, so they are left alone.
fn array_items(schema: &Schema) -> Option<&Schema> {
    match schema.type_.as_deref() {
        Some("array") | None => schema.items.as_deref(),
        Some(_) => None,
    }
}

/// Prunes one value. `inherits_preserve` is set for the items of an array that preserves unknown fields: the API
/// server carries the array's preservation down to its items (but not to their declared properties).
fn prune_value(
    value: &mut Value,
    schema: &Schema,
    inherits_preserve: bool,
    path: &LazyPath<'_>,
    removed: &mut Vec<PrunedField>,
) {
    let preserves_unknown = schema.preserve_unknown_fields || inherits_preserve;
    match value {
        Value::Object(fields) if describes_object(schema) => {
            let walk = ObjectWalk { keeps_meta: schema.is_embedded_resource(), preserves_unknown };
            prune_fields(fields, schema, walk, path, removed);
        }
        // A mapping where the node declares no fields (an array, a scalar, int-or-string): the API server
        // prunes every key, on write and when it reads the stored object back (measured on kube-apiserver
        // 1.34: it comes back as `{}`, and an unchanged update passes), so the whole field is lost.
        Value::Array(items) if array_items(schema).is_some() => {
            if let Some(item_schema) = array_items(schema) {
                prune_items(items, item_schema, preserves_unknown, path, removed);
            }
        }
        Value::Object(_) | Value::Array(_) if !preserves_unknown && declares_nothing_for(schema, value) => {
            let node = (path.render(), schema.type_name().to_owned());
            prune_without_schema(value, &node, path, removed);
        }
        _ => {}
    }
}

/// Whether the node declares nothing for a mapping or list it holds (not described by it): a mapping where
/// an array, a scalar or int-or-string is declared; a list where a scalar, an object or int-or-string is.
/// The API server prunes every key of every mapping found there, however deep. A typeless node that is not
/// int-or-string (only preserve-unknown-fields makes one) is left alone.
fn declares_nothing_for(schema: &Schema, value: &Value) -> bool {
    let typed_otherwise = match (schema.type_.as_deref(), value) {
        (Some(_), Value::Object(_)) => true,
        (Some(type_), Value::Array(_)) => type_ != "array",
        _ => false,
    };
    typed_otherwise || schema.is_int_or_string()
}

/// Removes every key of every mapping in `value`, which no schema describes (node: where the schema declares
/// something else, and what), recording each with its value.
fn prune_without_schema(
    value: &mut Value,
    node: &(String, String),
    path: &LazyPath<'_>,
    removed: &mut Vec<PrunedField>,
) {
    match value {
        Value::Object(fields) => {
            for (name, value) in std::mem::take(fields) {
                let path = LazyPath::Field(path, &name).render();
                removed.push(PrunedField { path, value, in_wrong_type: Some(node.clone()) });
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                prune_without_schema(item, node, &LazyPath::Index(path, index), removed);
            }
        }
        _ => {}
    }
}

fn prune_fields(
    fields: &mut Map<String, Value>,
    schema: &Schema,
    walk: ObjectWalk,
    path: &LazyPath<'_>,
    removed: &mut Vec<PrunedField>,
) {
    // `retain` visits fields in document order, so nested removals and this level's interleave as they appear.
    let mut declared = SortedLookup::new(&schema.properties);
    fields.retain(|name, value| {
        let property = declared.find(name);
        if walk.keeps_meta && TYPE_AND_OBJECT_META.contains(&name.as_str()) {
            return true;
        }
        match field_rule_in(schema, property.map(Box::as_ref)) {
            FieldRule::Declared(field_schema) => {
                prune_value(value, field_schema, false, &LazyPath::Field(path, name), removed);
                true
            }
            FieldRule::AnyValue => true,
            FieldRule::Undeclared if walk.preserves_unknown => true,
            FieldRule::Undeclared => {
                let path = LazyPath::Field(path, name).render();
                removed.push(PrunedField { path, value: std::mem::take(value), in_wrong_type: None });
                false
            }
        }
    });
}

fn prune_items(
    items: &mut [Value],
    item_schema: &Schema,
    preserves_unknown: bool,
    path: &LazyPath<'_>,
    removed: &mut Vec<PrunedField>,
) {
    for (index, item) in items.iter_mut().enumerate() {
        prune_value(item, item_schema, preserves_unknown, &LazyPath::Index(path, index), removed);
    }
}

/// The schema's `default`, unless there is none: the API server reads `default: null` as no default.
fn usable_default(schema: &Schema) -> Option<&Value> {
    schema.default.as_ref().filter(|default| !default.is_null())
}

/// Where a node's defaults are (computed on first use, then read from the node's [`DefaultsIndex`]).
///
/// [`DefaultsIndex`]: crate::manifest::DefaultsIndex
fn defaults_at(schema: &Schema) -> DefaultsAt {
    *schema.defaults.0.get_or_init(|| {
        let property = schema.properties.values().any(|p| usable_default(p).is_some());
        let values = match &schema.additional_properties {
            Some(AdditionalProperties::Schema(values)) => Some(values.as_ref()),
            _ => None,
        };
        let mut children = schema.properties.values().map(Box::as_ref).chain(schema.items.as_deref()).chain(values);
        let below = property || children.any(|child| usable_default(child).is_some() || defaults_at(child).below);
        DefaultsAt { property, below }
    })
}

/// Whether the API server replaces `value` with the schema's default: it is `null` where `null` is not allowed.
fn is_defaultable_null(value: &Value, schema: &Schema) -> bool {
    value.is_null() && !schema.nullable
}

/// Replaces a non-nullable `null` by the schema's default, reporting whether it did.
fn default_null(value: &mut Value, schema: &Schema) -> bool {
    match usable_default(schema) {
        Some(default) if is_defaultable_null(value, schema) => {
            *value = default.clone();
            true
        }
        _ => false,
    }
}

/// Where a defaulting walk is: the path, and whether a default applied further up already covers it.
#[derive(Clone, Copy)]
struct DefaultingAt<'p, 'a> {
    path: &'p LazyPath<'a>,
    inside_default: bool,
}

fn default_value(value: &mut Value, schema: &Schema, at: DefaultingAt<'_, '_>, applied: &mut Vec<AppliedDefault>) {
    if !defaults_at(schema).below {
        // Nothing under this node has a default: walking the value could not change it.
        return;
    }
    match value {
        Value::Object(fields) if describes_object(schema) => {
            default_fields(fields, schema, schema.is_embedded_resource(), at, applied)
        }
        Value::Array(items) => {
            if let Some(item_schema) = array_items(schema) {
                default_items(items, item_schema, at, applied);
            }
        }
        _ => {}
    }
}

/// Records a default just set at `path`, walks into it, then stores the value readers will see (nested defaults
/// included) for defaults no outer default covers.
fn record_default(
    value: &mut Value,
    schema: &Schema,
    (path, replaced_null): (&LazyPath<'_>, bool),
    inside_default: bool,
    applied: &mut Vec<AppliedDefault>,
) {
    let slot = applied.len();
    applied.push(AppliedDefault { path: path.render(), value: Value::Null, nested: inside_default, replaced_null });
    default_value(value, schema, DefaultingAt { path, inside_default: true }, applied);
    if !inside_default {
        applied[slot].value = value.clone();
    }
}

/// Defaults one object: first every absent declared property, then the walk into every field, so defaults just
/// set get their own nested defaults. ObjectMeta is skipped at resource boundaries: CRD schemas cannot default it.
fn default_fields(
    fields: &mut Map<String, Value>,
    schema: &Schema,
    owns_metadata: bool,
    at: DefaultingAt<'_, '_>,
    applied: &mut Vec<AppliedDefault>,
) {
    let filled =
        if defaults_at(schema).property { fill_absent_properties(fields, schema, owns_metadata) } else { Vec::new() };
    let mut declared = SortedLookup::new(&schema.properties);
    for (name, value) in fields.iter_mut() {
        let property = declared.find(name);
        if is_skipped_metadata(owns_metadata, name) {
            continue;
        }
        let FieldRule::Declared(field_schema) = field_rule_in(schema, property.map(Box::as_ref)) else { continue };
        let field_path = LazyPath::Field(at.path, name);
        let is_map_value = property.is_none();
        // Map values have no "absent": only a null one can be defaulted, and only here.
        let just_filled = filled.iter().find(|(filled, _)| *filled == name.as_str()).map(|&(_, null)| null);
        if let Some(replaced_null) = just_filled {
            record_default(value, field_schema, (&field_path, replaced_null), at.inside_default, applied);
        } else if is_map_value && default_null(value, field_schema) {
            record_default(value, field_schema, (&field_path, true), at.inside_default, applied);
        } else {
            let child = DefaultingAt { path: &field_path, inside_default: at.inside_default };
            default_value(value, field_schema, child, applied);
        }
    }
}

/// Sets the default of every declared property that is absent (or a non-nullable null), returning their names
/// and whether a null stood there.
fn fill_absent_properties<'a>(
    fields: &mut Map<String, Value>,
    schema: &'a Schema,
    owns_metadata: bool,
) -> Vec<(&'a str, bool)> {
    let mut filled = Vec::new();
    for (name, property) in &schema.properties {
        if is_skipped_metadata(owns_metadata, name) {
            continue;
        }
        let Some(default) = usable_default(property) else { continue };
        let present = fields.get(name);
        if present.is_none_or(|value| is_defaultable_null(value, property)) {
            filled.push((name.as_str(), present.is_some()));
            fields.insert(name.clone(), default.clone());
        }
    }
    filled
}

fn is_skipped_metadata(owns_metadata: bool, name: &str) -> bool {
    owns_metadata && name == "metadata"
}

fn default_items(
    items: &mut [Value],
    item_schema: &Schema,
    at: DefaultingAt<'_, '_>,
    applied: &mut Vec<AppliedDefault>,
) {
    for (index, item) in items.iter_mut().enumerate() {
        let item_path = LazyPath::Index(at.path, index);
        if default_null(item, item_schema) {
            record_default(item, item_schema, (&item_path, true), at.inside_default, applied);
        } else {
            let child = DefaultingAt { path: &item_path, inside_default: at.inside_default };
            default_value(item, item_schema, child, applied);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(value: Value) -> Schema {
        match serde_json::from_value::<Schema>(value) {
            Ok(schema) => schema,
            Err(error) => panic!("test schema does not parse: {error}"),
        }
    }

    /// A root schema with `spec` as given, the way CRDs usually declare it.
    fn root_with_spec(spec: Value) -> Schema {
        schema(json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": spec,
            }
        }))
    }

    fn resource(spec: Value) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec})
    }

    // ---- pruning ----

    #[test]
    fn prunes_unknown_fields_at_the_root_and_in_spec() {
        let schema = root_with_spec(json!({"type": "object", "properties": {"replicas": {"type": "integer"}}}));
        let mut object = resource(json!({"replicas": 3, "bogus": true}));
        object["extra"] = json!("x");

        let removed = prune(&mut object, &schema);

        assert_eq!(removed, [".extra", ".spec.bogus"]);
        assert_eq!(object, resource(json!({"replicas": 3})));
    }

    #[test]
    fn prunes_unknown_fields_inside_array_items() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}}
                }
            }
        }));
        let mut object = resource(json!({"items": [{"name": "a"}, {"name": "b", "bar": 1}, {"bar": 2, "zzz": 3}]}));

        let removed = prune(&mut object, &schema);

        assert_eq!(removed, [".spec.items[1].bar", ".spec.items[2].bar", ".spec.items[2].zzz"]);
        assert_eq!(object["spec"], json!({"items": [{"name": "a"}, {"name": "b"}, {}]}));
    }

    #[test]
    fn prunes_map_values_with_the_additional_properties_schema() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "targets": {
                    "type": "object",
                    "additionalProperties": {"type": "object", "properties": {"port": {"type": "integer"}}}
                }
            }
        }));
        let mut object = resource(json!({"targets": {"a": {"port": 1, "x": 1}, "b.c/d": {"port": 2, "y": 2}}}));

        let removed = prune(&mut object, &schema);

        assert_eq!(removed, [".spec.targets.a.x", ".spec.targets[\"b.c/d\"].y"]);
        assert_eq!(object["spec"], json!({"targets": {"a": {"port": 1}, "b.c/d": {"port": 2}}}));
    }

    #[test]
    fn additional_properties_true_keeps_everything_below() {
        let schema = root_with_spec(json!({"type": "object", "additionalProperties": true}));
        let spec = json!({"anything": {"deep": [1, {"x": 2}]}, "flag": true});
        let mut object = resource(spec.clone());

        assert!(prune(&mut object, &schema).is_empty());
        assert_eq!(object["spec"], spec);
    }

    #[test]
    fn additional_properties_false_or_absent_prunes_unknown_keys() {
        for additional in [json!({"additionalProperties": false}), json!({})] {
            let mut spec_schema = json!({"type": "object", "properties": {"known": {"type": "string"}}});
            if let (Some(target), Some(extra)) = (spec_schema.as_object_mut(), additional.as_object()) {
                target.extend(extra.clone());
            }
            let mut object = resource(json!({"known": "k", "unknown": "u"}));

            assert_eq!(prune(&mut object, &root_with_spec(spec_schema)), [".spec.unknown"]);
            assert_eq!(object["spec"], json!({"known": "k"}));
        }
    }

    #[test]
    fn object_without_properties_loses_every_field() {
        let schema = root_with_spec(json!({"type": "object"}));
        let mut object = resource(json!({"a": 1, "b": {"c": 2}}));

        assert_eq!(prune(&mut object, &schema), [".spec.a", ".spec.b"]);
        assert_eq!(object["spec"], json!({}));
    }

    #[test]
    fn preserve_unknown_fields_keeps_unknowns_but_prunes_inside_declared_properties() {
        let schema = root_with_spec(json!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "properties": {
                "strict": {"type": "object", "properties": {"ok": {"type": "string"}}},
                "loose": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        }));
        let spec = json!({
            "free": {"anything": [1, 2]},
            "loose": {"kept": true},
            "strict": {"ok": "y", "dropped": 1}
        });
        let mut object = resource(spec);

        let removed = prune(&mut object, &schema);

        assert_eq!(removed, [".spec.strict.dropped"]);
        assert_eq!(
            object["spec"],
            json!({"free": {"anything": [1, 2]}, "loose": {"kept": true}, "strict": {"ok": "y"}})
        );
    }

    #[test]
    fn preserve_unknown_fields_on_an_array_carries_to_its_items() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "list": {
                    "type": "array",
                    "x-kubernetes-preserve-unknown-fields": true,
                    "items": {
                        "type": "object",
                        "properties": {"inner": {"type": "object", "properties": {"a": {"type": "string"}}}}
                    }
                }
            }
        }));
        let mut object = resource(json!({"list": [{"extra": 1, "inner": {"a": "x", "b": "y"}}]}));

        assert_eq!(prune(&mut object, &schema), [".spec.list[0].inner.b"]);
        assert_eq!(object["spec"], json!({"list": [{"extra": 1, "inner": {"a": "x"}}]}));
    }

    #[test]
    fn embedded_resource_keeps_type_and_object_meta() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": true,
                    "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}
                }
            }
        }));
        let template = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a": "b"}, "whatever": 1},
            "spec": {"size": 1, "colour": "red"},
            "status": {}
        });
        let mut object = resource(json!({"template": template}));

        let removed = prune(&mut object, &schema);

        assert_eq!(removed, [".spec.template.spec.colour", ".spec.template.status"]);
        assert_eq!(
            object["spec"]["template"],
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "labels": {"a": "b"}, "whatever": 1},
                "spec": {"size": 1}
            })
        );
    }

    #[test]
    fn root_type_and_object_meta_are_never_pruned() {
        // The schema declares neither apiVersion nor kind, and declares metadata as an empty object.
        let schema = schema(json!({
            "type": "object",
            "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}}
        }));
        let metadata = json!({"name": "w", "labels": {"x": "y"}, "annotations": {"a": "b"}, "unknownMeta": 1});
        let mut object = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": metadata});

        assert!(prune(&mut object, &schema).is_empty());
        assert_eq!(object["metadata"], metadata);
        assert_eq!(object["kind"], "Widget");
    }

    #[test]
    fn root_preserving_unknown_fields_keeps_them() {
        let schema = schema(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
        let mut object = json!({"apiVersion": "v1", "kind": "K", "anything": {"a": 1}});

        assert!(prune(&mut object, &schema).is_empty());
        assert_eq!(object["anything"], json!({"a": 1}));
    }

    #[test]
    fn scalars_of_the_wrong_type_are_left_for_validation_and_mappings_lose_their_keys() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "count": {"type": "integer"},
                "list": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
                "obj": {"type": "object", "properties": {"a": {"type": "string"}}}
            }
        }));
        let mut object = resource(json!({
            "name": {"not": "a string"}, "count": "7", "list": {"b": 1}, "obj": [{"b": 1}, [{"c": 2}], 3]
        }));

        assert_eq!(
            prune(&mut object, &schema),
            [".spec.list.b", ".spec.name.not", ".spec.obj[0].b", ".spec.obj[1][0].c"]
        );
        assert_eq!(object["spec"], json!({"name": {}, "count": "7", "list": {}, "obj": [{}, [{}], 3]}));
    }

    #[test]
    fn int_or_string_loses_a_mapping_and_typeless_nodes_keep_what_they_declare() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": true},
                "typeless": {"properties": {"a": {"type": "string"}}}
            }
        }));
        let mut object = resource(json!({"port": {"odd": 1}, "typeless": {"a": "x", "b": "y"}}));

        assert_eq!(prune(&mut object, &schema), [".spec.port.odd", ".spec.typeless.b"]);
        assert_eq!(object["spec"], json!({"port": {}, "typeless": {"a": "x"}}));
    }

    #[test]
    fn combinators_do_not_declare_fields() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "anyOf": [{"properties": {"b": {"type": "string"}}}],
            "allOf": [{"properties": {"c": {"type": "string"}}}],
            "oneOf": [{"properties": {"d": {"type": "string"}}}],
            "not": {"properties": {"e": {"type": "string"}}}
        }));
        let mut object = resource(json!({"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}));

        assert_eq!(prune(&mut object, &schema), [".spec.b", ".spec.c", ".spec.d", ".spec.e"]);
        assert_eq!(object["spec"], json!({"a": "1"}));
    }

    #[test]
    fn removals_are_listed_in_document_order() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "b": {"type": "object", "properties": {"keep": {"type": "string"}}},
                "d": {"type": "array", "items": {"type": "object"}}
            }
        }));
        let mut object = resource(json!({"a": 1, "b": {"keep": "k", "x": 1}, "c": 2, "d": [{"y": 1}, {"z": 2}]}));

        assert_eq!(prune(&mut object, &schema), [".spec.a", ".spec.b.x", ".spec.c", ".spec.d[0].y", ".spec.d[1].z"]);
    }

    #[test]
    fn non_object_documents_are_left_alone() {
        let schema = root_with_spec(json!({"type": "object"}));
        for mut value in [json!(null), json!(3), json!("s"), json!([{"a": 1}])] {
            let before = value.clone();
            assert!(prune(&mut value, &schema).is_empty());
            assert!(apply_defaults(&mut value, &schema).is_empty());
            assert_eq!(value, before);
        }
    }

    // ---- defaulting ----

    #[test]
    fn absent_property_gets_its_default() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {"replicas": {"type": "integer", "default": 1}, "name": {"type": "string"}}
        }));
        let mut object = resource(json!({"name": "n"}));

        assert_eq!(apply_defaults(&mut object, &schema), [".spec.replicas"]);
        assert_eq!(object["spec"], json!({"name": "n", "replicas": 1}));
    }

    #[test]
    fn defaults_apply_inside_a_defaulted_object() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "tls": {
                    "type": "object",
                    "default": {},
                    "properties": {
                        "enabled": {"type": "boolean", "default": true},
                        "cipher": {
                            "type": "object",
                            "default": {"name": "aes"},
                            "properties": {"bits": {"type": "integer", "default": 256}, "name": {"type": "string"}}
                        }
                    }
                }
            }
        }));
        let mut object = resource(json!({}));

        let applied = apply_defaults(&mut object, &schema);

        assert_eq!(applied, [".spec.tls", ".spec.tls.cipher", ".spec.tls.cipher.bits", ".spec.tls.enabled"]);
        assert_eq!(object["spec"], json!({"tls": {"cipher": {"bits": 256, "name": "aes"}, "enabled": true}}));
    }

    #[test]
    fn defaults_are_deep_copies() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "list": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"opts": {"type": "object", "default": {"a": 1}, "additionalProperties": {}}}
                    }
                }
            }
        }));
        let mut object = resource(json!({"list": [{}, {}]}));

        apply_defaults(&mut object, &schema);
        object["spec"]["list"][0]["opts"]["a"] = json!(2);

        assert_eq!(object["spec"]["list"][1]["opts"], json!({"a": 1}));
    }

    #[test]
    fn defaults_apply_to_each_array_item() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "ports": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "default": {"port": 80},
                        "properties": {"port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}
                    }
                }
            }
        }));
        let mut object = resource(json!({"ports": [{"port": 1}, {"port": 2, "protocol": "UDP"}, null]}));

        let applied = apply_defaults(&mut object, &schema);

        assert_eq!(applied, [".spec.ports[0].protocol", ".spec.ports[2]", ".spec.ports[2].protocol"]);
        assert_eq!(
            object["spec"]["ports"],
            json!([{"port": 1, "protocol": "TCP"}, {"port": 2, "protocol": "UDP"}, {"port": 80, "protocol": "TCP"}])
        );
    }

    #[test]
    fn defaults_apply_to_each_map_value() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "backends": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "default": {},
                        "properties": {"weight": {"type": "integer", "default": 1}}
                    }
                }
            }
        }));
        let mut object = resource(json!({"backends": {"a": {}, "b": {"weight": 5}, "c.d": null}}));

        let applied = apply_defaults(&mut object, &schema);

        assert_eq!(applied, [".spec.backends.a.weight", ".spec.backends[\"c.d\"]", ".spec.backends[\"c.d\"].weight"]);
        assert_eq!(object["spec"]["backends"], json!({"a": {"weight": 1}, "b": {"weight": 5}, "c.d": {"weight": 1}}));
    }

    #[test]
    fn null_is_defaulted_unless_nullable() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "mode": {"type": "string", "default": "auto"},
                "optional": {"type": "string", "nullable": true, "default": "x"},
                "plain": {"type": "string"}
            }
        }));
        let mut object = resource(json!({"mode": null, "optional": null, "plain": null}));

        assert_eq!(apply_defaults(&mut object, &schema), [".spec.mode"]);
        assert_eq!(object["spec"], json!({"mode": "auto", "optional": null, "plain": null}));
    }

    #[test]
    fn existing_values_are_not_overwritten() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "count": {"type": "integer", "default": 3},
                "enabled": {"type": "boolean", "default": true},
                "name": {"type": "string", "default": "x"},
                "nested": {"type": "object", "default": {"a": 1}, "properties": {"a": {"type": "integer"}}}
            }
        }));
        let spec = json!({"count": 0, "enabled": false, "name": "", "nested": {}});
        let mut object = resource(spec.clone());

        assert!(apply_defaults(&mut object, &schema).is_empty());
        assert_eq!(object["spec"], spec);
    }

    #[test]
    fn defaults_need_their_parent_object() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {"inner": {"type": "object", "properties": {"a": {"type": "integer", "default": 1}}}}
        }));
        let mut object = resource(json!({}));

        assert!(apply_defaults(&mut object, &schema).is_empty());
        assert_eq!(object["spec"], json!({}));

        let mut without_spec = json!({"apiVersion": "v1", "kind": "K", "metadata": {}});
        assert!(apply_defaults(&mut without_spec, &schema).is_empty());
        assert!(without_spec.get("spec").is_none());
    }

    #[test]
    fn root_metadata_is_never_defaulted() {
        let schema = schema(json!({
            "type": "object",
            "properties": {
                "metadata": {
                    "type": "object",
                    "default": {"labels": {}},
                    "properties": {"name": {"type": "string", "default": "x"}}
                },
                "spec": {"type": "object", "default": {}}
            }
        }));
        let mut with_metadata = json!({"metadata": {}});
        assert_eq!(apply_defaults(&mut with_metadata, &schema), [".spec"]);
        assert_eq!(with_metadata, json!({"metadata": {}, "spec": {}}));

        let mut without_metadata = json!({});
        assert_eq!(apply_defaults(&mut without_metadata, &schema), [".spec"]);
        assert!(without_metadata.get("metadata").is_none());
    }

    #[test]
    fn values_of_the_wrong_type_get_no_defaults() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {"list": {"type": "array", "items": {"type": "string", "default": "d"}}}
        }));
        let mut wrong = resource(json!("not an object"));
        assert!(apply_defaults(&mut wrong, &schema).is_empty());
        assert_eq!(wrong["spec"], "not an object");

        let mut map_not_list = resource(json!({"list": {"a": null}}));
        assert!(apply_defaults(&mut map_not_list, &schema).is_empty());
    }

    #[test]
    fn default_null_in_the_schema_is_no_default() {
        let mut spec_schema = root_with_spec(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
        if let Some(spec) = spec_schema.properties.get_mut("spec") {
            if let Some(a) = spec.properties.get_mut("a") {
                a.default = Some(Value::Null);
            }
        }
        let mut object = resource(json!({}));

        assert!(apply_defaults(&mut object, &spec_schema).is_empty());
        assert_eq!(object["spec"], json!({}));
    }

    // ---- collecting variants and null pruning ----

    #[test]
    fn pruning_collects_the_data_removed() {
        let schema = root_with_spec(json!({"type": "object", "properties": {"keep": {"type": "string"}}}));
        let mut object = resource(json!({"keep": "k", "legacy": {"deep": [1, 2]}, "odd.key": 3}));

        let removed = prune_collecting(&mut object, &schema);

        let pairs: Vec<(&str, &Value)> = removed.iter().map(|p| (p.path.as_str(), &p.value)).collect();
        assert_eq!(pairs, [(".spec.legacy", &json!({"deep": [1, 2]})), (".spec[\"odd.key\"]", &json!(3))]);
        assert_eq!(object["spec"], json!({"keep": "k"}));
    }

    #[test]
    fn a_mapping_where_the_schema_declares_no_fields_loses_every_key() {
        let schema = root_with_spec(json!({"type": "object", "properties": {
            "list": {"type": "array", "items": {"type": "string"}},
            "name": {"type": "string"},
            "port": {"x-kubernetes-int-or-string": true},
            "names": {"type": "array", "items": {"type": "string"}},
            "free": {"x-kubernetes-preserve-unknown-fields": true}
        }}));
        let mut object = resource(json!({
            "list": {"a": 1, "b": {"c": 2}}, "name": {"x": "y"}, "port": {}, "names": [{"k": "v"}, "s"],
            "free": {"kept": true}
        }));

        let removed = prune_collecting(&mut object, &schema);

        let pairs: Vec<(&str, &Value)> = removed.iter().map(|p| (p.path.as_str(), &p.value)).collect();
        assert_eq!(
            pairs,
            [
                (".spec.list.a", &json!(1)),
                (".spec.list.b", &json!({"c": 2})),
                (".spec.name.x", &json!("y")),
                (".spec.names[0].k", &json!("v"))
            ]
        );
        assert_eq!(
            object["spec"],
            json!({"list": {}, "name": {}, "port": {}, "names": [{}, "s"], "free": {"kept": true}})
        );
    }

    #[test]
    fn defaults_collect_the_value_readers_see_with_nested_defaults_marked() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "tls": {
                    "type": "object",
                    "default": {},
                    "properties": {"enabled": {"type": "boolean", "default": true}}
                },
                "mode": {"type": "string", "default": "auto"}
            }
        }));
        let mut object = resource(json!({}));

        let applied = apply_defaults_collecting(&mut object, &schema);

        let outer: Vec<(&str, &Value)> =
            applied.iter().filter(|a| !a.nested).map(|a| (a.path.as_str(), &a.value)).collect();
        assert_eq!(outer, [(".spec.mode", &json!("auto")), (".spec.tls", &json!({"enabled": true}))]);
        let nested: Vec<&str> = applied.iter().filter(|a| a.nested).map(|a| a.path.as_str()).collect();
        assert_eq!(nested, [".spec.tls.enabled"]);
    }

    #[test]
    fn non_nullable_nulls_without_defaults_are_removed_and_others_kept() {
        let schema = root_with_spec(json!({
            "type": "object",
            "properties": {
                "plain": {"type": "string"},
                "nullable": {"type": "string", "nullable": true},
                "defaulted": {"type": "string", "default": "d"},
                "list": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}}
            }
        }));
        let mut object = resource(json!({
            "plain": null, "nullable": null, "defaulted": null, "undeclared": null,
            "list": [null, {"a": null}]
        }));

        prune_non_nullable_nulls(&mut object, &schema);

        assert_eq!(
            object["spec"],
            json!({"nullable": null, "defaulted": null, "undeclared": null, "list": [null, {}]})
        );
    }

    #[test]
    fn lazy_paths_render_like_schema_paths() {
        let root = LazyPath::Root;
        let spec = LazyPath::Field(&root, "spec");
        let list = LazyPath::Field(&spec, "rules");
        let item = LazyPath::Index(&list, 3);
        let odd = LazyPath::Field(&item, "app.kubernetes.io/name");
        assert_eq!(odd.render(), ".spec.rules[3][\"app.kubernetes.io/name\"]");
        assert_eq!(root.render(), "");
    }
}

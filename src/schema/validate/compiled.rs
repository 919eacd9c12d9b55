//! A CRD version's schema compiled for validating many objects: types parsed into enums, patterns compiled into
//! regexes and formats resolved once, so the per-object walk does no parsing.

use super::formats::Format;
use super::pattern::Pattern;
use crate::manifest::{AdditionalProperties, Schema};
use serde_json::Value;
use std::collections::BTreeMap;

/// A schema's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonType {
    /// `object`.
    Object,
    /// `array`.
    Array,
    /// `string`.
    String,
    /// `integer`.
    Integer,
    /// `number`.
    Number,
    /// `boolean`.
    Boolean,
}

impl JsonType {
    fn parse(name: &str) -> Option<JsonType> {
        Some(match name {
            "object" => JsonType::Object,
            "array" => JsonType::Array,
            "string" => JsonType::String,
            "integer" => JsonType::Integer,
            "number" => JsonType::Number,
            "boolean" => JsonType::Boolean,
            _ => return None,
        })
    }

    /// The name as schemas spell it.
    pub fn name(self) -> &'static str {
        match self {
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::String => "string",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
        }
    }
}

/// What a node says about fields its `properties` do not name.
#[derive(Debug)]
pub(crate) enum Additional {
    /// Nothing: undeclared fields are pruned (or kept by preserve-unknown-fields) and never validated.
    Unspecified,
    /// `additionalProperties: true`.
    Any,
    /// `additionalProperties: false`: an undeclared field that survives pruning is invalid.
    Forbidden,
    /// `additionalProperties: {schema}`: every map value follows it.
    Values(Box<Node>),
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListType {
    /// `atomic` or unset: no uniqueness.
    Atomic,
    /// `set`: items are unique scalars.
    Set,
    /// `map`: items are objects unique by these keys.
    Map(Vec<String>),
}

/// Numeric and size bounds of a node.
#[derive(Debug, Default)]
pub(crate) struct Bounds {
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
}

/// One compiled schema node.
#[derive(Debug)]
pub(crate) struct Node {
    /// `type`; `None` when absent (or a type the API server would not have accepted).
    pub type_: Option<JsonType>,
    /// `x-kubernetes-int-or-string`.
    pub int_or_string: bool,
    /// `nullable`.
    pub nullable: bool,
    /// An enforced string format.
    pub format: Option<Format>,
    /// `format: int32` on an integer: not enforced by the API server, but typed clients cannot decode more.
    pub int32: bool,
    /// `enum`.
    pub enum_: Option<Vec<Value>>,
    /// `pattern`.
    pub pattern: Option<Pattern>,
    /// Bounds.
    pub bounds: Bounds,
    /// `uniqueItems`.
    pub unique_items: bool,
    /// `required`.
    pub required: Vec<String>,
    /// `properties`.
    pub properties: BTreeMap<String, Node>,
    /// `additionalProperties`.
    pub additional: Additional,
    /// `items`.
    pub items: Option<Box<Node>>,
    /// `allOf`.
    pub all_of: Vec<Node>,
    /// `anyOf`.
    pub any_of: Vec<Node>,
    /// `oneOf`.
    pub one_of: Vec<Node>,
    /// `not`.
    pub not: Option<Box<Node>>,
    /// `x-kubernetes-list-type` and `x-kubernetes-list-map-keys`.
    pub list_type: ListType,
    /// `x-kubernetes-embedded-resource`.
    pub embedded: bool,
}

impl Node {
    /// Compiles a schema node and everything below it.
    pub fn compile(schema: &Schema) -> Node {
        let type_ = schema.type_.as_deref().and_then(JsonType::parse);
        let other_flag = |key: &str| schema.other.get(key) == Some(&Value::Bool(true));
        let format = match type_ {
            Some(JsonType::String) | None => schema.format.as_deref().and_then(Format::for_string),
            _ => None,
        };
        Node {
            int_or_string: other_flag("x-kubernetes-int-or-string"),
            nullable: schema.nullable,
            format,
            int32: type_ == Some(JsonType::Integer) && schema.format.as_deref() == Some("int32"),
            enum_: schema.enum_.clone(),
            pattern: schema.pattern.as_deref().map(Pattern::compile),
            bounds: Bounds {
                minimum: schema.minimum,
                exclusive_minimum: schema.exclusive_minimum,
                maximum: schema.maximum,
                exclusive_maximum: schema.exclusive_maximum,
                multiple_of: schema.other.get("multipleOf").and_then(Value::as_f64),
                min_length: schema.min_length,
                max_length: schema.max_length,
                min_items: schema.min_items,
                max_items: schema.max_items,
                min_properties: schema.min_properties,
                max_properties: schema.max_properties,
            },
            unique_items: schema.unique_items,
            required: schema.required.clone(),
            properties: schema.properties.iter().map(|(name, s)| (name.clone(), Node::compile(s))).collect(),
            additional: match &schema.additional_properties {
                None => Additional::Unspecified,
                Some(AdditionalProperties::Allowed(true)) => Additional::Any,
                Some(AdditionalProperties::Allowed(false)) => Additional::Forbidden,
                Some(AdditionalProperties::Schema(values)) => Additional::Values(Box::new(Node::compile(values))),
            },
            items: schema.items.as_deref().map(|items| Box::new(Node::compile(items))),
            all_of: schema.all_of.iter().map(Node::compile).collect(),
            any_of: schema.any_of.iter().map(Node::compile).collect(),
            one_of: schema.one_of.iter().map(Node::compile).collect(),
            not: schema.not.as_deref().map(|not| Box::new(Node::compile(not))),
            list_type: match schema.list_type.as_deref() {
                Some("set") => ListType::Set,
                Some("map") => ListType::Map(schema.list_map_keys.clone()),
                _ => ListType::Atomic,
            },
            embedded: schema.is_embedded_resource(),
            type_,
        }
    }
}

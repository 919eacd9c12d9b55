//! The typed model of an `apiextensions.k8s.io/v1` CustomResourceDefinition and its structural schema.
//!
//! Reading is lenient where the API server is (missing lists are empty, missing flags false) and strict
//! where a diff would otherwise be wrong (a version without a name, an unknown scope).

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// A CustomResourceDefinition, normalised to `apiextensions.k8s.io/v1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Crd {
    /// `metadata.name`, `<plural>.<group>`: how CRDs are matched across releases.
    pub name: String,
    /// `spec.group`.
    pub group: String,
    /// `spec.names`.
    pub names: CrdNames,
    /// `spec.scope`.
    pub scope: Scope,
    /// `spec.versions`, in file order.
    pub versions: Vec<CrdVersion>,
    /// `spec.conversion`; `None` when absent (the API server's default is strategy None).
    pub conversion: Option<Conversion>,
    /// `spec.preserveUnknownFields`: true disables pruning for the whole CRD (legacy v1beta1 default).
    pub preserve_unknown_fields: bool,
}

#[derive(Deserialize)]
struct RawCrd {
    metadata: RawMetadata,
    spec: RawSpec,
}

#[derive(Deserialize)]
struct RawMetadata {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    group: String,
    names: CrdNames,
    scope: Scope,
    #[serde(default)]
    versions: Vec<CrdVersion>,
    #[serde(default)]
    conversion: Option<Conversion>,
    #[serde(default)]
    preserve_unknown_fields: Option<bool>,
}

impl CrdNames {
    /// `singular` as the API server defaults it: the lowercased kind.
    pub fn effective_singular(&self) -> String {
        self.singular.clone().unwrap_or_else(|| self.kind.to_lowercase())
    }

    /// `listKind` as the API server defaults it: the kind followed by `List`.
    pub fn effective_list_kind(&self) -> String {
        self.list_kind.clone().unwrap_or_else(|| format!("{}List", self.kind))
    }
}

impl Crd {
    /// Reads a v1 CRD from its parsed document.
    pub fn from_value(value: Value) -> Result<Crd, serde_path_to_error::Error<serde_json::Error>> {
        let raw: RawCrd = serde_path_to_error::deserialize(value)?;
        Ok(Crd {
            name: raw.metadata.name,
            group: raw.spec.group,
            names: raw.spec.names,
            scope: raw.spec.scope,
            versions: raw.spec.versions,
            conversion: raw.spec.conversion,
            preserve_unknown_fields: raw.spec.preserve_unknown_fields.unwrap_or(false),
        })
    }

    /// The version with `storage: true`, if exactly one is marked (the API server requires exactly one).
    pub fn storage_version(&self) -> Option<&CrdVersion> {
        let mut storage = self.versions.iter().filter(|v| v.storage);
        match (storage.next(), storage.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// The version of the given name.
    pub fn version(&self, name: &str) -> Option<&CrdVersion> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// The effective conversion strategy (None when `spec.conversion` is absent).
    pub fn conversion_strategy(&self) -> ConversionStrategy {
        self.conversion.as_ref().map_or(ConversionStrategy::None, |c| c.strategy)
    }
}

/// `spec.scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Scope {
    /// Objects live in a namespace.
    Namespaced,
    /// Objects are cluster-wide.
    Cluster,
}

/// `spec.names`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdNames {
    /// `kind`: immutable once established.
    pub kind: String,
    /// `plural`: immutable.
    pub plural: String,
    /// `singular`.
    #[serde(default)]
    pub singular: Option<String>,
    /// `listKind`.
    #[serde(default)]
    pub list_kind: Option<String>,
    /// `shortNames`.
    #[serde(default)]
    pub short_names: Vec<String>,
    /// `categories`.
    #[serde(default)]
    pub categories: Vec<String>,
}

/// One entry of `spec.versions`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdVersion {
    /// The version name, e.g. `v1beta1`.
    pub name: String,
    /// Whether the version is served over the REST API.
    #[serde(default)]
    pub served: bool,
    /// Whether objects are persisted at this version.
    #[serde(default)]
    pub storage: bool,
    /// Whether clients get a deprecation warning.
    #[serde(default)]
    pub deprecated: bool,
    /// The warning text for a deprecated version.
    #[serde(default)]
    pub deprecation_warning: Option<String>,
    /// `schema.openAPIV3Schema`.
    #[serde(default, deserialize_with = "open_api_schema")]
    pub schema: Option<Schema>,
    /// `subresources`.
    #[serde(default)]
    pub subresources: Subresources,
    /// `additionalPrinterColumns`, compared as a whole.
    #[serde(default)]
    pub additional_printer_columns: Vec<Value>,
    /// `selectableFields`: the `jsonPath` of each.
    #[serde(default)]
    pub selectable_fields: Vec<SelectableField>,
}

/// One entry of a version's `selectableFields`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectableField {
    /// The field's JSON path, e.g. `.spec.issuerRef.name`.
    pub json_path: String,
}

fn open_api_schema<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Schema>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapper {
        #[serde(rename = "openAPIV3Schema")]
        open_api_v3_schema: Option<Schema>,
    }
    Ok(Option::<Wrapper>::deserialize(deserializer)?.and_then(|w| w.open_api_v3_schema))
}

/// A version's `subresources`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Subresources {
    /// Present when the status subresource is enabled.
    #[serde(default)]
    pub status: Option<Value>,
    /// The scale subresource's paths, when enabled.
    #[serde(default)]
    pub scale: Option<Value>,
}

/// `spec.conversion`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversion {
    /// `None` or `Webhook`.
    #[serde(default)]
    pub strategy: ConversionStrategy,
    /// The webhook, for strategy `Webhook`.
    #[serde(default)]
    pub webhook: Option<WebhookConversion>,
}

/// `spec.conversion.strategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ConversionStrategy {
    /// Only `apiVersion` is rewritten.
    #[default]
    None,
    /// An external webhook converts objects.
    Webhook,
}

/// `spec.conversion.webhook`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookConversion {
    /// Where the webhook is.
    #[serde(default)]
    pub client_config: Option<ClientConfig>,
    /// The ConversionReview versions the webhook accepts.
    #[serde(default)]
    pub conversion_review_versions: Vec<String>,
}

/// A webhook's client configuration (the CA bundle is left out: it is injected at install time).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    /// A URL, for webhooks outside the cluster.
    #[serde(default)]
    pub url: Option<String>,
    /// A Service, for webhooks inside the cluster.
    #[serde(default)]
    pub service: Option<ServiceReference>,
}

/// A webhook's Service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServiceReference {
    /// Namespace of the Service.
    #[serde(default)]
    pub namespace: String,
    /// Name of the Service.
    #[serde(default)]
    pub name: String,
    /// URL path sent to the Service.
    #[serde(default)]
    pub path: Option<String>,
    /// Port (443 when absent).
    #[serde(default)]
    pub port: Option<u16>,
}

/// A structural OpenAPI v3 schema node (`JSONSchemaProps`) with the Kubernetes extensions.
///
/// Keywords no field names are kept in `other` so a change to them is still reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// `type`.
    pub type_: Option<String>,
    /// `format`.
    pub format: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `title`.
    pub title: Option<String>,
    /// `properties`. Each boxed: a map's node holds eleven values inline, so unboxed every object node of
    /// a schema cost eleven whole `Schema`s (a provider release's 150,000 nodes came to 300 MB).
    pub properties: BTreeMap<String, Box<Schema>>,
    /// `items` (a single schema: structural schemas do not allow tuples).
    pub items: Option<Box<Schema>>,
    /// `additionalProperties`.
    pub additional_properties: Option<AdditionalProperties>,
    /// `allOf`.
    pub all_of: Vec<Schema>,
    /// `anyOf`.
    pub any_of: Vec<Schema>,
    /// `oneOf`.
    pub one_of: Vec<Schema>,
    /// `not`.
    pub not: Option<Box<Schema>>,
    /// `required`.
    pub required: Vec<String>,
    /// `enum`.
    pub enum_: Option<Vec<Value>>,
    /// `pattern`.
    pub pattern: Option<String>,
    /// `maximum`.
    pub maximum: Option<f64>,
    /// `exclusiveMaximum`.
    pub exclusive_maximum: bool,
    /// `minimum`.
    pub minimum: Option<f64>,
    /// `exclusiveMinimum`.
    pub exclusive_minimum: bool,
    /// `maxLength`.
    pub max_length: Option<u64>,
    /// `minLength`.
    pub min_length: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxProperties`.
    pub max_properties: Option<u64>,
    /// `minProperties`.
    pub min_properties: Option<u64>,
    /// `uniqueItems`.
    pub unique_items: bool,
    /// `nullable`.
    pub nullable: bool,
    /// `default`.
    pub default: Option<Value>,
    /// `x-kubernetes-preserve-unknown-fields`.
    pub preserve_unknown_fields: bool,
    /// `x-kubernetes-list-type`: `atomic`, `set` or `map`.
    pub list_type: Option<String>,
    /// `x-kubernetes-list-map-keys`.
    pub list_map_keys: Vec<String>,
    /// `x-kubernetes-validations`: CEL rules.
    pub validations: Vec<ValidationRule>,
    /// Every other keyword (`x-kubernetes-int-or-string`, `multipleOf`, `example`, ...), compared generically.
    pub other: BTreeMap<String, Value>,
    /// Where defaults are in this node's subtree, worked out on first use: not a keyword (equal for any two
    /// schemas), a cache for defaulting many objects (`crate::schema::values`).
    pub defaults: DefaultsIndex,
}

/// Whether a schema node's properties have defaults and whether anything below it has one, computed once per
/// node: defaulting many objects then skips, for each object, the subtrees where nothing can be defaulted
/// (most of a typical schema) instead of walking them and every node's properties.
#[derive(Clone, Default)]
pub struct DefaultsIndex(pub(crate) std::sync::OnceLock<DefaultsAt>);

/// What [`DefaultsIndex`] records about a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultsAt {
    /// A property of the node has a default (set when the property is absent).
    pub property: bool,
    /// A property, the items or the `additionalProperties` schema, or any node below them, has a default.
    pub below: bool,
}

impl PartialEq for DefaultsIndex {
    /// A cache of what the schema says: any two are equal, so schemas compare by their keywords alone.
    fn eq(&self, _: &DefaultsIndex) -> bool {
        true
    }
}

impl fmt::Debug for DefaultsIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DefaultsIndex")
    }
}

impl Schema {
    /// Whether the node is an embedded object (`x-kubernetes-embedded-resource: true`), which has its own
    /// `apiVersion`, `kind` and `metadata`.
    pub fn is_embedded_resource(&self) -> bool {
        self.other.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true))
    }

    /// Whether the node accepts an integer or a string (`x-kubernetes-int-or-string: true`).
    pub fn is_int_or_string(&self) -> bool {
        self.other.get(INT_OR_STRING) == Some(&Value::Bool(true))
    }

    /// The node's type as people name it: `int-or-string`, the `type`, or `any` for a typeless node.
    pub fn type_name(&self) -> &str {
        match (self.is_int_or_string(), self.type_.as_deref()) {
            (true, _) => "int-or-string",
            (false, Some(type_)) => type_,
            (false, None) => "any",
        }
    }

    /// The node without what spells int-or-string (the keyword, and the `anyOf` of integer and string that
    /// structural schemas give it) and without a type: what is left to compare once the type change is reported.
    pub fn without_type(&self) -> Schema {
        let mut schema = self.clone();
        schema.other.remove(INT_OR_STRING);
        let spells_int_or_string = schema.any_of.len() == 2
            && schema.any_of.iter().all(|branch| {
                matches!(branch.type_.as_deref(), Some("integer" | "string"))
                    && Schema { type_: None, ..branch.clone() } == Schema::default()
            });
        if spells_int_or_string {
            schema.any_of.clear();
        }
        schema.type_ = None;
        schema
    }
}

/// The keyword of int-or-string nodes.
const INT_OR_STRING: &str = "x-kubernetes-int-or-string";

/// `additionalProperties`: a boolean or a schema for map values.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum AdditionalProperties {
    /// `true` allows any value, `false` forbids extra keys.
    Allowed(bool),
    /// Map values must match this schema.
    Schema(Box<Schema>),
}

/// One `x-kubernetes-validations` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationRule {
    /// The CEL expression.
    pub rule: String,
    /// The static message on failure.
    #[serde(default)]
    pub message: Option<String>,
    /// A CEL expression producing the message.
    #[serde(default)]
    pub message_expression: Option<String>,
    /// The machine-readable reason (`FieldValueInvalid`, ...).
    #[serde(default)]
    pub reason: Option<String>,
    /// The field the error is reported on.
    #[serde(default)]
    pub field_path: Option<String>,
    /// Whether the rule runs on create with `oldSelf` unset.
    #[serde(default)]
    pub optional_old_self: Option<bool>,
}

impl ValidationRule {
    /// Whether the rule compares against the previous object (`oldSelf`), which the API server never ratchets.
    pub fn is_transition_rule(&self) -> bool {
        contains_identifier(&self.rule, "oldSelf")
    }
}

fn contains_identifier(text: &str, ident: &str) -> bool {
    let is_ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(ident).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + ident.len()..].chars().next();
        !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
    })
}

impl<'de> Deserialize<'de> for Schema {
    /// Keywords are matched by hand rather than with `#[serde(flatten)]`: flattening buffers every node,
    /// which made loading a 21 MB provider release several times slower.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Schema, D::Error> {
        deserializer.deserialize_map(SchemaVisitor)
    }
}

struct SchemaVisitor;

impl<'de> serde::de::Visitor<'de> for SchemaVisitor {
    type Value = Schema;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON schema object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Schema, A::Error> {
        let mut schema = Schema::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => schema.type_ = map.next_value()?,
                "format" => schema.format = map.next_value()?,
                "description" => schema.description = map.next_value()?,
                "title" => schema.title = map.next_value()?,
                "properties" => schema.properties = map.next_value::<Option<_>>()?.unwrap_or_default(),
                "items" => schema.items = map.next_value()?,
                "additionalProperties" => schema.additional_properties = map.next_value()?,
                "allOf" => schema.all_of = map.next_value::<Option<_>>()?.unwrap_or_default(),
                "anyOf" => schema.any_of = map.next_value::<Option<_>>()?.unwrap_or_default(),
                "oneOf" => schema.one_of = map.next_value::<Option<_>>()?.unwrap_or_default(),
                "not" => schema.not = map.next_value()?,
                "required" => schema.required = map.next_value::<Option<_>>()?.unwrap_or_default(),
                "enum" => schema.enum_ = map.next_value()?,
                "pattern" => schema.pattern = map.next_value()?,
                "maximum" => schema.maximum = map.next_value()?,
                "exclusiveMaximum" => schema.exclusive_maximum = map.next_value::<Option<_>>()?.unwrap_or_default(),
                "minimum" => schema.minimum = map.next_value()?,
                "exclusiveMinimum" => schema.exclusive_minimum = map.next_value::<Option<_>>()?.unwrap_or_default(),
                "maxLength" => schema.max_length = map.next_value()?,
                "minLength" => schema.min_length = map.next_value()?,
                "maxItems" => schema.max_items = map.next_value()?,
                "minItems" => schema.min_items = map.next_value()?,
                "maxProperties" => schema.max_properties = map.next_value()?,
                "minProperties" => schema.min_properties = map.next_value()?,
                "uniqueItems" => schema.unique_items = map.next_value::<Option<_>>()?.unwrap_or_default(),
                "nullable" => schema.nullable = map.next_value::<Option<_>>()?.unwrap_or_default(),
                "default" => schema.default = map.next_value()?,
                "x-kubernetes-preserve-unknown-fields" => {
                    schema.preserve_unknown_fields = map.next_value::<Option<_>>()?.unwrap_or_default()
                }
                "x-kubernetes-list-type" => schema.list_type = map.next_value()?,
                "x-kubernetes-list-map-keys" => {
                    schema.list_map_keys = map.next_value::<Option<_>>()?.unwrap_or_default()
                }
                "x-kubernetes-validations" => schema.validations = map.next_value::<Option<_>>()?.unwrap_or_default(),
                _ => {
                    let value: Value = map.next_value()?;
                    schema.other.insert(key, value);
                }
            }
        }
        Ok(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_rules_are_found_by_identifier_not_substring() {
        let rule = |r: &str| ValidationRule {
            rule: r.to_owned(),
            message: None,
            message_expression: None,
            reason: None,
            field_path: None,
            optional_old_self: None,
        };
        assert!(rule("self == oldSelf").is_transition_rule());
        assert!(rule("oldSelf.x == self.x").is_transition_rule());
        assert!(!rule("self.oldSelfish == 1").is_transition_rule());
        assert!(!rule("self.x > 1").is_transition_rule());
    }
}

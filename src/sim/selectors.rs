//! Label selectors (parsed by [`crate::manifest::LabelSelector`]) as query parameters, and the field
//! selectors the API server supports on every kind (`metadata.name`, `metadata.namespace`).

use super::errors::ApiError;
use serde_json::Value;

/// Label selectors are parsed where every other reader parses them; the simulator answers a bad one as the
/// API server does, with 400.
pub use crate::manifest::LabelSelector;

/// Parses the `labelSelector` query parameter.
pub fn parse_label_selector(text: &str) -> Result<LabelSelector, ApiError> {
    LabelSelector::parse(text).map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))
}

/// A parsed field selector over `metadata.name` and `metadata.namespace` (`=`, `==`, `!=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter; other fields are rejected as the API server does.
    pub fn parse(text: &str) -> Result<FieldSelector, ApiError> {
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!("invalid field selector: {part:?}")));
            };
            let field = field.trim();
            if !matches!(field, "metadata.name" | "metadata.namespace") {
                return Err(ApiError::bad_request(format!("field label not supported: {field}")));
            }
            terms.push((field.to_owned(), equal, value.trim().to_owned()));
        }
        Ok(FieldSelector(terms))
    }

    /// Whether an object satisfies every term.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let actual = match field.as_str() {
                "metadata.name" => object["metadata"]["name"].as_str(),
                _ => object["metadata"]["namespace"].as_str(),
            }
            .unwrap_or_default();
            (actual == value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelled(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn bad_selectors_are_bad_requests() {
        assert_eq!(parse_label_selector("tier in gold").unwrap_err().code, 400);
        assert_eq!(FieldSelector::parse("spec.x=1").unwrap_err().code, 400);
    }

    #[test]
    fn field_selectors_on_name_and_namespace() {
        let object = labelled(json!({}));
        assert!(FieldSelector::parse("metadata.name=a").unwrap().matches(&object));
        assert!(FieldSelector::parse("metadata.namespace!=other,metadata.name==a").unwrap().matches(&object));
        assert!(!FieldSelector::parse("metadata.name=b").unwrap().matches(&object));
    }
}

//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!`exists) and the field selectors the API
//! server supports on every kind (`metadata.name`, `metadata.namespace`).

use super::errors::ApiError;
use serde_json::Value;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value` (also matches objects without the key).
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (also matches objects without the key).
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<Requirement>);

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).collect()
}

fn parse_set(text: &str) -> Result<Vec<String>, ApiError> {
    let inner =
        text.trim().strip_prefix('(').and_then(|t| t.strip_suffix(')')).ok_or_else(|| {
            ApiError::bad_request(format!("unable to parse requirement: expected (values) in {text:?}"))
        })?;
    Ok(inner.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect())
}

fn parse_requirement(part: &str) -> Result<Requirement, ApiError> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key.trim().to_owned()));
    }
    if let Some((key, value)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned()));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(key.trim().to_owned(), value.trim().to_owned()));
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    match words.as_slice() {
        [key] => Ok(Requirement::Exists(key.to_string())),
        [key, rest] => {
            let rest = rest.trim();
            if let Some(set) = rest.strip_prefix("notin") {
                Ok(Requirement::NotIn(key.to_string(), parse_set(set)?))
            } else if let Some(set) = rest.strip_prefix("in") {
                Ok(Requirement::In(key.to_string(), parse_set(set)?))
            } else {
                Err(ApiError::bad_request(format!("unable to parse requirement: {part:?}")))
            }
        }
        _ => Err(ApiError::bad_request(format!("unable to parse requirement: {part:?}"))),
    }
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(text: &str) -> Result<LabelSelector, ApiError> {
        split_top_level(text).into_iter().map(parse_requirement).collect::<Result<_, _>>().map(LabelSelector)
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let label = |key: &str| labels.get(key).and_then(Value::as_str);
        self.0.iter().all(|requirement| match requirement {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, values) => label(k).is_some_and(|l| values.iter().any(|v| v == l)),
            Requirement::NotIn(k, values) => label(k).is_none_or(|l| values.iter().all(|v| v != l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::DoesNotExist(k) => label(k).is_none(),
        })
    }
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
    fn every_operator_has_kubernetes_semantics() {
        let object = labelled(json!({"app": "web", "tier": "gold"}));
        let matches = |s: &str| LabelSelector::parse(s).unwrap().matches(&object);
        assert!(matches("app=web") && matches("app==web") && matches("app=web,tier=gold"));
        assert!(!matches("app=db") && matches("app!=db") && matches("missing!=x"));
        assert!(matches("tier in (gold, silver)") && !matches("tier in (bronze)"));
        assert!(matches("tier notin (bronze)") && !matches("tier notin (gold)") && matches("missing notin (x)"));
        assert!(matches("app") && !matches("missing") && matches("!missing") && !matches("!app"));
        assert!(matches("tier in (gold,silver),app"));
        assert!(matches(""));
    }

    #[test]
    fn bad_selectors_are_bad_requests() {
        assert_eq!(LabelSelector::parse("tier in gold").unwrap_err().code, 400);
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

//! What the API server does to built-in kinds on every write, because it stores its internal version of
//! them: a Secret's `stringData` is merged into `data` (base64, replacing a key `data` has too) and is
//! never stored nor returned.

use super::errors::ApiError;
use super::resources::{GroupResource, ResourceType};
use serde_json::{Map, Value};

/// The object as the API server stores it after converting it to its internal version.
pub fn convert(resource_type: &ResourceType, object: Value) -> Result<Value, ApiError> {
    if resource_type.group_resource() == GroupResource::new("", "secrets") {
        return merge_string_data(object);
    }
    Ok(object)
}

/// A Secret with its `stringData` moved into `data`, as the API server's v1-to-internal conversion does.
fn merge_string_data(mut secret: Value) -> Result<Value, ApiError> {
    let Some(fields) = secret.as_object_mut() else { return Ok(secret) };
    let entries = match fields.remove("stringData") {
        None | Some(Value::Null) => return Ok(secret),
        Some(Value::Object(entries)) => entries,
        Some(_) => return Err(undecodable("stringData must be a map of strings")),
    };
    if entries.is_empty() {
        return Ok(secret);
    }
    let data = fields.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if data.is_null() {
        *data = Value::Object(Map::new());
    }
    let Some(data) = data.as_object_mut() else { return Err(undecodable("data must be a map of base64 strings")) };
    for (key, value) in entries {
        // Only the key is named: a Secret's values never appear in a message.
        let Value::String(text) = value else { return Err(undecodable(&format!("stringData.{key} must be a string"))) };
        data.insert(key, Value::String(base64(text.into_bytes())));
    }
    Ok(secret)
}

/// Standard base64, as `data` holds it (k8s-openapi's ByteString writes exactly that).
fn base64(bytes: Vec<u8>) -> String {
    match serde_json::to_value(k8s_openapi::ByteString(bytes)) {
        Ok(Value::String(text)) => text,
        // ByteString always serialises to a string.
        _ => String::new(),
    }
}

/// The API server's 400 for a body it cannot decode into the kind.
fn undecodable(why: &str) -> ApiError {
    ApiError::bad_request(format!("Secret in version \"v1\" cannot be handled as a Secret: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::builtin_types;
    use serde_json::json;

    fn secrets() -> ResourceType {
        builtin_types().into_iter().find(|t| t.resource == "secrets").expect("Secrets are served")
    }

    #[test]
    fn string_data_is_merged_into_data_and_dropped() {
        let secret =
            json!({"kind": "Secret", "data": {"a": "b2xk", "b": "a2VlcA=="}, "stringData": {"a": "new", "c": "sea"}});
        let stored = convert(&secrets(), secret).unwrap();
        assert_eq!(stored, json!({"kind": "Secret", "data": {"a": "bmV3", "b": "a2VlcA==", "c": "c2Vh"}}));
        let only_string_data = convert(&secrets(), json!({"stringData": {"k": ""}, "data": null})).unwrap();
        assert_eq!(only_string_data, json!({"data": {"k": ""}}));
        assert_eq!(convert(&secrets(), json!({"stringData": {}})).unwrap(), json!({}));
        assert_eq!(
            convert(&secrets(), json!({"stringData": null, "type": "Opaque"})).unwrap(),
            json!({"type": "Opaque"})
        );
    }

    #[test]
    fn a_string_data_that_is_not_strings_is_refused_without_its_value() {
        let error = convert(&secrets(), json!({"stringData": {"token": 12345}})).unwrap_err();
        assert_eq!(error.code, 400);
        assert!(error.message.contains("stringData.token") && !error.message.contains("12345"), "{}", error.message);
        assert_eq!(convert(&secrets(), json!({"stringData": "x"})).unwrap_err().code, 400);
    }

    #[test]
    fn other_kinds_keep_a_string_data_field() {
        let maps = builtin_types().into_iter().find(|t| t.resource == "configmaps").unwrap();
        let object = json!({"stringData": {"a": "b"}});
        assert_eq!(convert(&maps, object.clone()).unwrap(), object);
    }
}

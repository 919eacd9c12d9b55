//! Normalising legacy `apiextensions.k8s.io/v1beta1` CRDs to the v1 shape, the way the API server
//! converts them: top-level `validation`, `subresources` and `additionalPrinterColumns` are copied to
//! each version that has none of its own, `JSONPath` becomes `jsonPath`, `version` becomes `versions`,
//! the conversion webhook moves under `conversion.webhook`, and pruning stays off unless asked for.

use serde_json::{json, Map, Value};

/// Turns a parsed v1beta1 CRD into the equivalent v1 document, or says what makes it unreadable.
pub fn normalise_crd(mut crd: Value) -> Result<Value, String> {
    crd["apiVersion"] = json!("apiextensions.k8s.io/v1");
    let spec = match crd.get_mut("spec") {
        Some(Value::Object(spec)) => spec,
        _ => return Err("spec must be a mapping".to_owned()),
    };
    let mut versions = take_versions(spec)?;
    let validation = spec.remove("validation");
    let subresources = spec.remove("subresources");
    let columns = spec.remove("additionalPrinterColumns");
    for version in &mut versions {
        let version = version.as_object_mut().ok_or("each entry of spec.versions must be a mapping")?;
        copy_if_absent(version, "schema", &validation);
        copy_if_absent(version, "subresources", &subresources);
        copy_if_absent(version, "additionalPrinterColumns", &columns);
        if let Some(Value::Array(columns)) = version.get_mut("additionalPrinterColumns") {
            columns.iter_mut().for_each(rename_json_path);
        }
    }
    spec.insert("versions".to_owned(), Value::Array(versions));
    normalise_conversion(spec);
    // v1beta1 keeps unknown fields unless preserveUnknownFields is explicitly false.
    spec.entry("preserveUnknownFields").or_insert(Value::Bool(true));
    Ok(crd)
}

fn take_versions(spec: &mut Map<String, Value>) -> Result<Vec<Value>, String> {
    let single = spec.remove("version");
    match spec.remove("versions") {
        Some(Value::Array(versions)) if !versions.is_empty() => Ok(versions),
        Some(Value::Array(_)) | Some(Value::Null) | None => match single {
            Some(Value::String(name)) => Ok(vec![json!({"name": name, "served": true, "storage": true})]),
            _ => Err("a v1beta1 CRD needs spec.version or spec.versions".to_owned()),
        },
        Some(_) => Err("spec.versions must be a sequence".to_owned()),
    }
}

fn copy_if_absent(version: &mut Map<String, Value>, key: &str, value: &Option<Value>) {
    if let Some(value) = value {
        version.entry(key.to_owned()).or_insert_with(|| value.clone());
    }
}

fn rename_json_path(column: &mut Value) {
    if let Some(column) = column.as_object_mut() {
        if let Some(path) = column.remove("JSONPath") {
            column.entry("jsonPath".to_owned()).or_insert(path);
        }
    }
}

fn normalise_conversion(spec: &mut Map<String, Value>) {
    let Some(Value::Object(conversion)) = spec.get_mut("conversion") else { return };
    let client_config = conversion.remove("webhookClientConfig");
    let review_versions = conversion.remove("conversionReviewVersions");
    if client_config.is_none() && review_versions.is_none() {
        return;
    }
    let mut webhook = Map::new();
    if let Some(client_config) = client_config {
        webhook.insert("clientConfig".to_owned(), client_config);
    }
    // v1beta1 defaults the review versions to ["v1beta1"].
    webhook.insert("conversionReviewVersions".to_owned(), review_versions.unwrap_or_else(|| json!(["v1beta1"])));
    conversion.insert("webhook".to_owned(), Value::Object(webhook));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_fields_move_into_each_version() {
        let legacy = json!({
            "apiVersion": "apiextensions.k8s.io/v1beta1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.example.com"},
            "spec": {
                "group": "example.com",
                "version": "v1",
                "validation": {"openAPIV3Schema": {"type": "object"}},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Age", "JSONPath": ".metadata.creationTimestamp", "type": "date"}],
                "conversion": {"strategy": "Webhook", "webhookClientConfig": {"url": "https://x"}}
            }
        });
        let v1 = normalise_crd(legacy).unwrap();
        let version = &v1["spec"]["versions"][0];
        assert_eq!(version["name"], "v1");
        assert_eq!(version["storage"], true);
        assert_eq!(version["schema"]["openAPIV3Schema"]["type"], "object");
        assert_eq!(version["subresources"], json!({"status": {}}));
        assert_eq!(version["additionalPrinterColumns"][0]["jsonPath"], ".metadata.creationTimestamp");
        assert!(version["additionalPrinterColumns"][0].get("JSONPath").is_none());
        assert_eq!(v1["spec"]["conversion"]["webhook"]["clientConfig"]["url"], "https://x");
        assert_eq!(v1["spec"]["conversion"]["webhook"]["conversionReviewVersions"], json!(["v1beta1"]));
        assert_eq!(v1["spec"]["preserveUnknownFields"], true);
        assert!(v1["spec"].get("validation").is_none());
    }

    #[test]
    fn a_version_keeps_its_own_schema() {
        let legacy = json!({
            "spec": {
                "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "string"}}}, {"name": "v2"}],
                "validation": {"openAPIV3Schema": {"type": "object"}},
            }
        });
        let v1 = normalise_crd(legacy).unwrap();
        assert_eq!(v1["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["type"], "string");
        assert_eq!(v1["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["type"], "object");
    }

    #[test]
    fn missing_versions_is_an_error() {
        assert!(normalise_crd(json!({"spec": {}})).is_err());
        assert!(normalise_crd(json!({"spec": "x"})).is_err());
    }
}

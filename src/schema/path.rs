//! Schema paths as findings print them: `.spec.endpoints[*].port`, map values `{*}`, combinators `.allOf[0]`.

/// The path of property `name` under `parent`; names that are not plain identifiers are quoted
/// (`.metadata.labels["app.kubernetes.io/name"]`) so the path stays unambiguous.
pub fn child_property_path(parent: &str, name: &str) -> String {
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$' || c == '@');
    if plain {
        format!("{parent}.{name}")
    } else {
        format!("{parent}[{}]", serde_json::Value::String(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_quoted_names() {
        assert_eq!(child_property_path("", "spec"), ".spec");
        assert_eq!(child_property_path(".spec", "x-y_z"), ".spec.x-y_z");
        assert_eq!(child_property_path(".m", "a.b/c"), ".m[\"a.b/c\"]");
    }
}

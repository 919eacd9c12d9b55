//! Schema paths as findings print them: `.spec.endpoints[*].port`, map values `{*}`, combinators `.allOf[0]`.

/// The path of property `name` under `parent`; names that are not plain identifiers are quoted
/// (`.metadata.labels["app.kubernetes.io/name"]`) so the path stays unambiguous.
pub fn child_property_path(parent: &str, name: &str) -> String {
    let mut path = String::with_capacity(parent.len() + name.len() + 1);
    path.push_str(parent);
    push_property(&mut path, name);
    path
}

/// Appends property `name` to a path being written, as [`child_property_path`] writes it (without a `String`
/// per step: paths are written for every finding of every object).
pub fn push_property(path: &mut String, name: &str) {
    let plain = !name.is_empty()
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'$' || c == b'@');
    if plain {
        path.push('.');
        path.push_str(name);
    } else {
        path.push('[');
        // A JSON string of a `str` always serializes.
        path.push_str(&serde_json::to_string(name).unwrap_or_default());
        path.push(']');
    }
}

/// The value at a concrete object path as [`child_property_path`] and array indexes write it
/// (`.spec.list[2]["a.b"]`; `""` or `.` is the object itself), if the object has one there.
pub fn value_at<'v>(root: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    let mut rest = if path == "." { "" } else { path };
    let mut value = root;
    while !rest.is_empty() {
        if let Some(after_dot) = rest.strip_prefix('.') {
            let end = after_dot.find(['.', '[']).unwrap_or(after_dot.len());
            value = value.get(&after_dot[..end])?;
            rest = &after_dot[end..];
        } else if rest.starts_with("[\"") {
            // The name is a JSON string: read exactly one, escapes included.
            let mut stream = serde_json::Deserializer::from_str(&rest[1..]).into_iter::<String>();
            let name = stream.next()?.ok()?;
            let consumed = 1 + stream.byte_offset();
            value = value.get(name.as_str())?;
            rest = rest[consumed..].strip_prefix(']')?;
        } else {
            let inner = rest.strip_prefix('[')?;
            let end = inner.find(']')?;
            value = value.get(inner[..end].parse::<usize>().ok()?)?;
            rest = &inner[end + 1..];
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_at_the_paths_findings_print() {
        let object = serde_json::json!({"spec": {"list": [{"a": 1}, {"b.c/d": {"e\"f": 2}}], "x-y": true}});
        assert_eq!(value_at(&object, "."), Some(&object));
        assert_eq!(value_at(&object, ".spec.list[0].a"), Some(&serde_json::json!(1)));
        assert_eq!(value_at(&object, ".spec.x-y"), Some(&serde_json::json!(true)));
        let quoted = format!("{}{}", child_property_path(".spec.list[1]", "b.c/d"), "[\"e\\\"f\"]");
        assert_eq!(value_at(&object, &quoted), Some(&serde_json::json!(2)));
        assert_eq!(value_at(&object, ".spec.list[2]"), None);
        assert_eq!(value_at(&object, ".spec.missing.deeper"), None);
        assert_eq!(value_at(&object, ".spec[\"unclosed"), None);
    }

    #[test]
    fn plain_and_quoted_names() {
        assert_eq!(child_property_path("", "spec"), ".spec");
        assert_eq!(child_property_path(".spec", "x-y_z"), ".spec.x-y_z");
        assert_eq!(child_property_path(".m", "a.b/c"), ".m[\"a.b/c\"]");
    }
}

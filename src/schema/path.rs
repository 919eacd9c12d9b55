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
    segments(path)?.iter().try_fold(root, |value, segment| match segment {
        Segment::Field(name) => value.get(name.as_str()),
        Segment::Index(index) => value.get(index),
    })
}

/// Puts back what stood at `path` before a default was set there: nothing (`replaced_null` false: the field is
/// removed) or `null`. Nothing happens when the path does not lead into the object.
pub(crate) fn unset_at(root: &mut serde_json::Value, path: &str, replaced_null: bool) {
    let Some(mut segments) = segments(path) else { return };
    let Some(last) = segments.pop() else { return };
    let parent = segments.iter().try_fold(root, |value, segment| match segment {
        Segment::Field(name) => value.get_mut(name.as_str()),
        Segment::Index(index) => value.get_mut(index),
    });
    match (parent, last) {
        (Some(serde_json::Value::Object(fields)), Segment::Field(name)) if !replaced_null => {
            fields.remove(&name);
        }
        (Some(parent), Segment::Field(name)) => {
            if let Some(value) = parent.get_mut(name.as_str()) {
                *value = serde_json::Value::Null;
            }
        }
        (Some(parent), Segment::Index(index)) => {
            if let Some(value) = parent.get_mut(index) {
                *value = serde_json::Value::Null;
            }
        }
        (None, _) => {}
    }
}

/// One step of a concrete path.
enum Segment {
    Field(String),
    Index(usize),
}

/// The steps of a concrete path, or `None` when it is not one this module writes.
fn segments(path: &str) -> Option<Vec<Segment>> {
    let mut rest = if path == "." { "" } else { path };
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(after_dot) = rest.strip_prefix('.') {
            let end = after_dot.find(['.', '[']).unwrap_or(after_dot.len());
            segments.push(Segment::Field(after_dot[..end].to_owned()));
            rest = &after_dot[end..];
        } else if rest.starts_with("[\"") {
            // The name is a JSON string: read exactly one, escapes included.
            let mut stream = serde_json::Deserializer::from_str(&rest[1..]).into_iter::<String>();
            let name = stream.next()?.ok()?;
            let consumed = 1 + stream.byte_offset();
            segments.push(Segment::Field(name));
            rest = rest[consumed..].strip_prefix(']')?;
        } else {
            let inner = rest.strip_prefix('[')?;
            let end = inner.find(']')?;
            segments.push(Segment::Index(inner[..end].parse::<usize>().ok()?));
            rest = &inner[end + 1..];
        }
    }
    Some(segments)
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
    fn unsetting_removes_a_field_or_puts_back_null() {
        let mut object = serde_json::json!({"spec": {"list": [1, 2], "m": {"a.b": 3}, "x": 4}});
        unset_at(&mut object, ".spec.x", false);
        unset_at(&mut object, ".spec.list[1]", true);
        unset_at(&mut object, &child_property_path(".spec.m", "a.b"), true);
        unset_at(&mut object, ".spec.missing.deeper", false);
        assert_eq!(object, serde_json::json!({"spec": {"list": [1, null], "m": {"a.b": null}}}));
    }

    #[test]
    fn plain_and_quoted_names() {
        assert_eq!(child_property_path("", "spec"), ".spec");
        assert_eq!(child_property_path(".spec", "x-y_z"), ".spec.x-y_z");
        assert_eq!(child_property_path(".m", "a.b/c"), ".m[\"a.b/c\"]");
    }
}

//! A file format's reference from its JSON Schema (as schemars derives it from the types serde reads): one
//! section per object or choice, in the order a reader meets them from the top of the file, each saying
//! where in the file it appears.

use super::finding_codes::anchor;
use super::{cell, prose};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A default longer than this is shown below its table instead of in a cell.
const INLINE_DEFAULT_CHARS: usize = 60;

/// How many places a section lists before it only counts the rest.
const PLACES_SHOWN: usize = 4;

/// The page's body (after the generated header): `intro`, then the root and every definition.
pub fn render(intro: &str, schema: &Value) -> String {
    let empty = Map::new();
    let defs = schema.get("$defs").and_then(Value::as_object).unwrap_or(&empty);
    let root_name = schema.get("title").and_then(Value::as_str).unwrap_or("root").to_owned();
    let (order, places) = walk(&root_name, schema, defs);
    let mut out = format!("{intro}\n\n");
    out.push_str("| section | where |\n|---|---|\n");
    for name in &order {
        let _ = writeln!(out, "| [{name}](#{}) | {} |", anchor(name), where_cell(&places[name]));
    }
    for name in &order {
        let definition = if *name == root_name { schema } else { &defs[name.as_str()] };
        render_section(&mut out, name, definition, &places[name]);
    }
    out
}

fn where_cell(places: &[String]) -> String {
    let mut shown: Vec<String> = places.iter().take(PLACES_SHOWN).map(|p| format!("`{p}`")).collect();
    if places.len() > PLACES_SHOWN {
        shown.push(format!("and {} more", places.len() - PLACES_SHOWN));
    }
    if shown.is_empty() {
        "the whole file".to_owned()
    } else {
        shown.join(", ")
    }
}

/// The definitions reachable from the root in the order a reader meets them (depth first, keys in the order
/// of their tables), and every key path where each appears.
fn walk(root: &str, schema: &Value, defs: &Map<String, Value>) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    fn visit(
        node: &Value,
        path: &str,
        defs: &Map<String, Value>,
        stack: &mut Vec<String>,
        order: &mut Vec<String>,
        places: &mut BTreeMap<String, Vec<String>>,
    ) {
        for (child_path, name) in references(node, path) {
            let list = places.entry(name.clone()).or_default();
            if !list.contains(&child_path) {
                list.push(child_path.clone());
            }
            if !order.contains(&name) {
                order.push(name.clone());
            }
            // Every place is visited, so nested sections list all their places; the stack stops a
            // definition that contains itself.
            if let Some(definition) = defs.get(&name).filter(|_| !stack.contains(&name)) {
                stack.push(name.clone());
                visit(definition, &child_path, defs, stack, order, places);
                stack.pop();
            }
        }
    }
    let mut order = vec![root.to_owned()];
    let mut places = BTreeMap::from([(root.to_owned(), Vec::new())]);
    visit(schema, "", defs, &mut vec![root.to_owned()], &mut order, &mut places);
    (order, places)
}

/// An object's keys in the order its table lists them: required ones first, in the order the type declares
/// them, then the others by name.
fn ordered_keys(node: &Value) -> Vec<(&String, &Value)> {
    let required = required_keys(node);
    let mut keys: Vec<(&String, &Value)> =
        node.get("properties").and_then(Value::as_object).map(|p| p.iter().collect()).unwrap_or_default();
    keys.sort_by_key(|(k, _)| required.iter().position(|r| r == k).unwrap_or(usize::MAX));
    keys
}

fn required_keys(node: &Value) -> Vec<&str> {
    node.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
}

/// The definitions `node` refers to, each with the key path where it appears (`spec.canary.scoping`).
fn references(node: &Value, path: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (key, property) in ordered_keys(node) {
        collect_refs(property, &join(path, key), &mut found);
    }
    for choice in node.get("oneOf").and_then(Value::as_array).into_iter().flatten() {
        if choice.get("properties").is_some() {
            for (key, property) in ordered_keys(choice) {
                collect_refs(property, &join(path, key), &mut found);
            }
        } else {
            collect_refs(choice, path, &mut found);
        }
    }
    found
}

fn collect_refs(node: &Value, path: &str, found: &mut Vec<(String, String)>) {
    if let Some(name) = ref_name(node) {
        found.push((path.to_owned(), name.to_owned()));
    }
    for combinator in ["anyOf", "oneOf", "prefixItems"] {
        for choice in node.get(combinator).and_then(Value::as_array).into_iter().flatten() {
            collect_refs(choice, path, found);
        }
    }
    if let Some(items) = node.get("items") {
        collect_refs(items, &format!("{path}[]"), found);
    }
    if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
        collect_refs(values, &format!("{path}.<key>"), found);
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn ref_name(node: &Value) -> Option<&str> {
    node.get("$ref")?.as_str()?.strip_prefix("#/$defs/")
}

fn description(node: &Value) -> String {
    node.get("description").and_then(Value::as_str).unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ")
}

fn render_section(out: &mut String, name: &str, node: &Value, places: &[String]) {
    let _ = write!(out, "\n## {name}\n\n");
    let text = prose(&description(node));
    if !text.is_empty() {
        let _ = write!(out, "{text}\n\n");
    }
    if !places.is_empty() {
        let _ = write!(out, "At {}.\n\n", where_cell(places));
    }
    if node.get("properties").is_some() {
        render_properties(out, node);
    } else if let Some(choices) = node.get("oneOf").and_then(Value::as_array) {
        render_choices(out, choices);
    } else {
        let _ = writeln!(out, "A {}.", type_of(node));
        if let Some(examples) = node.get("examples").and_then(Value::as_array) {
            let shown: Vec<String> = examples.iter().map(|e| format!("`{}`", plain(e))).collect();
            let _ = writeln!(out, "\nExamples: {}.", shown.join(", "));
        }
    }
}

/// The keys of an object, as a table.
fn render_properties(out: &mut String, node: &Value) {
    let required = required_keys(node);
    out.push_str("| key | type | required | default | description |\n|---|---|---|---|---|\n");
    let mut long_defaults = Vec::new();
    for (key, property) in ordered_keys(node) {
        let default = match property.get("default") {
            None | Some(Value::Null) => String::new(),
            Some(value) => {
                let compact = value.to_string();
                if compact.len() > INLINE_DEFAULT_CHARS {
                    long_defaults.push((key, value));
                    "below".to_owned()
                } else {
                    format!("`{}`", plain(value))
                }
            }
        };
        let _ = writeln!(
            out,
            "| `{key}` | {} | {} | {} | {} |",
            cell(&type_of(property)),
            if required.contains(&key.as_str()) { "yes" } else { "" },
            cell(&default),
            cell(&description(property))
        );
    }
    for (key, value) in long_defaults {
        let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
        let _ = write!(out, "\nThe default of `{key}`:\n\n```json\n{pretty}\n```\n");
    }
    if node.get("additionalProperties") == Some(&Value::Bool(false)) {
        out.push_str("\nNo other key is accepted.\n");
    }
}

/// A choice: one of several strings, or an object with exactly one of several keys.
fn render_choices(out: &mut String, choices: &[Value]) {
    out.push_str("One of:\n\n");
    for choice in choices {
        let text = prose(&description(choice));
        let what = match choice.get("properties").and_then(Value::as_object) {
            Some(properties) if properties.len() == 1 => {
                let (key, value) = properties.iter().next().expect("one key");
                format!("`{key}:` {}", type_of(value))
            }
            _ => type_of(choice),
        };
        let _ = if text.is_empty() { writeln!(out, "- {what}") } else { writeln!(out, "- {what}: {text}") };
    }
}

/// A value as it is written in YAML: strings without quotes, everything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The type of a schema node in words, with links to the sections of the definitions it uses.
fn type_of(node: &Value) -> String {
    if let Some(name) = ref_name(node) {
        return format!("[{name}](#{})", anchor(name));
    }
    if let Some(value) = node.get("const") {
        return format!("`{}`", plain(value));
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        let shown: Vec<String> = values.iter().map(|v| format!("`{}`", plain(v))).collect();
        return format!("one of {}", shown.join(", "));
    }
    for combinator in ["anyOf", "oneOf"] {
        if let Some(choices) = node.get(combinator).and_then(Value::as_array) {
            let shown: Vec<String> =
                choices.iter().filter(|c| c.get("type") != Some(&Value::from("null"))).map(type_of).collect();
            if shown.iter().all(|s| s.starts_with('`')) && shown.len() > 1 {
                return format!("one of {}", shown.join(", "));
            }
            return shown.join(" or ");
        }
    }
    let types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => Vec::new(),
    };
    let words: Vec<String> = types.iter().map(|t| typed(t, node)).collect();
    if words.is_empty() {
        "any value".to_owned()
    } else {
        words.join(" or ")
    }
}

fn typed(kind: &str, node: &Value) -> String {
    match kind {
        "array" => {
            if let Some(items) = node.get("prefixItems").and_then(Value::as_array) {
                let shown: Vec<String> = items.iter().map(type_of).collect();
                return format!("pair of {}", shown.join(" and "));
            }
            let items = node.get("items").map(type_of).unwrap_or_else(|| "any value".to_owned());
            format!("list of {items}")
        }
        "object" => match node.get("additionalProperties") {
            Some(values @ Value::Object(_)) => format!("map of string to {}", type_of(values)),
            Some(Value::Bool(true)) => "object (any keys)".to_owned(),
            _ => "object".to_owned(),
        },
        "integer" | "number" => with_bounds(kind, node),
        "string" => match (node.get("pattern").and_then(Value::as_str), node.get("minLength")) {
            (Some(pattern), _) => format!("string matching `{pattern}`"),
            (None, Some(min)) if min.as_u64() == Some(1) => "non-empty string".to_owned(),
            _ => "string".to_owned(),
        },
        other => other.to_owned(),
    }
}

/// `integer`, `integer from 1 to 65535`, `number at least 0`: the bounds a reader must respect. The minimum 0
/// schemars gives every unsigned integer is left out (a negative number is not something anyone writes).
fn with_bounds(kind: &str, node: &Value) -> String {
    let unsigned = node.get("format").and_then(Value::as_str).is_some_and(|f| f.starts_with("uint"));
    let minimum = node.get("minimum").filter(|m| !(unsigned && m.as_f64() == Some(0.0)));
    match (minimum, node.get("maximum")) {
        (Some(min), Some(max)) => format!("{kind} from {min} to {max}"),
        (Some(min), None) => format!("{kind} at least {min}"),
        (None, Some(max)) => format!("{kind} at most {max}"),
        (None, None) => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "title": "Thing",
            "description": "A thing.",
            "type": "object",
            "additionalProperties": false,
            "required": ["spec", "kind"],
            "properties": {
                "kind": {"const": "Thing", "type": "string", "description": "Always `Thing`."},
                "spec": {"$ref": "#/$defs/Spec", "description": "What it does."}
            },
            "$defs": {
                "Spec": {
                    "type": "object",
                    "description": "The spec.",
                    "properties": {
                        "every": {"$ref": "#/$defs/Duration", "default": "1m", "description": "How often."},
                        "ports": {"type": "array", "items": {"$ref": "#/$defs/Port"}, "default": []},
                        "env": {"type": "object", "additionalProperties": {"type": "string"}, "default": {}},
                        "count": {"type": ["integer", "null"], "format": "uint32", "minimum": 0, "default": null},
                        "signals": {"type": "array", "items": {"type": "string"},
                                    "default": ["conditions", "observedGeneration", "podRestarts", "warningEvents"]}
                    }
                },
                "Duration": {"type": "string", "pattern": "^[0-9]+s$", "description": "A time.", "examples": ["5s"]},
                "Port": {"description": "A port.", "oneOf": [
                    {"type": "integer", "minimum": 1, "maximum": 65535},
                    {"type": "string", "minLength": 1}
                ]}
            }
        })
    }

    #[test]
    fn sections_come_in_reading_order_with_the_places_they_appear() {
        let page = render("Intro.", &schema());
        let positions: Vec<usize> =
            ["## Thing", "## Spec", "## Duration", "## Port"].iter().map(|h| page.find(h).expect(h)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{page}");
        assert!(page.contains("At `spec.every`."), "{page}");
        assert!(page.contains("At `spec.ports[]`."), "{page}");
    }

    #[test]
    fn keys_show_type_requirement_and_default() {
        let page = render("Intro.", &schema());
        assert!(page.contains("| `spec` | [Spec](#spec) | yes |  | What it does. |"), "{page}");
        assert!(page.contains("| `kind` | `Thing` | yes |  | Always `Thing`. |"), "{page}");
        assert!(page.find("| `spec` |").unwrap() < page.find("| `kind` |").unwrap(), "required keys in declared order");
        assert!(page.contains("| `every` | [Duration](#duration) |  | `1m` | How often. |"), "{page}");
        assert!(page.contains("| `ports` | list of [Port](#port) |  | `[]` |"), "{page}");
        assert!(page.contains("| `env` | map of string to string |  | `{}` |"), "{page}");
        assert!(page.contains("| `count` | integer |  |  |"), "{page}");
        assert!(page.contains("| `signals` | list of string |  | below |"), "{page}");
        assert!(page.contains("The default of `signals`:\n\n```json\n["), "{page}");
        assert!(page.contains("No other key is accepted."), "{page}");
    }

    #[test]
    fn choices_and_simple_types_are_described() {
        let page = render("Intro.", &schema());
        assert!(page.contains("- integer from 1 to 65535\n- non-empty string\n"), "{page}");
        assert!(page.contains("A string matching `^[0-9]+s$`.\n\nExamples: `5s`."), "{page}");
    }
}

//! Label selectors in the API server's text form (`app=web,tier notin (gold),!legacy`): parsed once here
//! for everything that reads them (the plan file, the simulator's list and watch, cohort selection).

use serde_json::Value;
use std::fmt;
use thiserror::Error;

/// What a requirement of a label selector tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelectorOperator {
    /// `key=value` or `key==value`.
    Equals,
    /// `key!=value` (also matches objects without the key).
    NotEquals,
    /// `key in (a,b)`.
    In,
    /// `key notin (a,b)` (also matches objects without the key).
    NotIn,
    /// `key`.
    Exists,
    /// `!key`.
    DoesNotExist,
}

impl SelectorOperator {
    /// Whether an operator that only understands `key=value` pairs (Strimzi's
    /// `STRIMZI_CUSTOM_RESOURCE_SELECTOR`) can express it.
    pub fn is_equality(self) -> bool {
        self == SelectorOperator::Equals
    }
}

/// One requirement of a label selector: a key, what is tested, and the values it is tested against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// What is tested.
    pub operator: SelectorOperator,
    /// One value for `=`/`!=`, the set for `in`/`notin`, none for exists and does-not-exist.
    pub values: Vec<String>,
}

impl Requirement {
    /// Whether a label value (`None`: the object lacks the key) satisfies the requirement.
    pub fn matches(&self, label: Option<&str>) -> bool {
        let listed = |l: &str| self.values.iter().any(|v| v == l);
        match self.operator {
            SelectorOperator::Equals | SelectorOperator::In => label.is_some_and(listed),
            SelectorOperator::NotEquals | SelectorOperator::NotIn => !label.is_some_and(listed),
            SelectorOperator::Exists => label.is_some(),
            SelectorOperator::DoesNotExist => label.is_none(),
        }
    }
}

/// A parsed label selector: every requirement must hold. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<Requirement>);

/// Why a label selector does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid label selector `{selector}`: `{requirement}` {why}")]
pub struct SelectorError {
    /// The whole selector.
    pub selector: String,
    /// The requirement that is wrong.
    pub requirement: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl LabelSelector {
    /// Parses a selector; blank text is the empty selector.
    pub fn parse(text: &str) -> Result<LabelSelector, SelectorError> {
        if text.trim().is_empty() {
            return Ok(LabelSelector::default());
        }
        split_requirements(text)
            .into_iter()
            .map(|part| {
                parse_requirement(part.trim()).map_err(|why| SelectorError {
                    selector: text.to_owned(),
                    requirement: part.trim().to_owned(),
                    why,
                })
            })
            .collect::<Result<_, _>>()
            .map(LabelSelector)
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        self.0.iter().all(|r| r.matches(labels.get(&r.key).and_then(Value::as_str)))
    }

    /// The operator of every requirement, in order.
    pub fn operators(&self) -> impl Iterator<Item = SelectorOperator> + '_ {
        self.0.iter().map(|r| r.operator)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        match self.operator {
            SelectorOperator::Equals => write!(f, "{key}={}", self.values.join("")),
            SelectorOperator::NotEquals => write!(f, "{key}!={}", self.values.join("")),
            SelectorOperator::In => write!(f, "{key} in ({})", self.values.join(",")),
            SelectorOperator::NotIn => write!(f, "{key} notin ({})", self.values.join(",")),
            SelectorOperator::Exists => f.write_str(key),
            SelectorOperator::DoesNotExist => write!(f, "!{key}"),
        }
    }
}

/// Splits at the commas that separate requirements, not those inside a `(a,b)` set.
fn split_requirements(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
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
    parts
}

fn parse_requirement(part: &str) -> Result<Requirement, &'static str> {
    let requirement = |key: &str, operator, values: Vec<String>| -> Result<Requirement, &'static str> {
        check_key(key)?;
        values.iter().try_for_each(|v| check_value(v))?;
        Ok(Requirement { key: key.to_owned(), operator, values })
    };
    if part.is_empty() {
        return Err("is empty (a stray comma?)");
    }
    if let Some(key) = part.strip_prefix('!') {
        return requirement(key.trim(), SelectorOperator::DoesNotExist, Vec::new());
    }
    for (token, operator) in
        [("!=", SelectorOperator::NotEquals), ("==", SelectorOperator::Equals), ("=", SelectorOperator::Equals)]
    {
        if let Some((key, value)) = part.split_once(token) {
            return requirement(key.trim(), operator, vec![value.trim().to_owned()]);
        }
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    let Some(rest) = words.next().map(str::trim) else {
        return requirement(key, SelectorOperator::Exists, Vec::new());
    };
    let (operator, set) = if let Some(set) = rest.strip_prefix("notin") {
        (SelectorOperator::NotIn, set)
    } else if let Some(set) = rest.strip_prefix("in") {
        (SelectorOperator::In, set)
    } else {
        return Err("has an unknown operator (use =, ==, !=, in, notin, or a bare key)");
    };
    let inner = set.trim().strip_prefix('(').and_then(|s| s.strip_suffix(')')).ok_or("needs a set in parentheses")?;
    requirement(key, operator, inner.split(',').map(|v| v.trim().to_owned()).collect())
}

/// Label keys: an optional DNS prefix and `/`, then a name of letters, digits, `-`, `_` and `.`.
fn check_key(key: &str) -> Result<(), &'static str> {
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("x", key));
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/');
    if prefix.is_empty() || name.is_empty() || !key.chars().all(allowed) {
        return Err("has an invalid label key");
    }
    Ok(())
}

/// Label values: letters, digits, `-`, `_` and `.` (empty is allowed).
fn check_value(value: &str) -> Result<(), &'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if value.chars().all(allowed) {
        Ok(())
    } else {
        Err("has an invalid label value")
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
    fn bad_selectors_name_the_requirement() {
        for (text, why) in [
            ("tier in gold", "needs a set in parentheses"),
            ("app=web,", "is empty (a stray comma?)"),
            ("app=we b", "has an invalid label value"),
            ("a b c", "has an unknown operator (use =, ==, !=, in, notin, or a bare key)"),
            ("/x=1", "has an invalid label key"),
        ] {
            assert_eq!(LabelSelector::parse(text).unwrap_err().why, why, "{text}");
        }
    }

    #[test]
    fn requirements_print_back_in_the_text_form() {
        let text = "app=web,tier notin (gold,silver),!legacy,team";
        let selector = LabelSelector::parse(text).unwrap();
        let printed: Vec<String> = selector.0.iter().map(ToString::to_string).collect();
        assert_eq!(printed.join(","), text);
        assert_eq!(
            selector.operators().collect::<Vec<_>>(),
            [
                SelectorOperator::Equals,
                SelectorOperator::NotIn,
                SelectorOperator::DoesNotExist,
                SelectorOperator::Exists
            ]
        );
    }
}

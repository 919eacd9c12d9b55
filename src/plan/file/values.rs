//! Scalar values of the plan file that are checked while parsing, so a bad value is reported at its own line
//! and column: durations, release versions, label selectors, ports and templates.

use super::suggest::closest;
use crate::manifest::LabelSelector;
pub use crate::manifest::SelectorOperator;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// Reads a string and parses it inside the visitor, so that a value that does not parse is reported at
/// the value's own line and column (an error raised after deserialising would point at the enclosing
/// mapping instead).
struct ParsedStr<T> {
    parse: fn(&str) -> Result<T, String>,
    expecting: &'static str,
}

impl<T> Visitor<'_> for ParsedStr<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        (self.parse)(value).map_err(E::custom)
    }
}

/// A length of time written as `30s`, `5m`, `1h30m`, `500ms` or `7d`.
///
/// Kept as milliseconds and written back in its canonical form (`90s` becomes `1m30s`), so the resolved
/// plan shows one spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    millis: u64,
}

/// The units a duration may use, largest first (the canonical form writes them in this order).
const DURATION_UNITS: [(&str, u64); 5] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

impl Duration {
    // The constructors saturate: a length too large to hold is the longest one, never a panic.

    /// A duration of this many seconds.
    pub const fn from_secs(secs: u64) -> Duration {
        Duration { millis: secs.saturating_mul(1_000) }
    }

    /// A duration of this many minutes.
    pub const fn from_mins(mins: u64) -> Duration {
        Duration::from_secs(mins.saturating_mul(60))
    }

    /// A duration of this many hours.
    pub const fn from_hours(hours: u64) -> Duration {
        Duration::from_mins(hours.saturating_mul(60))
    }

    /// A duration of this many days.
    pub const fn from_days(days: u64) -> Duration {
        Duration::from_hours(days.saturating_mul(24))
    }

    /// This length `times` times over, or `None` when that is too long to hold.
    pub const fn checked_mul(self, times: u32) -> Option<Duration> {
        match self.millis.checked_mul(times as u64) {
            Some(millis) => Some(Duration { millis }),
            None => None,
        }
    }

    /// The length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// Whether the duration is zero (never a valid timeout or interval).
    pub const fn is_zero(self) -> bool {
        self.millis == 0
    }

    /// The same length as a `std::time::Duration`, for timers and deadlines.
    pub const fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }

    /// Parses `30s`, `5m`, `1h30m`, `500ms`, `7d`: one or more `<digits><unit>` parts, units `d`, `h`, `m`, `s`
    /// and `ms`.
    pub fn parse(text: &str) -> Result<Duration, String> {
        if text.is_empty() {
            return Err("an empty duration: write it as `30s`, `5m`, `1h` or `1h30m`".to_owned());
        }
        let mut rest = text;
        let mut millis: u64 = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!(
                    "invalid duration `{text}`: expected a number at `{rest}` (e.g. `30s`, `5m`, `1h30m`)"
                ));
            }
            let number: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("invalid duration `{text}`: `{}` is too large", &rest[..digits]))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            let Some((_, scale)) = DURATION_UNITS.iter().find(|(name, _)| *name == unit) else {
                let what = if unit.is_empty() {
                    "a number without a unit".to_owned()
                } else {
                    format!("unknown unit `{unit}`")
                };
                return Err(format!("invalid duration `{text}`: {what} (units: d, h, m, s, ms)"));
            };
            let part = number.checked_mul(*scale).ok_or_else(|| format!("invalid duration `{text}`: too large"))?;
            millis = millis.checked_add(part).ok_or_else(|| format!("invalid duration `{text}`: too large"))?;
            rest = &rest[unit_len..];
        }
        Ok(Duration { millis })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut left = self.millis;
        for (unit, scale) in DURATION_UNITS {
            if left >= scale {
                write!(f, "{}{unit}", left / scale)?;
                left %= scale;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParsedStr {
            parse: Duration::parse,
            expecting: "a duration such as `30s`, `5m` or `1h30m`",
        })
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h|d))+$",
            "description": "A length of time: one or more <number><unit> parts, units d, h, m, s, ms (e.g. 30s, 5m, 1h30m).",
            "examples": ["30s", "5m", "1h30m"]
        })
    }
}

/// A release's semantic version, written with or without a leading `v` (`v1.19.0`, `0.49.0`) and kept as
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseVersion {
    /// The version itself.
    pub version: semver::Version,
    /// Whether it was written with a leading `v`, so it is shown as the project writes its tags.
    pub v_prefix: bool,
}

impl ReleaseVersion {
    /// Parses `v1.19.0` or `1.19.0` (full `MAJOR.MINOR.PATCH`, optional pre-release and build).
    pub fn parse(text: &str) -> Result<ReleaseVersion, String> {
        let (v_prefix, bare) = match text.strip_prefix('v') {
            Some(bare) => (true, bare),
            None => (false, text),
        };
        let version = semver::Version::parse(bare)
            .map_err(|e| format!("invalid version `{text}`: {e} (write MAJOR.MINOR.PATCH, e.g. `v1.19.0`)"))?;
        Ok(ReleaseVersion { version, v_prefix })
    }
}

impl fmt::Display for ReleaseVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v_prefix {
            f.write_str("v")?;
        }
        write!(f, "{}", self.version)
    }
}

impl Serialize for ReleaseVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ReleaseVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_str(ParsedStr { parse: ReleaseVersion::parse, expecting: "a version such as `v1.19.0`" })
    }
}

impl JsonSchema for ReleaseVersion {
    fn schema_name() -> Cow<'static, str> {
        "ReleaseVersion".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^v?[0-9]+\\.[0-9]+\\.[0-9]+([-+].*)?$",
            "description": "A semantic version, with or without a leading v (v1.19.0, 0.49.0).",
            "examples": ["v1.19.0", "0.49.0"]
        })
    }
}

/// A label selector in the API server's text form (`app=web,tier notin (gold)`), checked for syntax when
/// the plan is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelectorText(String);

impl LabelSelectorText {
    /// Checks the syntax of a selector.
    pub fn parse(text: &str) -> Result<LabelSelectorText, String> {
        selector_operators(text)?;
        Ok(LabelSelectorText(text.to_owned()))
    }

    /// The selector as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The operator of every requirement, in order.
    pub fn operators(&self) -> Vec<SelectorOperator> {
        // Parsed when the value was read, so this cannot fail.
        selector_operators(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for LabelSelectorText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The operators of a selector's requirements, or why it does not parse (an empty selector is an error here:
/// leaving the key out is how a plan selects everything).
pub fn selector_operators(text: &str) -> Result<Vec<SelectorOperator>, String> {
    if text.trim().is_empty() {
        return Err("an empty label selector: leave the key out to select everything".to_owned());
    }
    LabelSelector::parse(text).map(|selector| selector.operators().collect()).map_err(|e| e.to_string())
}

impl Serialize for LabelSelectorText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LabelSelectorText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParsedStr {
            parse: LabelSelectorText::parse,
            expecting: "a label selector such as `app=web`",
        })
    }
}

impl JsonSchema for LabelSelectorText {
    fn schema_name() -> Cow<'static, str> {
        "LabelSelector".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "description": "A Kubernetes label selector in text form: key=value, key!=value, key in (a,b), key notin (a,b), key, !key; comma-separated.",
            "examples": ["app.kubernetes.io/part-of=payments", "env in (prod,staging)"]
        })
    }
}

/// A container port, by number (`8080`) or by name (`metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    /// A port number.
    Number(u16),
    /// A named container port.
    Name(String),
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRef::Number(number) => write!(f, "{number}"),
            PortRef::Name(name) => f.write_str(name),
        }
    }
}

impl Serialize for PortRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PortRef::Number(number) => serializer.serialize_u16(*number),
            PortRef::Name(name) => serializer.serialize_str(name),
        }
    }
}

impl<'de> Deserialize<'de> for PortRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortVisitor;
        impl Visitor<'_> for PortVisitor {
            type Value = PortRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number (1-65535) or a port name")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<PortRef, E> {
                match u16::try_from(value) {
                    Ok(port) if port > 0 => Ok(PortRef::Number(port)),
                    _ => Err(E::custom(format!("port {value} is out of range 1-65535"))),
                }
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<PortRef, E> {
                u64::try_from(value)
                    .map_err(|_| E::custom(format!("port {value} is out of range 1-65535")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<PortRef, E> {
                if value.is_empty() {
                    return Err(E::custom("an empty port name"));
                }
                Ok(value.parse::<u16>().map_or_else(|_| PortRef::Name(value.to_owned()), PortRef::Number))
            }
        }
        deserializer.deserialize_any(PortVisitor)
    }
}

impl JsonSchema for PortRef {
    fn schema_name() -> Cow<'static, str> {
        "PortRef".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A container port: its number or its name.",
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 65535},
                {"type": "string", "minLength": 1}
            ]
        })
    }
}

/// A value substituted into a [`Template`] when the rollout renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placeholder {
    /// `{cohortSelector}`: the label selector of the objects this Deployment owns. Canary:
    /// `<label>=canary`; baseline: `<label>=baseline`; stable: `<label> notin (canary,baseline)`, or
    /// `<label>=stable` when the operator only understands equality (every other object is then labelled
    /// `stable` for the duration of the analysis).
    CohortSelector,
    /// `{cohortLabel}`: the cohort label key (`spec.canary.cohortLabel`).
    CohortLabel,
    /// `{cohort}`: the Deployment's role, `stable`, `baseline` or `canary`.
    Cohort,
    /// `{leaseName}`: `spec.canary.scoping.leaseName` rendered for this Deployment.
    LeaseName,
    /// `{namespaces}`: the comma-separated namespaces this Deployment owns (namespace scoping): the cohort's
    /// namespaces for baseline and canary, every other namespace for stable.
    Namespaces,
    /// `{deployment}`: the name of the Deployment being rendered.
    Deployment,
    /// `{operatorNamespace}`: the operator's namespace (`spec.operator.namespace`).
    OperatorNamespace,
    /// `{pods}`: a regular expression matching the names of this Deployment's pods (metric queries).
    Pods,
}

impl Placeholder {
    /// Every placeholder, for messages and suggestions.
    pub const ALL: [Placeholder; 8] = [
        Placeholder::CohortSelector,
        Placeholder::CohortLabel,
        Placeholder::Cohort,
        Placeholder::LeaseName,
        Placeholder::Namespaces,
        Placeholder::Deployment,
        Placeholder::OperatorNamespace,
        Placeholder::Pods,
    ];

    /// The name written between braces.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::CohortSelector => "cohortSelector",
            Placeholder::CohortLabel => "cohortLabel",
            Placeholder::Cohort => "cohort",
            Placeholder::LeaseName => "leaseName",
            Placeholder::Namespaces => "namespaces",
            Placeholder::Deployment => "deployment",
            Placeholder::OperatorNamespace => "operatorNamespace",
            Placeholder::Pods => "pods",
        }
    }

    fn from_name(name: &str) -> Option<Placeholder> {
        Placeholder::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.name())
    }
}

/// One piece of a template: literal text or a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplatePart<'a> {
    /// Text copied as it is.
    Literal(&'a str),
    /// A value substituted at render time.
    Placeholder(Placeholder),
}

/// Text with `{placeholder}`s (see [`Placeholder`]), checked for unknown placeholders when read. Braces
/// that do not enclose a bare name (`{result="error"}` in a PromQL query) are literal text, and must pair up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(String);

impl Template {
    /// Checks a template's placeholders and that its literal braces pair up.
    pub fn parse(text: &str) -> Result<Template, String> {
        for name in placeholder_names(text) {
            if Placeholder::from_name(name).is_none() {
                let known: Vec<&str> = Placeholder::ALL.iter().map(|p| p.name()).collect();
                let hint = match closest(name, known.iter().copied()) {
                    Some(best) => format!("; did you mean `{{{best}}}`?"),
                    None => {
                        format!(" (known: {})", known.iter().map(|k| format!("{{{k}}}")).collect::<Vec<_>>().join(", "))
                    }
                };
                return Err(format!("unknown placeholder `{{{name}}}` in `{text}`{hint}"));
            }
        }
        let template = Template(text.to_owned());
        match template.stray_brace() {
            None => Ok(template),
            Some('{') => Err(format!(
                "an unclosed `{{` in `{text}`: write a placeholder as `{{name}}`; any other `{{` needs its `}}` (as in a PromQL matcher)"
            )),
            Some(_) => Err(format!(
                "a stray `}}` in `{text}`: write a placeholder as `{{name}}`; any other `}}` must close a `{{` (as in a PromQL matcher)"
            )),
        }
    }

    /// The first brace of the literal text that has no partner: a `}` closing nothing, or a `{` never closed.
    /// Literal braces are legitimate in pairs (`{result="error"}` in a PromQL query), but an unpaired one is
    /// a typo around a placeholder (`{cohortSelector}}`) that would reach the operator's flags as it is.
    fn stray_brace(&self) -> Option<char> {
        let mut open = 0usize;
        for part in self.parts() {
            let TemplatePart::Literal(text) = part else { continue };
            for c in text.chars() {
                match c {
                    '{' => open += 1,
                    '}' if open == 0 => return Some('}'),
                    '}' => open -= 1,
                    _ => {}
                }
            }
        }
        (open > 0).then_some('{')
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The template split into literal text and placeholders.
    pub fn parts(&self) -> Vec<TemplatePart<'_>> {
        let mut parts = Vec::new();
        let mut rest = self.0.as_str();
        while let Some((before, name, after)) = next_placeholder(rest) {
            if !before.is_empty() {
                parts.push(TemplatePart::Literal(before));
            }
            match Placeholder::from_name(name) {
                Some(placeholder) => parts.push(TemplatePart::Placeholder(placeholder)),
                // Checked when the template was read; kept literal rather than lost.
                None => parts.push(TemplatePart::Literal(&rest[before.len()..rest.len() - after.len()])),
            }
            rest = after;
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest));
        }
        parts
    }

    /// The placeholders the template uses, in order.
    pub fn placeholders(&self) -> Vec<Placeholder> {
        self.parts()
            .into_iter()
            .filter_map(|part| match part {
                TemplatePart::Placeholder(p) => Some(p),
                TemplatePart::Literal(_) => None,
            })
            .collect()
    }

    /// The literal text with the placeholders left out, for checks on what the plan's author wrote.
    pub fn literal_text(&self) -> String {
        self.parts()
            .into_iter()
            .filter_map(|part| match part {
                TemplatePart::Literal(text) => Some(text),
                TemplatePart::Placeholder(_) => None,
            })
            .collect()
    }

    /// Substitutes every placeholder; fails with the first placeholder `value` has no value for.
    pub fn render(&self, value: impl Fn(Placeholder) -> Option<String>) -> Result<String, Placeholder> {
        let mut out = String::with_capacity(self.0.len());
        for part in self.parts() {
            match part {
                TemplatePart::Literal(text) => out.push_str(text),
                TemplatePart::Placeholder(p) => out.push_str(&value(p).ok_or(p)?),
            }
        }
        Ok(out)
    }
}

/// The next `{name}` in `text`: the text before it, the name, and the text after it.
fn next_placeholder(text: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|i| i + from) {
        let after_open = &text[open + 1..];
        let name_len = after_open.bytes().take_while(|b| b.is_ascii_alphanumeric()).count();
        let starts_with_letter = after_open.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
        if starts_with_letter && after_open.as_bytes().get(name_len) == Some(&b'}') {
            return Some((&text[..open], &after_open[..name_len], &after_open[name_len + 1..]));
        }
        from = open + 1;
    }
    None
}

fn placeholder_names(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some((_, name, after)) = next_placeholder(rest) {
        names.push(name);
        rest = after;
    }
    names
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParsedStr { parse: Template::parse, expecting: "a string" })
    }
}

impl JsonSchema for Template {
    fn schema_name() -> Cow<'static, str> {
        "Template".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Text with placeholders substituted per Deployment: {cohortSelector}, {cohortLabel}, {cohort}, {leaseName}, {namespaces}, {deployment}, {operatorNamespace}, {pods}. Other braces are literal text and must pair up.",
            "examples": ["--watch-label-selector={cohortSelector}", "{deployment}"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_canonically() {
        assert_eq!(Duration::parse("90s").unwrap().as_millis(), 90_000);
        assert_eq!(Duration::parse("90s").unwrap().to_string(), "1m30s");
        assert_eq!(Duration::parse("1h30m").unwrap(), Duration::from_mins(90));
        assert_eq!(Duration::parse("500ms").unwrap().as_millis(), 500);
        assert_eq!(Duration::parse("7d").unwrap().to_string(), "7d");
        assert_eq!(Duration::parse("0s").unwrap().to_string(), "0s");
        for bad in ["", "5", "5x", "m5", "1h 30m", "-1s", "99999999999999999999s"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn versions_keep_their_prefix() {
        let v = ReleaseVersion::parse("v1.19.0").unwrap();
        assert_eq!((v.version.minor, v.to_string()), (19, "v1.19.0".to_owned()));
        assert_eq!(ReleaseVersion::parse("0.49.0").unwrap().to_string(), "0.49.0");
        assert!(ReleaseVersion::parse("1.19").is_err());
    }

    #[test]
    fn selectors_report_their_operators() {
        let ops = selector_operators("a=b,c!=d,e in (f,g),h notin (i),j,!k,l==m").unwrap();
        use SelectorOperator::*;
        assert_eq!(ops, vec![Equals, NotEquals, In, NotIn, Exists, DoesNotExist, Equals]);
        for bad in ["", "a=b,", "a b", "a in b", "a=b c"] {
            assert!(selector_operators(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn templates_find_placeholders_and_leave_promql_braces_alone() {
        let t = Template::parse(r#"sum(x{pod=~"{pods}",result="error"}) {cohort}"#).unwrap();
        assert_eq!(t.placeholders(), vec![Placeholder::Pods, Placeholder::Cohort]);
        let rendered = t.render(|p| Some(p.name().to_uppercase())).unwrap();
        assert_eq!(rendered, r#"sum(x{pod=~"PODS",result="error"}) COHORT"#);
        let error = Template::parse("--selector={cohortSelecter}").unwrap_err();
        assert!(error.contains("did you mean `{cohortSelector}`"), "{error}");
        assert_eq!(Template::parse("a {cohort} b").unwrap().literal_text(), "a  b");
    }

    #[test]
    fn templates_refuse_an_unpaired_brace() {
        let stray = Template::parse("--selector={cohortSelector}}").unwrap_err();
        assert!(stray.contains("a stray `}` in `--selector={cohortSelector}}`"), "{stray}");
        let unclosed = Template::parse("--selector={{cohortSelector}").unwrap_err();
        assert!(unclosed.contains("an unclosed `{` in `--selector={{cohortSelector}`"), "{unclosed}");
        for bad in ["}", "{", "{pods}}{", r#"x{a="b""#, "}{"] {
            assert!(Template::parse(bad).is_err(), "{bad:?} should be refused");
        }
        for good in [r#"sum(x{pod=~"{pods}"}) / sum(y{a="{cohort}",b="c"})"#, "{}", "plain", "{{pods}}"] {
            assert!(Template::parse(good).is_ok(), "{good:?} should parse");
        }
    }
}

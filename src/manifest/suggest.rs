//! "Did you mean `X`?" for misspelt keys, values and placeholders.

/// How alike two names must be (Jaro-Winkler over the normalised names) to be suggested.
const MIN_SIMILARITY: f64 = 0.8;

/// The candidate closest to `word`, if any is close enough to be what was meant. Case, `_` and `-` are
/// ignored first, so `max_age` and `MaxAge` both find `maxAge`.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = normalise(word);
    let mut best: Option<(f64, &'a str)> = None;
    for candidate in candidates {
        let score =
            if normalise(candidate) == wanted { 2.0 } else { strsim::jaro_winkler(&wanted, &normalise(candidate)) };
        if score >= MIN_SIMILARITY && best.is_none_or(|(top, _)| score > top) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

fn normalise(word: &str) -> String {
    word.chars().filter(|c| !matches!(c, '_' | '-')).flat_map(char::to_lowercase).collect()
}

/// What serde said was wrong with a name, read from its message: `unknown field `x`, expected one of
/// `a`, `b``, or the same for an enum variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// Whether it was a key (field) or a value (variant).
    pub kind: NameKind,
    /// The name as written.
    pub found: String,
    /// The names serde expected there.
    pub expected: Vec<String>,
}

/// Where an unknown name was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A key of a mapping.
    Field,
    /// A value naming one choice of an enum (or the key of a one-key choice mapping).
    Variant,
}

impl UnknownName {
    /// Reads serde's `unknown field` / `unknown variant` message; anything else is `None`.
    pub fn from_message(message: &str) -> Option<UnknownName> {
        let (kind, rest) = if let Some(rest) = message.strip_prefix("unknown field ") {
            (NameKind::Field, rest)
        } else if let Some(rest) = message.strip_prefix("unknown variant ") {
            (NameKind::Variant, rest)
        } else {
            return None;
        };
        let mut quoted = backticked(rest);
        if quoted.is_empty() {
            return None;
        }
        let found = quoted.remove(0);
        Some(UnknownName { kind, found, expected: quoted })
    }

    /// The expected name closest to what was written.
    pub fn suggestion(&self) -> Option<&str> {
        closest(&self.found, self.expected.iter().map(String::as_str))
    }
}

/// Every `` `quoted` `` word of a message, in order.
fn backticked(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["maxAge", "selector", "name", "testRestore"];
        assert_eq!(closest("maxage", fields), Some("maxAge"));
        assert_eq!(closest("max_age", fields), Some("maxAge"));
        assert_eq!(closest("selectr", fields), Some("selector"));
        assert_eq!(closest("testRestor", fields), Some("testRestore"));
        assert_eq!(closest("completelyDifferent", fields), None);
    }

    #[test]
    fn reads_serde_messages() {
        let name =
            UnknownName::from_message("unknown field `percentge`, expected one of `count`, `percentage`").unwrap();
        assert_eq!(name.kind, NameKind::Field);
        assert_eq!(name.expected, vec!["count", "percentage"]);
        assert_eq!(name.suggestion(), Some("percentage"));
        let variant = UnknownName::from_message("unknown variant `valero`, expected one of `velero`, `job`").unwrap();
        assert_eq!((variant.kind, variant.suggestion()), (NameKind::Variant, Some("velero")));
        assert_eq!(UnknownName::from_message("missing field `spec`"), None);
    }
}

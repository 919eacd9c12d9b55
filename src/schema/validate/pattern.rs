//! `pattern` with the API server's semantics: Go's `regexp` (RE2), matched anywhere in the value (unanchored).
//!
//! The `regex` crate implements the same automata-only dialect, but differs in a few defaults that matter for
//! real CRD patterns: Go's `\d`, `\w`, `\s` and `\b` are ASCII-only where the crate's are Unicode-aware, Go
//! reads `\Q...\E` as a literal and `\123` as an octal escape. Patterns are rewritten for those differences
//! before compiling; anything the crate still cannot compile is reported as unevaluable, never as a pass.

use regex::{Regex, RegexBuilder};

/// A schema's `pattern`, compiled once per CRD version.
#[derive(Debug)]
pub(crate) struct Pattern {
    /// The pattern as the schema spells it (for messages).
    pub source: String,
    /// The compiled form, or why it could not be compiled.
    pub compiled: Result<Regex, String>,
}

impl Pattern {
    /// Compiles a Go RE2 pattern with Go's semantics.
    pub fn compile(source: &str) -> Pattern {
        let compiled = RegexBuilder::new(&translate(source))
            .octal(true)
            // CRD patterns are small; a generous limit only guards against pathological ones.
            .size_limit(16 << 20)
            .build()
            .map_err(|e| e.to_string());
        Pattern { source: source.to_owned(), compiled }
    }
}

/// Go's ASCII-only Perl classes, as the regex crate spells them outside and inside a bracket class.
fn perl_class(class: char, in_brackets: bool) -> Option<&'static str> {
    Some(match (class, in_brackets) {
        ('d', false) => "[0-9]",
        ('D', false) => "[^0-9]",
        ('w', false) => "[0-9A-Za-z_]",
        ('W', false) => "[^0-9A-Za-z_]",
        ('s', false) => "[\\t\\n\\f\\r ]",
        ('S', false) => "[^\\t\\n\\f\\r ]",
        ('b', false) => "(?-u:\\b)",
        ('B', false) => "(?-u:\\B)",
        ('d', true) => "0-9",
        ('w', true) => "0-9A-Za-z_",
        ('s', true) => "\\t\\n\\f\\r ",
        // The regex crate nests classes, so a negated class inside brackets stays exact.
        ('D', true) => "[^0-9]",
        ('W', true) => "[^0-9A-Za-z_]",
        ('S', true) => "[^\\t\\n\\f\\r ]",
        _ => return None,
    })
}

/// Rewrites a Go RE2 pattern into the regex crate's dialect with the same meaning.
pub(crate) fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    // Depth of bracket classes: `[[:alpha:]]` nests one level in both dialects.
    let mut bracket_depth = 0usize;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = std::mem::take(&mut class_start);
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                if next == 'Q' {
                    let mut literal = String::new();
                    while let Some(l) = chars.next() {
                        if l == '\\' && chars.peek() == Some(&'E') {
                            chars.next();
                            break;
                        }
                        literal.push(l);
                    }
                    out.push_str(&regex::escape(&literal));
                } else if let Some(replacement) = perl_class(next, bracket_depth > 0) {
                    out.push_str(replacement);
                } else {
                    out.push('\\');
                    out.push(next);
                }
            }
            '[' if bracket_depth > 0 && chars.peek() == Some(&':') => {
                // A POSIX class `[:alpha:]` inside brackets: copy it whole.
                out.push('[');
                for p in chars.by_ref() {
                    out.push(p);
                    if p == ']' {
                        break;
                    }
                }
            }
            // Go reads any other `[` inside a class as a literal; the regex crate would open a nested class.
            '[' if bracket_depth > 0 => out.push_str("\\["),
            '[' => {
                bracket_depth += 1;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                class_start = true;
            }
            // A `]` first in a class is a literal in both dialects.
            ']' if bracket_depth > 0 && at_class_start => out.push_str("\\]"),
            ']' if bracket_depth > 0 => {
                bracket_depth -= 1;
                out.push(']');
            }
            // Inside a Go class these are literals; the regex crate gives `[`, `&&`, `--` and `~~` meaning.
            '&' | '-' | '~' if bracket_depth > 0 && chars.peek() == Some(&c) => {
                chars.next();
                for _ in 0..2 {
                    out.push('\\');
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, value: &str) -> bool {
        match Pattern::compile(pattern).compiled {
            Ok(regex) => regex.is_match(value),
            Err(error) => panic!("{pattern} does not compile: {error}"),
        }
    }

    #[test]
    fn perl_classes_are_ascii_only_as_in_go() {
        assert!(matches(r"^\d+$", "123"));
        assert!(!matches(r"^\d+$", "١٢٣"), "Arabic-Indic digits are not \\d in Go");
        assert!(!matches(r"^\w+$", "héllo"));
        assert!(matches(r"^[\w.-]+$", "a.b-c_d"));
        assert!(!matches(r"^[\w]+$", "é"));
        assert!(matches(r"^\S+$", "é"));
        assert!(matches(r"^[^\d]+$", "é"));
        assert!(matches(r"\bword\b", "a word here"));
    }

    #[test]
    fn go_only_syntax_is_translated() {
        assert!(matches(r"^\Qa.b*c\E$", "a.b*c"));
        assert!(!matches(r"^\Qa.b\E$", "axb"));
        assert!(matches(r"^\101$", "A"), "octal escape");
        assert!(matches(r"^[]a]+$", "]a"), "leading ] is a literal");
        assert!(matches(r"^[a&&b]+$", "&"), "&& is a literal in Go classes");
        assert!(matches(r"^[[:alpha:]]+$", "abc"));
        assert!(matches(r"^[a[]+$", "a["), "[ inside a class is a literal");
    }

    #[test]
    fn patterns_match_anywhere_unless_anchored() {
        assert!(matches("b", "abc"));
        assert!(!matches("^b", "abc"));
    }

    #[test]
    fn unsupported_syntax_is_an_error_not_a_pass() {
        assert!(Pattern::compile(r"(?<!a)b").compiled.is_err());
    }
}

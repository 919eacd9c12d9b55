//! One `x-kubernetes-validations` rule, parsed once: evaluating it, its message, its field path, and telling
//! an interpreter gap (unevaluable) from a runtime error the API server raises too (a rejection).

use crate::manifest::ValidationRule;
use crate::schema::child_property_path;
use kube::core::cel::cel::common::ast::{operators, EntryExpr, Expr};
use kube::core::cel::cel::parser::{Expression, Parser};
use kube::core::cel::cel::{Context, ExecutionError, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

/// The API server's limit on an evaluated messageExpression (`MaxEvaluatedMessageExpressionSizeBytes`).
const MAX_MESSAGE_BYTES: usize = 5 * 1024;

/// A rule ready to evaluate, or the reason it cannot be.
#[derive(Debug)]
pub(super) struct CompiledRule {
    source: ValidationRule,
    program: Result<Expression, String>,
    message_program: Option<Expression>,
    uses_old_self: bool,
    /// `fieldPath`, rendered in finding-path syntax (`.x`, `["a.b"]`), appended to the node's path.
    field_path_suffix: String,
    /// Set once evaluating the rule panicked inside the interpreter: later objects skip straight to
    /// unevaluable instead of panicking (and printing) again.
    poisoned: AtomicBool,
}

/// What one evaluation of a rule says.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RuleResult {
    /// The rule held.
    Passed,
    /// The rule does not apply here (a transition rule without an old value).
    Skipped,
    /// The rule failed, or raised a runtime error the API server raises too; `path_suffix` is fieldPath.
    Violated { message: String, path_suffix: String, reason: Option<String> },
    /// The rule cannot be evaluated client-side.
    Unevaluable { error: String },
}

/// Which `oldSelf` a node can offer its rules.
#[derive(Clone, Copy)]
pub(super) struct Scopes<'a> {
    /// `self`, plus `oldSelf` (= `self`) when the value has an old counterpart.
    pub plain: &'a Context<'a>,
    /// `self`, plus `oldSelf` as an optional, for rules with `optionalOldSelf: true`.
    pub optional: Option<&'a Context<'a>>,
    /// Whether the value correlates with an old value (false under items of lists that are not
    /// `x-kubernetes-list-type: map`, where the API server has no oldSelf).
    pub has_old: bool,
}

impl CompiledRule {
    /// Parses the rule and its messageExpression (with CEL optional syntax, which the API server enables).
    pub(super) fn compile(source: &ValidationRule) -> CompiledRule {
        let program = parse(&source.rule).and_then(|expr| match unsupported_construct(&expr) {
            Some(construct) => Err(format!("uses {construct}, which the client-side CEL interpreter does not support")),
            None => Ok(expr),
        });
        let uses_old_self = match &program {
            Ok(expr) => expr.references().has_variable("oldSelf"),
            Err(_) => source.is_transition_rule(),
        };
        // A messageExpression that does not parse or cannot run falls back to the static message, as the
        // API server does when it fails at runtime: the rule itself is still evaluated.
        let message_program = source
            .message_expression
            .as_deref()
            .and_then(|text| parse(text).ok())
            .filter(|expr| unsupported_construct(expr).is_none());
        CompiledRule {
            field_path_suffix: source.field_path.as_deref().map(render_field_path).unwrap_or_default(),
            source: source.clone(),
            program,
            message_program,
            uses_old_self,
            poisoned: AtomicBool::new(false),
        }
    }

    /// The rule text.
    pub(super) fn text(&self) -> &str {
        &self.source.rule
    }

    /// Why the rule cannot be evaluated at all, when it cannot.
    #[cfg(test)]
    pub(super) fn compile_error(&self) -> Option<&str> {
        self.program.as_ref().err().map(String::as_str)
    }

    /// Whether the rule reads `oldSelf` (a transition rule: never ratcheted).
    pub(super) fn uses_old_self(&self) -> bool {
        self.uses_old_self
    }

    /// Whether the rule (or its message) needs `oldSelf` bound.
    pub(super) fn binds_old_self(&self) -> bool {
        self.uses_old_self
            || self.message_program.as_ref().is_some_and(|expr| expr.references().has_variable("oldSelf"))
    }

    /// Whether the rule wants `oldSelf` as an optional.
    pub(super) fn optional_old_self(&self) -> bool {
        self.source.optional_old_self == Some(true)
    }

    /// The parsed rule and messageExpression, for the node's analysis of which fields of `self` are read.
    pub(super) fn expressions(&self) -> impl Iterator<Item = &Expression> {
        self.program.as_ref().ok().into_iter().chain(self.message_program.as_ref())
    }

    /// Evaluates the rule in the node's scopes.
    pub(super) fn evaluate(&self, scopes: Scopes<'_>) -> RuleResult {
        let program = match &self.program {
            Ok(program) => program,
            Err(error) => return RuleResult::Unevaluable { error: error.clone() },
        };
        if self.uses_old_self && !scopes.has_old && !self.optional_old_self() {
            return RuleResult::Skipped;
        }
        let ctx = match (self.optional_old_self(), scopes.optional) {
            (true, Some(optional)) => optional,
            _ => scopes.plain,
        };
        match self.run(program, ctx) {
            Ok(Value::Bool(true)) => RuleResult::Passed,
            Ok(Value::Bool(false)) => RuleResult::Violated {
                message: self.failure_message(scopes.plain),
                path_suffix: self.field_path_suffix.clone(),
                reason: self.source.reason.clone(),
            },
            Ok(other) => {
                RuleResult::Unevaluable { error: format!("the rule evaluated to {}, not a bool", other.type_of()) }
            }
            Err(Failure::Panicked) => {
                RuleResult::Unevaluable { error: "the client-side CEL interpreter failed on this rule".to_owned() }
            }
            Err(Failure::Error(error)) => match api_server_error(&error) {
                // The API server reports these at the node itself (fieldPath applies to false results only).
                Some(text) => RuleResult::Violated {
                    message: format!("{text} evaluating rule: {}", self.error_string()),
                    path_suffix: String::new(),
                    reason: None,
                },
                None => RuleResult::Unevaluable { error: describe_gap(&error) },
            },
        }
    }

    fn run(&self, program: &Expression, ctx: &Context<'_>) -> Result<Value, Failure> {
        if self.poisoned.load(Ordering::Relaxed) {
            return Err(Failure::Panicked);
        }
        match catch_unwind(AssertUnwindSafe(|| Value::resolve(program, ctx))) {
            Ok(result) => result.map_err(Failure::Error),
            Err(_) => {
                self.poisoned.store(true, Ordering::Relaxed);
                Err(Failure::Panicked)
            }
        }
    }

    /// The message of a failed rule: messageExpression when it yields a usable string, else `message`,
    /// else `failed rule: <rule>` (the API server's order and fallbacks).
    fn failure_message(&self, ctx: &Context<'_>) -> String {
        let evaluated = self.message_program.as_ref().and_then(|expr| match self.run(expr, ctx) {
            Ok(Value::String(text)) => usable_message(&text),
            _ => None,
        });
        evaluated.unwrap_or_else(|| match self.source.message.as_deref().map(str::trim) {
            Some(message) if !message.is_empty() => message.to_owned(),
            _ => format!("failed rule: {}", self.error_string()),
        })
    }

    /// How the API server names the rule in errors: its message, else its text.
    fn error_string(&self) -> &str {
        match self.source.message.as_deref().map(str::trim) {
            Some(message) if !message.is_empty() => message,
            _ => self.source.rule.trim(),
        }
    }
}

enum Failure {
    Error(ExecutionError),
    Panicked,
}

fn parse(text: &str) -> Result<Expression, String> {
    let parsed = catch_unwind(|| Parser::new().enable_optional_syntax(true).parse(text));
    match parsed {
        Ok(Ok(mut expr)) => {
            select_optionally_by_index(&mut expr);
            Ok(expr)
        }
        Ok(Err(errors)) => Err(format!("does not compile: {}", errors.to_string().trim())),
        Err(_) => Err("the client-side CEL parser failed on this rule".to_owned()),
    }
}

/// Rewrites `x.?field` as `x[?'field']`. The interpreter's optional select raises `no such key` for an absent
/// field where CEL yields `optional.none()` (a false failure); its optional index behaves as CEL specifies, and
/// on the maps CEL sees here both mean the same.
fn select_optionally_by_index(expr: &mut Expression) {
    match &mut expr.expr {
        Expr::Call(call) => {
            if call.func_name == operators::OPT_SELECT {
                call.func_name = operators::OPT_INDEX.to_owned();
            }
            if let Some(target) = call.target.as_deref_mut() {
                select_optionally_by_index(target);
            }
            call.args.iter_mut().for_each(select_optionally_by_index);
        }
        Expr::Select(select) => select_optionally_by_index(&mut select.operand),
        Expr::List(list) => list.elements.iter_mut().for_each(select_optionally_by_index),
        Expr::Map(map) => {
            for entry in &mut map.entries {
                if let EntryExpr::MapEntry(entry) = &mut entry.expr {
                    select_optionally_by_index(&mut entry.key);
                    select_optionally_by_index(&mut entry.value);
                }
            }
        }
        Expr::Comprehension(comprehension) => {
            let comprehension = comprehension.as_mut();
            for part in [
                &mut comprehension.iter_range,
                &mut comprehension.accu_init,
                &mut comprehension.loop_cond,
                &mut comprehension.loop_step,
                &mut comprehension.result,
            ] {
                select_optionally_by_index(part);
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Struct(_) | Expr::Unspecified => {}
    }
}

fn usable_message(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let usable = !trimmed.is_empty() && !trimmed.contains('\n') && trimmed.len() <= MAX_MESSAGE_BYTES;
    usable.then(|| trimmed.to_owned())
}

/// Runtime errors that cel-go raises the same way for the same data, which the API server turns into an
/// invalid-object error. Everything else may be a gap of the client-side interpreter.
fn api_server_error(error: &ExecutionError) -> Option<String> {
    match error {
        ExecutionError::NoSuchKey(key) => Some(format!("no such key: {key}")),
        ExecutionError::IndexOutOfBounds(index) => Some(format!("index out of bounds: {}", plain(index))),
        ExecutionError::DivisionByZero(_) => Some("division by zero".to_owned()),
        ExecutionError::RemainderByZero(_) => Some("modulus by zero".to_owned()),
        ExecutionError::Overflow(..) => Some("integer overflow".to_owned()),
        _ => None,
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        other => format!("{other:?}"),
    }
}

fn describe_gap(error: &ExecutionError) -> String {
    match error {
        ExecutionError::UndeclaredReference(name) => {
            format!("uses `{name}`, which the client-side CEL interpreter does not provide")
        }
        other => format!("the client-side CEL interpreter failed: {other}"),
    }
}

/// Constructs the interpreter would panic on or silently mis-evaluate; None when the rule has none.
fn unsupported_construct(expr: &Expression) -> Option<&'static str> {
    match &expr.expr {
        Expr::Unspecified => Some("an empty expression"),
        Expr::Struct(_) => Some("a message literal"),
        Expr::Ident(_) | Expr::Literal(_) => None,
        Expr::Select(select) => unsupported_construct(&select.operand),
        Expr::Call(call) => call.target.as_deref().into_iter().chain(&call.args).find_map(unsupported_construct),
        Expr::List(list) => list.elements.iter().find_map(unsupported_construct),
        Expr::Map(map) => map.entries.iter().find_map(|entry| match &entry.expr {
            EntryExpr::MapEntry(entry) => unsupported_construct(&entry.key).or(unsupported_construct(&entry.value)),
            EntryExpr::StructField(_) => Some("a message literal"),
        }),
        Expr::Comprehension(comprehension) => {
            if comprehension.iter_var2.is_some() {
                return Some("a two-variable comprehension");
            }
            [
                &comprehension.iter_range,
                &comprehension.accu_init,
                &comprehension.loop_cond,
                &comprehension.loop_step,
                &comprehension.result,
            ]
            .into_iter()
            .find_map(unsupported_construct)
        }
    }
}

/// Renders a rule's `fieldPath` (`.spec.x`, `.labels['a.b']`) in finding-path syntax; a path that does not
/// parse is appended as written.
pub(super) fn render_field_path(field_path: &str) -> String {
    parse_field_path(field_path)
        .map(|segments| segments.iter().fold(String::new(), |path, name| child_property_path(&path, name)))
        .unwrap_or_else(|| if field_path.starts_with('.') { field_path.to_owned() } else { format!(".{field_path}") })
}

fn parse_field_path(field_path: &str) -> Option<Vec<String>> {
    let mut segments = Vec::new();
    let mut rest = field_path;
    while !rest.is_empty() {
        if let Some(after_dot) = rest.strip_prefix('.') {
            let end = after_dot.find(['.', '[']).unwrap_or(after_dot.len());
            if end == 0 {
                return None;
            }
            segments.push(after_dot[..end].to_owned());
            rest = &after_dot[end..];
        } else if let Some(after_bracket) = rest.strip_prefix("['") {
            let (key, after_key) = quoted_key(after_bracket)?;
            segments.push(key);
            rest = after_key.strip_prefix(']')?;
        } else {
            return None;
        }
    }
    Some(segments)
}

/// The single-quoted key at the start of `text` (after `['`), unescaped, and what follows its closing quote.
fn quoted_key(text: &str) -> Option<(String, &str)> {
    let mut key = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '\'' => return Some((key, &text[index + 1..])),
            '\\' => key.push(match chars.next()?.1 {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => other,
            }),
            c => key.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_render_in_finding_syntax() {
        assert_eq!(render_field_path(".spec.replicas"), ".spec.replicas");
        assert_eq!(render_field_path(".labels['app.kubernetes.io/name']"), ".labels[\"app.kubernetes.io/name\"]");
        assert_eq!(render_field_path(".a['it\\'s'].b"), ".a[\"it's\"].b");
        assert_eq!(render_field_path("weird[0]"), ".weird[0]");
    }

    #[test]
    fn message_limits_follow_the_api_server() {
        assert_eq!(usable_message("  ok  ").as_deref(), Some("ok"));
        assert_eq!(usable_message("   "), None);
        assert_eq!(usable_message("two\nlines"), None);
        assert_eq!(usable_message(&"x".repeat(MAX_MESSAGE_BYTES + 1)), None);
    }
}

//! CEL validation rules (`x-kubernetes-validations`) of one CRD version, evaluated client-side against
//! existing objects as the API server would on a no-op update (`oldSelf` is `self`).
//!
//! Interpreter: the `cel` crate with the Kubernetes libraries of `kube-cel` (`kube::core::cel`), driven here
//! rather than through kube-cel's own validator so that (a) value conversion follows the API server (property
//! escaping, formats, root metadata, int-or-string) and (b) only the parts of an object under rules are
//! converted, and a node whose rules read only `self.a`/`has(self.b)` converts only those fields.
//!
//! What comes out, per rule and object:
//! - [`CelOutcome::Violated`] when the rule evaluates to false, or raises a runtime error that cel-go raises the
//!   same way for the same data (`no such key` on an absent field, index out of bounds, division by zero,
//!   integer overflow): the API server rejects the write in both cases, so both are violations.
//! - [`CelOutcome::Unevaluable`] when the rule cannot be parsed, uses something the interpreter lacks
//!   (`type()`, `cel.bind`, two-variable comprehensions, `sortBy`, ...), fails in any other way, or does not
//!   yield a bool: never a silent pass, never a false failure.
//!
//! Which rules run where, as in the API server: rules on a node run for every non-null value of it (each list
//! item, each map value); rules under `allOf` branches run on the same value; rules under `anyOf`/`oneOf`/`not`
//! are not run (the API server does not run them either). Transition rules run where an old value exists:
//! everywhere except under items of lists that are not `x-kubernetes-list-type: map`, where only rules with
//! `optionalOldSelf: true` run (with `oldSelf` empty). The object is expected as the API server sees it on
//! update: pruned and defaulted (the caller applies defaults).
//!
//! Paths: finding-path syntax, leading dot, `[i]` for list items, `.key` for map keys that are plain names and
//! `["key"]` for others (`.metadata.labels["app.kubernetes.io/name"]`), `.` for the root; a rule's `fieldPath`
//! is appended for false results, as the API server does.

mod rule;
mod shape;

use crate::manifest::{AdditionalProperties, Schema};
use crate::schema::child_property_path;
use kube::core::cel::cel::common::ast::{EntryExpr, Expr};
use kube::core::cel::cel::extractors::This;
use kube::core::cel::cel::objects::OptionalValue;
use kube::core::cel::cel::parser::Expression;
use kube::core::cel::cel::{functions, Context, ExecutionError, FunctionContext, Value};
use kube::core::cel::KubeCelExt;
use rule::{CompiledRule, RuleResult, Scopes};
use serde_json::Value as Json;
use shape::{Projection, Shape};
use std::collections::BTreeMap;
use std::sync::Arc;

/// CEL rules of one CRD version's schema, compiled once, evaluated for many objects (Send + Sync).
#[derive(Debug)]
pub struct CelRules {
    root: Option<RuleNode>,
}

/// What evaluating one rule against one object found (passing rules produce nothing).
#[derive(Debug, Clone, PartialEq)]
pub enum CelOutcome {
    /// The rule evaluated to false. `path` is concrete (`.spec.rules[0]`, leading dot, `[i]` for list items,
    /// `.key` or `["key"]` for map keys, `.` for the root), honouring fieldPath; `message` honours
    /// messageExpression; `transition` = the rule uses oldSelf (never ratcheted).
    Violated {
        /// Where the rule failed.
        path: String,
        /// The rule's CEL text.
        rule: String,
        /// messageExpression's result, else `message`, else `failed rule: <rule>`.
        message: String,
        /// The rule's `reason` (`FieldValueInvalid`, ...), when set.
        reason: Option<String>,
        /// The rule reads `oldSelf`: the API server never ratchets it.
        transition: bool,
    },
    /// The rule could not be compiled or evaluated client-side (kube-cel gap): never a pass, never a failure.
    Unevaluable {
        /// The node the rule is on.
        path: String,
        /// The rule's CEL text.
        rule: String,
        /// Why it could not be evaluated.
        error: String,
    },
}

impl CelRules {
    /// Compiles every rule of a version's root schema (`openAPIV3Schema`).
    pub fn compile(schema: &crate::manifest::Schema) -> CelRules {
        let root = has_rules(schema).then(|| compile_node(schema, &Shape::of(schema, true))).flatten();
        CelRules { root }
    }

    /// Whether the schema has no rules at all (evaluating then finds nothing).
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Evaluates every rule against `object` (the whole object, as the root schema sees it), oldSelf = self.
    pub fn evaluate(&self, object: &serde_json::Value) -> Vec<CelOutcome> {
        let mut outcomes = Vec::new();
        if let Some(root) = &self.root {
            BASE_CONTEXT.with(|base| root.evaluate(object, true, "", base, &mut outcomes));
        }
        outcomes
    }
}

thread_local! {
    /// The CEL functions (standard and Kubernetes libraries). A `cel::Context` is not `Sync`, so each thread
    /// registers them once instead of sharing one.
    static BASE_CONTEXT: Context<'static> = base_context();
}

fn base_context() -> Context<'static> {
    let mut ctx = Context::default().with_all();
    ctx.add_function("size", size_in_code_points);
    ctx
}

/// `size()` as CEL specifies it: a string's length in code points (the interpreter counts UTF-8 bytes, which
/// would fail `self.name.size() <= 63` for names with non-ASCII characters that the API server accepts).
fn size_in_code_points(ftx: &FunctionContext, This(this): This<Value>) -> Result<i64, ExecutionError> {
    match this {
        Value::String(text) => Ok(i64::try_from(text.chars().count()).unwrap_or(i64::MAX)),
        other => functions::size(ftx, This(other)),
    }
}

/// The rules at one schema node and the nodes beneath it that have rules.
#[derive(Debug)]
struct RuleNode {
    shape: Arc<Shape>,
    rules: Vec<CompiledRule>,
    /// The only fields of `self` the rules read; None when they use `self` as a whole.
    projection: Option<Projection>,
    binds_old_self: bool,
    has_optional_old_self: bool,
    properties: BTreeMap<String, RuleNode>,
    items: Option<Box<RuleNode>>,
    map_values: Option<Box<RuleNode>>,
}

fn has_rules(schema: &Schema) -> bool {
    !schema.validations.is_empty()
        || schema.properties.values().any(|property| has_rules(property))
        || schema.items.as_deref().is_some_and(has_rules)
        || matches!(&schema.additional_properties, Some(AdditionalProperties::Schema(values)) if has_rules(values))
        || schema.all_of.iter().any(has_rules)
}

/// The rule node for `schema`, whose values convert with `shape` (for an allOf branch: the shape of the node
/// the branch belongs to, since branches declare no types). None when nothing beneath has rules.
fn compile_node(schema: &Schema, shape: &Arc<Shape>) -> Option<RuleNode> {
    let mut node = RuleNode {
        shape: Arc::clone(shape),
        rules: schema.validations.iter().map(CompiledRule::compile).collect(),
        projection: None,
        binds_old_self: false,
        has_optional_old_self: false,
        properties: BTreeMap::new(),
        items: None,
        map_values: None,
    };
    for (name, property) in &schema.properties {
        // Branch properties off the structural spine are ignored, as by the API server.
        if let Some(child) = shape.property(name).and_then(|child_shape| compile_node(property, child_shape)) {
            node.properties.insert(name.clone(), child);
        }
    }
    if let (Some(items), Some((item_shape, _))) = (schema.items.as_deref(), shape.items()) {
        node.items = compile_node(items, item_shape).map(Box::new);
    }
    if let (Some(AdditionalProperties::Schema(values)), Some(value_shape)) =
        (&schema.additional_properties, shape.map_values())
    {
        node.map_values = compile_node(values, value_shape).map(Box::new);
    }
    for branch in &schema.all_of {
        if let Some(branch_node) = compile_node(branch, shape) {
            node.merge(branch_node);
        }
    }
    node.settle();
    let empty =
        node.rules.is_empty() && node.properties.is_empty() && node.items.is_none() && node.map_values.is_none();
    (!empty).then_some(node)
}

impl RuleNode {
    /// Folds an allOf branch's rules into this node: same value, same path.
    fn merge(&mut self, branch: RuleNode) {
        self.rules.extend(branch.rules);
        for (name, child) in branch.properties {
            match self.properties.get_mut(&name) {
                Some(existing) => existing.merge(child),
                None => {
                    self.properties.insert(name, child);
                }
            }
        }
        merge_optional(&mut self.items, branch.items);
        merge_optional(&mut self.map_values, branch.map_values);
        self.settle();
    }

    /// Works out, once, what evaluating this node's rules needs bound.
    fn settle(&mut self) {
        self.binds_old_self = self.rules.iter().any(CompiledRule::binds_old_self);
        self.has_optional_old_self = self.rules.iter().any(CompiledRule::optional_old_self);
        self.projection = fields_of_self(self.rules.iter().flat_map(CompiledRule::expressions))
            .and_then(|cel_names| self.shape.projection(&cel_names));
    }

    fn evaluate(&self, value: &Json, has_old: bool, path: &str, base: &Context<'_>, out: &mut Vec<CelOutcome>) {
        // The API server validates only non-null values: rules about presence belong on the parent.
        if value.is_null() {
            return;
        }
        if !self.rules.is_empty() {
            self.evaluate_rules(value, has_old, path, base, out);
        }
        match value {
            Json::Object(fields) => {
                for (name, child) in &self.properties {
                    if let Some(child_value) = fields.get(name) {
                        child.evaluate(child_value, has_old, &child_property_path(path, name), base, out);
                    }
                }
                if let Some(values) = &self.map_values {
                    for (key, child_value) in fields {
                        values.evaluate(child_value, has_old, &child_property_path(path, key), base, out);
                    }
                }
            }
            Json::Array(items) => {
                if let Some(item_node) = &self.items {
                    let correlated = self.shape.items().is_some_and(|(_, correlated)| correlated);
                    for (index, item) in items.iter().enumerate() {
                        item_node.evaluate(item, has_old && correlated, &format!("{path}[{index}]"), base, out);
                    }
                }
            }
            _ => {}
        }
    }

    fn evaluate_rules(&self, value: &Json, has_old: bool, path: &str, base: &Context<'_>, out: &mut Vec<CelOutcome>) {
        let self_value = match &self.projection {
            Some(projection) => projection.to_cel(value, &self.shape),
            None => self.shape.to_cel(value),
        };
        let optional_old = self.has_optional_old_self.then(|| match has_old {
            true => Value::Opaque(Arc::new(OptionalValue::of(self_value.clone()))),
            false => Value::Opaque(Arc::new(OptionalValue::none())),
        });
        let mut plain = base.new_inner_scope();
        if has_old && self.binds_old_self {
            plain.add_variable_from_value("oldSelf", self_value.clone());
        }
        plain.add_variable_from_value("self", self_value);
        let optional = optional_old.map(|old| {
            let mut scope = plain.new_inner_scope();
            scope.add_variable_from_value("oldSelf", old);
            scope
        });
        let scopes = Scopes { plain: &plain, optional: optional.as_ref(), has_old };
        let shown_path = if path.is_empty() { "." } else { path };
        for rule in &self.rules {
            match rule.evaluate(scopes) {
                RuleResult::Passed | RuleResult::Skipped => {}
                RuleResult::Violated { message, path_suffix, reason } => out.push(CelOutcome::Violated {
                    path: if path_suffix.is_empty() { shown_path.to_owned() } else { format!("{path}{path_suffix}") },
                    rule: rule.text().to_owned(),
                    message,
                    reason,
                    transition: rule.uses_old_self(),
                }),
                RuleResult::Unevaluable { error } => out.push(CelOutcome::Unevaluable {
                    path: shown_path.to_owned(),
                    rule: rule.text().to_owned(),
                    error,
                }),
            }
        }
    }
}

fn merge_optional(target: &mut Option<Box<RuleNode>>, branch: Option<Box<RuleNode>>) {
    match (target.as_mut(), branch) {
        (Some(existing), Some(branch)) => existing.merge(*branch),
        (None, Some(branch)) => *target = Some(branch),
        (_, None) => {}
    }
}

/// The fields of `self` (and `oldSelf`, which is `self`) the expressions read, when they only ever select
/// fields of it (`self.a`, `has(self.b)`); None when any expression uses it whole (`self == oldSelf`,
/// `self.all(...)`, `size(self)`), which needs the whole value.
fn fields_of_self<'a>(expressions: impl Iterator<Item = &'a Expression>) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    for expression in expressions {
        collect_self_fields(expression, &mut fields)?;
    }
    fields.sort();
    fields.dedup();
    Some(fields)
}

fn is_self(expression: &Expression) -> bool {
    matches!(&expression.expr, Expr::Ident(name) if name == "self" || name == "oldSelf")
}

fn collect_self_fields(expression: &Expression, fields: &mut Vec<String>) -> Option<()> {
    match &expression.expr {
        Expr::Select(select) if is_self(&select.operand) => fields.push(select.field.clone()),
        Expr::Ident(_) if is_self(expression) => return None,
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified | Expr::Struct(_) => {}
        Expr::Select(select) => collect_self_fields(&select.operand, fields)?,
        // Any other use of `self` (including `self.?field`) needs the whole value.
        Expr::Call(call) => {
            for arg in call.target.as_deref().into_iter().chain(&call.args) {
                collect_self_fields(arg, fields)?;
            }
        }
        Expr::List(list) => {
            for element in &list.elements {
                collect_self_fields(element, fields)?;
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(entry) = &entry.expr {
                    collect_self_fields(&entry.key, fields)?;
                    collect_self_fields(&entry.value, fields)?;
                }
            }
        }
        Expr::Comprehension(comprehension) => {
            let shadows = |name: &str| name == "self" || name == "oldSelf";
            if shadows(&comprehension.iter_var) || shadows(&comprehension.accu_var) {
                return None;
            }
            for part in [
                &comprehension.iter_range,
                &comprehension.accu_init,
                &comprehension.loop_cond,
                &comprehension.loop_step,
                &comprehension.result,
            ] {
                collect_self_fields(part, fields)?;
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests;

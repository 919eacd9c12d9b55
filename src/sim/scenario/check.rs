//! The checks serde cannot express: values that would hang the simulator or that mean nothing (a rate
//! above 1, an HTTP code the simulator cannot return, more objects than it can hold), each reported with
//! its key path and line.

use super::{Churn, ImageBehaviour, ObjectMatch, OperatorBehaviour, Population, Scenario};
use crate::manifest::{closest, KeyPath, LabelSelector, Problem};
use crate::sim::faults::{ErrorRule, FaultSettings};

/// The most objects a scenario's populations may create, all populations together. The simulator keeps
/// every object in memory, and each tick its controllers walk the objects of every kind they watch:
/// 10,000 is the scale it is built and measured for (`cargo bench --bench sim`), while a count such as
/// 100,000,000 would seed for hours and exhaust memory before the API server even listens.
pub const MAX_POPULATION_OBJECTS: usize = 10_000;

/// The longest `tickMs`: the controllers run at least once a minute, or the cluster looks dead to every
/// wait of the tool (and the timer arithmetic stays far from overflowing).
pub const MAX_TICK_MS: u64 = 60_000;

/// The longest injected request latency (`faults.latencyMs`): a minute, beyond which every request of the
/// tool would hang until its client times out rather than be slow.
pub const MAX_LATENCY_MS: u64 = 60_000;

/// The HTTP codes an error rule may inject: the ones the simulator answers like the API server (409
/// Conflict, 429 TooManyRequests with Retry-After, 5xx server errors); anything else means nothing.
pub fn injectable_code(code: u16) -> bool {
    matches!(code, 409 | 429 | 500..=599)
}

/// The verbs requests are recorded and faulted under.
const VERBS: [&str; 8] = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];

/// Collects problems with their key paths and lines.
struct Checker<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn report(&mut self, path: &KeyPath, message: impl Into<String>) {
        self.problems.push(Problem { path: path.to_string(), line: path.line_in(self.text), message: message.into() });
    }

    /// A share of events (`rate`, `errorRate`) must be a number from 0 to 1.
    fn rate(&mut self, path: &KeyPath, rate: f64) {
        if !(0.0..=1.0).contains(&rate) {
            self.report(path, format!("{rate} is not a rate: a share from 0.0 (never) to 1.0 (always)"));
        }
    }

    fn selector(&mut self, path: &KeyPath, selector: Option<&str>) {
        if let Some(Err(e)) = selector.map(LabelSelector::parse) {
            self.report(path, e.to_string());
        }
    }
}

/// Every problem of a parsed scenario, in file order; `text` is the file's text, to find lines.
pub(super) fn check_scenario(scenario: &Scenario, text: &str) -> Vec<Problem> {
    let mut checker = Checker { text, problems: Vec::new() };
    let root = KeyPath::root();
    if scenario.tick_ms == 0 || scenario.tick_ms > MAX_TICK_MS {
        checker.report(&root.key("tickMs"), format!("must be from 1 to {MAX_TICK_MS} (milliseconds)"));
    }
    check_populations(&mut checker, &root.key("populations"), &scenario.populations);
    for (index, image) in scenario.images.iter().enumerate() {
        check_image(&mut checker, &root.key("images").index(index), image, &scenario.images[..index]);
    }
    check_faults(&mut checker, &root.key("faults"), &scenario.faults);
    for (index, churn) in scenario.churn.iter().enumerate() {
        check_churn(&mut checker, &root.key("churn").index(index), churn);
    }
    let mut problems = checker.problems;
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    problems
}

/// What is wrong with fault settings given to the running simulator (`PUT /sim/faults`), by key path.
pub fn fault_problems(faults: &FaultSettings) -> Vec<Problem> {
    let mut checker = Checker { text: "", problems: Vec::new() };
    check_faults(&mut checker, &KeyPath::root(), faults);
    checker.problems
}

fn check_populations(checker: &mut Checker<'_>, path: &KeyPath, populations: &[Population]) {
    let mut total = 0usize;
    for (index, population) in populations.iter().enumerate() {
        let path = path.index(index);
        total = total.saturating_add(population.count);
        if population.count > MAX_POPULATION_OBJECTS {
            checker.report(
                &path.key("count"),
                format!(
                    "{} objects are more than the simulator holds: at most {MAX_POPULATION_OBJECTS} (every object is \
                     kept in memory and walked by the simulated controllers each tick)",
                    population.count
                ),
            );
        } else if total > MAX_POPULATION_OBJECTS {
            checker.report(
                &path.key("count"),
                format!(
                    "the populations up to this one make {total} objects, more than the simulator holds: at most \
                     {MAX_POPULATION_OBJECTS} in all"
                ),
            );
        }
        let template = path.key("template");
        if population.template.api_version.is_empty() {
            checker.report(&template.key("apiVersion"), "must not be empty");
        }
        if population.template.kind.is_empty() {
            checker.report(&template.key("kind"), "must not be empty");
        }
        if population.template.metadata.name.is_some() {
            checker.report(
                &template.key("metadata").key("name"),
                "names come from `namePrefix` and each object's index: remove the name",
            );
        }
        if population.label_every.as_ref().is_some_and(|every| every.n == 0) {
            checker.report(&path.key("labelEvery").key("n"), "must be at least 1 (1 labels every object)");
        }
    }
}

fn check_image(checker: &mut Checker<'_>, path: &KeyPath, image: &ImageBehaviour, earlier: &[ImageBehaviour]) {
    if let Some(first) = earlier.iter().position(|other| other.image == image.image) {
        checker.report(
            &path.key("image"),
            format!("`{}` is described already by images[{first}]; only one description can apply", image.image),
        );
    }
    if let Some(operator) = &image.operator {
        check_operator(checker, &path.key("operator"), operator);
    }
}

fn check_operator(checker: &mut Checker<'_>, path: &KeyPath, operator: &OperatorBehaviour) {
    checker.rate(&path.key("errorRate"), operator.error_rate);
    checker.rate(&path.key("metricsOnlyErrorRate"), operator.metrics_only_error_rate);
    for (index, rule) in operator.fail_on.iter().enumerate() {
        check_fail_on(checker, &path.key("failOn").index(index), rule);
    }
}

fn check_fail_on(checker: &mut Checker<'_>, path: &KeyPath, rule: &ObjectMatch) {
    if rule.label_selector.is_none() && rule.field.is_none() {
        checker.report(path, "needs a `labelSelector` or a `field` (an empty rule would match nothing)");
    }
    if rule.equals.is_some() && rule.field.is_none() {
        checker.report(&path.key("equals"), "compares the value of `field`, which is missing");
    }
    checker.selector(&path.key("labelSelector"), rule.label_selector.as_deref());
}

fn check_faults(checker: &mut Checker<'_>, path: &KeyPath, faults: &FaultSettings) {
    if faults.latency_ms > MAX_LATENCY_MS {
        checker.report(&path.key("latencyMs"), format!("must be at most {MAX_LATENCY_MS} (a minute)"));
    }
    if faults.watch_cut_after_seconds == Some(0) {
        checker.report(
            &path.key("watchCutAfterSeconds"),
            "must be at least 1 (0 would end every watch as it starts, so clients never see an event)",
        );
    }
    for (index, rule) in faults.errors.iter().enumerate() {
        check_error_rule(checker, &path.key("errors").index(index), rule);
    }
}

fn check_error_rule(checker: &mut Checker<'_>, path: &KeyPath, rule: &ErrorRule) {
    if !injectable_code(rule.code) {
        checker.report(
            &path.key("code"),
            format!("{} is not an error the simulator can inject: 409, 429 or 500 to 599", rule.code),
        );
    }
    checker.rate(&path.key("rate"), rule.rate);
    if let Some(verb) = rule.verb.as_deref().filter(|verb| !VERBS.contains(verb)) {
        let mut message = format!("`{verb}` is not a verb requests are made with ({})", VERBS.join(", "));
        if let Some(suggestion) = closest(verb, VERBS) {
            message.push_str(&format!("; did you mean `{suggestion}`?"));
        }
        checker.report(&path.key("verb"), message);
    }
}

fn check_churn(checker: &mut Checker<'_>, path: &KeyPath, churn: &Churn) {
    if let Some((key, problem)) = churn.problem() {
        checker.report(&path.key(key), problem);
    }
    if churn.count > MAX_POPULATION_OBJECTS {
        checker.report(
            &path.key("count"),
            format!(
                "{} objects a round are more than the simulator holds: at most {MAX_POPULATION_OBJECTS}",
                churn.count
            ),
        );
    }
}

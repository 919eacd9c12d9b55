//! The checks serde cannot express: exactly-one-of choices, ranges, durations that must be positive and
//! within the plan's limits ([`MAX_WAIT`], [`MAX_AGE`], [`MAX_MEASUREMENTS`]), thresholds that cannot be
//! negative, lists written empty where leaving the key out means "every", templates that must scope their
//! Deployment, selectors an operator cannot read, the version policy, and (separately, since it touches the
//! file system) that the sources the plan points at exist.

use super::error::PlanProblem;
use super::locate::KeyPath;
use super::model::*;
use super::values::{Duration, Placeholder, Template};
use super::version_move;
use super::VersionMove;
use crate::manifest::input::MAX_DOCUMENT_BYTES;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Collects problems with their key paths and lines.
struct Checker<'a> {
    text: &'a str,
    problems: Vec<PlanProblem>,
}

impl Checker<'_> {
    fn report(&mut self, path: &KeyPath, message: impl Into<String>) {
        self.problems.push(PlanProblem {
            path: path.to_string(),
            line: path.line_in(self.text),
            message: message.into(),
        });
    }

    fn positive(&mut self, path: &KeyPath, duration: Duration) {
        if duration.is_zero() {
            self.report(path, "must be longer than 0s");
        }
    }

    /// A wait (an interval, a warm-up, a timeout): at most [`MAX_WAIT`].
    fn wait(&mut self, path: &KeyPath, duration: Duration) {
        if duration > MAX_WAIT {
            self.report(path, format!("{duration} is longer than {MAX_WAIT}, the longest wait a plan may set"));
        }
    }

    /// A positive wait: a timeout or an interval.
    fn timeout(&mut self, path: &KeyPath, duration: Duration) {
        self.positive(path, duration);
        self.wait(path, duration);
    }

    /// How old a backup or rehearsal may be: positive and at most [`MAX_AGE`].
    fn max_age(&mut self, path: &KeyPath, duration: Duration) {
        self.positive(path, duration);
        if duration > MAX_AGE {
            self.report(path, format!("{duration} is longer than {MAX_AGE}, the greatest age a plan may accept"));
        }
    }

    /// A count of measurements or a limit on them: at most [`MAX_MEASUREMENTS`].
    fn measurements(&mut self, path: &KeyPath, count: u32) {
        if count > MAX_MEASUREMENTS {
            self.report(
                path,
                format!("{count} is more than {MAX_MEASUREMENTS}, the most measurements an analysis may take"),
            );
        }
    }

    /// A list where leaving the key out means "every": written empty, it could as well mean "none".
    fn not_written_empty(&mut self, raw: Option<&Value>, path: &KeyPath, what: &str, left_out: &str) {
        let written_empty =
            raw.and_then(|raw| value_at(raw, path)).and_then(Value::as_array).is_some_and(Vec::is_empty);
        if written_empty {
            self.report(path, format!("lists no {what}: leave the key out {left_out}"));
        }
    }

    fn dns_label(&mut self, path: &KeyPath, value: &str, what: &str) {
        if !is_dns_label(value) {
            self.report(path, format!("`{value}` is not a valid {what}: lower-case letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters"));
        }
    }

    fn dns_subdomain(&mut self, path: &KeyPath, value: &str, what: &str) {
        if !is_dns_subdomain(value) {
            self.report(
                path,
                format!(
                    "`{value}` is not a valid {what}: lower-case DNS labels separated by `.`, at most 253 characters"
                ),
            );
        }
    }

    fn namespaces(&mut self, path: &KeyPath, namespaces: &[String]) {
        for (i, namespace) in namespaces.iter().enumerate() {
            self.dns_label(&path.index(i), namespace, "namespace name");
        }
    }
}

/// Every problem with a parsed plan that does not need the file system, in file order.
pub fn check_plan(plan: &UpgradePlan, text: &str) -> Vec<PlanProblem> {
    let mut checker = Checker { text, problems: Vec::new() };
    let root = KeyPath::root();
    checker.dns_label(&root.key("metadata").key("name"), &plan.metadata.name, "plan name");
    let spec = root.key("spec");
    check_operator(&mut checker, &spec, &plan.spec);
    check_versions(&mut checker, &spec, &plan.spec);
    let raw: Option<Value> = serde_norway::from_str(text).ok();
    let mut job_names = BTreeSet::new();
    for (i, gate) in plan.spec.backups.iter().enumerate() {
        let path = spec.key("backups").index(i).key(gate.kind().key());
        check_backup_gate(&mut checker, &path, gate, &plan.spec.operator.namespace, raw.as_ref(), &mut job_names);
    }
    for phase in JobPhase::ALL {
        for (i, job) in plan.spec.jobs.of(phase).iter().enumerate() {
            let path = spec.key("jobs").key(phase.key()).index(i);
            check_job(&mut checker, &path, job, raw.as_ref(), &mut job_names);
        }
    }
    if let Some(canary) = &plan.spec.canary {
        check_canary(&mut checker, &spec.key("canary"), canary, raw.as_ref());
    }
    check_analysis(&mut checker, &spec.key("analysis"), &plan.spec.analysis, plan.spec.canary.as_ref(), raw.as_ref());
    checker.timeout(&spec.key("rollback").key("timeout"), plan.spec.rollback.timeout);
    checker.max_age(&spec.key("rehearsal").key("maxAge"), plan.spec.rehearsal.max_age);
    for (i, manager) in plan.spec.take_ownership_from.iter().enumerate() {
        if manager.trim().is_empty() {
            checker.report(
                &spec.key("takeOwnershipFrom").index(i),
                "is empty: name a field manager (such as `kubectl-client-side-apply` or `helm`)",
            );
        }
    }
    sorted_by_line(checker.problems)
}

fn sorted_by_line(mut problems: Vec<PlanProblem>) -> Vec<PlanProblem> {
    // Stable: problems on the same line (or without one) keep the order they were found in.
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    problems
}

fn check_operator(checker: &mut Checker<'_>, spec: &KeyPath, plan: &PlanSpec) {
    let operator = spec.key("operator");
    checker.dns_label(&operator.key("namespace"), &plan.operator.namespace, "namespace name");
    checker.dns_subdomain(&operator.key("deployment"), &plan.operator.deployment, "Deployment name");
    checker.dns_label(&operator.key("container"), &plan.operator.container, "container name");
    if let Some(pin) = &plan.cluster {
        if !is_uid(&pin.kube_system_uid) {
            checker.report(
                &spec.key("cluster").key("kubeSystemUid"),
                format!("`{}` is not a UID (8-4-4-4-12 hex digits, from `kubectl get ns kube-system -o jsonpath='{{.metadata.uid}}'`)", pin.kube_system_uid),
            );
        }
    }
}

/// A Helm side is a release (`from`) or a chart; both sides are Helm or neither, and each key is on the side
/// it belongs to.
fn check_helm_sides(checker: &mut Checker<'_>, spec: &KeyPath, plan: &PlanSpec) {
    for (side, source) in [("from", &plan.from), ("to", &plan.to)] {
        let Some(helm) = &source.helm else { continue };
        let at = spec.key(side).key("helm");
        if !source.path.as_os_str().is_empty() {
            checker
                .report(&spec.key(side).key("path"), "and `helm` are both given: a side is manifests or a Helm chart");
        }
        if helm.chart.as_deref().is_some_and(|chart| chart.as_os_str().is_empty()) {
            checker.report(&at.key("chart"), "is empty: give a chart directory or .tgz");
        }
        if side == "from" {
            match helm.release.as_deref() {
                None => checker.report(&at, "needs `release`: the Helm release's name (`helm list`)"),
                Some(name) if !is_release_name(name) => checker.report(
                    &at.key("release"),
                    format!("`{name}` is not a Helm release name (lowercase letters, digits, `-` and `.`, at most 53 characters)"),
                ),
                Some(_) => {}
            }
            if helm.chart.is_none() && !helm.values.is_empty() {
                checker.report(
                    &at.key("values"),
                    "needs `chart`: without it the installed release's own values are read from the cluster",
                );
            }
            if helm.reuse_values.is_some() {
                checker.report(
                    &at.key("reuseValues"),
                    "belongs in `to.helm`: it says what the new chart is rendered with",
                );
            }
        } else {
            if helm.chart.is_none() {
                checker.report(&at, "needs `chart`: the new chart's directory or .tgz");
            }
            for key in [("release", helm.release.is_some()), ("namespace", helm.namespace.is_some())] {
                if key.1 {
                    checker.report(
                        &at.key(key.0),
                        "belongs in `from.helm`: the new chart is rendered for the installed release",
                    );
                }
            }
        }
    }
    match (&plan.from.helm, &plan.to.helm) {
        (Some(_), None) => checker.report(&spec.key("to"), "needs `helm` too: `from` is a Helm release"),
        (None, Some(_)) => checker.report(&spec.key("from"), "needs `helm` too: `to` is a Helm chart"),
        (Some(from), Some(to)) if from.chart.is_some() && from.chart == to.chart => checker.report(
            &spec.key("to").key("helm").key("chart"),
            "is the same as `from.helm.chart`: the two sides of an upgrade must differ",
        ),
        _ => {}
    }
}

/// Helm's rule for release names: a DNS-1123 subdomain of at most 53 characters.
fn is_release_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 53
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

fn check_versions(checker: &mut Checker<'_>, spec: &KeyPath, plan: &PlanSpec) {
    check_helm_sides(checker, spec, plan);
    for (side, source) in [("from", &plan.from), ("to", &plan.to)] {
        if source.path.as_os_str().is_empty() && source.helm.is_none() {
            checker.report(
                &spec.key(side).key("path"),
                "is empty: give the release's manifest file or directory, or `helm` for a Helm chart",
            );
        }
        if source.image.as_deref() == Some("") {
            checker.report(&spec.key(side).key("image"), "is empty: leave the key out to use the release's Deployment");
        }
    }
    if plan.from.path == plan.to.path && !plan.from.path.as_os_str().is_empty() {
        checker
            .report(&spec.key("to").key("path"), "is the same as `from.path`: the two sides of an upgrade must differ");
    }
    let policy = &plan.version_policy;
    if policy.max_minor_step == 0 {
        checker.report(&spec.key("versionPolicy").key("maxMinorStep"), "must be at least 1");
    }
    let (Some(from), Some(to)) = (&plan.from.version, &plan.to.version) else { return };
    let at = spec.key("to").key("version");
    match version_move(from, to) {
        VersionMove::Same => checker.report(&at, format!("is the same as `from.version` ({from}): nothing to upgrade")),
        VersionMove::Downgrade if !policy.allow_downgrade => checker.report(
            &at,
            format!("{to} is older than {from}: a downgrade needs `versionPolicy.allowDowngrade: true`"),
        ),
        VersionMove::Major { .. } if !policy.allow_major_change => checker.report(
            &at,
            format!("{from} to {to} changes the major version: set `versionPolicy.allowMajorChange: true` after reading the upgrade notes"),
        ),
        VersionMove::Minor { step } if step > policy.max_minor_step && !policy.allow_larger_step => checker.report(
            &at,
            format!(
                "{from} to {to} moves {step} minor versions, more than `versionPolicy.maxMinorStep` ({}): upgrade through the releases in between, or set `versionPolicy.allowLargerStep: true`",
                policy.max_minor_step
            ),
        ),
        _ => {}
    }
}

fn check_backup_gate(
    checker: &mut Checker<'_>,
    path: &KeyPath,
    gate: &BackupGate,
    operator_namespace: &str,
    raw: Option<&Value>,
    job_names: &mut BTreeSet<String>,
) {
    match gate {
        BackupGate::Velero(velero) => check_velero(checker, path, velero, operator_namespace),
        BackupGate::CloudNativePg(cnpg) => {
            checker.max_age(&path.key("maxAge"), cnpg.max_age);
            checker.not_written_empty(raw, &path.key("namespaces"), "namespace", "to look in every namespace");
            checker.not_written_empty(
                raw,
                &path.key("clusters"),
                "Cluster",
                "to require a backup of every Cluster in those namespaces",
            );
            checker.namespaces(&path.key("namespaces"), &cnpg.namespaces);
            for (i, cluster) in cnpg.clusters.iter().enumerate() {
                checker.dns_subdomain(&path.key("clusters").index(i), cluster, "Cluster name");
            }
        }
        BackupGate::Command(command) => {
            if command.command.first().is_none_or(|program| program.trim().is_empty()) {
                checker.report(&path.key("command"), "needs the program to run as its first item");
            }
            checker.timeout(&path.key("timeout"), command.timeout);
        }
        BackupGate::Job(job) => check_job(checker, path, job, raw, job_names),
    }
}

fn check_velero(checker: &mut Checker<'_>, path: &KeyPath, velero: &VeleroBackupGate, operator_namespace: &str) {
    match (&velero.name, &velero.selector) {
        (None, None) => checker.report(path, "give the backup's `name` or a `selector` for the newest matching backup"),
        (Some(_), Some(_)) => checker.report(&path.key("selector"), "give only one of `name` and `selector`"),
        (Some(name), None) => checker.dns_subdomain(&path.key("name"), name, "Backup name"),
        (None, Some(_)) => {}
    }
    checker.dns_label(&path.key("namespace"), &velero.namespace, "namespace name");
    checker.max_age(&path.key("maxAge"), velero.max_age);
    checker.namespaces(&path.key("includedNamespaces"), &velero.included_namespaces);
    if let Some(restore) = &velero.test_restore {
        let at = path.key("testRestore");
        checker.dns_label(&at.key("sourceNamespace"), &restore.source_namespace, "namespace name");
        checker.dns_label(&at.key("scratchNamespace"), &restore.scratch_namespace, "namespace name");
        if restore.scratch_namespace == restore.source_namespace || restore.scratch_namespace == operator_namespace {
            checker.report(
                &at.key("scratchNamespace"),
                format!(
                    "`{}` is a live namespace: a test restore needs a scratch namespace of its own",
                    restore.scratch_namespace
                ),
            );
        }
        checker.timeout(&at.key("timeout"), restore.timeout);
    }
}

fn check_job(
    checker: &mut Checker<'_>,
    path: &KeyPath,
    job: &JobDefinition,
    raw: Option<&Value>,
    job_names: &mut BTreeSet<String>,
) {
    checker.dns_label(&path.key("name"), &job.name, "Job name");
    if !job_names.insert(job.name.clone()) {
        checker.report(&path.key("name"), format!("another Job of the plan is already named `{}`", job.name));
    }
    if let Some(namespace) = &job.namespace {
        checker.dns_label(&path.key("namespace"), namespace, "namespace name");
    }
    checker.timeout(&path.key("timeout"), job.timeout);
    match (&job.file, &job.spec) {
        (None, None) => checker.report(path, "give the Job as an inline `spec` or as a `file`"),
        (Some(_), Some(_)) => checker.report(&path.key("spec"), "give only one of `file` and `spec`"),
        (Some(file), None) if file.as_os_str().is_empty() => checker.report(&path.key("file"), "is empty"),
        (Some(_), None) => {}
        (None, Some(spec)) => {
            let original = raw.and_then(|raw| value_at(raw, path)).and_then(|job| job.get("spec"));
            for problem in job_spec_problems(spec, original) {
                checker.report(&path.key("spec").join(&problem.0), problem.1);
            }
        }
    }
}

/// What is wrong with a JobSpec: keys Kubernetes does not know (they would be dropped silently by the
/// typed model), no containers, or a restart policy Jobs do not accept. Paths are relative to the spec.
fn job_spec_problems(spec: &JobSpec, original: Option<&Value>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if let (Some(original), Ok(typed)) = (original, serde_json::to_value(spec)) {
        for key in unknown_keys(original, &typed, "") {
            problems.push((
                key.clone(),
                format!("unknown key `{}` in the JobSpec", key.rsplit('.').next().unwrap_or(&key)),
            ));
        }
    }
    let pod = spec.template.spec.as_ref();
    if pod.is_none_or(|pod| pod.containers.is_empty()) {
        problems.push(("template.spec.containers".to_owned(), "the Job's pod template has no containers".to_owned()));
    }
    let restart = pod.and_then(|pod| pod.restart_policy.as_deref());
    if !matches!(restart, Some("Never" | "OnFailure")) {
        problems.push((
            "template.spec".to_owned(),
            format!(
                "a Job's pods need `restartPolicy: Never` or `OnFailure` (found {})",
                restart.map_or("none, which means Always".to_owned(), |r| format!("`{r}`"))
            ),
        ));
    }
    problems
}

/// Keys of `original` that the typed round trip lost, as dotted paths (`template.spec.containrs`).
fn unknown_keys(original: &Value, typed: &Value, prefix: &str) -> Vec<String> {
    let join = |key: &str| if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") };
    match (original, typed) {
        (Value::Object(original), Value::Object(typed)) => original
            .iter()
            .filter(|(_, value)| !value.is_null())
            .flat_map(|(key, value)| match typed.get(key) {
                None => vec![join(key)],
                Some(typed) => unknown_keys(value, typed, &join(key)),
            })
            .collect(),
        (Value::Array(original), Value::Array(typed)) => original
            .iter()
            .zip(typed)
            .enumerate()
            .flat_map(|(i, (o, t))| unknown_keys(o, t, &format!("{prefix}[{i}]")))
            .collect(),
        _ => Vec::new(),
    }
}

/// The raw value at a key path, for comparing what was written with what was understood.
fn value_at<'a>(raw: &'a Value, path: &KeyPath) -> Option<&'a Value> {
    let text = path.to_string();
    let mut value = raw;
    for part in text.split('.') {
        let (key, indices) = part.split_once('[').map_or((part, ""), |(k, rest)| (k, rest));
        value = value.get(key)?;
        for index in indices.split('[').filter_map(|i| i.trim_end_matches(']').parse::<usize>().ok()) {
            value = value.get(index)?;
        }
    }
    Some(value)
}

/// The placeholders a scoping template may use with each mechanism.
fn scoping_placeholders(mechanism: &ScopingMechanism) -> Vec<Placeholder> {
    let mut allowed = vec![
        Placeholder::CohortLabel,
        Placeholder::Cohort,
        Placeholder::LeaseName,
        Placeholder::Deployment,
        Placeholder::OperatorNamespace,
    ];
    match mechanism.kind() {
        ScopingKind::LabelSelector => allowed.push(Placeholder::CohortSelector),
        ScopingKind::Namespaces => allowed.push(Placeholder::Namespaces),
        ScopingKind::ControllerId => {}
    }
    allowed
}

/// Which Deployments of the canary rollout a template belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Stable,
    Baseline,
    Canary,
}

impl Role {
    fn key(self) -> &'static str {
        match self {
            Role::Stable => "stable",
            Role::Baseline => "baseline",
            Role::Canary => "canary",
        }
    }
}

fn check_canary(checker: &mut Checker<'_>, path: &KeyPath, canary: &CanaryPolicy, raw: Option<&Value>) {
    if !is_label_key(&canary.cohort_label) {
        checker.report(
            &path.key("cohortLabel"),
            format!(
                "`{}` is not a valid label key (`prefix/name`, e.g. `operator-upgrade.dev/cohort`)",
                canary.cohort_label
            ),
        );
    }
    check_cohort(checker, &path.key("cohort"), &canary.cohort, canary.baseline, raw);
    let scoping = &canary.scoping;
    let at = path.key("scoping");
    if let ScopingMechanism::ControllerId(controller_id) = &scoping.mechanism {
        if controller_id.annotation.is_some() && controller_id.label.is_some() {
            checker.report(
                &at.join("mechanism.controllerId"),
                "sets both `annotation` and `label`: the operator keeps its id in one of them",
            );
        }
        let keys = [("annotation", &controller_id.annotation), ("label", &controller_id.label)];
        for (field, key) in keys.iter().filter_map(|(f, k)| k.as_ref().map(|k| (f, k))) {
            if !is_label_key(key) {
                checker.report(
                    &at.join(&format!("mechanism.controllerId.{field}")),
                    format!("is not a valid {field} key"),
                );
            }
        }
    }
    let lease_allowed = [Placeholder::Cohort, Placeholder::Deployment, Placeholder::OperatorNamespace];
    check_placeholders(checker, &at.key("leaseName"), &scoping.lease_name, &lease_allowed, "the lease name");
    let allowed = scoping_placeholders(&scoping.mechanism);
    let roles = [(Role::Stable, &scoping.stable), (Role::Baseline, &scoping.baseline), (Role::Canary, &scoping.canary)];
    for (role, template) in roles {
        let role_path = at.key(role.key());
        for (relative, value) in template.templates() {
            let value_path = role_path.join(&relative);
            check_placeholders(
                checker,
                &value_path,
                value,
                &allowed,
                &format!("{} scoping", scoping_name(&scoping.mechanism)),
            );
            if matches!(&scoping.mechanism, ScopingMechanism::LabelSelector(s) if s.syntax == SelectorSyntax::EqualityOnly)
            {
                check_equality_only(checker, &value_path, value);
            }
        }
        for name in template.env.keys() {
            if name.is_empty() || name.contains('=') {
                checker.report(&role_path.key("env"), format!("`{name}` is not a valid env var name"));
            }
        }
        let needed = role != Role::Baseline || canary.baseline;
        if needed {
            check_role_scopes(checker, &role_path, role, template, &scoping.mechanism);
        }
    }
}

fn scoping_name(mechanism: &ScopingMechanism) -> &'static str {
    match mechanism.kind() {
        ScopingKind::LabelSelector => "label-selector",
        ScopingKind::ControllerId => "controller-id",
        ScopingKind::Namespaces => "namespace",
    }
}

fn check_cohort(
    checker: &mut Checker<'_>,
    path: &KeyPath,
    cohort: &CohortSelection,
    baseline: bool,
    raw: Option<&Value>,
) {
    if cohort.resources.is_empty() {
        checker.report(&path.key("resources"), "list at least one kind the operator's scoping applies to");
    }
    for (i, resource) in cohort.resources.iter().enumerate() {
        if resource.kind.is_empty() || !resource.kind.starts_with(|c: char| c.is_ascii_uppercase()) {
            checker.report(
                &path.key("resources").index(i).key("kind"),
                format!("`{}` is not a kind (e.g. `Certificate`)", resource.kind),
            );
        }
        if !resource.group.is_empty() && !is_dns_subdomain(&resource.group) {
            checker.report(
                &path.key("resources").index(i).key("group"),
                format!("`{}` is not an API group", resource.group),
            );
        }
    }
    checker.not_written_empty(raw, &path.key("namespaces"), "namespace", "to draw the cohort from every namespace");
    checker.namespaces(&path.key("namespaces"), &cohort.namespaces);
    for (i, follower) in cohort.followers.iter().enumerate() {
        let at = path.key("followers").index(i).key("owner");
        if !cohort.resources.iter().any(|r| r.kind == follower.owner.kind) {
            checker.report(&at.key("kind"), format!("`{}` is not one of `cohort.resources`", follower.owner.kind));
        }
        let owner = &follower.owner;
        let pointers = [("label", &owner.label), ("field", &owner.field), ("referencedAt", &owner.referenced_at)];
        let given: Vec<(&str, &String)> = pointers.iter().filter_map(|(k, v)| v.as_ref().map(|v| (*k, v))).collect();
        match given[..] {
            [(key, value)] if value.trim().is_empty() => checker.report(&at.key(key), "is empty"),
            [_] => {}
            _ => checker.report(&at, "give exactly one of `label`, `field` and `referencedAt`"),
        }
        if cohort.resources.iter().any(|r| r.group == follower.group && r.kind == follower.kind) {
            checker.report(
                &path.key("followers").index(i).key("kind"),
                format!("`{}` is drawn as a cohort resource already", follower.kind),
            );
        }
    }
    match (cohort.count, cohort.percentage) {
        (None, None) => checker.report(path, "give the cohort's size as `count` or `percentage`"),
        (Some(_), Some(_)) => checker.report(&path.key("percentage"), "give only one of `count` and `percentage`"),
        (Some(0), None) => checker.report(&path.key("count"), "must be at least 1"),
        (None, Some(percentage)) if !(1..=100).contains(&percentage) => {
            checker.report(&path.key("percentage"), format!("{percentage} is not in 1..=100"))
        }
        (None, Some(percentage)) if baseline && percentage > 50 => checker.report(
            &path.key("percentage"),
            format!("{percentage}% for the canary and as much again for the baseline is more than every object: use at most 50, or `baseline: false`"),
        ),
        _ => {}
    }
}

fn check_placeholders(
    checker: &mut Checker<'_>,
    path: &KeyPath,
    template: &Template,
    allowed: &[Placeholder],
    context: &str,
) {
    for placeholder in template.placeholders() {
        if !allowed.contains(&placeholder) {
            let names: Vec<String> = allowed.iter().map(ToString::to_string).collect();
            checker.report(path, format!("{placeholder} has no value in {context} (available: {})", names.join(", ")));
        }
    }
}

/// Equality-only selectors (Strimzi's `STRIMZI_CUSTOM_RESOURCE_SELECTOR` is parsed as `key=value` pairs)
/// cannot say `notin`, `in`, `!=` or `!key`.
fn check_equality_only(checker: &mut Checker<'_>, path: &KeyPath, template: &Template) {
    let literal = template.literal_text();
    let set_based = ["notin", " in ", " in(", "!="].iter().any(|token| literal.contains(token))
        || literal.split(',').any(|part| part.trim_start().starts_with('!'));
    if set_based {
        checker.report(
            path,
            format!("`{template}` uses a set-based selector, which an equality-only operator (like Strimzi's STRIMZI_CUSTOM_RESOURCE_SELECTOR) cannot express: use `key=value` pairs and {{cohortSelector}}"),
        );
    }
}

/// Each Deployment that runs during the canary must be limited to its share, or it reconciles everything.
fn check_role_scopes(
    checker: &mut Checker<'_>,
    path: &KeyPath,
    role: Role,
    template: &DeploymentTemplate,
    mechanism: &ScopingMechanism,
) {
    let used: BTreeSet<Placeholder> = template.templates().iter().flat_map(|(_, t)| t.placeholders()).collect();
    let (needed, how) = match mechanism.kind() {
        ScopingKind::LabelSelector => {
            (Placeholder::CohortSelector, "in the flag or env var the operator reads its label selector from")
        }
        ScopingKind::Namespaces => {
            (Placeholder::Namespaces, "in the flag or env var the operator reads its watched namespaces from")
        }
        // An operator without a controller id skips annotated objects, so the stable one needs nothing.
        ScopingKind::ControllerId if role == Role::Stable => return,
        ScopingKind::ControllerId => {
            (Placeholder::Cohort, "as the operator's controller id (e.g. `--controller-id={cohort}`)")
        }
    };
    if !used.contains(&needed) {
        let consequence = match role {
            Role::Stable => "the stable Deployment would keep reconciling the cohorts' objects",
            Role::Baseline | Role::Canary => "this Deployment would reconcile every object",
        };
        checker.report(path, format!("{consequence}: use {needed} {how}"));
    }
}

fn check_analysis(
    checker: &mut Checker<'_>,
    path: &KeyPath,
    analysis: &AnalysisPolicy,
    canary: Option<&CanaryPolicy>,
    raw: Option<&Value>,
) {
    checker.timeout(&path.key("interval"), analysis.interval);
    checker.wait(&path.key("warmUp"), analysis.warm_up);
    check_analysis_length(checker, path, analysis);
    for (key, limit) in [
        ("failureLimit", analysis.failure_limit),
        ("inconclusiveLimit", analysis.inconclusive_limit),
        ("consecutiveErrorLimit", analysis.consecutive_error_limit),
    ] {
        checker.measurements(&path.key(key), limit);
    }
    if analysis.signals.is_empty() {
        checker.report(
            &path.key("signals"),
            "an analysis without signals would pass without measuring anything: list at least one",
        );
    }
    let has_baseline = canary.is_some_and(|c| c.enabled && c.baseline);
    let mut metric_names = BTreeSet::new();
    for (i, signal) in analysis.signals.iter().enumerate() {
        let at = path.key("signals").index(i).key(signal.kind().key());
        match signal {
            Signal::Conditions(conditions) if conditions.condition_type.is_empty() => {
                checker.report(&at.key("conditionType"), "is empty")
            }
            Signal::ObservedGeneration(generation) => {
                checker.timeout(&at.key("maxCatchUp"), generation.max_catch_up);
                if let Some(over) = generation.max_over_baseline {
                    checker.wait(&at.key("maxOverBaseline"), over);
                }
            }
            Signal::WarningEvents(events) => {
                checker.not_written_empty(raw, &at.key("reasons"), "reason", "to count every Warning event");
                for (i, reason) in events.reasons.iter().enumerate() {
                    if reason.trim().is_empty() {
                        checker.report(&at.key("reasons").index(i), "is empty: name an Event reason");
                    }
                }
            }
            Signal::DependentChanges(dependents) => {
                if dependents.kinds.is_empty() {
                    checker.report(&at.key("kinds"), "lists no kind of dependent: nothing would be measured");
                }
                for (key, value) in [("max", dependents.max), ("maxOverBaseline", dependents.max_over_baseline)] {
                    if !(0.0..=1.0).contains(&value) {
                        checker.report(&at.key(key), format!("{value} is not a share between 0 and 1"));
                    }
                }
            }
            Signal::Metric(metric) => {
                if !metric_names.insert(metric.name.as_str()) {
                    checker.report(&at.key("name"), format!("another metric is already named `{}`", metric.name));
                }
                check_metric(checker, &at, metric, has_baseline);
            }
            _ => {}
        }
    }
}

/// The analysis's length and its number of measurements, whichever of `duration` and `count` gives them:
/// at most [`MAX_WAIT`] long and at most [`MAX_MEASUREMENTS`] measurements.
fn check_analysis_length(checker: &mut Checker<'_>, path: &KeyPath, analysis: &AnalysisPolicy) {
    let interval = analysis.interval;
    if analysis.duration.is_some() && analysis.count.is_some() {
        return checker.report(&path.key("count"), "give only one of `duration` and `count`");
    }
    match analysis.length() {
        AnalysisLength::Count(0) => checker.report(&path.key("count"), "must be at least 1"),
        AnalysisLength::Count(count) if count > MAX_MEASUREMENTS => checker.measurements(&path.key("count"), count),
        AnalysisLength::Count(count) => {
            // An interval over the limit is reported as such; its product would only repeat it.
            let total = interval.checked_mul(count);
            if interval <= MAX_WAIT && total.is_none_or(|total| total > MAX_WAIT) {
                let total = total.map_or_else(|| "longer than can be held".to_owned(), |t| t.to_string());
                checker.report(
                    &path.key("count"),
                    format!("{count} measurements every {interval} take {total}, longer than {MAX_WAIT}, the longest wait a plan may set"),
                );
            }
        }
        AnalysisLength::Duration(duration) => {
            let explicit = analysis.duration.is_some();
            let at = path.key(if explicit { "duration" } else { "interval" });
            if explicit && duration < interval {
                return checker.report(
                    &at,
                    format!("{duration} is shorter than one interval ({interval}): no measurement would be taken"),
                );
            }
            checker.wait(&at, duration);
            let measurements = duration.as_millis() / interval.as_millis().max(1);
            if !interval.is_zero() && measurements > u64::from(MAX_MEASUREMENTS) {
                checker.report(
                    &at,
                    format!("{duration} of analysis at one measurement every {interval} is {measurements} measurements, more than {MAX_MEASUREMENTS}, the most an analysis may take: lengthen the interval"),
                );
            }
        }
    }
}

fn check_metric(checker: &mut Checker<'_>, path: &KeyPath, metric: &MetricSignal, has_baseline: bool) {
    if metric.name.trim().is_empty() {
        checker.report(&path.key("name"), "is empty");
    }
    if metric.max.is_none() && metric.max_over_baseline.is_none() {
        checker.report(path, "give a threshold: `max`, `maxOverBaseline` or both");
    }
    let below_zero = [
        (
            "max",
            metric.max,
            "the analysis measures counts and ratios, which are never negative, so every value would be over it",
        ),
        (
            "maxOverBaseline",
            metric.max_over_baseline,
            "the canary would fail for doing exactly as well as the baseline",
        ),
    ];
    for (key, value, why) in below_zero {
        match value {
            Some(v) if !v.is_finite() => checker.report(&path.key(key), "must be a finite number"),
            Some(v) if v < 0.0 => checker.report(&path.key(key), format!("{v} is below 0: {why}")),
            _ => {}
        }
    }
    if metric.max_over_baseline.is_some() && !has_baseline {
        checker.report(
            &path.key("maxOverBaseline"),
            "compares with the baseline cohort, but the plan runs no baseline (`canary.baseline`)",
        );
    }
    match &metric.source {
        MetricSource::PodProxy(proxy) => {
            let at = path.key("source").key("podProxy");
            if !proxy.path.starts_with('/') {
                checker.report(&at.key("path"), format!("`{}` must start with `/`", proxy.path));
            }
            for (key, series) in [("series", Some(&proxy.series)), ("per", proxy.per.as_ref())] {
                if let Some(series) = series.filter(|s| !is_series(s)) {
                    checker
                        .report(&at.key(key), format!("`{series}` is not a metric name with optional label matchers"));
                }
            }
        }
        MetricSource::Prometheus(prometheus) => {
            let at = path.key("source").key("prometheus");
            if !(prometheus.url.starts_with("http://") || prometheus.url.starts_with("https://")) {
                checker.report(&at.key("url"), format!("`{}` is not an http(s) URL", prometheus.url));
            }
            if prometheus.query.as_str().trim().is_empty() {
                checker.report(&at.key("query"), "is empty");
            }
            let allowed =
                [Placeholder::Pods, Placeholder::Deployment, Placeholder::Cohort, Placeholder::OperatorNamespace];
            check_placeholders(checker, &at.key("query"), &prometheus.query, &allowed, "a metric query");
        }
    }
}

fn is_series(text: &str) -> bool {
    let name_len = text.find('{').unwrap_or(text.len());
    let (name, matchers) = text.split_at(name_len);
    let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    name_ok && (matchers.is_empty() || matchers.starts_with('{') && matchers.ends_with('}'))
}

/// Problems with what the plan points at: the release paths, Job files and command working directories,
/// resolved against the plan file's directory.
pub fn check_sources(plan: &UpgradePlan, base_dir: &Path, text: &str) -> Vec<PlanProblem> {
    let mut checker = Checker { text, problems: Vec::new() };
    let spec = KeyPath::root().key("spec");
    for (side, source) in [("from", &plan.spec.from), ("to", &plan.spec.to)] {
        let Some(helm) = &source.helm else {
            let resolved = base_dir.join(&source.path);
            if !resolved.exists() {
                checker.report(&spec.key(side).key("path"), format!("{} does not exist", resolved.display()));
            }
            continue;
        };
        let at = spec.key(side).key("helm");
        if let Some(chart) = &helm.chart {
            let resolved = base_dir.join(chart);
            if !resolved.exists() {
                checker.report(&at.key("chart"), format!("{} does not exist", resolved.display()));
            }
        }
        for (i, file) in helm.values.iter().enumerate() {
            let resolved = base_dir.join(file);
            if !resolved.is_file() {
                checker.report(&at.key("values").index(i), format!("{} is not a file", resolved.display()));
            }
        }
    }
    for (i, gate) in plan.spec.backups.iter().enumerate() {
        let path = spec.key("backups").index(i).key(gate.kind().key());
        match gate {
            BackupGate::Job(job) => check_job_file(&mut checker, &path, job, base_dir),
            BackupGate::Command(CommandGate { working_dir: Some(dir), .. }) if !base_dir.join(dir).is_dir() => {
                checker.report(&path.key("workingDir"), format!("{} is not a directory", base_dir.join(dir).display()))
            }
            _ => {}
        }
    }
    for phase in JobPhase::ALL {
        for (i, job) in plan.spec.jobs.of(phase).iter().enumerate() {
            check_job_file(&mut checker, &spec.key("jobs").key(phase.key()).index(i), job, base_dir);
        }
    }
    sorted_by_line(checker.problems)
}

fn check_job_file(checker: &mut Checker<'_>, path: &KeyPath, job: &JobDefinition, base_dir: &Path) {
    let Some(file) = &job.file else { return };
    let resolved = base_dir.join(file);
    let at = path.key("file");
    let text = match crate::manifest::input::read_text(&resolved, "Job file", Some(MAX_DOCUMENT_BYTES)) {
        Ok(text) => text,
        Err(error) => return checker.report(&at, error.to_string()),
    };
    let raw: Value = match serde_norway::from_str(&text) {
        Ok(raw) => raw,
        Err(error) => return checker.report(&at, format!("{} is not one YAML document: {error}", resolved.display())),
    };
    let is_job = raw.get("apiVersion").and_then(Value::as_str) == Some("batch/v1")
        && raw.get("kind").and_then(Value::as_str) == Some("Job");
    if !is_job {
        return checker.report(&at, format!("{} does not hold a `batch/v1` Job", resolved.display()));
    }
    let typed: Job = match serde_json::from_value(raw.clone()) {
        Ok(typed) => typed,
        Err(error) => return checker.report(&at, format!("{}: {error}", resolved.display())),
    };
    let Some(spec) = &typed.spec else {
        return checker.report(&at, format!("{}: the Job has no spec", resolved.display()));
    };
    for (key, message) in job_spec_problems(spec, raw.get("spec")) {
        checker.report(&at, format!("{}: spec.{key}: {message}", resolved.display()));
    }
}

/// Kubernetes DNS-1123 label: namespaces, container names, Job names.
pub fn is_dns_label(value: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (1..=63).contains(&value.len())
        && value.chars().all(allowed)
        && edge(value.chars().next())
        && edge(value.chars().last())
}

/// Kubernetes DNS-1123 subdomain: most object names and API groups.
pub fn is_dns_subdomain(value: &str) -> bool {
    value.len() <= 253 && value.split('.').all(is_dns_label)
}

/// A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters of letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit.
fn is_label_key(key: &str) -> bool {
    let (prefix, name) = key.rsplit_once('/').map_or((None, key), |(p, n)| (Some(p), n));
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let name_ok = (1..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && edge(name.chars().next())
        && edge(name.chars().last());
    name_ok && prefix.is_none_or(is_dns_subdomain)
}

/// Whether `value` is a UID as the API server writes one (8-4-4-4-12 hex digits).
pub fn is_uid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys() {
        assert!(is_dns_label("cert-manager") && !is_dns_label("Cert") && !is_dns_label("-a") && !is_dns_label(""));
        assert!(is_dns_subdomain("cert-manager.io") && !is_dns_subdomain("a..b"));
        assert!(is_label_key("operator-upgrade.dev/cohort") && is_label_key("tier") && !is_label_key("a/b/"));
        assert!(is_uid("0f5c4a1e-8d2b-4c3a-9e7f-1a2b3c4d5e6f") && !is_uid("kube-system"));
        assert!(is_series(r#"controller_runtime_reconcile_total{result="error"}"#) && !is_series("1abc"));
    }

    #[test]
    fn unknown_keys_are_found_at_any_depth() {
        let original = serde_json::json!({"a": 1, "b": {"c": 2, "typo": 3}, "l": [{"x": 1}, {"y": 2}], "n": null});
        let typed = serde_json::json!({"a": 1, "b": {"c": 2}, "l": [{"x": 1}, {}]});
        assert_eq!(unknown_keys(&original, &typed, ""), vec!["b.typo", "l[1].y"]);
    }
}

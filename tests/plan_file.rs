//! The plan file: every plan in `plans/`, the demo operator's plan and the fixtures parse and validate;
//! strict parsing reports the file, line, column, key path and a suggestion; the checks serde cannot
//! express report the key and its line; the resolved plan shows every default and reads back as itself; and
//! the JSON Schema covers every key the plans use.

use operator_upgrade::plan::file::{
    plan_file_json_schema, AnalysisLength, AnalysisTarget, BackupGateKind, CohortSize, ControllerIdPlace, JobPhase,
    JobSource, LoadedPlan, ParseFailure, PlanFileError, ScopingKind, SelectorSyntax, UpgradePlan, VersionMove,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/plan_file").join(name)
}

fn load(path: &Path) -> LoadedPlan {
    UpgradePlan::load(path).unwrap_or_else(|e| panic!("{} should load:\n{e}", path.display()))
}

/// Every plan shipped in `plans/`, sorted.
fn shipped_plans() -> Vec<PathBuf> {
    let mut plans: Vec<PathBuf> = std::fs::read_dir(repo().join("plans"))
        .expect("plans/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    plans.sort();
    plans
}

/// Every plan file the project ships or tests with.
fn every_valid_plan() -> Vec<PathBuf> {
    let mut plans = shipped_plans();
    plans.push(repo().join("examples/demo-operator/plan.yaml"));
    plans.push(fixture("minimal.yaml"));
    plans.push(fixture("full.yaml"));
    plans
}

#[test]
fn every_shipped_plan_parses_and_validates() {
    let plans = shipped_plans();
    let names: BTreeSet<String> = plans.iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
    for expected in ["argo-rollouts", "cert-manager", "cloudnative-pg", "prometheus-operator", "strimzi"] {
        assert!(names.contains(expected), "plans/{expected}.yaml is missing (found {names:?})");
    }
    for path in &plans {
        let loaded = load(path);
        assert!(loaded.from_path.is_absolute() && loaded.to_path.is_absolute());
        assert!(
            loaded.plan.spec.from.version.is_some() && loaded.plan.spec.to.version.is_some(),
            "{}: real plans name both versions",
            path.display()
        );
        assert!(
            matches!(loaded.version_move(), Some(VersionMove::Minor { .. } | VersionMove::Patch)),
            "{}: an upgrade the default version policy allows",
            path.display()
        );
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.contains("releases/download/"),
            "{}: says where to download the release manifests",
            path.display()
        );
    }
}

/// The release directories are not committed: without them only the two release paths may be missing,
/// and with them (downloaded as the plans' comments say) nothing may be.
#[test]
fn shipped_plans_point_only_at_release_directories() {
    for path in shipped_plans() {
        let loaded = load(&path);
        match loaded.check_sources() {
            Ok(()) => assert!(loaded.from_path.exists() && loaded.to_path.exists()),
            Err(PlanFileError::Invalid { problems, .. }) => {
                let keys: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
                let expected: Vec<&str> = [("spec.from.path", &loaded.from_path), ("spec.to.path", &loaded.to_path)]
                    .into_iter()
                    .filter(|(_, resolved)| !resolved.exists())
                    .map(|(key, _)| key)
                    .collect();
                assert_eq!(keys, expected, "{}", path.display());
                for problem in &problems {
                    assert!(problem.line.is_some(), "{problem}");
                    assert!(problem.message.contains("/releases/"), "{problem}");
                }
            }
            Err(other) => panic!("{}: {other}", path.display()),
        }
    }
}

#[test]
fn shipped_plans_scope_each_operator_the_way_it_supports() {
    let plan = |name: &str| load(&repo().join("plans").join(format!("{name}.yaml")));

    // cert-manager watches one namespace or all: no canary, the analysis watches everything afterwards.
    let cert_manager = plan("cert-manager");
    assert!(!cert_manager.canary_enabled());
    assert_eq!(cert_manager.analysis_target(), AnalysisTarget::AllObjectsAfterReplacement);
    assert!(cert_manager.rehearsal_required() && cert_manager.rollback_automatic());

    let strimzi = plan("strimzi");
    let canary = strimzi.canary().expect("strimzi runs a canary");
    match &canary.scoping.mechanism {
        operator_upgrade::plan::file::ScopingMechanism::LabelSelector(s) => {
            assert_eq!(s.syntax, SelectorSyntax::EqualityOnly)
        }
        other => panic!("strimzi scopes by an equality-only label selector, not {other:?}"),
    }
    assert!(canary.scoping.canary.env.contains_key("STRIMZI_CUSTOM_RESOURCE_SELECTOR"));
    assert!(canary.scoping.canary.env.contains_key("STRIMZI_LEADER_ELECTION_LEASE_NAME"));

    let prometheus = plan("prometheus-operator");
    let canary = prometheus.canary().expect("prometheus-operator runs a canary");
    assert_eq!(canary.scoping.mechanism.kind(), ScopingKind::ControllerId);
    assert!(canary.scoping.stable.is_empty(), "the stable operator already skips annotated objects");
    assert_eq!(canary.scoping.canary.args[0].as_str(), "--controller-id={cohort}");

    // Argo Rollouts selects on its instance-id label: the cohorts get the label, the stable controller
    // (no id) already skips labelled Rollouts, and the one-replica copies run without leader election
    // (its Lease name is a constant).
    let argo = plan("argo-rollouts");
    let canary = argo.canary().expect("Argo Rollouts runs a canary");
    match &canary.scoping.mechanism {
        operator_upgrade::plan::file::ScopingMechanism::ControllerId(id) => {
            assert_eq!(id.place(), ControllerIdPlace::Label("argo-rollouts.argoproj.io/controller-instance-id"))
        }
        other => panic!("Argo Rollouts scopes by its instance-id label, not {other:?}"),
    }
    assert!(canary.scoping.stable.is_empty(), "the stable controller already skips labelled Rollouts");
    let args: Vec<&str> = canary.scoping.canary.args.iter().map(|a| a.as_str()).collect();
    assert_eq!(args, ["--instance-id={cohort}", "--leader-elect=false"]);

    let cnpg = plan("cloudnative-pg");
    let canary = cnpg.canary().expect("CloudNativePG runs a canary");
    assert_eq!(canary.scoping.mechanism.kind(), ScopingKind::Namespaces);
    assert!(canary.scoping.stable.env["WATCH_NAMESPACE"].as_str().contains("{namespaces}"));
    assert!(cnpg.backup_gates().iter().any(|g| g.kind() == BackupGateKind::CloudNativePg));
}

/// The versions the plans name are the ones the shared corpus holds CRDs of.
#[test]
fn shipped_plan_versions_exist_in_the_corpus() {
    let corpus = repo().join("../shared/corpus/crds");
    if !corpus.is_dir() {
        eprintln!("skipping: {} not found (the shared corpus sits beside the repository)", corpus.display());
        return;
    }
    for path in shipped_plans() {
        let loaded = load(&path);
        let project = path.file_stem().unwrap().to_string_lossy().into_owned();
        for version in [&loaded.plan.spec.from.version, &loaded.plan.spec.to.version] {
            let version = version.as_ref().expect("named").version.to_string();
            // The corpus holds a project's CRDs, or (Argo Rollouts) its release's install manifest.
            let dirs = [corpus.join(&project), corpus.join("../releases").join(&project)];
            assert!(
                dirs.iter().any(|dir| dir.join(&version).is_dir() || dir.join(format!("v{version}")).is_dir()),
                "{}: version {version} is not in {} nor {}",
                path.display(),
                dirs[0].display(),
                dirs[1].display()
            );
        }
    }
}

#[test]
fn the_demo_plan_parses_and_matches_the_demo_scenario() {
    let loaded = load(&repo().join("examples/demo-operator/plan.yaml"));
    loaded.check_sources().expect("the demo releases are in the repository");
    assert!(loaded.from_path.ends_with("v1.0.0") && loaded.to_path.ends_with("v1.1.0"));
    let canary = loaded.canary().expect("the demo runs a canary");
    assert_eq!(canary.cohort_label, "operator-upgrade.dev/cohort");
    assert_eq!(canary.cohort.size(), Some(CohortSize::Percentage(10)));
    // The scenario says which env var the simulated operator reads its selector from.
    let scenario: Value =
        serde_norway::from_str(&std::fs::read_to_string(repo().join("examples/demo-operator/scenario.yaml")).unwrap())
            .unwrap();
    let env = scenario["images"][0]["operator"]["scope"]["labelSelectorEnv"].as_str().expect("scenario names it");
    for role in [&canary.scoping.stable, &canary.scoping.baseline, &canary.scoping.canary] {
        assert_eq!(role.env[env].as_str(), "{cohortSelector}");
    }
    // ... and the operator's Deployment and container are the ones the release ships.
    let operator = std::fs::read_to_string(loaded.to_path.join("operator.yaml")).unwrap();
    assert!(operator.contains(&format!("name: {}\n", loaded.operator().deployment)));
    assert!(operator.contains(&format!("- name: {}\n", loaded.operator().container)));
}

#[test]
fn the_full_fixture_exposes_what_the_step_builder_needs() {
    let loaded = load(&fixture("full.yaml"));
    loaded.check_sources().expect("the full fixture's files exist");
    assert!(loaded.has_backup_gates());
    let kinds: Vec<BackupGateKind> = loaded.backup_gates().iter().map(|g| g.kind()).collect();
    use BackupGateKind::*;
    assert_eq!(kinds, vec![Velero, Velero, CloudNativePg, Command, Job]);
    let counts: Vec<usize> = JobPhase::ALL.iter().map(|phase| loaded.jobs(*phase).len()).collect();
    assert_eq!(counts, vec![1, 1, 1]);
    assert!(matches!(loaded.jobs(JobPhase::PreUpgrade)[0].source(), Some(JobSource::File(_))));
    assert!(matches!(loaded.jobs(JobPhase::Conversion)[0].source(), Some(JobSource::Inline(_))));
    // Defaults that depend on other keys are filled in: a Job without a namespace runs in the operator's.
    assert_eq!(loaded.jobs(JobPhase::PreUpgrade)[0].namespace.as_deref(), Some("default"));
    assert_eq!(loaded.jobs(JobPhase::Conversion)[0].namespace.as_deref(), Some("demo-system"));
    assert!(loaded.canary_enabled() && loaded.baseline_enabled());
    assert!(loaded.rehearsal_required() && loaded.rollback_automatic());
    assert_eq!(loaded.pinned_cluster_uid(), Some("0f5c4a1e-8d2b-4c3a-9e7f-1a2b3c4d5e6f"));
    assert_eq!(loaded.analysis().length(), AnalysisLength::Count(20));
    assert_eq!(loaded.analysis().duration, None, "a count leaves the duration unset");
    assert_eq!(loaded.version_move(), Some(VersionMove::Minor { step: 1 }));
}

#[test]
fn the_resolved_minimal_plan_shows_every_default() {
    let loaded = load(&fixture("minimal.yaml"));
    insta::with_settings!({snapshot_path => "fixtures/plan_file/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("minimal_resolved", loaded.resolved_yaml());
    });
    let json = loaded.resolved_json();
    assert_eq!(json["spec"]["analysis"]["duration"], "10m", "the default length is explicit");
    assert_eq!(json["spec"]["rollback"]["automatic"], true);
    assert_eq!(json["spec"]["analysis"]["signals"].as_array().map(Vec::len), Some(4));
}

#[test]
fn resolved_plans_read_back_as_themselves() {
    for path in every_valid_plan() {
        let loaded = load(&path);
        let yaml = loaded.resolved_yaml();
        let again = UpgradePlan::parse_str(&yaml, Path::new("resolved.yaml"))
            .unwrap_or_else(|e| panic!("{}: the resolved plan does not read back:\n{e}\n{yaml}", path.display()));
        assert_eq!(again, loaded.plan, "{}", path.display());
    }
}

/// A copy of the minimal plan with one edit; panics if the edit does not apply, so no case is vacuous.
fn minimal_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(fixture("minimal.yaml")).unwrap();
    assert!(text.contains(from), "the minimal plan has no {from:?}");
    text.replacen(from, to, 1)
}

fn full_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(fixture("full.yaml")).unwrap();
    assert!(text.contains(from), "the full plan has no {from:?}");
    text.replacen(from, to, 1)
}

struct Located {
    line: Option<usize>,
    column: Option<usize>,
    path: String,
    message: String,
    suggestion: Option<String>,
    display: String,
}

fn parse_failure(text: &str) -> Located {
    match UpgradePlan::parse_str(text, Path::new("plans/x.yaml")) {
        Err(PlanFileError::Parse(failure)) => {
            let display = failure.to_string();
            let ParseFailure { line, column, path, message, suggestion, .. } = *failure;
            Located { line, column, path, message, suggestion, display }
        }
        Err(other) => panic!("expected a parse error, got: {other}"),
        Ok(_) => panic!("expected a parse error, the plan was accepted:\n{text}"),
    }
}

#[test]
fn unknown_keys_name_line_column_and_the_closest_key() {
    let cases = [
        // (edit, line, column, key path, suggestion)
        (("  operator:\n", "  operater:\n"), 7, 3, "spec.operater", Some("operator")),
        (
            ("    container: manager\n", "    container: manager\n    replicas: 2\n"),
            11,
            5,
            "spec.operator.replicas",
            None,
        ),
        (("metadata:\n", "metdata:\n"), 4, 1, "metdata", Some("metadata")),
        (("    path: ../../../examples/demo-operator/v1.1.0\n", "    paht: x\n"), 14, 5, "spec.to.paht", Some("path")),
    ];
    for ((from, to), line, column, path, suggestion) in cases {
        let error = parse_failure(&minimal_with(from, to));
        assert_eq!((error.line, error.column), (Some(line), Some(column)), "{}", error.display);
        assert_eq!(error.path, path, "{}", error.display);
        assert_eq!(error.suggestion.as_deref(), suggestion, "{}", error.display);
        assert!(error.message.starts_with("unknown key"), "{}", error.display);
        assert!(error.display.starts_with(&format!("plans/x.yaml:{line}:{column}: {path}: ")), "{}", error.display);
    }
}

#[test]
fn unknown_choices_and_values_suggest_the_closest() {
    let cases = [
        (
            ("    - velero:\n        name: before", "    - valero:\n        name: before"),
            "spec.backups[1].valero",
            "velero",
        ),
        (("    onInconclusive: rollback", "    onInconclusive: rolback"), "spec.analysis.onInconclusive", "rollback"),
        (
            ("          syntax: setBased", "          syntax: setbased"),
            "spec.canary.scoping.mechanism.labelSelector.syntax",
            "setBased",
        ),
        (("      - podRestarts:", "      - podRestart:"), "spec.analysis.signals[2].podRestart", "podRestarts"),
        (("  name: full", "  name: full\n  nmae: x"), "metadata.nmae", "name"),
    ];
    for ((from, to), path, suggestion) in cases {
        let error = parse_failure(&full_with(from, to));
        assert_eq!(error.path, path, "{}", error.display);
        assert_eq!(error.suggestion.as_deref(), Some(suggestion), "{}", error.display);
        assert!(error.display.contains(&format!("did you mean `{suggestion}`?")), "{}", error.display);
        assert!(error.line.is_some() && error.column.is_some(), "{}", error.display);
    }
}

#[test]
fn wrong_types_missing_keys_and_bad_values_are_located() {
    // Values that do not parse are reported at the value itself.
    let cases = [
        // A sequence where a string belongs.
        (
            minimal_with("    path: ../../../examples/demo-operator/v1.0.0\n", "    path: [a, b]\n"),
            (12, 11),
            "spec.from.path",
            "invalid type",
        ),
        // A required key left out: reported at the mapping that lacks it (its first key).
        (minimal_with("    container: manager\n", ""), (8, 5), "spec.operator", "missing field `container`"),
        (
            minimal_with("kind: UpgradePlan\n", "kind: UpgradePlans\n"),
            (3, 7),
            "kind",
            "`UpgradePlans` is not one of `UpgradePlan`",
        ),
        (
            minimal_with("apiVersion: operator-upgrade.dev/v1alpha1", "apiVersion: v1"),
            (2, 13),
            "apiVersion",
            "is not one of",
        ),
        (
            full_with("    interval: 30s", "    interval: 30 seconds"),
            (120, 15),
            "spec.analysis.interval",
            "invalid duration",
        ),
        (full_with("    version: v1.1.0", "    version: 1.1"), (21, 14), "spec.to.version", "invalid version"),
        (
            full_with("      selector: app.kubernetes.io", "      selector: in (x), app.kubernetes.io"),
            (98, 17),
            "spec.canary.cohort.selector",
            "invalid label selector",
        ),
        (
            full_with("          OPERATOR_ROLE: \"{cohort}\"", "          OPERATOR_ROLE: \"{cohrot}\""),
            (113, 26),
            "spec.canary.scoping.baseline.env.OPERATOR_ROLE",
            "unknown placeholder `{cohrot}`",
        ),
        (
            full_with("              port: 8080", "              port: 70000"),
            (138, 21),
            "spec.analysis.signals[4].metric.source.podProxy.port",
            "out of range",
        ),
        (
            full_with("          maxRestarts: 0", "          maxRestarts: none"),
            (130, 24),
            "spec.analysis.signals[2].podRestarts.maxRestarts",
            "invalid type",
        ),
    ];
    for (text, (line, column), path, message) in cases {
        let error = parse_failure(&text);
        assert_eq!((error.line, error.column), (Some(line), Some(column)), "{}", error.display);
        assert_eq!(error.path, path, "{}", error.display);
        assert!(error.message.contains(message), "{:?} should contain {message:?}", error.display);
    }
}

#[test]
fn malformed_yaml_and_empty_files_are_refused_with_their_position() {
    let error = parse_failure(&minimal_with("  from:\n", "  from: [\n"));
    assert!(error.line.is_some() && error.column.is_some(), "{}", error.display);
    match UpgradePlan::parse_str("# only a comment\n\n---\n", Path::new("plans/empty.yaml")) {
        Err(PlanFileError::Empty { file }) => assert_eq!(file, Path::new("plans/empty.yaml")),
        other => panic!("expected Empty, got {other:?}"),
    }
    let missing = UpgradePlan::load(&fixture("no-such-plan.yaml")).unwrap_err();
    assert!(matches!(missing, PlanFileError::Io { .. }) && missing.to_string().contains("no-such-plan.yaml"));
}

fn invalid_problems(text: &str) -> Vec<(String, Option<usize>, String)> {
    match UpgradePlan::parse_str(text, Path::new("plans/x.yaml")) {
        Err(PlanFileError::Invalid { problems, .. }) => {
            problems.into_iter().map(|p| (p.path, p.line, p.message)).collect()
        }
        Err(other) => panic!("expected semantic problems, got: {other}"),
        Ok(_) => panic!("expected semantic problems, the plan was accepted:\n{text}"),
    }
}

#[test]
fn semantic_problems_name_the_key_and_its_line() {
    let cases: Vec<(String, &str, usize, &str)> = vec![
        (full_with("      count: 4", "      count: 4\n      percentage: 10"), "spec.canary.cohort.percentage", 101, "only one of `count` and `percentage`"),
        (full_with("      count: 4", "      percentage: 101"), "spec.canary.cohort.percentage", 100, "not in 1..=100"),
        (full_with("      count: 4", "      percentage: 60"), "spec.canary.cohort.percentage", 100, "at most 50"),
        (full_with("      count: 4\n", ""), "spec.canary.cohort", 94, "`count` or `percentage`"),
        (full_with("    version: v1.1.0", "    version: v0.9.0"), "spec.to.version", 21, "allowDowngrade"),
        (full_with("    version: v1.1.0", "    version: v1.3.0"), "spec.to.version", 21, "maxMinorStep"),
        (full_with("    version: v1.1.0", "    version: v2.0.0"), "spec.to.version", 21, "allowMajorChange"),
        (full_with("        name: before-upgrade-2024-06-01\n", ""), "spec.backups[1].velero", 39, "`name` or a `selector`"),
        (full_with("          scratchNamespace: restore-check", "          scratchNamespace: default"), "spec.backups[0].velero.testRestore.scratchNamespace", 36, "scratch namespace"),
        (full_with("        maxAge: 1h30m", "        maxAge: 0s"), "spec.backups[1].velero.maxAge", 41, "longer than 0s"),
        (full_with("        file: jobs/export.yaml", "        file: jobs/export.yaml\n        spec: {template: {}}"), "spec.jobs.preUpgrade[0].spec", 71, "only one of `file` and `spec`"),
        (full_with("      - name: smoke-test", "      - name: convert-widgets"), "spec.jobs.postUpgrade[0].name", 81, "already named"),
        (full_with("              restartPolicy: OnFailure\n", ""), "spec.jobs.conversion[0].spec.template.spec", 75, "restartPolicy"),
        (full_with("                  image: registry.example/tools:1.0\n                  args: [verify", "                  imagePullPolicyy: Always\n                  image: registry.example/tools:1.0\n                  args: [verify"), "spec.backups[4].job.spec.template.spec.containers[0].imagePullPolicyy", 63, "unknown key `imagePullPolicyy`"),
        (full_with("    count: 20", "    count: 20\n    duration: 5m"), "spec.analysis.count", 121, "only one of `duration` and `count`"),
        (full_with("          maxOverBaseline: 0.01", "          maxOverBaseline: .nan"), "spec.analysis.signals[4].metric.maxOverBaseline", 144, "finite"),
        (full_with("          name: errors-per-second", "          name: error-ratio"), "spec.analysis.signals[5].metric.name", 146, "already named"),
        (full_with("              url: https://prometheus.example:9090", "              url: prometheus:9090"), "spec.analysis.signals[5].metric.source.prometheus.url", 149, "http(s) URL"),
        (full_with("{pod=~\"{pods}\"}", "{pod=~\"{cohortSelector}\"}"), "spec.analysis.signals[5].metric.source.prometheus.query", 150, "{cohortSelector} has no value in a metric query"),
        (full_with("    kubeSystemUid: 0f5c4a1e-8d2b-4c3a-9e7f-1a2b3c4d5e6f", "    kubeSystemUid: kube-system"), "spec.cluster.kubeSystemUid", 13, "not a UID"),
        (full_with("  name: full\n", "  name: Full_Plan\n"), "metadata.name", 5, "not a valid plan name"),
        (minimal_with("    container: manager\n", "    container: manager\n  analysis:\n    signals: []\n"), "spec.analysis.signals", 12, "without signals"),
    ];
    for (text, path, line, message) in cases {
        let problems = invalid_problems(&text);
        let found = problems.iter().find(|(p, _, _)| p == path);
        let Some((_, found_line, found_message)) = found else { panic!("no problem at {path}; got {problems:?}") };
        assert_eq!(*found_line, Some(line), "{path}: {found_message}");
        assert!(found_message.contains(message), "{path}: {found_message:?} should contain {message:?}");
    }
}

/// The one problem a plan is refused for, as displayed: `plans/x.yaml:LINE: PATH: MESSAGE`.
fn the_one_problem(text: &str) -> String {
    match UpgradePlan::parse_str(text, Path::new("plans/x.yaml")) {
        Err(error @ PlanFileError::Invalid { .. }) => error.to_string(),
        Err(other) => panic!("expected semantic problems, got: {other}"),
        Ok(_) => panic!("expected semantic problems, the plan was accepted:\n{text}"),
    }
}

#[test]
fn waits_ages_and_counts_beyond_the_limits_are_refused_with_file_and_line() {
    let cases: Vec<(String, &str, usize, &str)> = vec![
        (
            full_with("    interval: 30s", "    interval: 100000000000d"),
            "spec.analysis.interval",
            120,
            "100000000000d is longer than 30d, the longest wait a plan may set",
        ),
        (full_with("    interval: 30s", "    interval: 31d"), "spec.analysis.interval", 120, "longer than 30d"),
        (full_with("    warmUp: 1m", "    warmUp: 30d1ms"), "spec.analysis.warmUp", 122, "longer than 30d"),
        (
            full_with("    count: 20", "    count: 100001"),
            "spec.analysis.count",
            121,
            "100001 is more than 100000, the most measurements",
        ),
        (
            full_with("    count: 20", "    count: 100000"),
            "spec.analysis.count",
            121,
            "100000 measurements every 30s take 34d17h20m, longer than 30d",
        ),
        (full_with("    count: 20", "    duration: 31d"), "spec.analysis.duration", 121, "31d is longer than 30d"),
        (
            full_with("    interval: 30s\n    count: 20", "    interval: 1s\n    duration: 2d"),
            "spec.analysis.duration",
            121,
            "is 172800 measurements, more than 100000",
        ),
        (
            full_with("    failureLimit: 1", "    failureLimit: 4000000000"),
            "spec.analysis.failureLimit",
            152,
            "more than 100000",
        ),
        (
            full_with("    inconclusiveLimit: 1", "    inconclusiveLimit: 100001"),
            "spec.analysis.inconclusiveLimit",
            153,
            "more than 100000",
        ),
        (
            full_with("    consecutiveErrorLimit: 3", "    consecutiveErrorLimit: 100001"),
            "spec.analysis.consecutiveErrorLimit",
            154,
            "more than 100000",
        ),
        (
            full_with("          maxCatchUp: 45s", "          maxCatchUp: 31d"),
            "spec.analysis.signals[1].observedGeneration.maxCatchUp",
            128,
            "longer than 30d",
        ),
        (
            full_with("          maxCatchUp: 45s", "          maxCatchUp: 45s\n          maxOverBaseline: 31d"),
            "spec.analysis.signals[1].observedGeneration.maxOverBaseline",
            129,
            "longer than 30d",
        ),
        (
            full_with("        maxAge: 26h", "        maxAge: 367d"),
            "spec.backups[0].velero.maxAge",
            31,
            "367d is longer than 366d, the greatest age a plan may accept",
        ),
        (
            full_with("          timeout: 15m", "          timeout: 31d"),
            "spec.backups[0].velero.testRestore.timeout",
            37,
            "longer than 30d",
        ),
        (
            full_with("        maxAge: 12h", "        maxAge: 400d"),
            "spec.backups[2].cloudNativePg.maxAge",
            46,
            "longer than 366d",
        ),
        (
            full_with("        timeout: 5m\n    - job:", "        timeout: 60d\n    - job:"),
            "spec.backups[3].command.timeout",
            52,
            "longer than 30d",
        ),
        (
            full_with("        timeout: 10m", "        timeout: 31d"),
            "spec.backups[4].job.timeout",
            55,
            "longer than 30d",
        ),
        (
            full_with("        timeout: 5m\n        file:", "        timeout: 31d\n        file:"),
            "spec.jobs.preUpgrade[0].timeout",
            69,
            "longer than 30d",
        ),
        (
            full_with("    timeout: 5m\n  rehearsal:", "    timeout: 31d\n  rehearsal:"),
            "spec.rollback.timeout",
            158,
            "longer than 30d",
        ),
        (full_with("    maxAge: 3d", "    maxAge: 10000d"), "spec.rehearsal.maxAge", 161, "longer than 366d"),
    ];
    for (text, path, line, message) in cases {
        let display = the_one_problem(&text);
        let expected = format!("plans/x.yaml:{line}: {path}: ");
        assert!(display.starts_with(&expected), "{display:?} should start with {expected:?}");
        assert!(display.contains(message), "{display:?} should contain {message:?}");
        assert!(!display.contains("problems in the plan"), "one problem only: {display}");
    }
    // The limits themselves are accepted.
    let at_the_limits = full_with(
        "    interval: 30s\n    count: 20\n    warmUp: 1m",
        "    interval: 30d\n    count: 1\n    warmUp: 30d",
    )
    .replacen("        maxAge: 26h", "        maxAge: 366d", 1)
    .replacen("    failureLimit: 1", "    failureLimit: 100000", 1);
    UpgradePlan::parse_str(&at_the_limits, Path::new("plans/x.yaml")).expect("values at the limits are accepted");
}

#[test]
fn the_plan_that_made_apply_panic_is_refused_at_load() {
    let text = minimal_with(
        "    container: manager\n",
        "    container: manager\n  backups:\n    - command: {command: [\"true\"]}\n  analysis:\n    interval: 100000000000d\n    count: 100000\n",
    );
    let display = the_one_problem(&text);
    assert!(
        display.starts_with("plans/x.yaml:14: spec.analysis.interval: 100000000000d is longer than 30d"),
        "{display}"
    );
}

#[test]
fn values_that_mean_nothing_are_refused_with_file_and_line() {
    let cases: Vec<(String, &str, usize, &str)> = vec![
        (
            full_with("          max: 0.05", "          max: -0.05"),
            "spec.analysis.signals[4].metric.max",
            143,
            "-0.05 is below 0",
        ),
        (
            full_with("          maxOverBaseline: 0.01", "          maxOverBaseline: -0.01"),
            "spec.analysis.signals[4].metric.maxOverBaseline",
            144,
            "doing exactly as well as the baseline",
        ),
        (
            full_with("          max: 0.5", "          max: -1"),
            "spec.analysis.signals[5].metric.max",
            151,
            "-1 is below 0",
        ),
        (
            full_with("      namespaces: [default]", "      namespaces: []"),
            "spec.canary.cohort.namespaces",
            99,
            "lists no namespace: leave the key out to draw the cohort from every namespace",
        ),
        (
            full_with("      namespaces: [default]", "      namespaces:\n        []"),
            "spec.canary.cohort.namespaces",
            99,
            "lists no namespace",
        ),
        (
            full_with("        namespaces: [databases]", "        namespaces: []"),
            "spec.backups[2].cloudNativePg.namespaces",
            44,
            "leave the key out to look in every namespace",
        ),
        (
            full_with("        clusters: [main, reporting]", "        clusters: []"),
            "spec.backups[2].cloudNativePg.clusters",
            45,
            "lists no Cluster",
        ),
        (
            full_with("          reasons: [ReconcileError]", "          reasons: []"),
            "spec.analysis.signals[3].warningEvents.reasons",
            133,
            "leave the key out to count every Warning event",
        ),
        (
            full_with("          reasons: [ReconcileError]", "          reasons: [\"\"]"),
            "spec.analysis.signals[3].warningEvents.reasons[0]",
            133,
            "is empty",
        ),
        (
            minimal_with("    container: manager\n", "    container: manager\n  takeOwnershipFrom: [\"\"]\n"),
            "spec.takeOwnershipFrom[0]",
            11,
            "name a field manager",
        ),
    ];
    for (text, path, line, message) in cases {
        let display = the_one_problem(&text);
        let expected = format!("plans/x.yaml:{line}: {path}: ");
        assert!(display.starts_with(&expected), "{display:?} should start with {expected:?}");
        assert!(display.contains(message), "{display:?} should contain {message:?}");
    }
    // Zero is a threshold that means something: nothing is tolerated.
    UpgradePlan::parse_str(&full_with("          max: 0.05", "          max: 0"), Path::new("plans/x.yaml"))
        .expect("a zero threshold is accepted");
}

#[test]
fn a_stray_brace_in_a_template_is_refused_at_its_line() {
    let cases = [
        (
            full_with(
                "          WATCH_LABEL_SELECTOR: \"{cohortSelector}\"",
                "          WATCH_LABEL_SELECTOR: \"{cohortSelector}}\"",
            ),
            (108, 33),
            "spec.canary.scoping.stable.env.WATCH_LABEL_SELECTOR",
            "a stray `}` in `{cohortSelector}}`",
        ),
        (
            full_with(
                "        args: [\"--leader-election-id={leaseName}\"]",
                "        args: [\"--leader-election-id={{leaseName}\"]",
            ),
            (110, 16),
            "spec.canary.scoping.baseline.args[0]",
            "an unclosed `{` in `--leader-election-id={{leaseName}`",
        ),
        (
            full_with("[2m]))", "[2m])))}"),
            (150, 22),
            "spec.analysis.signals[5].metric.source.prometheus.query",
            "a stray `}`",
        ),
    ];
    for (text, (line, column), path, message) in cases {
        let error = parse_failure(&text);
        assert_eq!((error.line, error.column), (Some(line), Some(column)), "{}", error.display);
        assert_eq!(error.path, path, "{}", error.display);
        assert!(error.display.starts_with(&format!("plans/x.yaml:{line}:{column}: {path}: ")), "{}", error.display);
        assert!(error.message.contains(message), "{:?} should contain {message:?}", error.display);
    }
}

#[test]
fn scoping_templates_must_scope_with_what_the_operator_understands() {
    let problems = invalid_problems(&full_with(
        "          WATCH_LABEL_SELECTOR: \"{cohortSelector}\"\n          OPERATOR_ROLE: \"{cohort}\"\n  analysis:",
        "          OPERATOR_ROLE: \"{cohort}\"\n  analysis:",
    ));
    let (_, line, message) =
        problems.iter().find(|(p, _, _)| p == "spec.canary.scoping.canary").expect("unscoped canary");
    assert_eq!(*line, Some(114));
    assert!(message.contains("would reconcile every object") && message.contains("{cohortSelector}"), "{message}");

    // Namespace scoping has no selector to give, and the lease name cannot refer to itself.
    let problems =
        invalid_problems(&full_with("        labelSelector:\n          syntax: setBased\n", "        namespaces\n"));
    let messages: Vec<&str> = problems.iter().map(|(_, _, m)| m.as_str()).collect();
    assert!(messages.iter().any(|m| m.contains("{cohortSelector} has no value in namespace scoping")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("use {namespaces}")), "{messages:?}");
    let problems =
        invalid_problems(&full_with("      leaseName: \"{deployment}-lease\"", "      leaseName: \"{leaseName}\""));
    assert!(problems
        .iter()
        .any(|(p, l, m)| p == "spec.canary.scoping.leaseName" && *l == Some(105) && m.contains("the lease name")));

    // Strimzi-style equality-only selectors cannot express `notin`.
    let problems =
        invalid_problems(&full_with("          syntax: setBased\n", "          syntax: equalityOnly\n").replacen(
            "WATCH_LABEL_SELECTOR: \"{cohortSelector}\"",
            "WATCH_LABEL_SELECTOR: \"tier notin (gold),{cohortSelector}\"",
            1,
        ));
    let (_, line, message) = problems
        .iter()
        .find(|(p, _, _)| p == "spec.canary.scoping.stable.env.WATCH_LABEL_SELECTOR")
        .expect("notin refused");
    assert_eq!(*line, Some(108));
    assert!(message.contains("equality-only"), "{message}");

    // Without a baseline there is nothing to compare with.
    let problems = invalid_problems(&full_with("    baseline: true\n", "    baseline: false\n"));
    assert!(problems
        .iter()
        .any(|(p, _, m)| p == "spec.analysis.signals[4].metric.maxOverBaseline" && m.contains("no baseline")));
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let text = full_with("    kubeSystemUid: 0f5c4a1e-8d2b-4c3a-9e7f-1a2b3c4d5e6f", "    kubeSystemUid: nope")
        .replacen("      count: 4", "      count: 0", 1)
        .replacen("    interval: 30s", "    interval: 0s", 1);
    let problems = invalid_problems(&text);
    let paths: Vec<&str> = problems.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(paths, vec!["spec.cluster.kubeSystemUid", "spec.canary.cohort.count", "spec.analysis.interval"]);
    let error = UpgradePlan::parse_str(&text, Path::new("plans/x.yaml")).unwrap_err();
    let display = error.to_string();
    assert!(display.starts_with("plans/x.yaml: 3 problems in the plan:"), "{display}");
    assert!(display.contains("\n  plans/x.yaml:13: spec.cluster.kubeSystemUid: "), "{display}");
}

#[test]
fn job_files_and_release_paths_are_checked_against_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let plan = std::fs::read_to_string(fixture("full.yaml"))
        .unwrap()
        .replace("../../../examples/demo-operator/v1.0.0", "releases/old")
        .replace("file: jobs/export.yaml", "file: jobs/typo.yaml");
    std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
    std::fs::copy(fixture("jobs/typo.yaml"), dir.path().join("jobs/typo.yaml")).unwrap();
    std::fs::write(dir.path().join("plan.yaml"), &plan).unwrap();
    let loaded = load(&dir.path().join("plan.yaml"));
    let Err(PlanFileError::Invalid { problems, .. }) = loaded.check_sources() else { panic!("sources are missing") };
    let summary: Vec<(String, Option<usize>)> = problems.iter().map(|p| (p.path.clone(), p.line)).collect();
    assert_eq!(
        summary,
        vec![
            ("spec.from.path".to_owned(), Some(16)),
            ("spec.to.path".to_owned(), Some(20)),
            ("spec.jobs.preUpgrade[0].file".to_owned(), Some(70)),
            ("spec.jobs.preUpgrade[0].file".to_owned(), Some(70)),
        ],
        "{problems:?}"
    );
    assert!(problems[2].message.contains("unknown key `imagePullPolicyy`"), "{}", problems[2].message);
    assert!(problems[3].message.contains("restartPolicy"), "{}", problems[3].message);
}

/// The schema node for a `$ref`, following `#/$defs/...` pointers.
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(pointer) => resolve(root, root.pointer(pointer.trim_start_matches('#')).expect("ref resolves")),
        None => node,
    }
}

/// Every alternative a schema node allows (itself, or its oneOf/anyOf branches), refs resolved.
fn alternatives<'a>(root: &'a Value, node: &'a Value) -> Vec<&'a Value> {
    let node = resolve(root, node);
    let branches: Vec<&Value> = ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| node.get(*k).and_then(Value::as_array))
        .flatten()
        .flat_map(|branch| alternatives(root, branch))
        .collect();
    if branches.is_empty() {
        vec![node]
    } else {
        branches
    }
}

/// Keys of `value` that no alternative of `schema` declares, as dotted paths. Values the schema leaves open
/// (an inline JobSpec) are not descended into.
fn keys_missing_from_schema(root: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let options = alternatives(root, schema);
    match value {
        Value::Object(map) => {
            let mut missing = Vec::new();
            for (key, child) in map {
                let declared = options.iter().find_map(|o| o.get("properties").and_then(|p| p.get(key)));
                let open =
                    options.iter().any(|o| o.get("additionalProperties").is_some_and(|a| a.is_object() || a == true));
                match declared {
                    Some(child_schema) => {
                        missing.extend(keys_missing_from_schema(root, child_schema, child, &format!("{at}.{key}")))
                    }
                    None if open => {
                        let extra =
                            options.iter().find_map(|o| o.get("additionalProperties").filter(|a| a.is_object()));
                        if let Some(extra) = extra {
                            missing.extend(keys_missing_from_schema(root, extra, child, &format!("{at}.{key}")));
                        }
                    }
                    None => missing.push(format!("{at}.{key}")),
                }
            }
            missing
        }
        Value::Array(items) => {
            let item_schema = options.iter().find_map(|o| o.get("items"));
            items
                .iter()
                .enumerate()
                .flat_map(|(i, item)| match item_schema {
                    Some(s) => keys_missing_from_schema(root, s, item, &format!("{at}[{i}]")),
                    None => Vec::new(),
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

#[test]
fn the_json_schema_covers_every_key_the_plans_use() {
    let schema = plan_file_json_schema();
    let text = serde_json::to_string(&schema).unwrap();
    let reparsed: Value = serde_json::from_str(&text).expect("the schema is valid JSON");
    assert_eq!(reparsed["title"], "UpgradePlan");
    let top: BTreeSet<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, BTreeSet::from(["apiVersion", "kind", "metadata", "spec"]));
    let required: Vec<&str> = schema["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(required, vec!["apiVersion", "kind", "metadata", "spec"]);
    assert_eq!(schema["additionalProperties"], false, "unknown keys are errors for editors too");
    let spec = resolve(&schema, &schema["properties"]["spec"]);
    for key in [
        "operator",
        "cluster",
        "from",
        "to",
        "versionPolicy",
        "backups",
        "jobs",
        "canary",
        "analysis",
        "rollback",
        "rehearsal",
    ] {
        assert!(spec["properties"].get(key).is_some(), "spec.{key} is not in the schema");
    }
    for path in every_valid_plan() {
        let value: Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let missing = keys_missing_from_schema(&schema, &schema, &value, "");
        assert!(missing.is_empty(), "{}: keys the schema lacks: {missing:?}", path.display());
    }
    // The check itself finds a key the schema lacks.
    let mut value: Value = serde_norway::from_str(&std::fs::read_to_string(fixture("minimal.yaml")).unwrap()).unwrap();
    value["spec"]["operator"]["replicas"] = Value::from(2);
    assert_eq!(keys_missing_from_schema(&schema, &schema, &value, ""), vec![".spec.operator.replicas"]);
}

#[test]
fn the_schema_command_prints_the_schema() {
    let output = assert_cmd::Command::cargo_bin("operator-upgrade").unwrap().arg("schema").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(printed, plan_file_json_schema());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.schema.json");
    let status = assert_cmd::Command::cargo_bin("operator-upgrade")
        .unwrap()
        .args(["schema", "--output"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(status.status.success() && status.stdout.is_empty());
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written, plan_file_json_schema());
}

#[test]
fn a_controller_id_kept_in_both_an_annotation_and_a_label_is_refused_with_its_line() {
    let argo = std::fs::read_to_string(repo().join("plans/argo-rollouts.yaml")).unwrap();
    let label = "          label: argo-rollouts.argoproj.io/controller-instance-id\n";
    let line = argo[..argo.find(label).unwrap()].lines().count();
    let both = argo.replace(label, &format!("{label}          annotation: example.com/instance\n"));
    let problem = the_one_problem(&both);
    assert!(problem.contains("spec.canary.scoping.mechanism.controllerId"), "{problem}");
    assert!(problem.contains("sets both `annotation` and `label`"), "{problem}");
    assert!(problem.starts_with(&format!("plans/x.yaml:{line}")), "{problem}");
    let bad_key = argo.replace(label, "          label: not a key\n");
    let problem = the_one_problem(&bad_key);
    assert!(problem.contains("controllerId.label: is not a valid label key"), "{problem}");
}

#[test]
fn a_follower_linked_to_its_owner_twice_or_not_at_all_is_refused() {
    let argo = std::fs::read_to_string(repo().join("plans/argo-rollouts.yaml")).unwrap();
    let at = "            referencedAt: .spec.strategy.canary.steps[*].analysis.templates[*].templateName\n";
    assert!(argo.contains(at));
    let twice = argo.replace(at, &format!("{at}            label: example.com/rollout\n"));
    let problem = the_one_problem(&twice);
    assert!(
        problem
            .contains("spec.canary.cohort.followers[0].owner: give exactly one of `label`, `field` and `referencedAt`"),
        "{problem}"
    );
    let empty = argo.replace(at, "            referencedAt: \" \"\n");
    let problem = the_one_problem(&empty);
    assert!(problem.contains("followers[0].owner.referencedAt: is empty"), "{problem}");
}

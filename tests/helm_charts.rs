//! Plans of operators installed with Helm, without a cluster: the real charts of `../shared/corpus/charts`
//! (Argo Rollouts 2.38.2 -> 2.40.5, CloudNativePG 0.28.3 -> 0.29.0) rendered by helm and diffed, a value the
//! new chart no longer reads, a chart that would delete CRDs, and a missing or too old helm. Tests that need
//! helm skip with a message naming `controlplane/build-helm.sh` when it was not built.

use crate::common;
use assert_cmd::Command;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

fn charts(test: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/charts");
    if path.join("SOURCE.md").is_file() {
        Some(path)
    } else {
        let _ = writeln!(std::io::stderr(), "skipped {test}: ../shared/corpus/charts not found beside the project");
        None
    }
}

/// A Helm plan file in `dir` from chart `from` to chart `to`, with extra YAML under `from.helm`/`to.helm`.
fn write_plan(dir: &Path, operator: &str, (from, from_extra): (&Path, &str), (to, to_extra): (&Path, &str)) -> PathBuf {
    let plan = format!(
        "apiVersion: operator-upgrade.dev/v1alpha1\nkind: UpgradePlan\nmetadata: {{name: helm-chart}}\nspec:\n  operator: {operator}\n  versionPolicy: {{allowLargerStep: true}}\n  from:\n    helm: {{release: {release}, chart: {from}{from_extra}}}\n  to:\n    helm: {{chart: {to}{to_extra}}}\n",
        release = "rel",
        from = from.display(),
        to = to.display(),
    );
    let path = dir.join("plan.yaml");
    std::fs::write(&path, plan).unwrap();
    path
}

fn plan_json(plan: &Path, helm: &Path, code: i32) -> Value {
    let output = Command::cargo_bin("operator-upgrade")
        .unwrap()
        .args(["plan", "-o", "json", "-f"])
        .arg(plan)
        .arg("--helm")
        .arg(helm)
        .assert()
        .code(code)
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&output).expect("valid JSON")
}

fn codes_on(report: &Value, kind: &str) -> Vec<String> {
    report["operator_findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["object"]["kind"] == kind)
        .map(|f| f["code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn argo_rollouts_chart_2_38_2_to_2_40_5_renders_both_charts_and_diffs_them() {
    let test = "argo_rollouts_chart_2_38_2_to_2_40_5_renders_both_charts_and_diffs_them";
    let (Some(charts), Some(helm)) = (charts(test), common::helm(test)) else { return };
    let dir = tempfile::tempdir().unwrap();
    let operator = "{namespace: argo-rollouts, deployment: rel-argo-rollouts, container: argo-rollouts}";
    let plan = write_plan(
        dir.path(),
        operator,
        (&charts.join("argo-rollouts/2.38.2"), ""),
        (&charts.join("argo-rollouts/2.40.5"), ""),
    );
    let report = plan_json(&plan, &helm, 0);
    let helm_view = &report["helm"];
    assert_eq!(helm_view["from"]["chart"]["version"], "2.38.2", "{helm_view}");
    assert_eq!(helm_view["to"]["chart"]["appVersion"], "v1.8.3", "{helm_view}");
    assert_eq!(helm_view["helmVersion"], "4.3.2");
    let defaults: Vec<&str> =
        helm_view["defaultChanges"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert!(defaults.contains(&"controller.stepPlugins"), "{defaults:?}");
    assert_eq!(helm_view["deletedCrds"], serde_json::json!([]), "the chart keeps its CRDs");
    // Both charts template the same five CRDs (with `keepCRDs`), and the new one adds fields.
    assert_eq!(report["summary"]["crds_old"], 5, "{}", report["summary"]);
    assert_eq!(report["summary"]["crds_new"], 5);
    assert!(report["findings"].as_array().unwrap().iter().any(|f| f["code"] == "field-added"));
    let image = report["operator_findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "image-changed")
        .unwrap_or_else(|| panic!("no image change in {}", report["operator_findings"]));
    assert_eq!(image["old"], "quay.io/argoproj/argo-rollouts:v1.7.2");
    assert_eq!(image["new"], "quay.io/argoproj/argo-rollouts:v1.8.3");
}

#[test]
fn cloudnative_pg_chart_0_28_3_to_0_29_0_shows_the_new_crd_the_new_permissions_and_the_image() {
    let test = "cloudnative_pg_chart_0_28_3_to_0_29_0_shows_the_new_crd_the_new_permissions_and_the_image";
    let (Some(charts), Some(helm)) = (charts(test), common::helm(test)) else { return };
    let dir = tempfile::tempdir().unwrap();
    let operator = "{namespace: cnpg-system, deployment: rel-cloudnative-pg, container: manager}";
    let plan = write_plan(
        dir.path(),
        operator,
        (&charts.join("cloudnative-pg/0.28.3"), ""),
        (&charts.join("cloudnative-pg/0.29.0"), ""),
    );
    let report = plan_json(&plan, &helm, 0);
    assert_eq!(report["helm"]["to"]["chart"]["appVersion"], "1.30.0");
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["code"] == "crd-added" && f["crd"] == "databaseroles.postgresql.cnpg.io"),
        "{findings:?}"
    );
    assert!(codes_on(&report, "ClusterRole").contains(&"rbac-cluster-wide-access-added".to_owned()), "{report}");
    assert!(codes_on(&report, "Deployment").contains(&"image-changed".to_owned()), "{report}");
}

#[test]
fn a_chart_that_would_delete_its_crds_is_refused_naming_each_crd() {
    let test = "a_chart_that_would_delete_its_crds_is_refused_naming_each_crd";
    let (Some(charts), Some(helm)) = (charts(test), common::helm(test)) else { return };
    let dir = tempfile::tempdir().unwrap();
    // Installed without `keepCRDs`, upgraded with `installCRDs: false`: helm upgrade deletes the five CRDs.
    std::fs::write(dir.path().join("old.yaml"), "keepCRDs: false\n").unwrap();
    std::fs::write(dir.path().join("new.yaml"), "installCRDs: false\n").unwrap();
    let operator = "{namespace: argo-rollouts, deployment: rel-argo-rollouts, container: argo-rollouts}";
    let plan = write_plan(
        dir.path(),
        operator,
        (&charts.join("argo-rollouts/2.38.2"), ", values: [old.yaml]"),
        (&charts.join("argo-rollouts/2.40.5"), ", values: [new.yaml]"),
    );
    let report = plan_json(&plan, &helm, 1);
    assert_eq!(report["helm"]["deletedCrds"].as_array().unwrap().len(), 5, "{}", report["helm"]);
    let text = Command::cargo_bin("operator-upgrade")
        .unwrap()
        .args(["plan", "--color", "never", "-f"])
        .arg(&plan)
        .arg("--helm")
        .arg(&helm)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("refused  helm upgrade would delete CRD rollouts.argoproj.io, and with it every object of it"),
        "{text}"
    );
    assert!(text.contains("kubectl annotate crd rollouts.argoproj.io helm.sh/resource-policy=keep"), "{text}");
}

/// A minimal chart at `dir` whose values and one ConfigMap read `key_path` (dotted) for the port.
fn tiny_chart(dir: &Path, version: &str, values: &str, port_expression: &str) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("Chart.yaml"), format!("apiVersion: v2\nname: tiny\nversion: {version}\n")).unwrap();
    std::fs::write(dir.join("values.yaml"), values).unwrap();
    let template = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-settings\ndata:\n  port: {{{{ {port_expression} | quote }}}}\n"
    );
    std::fs::write(dir.join("templates/settings.yaml"), template).unwrap();
}

#[test]
fn a_value_the_new_chart_renamed_is_a_warning_that_names_the_key_but_not_the_value() {
    let test = "a_value_the_new_chart_renamed_is_a_warning_that_names_the_key_but_not_the_value";
    let Some(helm) = common::helm(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    tiny_chart(&dir.path().join("v1"), "1.0.0", "metrics:\n  port: 8080\n", ".Values.metrics.port");
    tiny_chart(
        &dir.path().join("v2"),
        "1.1.0",
        "metrics:\n  service:\n    port: 8080\n",
        ".Values.metrics.service.port",
    );
    std::fs::write(dir.path().join("mine.yaml"), "metrics:\n  port: 9191\n").unwrap();
    let operator = "{namespace: tiny, deployment: tiny, container: tiny}";
    let plan = write_plan(dir.path(), operator, (Path::new("v1"), ", values: [mine.yaml]"), (Path::new("v2"), ""));
    let report = plan_json(&plan, &helm, 0);
    assert_eq!(
        report["helm"]["unreadValues"],
        serde_json::json!([{"path": "metrics.port", "missing": "metrics.port"}])
    );
    assert!(!report["helm"].to_string().contains("9191"), "a user's value is never shown: {}", report["helm"]);
    // The warning counts for --fail-on.
    Command::cargo_bin("operator-upgrade")
        .unwrap()
        .args(["plan", "--fail-on", "warning", "-f"])
        .arg(&plan)
        .arg("--helm")
        .arg(&helm)
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "warning  value metrics.port is set but chart tiny 1.1.0 no longer has `metrics.port`",
        ));
}

#[test]
fn a_missing_or_too_old_helm_is_a_clear_error_saying_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    tiny_chart(&dir.path().join("v1"), "1.0.0", "a: 1\n", ".Values.a");
    tiny_chart(&dir.path().join("v2"), "1.1.0", "a: 1\n", ".Values.a");
    let plan = write_plan(
        dir.path(),
        "{namespace: t, deployment: t, container: t}",
        (Path::new("v1"), ""),
        (Path::new("v2"), ""),
    );
    let run = |helm: &Path| {
        let output = Command::cargo_bin("operator-upgrade")
            .unwrap()
            .args(["plan", "-f"])
            .arg(&plan)
            .arg("--helm")
            .arg(helm)
            .assert()
            .code(2);
        String::from_utf8(output.get_output().stderr.clone()).unwrap()
    };
    let missing = run(&dir.path().join("no-helm-here"));
    assert!(missing.contains("cannot run helm at") && missing.contains("install helm 4"), "{missing}");
    let old = dir.path().join("helm3");
    std::fs::write(&old, "#!/bin/sh\necho v3.19.0+g3d8990f\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let too_old = run(&old);
    assert!(too_old.contains("is helm \"v3.19.0+g3d8990f\"; the tool needs at least 4.0.0"), "{too_old}");
}

#[test]
fn helm_sides_are_checked_where_each_key_belongs() {
    let check = |spec_sides: &str| {
        let text = format!(
            "apiVersion: operator-upgrade.dev/v1alpha1\nkind: UpgradePlan\nmetadata: {{name: p}}\nspec:\n  operator: {{namespace: n, deployment: d, container: c}}\n{spec_sides}"
        );
        operator_upgrade::plan::file::UpgradePlan::parse_str(&text, Path::new("plan.yaml"))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(check("  from: {helm: {release: r}}\n  to: {helm: {chart: c}}\n"), Ok(()));
    let errors = [
        ("  from: {helm: {chart: a}}\n  to: {helm: {chart: c}}\n", "spec.from.helm: needs `release`"),
        ("  from: {helm: {release: r}}\n  to: {path: x}\n", "spec.to: needs `helm` too"),
        (
            "  from: {helm: {release: r}, path: y}\n  to: {helm: {chart: c}}\n",
            "spec.from.path: and `helm` are both given",
        ),
        (
            "  from: {helm: {release: r, values: [v.yaml]}}\n  to: {helm: {chart: c}}\n",
            "spec.from.helm.values: needs `chart`",
        ),
        (
            "  from: {helm: {release: r}}\n  to: {helm: {chart: c, release: r}}\n",
            "spec.to.helm.release: belongs in `from.helm`",
        ),
        (
            "  from: {helm: {release: r, reuseValues: false}}\n  to: {helm: {chart: c}}\n",
            "spec.from.helm.reuseValues: belongs in `to.helm`",
        ),
        ("  from: {helm: {release: Bad_Name}}\n  to: {helm: {chart: c}}\n", "is not a Helm release name"),
    ];
    for (sides, expected) in errors {
        let error = check(sides).unwrap_err();
        assert!(error.contains(expected), "{sides}: {error}");
    }
}

fn demo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(relative)
}

/// The demo operator's chart renders exactly its release: the same CRDs (kept by Helm), the same Deployment
/// spec, with Helm's labels; the namespace is left to `helm install --create-namespace`.
#[test]
fn the_demo_chart_renders_the_demo_release() {
    use operator_upgrade::helm::compare::split_rendered;
    use operator_upgrade::helm::{Helm, TemplateRequest};
    use operator_upgrade::manifest::{load_side, load_side_text};
    use operator_upgrade::plan::Plan;
    let test = "the_demo_chart_renders_the_demo_release";
    let Some(helm) = common::helm(test) else { return };
    let helm = Helm::find(Some(&helm)).unwrap();
    for version in ["1.0.0", "1.1.0"] {
        let request = TemplateRequest {
            release: "demo-operator".into(),
            namespace: "demo-system".into(),
            chart: demo(&format!("helm/{version}")),
            ..TemplateRequest::default()
        };
        let rendered = helm.template(&request).unwrap();
        let (crds, _) = split_rendered(&rendered);
        assert!(crds.is_empty(), "the chart templates its CRDs (Helm upgrades them): {crds}");
        let chart = load_side_text(&rendered, Path::new("chart")).unwrap();
        let release = load_side(&demo(&format!("v{version}"))).unwrap();
        let plan = Plan::build(&release, &chart);
        assert!(plan.findings.is_empty(), "chart {version}: {:?}", plan.findings);
        let deployment = |set: &operator_upgrade::manifest::ManifestSet| {
            set.objects.iter().find(|o| o.value["kind"] == "Deployment").map(|o| o.value.clone()).unwrap()
        };
        let (ours, shipped) = (deployment(&chart), deployment(&release));
        assert_eq!(ours["spec"], shipped["spec"], "chart {version}");
        assert_eq!(ours["metadata"]["labels"]["helm.sh/chart"], format!("demo-operator-{version}"));
        assert!(rendered.contains("helm.sh/resource-policy: keep"), "{rendered}");
        assert!(!chart.objects.iter().any(|o| o.value["kind"] == "Namespace"));
    }
}

#[test]
fn a_release_read_from_the_cluster_without_a_cluster_says_what_to_give() {
    let test = "a_release_read_from_the_cluster_without_a_cluster_says_what_to_give";
    let Some(helm) = common::helm(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    tiny_chart(&dir.path().join("v2"), "1.1.0", "a: 1\n", ".Values.a");
    let plan = "apiVersion: operator-upgrade.dev/v1alpha1\nkind: UpgradePlan\nmetadata: {name: p}\nspec:\n  operator: {namespace: tiny, deployment: tiny, container: tiny}\n  from: {helm: {release: tiny}}\n  to: {helm: {chart: v2}}\n";
    std::fs::write(dir.path().join("plan.yaml"), plan).unwrap();
    Command::cargo_bin("operator-upgrade")
        .unwrap()
        .args(["plan", "-f"])
        .arg(dir.path().join("plan.yaml"))
        .arg("--helm")
        .arg(&helm)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "spec.from.helm names release tiny/tiny without a chart, so the installed release is read from the cluster: give --context or --kubeconfig",
        ));
}

//! Step derivation: what the findings and the plan file's settings turn into, in order.

use operator_upgrade::findings::FindingCode;
use operator_upgrade::manifest::{load_side, ManifestSet};
use operator_upgrade::plan::steps::{derive_steps, refusals, FlowSettings, RbacChanges, StepInputs, StepKind};
use operator_upgrade::schema::diff_crd_sets;
use std::path::Path;

fn crd(versions: &[(&str, bool, bool)]) -> String {
    let mut text = String::from(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n\
         spec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets}\n  versions:\n",
    );
    for (name, served, storage) in versions {
        text.push_str(&format!(
            "  - name: {name}\n    served: {served}\n    storage: {storage}\n    schema:\n      openAPIV3Schema:\n        \
             type: object\n        x-kubernetes-preserve-unknown-fields: true\n"
        ));
    }
    text
}

fn side(dir: &Path, name: &str, yaml: &str) -> ManifestSet {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    load_side(&path).unwrap()
}

fn kinds_for(old: &str, new: &str, flow: &FlowSettings) -> (Vec<StepKind>, Vec<String>, Vec<FindingCode>) {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (side(dir.path(), "old.yaml", old), side(dir.path(), "new.yaml", new));
    let findings = diff_crd_sets(&old.crds, &new.crds);
    let inputs = StepInputs {
        old_crds: &old.crds,
        new_crds: &new.crds,
        findings: &findings,
        rbac: RbacChanges::default(),
        operator_changes: true,
        flow,
    };
    let steps = derive_steps(&inputs);
    let actions = steps.iter().flat_map(|s| s.actions.clone()).collect();
    let refused = refusals(&findings).into_iter().map(|r| r.code).collect();
    (steps.into_iter().map(|s| s.kind).collect(), actions, refused)
}

#[test]
fn a_storage_version_change_yields_expand_then_migration_after_promotion() {
    let old = crd(&[("v1alpha1", true, true)]);
    let new = crd(&[("v1alpha1", true, false), ("v1", true, true)]);
    let (kinds, actions, refused) = kinds_for(&old, &new, &FlowSettings::default());
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(kinds, [StepKind::Preflight, StepKind::CrdExpand, StepKind::Promotion, StepKind::CrdContract]);
    assert!(actions.iter().any(|a| a.contains("storage stays v1alpha1")), "{actions:#?}");
    assert!(actions.iter().any(|a| a.contains("rewrite every object so it is stored at v1")), "{actions:#?}");
    assert!(actions.iter().any(|a| a.contains("trim status.storedVersions to [v1]")), "{actions:#?}");
}

#[test]
fn a_removed_stored_version_refuses_the_plan_naming_the_migration() {
    let old = crd(&[("v1alpha1", true, true)]);
    let new = crd(&[("v1", true, true)]);
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (side(dir.path(), "old.yaml", &old), side(dir.path(), "new.yaml", &new));
    let refused = refusals(&diff_crd_sets(&old.crds, &new.crds));
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0].code, FindingCode::VersionRemoved);
    assert!(refused[0].first.contains("migrate every stored widgets.example.com object off v1alpha1"), "{refused:#?}");
}

#[test]
fn an_unserved_version_is_kept_served_during_expand_and_dropped_in_contract() {
    let old = crd(&[("v1beta1", true, false), ("v1", true, true)]);
    let new = crd(&[("v1beta1", false, false), ("v1", true, true)]);
    let (kinds, actions, _) = kinds_for(&old, &new, &FlowSettings::default());
    assert!(kinds.contains(&StepKind::CrdExpand) && kinds.contains(&StepKind::CrdContract), "{kinds:?}");
    assert!(actions.iter().any(|a| a.contains("v1beta1 kept served")), "{actions:#?}");
    assert!(actions.iter().any(|a| a.contains("stops serving v1beta1")), "{actions:#?}");
}

#[test]
fn the_plan_file_adds_gates_jobs_and_the_canary_in_order() {
    use operator_upgrade::plan::file::JobPhase;
    use operator_upgrade::plan::steps::{CanarySettings, JobLine};
    let flow = FlowSettings {
        cluster_identity: Some("1234".into()),
        backup_gates: vec!["velero backup".into()],
        jobs: [(JobPhase::PreUpgrade, "pre"), (JobPhase::Conversion, "convert"), (JobPhase::PostUpgrade, "post")]
            .into_iter()
            .map(|(phase, name)| JobLine { phase, name: name.into(), line: name.into(), after_contract: false })
            .collect(),
        canary: Some(CanarySettings {
            cohort: "5 objects".into(),
            baseline: true,
            scoping: "env X".into(),
            own_lease: true,
        }),
        analysis: Some("10m".into()),
        automatic_rollback: true,
    };
    let same = crd(&[("v1", true, true)]);
    let (kinds, actions, _) = kinds_for(&same, &same, &flow);
    assert_eq!(
        kinds,
        [
            StepKind::Preflight,
            StepKind::BackupGate,
            StepKind::PreUpgradeJob,
            StepKind::ConversionJob,
            StepKind::CanaryRollout,
            StepKind::Analysis,
            StepKind::Promotion,
            StepKind::PostUpgradeJob,
        ]
    );
    assert!(actions.iter().any(|a| a.contains("kube-system UID 1234")));
    assert!(actions.iter().any(|a| a.contains("baseline Deployment")));
}

#[test]
fn unchanged_crds_and_operator_yield_only_preflight() {
    let same = crd(&[("v1", true, true)]);
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (side(dir.path(), "old.yaml", &same), side(dir.path(), "new.yaml", &same));
    let findings = diff_crd_sets(&old.crds, &new.crds);
    let flow = FlowSettings::default();
    let inputs = StepInputs {
        old_crds: &old.crds,
        new_crds: &new.crds,
        findings: &findings,
        rbac: RbacChanges::default(),
        operator_changes: false,
        flow: &flow,
    };
    let kinds: Vec<StepKind> = derive_steps(&inputs).into_iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [StepKind::Preflight]);
}

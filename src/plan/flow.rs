//! The plan file's settings as the step builder sees them: one line per gate, Job and canary setting.

use super::file::{
    AnalysisLength, BackupGate, CohortSize, ControllerIdPlace, InconclusiveAction, JobDefinition, JobPhase, LoadedPlan,
    Placeholder, ScopingMechanism, SelectorSyntax,
};
use super::steps::{CanarySettings, FlowSettings, JobLine};

/// What a loaded plan file contributes to the steps.
pub fn flow_settings(loaded: &LoadedPlan) -> FlowSettings {
    let spec = &loaded.plan.spec;
    FlowSettings {
        cluster_identity: spec.cluster.as_ref().map(|pin| pin.kube_system_uid.clone()),
        backup_gates: spec.backups.iter().map(describe_gate).collect(),
        jobs: spec
            .jobs
            .all()
            .map(|(phase, job)| JobLine {
                phase,
                name: job.name.clone(),
                line: describe_job(job),
                after_contract: phase == JobPhase::PostUpgrade && job.needs_contract,
            })
            .collect(),
        canary: loaded.canary_enabled().then(|| canary_settings(loaded)).flatten(),
        analysis: Some(describe_analysis(loaded)),
        automatic_rollback: loaded.rollback_automatic(),
    }
}

fn describe_gate(gate: &BackupGate) -> String {
    match gate {
        BackupGate::Velero(velero) => {
            let which = match (&velero.name, &velero.selector) {
                (Some(name), _) => format!("Velero Backup {}/{name}", velero.namespace),
                (None, Some(selector)) => format!("newest Velero Backup in {} matching {selector}", velero.namespace),
                (None, None) => format!("newest Velero Backup in {}", velero.namespace),
            };
            let restore = velero
                .test_restore
                .as_ref()
                .map(|r| format!(", test-restored into {}", r.scratch_namespace))
                .unwrap_or_default();
            format!("{which}: phase {:?}, no errors, at most {} old{restore}", velero.required_phase, velero.max_age)
        }
        BackupGate::CloudNativePg(cnpg) => {
            let clusters = if cnpg.clusters.is_empty() { "every cluster".to_owned() } else { cnpg.clusters.join(", ") };
            format!("CloudNativePG Backup of {clusters}: completed, at most {} old", cnpg.max_age)
        }
        BackupGate::Command(command) => {
            format!("command `{}` exits 0 within {}", command.command.join(" "), command.timeout)
        }
        BackupGate::Job(job) => format!("Job {} succeeds within {}", job.name, job.timeout),
    }
}

fn describe_job(job: &JobDefinition) -> String {
    let namespace = job.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default();
    format!("Job {namespace}{} (timeout {})", job.name, job.timeout)
}

fn canary_settings(loaded: &LoadedPlan) -> Option<CanarySettings> {
    let canary = loaded.canary()?;
    // With namespace scoping the cohort is a set of namespaces holding the objects, not the objects.
    let unit = match canary.scoping.mechanism {
        ScopingMechanism::Namespaces => "namespace(s) holding",
        _ => "object(s):",
    };
    let size = match canary.cohort.size()? {
        CohortSize::Count(count) => format!("{count} {unit}"),
        CohortSize::Percentage(percent) => format!("{percent}% of the {unit}"),
    };
    let matching = canary.cohort.selector.as_ref().map(|s| format!(" matching {s}")).unwrap_or_default();
    let within = if canary.cohort.namespaces.is_empty() {
        String::new()
    } else {
        format!(" in {}", canary.cohort.namespaces.join(", "))
    };
    let kinds: Vec<&str> = canary.cohort.resources.iter().map(|r| r.kind.as_str()).collect();
    // Controller-id scoping marks the cohort with the id itself; the other mechanisms with the cohort label.
    let marked = match &canary.scoping.mechanism {
        ScopingMechanism::ControllerId(id) => match id.place() {
            ControllerIdPlace::Annotation(key) => format!("annotated {key}"),
            ControllerIdPlace::Label(key) => format!("labelled {key}"),
        },
        _ => format!("labelled {}", canary.cohort_label),
    };
    let cohort = format!("{size} {}{matching}{within}, {marked}", kinds.join(", "));
    let scoping = match &canary.scoping.mechanism {
        ScopingMechanism::LabelSelector(selector) => match selector.syntax {
            SelectorSyntax::SetBased => "label selector".to_owned(),
            SelectorSyntax::EqualityOnly => "equality-only label selector".to_owned(),
        },
        ScopingMechanism::ControllerId(id) => match id.place() {
            ControllerIdPlace::Annotation(key) => format!("controller id annotation {key}"),
            ControllerIdPlace::Label(key) => format!("controller id label {key}"),
        },
        ScopingMechanism::Namespaces => "namespaces".to_owned(),
    };
    let own_lease =
        canary.scoping.canary.templates().iter().any(|(_, t)| t.placeholders().contains(&Placeholder::LeaseName));
    Some(CanarySettings { cohort, baseline: canary.baseline, scoping, own_lease })
}

fn describe_analysis(loaded: &LoadedPlan) -> String {
    let analysis = loaded.analysis();
    let length = match analysis.length() {
        AnalysisLength::Duration(duration) => format!("for {duration}"),
        AnalysisLength::Count(count) => format!("{count} measurements"),
    };
    let inconclusive = match analysis.on_inconclusive {
        InconclusiveAction::Pause => "pause",
        InconclusiveAction::Rollback => "roll back",
        InconclusiveAction::Promote => "promote",
    };
    format!(
        "measure {} signals every {} {length} after a {} warm-up; inconclusive: {inconclusive}",
        analysis.signals.len(),
        analysis.interval,
        analysis.warm_up
    )
}

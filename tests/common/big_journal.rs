//! A journal as a canary over many objects leaves it: every object a cohort member with its uid, a
//! tenth in the canary and as many in the baseline, the rest stable (an equality-only selector measures
//! them too), and the marker's prior value on those that had one.

use operator_upgrade::canary::cohort::{Cohort, CohortMember};
use operator_upgrade::canary::scoping::Marker;
use operator_upgrade::cluster::ObjectKey;
use operator_upgrade::engine::journal::{CanaryRecord, Journal, RunState};

/// One Widget of the canary, in one of 100 namespaces, with a random (incompressible) uid; one in five
/// had a marker value before the run.
fn member(rng: &mut fastrand::Rng, index: usize, cohort: Cohort) -> CohortMember {
    let hex = |rng: &mut fastrand::Rng, n: usize| -> String { (0..n).map(|_| format!("{:x}", rng.u8(..16))).collect() };
    let uid = format!("{}-{}-4{}-a{}-{}", hex(rng, 8), hex(rng, 4), hex(rng, 3), hex(rng, 3), hex(rng, 12));
    CohortMember {
        key: ObjectKey {
            api_version: "demo.operator-upgrade.dev/v1alpha1".into(),
            kind: "Widget".into(),
            namespace: format!("team-{:02}", index % 100),
            name: format!("widget-{index:06}"),
        },
        uid,
        cohort,
        prior: index.is_multiple_of(5).then(|| "stable".to_owned()),
    }
}

/// The journal of run `run_id` of plan `plan` whose canary drew a tenth of `objects` Widgets (and as many
/// for the baseline); with `stable_members` every other object is a member too.
pub fn canary_journal(run_id: &str, plan: &str, objects: usize, stable_members: bool) -> Journal {
    let mut rng = fastrand::Rng::with_seed(24);
    let tenth = objects / 10;
    let members = (0..objects)
        .filter_map(|i| {
            let cohort = match i % 10 {
                0 => Cohort::Canary,
                1 => Cohort::Baseline,
                _ if stable_members => Cohort::Stable,
                _ => return None,
            };
            Some(member(&mut rng, i, cohort))
        })
        .collect::<Vec<_>>();
    assert_eq!(members.iter().filter(|m| m.cohort == Cohort::Canary).count(), tenth);
    let deployment = |name: &str| ObjectKey {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: "demo-system".into(),
        name: name.into(),
    };
    let json = serde_json::json!({
        "runId": run_id, "plan": plan, "planHash": "0".repeat(64), "clusterUid": "uid", "toolVersion": "0",
        "operator": "demo-system/demo-operator", "started": "2026-12-07T20:00:00Z",
        "updated": "2026-12-07T20:00:00Z", "state": "running", "steps": [],
    });
    let mut journal: Journal = serde_json::from_value(json).expect("a minimal journal");
    journal.state = RunState::Running;
    journal.canary = Some(CanaryRecord {
        marker: Some((Marker::Label, "demo.operator-upgrade.dev/cohort".into())),
        members,
        namespaces: vec![],
        stable: deployment("demo-operator"),
        copies: vec![(Cohort::Canary, deployment("demo-operator-canary"))],
        copy_leases: vec![],
        access: vec![],
        started: None,
        dependents: Default::default(),
        owner_generations: Default::default(),
        unowned: vec![],
        intervals: vec![],
        decision: None,
    });
    journal
}

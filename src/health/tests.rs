use super::*;

fn object(name: &str, ready: Option<bool>, generation: i64, observed: Option<i64>) -> ObjectHealth {
    ObjectHealth {
        object: format!("Widget default/{name}"),
        generation,
        observed_generation: observed,
        ready,
        reason: (ready != Some(true)).then(|| "Failed".to_owned()),
    }
}

fn fleet(objects: Vec<ObjectHealth>, restarts: u32) -> FleetObservation {
    FleetObservation { objects, pods: PodsHealth { pods: 1, ready: 1, restarts } }
}

fn policy() -> HealthPolicy {
    HealthPolicy {
        condition_type: "Ready".into(),
        max_not_ready: 0,
        max_catch_up: Some(Duration::from_secs(30)),
        max_restarts: Some(0),
    }
}

#[test]
fn a_fleet_ready_as_before_is_healthy() {
    let before = fleet(vec![object("a", Some(true), 1, Some(1)), object("b", Some(false), 1, Some(1))], 0);
    let baseline = Baseline::of(&before);
    assert_eq!(judge(&policy(), &baseline, &before, &BTreeMap::new(), 0), HealthVerdict::Healthy);
}

#[test]
fn an_object_newly_not_ready_is_a_failure_naming_it() {
    let baseline = Baseline::of(&fleet(vec![object("a", Some(true), 1, Some(1))], 0));
    let now = fleet(vec![object("a", Some(false), 1, Some(1))], 0);
    let HealthVerdict::Unhealthy(reasons) = judge(&policy(), &baseline, &now, &BTreeMap::new(), 0) else {
        panic!("expected unhealthy")
    };
    assert_eq!(reasons, vec!["1 objects not Ready (at most 0 allowed): Widget default/a (Failed)"]);
    let tolerant = HealthPolicy { max_not_ready: 1, ..policy() };
    assert_eq!(judge(&tolerant, &baseline, &now, &BTreeMap::new(), 0), HealthVerdict::Healthy);
}

#[test]
fn an_object_behind_its_spec_too_long_is_a_failure() {
    let mut catch_up = CatchUp::default();
    let behind = fleet(vec![object("a", Some(true), 2, Some(1))], 0);
    let baseline = Baseline::default();
    let first = catch_up.update(&behind, Duration::from_secs(10));
    assert_eq!(judge(&policy(), &baseline, &behind, &first, 0), HealthVerdict::Healthy);
    let later = catch_up.update(&behind, Duration::from_secs(45));
    assert!(matches!(judge(&policy(), &baseline, &behind, &later, 0), HealthVerdict::Unhealthy(_)));
    // Caught up: forgotten.
    let caught = fleet(vec![object("a", Some(true), 2, Some(2))], 0);
    assert!(catch_up.update(&caught, Duration::from_secs(50)).is_empty());
}

#[test]
fn restarts_count_from_the_first_measurement_and_no_ready_pod_fails() {
    let baseline = Baseline::default();
    let now = fleet(vec![], 5);
    assert_eq!(judge(&policy(), &baseline, &now, &BTreeMap::new(), 5), HealthVerdict::Healthy);
    assert!(matches!(judge(&policy(), &baseline, &now, &BTreeMap::new(), 4), HealthVerdict::Unhealthy(_)));
    let down = FleetObservation { objects: vec![], pods: PodsHealth { pods: 1, ready: 0, restarts: 0 } };
    assert_eq!(
        judge(&policy(), &baseline, &down, &BTreeMap::new(), 0),
        HealthVerdict::Unhealthy(vec!["no operator pod is ready".into()])
    );
}

#[test]
fn observed_generation_falls_back_to_the_condition_and_stalled_is_not_ready() {
    use super::object_health;
    let on_condition = serde_json::json!({"kind": "Prometheus", "metadata": {"name": "p", "namespace": "m", "generation": 3},
        "status": {"conditions": [{"type": "Available", "status": "True", "observedGeneration": 2}]}});
    let health = object_health(&on_condition, "Available");
    assert_eq!((health.observed_generation, health.ready), (Some(2), Some(true)));
    assert!(!health.caught_up());
    let stalled = serde_json::json!({"kind": "W", "metadata": {"name": "w", "generation": 1},
        "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"},
            {"type": "Stalled", "status": "True", "reason": "QuotaExceeded"}]}});
    let health = object_health(&stalled, "Ready");
    assert_eq!((health.ready, health.reason.as_deref()), (Some(false), Some("QuotaExceeded")));
}

#[test]
fn a_generation_written_as_a_string_is_read_as_its_number() {
    use serde_json::json;
    assert_eq!(generation_number(&json!(3)), Some(3));
    // Argo Rollouts writes its Rollouts' observedGeneration as a string.
    assert_eq!(generation_number(&json!("3")), Some(3));
    assert_eq!(generation_number(&json!("abc")), None);
    assert_eq!(generation_number(&json!(null)), None);
    let rollout = json!({"kind": "Rollout", "metadata": {"name": "web", "namespace": "a", "generation": 4},
        "status": {"observedGeneration": "3", "conditions": [{"type": "Healthy", "status": "True"}]}});
    let health = object_health(&rollout, "Healthy");
    assert_eq!((health.generation, health.observed_generation), (4, Some(3)));
}

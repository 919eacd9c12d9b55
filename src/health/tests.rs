use super::*;

#[test]
fn observed_generation_falls_back_to_the_condition_and_stalled_is_not_ready() {
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

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

//! What only the simulator has, through the real `kube::Client`: injected API errors that can change while it
//! runs (in process and over HTTP), and injected watch cuts that kube's watcher resumes across. Everything the
//! simulator shares with a real API server is tested against both in `cluster_api.rs`.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams, WatchParams};
use kube::Client;
use operator_upgrade::sim::{ErrorRule, FaultConfig, Scenario, Sim, SimHandle};
use serde_json::json;

async fn sim() -> SimHandle {
    Sim::start(Scenario { watch_history: 1000, ..Scenario::default() }).await.expect("sim starts")
}

fn config_map(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test]
async fn injected_faults_are_api_errors_and_can_change_while_running() {
    let sim = sim().await;
    let namespaces: Api<Namespace> = Api::all(sim.client());
    namespaces.get("default").await.unwrap();
    sim.set_faults(FaultConfig {
        seed: 1,
        errors: vec![ErrorRule {
            verb: Some("get".into()),
            resource: Some("namespaces".into()),
            code: 500,
            rate: 1.0,
            retry_after_seconds: 1,
        }],
        ..FaultConfig::default()
    });
    assert!(matches!(namespaces.get("default").await, Err(kube::Error::Api(s)) if s.code == 500));
    assert!(namespaces.list(&ListParams::default()).await.is_ok(), "only the named verb fails");
    sim.set_faults(FaultConfig {
        errors: vec![ErrorRule { verb: None, resource: None, code: 429, rate: 1.0, retry_after_seconds: 3 }],
        ..FaultConfig::default()
    });
    let mut config = kube::Config::new(sim.url().parse().unwrap());
    config.default_retry = false;
    let no_retry: Api<Namespace> = Api::all(Client::try_from(config).unwrap());
    assert!(matches!(no_retry.list(&ListParams::default()).await, Err(kube::Error::Api(s)) if s.code == 429));
    // kube's default client retries 429 (honouring Retry-After): with half the requests throttled it gets through.
    sim.set_faults(FaultConfig {
        seed: 3,
        errors: vec![ErrorRule { verb: None, resource: None, code: 429, rate: 0.5, retry_after_seconds: 0 }],
        ..FaultConfig::default()
    });
    for _ in 0..5 {
        namespaces.list(&ListParams::default()).await.unwrap();
    }
    sim.set_faults(FaultConfig::default());
    assert!(namespaces.get("default").await.is_ok());

    // The same switch over HTTP, for a simulator running as a separate process.
    let body = json!({"errors": [{"verb": "get", "resource": "namespaces", "code": 500, "rate": 1.0}]});
    let request = http::Request::put("/sim/faults").body(serde_json::to_vec(&body).unwrap()).unwrap();
    let echoed = sim.client().request_text(request).await.unwrap();
    assert!(echoed.contains("\"code\":500"), "{echoed}");
    assert!(matches!(namespaces.get("default").await, Err(kube::Error::Api(s)) if s.code == 500));
}

#[tokio::test]
async fn fault_settings_that_mean_nothing_are_refused_over_http() {
    let sim = sim().await;
    let put =
        |body: serde_json::Value| http::Request::put("/sim/faults").body(serde_json::to_vec(&body).unwrap()).unwrap();
    sim.client().request_text(put(json!({"latencyMs": 1}))).await.unwrap();
    let refused = sim.client().request_text(put(json!({"errors": [{"code": 0, "rate": 2.0}]}))).await;
    let Err(kube::Error::Api(status)) = refused else { panic!("accepted: {refused:?}") };
    assert_eq!(status.code, 400, "{status:?}");
    assert!(status.message.contains("errors[0].code: 0 is not an error"), "{}", status.message);
    assert!(status.message.contains("errors[0].rate: 2 is not a rate"), "{}", status.message);
    // The settings in force stay.
    let current = sim.client().request_text(http::Request::get("/sim/faults").body(Vec::new()).unwrap()).await.unwrap();
    assert!(current.contains("\"latencyMs\":1") && current.contains("\"errors\":[]"), "{current}");
}

#[tokio::test]
async fn injected_watch_cuts_end_streams_and_clients_resume() {
    let sim = sim().await;
    sim.set_faults(FaultConfig { watch_cut_after_seconds: Some(1), ..FaultConfig::default() });
    let maps: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let started = std::time::Instant::now();
    // Only this test's maps: every namespace also holds kube-root-ca.crt.
    let stream = maps.watch(&WatchParams::default().labels("cut=yes").timeout(30), "0").await.unwrap();
    let events: Vec<_> = stream.collect().await;
    assert!(events.is_empty());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_millis(900) && elapsed < std::time::Duration::from_secs(5),
        "{elapsed:?}"
    );

    // kube's watcher relists and resumes across the cuts, seeing every change.
    let watcher = kube::runtime::watcher(maps.clone(), kube::runtime::watcher::Config::default().labels("cut=yes"));
    let seen = tokio::spawn(async move {
        use kube::runtime::WatchStreamExt;
        watcher
            .applied_objects()
            .map_ok(|c: ConfigMap| c.metadata.name.unwrap())
            .filter_map(|r| async { r.ok() })
            .take(3)
            .collect::<Vec<_>>()
            .await
    });
    for name in ["x", "y", "z"] {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        maps.create(&PostParams::default(), &config_map(name, json!({"cut": "yes"}))).await.unwrap();
    }
    let seen =
        tokio::time::timeout(std::time::Duration::from_secs(20), seen).await.expect("the watcher keeps up").unwrap();
    assert_eq!(seen, ["x", "y", "z"]);
}

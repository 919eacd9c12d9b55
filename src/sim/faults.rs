//! Seeded, reproducible fault injection: per verb and resource error rates (409, 429 with Retry-After,
//! 500), added latency, watch streams cut after a time, and a cluster-wide failure of every simulated
//! operator's reconciles (`operatorsFail`). Changeable while running through the handle or the admin
//! endpoint `PUT /sim/faults`.
//!
//! [`FaultConfig`] holds the request faults; [`FaultSettings`] is what the scenario file and the admin
//! endpoint read: the same fields plus `operatorsFail` (kept apart so code building a `FaultConfig`
//! field by field keeps compiling).

use super::errors::ApiError;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What to inject. The same seed and the same request sequence give the same faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultConfig {
    /// Seed of the random choices.
    #[serde(default)]
    pub seed: u64,
    /// Error rules, checked in order; the first that fires wins.
    #[serde(default)]
    pub errors: Vec<ErrorRule>,
    /// Latency added to every request, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Watch streams are ended after this many seconds (clients must resume).
    #[serde(default)]
    pub watch_cut_after_seconds: Option<u64>,
}

/// The faults as the scenario file (`faults:`) and `PUT /sim/faults` spell them: the request faults of
/// [`FaultConfig`] plus `operatorsFail`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSettings {
    /// Seed of the random choices.
    #[serde(default)]
    pub seed: u64,
    /// Error rules, checked in order; the first that fires wins.
    #[serde(default)]
    pub errors: Vec<ErrorRule>,
    /// Latency added to every request, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Watch streams are ended after this many seconds (clients must resume).
    #[serde(default)]
    pub watch_cut_after_seconds: Option<u64>,
    /// While true every simulated operator's reconciles fail (Ready=False, reason `ClusterProblem`, a
    /// Warning event), whatever its image: a problem of the cluster, not of a release.
    #[serde(default)]
    pub operators_fail: bool,
}

impl FaultSettings {
    /// The request faults and the operator failure switch.
    pub fn split(self) -> (FaultConfig, bool) {
        let FaultSettings { seed, errors, latency_ms, watch_cut_after_seconds, operators_fail } = self;
        (FaultConfig { seed, errors, latency_ms, watch_cut_after_seconds }, operators_fail)
    }

    /// Request faults with the operator failure switch.
    pub fn join(config: FaultConfig, operators_fail: bool) -> FaultSettings {
        let FaultConfig { seed, errors, latency_ms, watch_cut_after_seconds } = config;
        FaultSettings { seed, errors, latency_ms, watch_cut_after_seconds, operators_fail }
    }
}

impl From<FaultConfig> for FaultSettings {
    fn from(config: FaultConfig) -> FaultSettings {
        FaultSettings::join(config, false)
    }
}

/// Fail a share of matching requests with an HTTP error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorRule {
    /// The verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`); any when absent.
    #[serde(default)]
    pub verb: Option<String>,
    /// The plural resource (`deployments`, `widgets`); any when absent.
    #[serde(default)]
    pub resource: Option<String>,
    /// 409, 429 or 500.
    pub code: u16,
    /// Share of matching requests that fail, 0.0 to 1.0.
    pub rate: f64,
    /// Retry-After seconds for 429.
    #[serde(default = "one")]
    pub retry_after_seconds: u64,
}

fn one() -> u64 {
    1
}

/// The live fault settings with their random source.
pub struct Faults {
    state: Mutex<(FaultConfig, fastrand::Rng)>,
    operators_fail: AtomicBool,
}

impl Faults {
    /// Faults as configured.
    pub fn new(config: FaultConfig) -> Faults {
        let rng = fastrand::Rng::with_seed(config.seed);
        Faults { state: Mutex::new((config, rng)), operators_fail: AtomicBool::new(false) }
    }

    /// Faults as the scenario file or the admin endpoint give them.
    pub fn from_settings(settings: FaultSettings) -> Faults {
        let (config, operators_fail) = settings.split();
        let faults = Faults::new(config);
        faults.set_operators_fail(operators_fail);
        faults
    }

    /// Replaces the request faults and the operator failure switch.
    pub fn set_settings(&self, settings: FaultSettings) {
        let (config, operators_fail) = settings.split();
        self.set(config);
        self.set_operators_fail(operators_fail);
    }

    /// The current settings, the operator failure switch included.
    pub fn settings(&self) -> FaultSettings {
        FaultSettings::join(self.get(), self.operators_fail())
    }

    /// Turns the cluster-wide failure of every operator's reconciles on or off.
    pub fn set_operators_fail(&self, fail: bool) {
        self.operators_fail.store(fail, Ordering::Relaxed);
    }

    /// Whether every operator's reconciles fail now.
    pub fn operators_fail(&self) -> bool {
        self.operators_fail.load(Ordering::Relaxed)
    }

    /// Replaces the request faults and reseeds (the operator failure switch is left as it is).
    pub fn set(&self, config: FaultConfig) {
        let rng = fastrand::Rng::with_seed(config.seed);
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = (config, rng);
    }

    /// The current configuration.
    pub fn get(&self) -> FaultConfig {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// The latency to add and the error to return (if any) for one request.
    pub fn decide(&self, verb: &str, resource: &str) -> (Duration, Option<ApiError>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (config, rng) = &mut *state;
        let latency = Duration::from_millis(config.latency_ms);
        for rule in &config.errors {
            let applies = rule.verb.as_deref().is_none_or(|v| v == verb)
                && rule.resource.as_deref().is_none_or(|r| r == resource);
            if applies && rng.f64() < rule.rate {
                let error = match rule.code {
                    409 => ApiError::conflict("injected fault: conflict"),
                    429 => ApiError::too_many_requests(rule.retry_after_seconds),
                    code => ApiError { code, ..ApiError::internal("injected fault: internal error") },
                };
                return (latency, Some(error));
            }
        }
        (latency, None)
    }

    /// How long a watch stream may run before it is cut.
    pub fn watch_cut_after(&self) -> Option<Duration> {
        self.get().watch_cut_after_seconds.map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let config = FaultConfig {
            seed: 7,
            errors: vec![ErrorRule {
                verb: Some("get".into()),
                resource: None,
                code: 500,
                rate: 0.5,
                retry_after_seconds: 1,
            }],
            ..FaultConfig::default()
        };
        let run = || {
            let faults = Faults::new(config.clone());
            (0..64).map(|_| faults.decide("get", "pods").1.is_some()).collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        assert!(first.iter().any(|f| *f) && first.iter().any(|f| !*f));
        assert!(Faults::new(config).decide("list", "pods").1.is_none(), "other verbs are untouched");
    }

    #[test]
    fn operators_fail_is_read_with_the_request_faults_and_switchable() {
        let settings: FaultSettings = serde_norway::from_str("{latencyMs: 5, operatorsFail: true}").unwrap();
        let faults = Faults::from_settings(settings.clone());
        assert!(faults.operators_fail());
        assert_eq!(faults.get().latency_ms, 5);
        assert_eq!(faults.settings(), settings);
        faults.set(FaultConfig::default());
        assert!(faults.operators_fail(), "replacing the request faults keeps the switch");
        faults.set_settings(FaultSettings::default());
        assert!(!faults.operators_fail());
        assert!(serde_norway::from_str::<FaultSettings>("{operatorsFial: true}").is_err());
    }
}

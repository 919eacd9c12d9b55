//! Every cluster-facing test, in one binary so that its tests wait side by side: the API through
//! kube::Client and kubectl, the simulator's verbs and controllers, the operators in the test bed, the
//! validator's oracle, gates, the engine end to end, the fleet, the canary and what drives it (killed between
//! writes, every operator's plan, the demo, run reports, rehearsals), Helm, and the real operators. Most
//! bodies run on the simulator and on the real control plane (`on_both_clusters!`).
//!
//! Most of these tests wait (analysis intervals, operators, the API server) rather than compute, so they
//! run side by side (`RUST_TEST_THREADS` in `.cargo/config.toml`); tests that change the same
//! cluster-wide objects on the real control plane take turns through a lock of their own.

#[macro_use]
#[path = "common/mod.rs"]
mod common;

#[path = "analysis_resume.rs"]
mod analysis_resume;
#[path = "canary.rs"]
mod canary;
#[path = "canary_crash.rs"]
mod canary_crash;
#[path = "canary_fleet.rs"]
mod canary_fleet;
#[path = "canary_plans.rs"]
mod canary_plans;
#[path = "canary_real.rs"]
mod canary_real;
#[path = "cluster_api.rs"]
mod cluster_api;
#[path = "demo.rs"]
mod demo;
#[path = "engine.rs"]
mod engine;
#[path = "fleet.rs"]
mod fleet;
#[path = "gates.rs"]
mod gates;
#[path = "helm_apply.rs"]
mod helm_apply;
#[path = "helm_promotion.rs"]
mod helm_promotion;
#[path = "helm_release.rs"]
mod helm_release;
#[path = "journal_chunks.rs"]
mod journal_chunks;
#[path = "kubectl.rs"]
mod kubectl;
#[path = "migration_resume.rs"]
mod migration_resume;
#[path = "operators.rs"]
mod operators;
#[path = "oracle.rs"]
mod oracle;
#[path = "real_operators.rs"]
mod real_operators;
#[path = "rehearse.rs"]
mod rehearse;
#[path = "sim_api.rs"]
mod sim_api;
#[path = "sim_controllers.rs"]
mod sim_controllers;
#[path = "status_report.rs"]
mod status_report;

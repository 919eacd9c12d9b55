//! The cluster-facing tests but the canary's: the API through kube::Client and kubectl, the simulator's
//! verbs and controllers, the operators in the test bed, the validator's oracle, gates, the engine end to end
//! and the fleet. Most bodies run on the simulator and on the real control plane (`on_both_clusters!`).

#[macro_use]
#[path = "common/mod.rs"]
mod common;

#[path = "cluster_api.rs"]
mod cluster_api;
#[path = "engine.rs"]
mod engine;
#[path = "fleet.rs"]
mod fleet;
#[path = "gates.rs"]
mod gates;
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
#[path = "sim_api.rs"]
mod sim_api;
#[path = "sim_controllers.rs"]
mod sim_controllers;

//! The canary and what drives it end to end: the demo's canary promoted and rolled back, killed between
//! writes, every operator's scoping, on the real control plane, the demo itself, run reports and rehearsals.
//! The slowest tests (analysis intervals), in a binary of their own.

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
#[path = "demo.rs"]
mod demo;
#[path = "helm_apply.rs"]
mod helm_apply;
#[path = "real_operators.rs"]
mod real_operators;
#[path = "rehearse.rs"]
mod rehearse;
#[path = "status_report.rs"]
mod status_report;

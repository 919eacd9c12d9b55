//! The canary of an operator: the objects split into cohorts (canary, baseline, stable), a Deployment
//! scoped to each, measurements of each cohort every interval, and a judge comparing the canary with a
//! fresh baseline. Drawing, scoping and judging are pure functions; measuring reads the cluster.

pub mod access;
pub mod cohort;
pub mod judge;
pub mod measure;
pub mod scoping;

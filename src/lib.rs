//! `operator-upgrade`: plan and run safe upgrades of Kubernetes operators.
//!
//! Data flows one way: [`manifest`] reads releases, [`schema`] diffs CRDs into [`findings`], [`plan`]
//! collects them, [`report`] renders them, and [`cli`] ties the command line to it all.

#![warn(missing_docs)]

pub mod canary;
pub mod cli;
pub mod cluster;
pub mod demo;
pub mod engine;
pub mod findings;
pub mod fleet;
pub mod gates;
pub mod health;
pub mod helm;
pub mod manifest;
pub mod operator;
pub mod plan;
pub mod report;
pub mod schema;
pub mod sim;
pub mod testbed;

//! What turns a bare control plane into a test bed for the tool: the API server and controllers are real
//! (`controlplane/run.sh`), but nothing runs Pods, so a [`node_agent`] stands in for the kubelet, and runs
//! the scenario's operator images as real controllers ([`scripted_operator`]), electing their leader on
//! real Leases ([`leader_election`]).
//! A test and demo aid like [`crate::sim`], never part of an upgrade.

pub mod leader_election;
pub mod node_agent;
pub mod scripted_operator;

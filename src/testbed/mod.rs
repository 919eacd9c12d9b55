//! What turns a bare control plane into a test bed for the tool: the API server and controllers are real
//! (`controlplane/run.sh`), but nothing runs Pods, so a [`node_agent`] stands in for the kubelet, and runs
//! the scenario's operator images as real controllers ([`scripted_operator`]), electing their leader on
//! real Leases ([`leader_election`]). A Pod whose image is a real operator binary built from its Go module
//! (`controlplane/build-operators.sh`) runs that binary as a process in a sandbox of its own
//! ([`real_container`], [`pod_sandbox`], [`container_spec`], [`probes`]), as a kubelet would run it.
//! A test and demo aid like [`crate::sim`], never part of an upgrade.

pub mod container_spec;
pub mod leader_election;
pub mod node_agent;
pub mod pod_sandbox;
pub mod probes;
pub mod real_container;
pub mod scripted_operator;

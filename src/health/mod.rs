//! Health of the objects an operator reconciles, and of the operator's pods, observed from the cluster in
//! small read-only functions. The analysis judges them (`canary::judge`, with or without a canary); the
//! run's start and its rollback read them too.

mod observe;

pub use observe::{generation_number, object_health, observe_fleet, observe_pods, wait_until_ready, ReadyWait};

use serde::Serialize;

/// One custom resource's health as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectHealth {
    /// `Kind namespace/name`.
    pub object: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.observedGeneration`, when the operator writes one.
    pub observed_generation: Option<i64>,
    /// The status of the policy's condition (`Ready`): Some(true) when `True`.
    pub ready: Option<bool>,
    /// The condition's reason or message when it is not `True`.
    pub reason: Option<String>,
}

impl ObjectHealth {
    /// Whether the operator has seen the object's latest spec.
    pub fn caught_up(&self) -> bool {
        self.observed_generation.is_none_or(|observed| observed >= self.generation)
    }
}

/// The operator's pods as observed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PodsHealth {
    /// Pods of the operator Deployment.
    pub pods: u32,
    /// Of those, the Ready ones.
    pub ready: u32,
    /// Container restarts summed over the pods.
    pub restarts: u32,
}

#[cfg(test)]
mod tests;

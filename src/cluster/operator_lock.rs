//! The Lease that guards every run on one operator: one per operator (its namespace and Deployment), not per
//! plan, so two runs on the same operator, of the same plan or of different plans, can never interleave their
//! writes. The holder renews it as the run's heartbeat; `status` reads it to tell a live run from a dead one.

use super::journal_store::{short_name, PLAN_ANNOTATION};
use super::retry::{delete_if_present, with_race_retries, with_retries};
use super::{ClusterError, FIELD_MANAGER};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, DeleteParams, PostParams};
use std::collections::BTreeMap;

/// The Lease of one operator.
#[derive(Clone)]
pub struct OperatorLock {
    client: kube::Client,
    namespace: String,
    deployment: String,
}

impl OperatorLock {
    /// The lock of the operator Deployment `deployment` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, deployment: &str) -> OperatorLock {
        OperatorLock { client, namespace: namespace.to_owned(), deployment: deployment.to_owned() }
    }

    /// The lock of a journal's operator, written `namespace/deployment`; None when it is not in that form.
    pub fn of_operator(client: kube::Client, operator: &str) -> Option<OperatorLock> {
        let (namespace, deployment) = operator.split_once('/')?;
        (!namespace.is_empty() && !deployment.is_empty()).then(|| OperatorLock::new(client, namespace, deployment))
    }

    /// The namespace the Lease is in (the operator's).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The operator's Deployment.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// The Lease's name.
    pub fn name(&self) -> String {
        short_name("operator-upgrade-lock-", &self.deployment)
    }

    fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The Lease as it is now.
    pub async fn observe(&self) -> Result<Option<LeaseObservation>, ClusterError> {
        let name = self.name();
        let api = self.leases();
        let lease = with_retries(|| api.get_opt(&name))
            .await
            .map_err(|e| ClusterError::api(format!("cannot read the Lease {}/{name}", self.namespace), e))?;
        Ok(lease.map(|lease| {
            let plan = lease.metadata.annotations.as_ref().and_then(|a| a.get(PLAN_ANNOTATION)).cloned();
            let spec = lease.spec.unwrap_or_default();
            LeaseObservation {
                holder: spec.holder_identity.unwrap_or_default(),
                plan,
                renewed: spec.renew_time.map(|t| t.0),
                duration_seconds: spec.lease_duration_seconds.unwrap_or(0),
                resource_version: lease.metadata.resource_version.unwrap_or_default(),
            }
        }))
    }

    /// Writes the Lease as held by `holder` for `plan`, renewed now: creates it, or replaces the version
    /// observed.
    pub async fn hold(
        &self,
        holder: &str,
        plan: &str,
        observed: Option<&LeaseObservation>,
    ) -> Result<(), ClusterError> {
        let name = self.name();
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                annotations: Some(BTreeMap::from([(PLAN_ANNOTATION.to_owned(), plan.to_owned())])),
                resource_version: observed.map(|o| o.resource_version.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.to_owned()),
                lease_duration_seconds: Some(LEASE_SECONDS),
                renew_time: Some(MicroTime(jiff::Timestamp::now())),
                ..LeaseSpec::default()
            }),
        };
        let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
        let api = self.leases();
        match observed {
            None => with_race_retries(|| api.create(&params, &lease)).await,
            Some(_) => with_retries(|| api.replace(&name, &params, &lease)).await,
        }
        .map(|_| ())
        .map_err(|e| ClusterError::api(format!("cannot hold the Lease {}/{name}", self.namespace), e))
    }

    /// Removes the Lease (the run ended or paused; nobody holds the operator).
    pub async fn release(&self) -> Result<(), ClusterError> {
        let name = self.name();
        let api = self.leases();
        delete_if_present(&api, &name, &DeleteParams::default())
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::api(format!("cannot release the Lease {}/{name}", self.namespace), e))
    }
}

/// How long a Lease lasts without renewal; the holder renews it every third of that.
pub const LEASE_SECONDS: i32 = 15;

/// The journal's Lease as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseObservation {
    /// Who holds it (a run's holder identity).
    pub holder: String,
    /// The plan of the run that holds it.
    pub plan: Option<String>,
    /// When it was last renewed.
    pub renewed: Option<jiff::Timestamp>,
    /// How long it lasts without renewal.
    pub duration_seconds: i32,
    /// Its resourceVersion, to replace exactly this version.
    pub resource_version: String,
}

impl LeaseObservation {
    /// Whether the run `run_id` holds it (holders are `run@host/pid`).
    pub fn held_by_run(&self, run_id: &str) -> bool {
        self.holder.split_once('@').is_some_and(|(run, _)| run == run_id)
    }

    /// Whether its holder stopped renewing it (dead or gone) at `now`.
    pub fn is_stale(&self, now: jiff::Timestamp) -> bool {
        match self.renewed {
            None => true,
            Some(renewed) => {
                let age = now.duration_since(renewed);
                age > jiff::SignedDuration::from_secs(i64::from(self.duration_seconds.max(1)))
            }
        }
    }
}

/// What a run does about the Lease it finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseDecision {
    /// Nobody holds it: create it.
    Take,
    /// A run that stopped renewing holds it (crashed, killed): take it over.
    TakeOver {
        /// The previous holder.
        from: String,
    },
    /// Another live run holds it: refuse.
    Refuse {
        /// The holder.
        holder: String,
    },
}

/// Decides from the observed Lease whether `me` may take it; `holder_gone` says whether its holder is known
/// to be dead (a process of this machine that no longer exists), so a killed run is resumed at once.
pub fn decide_lease(
    observed: Option<&LeaseObservation>,
    me: &str,
    now: jiff::Timestamp,
    holder_gone: bool,
) -> LeaseDecision {
    match observed {
        None => LeaseDecision::Take,
        Some(lease) if lease.holder == me || holder_gone || lease.is_stale(now) => {
            LeaseDecision::TakeOver { from: lease.holder.clone() }
        }
        Some(lease) => LeaseDecision::Refuse { holder: lease.holder.clone() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed_seconds_ago: i64) -> LeaseObservation {
        LeaseObservation {
            holder: holder.into(),
            plan: None,
            renewed: Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(renewed_seconds_ago)),
            duration_seconds: 15,
            resource_version: "1".into(),
        }
    }

    #[test]
    fn a_live_holder_is_refused_a_stale_one_taken_over() {
        let now = jiff::Timestamp::now();
        assert_eq!(decide_lease(None, "me", now, false), LeaseDecision::Take);
        assert_eq!(
            decide_lease(Some(&lease("other", 2)), "me", now, false),
            LeaseDecision::Refuse { holder: "other".into() }
        );
        assert_eq!(
            decide_lease(Some(&lease("other", 60)), "me", now, false),
            LeaseDecision::TakeOver { from: "other".into() }
        );
        assert_eq!(
            decide_lease(Some(&lease("me", 2)), "me", now, false),
            LeaseDecision::TakeOver { from: "me".into() }
        );
        assert_eq!(
            decide_lease(Some(&lease("other", 2)), "me", now, true),
            LeaseDecision::TakeOver { from: "other".into() }
        );
    }
}

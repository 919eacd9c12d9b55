//! Leader election of the test bed's scripted operators on real `coordination.k8s.io/v1` Leases, the way
//! client-go's `leaderelection` (under controller-runtime's manager) does it: a candidate takes the Lease in
//! its pod's namespace when nobody holds it, or its holder stopped renewing it for `leaseDurationSeconds`;
//! the holder renews it every [`RENEW_EVERY`] and, as controller-runtime's `LeaderElectionReleaseOnCancel`,
//! clears `holderIdentity` when it stops, so a waiting pod takes over within [`RETRY_EVERY`] instead of a
//! lease duration. Writes carry the Lease's resourceVersion, so two candidates never both win.
//!
//! The lease's name is read from the container as the simulator reads it ([`lease_name`]): the scenario's
//! `leaseNameArg` flag, else its `leaseNameEnv` variable, else `defaultLeaseName`; `--<disableArg>=false`
//! turns election off. So a second Deployment naming the same lease waits and reconciles nothing, as on the
//! simulator and a real cluster.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use kube::Client;
use std::time::Duration;

/// How often a waiting candidate tries to take the Lease (client-go's retry period is 2 s; shorter here so
/// a hand-over after the holder released the Lease is prompt).
pub const RETRY_EVERY: Duration = Duration::from_millis(100);
/// How often the holder renews the Lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(2);
/// `leaseDurationSeconds` as controller-runtime writes it: a holder that has not renewed for this long
/// has lost the Lease.
pub const LEASE_SECONDS: i32 = 15;
/// How long the holder keeps leading while renewals fail (controller-runtime's renew deadline).
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// The Lease a container elects its leader on; None when its image elects none or the pod turns election
/// off. The simulator's own rule, so both clusters name the same lease.
pub(crate) use crate::sim::controllers::operators::lease_name;

/// One candidate for one Lease: the pod (its name is the identity) and the Lease it names.
pub struct Candidate {
    leases: Api<Lease>,
    lease: String,
    identity: String,
}

impl Candidate {
    /// A candidate `identity` for the Lease `lease` in `namespace`.
    pub fn new(client: Client, namespace: &str, lease: &str, identity: &str) -> Candidate {
        Candidate { leases: Api::namespaced(client, namespace), lease: lease.to_owned(), identity: identity.to_owned() }
    }

    /// The Lease's name.
    pub fn lease(&self) -> &str {
        &self.lease
    }

    /// Waits until this candidate holds the Lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(error) => tracing::debug!(%error, lease = self.lease, "cannot take the lease yet"),
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }

    /// Renews the held Lease until a renewal finds another holder, or renewals failed for
    /// [`RENEW_DEADLINE`]: then leadership is lost and this returns.
    pub async fn keep_renewing(&self) {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::warn!(lease = self.lease, identity = self.identity, "another holder took the lease");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, lease = self.lease, "cannot renew the lease");
                    if last_renewed.elapsed() >= RENEW_DEADLINE {
                        return;
                    }
                }
            }
        }
    }

    /// Clears `holderIdentity` when this candidate still holds the Lease (a failed write is left to expire).
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.leases.get_opt(&self.lease).await else { return };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        if let Err(error) = self.leases.replace(&self.lease, &PostParams::default(), &lease).await {
            tracing::debug!(%error, lease = self.lease, "cannot release the lease; it expires");
        }
    }

    /// Takes the Lease when it is free or expired, or renews it when held: whether this candidate holds it
    /// now. A write conflict (another candidate was faster) is not holding it.
    async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = jiff::Timestamp::now();
        let Some(mut lease) = self.leases.get_opt(&self.lease).await? else {
            let lease = Lease {
                metadata: kube::api::ObjectMeta { name: Some(self.lease.clone()), ..Default::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(LEASE_SECONDS),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return conflict_is_false(self.leases.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if !can_take(spec, &self.identity, now) {
            return Ok(false);
        }
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if holder.as_deref() != Some(self.identity.as_str()) {
            spec.acquire_time = Some(MicroTime(now));
            if holder.is_some() {
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(LEASE_SECONDS);
        spec.renew_time = Some(MicroTime(now));
        conflict_is_false(self.leases.replace(&self.lease, &PostParams::default(), &lease).await)
    }
}

/// Whether `identity` may write itself as the holder at `now`: it holds the Lease, nobody does, or the
/// holder has not renewed it within its duration.
pub fn can_take(spec: &LeaseSpec, identity: &str, now: jiff::Timestamp) -> bool {
    let Some(holder) = spec.holder_identity.as_deref().filter(|h| !h.is_empty()) else { return true };
    if holder == identity {
        return true;
    }
    let duration = jiff::SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS)));
    spec.renew_time.as_ref().or(spec.acquire_time.as_ref()).is_none_or(|renewed| renewed.0 + duration < now)
}

fn conflict_is_false(result: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_taken_when_free_expired_or_already_held() {
        let now = jiff::Timestamp::now();
        let held = |holder: Option<&str>, renewed_secs_ago: i64| LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(now - jiff::SignedDuration::from_secs(renewed_secs_ago))),
            ..LeaseSpec::default()
        };
        assert!(can_take(&held(None, 1), "me", now), "nobody holds it");
        assert!(can_take(&held(Some(""), 1), "me", now), "released");
        assert!(can_take(&held(Some("me"), 1), "me", now), "renewal");
        assert!(!can_take(&held(Some("other"), 1), "me", now), "another holder renews it");
        assert!(can_take(&held(Some("other"), 16), "me", now), "another holder stopped renewing it");
    }
}

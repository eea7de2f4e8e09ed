//! Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
//! the holder renews `spec.renewTime` every [`RETRY_PERIOD`]; a candidate takes the Lease over
//! once it has seen the same record unchanged for `leaseDurationSeconds` (measured on its own
//! clock, so clock skew between servers does not matter); every write carries the
//! resourceVersion it read, so two candidates never both win.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::chrono::Utc;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use tokio::time::Instant;

use crate::shared::is_status;
use crate::ControllerError;

/// The Lease's name.
pub const LEASE_NAME: &str = "kapi-controller-manager";
/// The Lease's namespace.
pub const LEASE_NAMESPACE: &str = "kube-system";
/// How long a Lease is valid after its last renewal (upstream's default).
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long the leader keeps trying to renew before it gives up leading (upstream's default).
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often candidates try and the leader renews (upstream's default).
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// The file in the data dir holding this server's stable part of its identity.
pub const IDENTITY_FILE: &str = "controller-manager.id";

/// `HOSTNAME_ID`, where ID is kept in the data dir: a restarted server is the same candidate
/// and resumes its own Lease at once instead of waiting for it to expire.
pub fn identity(data_dir: &Path) -> Result<String, ControllerError> {
    let path = data_dir.join(IDENTITY_FILE);
    let id = match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => id.trim().to_string(),
        Ok(_) | Err(_) => {
            let id = uuid::Uuid::new_v4().to_string();
            std::fs::write(&path, &id).map_err(|source| ControllerError::Io {
                path: path.clone(),
                source,
            })?;
            id
        }
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kapi".into());
    Ok(format!("{host}_{id}"))
}

/// One candidate for the controller-manager Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    lease: &'static str,
    identity: String,
    /// The last record seen held by someone else, and when it was first seen.
    observed: std::sync::Mutex<Option<(LeaseSpec, Instant)>>,
}

/// What one attempt found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// This candidate holds the Lease now.
    Leading,
    /// Someone else holds it.
    Follower,
}

impl LeaderElector {
    /// A candidate named `identity` for [`LEASE_NAMESPACE`]/[`LEASE_NAME`].
    pub fn new(client: kube::Client, identity: String) -> Self {
        Self::for_lease(client, LEASE_NAME, identity)
    }

    /// A candidate for another Lease in [`LEASE_NAMESPACE`] (the scheduler's `kube-scheduler`).
    pub fn for_lease(client: kube::Client, lease: &'static str, identity: String) -> Self {
        Self {
            api: Api::namespaced(client, LEASE_NAMESPACE),
            lease,
            identity,
            observed: std::sync::Mutex::new(None),
        }
    }

    /// This candidate's holder identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Returns once this candidate holds the Lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Leading) => return,
                Ok(Attempt::Follower) => {}
                Err(e) => tracing::debug!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(RETRY_PERIOD).await;
        }
    }

    /// Renews the Lease while it is ours; returns when it is lost (taken over, or not renewed
    /// within [`RENEW_DEADLINE`]).
    pub async fn hold(&self) {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(RETRY_PERIOD).await;
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Leading) => renewed = Instant::now(),
                Ok(Attempt::Follower) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "renewing the controller-manager lease failed");
                    if renewed.elapsed() >= RENEW_DEADLINE {
                        return;
                    }
                }
            }
        }
    }

    async fn try_acquire_or_renew(&self) -> Result<Attempt, kube::Error> {
        let now = MicroTime(Utc::now());
        let duration = i32::try_from(LEASE_DURATION.as_secs()).unwrap_or(15);
        let Some(mut lease) = self.api.get_opt(self.lease).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.lease.into()),
                    namespace: Some(LEASE_NAMESPACE.into()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => {
                    tracing::info!(
                        identity = self.identity,
                        "acquired the controller-manager lease"
                    );
                    Ok(Attempt::Leading)
                }
                Err(e) if is_status(&e, 409) => Ok(Attempt::Follower),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let mine = holder == self.identity;
        if !mine && !holder.is_empty() && !self.expired(&spec) {
            return Ok(Attempt::Follower);
        }
        let mut next = spec.clone();
        if !mine {
            next.holder_identity = Some(self.identity.clone());
            next.acquire_time = Some(now.clone());
            next.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        next.lease_duration_seconds = Some(duration);
        next.renew_time = Some(now);
        lease.spec = Some(next);
        match self
            .api
            .replace(self.lease, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                if !mine {
                    tracing::info!(
                        identity = self.identity,
                        previous = holder,
                        "took over the controller-manager lease"
                    );
                }
                Ok(Attempt::Leading)
            }
            Err(e) if is_status(&e, 409) => Ok(Attempt::Follower),
            Err(e) => Err(e),
        }
    }

    /// Whether someone else's record has stayed unchanged for its whole lease duration, as
    /// seen from here.
    fn expired(&self, spec: &LeaseSpec) -> bool {
        let Ok(mut observed) = self.observed.lock() else {
            return false;
        };
        let now = Instant::now();
        let since = match observed.as_ref() {
            Some((seen, at)) if seen == spec => *at,
            _ => {
                *observed = Some((spec.clone(), now));
                now
            }
        };
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(LEASE_DURATION, Duration::from_secs);
        now.duration_since(since) >= duration
    }
}

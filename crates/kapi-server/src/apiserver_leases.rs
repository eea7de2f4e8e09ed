//! Which API servers share the store, for the `kubernetes` Service's endpoints.
//!
//! Servers on one etcd each keep a Lease in kube-system (upstream's identity label, this
//! server's address in an annotation) renewed every [`RENEW_EVERY`], and each writes the
//! `kubernetes` Endpoints and EndpointSlice as the addresses of the live Leases, as
//! kube-apiserver's lease endpoint reconciler does with its master leases. A server that stops
//! renewing leaves the endpoints once its Lease has expired, so pods reach the servers that
//! are left. With the embedded store only one server can run, and none of this is needed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use kapi_api::resources;
use kapi_api::status::ApiError;
use serde_json::{json, Value};

use crate::registry::{Registry, WriteOptions};

/// Upstream's label for API server identity Leases.
pub const IDENTITY_LABEL: &str = "apiserver.kubernetes.io/identity";
/// Where a Lease holds its server's address (`IP:port`).
pub const ADDRESS_ANNOTATION: &str = "kapi.dev/advertise-address";
/// How long a Lease stays live without renewal (upstream's master lease TTL).
const LEASE_SECONDS: i64 = 15;
/// How often each server renews its Lease and rewrites the endpoints.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

fn leases() -> Result<&'static resources::ResourceDef, ApiError> {
    resources::find("coordination.k8s.io", "v1", "leases")
        .ok_or_else(|| ApiError::internal("leases not served"))
}

/// This server's Lease name: from its address, so that a restarted server takes its own
/// Lease back instead of leaving a stale one beside a new one.
fn lease_name(ip: &str, port: u16) -> String {
    let id: String = format!("{ip}-{port}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("kube-apiserver-{id}")
}

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..Default::default()
    }
}

/// Creates or renews this server's Lease.
pub async fn renew(registry: &Registry, ip: &str, port: u16) -> Result<(), ApiError> {
    let def = leases()?;
    let name = lease_name(ip, port);
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    let spec = json!({
        "holderIdentity": name,
        "leaseDurationSeconds": LEASE_SECONDS,
        "renewTime": now,
    });
    match registry.get_value(def, Some("kube-system"), &name) {
        Ok((mut lease, _)) => {
            lease["spec"] = spec;
            registry
                .update(def, Some("kube-system"), &name, "", lease, &opts())
                .await
                .map(|_| ())
        }
        Err(_) => {
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {
                    "name": name, "namespace": "kube-system",
                    "labels": {IDENTITY_LABEL: "kube-apiserver"},
                    "annotations": {ADDRESS_ANNOTATION: format!("{ip}:{port}")},
                },
                "spec": spec,
            });
            registry
                .create(def, Some("kube-system"), lease, &opts())
                .await
                .map(|_| ())
        }
    }
}

/// Whether a Lease was renewed within its duration of `now`.
fn live(lease: &Value, now: DateTime<Utc>) -> bool {
    let renewed = lease
        .pointer("/spec/renewTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let seconds = lease
        .pointer("/spec/leaseDurationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(LEASE_SECONDS);
    renewed.is_some_and(|r| r.with_timezone(&Utc) + chrono::Duration::seconds(seconds) > now)
}

/// The addresses of the live servers, sorted, `own` always among them.
pub fn live_addresses(registry: &Registry, own: &str) -> Result<Vec<String>, ApiError> {
    let now = Utc::now();
    let mut ips: Vec<String> = registry
        .list_values(leases()?)
        .into_iter()
        .filter(|l| l.pointer("/metadata/namespace").and_then(Value::as_str) == Some("kube-system"))
        .filter(|l| {
            l.pointer("/metadata/labels")
                .and_then(|labels| labels.get(IDENTITY_LABEL))
                .is_some()
        })
        .filter(|l| live(l, now))
        .filter_map(|l| {
            let address = l
                .pointer("/metadata/annotations")?
                .get(ADDRESS_ANNOTATION)?
                .as_str()?;
            let (ip, _) = address.rsplit_once(':')?;
            Some(ip.trim_matches(['[', ']']).to_string())
        })
        .collect();
    ips.push(own.to_string());
    ips.sort();
    ips.dedup();
    Ok(ips)
}

/// Renews this server's Lease and rewrites the endpoints every [`RENEW_EVERY`], for as long
/// as the server runs.
pub fn spawn(registry: Arc<Registry>, ip: String, port: u16) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(RENEW_EVERY);
        loop {
            ticks.tick().await;
            let done = async {
                renew(&registry, &ip, port).await?;
                let ips = live_addresses(&registry, &ip)?;
                crate::bootstrap::kubernetes_endpoints(&registry, &ips, port).await
            };
            if let Err(e) = done.await {
                // Another server wrote at the same moment, or etcd is away: the next tick
                // tries again.
                tracing::debug!(error = %e.message, "could not renew the API server lease");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_live_for_its_duration_after_renewal() {
        let now = Utc::now();
        let renewed = |ago: i64| {
            json!({"spec": {
                "renewTime": (now - chrono::Duration::seconds(ago)).to_rfc3339_opts(SecondsFormat::Micros, true),
                "leaseDurationSeconds": 15,
            }})
        };
        assert!(live(&renewed(3), now));
        assert!(!live(&renewed(16), now));
        assert!(!live(&json!({"spec": {}}), now));
    }

    #[test]
    fn lease_names_are_valid_object_names() {
        assert_eq!(lease_name("10.0.0.5", 6443), "kube-apiserver-10-0-0-5-6443");
        assert_eq!(lease_name("fd00::1", 443), "kube-apiserver-fd00--1-443");
    }
}

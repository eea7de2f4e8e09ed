//! The CSR cleaner: CertificateSigningRequests are working documents, not records. Like
//! upstream's cleaner, this deletes a request whose certificate has expired, one approved and
//! issued (or denied, or failed) more than an hour ago, and one left pending for a day.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::chrono::{DateTime, Utc};
use kube::api::{DeleteParams, ListParams, Preconditions};
use kube::{Api, ResourceExt};

use crate::shared::{is_status, Context, Task};

/// How often the cleaner looks.
pub const INTERVAL: Duration = Duration::from_secs(5 * 60);
/// How long a decided (issued, denied or failed) request is kept.
pub const DECIDED_TTL: Duration = Duration::from_secs(3600);
/// How long an undecided request is kept.
pub const PENDING_TTL: Duration = Duration::from_secs(24 * 3600);

/// Lists every request each [`INTERVAL`] and deletes the finished ones.
pub fn run(ctx: Arc<Context>) -> Task {
    Box::pin(async move {
        let api = Api::<CertificateSigningRequest>::all(ctx.client.clone());
        let mut tick = tokio::time::interval(INTERVAL);
        loop {
            tick.tick().await;
            let list = match api.list(&ListParams::default()).await {
                Ok(list) => list,
                Err(e) => {
                    tracing::warn!(controller = crate::CSR_CLEANER, error = %e, "listing failed");
                    continue;
                }
            };
            let now = Utc::now();
            for csr in list.items.iter().filter(|c| expired(c, now)) {
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: csr.uid(),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match api.delete(&csr.name_any(), &params).await {
                    Ok(_) => tracing::info!(csr = csr.name_any(), "deleted finished request"),
                    Err(e) if is_status(&e, 404) || is_status(&e, 409) => {}
                    Err(e) => tracing::warn!(csr = csr.name_any(), error = %e, "delete failed"),
                }
            }
        }
    })
}

/// Whether `csr` is done with at `now`.
pub fn expired(csr: &CertificateSigningRequest, now: DateTime<Utc>) -> bool {
    let older = |t: Option<DateTime<Utc>>, ttl: Duration| {
        t.is_some_and(|t| {
            now.signed_duration_since(t)
                .to_std()
                .is_ok_and(|age| age > ttl)
        })
    };
    let status = csr.status.as_ref();
    let conditions: Vec<_> = status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .filter(|c| c.status != "False")
        .collect();
    let decided_at = |kind: &str| {
        conditions
            .iter()
            .filter(|c| c.type_ == kind)
            .find_map(|c| {
                c.last_update_time
                    .as_ref()
                    .or(c.last_transition_time.as_ref())
            })
            .map(|t| t.0)
    };
    let certificate = status
        .and_then(|s| s.certificate.as_ref())
        .filter(|c| !c.0.is_empty());
    if let Some(cert) = certificate {
        if let Some(not_after) = not_after(&cert.0) {
            if not_after < now.timestamp() {
                return true;
            }
        }
        if older(decided_at("Approved"), DECIDED_TTL) {
            return true;
        }
    }
    if older(decided_at("Denied"), DECIDED_TTL) || older(decided_at("Failed"), DECIDED_TTL) {
        return true;
    }
    let pending = !conditions
        .iter()
        .any(|c| ["Approved", "Denied", "Failed"].contains(&c.type_.as_str()));
    pending
        && older(
            csr.metadata.creation_timestamp.as_ref().map(|t| t.0),
            PENDING_TTL,
        )
}

fn not_after(pem: &[u8]) -> Option<i64> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = block.parse_x509().ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::certificates::v1::{
        CertificateSigningRequestCondition, CertificateSigningRequestStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn csr(created_ago: i64, conditions: &[(&str, i64)]) -> CertificateSigningRequest {
        let now = Utc::now();
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.creation_timestamp = Some(Time(
            now - k8s_openapi::chrono::Duration::seconds(created_ago),
        ));
        csr.status = Some(CertificateSigningRequestStatus {
            conditions: Some(
                conditions
                    .iter()
                    .map(|(kind, ago)| CertificateSigningRequestCondition {
                        type_: kind.to_string(),
                        status: "True".into(),
                        last_update_time: Some(Time(
                            now - k8s_openapi::chrono::Duration::seconds(*ago),
                        )),
                        ..Default::default()
                    })
                    .collect(),
            ),
            certificate: None,
        });
        csr
    }

    #[test]
    fn keeps_fresh_requests_and_drops_stale_ones() {
        let now = Utc::now();
        assert!(!expired(&csr(60, &[]), now));
        assert!(expired(&csr(25 * 3600, &[]), now));
        assert!(!expired(&csr(7200, &[("Denied", 60)]), now));
        assert!(expired(&csr(7200, &[("Denied", 7200)]), now));
        assert!(expired(
            &csr(7200, &[("Approved", 7200), ("Failed", 7100)]),
            now
        ));
        // Approved long ago but never issued: the signer may still act; not pending either.
        assert!(!expired(&csr(25 * 3600, &[("Approved", 25 * 3600)]), now));
    }
}

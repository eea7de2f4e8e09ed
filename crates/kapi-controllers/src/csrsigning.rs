//! The CSR signer for `kubernetes.io/kube-apiserver-client` (and for nodes,
//! `kube-apiserver-client-kubelet` and `kubelet-serving`): once a CertificateSigningRequest
//! for that signer is approved (and neither denied nor failed), it gets a client certificate
//! from the cluster CA in `status.certificate`, so an administrator can add users with
//! `kubectl certificate approve`.
//!
//! Upstream's rules for this signer: the usages must include `client auth` and may add only
//! `digital signature` and `key encipherment`; anything else (e.g. `server auth`) ends the
//! request with a `Failed` condition (reason `SignerValidationFailure`) instead of a certificate.
//! The certificate keeps the request's subject (CN is the user, each O a group) and lives for
//! `spec.expirationSeconds`, at most [`MAX_LIFETIME`] (upstream's default signing duration).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::chrono::Utc;
use k8s_openapi::ByteString;
use kapi_auth::pki::{ClientKeyUsages, PkiError};
use kube::api::PostParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::shared::{log_result, Context, ReconcileError, Task};

/// The signer this controller serves.
pub const SIGNER_NAME: &str = "kubernetes.io/kube-apiserver-client";
/// The longest certificate it issues (one year).
pub const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// The shortest lifetime the API accepts in `spec.expirationSeconds` (ten minutes).
pub const MIN_LIFETIME: Duration = Duration::from_secs(600);
/// Reason of the `Failed` condition for a request this signer will not sign.
pub const VALIDATION_FAILURE: &str = "SignerValidationFailure";

/// Reconciles the requests addressed to [`SIGNER_NAME`].
pub fn run(ctx: Arc<Context>) -> Task {
    let api = Api::<CertificateSigningRequest>::all(ctx.client.clone());
    Box::pin(
        Controller::new(api, watcher::Config::default())
            .run(reconcile, error_policy, ctx)
            .for_each(|r| log_result(crate::CSR_SIGNING, r)),
    )
}

/// Whether the request has a condition of `kind` that is not explicitly false.
pub fn has_condition(csr: &CertificateSigningRequest, kind: &str) -> bool {
    csr.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .any(|c| c.type_ == kind && c.status != "False")
}

/// Checks the requested usages against this signer's rules; the `Err` is the `Failed`
/// condition's message.
pub fn check_usages(usages: &[String]) -> Result<ClientKeyUsages, String> {
    let mut out = ClientKeyUsages::default();
    let mut client_auth = false;
    for usage in usages {
        match usage.as_str() {
            "client auth" => client_auth = true,
            "digital signature" => out.digital_signature = true,
            "key encipherment" => out.key_encipherment = true,
            other => {
                return Err(format!(
                    "usage {other:?} is not allowed for {SIGNER_NAME}: only \"client auth\", \
                     \"digital signature\" and \"key encipherment\" are"
                ))
            }
        }
    }
    if !client_auth {
        return Err(format!("{SIGNER_NAME} requires the usage \"client auth\""));
    }
    Ok(out)
}

/// The usages of a kubelet serving certificate: `server auth`, with `digital signature` and
/// `key encipherment` allowed beside it.
pub fn check_serving_usages(usages: &[String]) -> Result<(), String> {
    let allowed = ["server auth", "digital signature", "key encipherment"];
    if let Some(other) = usages.iter().find(|u| !allowed.contains(&u.as_str())) {
        return Err(format!(
            "usage {other:?} is not allowed for kubernetes.io/kubelet-serving"
        ));
    }
    if !usages.iter().any(|u| u == "server auth") {
        return Err("kubernetes.io/kubelet-serving requires the usage \"server auth\"".into());
    }
    Ok(())
}

/// `spec.expirationSeconds` bounded to what this signer issues.
pub fn lifetime(expiration_seconds: Option<i32>) -> Duration {
    match expiration_seconds {
        Some(s) => {
            Duration::from_secs(u64::try_from(s).unwrap_or(0)).clamp(MIN_LIFETIME, MAX_LIFETIME)
        }
        None => MAX_LIFETIME,
    }
}

async fn reconcile(
    csr: Arc<CertificateSigningRequest>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let issued = csr
        .status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty());
    let signer = csr.spec.signer_name.as_str();
    let serving = signer == crate::csrapproving::KUBELET_SERVING_SIGNER;
    if !(signer == SIGNER_NAME || signer == crate::csrapproving::KUBELET_CLIENT_SIGNER || serving)
        || !has_condition(&csr, "Approved")
        || has_condition(&csr, "Denied")
        || has_condition(&csr, "Failed")
        || issued
    {
        return Ok(Action::await_change());
    }
    let api = Api::<CertificateSigningRequest>::all(ctx.client.clone());
    let mut next = csr.as_ref().clone();
    let status = next.status.get_or_insert_with(Default::default);
    let usages_checked = if serving {
        check_serving_usages(csr.spec.usages.as_deref().unwrap_or_default())
            .map(|()| ClientKeyUsages::default())
    } else {
        check_usages(csr.spec.usages.as_deref().unwrap_or_default())
    };
    let signed = match usages_checked {
        Err(message) => Err(message),
        Ok(_) if serving => {
            let ca = ctx
                .ca
                .as_ref()
                .ok_or(ReconcileError::NotLoaded("cluster CA key"))?;
            match kapi_auth::pki::sign_serving_csr(ca, &csr.spec.request.0) {
                Ok(pem) => Ok(pem),
                Err(PkiError::BadCsr(why)) => Err(why),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(usages) => {
            let ca = ctx
                .ca
                .as_ref()
                .ok_or(ReconcileError::NotLoaded("cluster CA key"))?;
            match kapi_auth::pki::sign_client_csr(
                ca,
                &csr.spec.request.0,
                usages,
                lifetime(csr.spec.expiration_seconds),
                std::time::SystemTime::now(),
            ) {
                Ok(pem) => Ok(pem),
                // The request itself is unusable: retrying cannot help.
                Err(PkiError::BadCsr(why)) => Err(why),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match signed {
        Ok(pem) => {
            status.certificate = Some(ByteString(pem.into_bytes()));
            tracing::info!(csr = csr.name_any(), "signed client certificate");
        }
        Err(message) => {
            let now = Time(Utc::now());
            status.conditions.get_or_insert_with(Vec::new).push(
                CertificateSigningRequestCondition {
                    type_: "Failed".into(),
                    status: "True".into(),
                    reason: Some(VALIDATION_FAILURE.into()),
                    message: Some(message.clone()),
                    last_update_time: Some(now.clone()),
                    last_transition_time: Some(now),
                },
            );
            tracing::info!(csr = csr.name_any(), message, "refused to sign");
        }
    }
    // At the resourceVersion we read: a concurrent denial makes this a 409, and the retry
    // sees the denial.
    let body = serde_json::to_vec(&next).map_err(kube::Error::SerdeError)?;
    api.replace_status(&csr.name_any(), &PostParams::default(), body)
        .await?;
    ctx.succeeded(crate::CSR_SIGNING, csr.as_ref());
    Ok(Action::await_change())
}

fn error_policy(
    csr: Arc<CertificateSigningRequest>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    ctx.failed(crate::CSR_SIGNING, csr.as_ref(), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usages(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn client_auth_is_required_and_server_auth_refused() {
        let ok = check_usages(&usages(&["client auth"])).unwrap();
        assert_eq!(ok, ClientKeyUsages::default());
        let all = check_usages(&usages(&[
            "digital signature",
            "key encipherment",
            "client auth",
        ]))
        .unwrap();
        assert!(all.digital_signature && all.key_encipherment);
        assert!(check_usages(&usages(&["digital signature"])).is_err());
        assert!(check_usages(&[]).is_err());
        let err = check_usages(&usages(&["client auth", "server auth"])).unwrap_err();
        assert!(err.contains("\"server auth\""), "{err}");
    }

    #[test]
    fn lifetime_is_bounded() {
        assert_eq!(lifetime(None), MAX_LIFETIME);
        assert_eq!(lifetime(Some(3600)), Duration::from_secs(3600));
        assert_eq!(lifetime(Some(60)), MIN_LIFETIME);
        assert_eq!(lifetime(Some(-5)), MIN_LIFETIME);
        assert_eq!(lifetime(Some(i32::MAX)), MAX_LIFETIME);
    }

    #[test]
    fn conditions_count_unless_false() {
        let mut csr = CertificateSigningRequest::default();
        assert!(!has_condition(&csr, "Approved"));
        let condition = |status: &str| CertificateSigningRequestCondition {
            type_: "Approved".into(),
            status: status.into(),
            ..Default::default()
        };
        csr.status = Some(Default::default());
        if let Some(s) = csr.status.as_mut() {
            s.conditions = Some(vec![condition("False")]);
        }
        assert!(!has_condition(&csr, "Approved"));
        if let Some(s) = csr.status.as_mut() {
            s.conditions = Some(vec![condition("True")]);
        }
        assert!(has_condition(&csr, "Approved"));
    }
}

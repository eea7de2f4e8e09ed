//! The CSR approver: approves node certificate requests as kube-controller-manager's
//! csrapproving controller does. A request for the `kube-apiserver-client-kubelet` signer whose
//! subject is `system:node:NAME` in `system:nodes`, with client usages only, is approved when a
//! SubjectAccessReview says its requester may create `certificatesigningrequests/nodeclient`
//! (bootstrap tokens, through kubeadm's binding) or, for a node renewing its own,
//! `selfnodeclient`.
//!
//! kapi also approves `kubelet-serving` requests a node makes for itself when every name they
//! carry is one of its Node's addresses or its name, so that the API server can verify the
//! kubelets it proxies to (upstream leaves these to an administrator; k3s signs them itself).

use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::Node;
use kube::api::PostParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::csrsigning::has_condition;
use crate::shared::{log_result, Context, ReconcileError, Task};

/// The signer of kubelets' client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The signer of kubelets' serving certificates.
pub const KUBELET_SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";

/// What a request asks for, read from its PEM.
#[derive(Debug, Default, PartialEq)]
pub struct Requested {
    /// The subject's CN.
    pub common_name: String,
    /// The subject's O values.
    pub organizations: Vec<String>,
    /// DNS names and IP addresses in the subject alternative names.
    pub names: Vec<String>,
    /// Whether other kinds of alternative names (email, URI) are present.
    pub other_names: bool,
}

/// Reads a PEM PKCS#10 request.
pub fn read_request(pem: &[u8]) -> Option<Requested> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let (_, csr) = X509CertificationRequest::from_der(&block.contents).ok()?;
    let subject = &csr.certification_request_info.subject;
    let mut out = Requested {
        common_name: subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string(),
        organizations: subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect(),
        ..Default::default()
    };
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(d) => out.names.push(d.to_string()),
                    GeneralName::IPAddress(bytes) => match bytes.len() {
                        4 => out.names.push(
                            std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])
                                .to_string(),
                        ),
                        16 => {
                            let mut a = [0u8; 16];
                            a.copy_from_slice(bytes);
                            out.names.push(std::net::Ipv6Addr::from(a).to_string());
                        }
                        _ => out.other_names = true,
                    },
                    _ => out.other_names = true,
                }
            }
        }
    }
    Some(out)
}

fn usages_within(usages: &[String], allowed: &[&str], required: &str) -> bool {
    usages.iter().any(|u| u == required) && usages.iter().all(|u| allowed.contains(&u.as_str()))
}

/// Whether a request is a node client certificate request (upstream's `isNodeClientCert`).
pub fn is_node_client(req: &Requested, usages: &[String]) -> bool {
    req.organizations == ["system:nodes"]
        && req.common_name.starts_with("system:node:")
        && req.names.is_empty()
        && !req.other_names
        && usages_within(
            usages,
            &["key encipherment", "digital signature", "client auth"],
            "client auth",
        )
}

/// Whether a serving request names only what belongs to the requesting node.
pub fn is_own_serving(
    req: &Requested,
    usages: &[String],
    username: &str,
    node_names: &[String],
) -> bool {
    req.organizations == ["system:nodes"]
        && req.common_name == username
        && username.starts_with("system:node:")
        && !req.other_names
        && !req.names.is_empty()
        && req.names.iter().all(|n| node_names.contains(n))
        && usages_within(
            usages,
            &["key encipherment", "digital signature", "server auth"],
            "server auth",
        )
}

/// Reconciles node certificate requests.
pub fn run(ctx: Arc<Context>) -> Task {
    let api = Api::<CertificateSigningRequest>::all(ctx.client.clone());
    Box::pin(
        Controller::new(api, watcher::Config::default())
            .run(reconcile, error_policy, ctx)
            .for_each(|r| log_result(crate::CSR_APPROVING, r)),
    )
}

async fn reconcile(
    csr: Arc<CertificateSigningRequest>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let signer = csr.spec.signer_name.as_str();
    if (signer != KUBELET_CLIENT_SIGNER && signer != KUBELET_SERVING_SIGNER)
        || has_condition(&csr, "Approved")
        || has_condition(&csr, "Denied")
    {
        return Ok(Action::await_change());
    }
    let Some(req) = read_request(&csr.spec.request.0) else {
        return Ok(Action::await_change());
    };
    let usages = csr.spec.usages.clone().unwrap_or_default();
    let username = csr.spec.username.clone().unwrap_or_default();
    let message = if signer == KUBELET_CLIENT_SIGNER {
        if !is_node_client(&req, &usages) {
            return Ok(Action::await_change());
        }
        let sub = if req.common_name == username {
            "selfnodeclient"
        } else {
            "nodeclient"
        };
        let allowed = review(&ctx.client, &csr, sub).await?
            || (sub == "selfnodeclient" && review(&ctx.client, &csr, "nodeclient").await?);
        if !allowed {
            return Ok(Action::await_change());
        }
        "Auto approving kubelet client certificate after SubjectAccessReview."
    } else {
        let node_name = username
            .strip_prefix("system:node:")
            .unwrap_or_default()
            .to_string();
        let nodes = Api::<Node>::all(ctx.client.clone());
        let mut names = vec![node_name.clone()];
        if let Some(node) = nodes.get_opt(&node_name).await? {
            names.extend(
                node.status
                    .and_then(|s| s.addresses)
                    .into_iter()
                    .flatten()
                    .map(|a| a.address),
            );
        }
        if !is_own_serving(&req, &usages, &username, &names) {
            return Ok(Action::await_change());
        }
        "Auto approving a kubelet serving certificate for the node's own names."
    };
    let now = k8s_openapi::chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut next = serde_json::to_value(csr.as_ref()).map_err(kube::Error::SerdeError)?;
    let conditions = next["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut conditions = conditions;
    conditions.push(json!({
        "type": "Approved", "status": "True", "reason": "AutoApproved", "message": message,
        "lastUpdateTime": now, "lastTransitionTime": now,
    }));
    next["status"]["conditions"] = json!(conditions);
    let api = Api::<CertificateSigningRequest>::all(ctx.client.clone());
    let body = serde_json::to_vec(&next).map_err(kube::Error::SerdeError)?;
    api.replace_subresource("approval", &csr.name_any(), &PostParams::default(), body)
        .await?;
    tracing::info!(csr = csr.name_any(), "approved a node certificate request");
    ctx.succeeded(crate::CSR_APPROVING, csr.as_ref());
    Ok(Action::await_change())
}

/// Whether the requester may create `certificatesigningrequests/<sub>`.
async fn review(
    client: &kube::Client,
    csr: &CertificateSigningRequest,
    sub: &str,
) -> Result<bool, kube::Error> {
    let spec = &csr.spec;
    let review: SubjectAccessReview = serde_json::from_value(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {
            "user": spec.username, "uid": spec.uid, "groups": spec.groups, "extra": spec.extra,
            "resourceAttributes": {"group": "certificates.k8s.io", "resource": "certificatesigningrequests", "verb": "create", "subresource": sub},
        }
    }))
    .map_err(kube::Error::SerdeError)?;
    let api = Api::<SubjectAccessReview>::all(client.clone());
    let answer = api.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

fn error_policy(
    csr: Arc<CertificateSigningRequest>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    ctx.failed(crate::CSR_APPROVING, csr.as_ref(), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(cn: &str, orgs: &[&str], names: &[&str]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, cn);
        for o in orgs {
            dn.push(rcgen::DnType::OrganizationName, *o);
        }
        params.distinguished_name = dn;
        params
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap()
            .into_bytes()
    }

    fn u(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn node_client_requests_are_recognised() {
        let r = read_request(&csr("system:node:n1", &["system:nodes"], &[])).unwrap();
        assert_eq!(r.common_name, "system:node:n1");
        assert!(is_node_client(
            &r,
            &u(&["digital signature", "client auth"])
        ));
        assert!(!is_node_client(&r, &u(&["client auth", "server auth"])));
        let admin = read_request(&csr("system:node:n1", &["system:masters"], &[])).unwrap();
        assert!(!is_node_client(&admin, &u(&["client auth"])));
        let with_names =
            read_request(&csr("system:node:n1", &["system:nodes"], &["10.0.0.1"])).unwrap();
        assert!(!is_node_client(&with_names, &u(&["client auth"])));
    }

    #[test]
    fn serving_requests_may_name_only_the_nodes_own_addresses() {
        let own = read_request(&csr(
            "system:node:n1",
            &["system:nodes"],
            &["n1", "10.0.0.5"],
        ))
        .unwrap();
        assert_eq!(own.names, ["n1", "10.0.0.5"]);
        let names = u(&["n1", "10.0.0.5"]);
        let usages = u(&["digital signature", "key encipherment", "server auth"]);
        assert!(is_own_serving(&own, &usages, "system:node:n1", &names));
        assert!(
            !is_own_serving(&own, &usages, "system:node:n2", &names),
            "another node's request"
        );
        let foreign =
            read_request(&csr("system:node:n1", &["system:nodes"], &["10.96.0.1"])).unwrap();
        assert!(!is_own_serving(&foreign, &usages, "system:node:n1", &names));
        assert!(!is_own_serving(
            &own,
            &u(&["client auth"]),
            "system:node:n1",
            &names
        ));
    }
}

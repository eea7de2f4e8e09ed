//! CertificateSigningRequest admission, as upstream: the server records who asked (the
//! requester's name, UID, groups and extra, overwriting whatever the client sent), and only
//! users allowed to `approve` (for /approval) or `sign` (for a certificate in /status) the
//! request's signer may change those parts.

use kapi_api::status::ApiError;
use kapi_auth::UserInfo;
use serde_json::{json, Value};

use crate::filters::authz::Authorizer;

const GROUP: &str = "certificates.k8s.io";

/// Fills `spec.username`, `uid`, `groups` and `extra` of a CSR being created.
pub fn record_requester(user: &UserInfo, csr: &mut Value) {
    if !csr.get("spec").is_some_and(Value::is_object) {
        return; // validation reports the missing spec
    }
    let spec = &mut csr["spec"];
    spec["username"] = json!(user.name);
    spec["groups"] = json!(user.groups);
    if user.uid.is_empty() {
        if let Some(m) = spec.as_object_mut() {
            m.remove("uid");
        }
    } else {
        spec["uid"] = json!(user.uid);
    }
    if user.extra.is_empty() {
        if let Some(m) = spec.as_object_mut() {
            m.remove("extra");
        }
    } else {
        spec["extra"] = json!(user.extra);
    }
}

/// Whether `user` may `verb` (approve or sign) requests for `signer`: on the signer's name or
/// on its domain wildcard (`kubernetes.io/*`), as upstream checks.
pub fn check_signer(
    authz: &Authorizer,
    user: &UserInfo,
    csr_name: &str,
    signer: &str,
    verb: &str,
) -> Result<(), ApiError> {
    let wildcard = signer
        .split_once('/')
        .map(|(domain, _)| format!("{domain}/*"));
    let allowed = authz.can(user, verb, GROUP, "signers", "", "", signer)
        || wildcard.is_some_and(|w| authz.can(user, verb, GROUP, "signers", "", "", &w));
    if allowed {
        return Ok(());
    }
    let mut e = ApiError::forbidden(
        GROUP,
        "certificatesigningrequests",
        "",
        csr_name,
        "",
        &user.name,
        verb,
    );
    e.message = format!(
        "certificatesigningrequests.certificates.k8s.io \"{csr_name}\" is forbidden: user not permitted to {verb} requests with signerName \"{signer}\""
    );
    Err(e)
}

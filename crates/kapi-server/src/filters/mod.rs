//! The filters every request passes, in this order: authentication, then authorization.
//!
//! Authentication turns the connection's verified client certificate into a [`UserInfo`]
//! (anonymous when there is none); authorization judges the request's attributes. Bearer
//! tokens, impersonation, audit and RBAC join this chain with the authentication issue.

use kapi_api::status::ApiError;
use kapi_auth::authz::{self, Decision};
use kapi_auth::UserInfo;

use crate::request_info::RequestInfo;

/// Who the caller is: the client certificate's identity, or anonymous.
pub fn authenticate(cert_user: Option<UserInfo>) -> Result<UserInfo, ApiError> {
    Ok(cert_user.unwrap_or_else(UserInfo::anonymous))
}

/// Whether the caller may do what the request asks; 403 with upstream's wording if not.
pub fn authorize(user: &UserInfo, info: &RequestInfo) -> Result<(), ApiError> {
    let decision = if info.is_resource {
        authz::authorize_resource(user)
    } else {
        authz::authorize_path(user, &info.verb, &info.path)
    };
    if decision == Decision::Allow {
        return Ok(());
    }
    Err(if info.is_resource {
        ApiError::forbidden(
            &info.group,
            &info.resource,
            &info.subresource,
            &info.name,
            &info.namespace,
            &user.name,
            &info.verb,
        )
    } else {
        ApiError::forbidden_path(&user.name, &info.verb, &info.path)
    })
}

//! Impersonation: `Impersonate-User`, `-Group`, `-Uid` and `-Extra-*` headers (kubectl `--as`,
//! `--as-group`), each authorized with the `impersonate` verb as upstream does.

use http::HeaderMap;
use kapi_api::status::ApiError;
use kapi_auth::UserInfo;

use super::authz::Authorizer;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn forbidden(
    user: &UserInfo,
    resource: &str,
    group: &str,
    name: &str,
    namespace: &str,
) -> ApiError {
    ApiError::forbidden(
        group,
        resource,
        "",
        name,
        namespace,
        &user.name,
        "impersonate",
    )
}

/// The user the request acts as: `user` itself when no impersonation headers are present.
pub fn impersonate(
    user: UserInfo,
    headers: &HeaderMap,
    authz: &Authorizer,
) -> Result<UserInfo, ApiError> {
    let as_user = headers
        .get(USER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let groups: Vec<String> = headers
        .get_all(GROUP)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect();
    let uid = headers
        .get(UID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut extra: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(EXTRA_PREFIX) {
            if let Ok(v) = value.to_str() {
                extra
                    .entry(percent_decode(key))
                    .or_default()
                    .push(v.to_string());
            }
        }
    }
    let Some(target) = as_user else {
        if !groups.is_empty() || uid.is_some() || !extra.is_empty() {
            return Err(ApiError::internal(
                "requested impersonation of groups, uid or extra without impersonating a user",
            ));
        }
        return Ok(user);
    };
    // A service account is impersonated through the serviceaccounts resource.
    let allowed_user = match kapi_auth::serviceaccount::split_username(&target) {
        Some((ns, name)) => authz.can(&user, "impersonate", "", "serviceaccounts", "", ns, name),
        None => authz.can(&user, "impersonate", "", "users", "", "", &target),
    };
    if !allowed_user {
        return Err(match kapi_auth::serviceaccount::split_username(&target) {
            Some((ns, name)) => forbidden(&user, "serviceaccounts", "", name, ns),
            None => forbidden(&user, "users", "", &target, ""),
        });
    }
    for g in &groups {
        if !authz.can(&user, "impersonate", "", "groups", "", "", g) {
            return Err(forbidden(&user, "groups", "", g, ""));
        }
    }
    if let Some(u) = &uid {
        if !authz.can(
            &user,
            "impersonate",
            "authentication.k8s.io",
            "uids",
            "",
            "",
            u,
        ) {
            return Err(forbidden(&user, "uids", "authentication.k8s.io", u, ""));
        }
    }
    for (key, values) in &extra {
        for v in values {
            if !authz.can(
                &user,
                "impersonate",
                "authentication.k8s.io",
                "userextras",
                key,
                "",
                v,
            ) {
                return Err(forbidden(
                    &user,
                    &format!("userextras/{key}"),
                    "authentication.k8s.io",
                    v,
                    "",
                ));
            }
        }
    }
    let mut all_groups = groups;
    if let Some((ns, _)) = kapi_auth::serviceaccount::split_username(&target) {
        for g in [
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{ns}"),
        ] {
            if !all_groups.contains(&g) {
                all_groups.push(g);
            }
        }
    }
    if target != "system:anonymous" && !all_groups.iter().any(|g| g == "system:authenticated") {
        all_groups.push("system:authenticated".into());
    }
    Ok(UserInfo {
        name: target,
        uid: uid.unwrap_or_default(),
        groups: all_groups,
        extra,
    })
}

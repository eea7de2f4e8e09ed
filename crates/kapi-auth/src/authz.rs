//! Authorization decisions.
//!
//! Until RBAC lands this is the upstream bootstrap behaviour reduced to what kapi serves today:
//! `system:masters` may do everything (as kube-apiserver's privileged group, decided before
//! RBAC), everyone may read the public-info paths (health and version, as the
//! `system:public-info-viewer` ClusterRole grants), and everything else is refused.

use crate::UserInfo;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allow,
    /// The request is refused.
    Deny,
    /// This authorizer does not decide; the next one may.
    NoOpinion,
}

/// The group whose members are allowed everything.
pub const SYSTEM_MASTERS: &str = "system:masters";

/// Paths anyone may GET, authenticated or not.
const PUBLIC_INFO_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/version", "/version/"];

/// Decides a non-resource request (`path`, lower-case `verb`).
pub fn authorize_path(user: &UserInfo, verb: &str, path: &str) -> Decision {
    if user.in_group(SYSTEM_MASTERS) {
        return Decision::Allow;
    }
    let public = PUBLIC_INFO_PATHS.contains(&path)
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/");
    if public && verb == "get" {
        Decision::Allow
    } else {
        Decision::Deny
    }
}

/// Decides a resource request.
pub fn authorize_resource(user: &UserInfo) -> Decision {
    if user.in_group(SYSTEM_MASTERS) {
        Decision::Allow
    } else {
        Decision::Deny
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> UserInfo {
        UserInfo {
            name: "kubernetes-admin".into(),
            groups: vec![SYSTEM_MASTERS.into(), "system:authenticated".into()],
            ..Default::default()
        }
    }

    #[test]
    fn masters_may_do_anything() {
        assert_eq!(authorize_resource(&admin()), Decision::Allow);
        assert_eq!(
            authorize_path(&admin(), "post", "/anything"),
            Decision::Allow
        );
    }

    #[test]
    fn anonymous_reads_public_info_only() {
        let anon = UserInfo::anonymous();
        assert_eq!(authorize_path(&anon, "get", "/readyz"), Decision::Allow);
        assert_eq!(authorize_path(&anon, "get", "/version"), Decision::Allow);
        assert_eq!(authorize_path(&anon, "post", "/version"), Decision::Deny);
        assert_eq!(authorize_path(&anon, "get", "/api"), Decision::Deny);
        assert_eq!(authorize_resource(&anon), Decision::Deny);
    }
}

//! Role-based access control, as kube-apiserver's RBAC authorizer and RBAC registry do it.
//!
//! Pure functions over `rbac.authorization.k8s.io/v1` objects in their JSON form; no storage,
//! no HTTP. The server builds an [`RbacIndex`] from the four RBAC lists (again whenever one
//! changes) and asks it about each request; the registry asks [`covers`] (through
//! [`RbacIndex::confirm_no_escalation`]) before storing a Role or binding; a controller writes
//! [`aggregate`]'s rules into aggregated ClusterRoles; [`bootstrap_policy`] is what a fresh
//! cluster starts with.
//!
//! ```
//! use kapi_auth::rbac::{bootstrap_policy, Attributes, RbacIndex};
//! use kapi_auth::{authz::Decision, UserInfo};
//!
//! let policy = bootstrap_policy();
//! let of = |kind: &str| -> Vec<_> { policy.iter().filter(|o| o["kind"] == kind).cloned().collect() };
//! let index = RbacIndex::build(&of("Role"), &of("ClusterRole"), &of("RoleBinding"), &of("ClusterRoleBinding"));
//! let anonymous = UserInfo::anonymous();
//! let attrs = Attributes::non_resource(&anonymous, "get", "/healthz");
//! assert_eq!(index.authorize(&attrs).0, Decision::Allow);
//! ```
//!
//! Where this follows upstream code: `plugin/pkg/auth/authorizer/rbac/rbac.go` (decisions),
//! `pkg/apis/rbac/v1/evaluation_helpers.go` (matching), `pkg/registry/rbac/validation/rule.go`
//! and component-helpers' `policy_comparator.go` (escalation), the clusterrole aggregation
//! controller, and `bootstrappolicy/` (defaults). Semantics are re-implemented, not copied.

mod aggregate;
mod bootstrap;
mod escalation;
mod index;
mod rule;

pub use aggregate::{aggregate, LabelSelector};
pub use bootstrap::{
    bootstrap_policy, AUTHENTICATED_GROUP, AUTOUPDATE_ANNOTATION, BOOTSTRAP_LABEL,
    CONTROLLER_MANAGER_USER, NODES_GROUP, NODE_LEASE_NAMESPACE, NODE_USER_PREFIX, SCHEDULER_LEASE,
    SCHEDULER_USER, SERVICE_ACCOUNTS_GROUP, UNAUTHENTICATED_GROUP,
};
pub use escalation::{
    covers, escalation_message, forbidden_message, full_authority, AGGREGATION_RULE_FORBIDDEN,
};
pub use index::RbacIndex;
pub use rule::{rule_allows, PolicyRule, ALL};

use crate::UserInfo;

/// What RBAC judges about one request (upstream's `authorizer.Attributes`), borrowed from the
/// request info so a decision allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    /// Who is asking.
    pub user: &'a UserInfo,
    /// `get`, `list`, `watch`, `create`, ... (resource requests), or the lower-case HTTP method
    /// (non-resource requests).
    pub verb: &'a str,
    /// Whether this is a request for an API resource (else for a non-resource path).
    pub is_resource: bool,
    /// The API group, `""` for core.
    pub api_group: &'a str,
    /// The resource plural, e.g. `pods`.
    pub resource: &'a str,
    /// The subresource, e.g. `log`, or `""`.
    pub subresource: &'a str,
    /// The namespace, `""` for cluster scope (RoleBindings then do not apply).
    pub namespace: &'a str,
    /// The object name, `""` for collections and creates.
    pub name: &'a str,
    /// The URL path (what non-resource rules match).
    pub path: &'a str,
}

impl<'a> Attributes<'a> {
    /// A resource request; `path` is left empty (RBAC does not look at it).
    #[allow(clippy::too_many_arguments)]
    pub fn resource(
        user: &'a UserInfo,
        verb: &'a str,
        api_group: &'a str,
        resource: &'a str,
        subresource: &'a str,
        namespace: &'a str,
        name: &'a str,
    ) -> Self {
        Self {
            user,
            verb,
            is_resource: true,
            api_group,
            resource,
            subresource,
            namespace,
            name,
            path: "",
        }
    }

    /// A non-resource request for `path` with the lower-case method as verb.
    pub fn non_resource(user: &'a UserInfo, verb: &'a str, path: &'a str) -> Self {
        Self {
            user,
            verb,
            is_resource: false,
            api_group: "",
            resource: "",
            subresource: "",
            namespace: "",
            name: "",
            path,
        }
    }
}

#[cfg(test)]
mod tests;

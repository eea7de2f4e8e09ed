//! Authorization: RBAC decisions from an in-memory index.
//!
//! The index is rebuilt from the four RBAC collections whenever one of them changes (see
//! [`crate::rbac_sync`]); a decision only reads it, so no request touches storage to be judged.

use std::sync::{Arc, RwLock};

use kapi_api::status::ApiError;
use kapi_auth::authz::Decision;
use kapi_auth::rbac::{Attributes, PolicyRule, RbacIndex};
use kapi_auth::UserInfo;

use crate::request_info::RequestInfo;

/// The authorizers in upstream's order: Node, then RBAC.
pub struct Authorizer {
    index: RwLock<Arc<RbacIndex>>,
    /// The store the Node authorizer reads pods from; without it nodes get RBAC alone.
    nodes: Option<Arc<crate::registry::Registry>>,
}

impl Default for Authorizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Authorizer {
    /// An authorizer that allows only `system:masters` until the first index arrives.
    pub fn new() -> Self {
        Self {
            index: RwLock::new(Arc::new(RbacIndex::build(&[], &[], &[], &[]))),
            nodes: None,
        }
    }

    /// With the Node authorizer in front of RBAC, reading pods from `registry`.
    pub fn with_node_authorizer(registry: Arc<crate::registry::Registry>) -> Self {
        Self {
            nodes: Some(registry),
            ..Self::new()
        }
    }

    /// Swaps in a freshly built index.
    pub fn replace(&self, index: RbacIndex) {
        if let Ok(mut guard) = self.index.write() {
            *guard = Arc::new(index);
        }
    }

    /// The current index.
    pub fn index(&self) -> Arc<RbacIndex> {
        self.index
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Whether `attrs` is allowed, with RBAC's reason.
    pub fn decide(&self, attrs: &Attributes<'_>) -> (bool, String) {
        if let (Some(registry), Some(node)) =
            (&self.nodes, super::node_authz::node_name(attrs.user))
        {
            if let Some(allowed) = super::node_authz::decide(registry, node, attrs) {
                let reason = if allowed {
                    "allowed by the Node authorizer"
                } else {
                    ""
                };
                return (allowed, reason.to_string());
            }
        }
        let (decision, reason) = self.index().authorize(attrs);
        (decision == Decision::Allow, reason)
    }

    /// Whether `user` may `verb` the resource (a yes/no for internal checks).
    #[allow(clippy::too_many_arguments)]
    pub fn can(
        &self,
        user: &UserInfo,
        verb: &str,
        group: &str,
        resource: &str,
        subresource: &str,
        namespace: &str,
        name: &str,
    ) -> bool {
        self.decide(&Attributes::resource(
            user,
            verb,
            group,
            resource,
            subresource,
            namespace,
            name,
        ))
        .0
    }

    /// The rules `user` holds in `namespace`.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        self.index().resolve(user, namespace)
    }

    /// Judges a request; 403 with upstream's wording when refused.
    pub fn authorize(&self, user: &UserInfo, info: &RequestInfo) -> Result<(), ApiError> {
        let attrs = if info.is_resource {
            Attributes::resource(
                user,
                &info.verb,
                &info.group,
                &info.resource,
                &info.subresource,
                &info.namespace,
                &info.name,
            )
        } else {
            Attributes::non_resource(user, &info.verb, &info.path)
        };
        if self.decide(&attrs).0 {
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
}

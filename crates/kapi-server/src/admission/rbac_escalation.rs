//! No escalation through RBAC: a Role or ClusterRole may only grant what its author holds
//! (unless they may `escalate`), and a binding may only reference a role whose permissions its
//! author holds (unless they may `bind` it), as kube-apiserver's RBAC registry enforces.

use kapi_api::resources::{self, ResourceDef};
use kapi_api::status::ApiError;
use kapi_auth::rbac::{self, PolicyRule};
use kapi_auth::UserInfo;
use serde_json::Value;

use crate::filters::authz::Authorizer;
use crate::registry::Registry;

const GROUP: &str = "rbac.authorization.k8s.io";

fn forbidden(def: &ResourceDef, name: &str, detail: &str) -> ApiError {
    let mut e = ApiError::forbidden(GROUP, def.resource, "", name, "", "", "");
    e.message = rbac::forbidden_message(&def.group_resource(), name, detail);
    e
}

fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules")
        .and_then(Value::as_array)
        .map(|rs| rs.iter().map(PolicyRule::from_json).collect())
        .unwrap_or_default()
}

/// Checks a Role, ClusterRole or binding about to be stored by `user` in `namespace`.
pub fn check(
    authz: &Authorizer,
    registry: &Registry,
    user: &UserInfo,
    def: &ResourceDef,
    namespace: &str,
    obj: &Value,
) -> Result<(), ApiError> {
    if def.group != GROUP {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    match def.resource {
        "roles" | "clusterroles" => {
            if authz.can(user, "escalate", GROUP, def.resource, "", namespace, name) {
                return Ok(());
            }
            let mut rules = rules_of(obj);
            if def.resource == "clusterroles"
                && obj.get("aggregationRule").is_some_and(|a| !a.is_null())
            {
                // Choosing what to aggregate is as strong as holding everything.
                rules = rbac::full_authority();
            }
            authz
                .index()
                .confirm_no_escalation(user, namespace, &rules)
                .map_err(|detail| forbidden(def, name, &detail))
        }
        "rolebindings" | "clusterrolebindings" => {
            let role_kind = obj
                .pointer("/roleRef/kind")
                .and_then(Value::as_str)
                .unwrap_or("");
            let role_name = obj
                .pointer("/roleRef/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let (role_resource, role_ns) = match role_kind {
                "Role" => ("roles", Some(namespace)),
                _ => ("clusterroles", None),
            };
            if authz.can(
                user,
                "bind",
                GROUP,
                role_resource,
                "",
                role_ns.unwrap_or(""),
                role_name,
            ) {
                return Ok(());
            }
            let role_def =
                resources::find(GROUP, "v1", role_resource).ok_or_else(ApiError::no_route)?;
            let rules = match registry.get_value(role_def, role_ns, role_name) {
                Ok((role, _)) => rules_of(&role),
                Err(_) => {
                    return Err(forbidden(
                        def,
                        name,
                        &format!("{} \"{role_name}\" not found", role_def.group_resource()),
                    ));
                }
            };
            authz
                .index()
                .confirm_no_escalation(user, namespace, &rules)
                .map_err(|detail| forbidden(def, name, &detail))
        }
        _ => Ok(()),
    }
}

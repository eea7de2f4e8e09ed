//! The Node authorizer: a node (`system:node:NAME` in `system:nodes`) may read a Secret,
//! ConfigMap or PersistentVolumeClaim, and mint a service-account token, only when a pod bound
//! to it uses that object, as upstream's Node authorizer decides from its graph. Other requests
//! of nodes go on to RBAC (kapi's `system:node` role), which no longer grants these reads.
//!
//! The graph here is the stored pods of the object's namespace, read at decision time: the
//! registry serves them from memory, and nodes ask rarely (once per pod start and refresh).

use serde_json::Value;

use kapi_api::resources;
use kapi_auth::rbac::{Attributes, NODES_GROUP, NODE_USER_PREFIX};

use crate::registry::Registry;

/// The node a user is, if it is one.
pub fn node_name(user: &kapi_auth::UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_USER_PREFIX)?;
    (!name.is_empty() && user.groups.iter().any(|g| g == NODES_GROUP)).then_some(name)
}

/// What a pod refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `secrets`.
    Secret,
    /// `configmaps`.
    ConfigMap,
    /// `persistentvolumeclaims`.
    Claim,
    /// `serviceaccounts` (its token).
    ServiceAccount,
}

/// Whether the pod (JSON) uses the object `name` of `kind`.
pub fn pod_uses(pod: &Value, kind: Kind, name: &str) -> bool {
    let spec = &pod["spec"];
    let is = |v: &Value| v.as_str() == Some(name);
    let containers = || {
        ["containers", "initContainers", "ephemeralContainers"]
            .into_iter()
            .flat_map(|k| spec[k].as_array().into_iter().flatten())
    };
    let volumes = || spec["volumes"].as_array().into_iter().flatten();
    match kind {
        Kind::ServiceAccount => {
            let sa = spec["serviceAccountName"].as_str().unwrap_or("default");
            sa == name
        }
        Kind::Claim => volumes().any(|v| is(&v["persistentVolumeClaim"]["claimName"])),
        Kind::Secret | Kind::ConfigMap => {
            let (vol_key, vol_name, proj_key, env_key, from_key) = match kind {
                Kind::Secret => (
                    "secret",
                    "secretName",
                    "secret",
                    "secretKeyRef",
                    "secretRef",
                ),
                _ => (
                    "configMap",
                    "name",
                    "configMap",
                    "configMapKeyRef",
                    "configMapRef",
                ),
            };
            let in_volumes = volumes().any(|v| {
                is(&v[vol_key][vol_name])
                    || v["projected"]["sources"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|s| is(&s[proj_key]["name"]))
            });
            let in_env = containers().any(|c| {
                c["env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| is(&e["valueFrom"][env_key]["name"]))
                    || c["envFrom"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| is(&e[from_key]["name"]))
            });
            let pull = kind == Kind::Secret
                && spec["imagePullSecrets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| is(&s["name"]));
            in_volumes || in_env || pull
        }
    }
}

/// The Node authorizer's verdict: `Some(allowed)` for what it decides, `None` for RBAC.
pub fn decide(registry: &Registry, node: &str, attrs: &Attributes<'_>) -> Option<bool> {
    if !attrs.is_resource || !attrs.api_group.is_empty() {
        return None;
    }
    let kind = match (attrs.resource, attrs.subresource, attrs.verb) {
        ("secrets", "", "get") => Kind::Secret,
        ("configmaps", "", "get") => Kind::ConfigMap,
        ("persistentvolumeclaims", "", "get") => Kind::Claim,
        ("serviceaccounts", "token", "create") => Kind::ServiceAccount,
        ("secrets" | "configmaps" | "persistentvolumeclaims", _, _) => return Some(false),
        _ => return None,
    };
    if attrs.name.is_empty() || attrs.namespace.is_empty() {
        return Some(false);
    }
    let pods = resources::find("", "v1", "pods")?;
    let prefix = Registry::prefix(pods, Some(attrs.namespace));
    // One match is enough: the store stops at the first pod that passes.
    let (found, _, _) = registry.store().list(&prefix, None, 1, |_, kv| {
        serde_json::from_slice::<Value>(&kv.value).is_ok_and(|pod| {
            pod["spec"]["nodeName"].as_str() == Some(node) && pod_uses(&pod, kind, attrs.name)
        })
    });
    Some(!found.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_found_wherever_a_pod_names_them() {
        let pod = json!({"spec": {
            "serviceAccountName": "builder",
            "imagePullSecrets": [{"name": "regcred"}],
            "volumes": [
                {"name": "a", "secret": {"secretName": "tls"}},
                {"name": "b", "configMap": {"name": "settings"}},
                {"name": "c", "projected": {"sources": [{"configMap": {"name": "kube-root-ca.crt"}}, {"secret": {"name": "extra"}}]}},
                {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}
            ],
            "containers": [{"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}],
                            "envFrom": [{"configMapRef": {"name": "env"}}]}],
        }});
        for s in ["tls", "extra", "db", "regcred"] {
            assert!(pod_uses(&pod, Kind::Secret, s), "{s}");
        }
        for c in ["settings", "kube-root-ca.crt", "env"] {
            assert!(pod_uses(&pod, Kind::ConfigMap, c), "{c}");
        }
        assert!(pod_uses(&pod, Kind::Claim, "data"));
        assert!(pod_uses(&pod, Kind::ServiceAccount, "builder"));
        assert!(!pod_uses(&pod, Kind::Secret, "settings"));
        assert!(!pod_uses(&pod, Kind::ConfigMap, "tls"));
        assert!(!pod_uses(&pod, Kind::ServiceAccount, "default"));
        assert!(pod_uses(
            &json!({"spec": {}}),
            Kind::ServiceAccount,
            "default"
        ));
    }
}

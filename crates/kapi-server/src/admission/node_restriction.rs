//! NodeRestriction: RBAC lets every node write pod status, delete pods and write Nodes and
//! Leases, because those verbs are the same for each node; which objects a node may touch is
//! decided here, from the objects themselves, as upstream's plugin does. A node (`system:node:X`)
//! may only write the status of, delete or evict pods bound to it, create only mirror pods bound
//! to it, and write only its own Node and its own Lease; on its Node it may not set or change
//! labels outside kubelet's own set in the `kubernetes.io` and `k8s.io` namespaces (so no node
//! gives itself a role or a `node-restriction.kubernetes.io/` label meant to place workloads),
//! nor change its taints once registered.

use kapi_api::resources::ResourceDef;
use kapi_api::status::ApiError;
use serde_json::Value;

/// Labels in the reserved namespaces that a kubelet sets on its own Node.
const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
];

/// Label namespaces whose every label a kubelet may set.
const KUBELET_LABEL_NAMESPACES: &[&str] = &["kubelet.kubernetes.io", "node.kubernetes.io"];

/// Whether a node may set the label `key` on itself.
fn node_may_set(key: &str) -> bool {
    let Some((prefix, _)) = key.split_once('/') else {
        return true;
    };
    if prefix == "node-restriction.kubernetes.io"
        || prefix.ends_with(".node-restriction.kubernetes.io")
    {
        return false;
    }
    let reserved = ["kubernetes.io", "k8s.io"]
        .iter()
        .any(|d| prefix == *d || prefix.ends_with(&format!(".{d}")));
    !reserved || KUBELET_LABELS.contains(&key) || KUBELET_LABEL_NAMESPACES.contains(&prefix)
}

/// The labels of `obj` a node may not set, or (with `stored`) whose values it changes.
fn forbidden_labels(obj: &Value, stored: Option<&Value>) -> Vec<String> {
    let labels = |v: &Value| {
        v.pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let new = labels(obj);
    let old = stored.map(labels).unwrap_or_default();
    let mut keys: Vec<String> = new
        .keys()
        .chain(old.keys())
        .filter(|k| !node_may_set(k) && new.get(*k) != old.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The annotation that marks a static pod's mirror in the API.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Which objects a node's request touches.
pub enum Write<'a> {
    /// A create, update or patch, with the object as it would be stored.
    Store(&'a Value),
    /// A delete (or an eviction) of the stored object.
    Remove(&'a Value),
}

fn refused(def: &ResourceDef, name: &str, why: String) -> ApiError {
    let mut e = ApiError::with_code(403, String::new());
    let gr = if def.group.is_empty() {
        def.resource.to_string()
    } else {
        format!("{}.{}", def.resource, def.group)
    };
    e.message = if name.is_empty() {
        format!("{gr} is forbidden: {why}")
    } else {
        format!("{gr} \"{name}\" is forbidden: {why}")
    };
    e
}

/// Judges one write of `node` (a create when `verb` is "create" and there is no
/// subresource); `name` is the object's.
pub fn check(
    node: &str,
    def: &ResourceDef,
    verb: &str,
    subresource: &str,
    name: &str,
    write: Write<'_>,
    stored: Option<&Value>,
) -> Result<(), ApiError> {
    let obj = match write {
        Write::Store(obj) | Write::Remove(obj) => obj,
    };
    let bound_here = obj.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node);
    match (def.group, def.resource) {
        ("", "pods") => match (verb, subresource) {
            ("create", "") => {
                let mirror = obj
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(MIRROR_ANNOTATION))
                    .is_some();
                if !mirror {
                    return Err(refused(def, name, format!(
                        "pod does not have \"{MIRROR_ANNOTATION}\" annotation, node \"{node}\" can only create mirror pods"
                    )));
                }
                if !bound_here {
                    return Err(refused(def, name, format!(
                        "node \"{node}\" can only create pods with spec.nodeName set to itself"
                    )));
                }
                Ok(())
            }
            (_, "status") if !bound_here => Err(refused(def, name, format!(
                "node \"{node}\" can only update pod status for pods with spec.nodeName set to itself"
            ))),
            ("create", "eviction") if !bound_here => Err(refused(def, name, format!(
                "node \"{node}\" can only evict pods with spec.nodeName set to itself"
            ))),
            ("delete", "") if !bound_here => Err(refused(def, name, format!(
                "node \"{node}\" can only delete pods with spec.nodeName set to itself"
            ))),
            _ => Ok(()),
        },
        ("", "nodes") if name != node => Err(refused(def, name, format!(
            "node \"{node}\" is not allowed to modify node \"{name}\""
        ))),
        ("", "nodes") if matches!(write, Write::Store(_)) && subresource.is_empty() => {
            let forbidden = forbidden_labels(obj, stored);
            if !forbidden.is_empty() {
                let what = if stored.is_some() {
                    "modify labels"
                } else {
                    "set the following labels"
                };
                return Err(refused(def, name, format!(
                    "node \"{node}\" is not allowed to {what}: {}",
                    forbidden.join(", ")
                )));
            }
            let taints = |v: &Value| v.pointer("/spec/taints").cloned().filter(|t| t.as_array().is_some_and(|a| !a.is_empty()));
            if let Some(stored) = stored {
                if taints(obj) != taints(stored) {
                    return Err(refused(
                        def,
                        name,
                        format!("node \"{node}\" is not allowed to modify taints"),
                    ));
                }
            }
            Ok(())
        }
        ("coordination.k8s.io", "leases")
            if obj.pointer("/metadata/namespace").and_then(Value::as_str)
                == Some("kube-node-lease")
                && name != node =>
        {
            Err(refused(
                def,
                name,
                "can only access node lease with the same name as the requesting node".into(),
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(group: &str, resource: &str) -> &'static ResourceDef {
        kapi_api::resources::RESOURCES
            .iter()
            .find(|d| d.group == group && d.resource == resource)
            .expect("served")
    }

    fn pod(node: &str, mirror: bool) -> Value {
        let mut p =
            json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": node}});
        if mirror {
            p["metadata"]["annotations"] = json!({MIRROR_ANNOTATION: "x"});
        }
        p
    }

    #[test]
    fn a_node_writes_only_the_pods_bound_to_it() {
        let pods = def("", "pods");
        let mine = pod("n1", false);
        let theirs = pod("n2", false);
        assert!(check(
            "n1",
            pods,
            "patch",
            "status",
            "p",
            Write::Store(&mine),
            None
        )
        .is_ok());
        let err = check(
            "n1",
            pods,
            "patch",
            "status",
            "p",
            Write::Store(&theirs),
            None,
        )
        .unwrap_err();
        assert_eq!(err.code, 403);
        assert_eq!(err.message, "pods \"p\" is forbidden: node \"n1\" can only update pod status for pods with spec.nodeName set to itself");
        assert!(check("n1", pods, "delete", "", "p", Write::Remove(&mine), None).is_ok());
        assert!(check("n1", pods, "delete", "", "p", Write::Remove(&theirs), None).is_err());
        assert!(check(
            "n1",
            pods,
            "create",
            "eviction",
            "p",
            Write::Remove(&theirs),
            None
        )
        .is_err());
    }

    #[test]
    fn a_node_creates_only_its_own_mirror_pods() {
        let pods = def("", "pods");
        let err = check(
            "n1",
            pods,
            "create",
            "",
            "p",
            Write::Store(&pod("n1", false)),
            None,
        )
        .unwrap_err();
        assert!(
            err.message
                .ends_with("node \"n1\" can only create mirror pods"),
            "{}",
            err.message
        );
        assert!(check(
            "n1",
            pods,
            "create",
            "",
            "p",
            Write::Store(&pod("n2", true)),
            None
        )
        .is_err());
        assert!(check(
            "n1",
            pods,
            "create",
            "",
            "p",
            Write::Store(&pod("n1", true)),
            None
        )
        .is_ok());
    }

    #[test]
    fn a_node_writes_only_its_own_node_and_lease() {
        let nodes = def("", "nodes");
        let node = json!({"metadata": {"name": "n2"}});
        let err = check(
            "n1",
            nodes,
            "patch",
            "status",
            "n2",
            Write::Store(&node),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "nodes \"n2\" is forbidden: node \"n1\" is not allowed to modify node \"n2\""
        );
        let leases = def("coordination.k8s.io", "leases");
        let lease = json!({"metadata": {"name": "n2", "namespace": "kube-node-lease"}});
        assert!(check("n1", leases, "update", "", "n2", Write::Store(&lease), None).is_err());
        let own = json!({"metadata": {"name": "n1", "namespace": "kube-node-lease"}});
        assert!(check("n1", leases, "update", "", "n1", Write::Store(&own), None).is_ok());
    }

    #[test]
    fn a_node_may_not_give_itself_a_role_or_change_its_taints() {
        let nodes = def("", "nodes");
        let fresh = json!({"metadata": {"name": "n1", "labels": {
            "kubernetes.io/hostname": "n1", "node.kubernetes.io/exclude-from-external-load-balancers": "",
            "example.com/rack": "r1", "node-role.kubernetes.io/worker": ""}}});
        let err = check("n1", nodes, "create", "", "n1", Write::Store(&fresh), None).unwrap_err();
        assert_eq!(err.message, "nodes \"n1\" is forbidden: node \"n1\" is not allowed to set the following labels: node-role.kubernetes.io/worker");
        // A role the admin gave it stays when the node writes its Node; changing it does not.
        let stored = json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}}});
        let kept = json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": "", "a": "b"}}});
        assert!(check(
            "n1",
            nodes,
            "patch",
            "",
            "n1",
            Write::Store(&kept),
            Some(&stored)
        )
        .is_ok());
        let dropped = json!({"metadata": {"name": "n1", "labels": {"node-restriction.kubernetes.io/pool": "gpu"}}});
        let err = check(
            "n1",
            nodes,
            "patch",
            "",
            "n1",
            Write::Store(&dropped),
            Some(&stored),
        )
        .unwrap_err();
        assert!(err.message.ends_with("is not allowed to modify labels: node-restriction.kubernetes.io/pool, node-role.kubernetes.io/control-plane"), "{}", err.message);
        let tainted = json!({"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}});
        let err = check(
            "n1",
            nodes,
            "update",
            "",
            "n1",
            Write::Store(&tainted),
            Some(&json!({"metadata": {"name": "n1"}})),
        )
        .unwrap_err();
        assert!(err.message.ends_with("is not allowed to modify taints"));
        assert!(
            check(
                "n1",
                nodes,
                "update",
                "status",
                "n1",
                Write::Store(&tainted),
                Some(&stored)
            )
            .is_ok(),
            "status writes keep the stored labels and taints"
        );
    }
}

//! Keeps authorization current: reconciles the bootstrap policy at start, keeps aggregated
//! ClusterRoles' rules equal to the union of the roles they select, and rebuilds the RBAC index
//! whenever any Role, ClusterRole or binding changes.

use std::sync::Arc;

use kapi_api::resources::{self, ResourceDef};
use kapi_api::status::ApiError;
use kapi_auth::rbac::{self, PolicyRule, RbacIndex};
use serde_json::{json, Value};

use crate::filters::authz::Authorizer;
use crate::registry::{Registry, WriteOptions};

const GROUP: &str = "rbac.authorization.k8s.io";

fn def(resource: &str) -> Result<&'static ResourceDef, ApiError> {
    resources::find(GROUP, "v1", resource)
        .ok_or_else(|| ApiError::internal(format!("{resource} not served")))
}

fn resource_of(kind: &str) -> &'static str {
    match kind {
        "ClusterRole" => "clusterroles",
        "ClusterRoleBinding" => "clusterrolebindings",
        "Role" => "roles",
        _ => "rolebindings",
    }
}

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..Default::default()
    }
}

/// Creates missing bootstrap roles and bindings; refreshes those still marked for autoupdate.
pub async fn reconcile_bootstrap(registry: &Registry) -> Result<(), ApiError> {
    for obj in rbac::bootstrap_policy() {
        let kind = obj["kind"].as_str().unwrap_or("");
        let d = def(resource_of(kind))?;
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        match registry.get_value(d, ns.as_deref(), &name) {
            Err(_) => match registry
                .create(d, ns.as_deref(), obj.clone(), &opts())
                .await
            {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            },
            Ok((current, _)) => {
                let autoupdate = current
                    .pointer(&format!(
                        "/metadata/annotations/{}",
                        rbac::AUTOUPDATE_ANNOTATION.replace('/', "~1")
                    ))
                    .and_then(Value::as_str)
                    == Some("true");
                if !autoupdate {
                    continue;
                }
                let mut next = current.clone();
                let mut changed = false;
                for field in ["rules", "subjects", "roleRef", "aggregationRule"] {
                    // Aggregated roles get their rules from the aggregator, not from here.
                    if field == "rules" && obj.get("aggregationRule").is_some() {
                        continue;
                    }
                    if obj.get(field) != current.get(field) {
                        match obj.get(field) {
                            Some(v) => next[field] = v.clone(),
                            None => {
                                if let Some(m) = next.as_object_mut() {
                                    m.remove(field);
                                }
                            }
                        }
                        changed = true;
                    }
                }
                if changed {
                    registry
                        .update(d, ns.as_deref(), &name, "", next, &opts())
                        .await?;
                }
            }
        }
    }
    Ok(())
}

fn list(registry: &Registry, resource: &str) -> Vec<Value> {
    def(resource).map_or_else(|_| Vec::new(), |d| registry.list_values(d))
}

/// Writes aggregated rules into ClusterRoles whose `.rules` differ from the aggregation.
async fn aggregate(registry: &Registry, cluster_roles: &[Value]) {
    let Ok(d) = def("clusterroles") else { return };
    for (name, rules) in rbac::aggregate(cluster_roles) {
        let Some(current) = cluster_roles
            .iter()
            .find(|r| r.pointer("/metadata/name").and_then(Value::as_str) == Some(name.as_str()))
        else {
            continue;
        };
        let want: Vec<Value> = rules.iter().map(PolicyRule::to_json).collect();
        let have = current
            .get("rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if have == want {
            continue;
        }
        let mut next = current.clone();
        next["rules"] = json!(want);
        if let Err(e) = registry.update(d, None, &name, "", next, &opts()).await {
            tracing::warn!(clusterrole = %name, error = %e, "aggregating rules failed");
        }
    }
}

/// Builds the index from what is stored now.
pub fn rebuild(registry: &Registry, authorizer: &Authorizer) -> Vec<Value> {
    let cluster_roles = list(registry, "clusterroles");
    let index = RbacIndex::build(
        &list(registry, "roles"),
        &cluster_roles,
        &list(registry, "rolebindings"),
        &list(registry, "clusterrolebindings"),
    );
    authorizer.replace(index);
    cluster_roles
}

/// Runs until the store closes: on every RBAC change, aggregate, then rebuild the index.
pub async fn run(registry: Arc<Registry>, authorizer: Arc<Authorizer>) {
    loop {
        let rev = registry.store().revision();
        let cluster_roles = rebuild(&registry, &authorizer);
        aggregate(&registry, &cluster_roles).await;
        let mut after = rev;
        if registry.store().revision() != rev {
            // Aggregation wrote; rebuild at once so the index includes it.
            after = registry.store().revision();
            rebuild(&registry, &authorizer);
        }
        let defs: Vec<&ResourceDef> = resources::in_group_version(GROUP, "v1").collect();
        crate::registry::next_change(&registry, &defs, after).await;
    }
}

//! The `APIService` objects (apiregistration.k8s.io/v1) of every group-version this server
//! serves itself, as kube-apiserver's autoregistration keeps them: clients that discover the
//! API through `apiregistration.k8s.io` (and `kubectl get apiservices`) find each one, Local
//! and Available, with upstream's group and version priorities. kapi does not proxy to
//! aggregated servers: an APIService naming a Service is stored and left unjudged.

use kapi_api::resources::{self, ResourceDef};
use kapi_api::status::ApiError;
use serde_json::{json, Value};

use crate::registry::{Registry, WriteOptions};

/// The label of APIServices the server registers for itself at start.
pub const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";

/// kube-apiserver's (groupPriorityMinimum, versionPriority) for a group-version; `None` for
/// one it registers no APIService for.
pub fn priority(group: &str, version: &str) -> Option<(i64, i64)> {
    let group_priority = match group {
        "" => 18000,
        "apps" => 17800,
        "events.k8s.io" => 17750,
        "authentication.k8s.io" => 17700,
        "authorization.k8s.io" => 17600,
        "autoscaling" => 17500,
        "batch" => 17400,
        "certificates.k8s.io" => 17300,
        "networking.k8s.io" => 17200,
        "policy" => 17100,
        "rbac.authorization.k8s.io" => 17000,
        "storage.k8s.io" => 16800,
        "apiextensions.k8s.io" | "admissionregistration.k8s.io" => 16700,
        "scheduling.k8s.io" => 16600,
        "coordination.k8s.io" => 16500,
        "node.k8s.io" => 16300,
        "discovery.k8s.io" | "resource.k8s.io" => 16200,
        "flowcontrol.apiserver.k8s.io" => 16100,
        // metrics-server registers its group so.
        crate::metrics::GROUP => 100,
        _ => return None,
    };
    let version_priority = match (group, version) {
        ("", _) => 1,
        ("autoscaling", "v2") => 30,
        ("flowcontrol.apiserver.k8s.io", "v1") => 21,
        (crate::metrics::GROUP, _) => 100,
        (_, "v1") => 15,
        _ => 9,
    };
    Some((group_priority, version_priority))
}

/// `v1.apps`, or `v1.` for the core group.
pub fn name(group: &str, version: &str) -> String {
    format!("{version}.{group}")
}

fn def() -> Result<&'static ResourceDef, ApiError> {
    resources::find("apiregistration.k8s.io", "v1", "apiservices")
        .ok_or_else(|| ApiError::internal("apiservices not served"))
}

/// The APIService of one local group-version.
fn local(group: &str, version: &str, priorities: (i64, i64)) -> Value {
    json!({
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": name(group, version), "labels": {AUTOMANAGED: "onstart"}},
        "spec": {
            "group": group, "version": version,
            "groupPriorityMinimum": priorities.0, "versionPriority": priorities.1,
        },
    })
}

fn available() -> Value {
    json!({"conditions": [{
        "type": "Available", "status": "True",
        "lastTransitionTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "reason": "Local", "message": "Local APIServices are always available",
    }]})
}

/// Every group-version served here, with what kube-apiserver registers for it.
fn served() -> Vec<(&'static str, &'static str, (i64, i64))> {
    let mut out: Vec<_> = resources::group_versions()
        .into_iter()
        .filter_map(|(g, v)| priority(g, v).map(|p| (g, v, p)))
        .collect();
    if let Some(p) = priority(crate::metrics::GROUP, crate::metrics::VERSION) {
        out.push((crate::metrics::GROUP, crate::metrics::VERSION, p));
    }
    out
}

/// Registers (or corrects) the APIService of each group-version served here, Available, and
/// removes automanaged ones for group-versions no longer served.
pub async fn register(registry: &Registry) -> Result<(), ApiError> {
    let def = def()?;
    let opts = WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..Default::default()
    };
    let served = served();
    for (group, version, priorities) in &served {
        let want = local(group, version, *priorities);
        let name = name(group, version);
        match registry.get_value(def, None, &name) {
            Err(e) if e.code == 404 => match registry.create(def, None, want, &opts).await {
                Ok(_) => {}
                Err(e) if e.code == 409 => continue,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
            Ok((current, _)) if current["spec"] != want["spec"] => {
                let mut next = current.clone();
                next["spec"] = want["spec"].clone();
                next["metadata"]["labels"][AUTOMANAGED] = json!("onstart");
                match registry.update(def, None, &name, "", next, &opts).await {
                    Ok(_) | Err(ApiError { code: 409, .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(_) => {}
        }
        let Ok((current, _)) = registry.get_value(def, None, &name) else {
            continue;
        };
        let is_available = current
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Available" && c["status"] == "True")
            });
        if !is_available {
            let mut next = current.clone();
            next["status"] = available();
            match registry
                .update(def, None, &name, "status", next, &opts)
                .await
            {
                Ok(_) | Err(ApiError { code: 409, .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    for obj in registry.list_values(def) {
        let managed = obj.pointer(&format!(
            "/metadata/labels/{}",
            AUTOMANAGED.replace('/', "~1")
        )) == Some(&json!("onstart"));
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let still = served.iter().any(|(g, v, _)| self::name(g, v) == name);
        if managed && !still {
            registry
                .delete(def, None, name, &json!({}), false, None)
                .await
                .map(|_| ())
                .or_else(|e| if e.code == 404 { Ok(()) } else { Err(e) })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_served_has_upstreams_priorities() {
        // The aggregator's own group is not registered as an APIService.
        for (group, version) in resources::group_versions()
            .into_iter()
            .filter(|(g, _)| *g != "apiregistration.k8s.io")
        {
            assert!(
                priority(group, version).is_some(),
                "{version}.{group} has no priority"
            );
        }
        assert_eq!(priority("", "v1"), Some((18000, 1)));
        assert_eq!(priority("apps", "v1"), Some((17800, 15)));
        assert_eq!(priority("autoscaling", "v2"), Some((17500, 30)));
        assert_eq!(priority("autoscaling", "v1"), Some((17500, 15)));
        assert_eq!(name("", "v1"), "v1.");
        assert_eq!(name("apps", "v1"), "v1.apps");
    }
}

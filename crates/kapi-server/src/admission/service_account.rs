//! ServiceAccount admission for pods, as upstream's plugin: default `serviceAccountName`,
//! refuse a pod whose account does not exist, and — unless automounting is off on the pod or
//! its account — add the projected `kube-api-access-<random>` volume (a bound token, the
//! cluster CA from `kube-root-ca.crt`, the namespace) mounted read-only at
//! `/var/run/secrets/kubernetes.io/serviceaccount` in every container and init container.

use kapi_api::meta::generate_suffix;
use kapi_api::resources;
use kapi_api::status::ApiError;
use serde_json::{json, Value};

use crate::registry::Registry;

/// Where every container finds its service-account credentials.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The lifetime kube-apiserver gives the projected token (the kubelet refreshes it).
const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

fn forbidden(pod: &str, message: String) -> ApiError {
    let mut e = ApiError::forbidden("", "pods", "", pod, "", "", "create");
    e.message = format!("pods \"{pod}\" is forbidden: {message}");
    e
}

/// Mutates and checks a pod being created in `namespace`.
pub fn admit(registry: &Registry, namespace: &str, pod: &mut Value) -> Result<(), ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .or_else(|| {
            pod.pointer("/metadata/generateName")
                .and_then(Value::as_str)
        })
        .unwrap_or("")
        .to_string();
    // Mirror pods (static pods reflected by a node) are left alone, as upstream does.
    if pod
        .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
    {
        return Ok(());
    }
    if !pod.get("spec").is_some_and(Value::is_object) {
        return Ok(()); // validation reports the missing spec
    }
    let spec = &mut pod["spec"];
    let sa_name = match spec.get("serviceAccountName").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => spec
            .get("serviceAccount")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string(),
    };
    spec["serviceAccountName"] = json!(sa_name);
    spec["serviceAccount"] = json!(sa_name);
    let sa_def = resources::find("", "v1", "serviceaccounts").ok_or_else(ApiError::no_route)?;
    let (sa, _) = registry.get_value(sa_def, Some(namespace), &sa_name).map_err(|_| {
        forbidden(
            &name,
            format!("error looking up service account {namespace}/{sa_name}: serviceaccount \"{sa_name}\" not found"),
        )
    })?;
    let automount = spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            sa.get("automountServiceAccountToken")
                .and_then(Value::as_bool)
        })
        .unwrap_or(true);
    if !automount {
        return Ok(());
    }
    let containers_mount = |spec: &Value| {
        ["initContainers", "containers"].iter().any(|list| {
            spec.get(*list).and_then(Value::as_array).is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.get("volumeMounts")
                        .and_then(Value::as_array)
                        .is_some_and(|ms| {
                            ms.iter().any(|m| {
                                m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH)
                            })
                        })
                })
            })
        })
    };
    if containers_mount(spec) {
        return Ok(()); // the user mounted something there themselves
    }
    let volume_name = format!("kube-api-access-{}", generate_suffix(rand::random::<u32>));
    let volume = json!({
        "name": volume_name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ],
            "defaultMode": 420
        }
    });
    match spec.get_mut("volumes").and_then(Value::as_array_mut) {
        Some(vs) => vs.push(volume),
        None => spec["volumes"] = json!([volume]),
    }
    for list in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                let mount = json!({"name": volume_name, "readOnly": true, "mountPath": MOUNT_PATH});
                match c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                    Some(ms) => ms.push(mount),
                    None => c["volumeMounts"] = json!([mount]),
                }
            }
        }
    }
    Ok(())
}

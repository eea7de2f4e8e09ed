//! What a fresh cluster has before anyone asks: the default namespaces, the `kubernetes`
//! Service with its Endpoints and EndpointSlice pointing at this API server, and the `kube-dns`
//! Service in kube-system (every kapi node serves cluster DNS; a controller lists them as its
//! endpoints).
//!
//! Runs at every start and only creates or corrects, never deletes, so restarts are no-ops.

use kapi_api::resources;
use kapi_api::status::ApiError;
use serde_json::{json, Value};

use crate::registry::{Registry, WriteOptions};

/// The namespaces every cluster has.
pub const DEFAULT_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

fn find(group: &str, resource: &str) -> Result<&'static resources::ResourceDef, ApiError> {
    resources::find(group, "v1", resource)
        .ok_or_else(|| ApiError::internal(format!("{resource} not served")))
}

async fn ensure(
    registry: &Registry,
    group: &str,
    resource: &str,
    ns: Option<&str>,
    obj: Value,
) -> Result<(), ApiError> {
    let def = find(group, resource)?;
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let opts = WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..Default::default()
    };
    match registry.get_value(def, ns, &name) {
        Err(_) => match registry.create(def, ns, obj, &opts).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == 409 => Ok(()),
            Err(e) => Err(e),
        },
        Ok((current, _)) => {
            // Correct only what this process owns: subsets/endpoints of the kubernetes Service.
            let owned = ["subsets", "endpoints", "ports"];
            if owned
                .iter()
                .any(|k| obj.get(*k).is_some() && obj.get(*k) != current.get(*k))
            {
                let mut next = current.clone();
                for k in owned {
                    if let Some(v) = obj.get(k) {
                        next[k] = v.clone();
                    }
                }
                registry.update(def, ns, &name, "", next, &opts).await?;
            }
            Ok(())
        }
    }
}

/// Creates the default namespaces and the `kubernetes` Service, Endpoints and EndpointSlice
/// (pointing at `advertise_ips`: this server, and on a shared store the others alive).
pub async fn run(registry: &Registry, advertise_ips: &[String], port: u16) -> Result<(), ApiError> {
    for ns in DEFAULT_NAMESPACES {
        ensure(
            registry,
            "",
            "namespaces",
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    let labels = json!({"component": "apiserver", "provider": "kubernetes"});
    ensure(
        registry,
        "",
        "services",
        Some("default"),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": kapi_auth::pki::KUBERNETES_SERVICE_IP,
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
                "sessionAffinity": "None",
            }
        }),
    )
    .await?;
    kubernetes_endpoints(registry, advertise_ips, port).await?;
    // A cluster whose data predates cluster DNS may have given the address away: the server
    // still starts, and says why pods will not resolve names.
    if let Err(e) = ensure(registry, "", "services", Some("kube-system"), kube_dns()).await {
        tracing::warn!(error = %e.message, "could not create the kube-dns Service");
    }
    Ok(())
}

/// Points the `kubernetes` Service's Endpoints and EndpointSlice at the API servers.
pub async fn kubernetes_endpoints(
    registry: &Registry,
    ips: &[String],
    port: u16,
) -> Result<(), ApiError> {
    let addresses: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip})).collect();
    ensure(registry, "", "endpoints", Some("default"), json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": addresses, "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    })).await?;
    let endpoints: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
        .collect();
    ensure(registry, "discovery.k8s.io", "endpointslices", Some("default"), json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    })).await
}

/// The cluster DNS Service, with kubeadm's name, labels and ports. It has no selector: its
/// endpoints are the nodes' own DNS servers, and `internalTrafficPolicy: Local` sends each
/// pod's queries to the server on its node.
fn kube_dns() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "KubeDNS"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": kapi_auth::pki::CLUSTER_DNS_IP,
            "internalTrafficPolicy": "Local",
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            ],
        }
    })
}

/// The label that marks the server's own node, as kubeadm's mark-control-plane phase sets it
/// with the admin's rights (a kubelet may not give itself a role).
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";

/// Labels the node `name` (the one this server runs) as the control plane's once it has
/// registered, and again if it is ever registered afresh without the label.
pub async fn mark_control_plane(registry: std::sync::Arc<Registry>, name: String) {
    let Ok(def) = find("", "nodes") else { return };
    let mut after = registry.store().revision();
    loop {
        if let Ok((node, _)) = registry.get_value(def, None, &name) {
            if node
                .pointer("/metadata/labels")
                .and_then(|l| l.get(CONTROL_PLANE_LABEL))
                .is_none()
            {
                let patch = json!({"metadata": {"labels": {CONTROL_PLANE_LABEL: ""}}});
                let opts = WriteOptions {
                    field_manager: "kapi-server".into(),
                    ..Default::default()
                };
                let body = patch.to_string();
                if let Err(e) = registry
                    .patch(
                        def,
                        None,
                        &name,
                        "",
                        crate::registry::PatchType::Merge,
                        body.as_bytes(),
                        &opts,
                    )
                    .await
                {
                    tracing::warn!(node = %name, error = %e, "could not label the control-plane node");
                }
            }
        }
        crate::registry::next_change(&registry, &[def], after).await;
        after = registry.store().revision();
    }
}

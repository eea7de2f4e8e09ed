//! The endpoints of cluster DNS: every kapi node serves DNS on its InternalIP (port 53), so
//! the `kube-dns` Service's EndpointSlice lists the nodes, each with its `nodeName`, ready
//! when the node is. The Service's `internalTrafficPolicy: Local` then makes each node's
//! service proxy send its pods' queries to its own server, as NodeLocal DNSCache would.
//!
//! The slice carries its own `managed-by` value, so the EndpointSlice controller (which owns
//! only slices of Services with selectors) leaves it alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::PostParams;
use kube::runtime::reflector::Store;
use kube::Api;
use tokio::sync::Notify;

use crate::endpointslice::desired::{MANAGED_BY_LABEL, SERVICE_NAME_LABEL};
use crate::shared::{is_status, Context, Task};

/// The Service (and slice) name and namespace, kubeadm's.
pub const SERVICE: &str = "kube-dns";
/// Where it lives.
pub const NAMESPACE: &str = "kube-system";
/// The port every node's DNS server listens on.
pub const DNS_PORT: i32 = 53;
/// The `managed-by` value of the slice.
pub const MANAGED_BY: &str = "cluster-dns.kapi.dev";

/// Keeps the `kube-dns` slice listing the nodes.
pub fn run(ctx: Arc<Context>) -> Task {
    Box::pin(sync_forever(ctx.client.clone()))
}

async fn sync_forever(client: kube::Client) {
    let changed = Arc::new(Notify::new());
    let nodes: Store<Node> = kapi_node::reflect::spawn(
        Api::all(client.clone()),
        changed.clone(),
        crate::shared::trim_node,
    );
    let services = Api::<Service>::namespaced(client.clone(), NAMESPACE);
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), NAMESPACE);
    if nodes.wait_until_ready().await.is_err() {
        return;
    }
    let mut written: Option<EndpointSlice> = None;
    loop {
        // Node heartbeats wake this often; the slice changes only when addresses or
        // readiness do, and the last write is remembered so that no read is needed then.
        let want_endpoints = endpoints(&nodes.state());
        let up_to_date = written
            .as_ref()
            .is_some_and(|w| w.endpoints == want_endpoints);
        if !up_to_date {
            match sync(&services, &slices, want_endpoints).await {
                Ok(slice) => written = slice,
                Err(e) => {
                    tracing::warn!(error = %e, "could not write the kube-dns endpoints");
                    written = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        changed.notified().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes the slice if the Service exists; returns what is stored.
async fn sync(
    services: &Api<Service>,
    slices: &Api<EndpointSlice>,
    endpoints: Vec<Endpoint>,
) -> Result<Option<EndpointSlice>, kube::Error> {
    let Some(svc) = services.get_opt(SERVICE).await? else {
        return Ok(None);
    };
    let want = slice(&svc, endpoints);
    match slices.get_opt(SERVICE).await? {
        None => match slices.create(&PostParams::default(), &want).await {
            Ok(s) => Ok(Some(s)),
            Err(e) if is_status(&e, 409) => Ok(None),
            Err(e) => Err(e),
        },
        Some(have)
            if have.endpoints == want.endpoints
                && have.ports == want.ports
                && have.metadata.labels == want.metadata.labels =>
        {
            Ok(Some(have))
        }
        Some(have) => {
            let mut next = want;
            next.metadata.resource_version = have.metadata.resource_version;
            slices
                .replace(SERVICE, &PostParams::default(), &next)
                .await
                .map(Some)
        }
    }
}

/// One endpoint per node with an InternalIP, sorted by node name.
pub fn endpoints(nodes: &[Arc<Node>]) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = nodes
        .iter()
        .filter_map(|n| {
            let status = n.status.as_ref()?;
            let ip = status
                .addresses
                .iter()
                .flatten()
                .find(|a| a.type_ == "InternalIP" && !a.address.contains(':'))?
                .address
                .clone();
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            Some(Endpoint {
                addresses: vec![ip],
                conditions: Some(EndpointConditions {
                    ready: Some(ready),
                    serving: Some(ready),
                    terminating: Some(false),
                }),
                node_name: n.metadata.name.clone(),
                ..Default::default()
            })
        })
        .collect();
    out.sort_by(|a, b| a.node_name.cmp(&b.node_name));
    out
}

fn slice(svc: &Service, endpoints: Vec<Endpoint>) -> EndpointSlice {
    let port = |name: &str, protocol: &str| EndpointPort {
        name: Some(name.into()),
        port: Some(DNS_PORT),
        protocol: Some(protocol.into()),
        app_protocol: None,
    };
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(SERVICE.into()),
            namespace: Some(NAMESPACE.into()),
            labels: Some(BTreeMap::from([
                (SERVICE_NAME_LABEL.to_string(), SERVICE.to_string()),
                (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
            ])),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Service".into(),
                name: SERVICE.into(),
                uid: svc.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints,
        ports: Some(vec![port("dns", "UDP"), port("dns-tcp", "TCP")]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_node_with_an_address_is_an_endpoint_ready_as_the_node_is() {
        let node = |name: &str, ip: &str, ready: &str| -> Arc<Node> {
            Arc::new(
                serde_json::from_value(json!({
                    "metadata": {"name": name},
                    "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                               "conditions": [{"type": "Ready", "status": ready}]}
                }))
                .unwrap(),
            )
        };
        let bare: Arc<Node> =
            Arc::new(serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap());
        let eps = endpoints(&[
            node("n2", "10.0.0.2", "Unknown"),
            node("n1", "10.0.0.1", "True"),
            bare,
        ]);
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].node_name.as_deref(), Some("n1"));
        assert_eq!(eps[0].addresses, ["10.0.0.1"]);
        assert_eq!(eps[0].conditions.as_ref().unwrap().ready, Some(true));
        assert_eq!(eps[1].conditions.as_ref().unwrap().ready, Some(false));
    }
}

//! Holding load-balancer pool addresses on this node, as MetalLB's layer-2 speaker announces
//! them: an address the servicelb controller gave out of the pool is added to the loopback
//! interface (labelled [`LABEL`], so kapi only ever removes its own) of the node [`announcer`]
//! picks, so the kernel answers ARP for it and accepts its traffic, which the Service's rules
//! then DNAT like any ingress address. (A dummy interface, as kube-proxy's IPVS mode uses,
//! needs a kernel module that is not always there; loopback always is.)
//! An address whose Service has no endpoints is held by every node, each of which refuses
//! connections to it at once. Moving an address does not send a gratuitous ARP, so a
//! neighbour may keep the old node's hardware address until its ARP entry goes stale.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::pool::{announcer, LbPool};
use super::ProxyError;

/// The label of the addresses kapi holds on loopback.
pub const LABEL: &str = "lo:kapi-lb";

/// The nodes with endpoints of one Service.
#[derive(Default)]
struct EndpointNodes<'a> {
    ready: BTreeSet<&'a str>,
    any: BTreeSet<&'a str>,
}

/// The pool addresses this node must hold: those of LoadBalancer Services without a class
/// (the built-in controller's) for which this node is the announcer.
pub fn announced(
    services: &[Arc<Service>],
    slices: &[Arc<EndpointSlice>],
    node_name: &str,
    pool: &LbPool,
) -> BTreeSet<Ipv4Addr> {
    let mut nodes: BTreeMap<(&str, &str), EndpointNodes> = BTreeMap::new();
    for slice in slices {
        let ns = slice.metadata.namespace.as_deref().unwrap_or_default();
        let Some(svc) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
        else {
            continue;
        };
        let entry = nodes.entry((ns, svc.as_str())).or_default();
        for ep in &slice.endpoints {
            let Some(node) = ep.node_name.as_deref() else {
                continue;
            };
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if ready {
                entry.ready.insert(node);
            }
            entry.any.insert(node);
        }
    }
    let mut out = BTreeSet::new();
    for svc in services {
        let spec = svc.spec.as_ref();
        if spec.and_then(|s| s.type_.as_deref()) != Some("LoadBalancer")
            || spec.and_then(|s| s.load_balancer_class.as_ref()).is_some()
        {
            continue;
        }
        let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        let empty = EndpointNodes::default();
        let EndpointNodes { ready, any } = nodes.get(&(ns, name)).unwrap_or(&empty);
        let key = format!("{ns}/{name}");
        // Without endpoints every node holds it, and each refuses connections at once.
        match announcer(&key, ready.iter().copied(), any.iter().copied()) {
            Some(node) if node != node_name => continue,
            _ => {}
        }
        let ingress = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref());
        for ip in ingress
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.as_deref())
        {
            if pool.contains(ip) {
                if let Ok(ip) = ip.parse() {
                    out.insert(ip);
                }
            }
        }
    }
    out
}

/// Makes the node hold exactly `want` under [`LABEL`].
pub async fn hold(want: &BTreeSet<Ipv4Addr>) -> Result<(), ProxyError> {
    let held = held().await?;
    for addr in want.difference(&held) {
        let addr = format!("{addr}/32");
        ip(&["addr", "add", &addr, "dev", "lo", "label", LABEL]).await?;
    }
    for addr in held.difference(want) {
        ip(&["addr", "del", &format!("{addr}/32"), "dev", "lo"]).await?;
    }
    Ok(())
}

/// Lets go of every address held (when the node stops).
pub async fn release() {
    let _ = hold(&BTreeSet::new()).await;
}

/// The addresses on loopback under [`LABEL`].
async fn held() -> Result<BTreeSet<Ipv4Addr>, ProxyError> {
    let out = tokio::process::Command::new("ip")
        .args(["-j", "-4", "addr", "show", "dev", "lo"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(ProxyError::Spawn)?;
    if !out.status.success() {
        return Err(ProxyError::Ip(format!(
            "ip addr show dev lo: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let links: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| ProxyError::Ip(format!("ip -j addr show: {e}")))?;
    Ok(links
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().into_iter().flatten())
        .filter(|a| a["label"] == LABEL)
        .filter_map(|a| a["local"].as_str()?.parse().ok())
        .collect())
}

async fn ip(args: &[&str]) -> Result<(), ProxyError> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(ProxyError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ProxyError::Ip(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(name: &str, class: Option<&str>, ip: &str) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "d"},
                "spec": {"type": "LoadBalancer", "loadBalancerClass": class},
                "status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}},
            }))
            .unwrap(),
        )
    }

    fn slice(svc: &str, endpoints: serde_json::Value) -> Arc<EndpointSlice> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": format!("{svc}-x"), "namespace": "d",
                             "labels": {"kubernetes.io/service-name": svc}},
                "addressType": "IPv4",
                "endpoints": endpoints,
            }))
            .unwrap(),
        )
    }

    #[test]
    fn the_node_with_the_ready_endpoint_holds_pool_addresses_only() {
        let pool: LbPool = "192.0.2.0/24".parse().unwrap();
        let services = [
            service("web", None, "192.0.2.1"),
            service("node-addr", None, "10.250.0.10"),
            service("other-class", Some("example.com/lb"), "192.0.2.2"),
        ];
        let slices = [
            slice(
                "web",
                json!([
                    {"addresses": ["10.0.0.5"], "nodeName": "a", "conditions": {"ready": true}},
                    {"addresses": ["10.0.0.6"], "nodeName": "b", "conditions": {"ready": false}},
                ]),
            ),
            slice(
                "node-addr",
                json!([{"addresses": ["10.0.0.7"], "nodeName": "a"}]),
            ),
            slice(
                "other-class",
                json!([{"addresses": ["10.0.0.8"], "nodeName": "a"}]),
            ),
        ];
        let on_a = announced(&services, &slices, "a", &pool);
        assert_eq!(on_a, ["192.0.2.1".parse().unwrap()].into_iter().collect());
        assert!(announced(&services, &slices, "b", &pool).is_empty());
    }

    #[test]
    fn without_endpoints_every_node_holds_the_address_to_refuse_connections() {
        let pool: LbPool = "192.0.2.0/24".parse().unwrap();
        let services = [service("web", None, "192.0.2.1")];
        let want: BTreeSet<Ipv4Addr> = ["192.0.2.1".parse().unwrap()].into_iter().collect();
        assert_eq!(announced(&services, &[], "a", &pool), want);
        assert_eq!(announced(&services, &[], "b", &pool), want);
    }
}

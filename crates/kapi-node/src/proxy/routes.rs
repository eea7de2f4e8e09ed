//! What the proxy programs, computed from Services and EndpointSlices: for each IPv4 Service
//! port, the addresses it is reached at (cluster IP, external IPs, LoadBalancer ingress, node
//! port) and the endpoints behind each kind of address under the Service's traffic policies.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Upstream's default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours).
pub const DEFAULT_AFFINITY_SECONDS: i32 = 10_800;

/// One endpoint of a Service port.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `ip:port`.
    pub addr: String,
    /// Whether it runs on this node (for the `Local` traffic policies).
    pub local: bool,
}

/// One Service port and where its traffic goes.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePort {
    /// `namespace/name:port`, for comments in the rules.
    pub name: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The Service port.
    pub port: i32,
    /// The cluster IP.
    pub cluster_ip: String,
    /// External IPs and LoadBalancer ingress addresses, served on the Service port.
    pub external_ips: Vec<String>,
    /// The node port, for NodePort and LoadBalancer Services.
    pub node_port: Option<i32>,
    /// Usable endpoints: the ready ones, or when none is ready the terminating ones that still
    /// serve (so that connections keep working through a rolling update's last pod).
    pub endpoints: Vec<Endpoint>,
    /// `internalTrafficPolicy: Local`: cluster-IP traffic only to this node's endpoints.
    pub internal_local: bool,
    /// `externalTrafficPolicy: Local`: external traffic only to this node's endpoints, with
    /// the client's address kept.
    pub external_local: bool,
    /// `sessionAffinity: ClientIP` and its timeout.
    pub affinity_seconds: Option<i32>,
}

impl ServicePort {
    /// The endpoints cluster-IP traffic may go to.
    pub fn internal_endpoints(&self) -> Vec<usize> {
        self.select(self.internal_local)
    }

    /// The endpoints external (node port, external IP, load balancer) traffic may go to.
    pub fn external_endpoints(&self) -> Vec<usize> {
        self.select(self.external_local)
    }

    fn select(&self, local_only: bool) -> Vec<usize> {
        (0..self.endpoints.len())
            .filter(|i| !local_only || self.endpoints[*i].local)
            .collect()
    }
}

/// The ports of every IPv4 Service with a cluster IP, sorted by name.
pub fn routes(
    services: &[Arc<Service>],
    slices: &[Arc<EndpointSlice>],
    node_name: &str,
) -> Vec<ServicePort> {
    // Slices grouped by Service once, rather than every slice scanned for every Service.
    let mut by_service: HashMap<(&str, &str), Vec<&Arc<EndpointSlice>>> = HashMap::new();
    for s in slices.iter().filter(|s| s.address_type == "IPv4") {
        let Some(svc) = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
        else {
            continue;
        };
        let ns = s.metadata.namespace.as_deref().unwrap_or_default();
        by_service.entry((ns, svc.as_str())).or_default().push(s);
    }
    let mut out = Vec::new();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        let Some(cluster_ip) = spec
            .cluster_ip
            .as_deref()
            .filter(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok())
        else {
            continue;
        };
        let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        let own: &[&Arc<EndpointSlice>] = by_service
            .get(&(ns, name))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
        let mut external_ips: Vec<String> = spec.external_ips.clone().unwrap_or_default();
        if type_ == "LoadBalancer" {
            external_ips.extend(
                svc.status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.as_ref())
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.ip.clone()),
            );
        }
        external_ips.retain(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok());
        let affinity_seconds = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .filter(|t| (1..=86_400).contains(t))
                .unwrap_or(DEFAULT_AFFINITY_SECONDS)
        });
        for port in spec.ports.iter().flatten() {
            let protocol = port
                .protocol
                .as_deref()
                .unwrap_or("TCP")
                .to_ascii_lowercase();
            // Everything that reaches the nft script is checked to be what it claims (an
            // address, a protocol, a port): text from API objects must never become rules.
            if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp")
                || !valid_port(port.port)
                || port.node_port.is_some_and(|p| !valid_port(p))
            {
                continue;
            }
            let port_name = port.name.clone().unwrap_or_default();
            out.push(ServicePort {
                name: format!(
                    "{ns}/{name}:{}",
                    if port_name.is_empty() {
                        port.port.to_string()
                    } else {
                        port_name.clone()
                    }
                ),
                endpoints: endpoints(own, &port_name, &protocol, node_name),
                protocol,
                port: port.port,
                cluster_ip: cluster_ip.to_string(),
                external_ips: external_ips.clone(),
                node_port: port
                    .node_port
                    .filter(|_| matches!(type_, "NodePort" | "LoadBalancer")),
                internal_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
                external_local: spec.external_traffic_policy.as_deref() == Some("Local"),
                affinity_seconds,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn valid_port(p: i32) -> bool {
    (1..=65535).contains(&p)
}

/// The usable endpoints of one port across a Service's slices.
fn endpoints(
    slices: &[&Arc<EndpointSlice>],
    port_name: &str,
    protocol: &str,
    node_name: &str,
) -> Vec<Endpoint> {
    let mut ready = Vec::new();
    let mut terminating = Vec::new();
    for slice in slices {
        let Some(target) = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or_default() == port_name
                && p.protocol
                    .as_deref()
                    .unwrap_or("TCP")
                    .eq_ignore_ascii_case(protocol)
        }) else {
            continue;
        };
        let Some(target_port) = target.port.filter(|p| valid_port(*p)) else {
            continue;
        };
        for ep in &slice.endpoints {
            let c = ep.conditions.clone().unwrap_or_default();
            let local = ep.node_name.as_deref() == Some(node_name);
            let into = if c.ready.unwrap_or(true) {
                &mut ready
            } else if c.serving == Some(true) && c.terminating == Some(true) {
                &mut terminating
            } else {
                continue;
            };
            for addr in ep
                .addresses
                .iter()
                .filter(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
            {
                into.push(Endpoint {
                    addr: format!("{addr}:{target_port}"),
                    local,
                });
            }
        }
    }
    let mut chosen = if ready.is_empty() { terminating } else { ready };
    chosen.sort_by(|a, b| a.addr.cmp(&b.addr));
    chosen.dedup_by(|a, b| a.addr == b.addr);
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Arc<Service> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn slice(v: serde_json::Value) -> Arc<EndpointSlice> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn node_ports_load_balancer_addresses_and_policies_are_read() {
        let s = svc(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.20", "externalIPs": ["192.0.2.7"],
                     "externalTrafficPolicy": "Local", "sessionAffinity": "ClientIP",
                     "ports": [{"name": "http", "port": 80, "nodePort": 30080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.250.0.10"}, {"hostname": "lb.example"}]}}
        }));
        let sl = slice(json!({
            "metadata": {"name": "web-x", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.244.0.5"], "nodeName": "me", "conditions": {"ready": true}},
                {"addresses": ["10.244.1.5"], "nodeName": "other", "conditions": {"ready": true}},
                {"addresses": ["10.244.0.9"], "nodeName": "me", "conditions": {"ready": false}}
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }));
        let r = routes(&[s], &[sl], "me");
        assert_eq!(r.len(), 1);
        let p = &r[0];
        assert_eq!(p.name, "shop/web:http");
        assert_eq!(p.external_ips, ["192.0.2.7", "10.250.0.10"]);
        assert_eq!(p.node_port, Some(30080));
        assert_eq!(p.affinity_seconds, Some(DEFAULT_AFFINITY_SECONDS));
        assert_eq!(p.endpoints.len(), 2);
        assert_eq!(p.internal_endpoints(), [0, 1]);
        assert_eq!(p.external_endpoints(), [0]);
        assert_eq!(p.endpoints[0].addr, "10.244.0.5:8080");
    }

    #[test]
    fn terminating_serving_endpoints_are_used_only_when_none_is_ready() {
        let s = svc(json!({"metadata": {"name": "web", "namespace": "d"},
            "spec": {"clusterIP": "10.96.0.21", "ports": [{"port": 80}]}}));
        let sl = slice(json!({
            "metadata": {"name": "web-x", "namespace": "d", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": false, "serving": true, "terminating": true}}],
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}]
        }));
        let r = routes(std::slice::from_ref(&s), &[sl], "me");
        assert_eq!(r[0].endpoints[0].addr, "10.244.0.5:8080");
        let ready = slice(json!({
            "metadata": {"name": "web-y", "namespace": "d", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.0.6"], "conditions": {"ready": true}}],
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}]
        }));
        let r = routes(&[s], &[ready], "me");
        assert_eq!(r[0].endpoints.len(), 1);
        assert_eq!(r[0].endpoints[0].addr, "10.244.0.6:8080");
    }

    #[test]
    fn text_that_is_not_an_address_protocol_or_port_never_reaches_the_rules() {
        let s = svc(json!({"metadata": {"name": "web", "namespace": "d"},
            "spec": {"clusterIP": "10.96.0.30", "ports": [
                {"name": "a", "port": 80, "protocol": "TCP; flush ruleset"},
                {"name": "b", "port": 70000},
                {"name": "c", "port": 81}]}}));
        let sl = slice(json!({
            "metadata": {"name": "web-x", "namespace": "d", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.0.5; flush ruleset", "10.244.0.6"], "conditions": {"ready": true}}],
            "ports": [{"name": "c", "port": 8080, "protocol": "TCP"}]
        }));
        let r = routes(&[s], &[sl], "me");
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].endpoints.len(), 1);
        assert_eq!(r[0].endpoints[0].addr, "10.244.0.6:8080");
        let bad_ip = svc(json!({"metadata": {"name": "x", "namespace": "d"},
            "spec": {"clusterIP": "10.96.0.1 . tcp . 1 : drop", "ports": [{"port": 80}]}}));
        assert!(routes(&[bad_ip], &[], "me").is_empty());
    }

    #[test]
    fn headless_and_cluster_ip_services_have_no_node_ports() {
        let headless = svc(json!({"metadata": {"name": "h", "namespace": "d"},
            "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}));
        let plain = svc(json!({"metadata": {"name": "p", "namespace": "d"},
            "spec": {"clusterIP": "10.96.0.22", "ports": [{"port": 80, "nodePort": 30001}]}}));
        let r = routes(&[headless, plain], &[], "me");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].node_port, None);
        assert!(r[0].endpoints.is_empty());
    }
}

//! The service proxy, as kube-proxy's nftables mode: Service cluster IPs are DNATed to ready
//! endpoints from EndpointSlices (chosen at random per connection), and a Service without ready
//! endpoints refuses connections at once. The whole table is regenerated and swapped in one
//! `nft -f` transaction whenever Services or EndpointSlices change.
//!
//! This covers ClusterIP; NodePort, LoadBalancer and traffic policies come with the workloads
//! and Services work.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;
use kube::Api;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

/// The nftables table kapi owns.
pub const TABLE: &str = "kapi-proxy";

/// One Service port and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `namespace/name:port`.
    pub name: String,
    /// The cluster IP.
    pub ip: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The Service port.
    pub port: i32,
    /// Ready endpoints as `ip:port`.
    pub endpoints: Vec<String>,
}

/// The routes for every Service with a cluster IP.
pub fn routes(services: &[Arc<Service>], slices: &[Arc<EndpointSlice>]) -> Vec<Route> {
    let mut out = Vec::new();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        let Some(ip) = spec
            .cluster_ip
            .as_deref()
            .filter(|ip| !ip.is_empty() && *ip != "None")
        else {
            continue;
        };
        if !ip.contains('.') {
            continue;
        }
        let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        let own: Vec<&Arc<EndpointSlice>> = slices
            .iter()
            .filter(|s| {
                s.metadata.namespace.as_deref() == Some(ns)
                    && s.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("kubernetes.io/service-name"))
                        .map(String::as_str)
                        == Some(name)
                    && s.address_type == "IPv4"
            })
            .collect();
        for port in spec.ports.iter().flatten() {
            let protocol = port
                .protocol
                .as_deref()
                .unwrap_or("TCP")
                .to_ascii_lowercase();
            let port_name = port.name.clone().unwrap_or_default();
            let mut endpoints: Vec<String> = Vec::new();
            for slice in &own {
                let Some(target) = slice.ports.iter().flatten().find(|p| {
                    p.name.clone().unwrap_or_default() == port_name
                        && p.protocol
                            .as_deref()
                            .unwrap_or("TCP")
                            .eq_ignore_ascii_case(&protocol)
                }) else {
                    continue;
                };
                let Some(target_port) = target.port else {
                    continue;
                };
                for ep in &slice.endpoints {
                    let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
                    if ready {
                        for addr in &ep.addresses {
                            endpoints.push(format!("{addr}:{target_port}"));
                        }
                    }
                }
            }
            endpoints.sort();
            endpoints.dedup();
            out.push(Route {
                name: format!(
                    "{ns}/{name}:{}",
                    if port_name.is_empty() {
                        port.port.to_string()
                    } else {
                        port_name
                    }
                ),
                ip: ip.to_string(),
                protocol,
                port: port.port,
                endpoints,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The nft script replacing kapi's table with these routes.
pub fn render(routes: &[Route]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "table ip {TABLE} {{}}\ndelete table ip {TABLE}\ntable ip {TABLE} {{"
    );
    let _ = writeln!(s, "  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; jump services; }}");
    let _ = writeln!(
        s,
        "  chain output {{ type nat hook output priority -100; policy accept; jump services; }}"
    );
    let _ = writeln!(s, "  chain filter-input {{ type filter hook input priority -110; policy accept; jump no-endpoints; }}");
    let _ = writeln!(s, "  chain filter-output {{ type filter hook output priority -110; policy accept; jump no-endpoints; }}");
    let _ = writeln!(s, "  chain filter-forward {{ type filter hook forward priority -110; policy accept; jump no-endpoints; }}");
    let mut services = Vec::new();
    let mut rejects = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        if r.endpoints.is_empty() {
            rejects.push(format!("{} . {} . {}", r.ip, r.protocol, r.port));
            continue;
        }
        let chain = format!("svc-{i}");
        services.push(format!(
            "{} . {} . {} : goto {chain}",
            r.ip, r.protocol, r.port
        ));
        let _ = writeln!(s, "  # {}", r.name);
        if r.endpoints.len() == 1 {
            let _ = writeln!(
                s,
                "  chain {chain} {{ meta l4proto {} dnat to {}; }}",
                r.protocol, r.endpoints[0]
            );
        } else {
            let arms: Vec<String> = r
                .endpoints
                .iter()
                .enumerate()
                .map(|(n, ep)| format!("{n} : {ep}"))
                .collect();
            let _ = writeln!(
                s,
                "  chain {chain} {{ meta l4proto {} dnat to numgen random mod {} map {{ {} }}; }}",
                r.protocol,
                r.endpoints.len(),
                arms.join(", ")
            );
        }
    }
    let _ = writeln!(s, "  chain services {{");
    if !services.is_empty() {
        let _ = writeln!(
            s,
            "    ip daddr . meta l4proto . th dport vmap {{ {} }}",
            services.join(", ")
        );
    }
    let _ = writeln!(s, "  }}");
    let _ = writeln!(s, "  chain no-endpoints {{");
    if !rejects.is_empty() {
        let _ = writeln!(
            s,
            "    ip daddr . meta l4proto . th dport {{ {} }} reject with icmp type port-unreachable",
            rejects.join(", ")
        );
    }
    let _ = writeln!(s, "  }}\n}}");
    s
}

/// Failures applying rules.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// `nft` could not be run.
    #[error("running nft: {0}")]
    Spawn(std::io::Error),
    /// `nft` refused the rules.
    #[error("nft refused the rules: {0}")]
    Refused(String),
}

/// Applies a script with `nft -f -`.
pub async fn apply(script: &str) -> Result<(), ProxyError> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(ProxyError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(ProxyError::Spawn)?;
    }
    let out = child.wait_with_output().await.map_err(ProxyError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ProxyError::Refused(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

/// Removes kapi's table (when the node stops).
pub async fn clear() {
    let _ = apply(&format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\n")).await;
}

/// Keeps the rules in step with Services and EndpointSlices until the task is dropped.
pub async fn run(client: kube::Client) {
    let changed = Arc::new(Notify::new());
    let services: Store<Service> =
        crate::reflect::spawn(Api::all(client.clone()), changed.clone(), |_| {});
    let slices: Store<EndpointSlice> =
        crate::reflect::spawn(Api::all(client), changed.clone(), |_| {});
    let mut applied: BTreeMap<(), String> = BTreeMap::new();
    loop {
        changed.notified().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let script = render(&routes(&services.state(), &slices.state()));
        if applied.get(&()) == Some(&script) {
            continue;
        }
        match apply(&script).await {
            Ok(()) => {
                applied.insert((), script);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not program service addresses");
                tokio::time::sleep(Duration::from_secs(1)).await;
                changed.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cluster_ips_route_to_ready_endpoints_and_empty_services_reject() {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}
        })).unwrap();
        let empty: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80}]}
        }))
        .unwrap();
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.250.0.10"], "conditions": {"ready": true}}, {"addresses": ["10.250.0.11"], "conditions": {"ready": false}}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]
        })).unwrap();
        let r = routes(&[Arc::new(svc), Arc::new(empty)], &[Arc::new(slice)]);
        assert_eq!(r[0].endpoints, ["10.250.0.10:6443"]);
        assert!(r[1].endpoints.is_empty());
        let script = render(&r);
        assert!(script.contains("10.96.0.1 . tcp . 443 : goto svc-0"));
        assert!(script.contains("dnat to 10.250.0.10:6443"));
        assert!(script.contains("10.96.0.20 . tcp . 80 } reject"));
    }
}

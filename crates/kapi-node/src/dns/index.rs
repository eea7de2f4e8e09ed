//! The cluster's names as the DNS server needs them: Services by namespace and name, each with
//! what a query can ask of it (cluster IPs or endpoint addresses, ports, an external name).
//!
//! The index is rebuilt from the watch caches whenever Services or EndpointSlices change and
//! swapped in whole, so a query takes no lock beyond cloning an `Arc` and costs two hash
//! lookups, never a scan of every Service.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label tying an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Every Service, by namespace then name (both lower case, as DNS compares them).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Index {
    /// The SOA serial: when the index was built (seconds since the epoch, as CoreDNS uses the
    /// time of the last change).
    pub serial: u32,
    namespaces: HashMap<String, HashMap<String, ServiceEntry>>,
    /// Reverse names: a cluster IP → `svc.ns.svc`, an endpoint address → `name.svc.ns.svc`
    /// (relative to the zone).
    reverse: HashMap<IpAddr, Vec<String>>,
}

/// What DNS answers for one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceEntry {
    /// How the Service's own name resolves.
    pub kind: Kind,
    /// The Service's ports (for SRV).
    pub ports: Vec<Port>,
    /// Endpoint addresses: for headless Services the Service name's answers; for every Service
    /// the targets of endpoint names (`hostname.svc.ns.svc.zone`).
    pub endpoints: Vec<Endpoint>,
}

/// How a Service name resolves.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// To its cluster IPs (one per family).
    ClusterIp(Vec<IpAddr>),
    /// To its endpoints' addresses (`clusterIP: None`).
    Headless,
    /// To a CNAME.
    ExternalName(String),
}

/// A named or unnamed port of a Service or an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// The port's name (empty when unnamed: SRV cannot ask for it).
    pub name: String,
    /// `tcp`, `udp` or `sctp`, lower case as in SRV names.
    pub protocol: String,
    /// The port number.
    pub port: u16,
}

/// One endpoint address of a Service.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The address.
    pub ip: IpAddr,
    /// The name under the Service: the endpoint's hostname, else its address with dashes.
    pub name: String,
    /// The endpoint's ports (the EndpointSlice's).
    pub ports: Arc<Vec<Port>>,
}

impl Index {
    /// Builds the index from the watch caches' contents.
    pub fn build(services: &[Arc<Service>], slices: &[Arc<EndpointSlice>]) -> Index {
        let mut by_service: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
        for slice in slices {
            let ns = slice.metadata.namespace.as_deref().unwrap_or_default();
            if let Some(name) = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
            {
                by_service.entry((ns, name)).or_default().push(slice);
            }
        }
        let mut index = Index::default();
        for svc in services {
            let (Some(ns), Some(name)) = (
                svc.metadata.namespace.as_deref(),
                svc.metadata.name.as_deref(),
            ) else {
                continue;
            };
            let Some(spec) = &svc.spec else { continue };
            let kind = if spec.type_.as_deref() == Some("ExternalName") {
                match spec.external_name.as_deref() {
                    Some(target) if !target.is_empty() => Kind::ExternalName(target.to_string()),
                    _ => continue,
                }
            } else if spec.cluster_ip.as_deref() == Some("None") {
                Kind::Headless
            } else {
                let ips: Vec<IpAddr> = spec
                    .cluster_ips
                    .iter()
                    .flatten()
                    .chain(spec.cluster_ip.iter())
                    .filter_map(|ip| ip.parse().ok())
                    .fold(Vec::new(), |mut acc, ip| {
                        if !acc.contains(&ip) {
                            acc.push(ip);
                        }
                        acc
                    });
                if ips.is_empty() {
                    continue;
                }
                Kind::ClusterIp(ips)
            };
            let ports = spec
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    Some(Port {
                        name: p.name.clone().unwrap_or_default().to_ascii_lowercase(),
                        protocol: p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase(),
                        port: u16::try_from(p.port).ok()?,
                    })
                })
                .collect();
            let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
            let endpoints = by_service
                .get(&(ns, name))
                .map(|slices| endpoints(slices, publish_not_ready))
                .unwrap_or_default();
            index.insert(
                ns,
                name,
                ServiceEntry {
                    kind,
                    ports,
                    endpoints,
                },
            );
        }
        index
    }

    /// Whether a namespace has any Service (kapi's stand-in for "the namespace exists", which
    /// decides NODATA over NXDOMAIN for `ns.svc.zone`).
    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces.contains_key(namespace)
    }

    /// The Service `name` in `namespace` (lower case).
    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceEntry> {
        self.namespaces.get(namespace)?.get(name)
    }

    /// The names under the zone that `ip` belongs to (for PTR questions).
    pub fn reverse(&self, ip: IpAddr) -> &[String] {
        self.reverse.get(&ip).map(Vec::as_slice).unwrap_or_default()
    }

    /// Adds one Service entry (tests and benchmarks build indexes by hand).
    pub fn insert(&mut self, namespace: &str, name: &str, entry: ServiceEntry) {
        let (ns, name) = (namespace.to_ascii_lowercase(), name.to_ascii_lowercase());
        if let Kind::ClusterIp(ips) = &entry.kind {
            for ip in ips {
                self.reverse
                    .entry(*ip)
                    .or_default()
                    .push(format!("{name}.{ns}.svc"));
            }
        }
        if !matches!(entry.kind, Kind::ExternalName(_)) {
            for ep in &entry.endpoints {
                self.reverse
                    .entry(ep.ip)
                    .or_default()
                    .push(format!("{}.{name}.{ns}.svc", ep.name));
            }
        }
        self.namespaces.entry(ns).or_default().insert(name, entry);
    }
}

/// The addresses DNS publishes from a Service's slices: ready ones, or all with
/// `publishNotReadyAddresses` (as the EndpointSlice controller and CoreDNS do), each address
/// once.
fn endpoints(slices: &[&EndpointSlice], publish_not_ready: bool) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    for slice in slices {
        if slice.address_type != "IPv4" && slice.address_type != "IPv6" {
            continue;
        }
        let ports = Arc::new(
            slice
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    Some(Port {
                        name: p.name.clone().unwrap_or_default().to_ascii_lowercase(),
                        protocol: p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase(),
                        port: u16::try_from(p.port?).ok()?,
                    })
                })
                .collect::<Vec<_>>(),
        );
        for ep in &slice.endpoints {
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if !ready && !publish_not_ready {
                continue;
            }
            for addr in &ep.addresses {
                let Ok(ip) = addr.parse::<IpAddr>() else {
                    continue;
                };
                if out.iter().any(|e| e.ip == ip) {
                    continue;
                }
                let name = match ep.hostname.as_deref() {
                    Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
                    _ => dashed(ip),
                };
                out.push(Endpoint {
                    ip,
                    name,
                    ports: ports.clone(),
                });
            }
        }
    }
    out
}

/// An address as one DNS label: `10-244-0-5`, or for IPv6 the colons of its compressed form
/// as dashes (CoreDNS's endpoint and pod names).
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Arc<Service> {
        Arc::new(serde_json::from_value(v).expect("service"))
    }
    fn slice(v: serde_json::Value) -> Arc<EndpointSlice> {
        Arc::new(serde_json::from_value(v).expect("slice"))
    }

    #[test]
    fn headless_services_take_ready_endpoints_unless_not_ready_ones_are_published() {
        let services = [
            svc(json!({"metadata": {"name": "DB", "namespace": "apps"},
                "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}})),
            svc(json!({"metadata": {"name": "all", "namespace": "apps"},
                "spec": {"clusterIP": "None", "publishNotReadyAddresses": true}})),
        ];
        let slices = [
            slice(json!({"metadata": {"name": "db-x", "namespace": "apps",
                    "labels": {"kubernetes.io/service-name": "DB"}},
                "addressType": "IPv4",
                "endpoints": [
                    {"addresses": ["10.244.0.5"], "hostname": "db-0", "conditions": {"ready": true}},
                    {"addresses": ["10.244.0.6"], "conditions": {"ready": false}}],
                "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]})),
            slice(json!({"metadata": {"name": "all-x", "namespace": "apps",
                    "labels": {"kubernetes.io/service-name": "all"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.244.0.6"], "conditions": {"ready": false}}]})),
        ];
        let index = Index::build(&services, &slices);
        let db = index.service("apps", "db").expect("db");
        assert_eq!(db.kind, Kind::Headless);
        assert_eq!(db.endpoints.len(), 1);
        assert_eq!(db.endpoints[0].name, "db-0");
        assert_eq!(db.endpoints[0].ports[0].port, 5432);
        let all = index.service("apps", "all").expect("all");
        assert_eq!(all.endpoints[0].name, "10-244-0-6");
        assert!(index.has_namespace("apps"));
        assert!(!index.has_namespace("other"));
    }

    #[test]
    fn cluster_ips_and_external_names() {
        let services = [
            svc(json!({"metadata": {"name": "web", "namespace": "default"},
                "spec": {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20", "fd00::20"]}})),
            svc(json!({"metadata": {"name": "ext", "namespace": "default"},
                "spec": {"type": "ExternalName", "externalName": "example.org"}})),
            svc(json!({"metadata": {"name": "pending", "namespace": "default"}, "spec": {}})),
        ];
        let index = Index::build(&services, &[]);
        assert_eq!(
            index.service("default", "web").expect("web").kind,
            Kind::ClusterIp(vec![
                "10.96.0.20".parse().expect("ip"),
                "fd00::20".parse().expect("ip")
            ])
        );
        assert_eq!(
            index.service("default", "ext").expect("ext").kind,
            Kind::ExternalName("example.org".into())
        );
        assert!(index.service("default", "pending").is_none());
    }
}

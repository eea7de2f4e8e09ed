//! A pod's resolv.conf, handed to the runtime as the sandbox's `DNSConfig`, formed as kubelet
//! forms it from the pod's `dnsPolicy` and `dnsConfig`:
//!
//! - `ClusterFirst` (the default; on hostNetwork pods it falls back to `Default`) and
//!   `ClusterFirstWithHostNet`: the cluster DNS addresses, the search path
//!   `NS.svc.DOMAIN svc.DOMAIN DOMAIN` followed by the host's, and `ndots:5`;
//! - `Default`: the host's resolv.conf;
//! - `None`: nothing but the pod's `dnsConfig`.
//!
//! `dnsConfig` is then appended (nameservers and searches after the policy's, without
//! duplicates; an option replaces the one of the same name), and the result cut to kubelet's
//! limits: 3 nameservers, 32 search domains of at most 253 characters, 2048 characters in all.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

use crate::cri::api;

/// At most this many nameservers (glibc reads no more).
const MAX_NAMESERVERS: usize = 3;
/// At most this many search domains.
const MAX_SEARCHES: usize = 32;
/// At most this many characters in the search line.
const MAX_SEARCH_CHARS: usize = 2048;
/// A search domain longer than a DNS name is dropped (some resolvers abort on it).
const MAX_SEARCH_LEN: usize = 253;

/// The host's resolver settings (what `Default` gives a pod).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostResolv {
    /// `nameserver` lines.
    pub nameservers: Vec<String>,
    /// The last `search` line, without trailing dots.
    pub searches: Vec<String>,
    /// The last `options` line.
    pub options: Vec<String>,
}

impl HostResolv {
    /// Parses a resolv.conf as kubelet does: nameservers accumulate, the last search and
    /// options lines win.
    pub fn parse(text: &str) -> HostResolv {
        let mut out = HostResolv::default();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("nameserver") => {
                    if let Some(ns) = fields.next() {
                        out.nameservers.push(ns.to_string());
                    }
                }
                Some("search") => {
                    out.searches = fields
                        .filter(|s| *s != ".")
                        .map(|s| s.trim_end_matches('.').to_string())
                        .collect();
                }
                Some("options") => out.options = fields.map(str::to_string).collect(),
                _ => {}
            }
        }
        out
    }

    /// The node's resolver settings for pods: `/etc/resolv.conf`, unless it only names
    /// systemd-resolved's local stub (unreachable from a pod's network namespace), in which case
    /// the file listing resolved's upstream servers, as kubeadm and k3s choose.
    pub fn load() -> HostResolv {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .ok()
                .map(|t| HostResolv::parse(&t))
        };
        let etc = read(Path::new("/etc/resolv.conf")).unwrap_or_default();
        let only_loopback = !etc.nameservers.is_empty()
            && etc
                .nameservers
                .iter()
                .all(|ns| ns.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()));
        if only_loopback {
            let resolved = PathBuf::from("/run/systemd/resolve/resolv.conf");
            if let Some(upstream) = read(&resolved).filter(|r| !r.nameservers.is_empty()) {
                return upstream;
            }
        }
        etc
    }
}

/// What the node knows about cluster DNS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterDns {
    /// The cluster DNS Service's addresses (empty: `ClusterFirst` falls back to `Default`).
    pub servers: Vec<IpAddr>,
    /// The cluster domain (empty: no cluster search domains).
    pub domain: String,
    /// The host's settings.
    pub host: HostResolv,
}

/// The sandbox DNS configuration of `pod`.
pub fn dns_config(pod: &Pod, cluster: &ClusterDns) -> api::DnsConfig {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let cluster_first = match policy {
        "None" => None,
        "ClusterFirstWithHostNet" => Some(true),
        "Default" => Some(false),
        // ClusterFirst, and anything else the API server should have refused.
        _ => Some(!host_network),
    };
    let mut config = match cluster_first {
        None => api::DnsConfig::default(),
        Some(true) if !cluster.servers.is_empty() => {
            let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
            let mut searches = Vec::new();
            if !cluster.domain.is_empty() {
                searches.push(format!("{namespace}.svc.{}", cluster.domain));
                searches.push(format!("svc.{}", cluster.domain));
                searches.push(cluster.domain.clone());
            }
            searches.extend(cluster.host.searches.iter().cloned());
            api::DnsConfig {
                servers: cluster.servers.iter().map(IpAddr::to_string).collect(),
                searches: without_duplicates(searches),
                options: vec!["ndots:5".into()],
            }
        }
        Some(_) => api::DnsConfig {
            servers: cluster.host.nameservers.clone(),
            searches: cluster.host.searches.clone(),
            options: cluster.host.options.clone(),
        },
    };
    if let Some(extra) = spec.and_then(|s| s.dns_config.as_ref()) {
        config
            .servers
            .extend(extra.nameservers.iter().flatten().cloned());
        config.servers = without_duplicates(std::mem::take(&mut config.servers));
        config
            .searches
            .extend(extra.searches.iter().flatten().cloned());
        config.searches = without_duplicates(std::mem::take(&mut config.searches));
        for option in extra.options.iter().flatten() {
            let Some(name) = option.name.as_deref() else {
                continue;
            };
            let rendered = match option.value.as_deref() {
                Some(v) if !v.is_empty() => format!("{name}:{v}"),
                _ => name.to_string(),
            };
            match config
                .options
                .iter_mut()
                .find(|o| o.split(':').next() == Some(name))
            {
                Some(existing) => *existing = rendered,
                None => config.options.push(rendered),
            }
        }
    }
    config.servers.truncate(MAX_NAMESERVERS);
    config.searches = within_limits(std::mem::take(&mut config.searches));
    config
}

fn without_duplicates(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// kubelet's cut: the first 32 domains, those of a valid length, then whole domains from the
/// end until the line fits.
fn within_limits(mut searches: Vec<String>) -> Vec<String> {
    searches.truncate(MAX_SEARCHES);
    searches.retain(|s| s.len() <= MAX_SEARCH_LEN);
    let mut line = searches
        .iter()
        .map(|s| s.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    while line > MAX_SEARCH_CHARS {
        match searches.pop() {
            Some(last) => line = line.saturating_sub(last.len() + 1),
            None => break,
        }
    }
    searches
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster() -> ClusterDns {
        ClusterDns {
            servers: vec!["10.96.0.10".parse().expect("ip")],
            domain: "cluster.local".into(),
            host: HostResolv::parse(
                "nameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch old.example\nsearch example.org. corp.example\noptions edns0 timeout:2\n",
            ),
        }
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "p", "namespace": "apps"}, "spec": spec}),
        )
        .expect("pod")
    }

    #[test]
    fn host_resolv_conf_is_parsed_as_kubelet_does() {
        let host = cluster().host;
        assert_eq!(host.nameservers, ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(host.searches, ["example.org", "corp.example"]);
        assert_eq!(host.options, ["edns0", "timeout:2"]);
    }

    #[test]
    fn cluster_first_is_the_default() {
        let c = dns_config(&pod(json!({"containers": []})), &cluster());
        assert_eq!(c.servers, ["10.96.0.10"]);
        assert_eq!(
            c.searches,
            [
                "apps.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "example.org",
                "corp.example"
            ]
        );
        assert_eq!(c.options, ["ndots:5"]);
    }

    #[test]
    fn host_network_pods_use_the_host_unless_cluster_first_with_host_net() {
        let host = dns_config(
            &pod(json!({"containers": [], "hostNetwork": true})),
            &cluster(),
        );
        assert_eq!(host.servers, ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(host.options, ["edns0", "timeout:2"]);
        let with = dns_config(
            &pod(
                json!({"containers": [], "hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}),
            ),
            &cluster(),
        );
        assert_eq!(with.servers, ["10.96.0.10"]);
        let default = dns_config(
            &pod(json!({"containers": [], "dnsPolicy": "Default"})),
            &cluster(),
        );
        assert_eq!(default.searches, ["example.org", "corp.example"]);
    }

    #[test]
    fn cluster_first_without_cluster_dns_falls_back_to_the_host() {
        let mut c = cluster();
        c.servers.clear();
        let config = dns_config(&pod(json!({"containers": []})), &c);
        assert_eq!(config.servers, ["192.0.2.1", "192.0.2.2"]);
    }

    #[test]
    fn none_takes_only_the_pods_dns_config() {
        let c = dns_config(
            &pod(json!({"containers": [], "dnsPolicy": "None", "dnsConfig": {
                "nameservers": ["1.1.1.1"], "searches": ["a.example"],
                "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}})),
            &cluster(),
        );
        assert_eq!(c.servers, ["1.1.1.1"]);
        assert_eq!(c.searches, ["a.example"]);
        assert_eq!(c.options, ["ndots:2", "edns0"]);
    }

    #[test]
    fn dns_config_is_appended_and_its_options_replace_the_policys() {
        let c = dns_config(
            &pod(json!({"containers": [], "dnsConfig": {
                "nameservers": ["10.96.0.10", "1.1.1.1", "8.8.8.8", "9.9.9.9"],
                "searches": ["cluster.local", "extra.example"],
                "options": [{"name": "ndots", "value": "1"}, {"name": "single-request"}]}})),
            &cluster(),
        );
        assert_eq!(c.servers, ["10.96.0.10", "1.1.1.1", "8.8.8.8"]);
        assert_eq!(c.searches.last().map(String::as_str), Some("extra.example"));
        assert_eq!(c.searches.len(), 6);
        assert_eq!(c.options, ["ndots:1", "single-request"]);
    }

    #[test]
    fn search_line_is_cut_to_kubelets_limits() {
        let long = "x".repeat(254);
        let mut searches: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
        searches.insert(1, long);
        let cut = within_limits(searches);
        assert_eq!(cut.len(), 31);
        assert!(cut.iter().all(|s| s.len() <= MAX_SEARCH_LEN));
        let wide: Vec<String> = (0..20).map(|i| format!("{i:0>200}")).collect();
        let cut = within_limits(wide);
        assert_eq!(cut.len(), 10);
        assert!(cut.join(" ").len() <= MAX_SEARCH_CHARS);
    }
}

//! The nftables script for a set of Service ports, in the shape of kube-proxy's nftables mode:
//! one verdict map from destination (address, protocol, port) to a per-Service chain, one for
//! node ports on any local address, a per-endpoint chain doing the DNAT (and recording the
//! client for session affinity), and reject rules for destinations without endpoints.
//!
//! Masquerade, as kube-proxy decides it: a pod reaching itself through its Service (hairpin)
//! always, since its reply would never leave the pod; traffic of the `Cluster` policies when it
//! leaves for another machine, so the reply comes back through this one. Traffic to a pod on
//! this node keeps its source: the reply passes back through the host, or, between pods on the
//! bridge, through the bridge's netfilter hooks (`bridge-nf-call-iptables`). Where those hooks
//! are off, every marked connection is masqueraded instead. Masquerading more than needed
//! spends NAT ports, and a burst of short connections runs out of them.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::routes::ServicePort;
use super::TABLE;

/// The mark bit asking for masquerade when the traffic leaves the node, kube-proxy's.
const MASQUERADE_MARK: &str = "0x4000";
/// The mark bit of hairpin traffic, always masqueraded.
const HAIRPIN_MARK: &str = "0x8000";

/// The script that replaces kapi's table with rules for `ports`; `bridge_netfilter`: whether
/// bridged traffic passes the IP hooks (see the module doc).
pub fn render(ports: &[ServicePort], bridge_netfilter: bool) -> String {
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
    let bridge = crate::cni::BRIDGE;
    let leaving = if bridge_netfilter {
        format!("oifname != \"{bridge}\" ")
    } else {
        String::new()
    };
    let _ = writeln!(s, "  chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; meta mark & {HAIRPIN_MARK} == {HAIRPIN_MARK} masquerade; meta mark & {MASQUERADE_MARK} == {MASQUERADE_MARK} {leaving}masquerade; }}");
    for hook in ["input", "output", "forward"] {
        let _ = writeln!(s, "  chain filter-{hook} {{ type filter hook {hook} priority -110; policy accept; jump no-endpoints; }}");
    }

    // Destinations are unique keys of the maps below: a second Service claiming the same
    // address and port (two load balancers on one node address) is skipped, not allowed to
    // make `nft` refuse the whole table.
    let mut taken: HashSet<String> = HashSet::new();
    let mut services = Vec::new();
    let mut node_ports = Vec::new();
    let mut rejects = Vec::new();
    let mut node_port_rejects = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let proto = &p.protocol;
        let internal = p.internal_endpoints();
        let external = p.external_endpoints();
        // A comment ends at a newline: only plain name characters go into it.
        let label: String = p
            .name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-./:_".contains(*c))
            .collect();
        let _ = writeln!(s, "  # {label}");
        let any_chain = !internal.is_empty() || !external.is_empty();
        if any_chain {
            endpoint_chains(&mut s, i, p);
        }
        let key = format!("{} . {proto} . {}", p.cluster_ip, p.port);
        if taken.insert(key.clone()) {
            if internal.is_empty() {
                rejects.push(key);
            } else {
                dispatch_chain(&mut s, &format!("svc-{i}"), i, p, &internal, true);
                services.push(format!("{key} : goto svc-{i}"));
            }
        }
        if !external.is_empty() {
            dispatch_chain(
                &mut s,
                &format!("ext-{i}"),
                i,
                p,
                &external,
                !p.external_local,
            );
        }
        for ip in &p.external_ips {
            let key = format!("{ip} . {proto} . {}", p.port);
            if !taken.insert(key.clone()) {
                continue;
            }
            if external.is_empty() {
                rejects.push(key);
            } else {
                services.push(format!("{key} : goto ext-{i}"));
            }
        }
        if let Some(node_port) = p.node_port {
            let key = format!("{proto} . {node_port}");
            if !taken.insert(format!("node {key}")) {
                continue;
            }
            if external.is_empty() {
                node_port_rejects.push(key);
            } else {
                node_ports.push(format!("{key} : goto ext-{i}"));
            }
        }
    }
    // Node ports answer on every local address but loopback, which cannot be DNATed to a pod.
    let local = "fib daddr type local ip daddr != 127.0.0.0/8";
    let _ = writeln!(s, "  chain services {{");
    if !services.is_empty() {
        let _ = writeln!(
            s,
            "    ip daddr . meta l4proto . th dport vmap {{ {} }}",
            services.join(", ")
        );
    }
    if !node_ports.is_empty() {
        let _ = writeln!(
            s,
            "    {local} meta l4proto . th dport vmap {{ {} }}",
            node_ports.join(", ")
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
    if !node_port_rejects.is_empty() {
        let _ = writeln!(
            s,
            "    {local} meta l4proto . th dport {{ {} }} reject with icmp type port-unreachable",
            node_port_rejects.join(", ")
        );
    }
    let _ = writeln!(s, "  }}\n}}");
    s
}

/// `ep-I-N`: DNAT to endpoint N of port I, remembering the client when affinity is on.
fn endpoint_chains(s: &mut String, i: usize, p: &ServicePort) {
    for (n, ep) in p.endpoints.iter().enumerate() {
        let mut rule = String::new();
        if let Some(timeout) = p.affinity_seconds {
            let _ = writeln!(
                s,
                "  set aff-{i}-{n} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}"
            );
            let _ = write!(rule, "update @aff-{i}-{n} {{ ip saddr }} ");
        }
        let ip = ep
            .addr
            .rsplit_once(':')
            .map_or(ep.addr.as_str(), |(ip, _)| ip);
        let _ = writeln!(
            s,
            "  chain ep-{i}-{n} {{ ip saddr {ip} meta mark set meta mark | {HAIRPIN_MARK}; {rule}meta l4proto {} dnat to {}; }}",
            p.protocol, ep.addr
        );
    }
}

/// A chain choosing among `endpoints` (indexes into the port's endpoints): a client seen
/// recently goes back to its endpoint, others to one at random.
fn dispatch_chain(
    s: &mut String,
    chain: &str,
    i: usize,
    p: &ServicePort,
    endpoints: &[usize],
    masquerade: bool,
) {
    let _ = writeln!(s, "  chain {chain} {{");
    if masquerade {
        let _ = writeln!(s, "    meta mark set meta mark | {MASQUERADE_MARK}");
    }
    if p.affinity_seconds.is_some() {
        for n in endpoints {
            let _ = writeln!(s, "    ip saddr @aff-{i}-{n} goto ep-{i}-{n}");
        }
    }
    if let [only] = endpoints {
        let _ = writeln!(s, "    goto ep-{i}-{only}");
    } else {
        let arms: Vec<String> = endpoints
            .iter()
            .enumerate()
            .map(|(k, n)| format!("{k} : goto ep-{i}-{n}"))
            .collect();
        let _ = writeln!(
            s,
            "    numgen random mod {} vmap {{ {} }}",
            endpoints.len(),
            arms.join(", ")
        );
    }
    let _ = writeln!(s, "  }}");
}

#[cfg(test)]
mod tests {
    use super::super::routes::Endpoint;
    use super::*;

    fn port(name: &str, ip: &str, endpoints: &[(&str, bool)]) -> ServicePort {
        ServicePort {
            name: name.into(),
            protocol: "tcp".into(),
            port: 80,
            cluster_ip: ip.into(),
            external_ips: Vec::new(),
            node_port: None,
            endpoints: endpoints
                .iter()
                .map(|(a, local)| Endpoint {
                    addr: (*a).into(),
                    local: *local,
                })
                .collect(),
            internal_local: false,
            external_local: false,
            affinity_seconds: None,
        }
    }

    #[test]
    fn cluster_ips_dispatch_to_endpoints_and_empty_services_reject() {
        let one = port("d/a:80", "10.96.0.10", &[("10.244.0.5:8080", true)]);
        let two = port(
            "d/b:80",
            "10.96.0.11",
            &[("10.244.0.6:8080", true), ("10.244.0.7:8080", false)],
        );
        let none = port("d/c:80", "10.96.0.12", &[]);
        let script = render(&[one, two, none], true);
        assert!(
            script.contains("10.96.0.10 . tcp . 80 : goto svc-0"),
            "{script}"
        );
        assert!(script.contains("chain ep-0-0 { ip saddr 10.244.0.5 meta mark set meta mark | 0x8000; meta l4proto tcp dnat to 10.244.0.5:8080; }"), "{script}");
        assert!(script.contains("numgen random mod 2 vmap { 0 : goto ep-1-0, 1 : goto ep-1-1 }"));
        assert!(script.contains("10.96.0.12 . tcp . 80 } reject"));
        assert!(script.contains("meta mark set meta mark | 0x4000"));
        assert!(
            script.contains("0x4000 oifname != \"kapi0\" masquerade"),
            "{script}"
        );
        assert!(render(&[], false).contains("== 0x4000 masquerade"));
    }

    #[test]
    fn node_ports_external_addresses_and_local_policy() {
        let mut p = port(
            "d/web:80",
            "10.96.0.20",
            &[("10.244.0.5:8080", false), ("10.244.0.6:8080", true)],
        );
        p.node_port = Some(30080);
        p.external_ips = vec!["10.250.0.10".into()];
        p.external_local = true;
        let script = render(&[p.clone()], true);
        assert!(
            script.contains("meta l4proto . th dport vmap { tcp . 30080 : goto ext-0 }"),
            "{script}"
        );
        assert!(script.contains("10.250.0.10 . tcp . 80 : goto ext-0"));
        // External traffic keeps the client's address and goes only to the local endpoint.
        let ext = script
            .split("chain ext-0 {")
            .nth(1)
            .unwrap()
            .split("  }")
            .next()
            .unwrap();
        assert!(!ext.contains("0x4000"), "{ext}");
        assert!(ext.contains("goto ep-0-1"), "{ext}");
        // No local endpoint: the node port refuses at once.
        p.endpoints.retain(|e| !e.local);
        let script = render(&[p], true);
        assert!(
            script.contains("meta l4proto . th dport { tcp . 30080 } reject"),
            "{script}"
        );
    }

    #[test]
    fn a_port_name_cannot_end_its_comment() {
        let p = port(
            "d/a:x\nflush ruleset\n",
            "10.96.0.10",
            &[("10.244.0.5:8080", true)],
        );
        let script = render(&[p], true);
        assert!(!script.contains("\nflush ruleset"), "{script}");
    }

    #[test]
    fn session_affinity_remembers_clients_and_duplicates_are_skipped() {
        let mut p = port(
            "d/a:80",
            "10.96.0.10",
            &[("10.244.0.5:8080", true), ("10.244.0.6:8080", true)],
        );
        p.affinity_seconds = Some(60);
        p.external_ips = vec!["10.250.0.10".into()];
        let mut q = port("d/b:80", "10.96.0.11", &[("10.244.0.7:8080", true)]);
        q.external_ips = vec!["10.250.0.10".into()];
        let script = render(&[p, q], true);
        assert!(
            script.contains("set aff-0-1 { type ipv4_addr; flags dynamic,timeout; timeout 60s; }")
        );
        assert!(
            script.contains(
                "update @aff-0-1 { ip saddr } meta l4proto tcp dnat to 10.244.0.6:8080; }"
            ),
            "{script}"
        );
        assert!(script.contains("ip saddr @aff-0-0 goto ep-0-0"));
        assert_eq!(
            script.matches("10.250.0.10 . tcp . 80").count(),
            1,
            "{script}"
        );
    }
}

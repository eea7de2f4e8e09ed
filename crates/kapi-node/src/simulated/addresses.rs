//! Addresses of simulated nodes and their pods. Nothing is routed to them, but clients,
//! controllers and EndpointSlices read them, so they must look like a cluster's: node addresses
//! from the benchmarking range 198.18.0.0/15 (RFC 2544, never on a real network), pod addresses
//! from the node's `spec.podCIDR` as the CNI host-local allocator hands them out (a rotating
//! cursor, so a freed address is not reused at once), or from a stand-in /24 per node when the
//! cluster assigns no pod CIDRs.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

/// The InternalIP of the `index`th simulated node: 198.18.0.1 onward.
pub fn node_ip(index: usize) -> IpAddr {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    // The /15 holds 131,070 usable addresses; beyond that the addresses repeat.
    let offset = (index % 131_070) as u32 + 1;
    IpAddr::V4(Ipv4Addr::from(base + offset))
}

/// The stand-in pod range of the `index`th node when it has no podCIDR: a /24 of 172.16.0.0/12.
pub fn fallback_cidr(index: usize) -> Ipv4Cidr {
    let block = (index % 4096) as u32;
    Ipv4Cidr {
        base: u32::from(Ipv4Addr::new(172, 16, 0, 0)) + (block << 8),
        prefix: 24,
    }
}

/// An IPv4 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    base: u32,
    prefix: u8,
}

impl Ipv4Cidr {
    /// Parses `10.244.3.0/24`; `None` for anything else (IPv6 ranges included: simulated pods
    /// are single-stack).
    pub fn parse(text: &str) -> Option<Ipv4Cidr> {
        let (ip, prefix) = text.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > 30 {
            return None;
        }
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Some(Ipv4Cidr {
            base: u32::from(ip) & mask,
            prefix,
        })
    }

    fn size(&self) -> u32 {
        1u32.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0)
    }

    /// Whether `ip` is a host address of the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let ip = u32::from(ip);
        ip > self.base && ip < self.base.wrapping_add(self.size() - 1)
    }

    fn at(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base + offset)
    }
}

/// One node's pod addresses: which pod holds which, and where the next search starts.
#[derive(Debug)]
struct NodePool {
    cidr: Ipv4Cidr,
    by_pod: HashMap<String, Ipv4Addr>,
    used: HashSet<Ipv4Addr>,
    cursor: u32,
}

impl NodePool {
    fn new(cidr: Ipv4Cidr) -> NodePool {
        NodePool {
            cidr,
            by_pod: HashMap::new(),
            used: HashSet::new(),
            // .1 is the bridge's gateway under CNI; pods start at .2.
            cursor: 1,
        }
    }

    fn take(&mut self, pod: &str, ip: Ipv4Addr) -> Ipv4Addr {
        self.used.insert(ip);
        self.by_pod.insert(pod.to_string(), ip);
        ip
    }

    fn next_free(&mut self) -> Option<Ipv4Addr> {
        let hosts = self.cidr.size().saturating_sub(3);
        for _ in 0..hosts {
            self.cursor = if self.cursor + 1 >= self.cidr.size() - 1 {
                2
            } else {
                self.cursor + 1
            };
            let ip = self.cidr.at(self.cursor);
            if !self.used.contains(&ip) {
                return Some(ip);
            }
        }
        None
    }
}

/// Pod addresses of every simulated node, keyed by pod uid. Owned by the one task that reads
/// the pod watch, so it needs no lock.
#[derive(Debug, Default)]
pub struct PodAddresses {
    pools: HashMap<String, NodePool>,
}

impl PodAddresses {
    /// The address of pod `uid` on `node`, whose pod range is `cidr`: the one it already has
    /// (`current`, when it lies in the range, as after a restart), the one given to it before,
    /// or the next free one. `None` when the range is full.
    pub fn assign(
        &mut self,
        node: &str,
        cidr: Ipv4Cidr,
        uid: &str,
        current: Option<Ipv4Addr>,
    ) -> Option<Ipv4Addr> {
        let pool = self
            .pools
            .entry(node.to_string())
            .or_insert_with(|| NodePool::new(cidr));
        if pool.cidr != cidr {
            // The node's range changed (it was assigned one late): start over in the new one.
            *pool = NodePool::new(cidr);
        }
        if let Some(ip) = pool.by_pod.get(uid) {
            return Some(*ip);
        }
        if let Some(ip) = current.filter(|ip| cidr.contains(*ip) && !pool.used.contains(ip)) {
            return Some(pool.take(uid, ip));
        }
        let ip = pool.next_free()?;
        Some(pool.take(uid, ip))
    }

    /// Frees the address of pod `uid` (it was deleted).
    pub fn release(&mut self, uid: &str) {
        for pool in self.pools.values_mut() {
            if let Some(ip) = pool.by_pod.remove(uid) {
                pool.used.remove(&ip);
                return;
            }
        }
    }

    /// Frees every address whose pod is not in `live` (after a relist, for deletions the
    /// watch did not see).
    pub fn retain(&mut self, live: &HashSet<String>) {
        for pool in self.pools.values_mut() {
            pool.by_pod.retain(|uid, ip| {
                let keep = live.contains(uid);
                if !keep {
                    pool.used.remove(ip);
                }
                keep
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ips_are_distinct_and_in_the_benchmark_range() {
        assert_eq!(node_ip(0).to_string(), "198.18.0.1");
        assert_eq!(node_ip(255).to_string(), "198.18.1.0");
        assert_ne!(node_ip(1), node_ip(2));
        assert_eq!(fallback_cidr(1), Ipv4Cidr::parse("172.16.1.0/24").unwrap());
    }

    #[test]
    fn cidr_parsing_masks_and_refuses_nonsense() {
        let c = Ipv4Cidr::parse("10.244.3.7/24").unwrap();
        assert!(c.contains("10.244.3.2".parse().unwrap()));
        assert!(!c.contains("10.244.3.0".parse().unwrap()));
        assert!(!c.contains("10.244.3.255".parse().unwrap()));
        assert!(!c.contains("10.244.4.2".parse().unwrap()));
        assert!(Ipv4Cidr::parse("fd00::/64").is_none());
        assert!(Ipv4Cidr::parse("10.0.0.0").is_none());
        assert!(Ipv4Cidr::parse("10.0.0.0/31").is_none());
    }

    #[test]
    fn pods_get_distinct_addresses_from_two_and_keep_them() {
        let cidr = Ipv4Cidr::parse("10.244.1.0/24").unwrap();
        let mut a = PodAddresses::default();
        let first = a.assign("n", cidr, "u1", None).unwrap();
        assert_eq!(first.to_string(), "10.244.1.2");
        let second = a.assign("n", cidr, "u2", None).unwrap();
        assert_eq!(second.to_string(), "10.244.1.3");
        assert_eq!(a.assign("n", cidr, "u1", None), Some(first));
    }

    #[test]
    fn a_freed_address_is_not_reused_at_once() {
        let cidr = Ipv4Cidr::parse("10.244.1.0/24").unwrap();
        let mut a = PodAddresses::default();
        let first = a.assign("n", cidr, "u1", None).unwrap();
        a.release("u1");
        assert_ne!(a.assign("n", cidr, "u2", None), Some(first));
    }

    #[test]
    fn an_existing_address_in_range_is_adopted() {
        let cidr = Ipv4Cidr::parse("10.244.1.0/24").unwrap();
        let mut a = PodAddresses::default();
        let kept = "10.244.1.77".parse().unwrap();
        assert_eq!(a.assign("n", cidr, "u1", Some(kept)), Some(kept));
        let outside = "10.9.9.9".parse().unwrap();
        assert_ne!(a.assign("n", cidr, "u2", Some(outside)), Some(outside));
    }

    #[test]
    fn a_full_range_gives_none_until_a_pod_goes() {
        let cidr = Ipv4Cidr::parse("10.0.0.0/29").unwrap();
        let mut a = PodAddresses::default();
        // .2 to .6: five pod addresses in a /29.
        for i in 0..5 {
            assert!(a.assign("n", cidr, &format!("u{i}"), None).is_some());
        }
        assert_eq!(a.assign("n", cidr, "u5", None), None);
        let mut live: HashSet<String> = (1..5).map(|i| format!("u{i}")).collect();
        live.insert("u5".into());
        a.retain(&live);
        assert_eq!(
            a.assign("n", cidr, "u5", None).unwrap().to_string(),
            "10.0.0.2"
        );
    }
}

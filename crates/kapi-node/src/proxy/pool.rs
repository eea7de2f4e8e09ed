//! The address pool of the built-in load balancer (`--service-lb-pool`), as MetalLB's
//! IPAddressPool: LoadBalancer Services get an address of their own from it instead of the
//! nodes' addresses. The servicelb controller hands the addresses out; the node that
//! [`announcer`] picks holds each one, so that its neighbours reach it there.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// A pool that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// One element is neither `A.B.C.D/N` nor `A.B.C.D-E.F.G.H` nor one address.
    #[error("invalid load balancer pool entry {0:?}: expected an IPv4 CIDR (10.0.0.0/24), a range (10.0.0.10-10.0.0.20) or an address")]
    Entry(String),
    /// A range whose end is before its start.
    #[error("invalid load balancer pool range {0:?}: the end is before the start")]
    Backwards(String),
    /// Nothing to hand out.
    #[error("the load balancer pool is empty")]
    Empty,
}

/// Inclusive address ranges, in order, without overlaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbPool {
    ranges: Vec<(u32, u32)>,
}

impl FromStr for LbPool {
    type Err = PoolError;

    /// Comma-separated CIDRs, ranges and single addresses. A CIDR's network and broadcast
    /// addresses are left out (prefixes up to /30), since some clients refuse to talk to them.
    fn from_str(s: &str) -> Result<Self, PoolError> {
        let mut ranges = Vec::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || PoolError::Entry(entry.to_string());
            let range = if let Some((ip, bits)) = entry.split_once('/') {
                let ip = u32::from(ip.parse::<Ipv4Addr>().map_err(|_| bad())?);
                let bits: u32 = bits.parse().map_err(|_| bad())?;
                if bits > 32 {
                    return Err(bad());
                }
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                let (first, last) = (ip & mask, (ip & mask) | !mask);
                if bits <= 30 {
                    (first + 1, last - 1)
                } else {
                    (first, last)
                }
            } else if let Some((a, b)) = entry.split_once('-') {
                let a = u32::from(a.trim().parse::<Ipv4Addr>().map_err(|_| bad())?);
                let b = u32::from(b.trim().parse::<Ipv4Addr>().map_err(|_| bad())?);
                if b < a {
                    return Err(PoolError::Backwards(entry.to_string()));
                }
                (a, b)
            } else {
                let ip = u32::from(entry.parse::<Ipv4Addr>().map_err(|_| bad())?);
                (ip, ip)
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err(PoolError::Empty);
        }
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Ok(LbPool { ranges: merged })
    }
}

impl LbPool {
    /// Whether `ip` (text) is one of the pool's addresses.
    pub fn contains(&self, ip: &str) -> bool {
        ip.parse::<Ipv4Addr>().is_ok_and(|ip| {
            let ip = u32::from(ip);
            self.ranges.iter().any(|&(a, b)| a <= ip && ip <= b)
        })
    }

    /// The lowest address not in `taken`.
    pub fn first_free(&self, taken: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
        self.ranges
            .iter()
            .find_map(|&(a, b)| (a..=b).map(Ipv4Addr::from).find(|ip| !taken.contains(ip)))
    }
}

/// The node that holds a pool address: of the nodes with ready endpoints of the Service (else
/// with any endpoints), the one whose name hashes lowest together with the Service's key, so
/// every node reaches the same answer on its own and Services spread over nodes. `None` when
/// no node has an endpoint.
pub fn announcer<'a>(
    service_key: &str,
    ready_nodes: impl IntoIterator<Item = &'a str>,
    other_nodes: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let pick = |nodes: Vec<&'a str>| {
        nodes.into_iter().min_by_key(|node| {
            (
                fnv1a(&[node.as_bytes(), b"/", service_key.as_bytes()]),
                *node,
            )
        })
    };
    pick(ready_nodes.into_iter().collect()).or_else(|| pick(other_nodes.into_iter().collect()))
}

/// FNV-1a, 64 bits: stable across versions and machines, unlike the std hasher.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_ranges_and_addresses_merge_and_skip_network_and_broadcast() {
        let pool: LbPool = "10.0.0.0/30, 10.0.0.3-10.0.0.5,10.0.0.9".parse().unwrap();
        assert!(!pool.contains("10.0.0.0"));
        assert!(pool.contains("10.0.0.1") && pool.contains("10.0.0.5"));
        assert!(!pool.contains("10.0.0.6") && pool.contains("10.0.0.9"));
        assert!(!pool.contains("not an ip"));
        let taken = ["10.0.0.1", "10.0.0.2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(pool.first_free(&taken), Some("10.0.0.3".parse().unwrap()));
        let one: LbPool = "192.0.2.7/32".parse().unwrap();
        assert!(one.contains("192.0.2.7"));
    }

    #[test]
    fn bad_pools_say_which_entry() {
        assert_eq!(
            "10.0.0.5-10.0.0.1".parse::<LbPool>(),
            Err(PoolError::Backwards("10.0.0.5-10.0.0.1".into()))
        );
        assert_eq!(
            "10.0.0.0/33".parse::<LbPool>(),
            Err(PoolError::Entry("10.0.0.0/33".into()))
        );
        assert_eq!(
            "fe80::/64".parse::<LbPool>(),
            Err(PoolError::Entry("fe80::/64".into()))
        );
        assert_eq!(" , ".parse::<LbPool>(), Err(PoolError::Empty));
    }

    #[test]
    fn a_full_pool_has_nothing_free() {
        let pool: LbPool = "10.0.0.1".parse().unwrap();
        let taken = [Ipv4Addr::new(10, 0, 0, 1)].into_iter().collect();
        assert_eq!(pool.first_free(&taken), None);
    }

    #[test]
    fn every_node_picks_the_same_announcer_and_prefers_ready_ones() {
        let a = announcer("d/web", ["n2", "n1", "n3"], []);
        let b = announcer("d/web", ["n3", "n1", "n2"], []);
        assert_eq!(a, b);
        assert_eq!(announcer("d/web", [], ["n9"]), Some("n9"));
        assert_eq!(announcer("d/web", ["n1"], ["n9"]), Some("n1"));
        assert_eq!(announcer("d/web", [], []), None);
    }
}

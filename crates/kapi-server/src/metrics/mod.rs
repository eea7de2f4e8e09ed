//! The resource metrics API (`metrics.k8s.io/v1beta1`), served in-process as metrics-server
//! would serve it through aggregation: kubelets' `/metrics/resource` scraped every
//! [`RESOLUTION`], CPU as a rate between a node's last two scrapes, memory as the working set.
//!
//! Nothing is stored: the two latest scrapes per node live in [`Cache`], so a node (and its
//! pods) is absent until it has been scraped twice, as with metrics-server.

pub mod api;
pub mod scrape;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use kapi_api::resources::{ResourceDef, RO};

/// The API group.
pub const GROUP: &str = "metrics.k8s.io";
/// Its only version.
pub const VERSION: &str = "v1beta1";
/// How often nodes are scraped: metrics-server's default `--metric-resolution`.
pub const RESOLUTION: Duration = Duration::from_secs(15);

/// Discovery rows of the group. Kept out of the resource table because nothing here is stored,
/// watched, garbage-collected or described by OpenAPI schemas.
pub static RESOURCES: &[ResourceDef] = &[
    ResourceDef {
        group: GROUP,
        version: VERSION,
        resource: "nodes",
        singular: "",
        kind: "NodeMetrics",
        namespaced: false,
        verbs: RO,
        short_names: &[],
        categories: &[],
        subresources: &[],
        generation: false,
        custom: false,
    },
    ResourceDef {
        group: GROUP,
        version: VERSION,
        resource: "pods",
        singular: "",
        kind: "PodMetrics",
        namespaced: true,
        verbs: RO,
        short_names: &[],
        categories: &[],
        subresources: &[],
        generation: false,
        custom: false,
    },
];

/// A cumulative CPU counter and a memory gauge, measured at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Point {
    /// Cumulative CPU seconds.
    pub cpu_seconds: f64,
    /// Working set bytes.
    pub memory: u64,
    /// When the CPU counter was read, milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// One scrape of one node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    /// The node's own usage.
    pub node: Option<Point>,
    /// Containers keyed by (namespace, pod, container).
    pub containers: BTreeMap<(String, String, String), Point>,
}

/// What the API reports: a rate over a window ending at `timestamp_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// CPU in nanocores.
    pub nano_cores: u64,
    /// Working set bytes at the later point.
    pub memory: u64,
    /// End of the window.
    pub timestamp_ms: i64,
    /// Length of the window.
    pub window_ms: i64,
}

/// The usage between two points; `None` when time did not advance or the counter went back
/// (a restarted container), since no honest rate exists then.
pub fn rate(prev: &Point, cur: &Point) -> Option<Usage> {
    let window_ms = cur.timestamp_ms - prev.timestamp_ms;
    let cpu = cur.cpu_seconds - prev.cpu_seconds;
    if window_ms <= 0 || cpu < 0.0 {
        return None;
    }
    Some(Usage {
        nano_cores: (cpu * 1e9 * 1000.0 / window_ms as f64).round() as u64,
        memory: cur.memory,
        timestamp_ms: cur.timestamp_ms,
        window_ms,
    })
}

/// Containers' usage of one pod, by container name.
pub type PodUsage = Vec<(String, Usage)>;

/// The two latest scrapes per node.
#[derive(Debug, Default)]
pub struct Cache {
    /// Node name → (previous, latest).
    nodes: Mutex<HashMap<String, (Option<Scrape>, Scrape)>>,
}

impl Cache {
    /// Records a node's newest scrape, keeping the one before it.
    pub fn record(&self, node: &str, scrape: Scrape) {
        if let Ok(mut nodes) = self.nodes.lock() {
            let prev = nodes.remove(node).map(|(_, latest)| latest);
            nodes.insert(node.to_string(), (prev, scrape));
        }
    }

    /// Forgets nodes no longer scraped, so they drop out of the API.
    pub fn retain(&self, nodes: &[String]) {
        if let Ok(mut cache) = self.nodes.lock() {
            cache.retain(|n, _| nodes.contains(n));
        }
    }

    /// Every node with a rate.
    pub fn nodes(&self) -> Vec<(String, Usage)> {
        let Ok(nodes) = self.nodes.lock() else {
            return Vec::new();
        };
        let mut out: Vec<(String, Usage)> = nodes
            .iter()
            .filter_map(|(name, (prev, cur))| {
                Some((
                    name.clone(),
                    rate(prev.as_ref()?.node.as_ref()?, cur.node.as_ref()?)?,
                ))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Every pod whose containers all have a rate, keyed by (namespace, name).
    pub fn pods(&self) -> BTreeMap<(String, String), PodUsage> {
        let mut out = BTreeMap::new();
        let Ok(nodes) = self.nodes.lock() else {
            return out;
        };
        for (prev, cur) in nodes.values() {
            let Some(prev) = prev else { continue };
            pod_rates(prev, cur, &mut out);
        }
        out
    }
}

/// Adds one node's pods to `out`; a pod with any container lacking a rate is left out whole,
/// as metrics-server leaves out pods it cannot fully account for.
fn pod_rates(prev: &Scrape, cur: &Scrape, out: &mut BTreeMap<(String, String), PodUsage>) {
    let mut incomplete = Vec::new();
    for ((ns, pod, container), point) in &cur.containers {
        let key = (ns.clone(), pod.clone());
        let before = prev
            .containers
            .get(&(ns.clone(), pod.clone(), container.clone()));
        match before.and_then(|b| rate(b, point)) {
            Some(u) => out.entry(key).or_default().push((container.clone(), u)),
            None => incomplete.push(key),
        }
    }
    for key in incomplete {
        out.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(cpu: f64, mem: u64, ts: i64) -> Point {
        Point {
            cpu_seconds: cpu,
            memory: mem,
            timestamp_ms: ts,
        }
    }

    #[test]
    fn cpu_is_a_rate_over_the_window() {
        let u = rate(&p(10.0, 1, 1_000), &p(17.5, 2, 16_000)).unwrap();
        assert_eq!(u.nano_cores, 500_000_000);
        assert_eq!(u.memory, 2);
        assert_eq!((u.timestamp_ms, u.window_ms), (16_000, 15_000));
        assert_eq!(rate(&p(10.0, 1, 1_000), &p(9.0, 1, 2_000)), None);
        assert_eq!(rate(&p(1.0, 1, 1_000), &p(2.0, 1, 1_000)), None);
    }

    #[test]
    fn a_node_needs_two_scrapes_and_pods_need_every_container() {
        let cache = Cache::default();
        let key = |c: &str| ("ns".to_string(), "p".to_string(), c.to_string());
        let mut first = Scrape {
            node: Some(p(1.0, 10, 1_000)),
            ..Default::default()
        };
        first.containers.insert(key("a"), p(1.0, 5, 1_000));
        cache.record("n", first);
        assert!(cache.nodes().is_empty());
        assert!(cache.pods().is_empty());
        let mut second = Scrape {
            node: Some(p(2.0, 20, 2_000)),
            ..Default::default()
        };
        second.containers.insert(key("a"), p(1.5, 6, 2_000));
        cache.record("n", second.clone());
        assert_eq!(cache.nodes()[0].1.nano_cores, 1_000_000_000);
        let pods = cache.pods();
        assert_eq!(
            pods[&("ns".into(), "p".into())][0].1.nano_cores,
            500_000_000
        );
        // A new container without history hides the pod until it has two points.
        second.containers.insert(key("a"), p(2.0, 7, 3_000));
        second.containers.insert(key("b"), p(0.1, 1, 3_000));
        second.node = Some(p(3.0, 20, 3_000));
        cache.record("n", second);
        assert!(cache.pods().is_empty());
        cache.retain(&[]);
        assert!(cache.nodes().is_empty());
    }
}

//! Resource usage samples and their Prometheus text form, as kubelet's `/metrics/resource`
//! endpoint serves them to metrics-server.
//!
//! Parsing (/proc) and formatting are pure so they can be tested without a machine; the
//! kubelet API gathers the inputs.

use std::fmt::Write;

/// Clock ticks per second of /proc/stat (`USER_HZ`, 100 on every Linux ABI kapi runs on).
const USER_HZ: f64 = 100.0;

/// One sample of cumulative CPU and current memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// Cumulative CPU time in seconds.
    pub cpu_seconds: f64,
    /// Working set in bytes.
    pub memory_working_set: u64,
    /// When it was taken, milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// A container's sample with the names metrics-server keys it by.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerUsage {
    /// Namespace of the pod.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// The sample.
    pub usage: Usage,
}

/// Busy CPU seconds from the aggregate `cpu` line of /proc/stat: everything but idle and iowait
/// (guest time is already counted in user).
pub fn parse_proc_stat(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal ...
    let busy: u64 = [0usize, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|i| fields.get(*i))
        .sum();
    if fields.len() < 4 {
        return None;
    }
    Some(busy as f64 / USER_HZ)
}

/// The machine's working set from /proc/meminfo: what is in use and cannot be reclaimed
/// quickly, `MemTotal - MemAvailable`, in bytes.
pub fn parse_meminfo_working_set(text: &str) -> Option<u64> {
    let total = crate::machine::parse_meminfo(text, "MemTotal:")?;
    let available = crate::machine::parse_meminfo(text, "MemAvailable:")?;
    Some(total.saturating_sub(available) * 1024)
}

/// Escapes a label value for the Prometheus text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Sums containers into pods, keyed by (namespace, pod); the newest timestamp wins.
pub fn pods(containers: &[ContainerUsage]) -> Vec<((String, String), Usage)> {
    let mut out: Vec<((String, String), Usage)> = Vec::new();
    for c in containers {
        let key = (c.namespace.clone(), c.pod.clone());
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, u)) => {
                u.cpu_seconds += c.usage.cpu_seconds;
                u.memory_working_set += c.usage.memory_working_set;
                u.timestamp_ms = u.timestamp_ms.max(c.usage.timestamp_ms);
            }
            None => out.push((key, c.usage.clone())),
        }
    }
    out
}

/// The `/metrics/resource` document: node, pod and container series, each with its sample's
/// timestamp so the scraper can compute rates over the real interval.
pub fn format_resource_metrics(
    node: Option<&Usage>,
    containers: &[ContainerUsage],
    scrape_error: bool,
) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, kind: &str, rows: Vec<(String, String, i64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value, ts) in rows {
            if ts == 0 {
                let _ = writeln!(out, "{name}{labels} {value}");
            } else {
                let _ = writeln!(out, "{name}{labels} {value} {ts}");
            }
        }
    };
    let c_labels = |c: &ContainerUsage| {
        format!(
            "{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}}",
            escape(&c.container),
            escape(&c.namespace),
            escape(&c.pod)
        )
    };
    let p_labels =
        |ns: &str, pod: &str| format!("{{namespace=\"{}\",pod=\"{}\"}}", escape(ns), escape(pod));
    let pods = pods(containers);
    family(
        "container_cpu_usage_seconds_total",
        "CPU seconds the container has used since it started, summed over cores",
        "counter",
        containers
            .iter()
            .map(|c| {
                (
                    c_labels(c),
                    c.usage.cpu_seconds.to_string(),
                    c.usage.timestamp_ms,
                )
            })
            .collect(),
    );
    family(
        "container_memory_working_set_bytes",
        "Bytes of memory the container uses that cannot be reclaimed cheaply",
        "gauge",
        containers
            .iter()
            .map(|c| {
                (
                    c_labels(c),
                    c.usage.memory_working_set.to_string(),
                    c.usage.timestamp_ms,
                )
            })
            .collect(),
    );
    family(
        "node_cpu_usage_seconds_total",
        "CPU seconds the machine has spent busy since boot, summed over cores",
        "counter",
        node.iter()
            .map(|n| (String::new(), n.cpu_seconds.to_string(), n.timestamp_ms))
            .collect(),
    );
    family(
        "node_memory_working_set_bytes",
        "Bytes of memory in use on the machine that cannot be reclaimed cheaply",
        "gauge",
        node.iter()
            .map(|n| {
                (
                    String::new(),
                    n.memory_working_set.to_string(),
                    n.timestamp_ms,
                )
            })
            .collect(),
    );
    family(
        "pod_cpu_usage_seconds_total",
        "CPU seconds the pod's containers have used, summed over cores",
        "counter",
        pods.iter()
            .map(|((ns, p), u)| (p_labels(ns, p), u.cpu_seconds.to_string(), u.timestamp_ms))
            .collect(),
    );
    family(
        "pod_memory_working_set_bytes",
        "Working set bytes of the pod's containers together",
        "gauge",
        pods.iter()
            .map(|((ns, p), u)| {
                (
                    p_labels(ns, p),
                    u.memory_working_set.to_string(),
                    u.timestamp_ms,
                )
            })
            .collect(),
    );
    family(
        "scrape_error",
        "Whether the runtime failed to report container usage (1) or not (0)",
        "gauge",
        vec![(String::new(), u8::from(scrape_error).to_string(), 0)],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_counts_busy_ticks() {
        let text = "cpu  100 20 30 1000 50 5 5 10 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_proc_stat(text), Some(1.7));
        assert_eq!(parse_proc_stat("intr 1 2\n"), None);
        assert_eq!(parse_proc_stat("cpu  x y\n"), None);
    }

    #[test]
    fn working_set_is_total_minus_available() {
        let text = "MemTotal: 1000 kB\nMemFree: 10 kB\nMemAvailable: 400 kB\n";
        assert_eq!(parse_meminfo_working_set(text), Some(600 * 1024));
        assert_eq!(parse_meminfo_working_set("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn document_has_every_family_with_timestamps() {
        let u = |cpu, mem| Usage {
            cpu_seconds: cpu,
            memory_working_set: mem,
            timestamp_ms: 1700000000123,
        };
        let c = |name: &str, cpu, mem| ContainerUsage {
            namespace: "ns".into(),
            pod: "p\"q".into(),
            container: name.into(),
            usage: u(cpu, mem),
        };
        let text = format_resource_metrics(
            Some(&u(12.5, 1024)),
            &[c("a", 1.5, 10), c("b", 2.0, 20)],
            false,
        );
        assert!(text.contains(
            "container_cpu_usage_seconds_total{container=\"a\",namespace=\"ns\",pod=\"p\\\"q\"} 1.5 1700000000123\n"
        ));
        assert!(text.contains("node_cpu_usage_seconds_total 12.5 1700000000123\n"));
        assert!(text.contains("node_memory_working_set_bytes 1024 1700000000123\n"));
        assert!(text.contains(
            "pod_cpu_usage_seconds_total{namespace=\"ns\",pod=\"p\\\"q\"} 3.5 1700000000123\n"
        ));
        assert!(text.contains("pod_memory_working_set_bytes{namespace=\"ns\",pod=\"p\\\"q\"} 30"));
        assert!(text.contains("# TYPE scrape_error gauge\nscrape_error 0\n"));
    }
}

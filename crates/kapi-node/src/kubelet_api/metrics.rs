//! `GET /metrics/resource`: what metrics-server scrapes, gathered from the runtime's
//! `ListContainerStats` (containers, summed into pods) and /proc (the node).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::cri::{api, Cri};
use crate::pods::cri_config::{CONTAINER_NAME, POD_NAME, POD_NAMESPACE};
use crate::stats::{self, ContainerUsage, Usage};

/// Milliseconds since the epoch now.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The node's own usage from /proc; `None` when /proc is unreadable (the series are omitted,
/// as kubelet omits what it cannot measure).
fn node_usage() -> Option<Usage> {
    let cpu = stats::parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
    let mem = stats::parse_meminfo_working_set(&std::fs::read_to_string("/proc/meminfo").ok()?)?;
    Some(Usage {
        cpu_seconds: cpu,
        memory_working_set: mem,
        timestamp_ms: now_ms(),
    })
}

/// A container's usage from its CRI stats; containers without kubelet's labels or without a
/// CPU counter are not pods' containers (or not running) and are skipped.
fn container_usage(s: &api::ContainerStats) -> Option<ContainerUsage> {
    let labels = &s.attributes.as_ref()?.labels;
    let cpu = s.cpu.as_ref()?;
    let nanos = cpu.usage_core_nano_seconds.as_ref()?.value;
    let mem = s
        .memory
        .as_ref()
        .and_then(|m| m.working_set_bytes.as_ref())
        .map_or(0, |v| v.value);
    let timestamp_ms = if cpu.timestamp > 0 {
        cpu.timestamp / 1_000_000
    } else {
        now_ms()
    };
    Some(ContainerUsage {
        namespace: labels.get(POD_NAMESPACE)?.clone(),
        pod: labels.get(POD_NAME)?.clone(),
        container: labels.get(CONTAINER_NAME)?.clone(),
        usage: Usage {
            cpu_seconds: nanos as f64 / 1e9,
            memory_working_set: mem,
            timestamp_ms,
        },
    })
}

/// The whole document; a failed runtime call still serves the node's series with
/// `scrape_error 1`.
pub async fn resource_metrics(cri: &Cri) -> String {
    let mut rt = cri.runtime.clone();
    let (containers, failed) = match rt
        .list_container_stats(api::ListContainerStatsRequest { filter: None })
        .await
    {
        Ok(r) => (
            r.into_inner()
                .stats
                .iter()
                .filter_map(container_usage)
                .collect::<Vec<_>>(),
            false,
        ),
        Err(status) => {
            tracing::warn!(error = %status, "ListContainerStats failed");
            (Vec::new(), true)
        }
    };
    stats::format_resource_metrics(node_usage().as_ref(), &containers, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_stats_map_to_labelled_usage() {
        let labels = [
            (POD_NAMESPACE, "ns"),
            (POD_NAME, "p"),
            (CONTAINER_NAME, "c"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut s = api::ContainerStats {
            attributes: Some(api::ContainerAttributes {
                id: "abc".into(),
                labels,
                ..Default::default()
            }),
            cpu: Some(api::CpuUsage {
                timestamp: 1_700_000_000_123_456_789,
                usage_core_nano_seconds: Some(api::UInt64Value {
                    value: 2_500_000_000,
                }),
                ..Default::default()
            }),
            memory: Some(api::MemoryUsage {
                working_set_bytes: Some(api::UInt64Value { value: 4096 }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let u = container_usage(&s).unwrap();
        assert_eq!(
            (u.namespace.as_str(), u.pod.as_str(), u.container.as_str()),
            ("ns", "p", "c")
        );
        assert_eq!(u.usage.cpu_seconds, 2.5);
        assert_eq!(u.usage.memory_working_set, 4096);
        assert_eq!(u.usage.timestamp_ms, 1_700_000_000_123);
        s.cpu = None;
        assert_eq!(container_usage(&s), None);
    }
}

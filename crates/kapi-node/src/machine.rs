//! What the node reports about the machine: capacity, addresses and system info, read from
//! /proc and the file system as kubelet's cadvisor does.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::Path;

/// Pods per node, kubelet's default `--max-pods`.
pub const MAX_PODS: u32 = 110;

/// The machine's resources.
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    /// Logical CPUs.
    pub cpu: usize,
    /// Memory in KiB.
    pub memory_kib: u64,
    /// Bytes of the file system holding the node's data.
    pub ephemeral_storage: u64,
    /// Pods the node accepts (kubelet's `--max-pods`).
    pub pods: u32,
}

/// Reads the machine's capacity; `data_dir` decides which file system counts as ephemeral
/// storage.
pub fn capacity(data_dir: &Path) -> Capacity {
    let cpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| parse_meminfo(&m, "MemTotal:"))
        .unwrap_or(0);
    let ephemeral_storage = rustix::fs::statvfs(data_dir)
        .map(|s| s.f_blocks * s.f_frsize)
        .unwrap_or(0);
    Capacity {
        cpu,
        memory_kib,
        ephemeral_storage,
        pods: MAX_PODS,
    }
}

/// A `Key:   value kB` line of /proc/meminfo, in KiB.
pub fn parse_meminfo(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The address other machines reach this one at: the source address of the default route,
/// found by "connecting" a UDP socket (no packet is sent). Loopback when there is no route.
pub fn primary_ip() -> IpAddr {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| {
            s.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The machine's host name, lower-cased as kubelet registers it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_ascii_lowercase())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Node.status.nodeInfo's facts about the system.
#[derive(Debug, Clone)]
pub struct SystemInfo {
    /// `uname -r`.
    pub kernel_version: String,
    /// /etc/os-release's PRETTY_NAME.
    pub os_image: String,
    /// /etc/machine-id.
    pub machine_id: String,
    /// The kernel's boot id.
    pub boot_id: String,
    /// GOARCH spelling: amd64, arm64 ...
    pub architecture: &'static str,
}

/// Reads the system facts.
pub fn system_info() -> SystemInfo {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let os_image = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into());
    SystemInfo {
        kernel_version: read("/proc/sys/kernel/osrelease"),
        os_image,
        machine_id: read("/etc/machine-id"),
        boot_id: read("/proc/sys/kernel/random/boot_id"),
        architecture: go_arch(),
    }
}

/// Rust's architecture name in Go's spelling, which the `kubernetes.io/arch` label uses.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_total_is_read_in_kib() {
        let text = "MemTotal:       24590848 kB\nMemFree:         1000 kB\n";
        assert_eq!(parse_meminfo(text, "MemTotal:"), Some(24590848));
        assert_eq!(parse_meminfo(text, "Nope:"), None);
    }

    #[test]
    fn capacity_is_read_from_this_machine() {
        let c = capacity(Path::new("/"));
        assert!(c.cpu >= 1);
        assert!(c.memory_kib > 0);
        assert!(c.ephemeral_storage > 0);
    }
}

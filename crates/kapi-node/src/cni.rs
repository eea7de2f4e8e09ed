//! The pod network's CNI configuration: a bridge on the node with addresses from the node's
//! podCIDR (host-local IPAM), port mappings for `hostPort`, written where the runtime's CNI
//! support reads it. The runtime calls the plugins for each sandbox (loopback included).

use std::path::{Path, PathBuf};

use serde_json::json;

/// Where Debian's containernetworking-plugins installs the plugins, then the usual place.
pub fn plugin_dir() -> PathBuf {
    ["/usr/lib/cni", "/opt/cni/bin"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("bridge").exists())
        .unwrap_or_else(|| PathBuf::from("/usr/lib/cni"))
}

/// The bridge's name on the node.
pub const BRIDGE: &str = "kapi0";

/// The network configuration list for `pod_cidr`.
pub fn conflist(pod_cidr: &str, ipam_dir: &Path) -> serde_json::Value {
    json!({
        "cniVersion": "1.0.0",
        "name": "kapi",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": ipam_dir,
                }
            },
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
        ]
    })
}

/// Writes the configuration atomically into `conf_dir`.
pub fn write(conf_dir: &Path, pod_cidr: &str, ipam_dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(conf_dir)?;
    let path = conf_dir.join("10-kapi.conflist");
    let tmp = conf_dir.join(".10-kapi.conflist.tmp");
    let text = serde_json::to_vec_pretty(&conflist(pod_cidr, ipam_dir))?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflist_uses_the_pod_cidr() {
        let c = conflist("10.244.3.0/24", Path::new("/d/ipam"));
        assert_eq!(
            c["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
            "10.244.3.0/24"
        );
        assert_eq!(c["plugins"][1]["type"], "portmap");
    }
}

//! The pod's `/etc/hosts`, written and mounted into each container as kubelet does: localhost
//! entries, the pod's own address under its hostname (and FQDN when it has a subdomain), then
//! `spec.hostAliases`. Pods on the host network see the node's file instead.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

/// The file's contents.
pub fn render(pod: &Pod, pod_ip: &str, cluster_domain: &str) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let spec = pod.spec.as_ref();
    let hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    if !pod_ip.is_empty() && !hostname.is_empty() {
        match spec
            .and_then(|s| s.subdomain.as_deref())
            .filter(|d| !d.is_empty())
        {
            Some(subdomain) => {
                let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
                s.push_str(&format!(
                    "{pod_ip}\t{hostname}.{subdomain}.{ns}.svc.{cluster_domain}\t{hostname}\n"
                ));
            }
            None => s.push_str(&format!("{pod_ip}\t{hostname}\n")),
        }
    }
    let aliases = spec.and_then(|s| s.host_aliases.as_ref());
    if let Some(aliases) = aliases.filter(|a| !a.is_empty()) {
        s.push_str("\n# Entries added by HostAliases.\n");
        for alias in aliases {
            let names = alias.hostnames.clone().unwrap_or_default().join("\t");
            s.push_str(&format!("{}\t{names}\n", alias.ip));
        }
    }
    s
}

/// Writes the file into the pod's directory and returns its path, or `None` for pods on the
/// host network (they keep the node's).
pub fn write(
    pod_dir: &Path,
    pod: &Pod,
    pod_ip: &str,
    cluster_domain: &str,
) -> std::io::Result<Option<PathBuf>> {
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
    {
        return Ok(None);
    }
    std::fs::create_dir_all(pod_dir)?;
    let path = pod_dir.join("etc-hosts");
    let contents = render(pod, pod_ip, cluster_domain);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
        let tmp = pod_dir.join(".etc-hosts.tmp");
        std::fs::write(&tmp, contents)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hostname_subdomain_and_aliases_are_listed() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "shop"},
            "spec": {"containers": [], "subdomain": "web",
                     "hostAliases": [{"ip": "192.0.2.1", "hostnames": ["a.example", "b.example"]}]}
        }))
        .unwrap();
        let s = render(&pod, "10.244.0.5", "cluster.local");
        assert!(s.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(
            s.contains("10.244.0.5\tweb-0.web.shop.svc.cluster.local\tweb-0\n"),
            "{s}"
        );
        assert!(
            s.ends_with("# Entries added by HostAliases.\n192.0.2.1\ta.example\tb.example\n"),
            "{s}"
        );
        let plain: Pod = serde_json::from_value(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [], "hostname": "h"}}),
        )
        .unwrap();
        assert!(render(&plain, "10.244.0.6", "cluster.local").contains("10.244.0.6\th\n"));
    }
}

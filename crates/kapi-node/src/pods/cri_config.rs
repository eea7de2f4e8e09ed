//! The CRI requests for a pod: its sandbox (hostname, resolv.conf, log directory, port
//! mappings, cgroup parent, namespaces) and each container (image, command, environment, mounts, resources,
//! security context), with the labels kubelet puts on them so that a restarted node finds its
//! pods' containers again.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::cri::api;

use super::dns::{dns_config, ClusterDns};
use super::env::expand;
use super::qos::qos_class;
use super::volumes::Prepared;

/// Label holding the pod's UID on sandboxes and containers.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// Label holding the pod's name.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// Label holding the pod's namespace.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Label holding the container's name.
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// kubelet's pod log directory name: `NAMESPACE_NAME_UID`.
pub fn log_directory(logs_dir: &Path, pod: &Pod) -> PathBuf {
    let m = &pod.metadata;
    logs_dir.join(format!(
        "{}_{}_{}",
        m.namespace.as_deref().unwrap_or("default"),
        m.name.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default()
    ))
}

/// The labels identifying a pod's sandbox.
pub fn pod_labels(pod: &Pod) -> HashMap<String, String> {
    let m = &pod.metadata;
    let mut labels: HashMap<String, String> =
        m.labels.clone().unwrap_or_default().into_iter().collect();
    labels.insert(POD_NAME.into(), m.name.clone().unwrap_or_default());
    labels.insert(
        POD_NAMESPACE.into(),
        m.namespace.clone().unwrap_or_default(),
    );
    labels.insert(POD_UID.into(), m.uid.clone().unwrap_or_default());
    labels
}

fn host_network(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
}

fn namespaces(pod: &Pod) -> api::NamespaceOption {
    let spec = pod.spec.as_ref();
    let mode = |on_node: Option<bool>, otherwise: api::NamespaceMode| {
        if on_node == Some(true) {
            api::NamespaceMode::Node as i32
        } else {
            otherwise as i32
        }
    };
    api::NamespaceOption {
        network: mode(spec.and_then(|s| s.host_network), api::NamespaceMode::Pod),
        pid: if spec.and_then(|s| s.share_process_namespace) == Some(true) {
            api::NamespaceMode::Pod as i32
        } else {
            mode(spec.and_then(|s| s.host_pid), api::NamespaceMode::Container)
        },
        ipc: mode(spec.and_then(|s| s.host_ipc), api::NamespaceMode::Pod),
        ..Default::default()
    }
}

/// The sandbox of `pod`.
pub fn sandbox_config(
    pod: &Pod,
    logs_dir: &Path,
    attempt: u32,
    dns: &ClusterDns,
) -> api::PodSandboxConfig {
    let m = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let name = m.name.clone().unwrap_or_default();
    let hostname = if host_network(pod) {
        String::new()
    } else {
        let mut h = spec.hostname.clone().unwrap_or_else(|| name.clone());
        h.truncate(63);
        h.trim_end_matches(['-', '.']).to_string()
    };
    let port_mappings = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|h| h > 0))
        .map(|p| api::PortMapping {
            protocol: match p.protocol.as_deref() {
                Some("UDP") => api::Protocol::Udp as i32,
                Some("SCTP") => api::Protocol::Sctp as i32,
                _ => api::Protocol::Tcp as i32,
            },
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or_default(),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect();
    let uid = m.uid.clone().unwrap_or_default();
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name,
            uid: uid.clone(),
            namespace: m.namespace.clone().unwrap_or_default(),
            attempt,
        }),
        hostname,
        log_directory: log_directory(logs_dir, pod).to_string_lossy().into_owned(),
        dns_config: Some(dns_config(pod, dns)),
        port_mappings,
        labels: pod_labels(pod),
        annotations: m
            .annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: qos_class(&spec).cgroup_parent(&uid),
            security_context: Some(api::LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces(pod)),
                run_as_user: spec
                    .security_context
                    .as_ref()
                    .and_then(|s| s.run_as_user)
                    .map(|value| api::Int64Value { value }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        windows: None,
    }
}

/// Why a container's mounts cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MountError {
    /// A volumeMount names no volume of the pod.
    #[error("cannot find volume \"{0}\" to mount into container")]
    NoVolume(String),
    /// A subPath tries to leave its volume.
    #[error("invalid subPath {0:?}: must be a relative path without '..'")]
    BadSubPath(String),
}

/// The container's mounts from its volumeMounts and the prepared volumes.
pub fn mounts(
    c: &Container,
    volumes: &BTreeMap<String, Prepared>,
) -> Result<Vec<api::Mount>, MountError> {
    let mut out = Vec::new();
    for vm in c.volume_mounts.iter().flatten() {
        let vol = volumes
            .get(&vm.name)
            .ok_or_else(|| MountError::NoVolume(vm.name.clone()))?;
        let mut host = vol.host_path.clone();
        if let Some(sub) = vm.sub_path.as_deref().filter(|s| !s.is_empty()) {
            if sub.starts_with('/') || sub.split('/').any(|p| p == "..") {
                return Err(MountError::BadSubPath(sub.to_string()));
            }
            host = host.join(sub);
            if !host.exists() {
                let _ = std::fs::create_dir_all(&host);
            }
        }
        out.push(api::Mount {
            container_path: vm.mount_path.clone(),
            host_path: host.to_string_lossy().into_owned(),
            readonly: vm.read_only.unwrap_or(false),
            propagation: match vm.mount_propagation.as_deref() {
                Some("HostToContainer") => api::MountPropagation::PropagationHostToContainer as i32,
                Some("Bidirectional") => api::MountPropagation::PropagationBidirectional as i32,
                _ => api::MountPropagation::PropagationPrivate as i32,
            },
            ..Default::default()
        });
    }
    Ok(out)
}

/// CPU and memory limits as cgroup values (kubelet's conversion).
pub fn resources(c: &Container) -> api::LinuxContainerResources {
    let res = c.resources.as_ref();
    let get = |which: Option<
        &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
               name: &str| {
        which
            .and_then(|m| m.get(name))
            .and_then(|q| kapi_api::quantity::parse_milli(&q.0))
    };
    let requests = res.and_then(|r| r.requests.as_ref());
    let limits = res.and_then(|r| r.limits.as_ref());
    let cpu_request = get(requests, "cpu").or_else(|| get(limits, "cpu"));
    let mut out = api::LinuxContainerResources {
        // cpu.shares: 1024 per CPU, at least 2 (kubelet's MinShares).
        cpu_shares: cpu_request.map_or(2, |m| ((m * 1024) / 1000).max(2) as i64),
        ..Default::default()
    };
    if let Some(limit) = get(limits, "cpu") {
        out.cpu_period = 100_000;
        out.cpu_quota = ((limit * 100_000) / 1000).max(1000) as i64;
    }
    if let Some(mem) = get(limits, "memory") {
        out.memory_limit_in_bytes = ((mem + 999) / 1000) as i64;
    }
    out
}

/// Everything a container's config needs besides the pod.
pub struct ContainerInputs<'a> {
    /// Its environment, in order.
    pub env: &'a [(String, String)],
    /// Its mounts.
    pub mounts: Vec<api::Mount>,
    /// The image reference to run (as pulled).
    pub image: String,
    /// Which restart this is.
    pub attempt: u32,
}

/// The container's config.
pub fn container_config(
    pod: &Pod,
    c: &Container,
    inputs: ContainerInputs<'_>,
) -> api::ContainerConfig {
    let sc = c.security_context.as_ref();
    let pod_sc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let run_as_user = sc
        .and_then(|s| s.run_as_user)
        .or_else(|| pod_sc.and_then(|s| s.run_as_user));
    let run_as_group = sc
        .and_then(|s| s.run_as_group)
        .or_else(|| pod_sc.and_then(|s| s.run_as_group));
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    let mut labels = HashMap::from([
        (
            POD_NAME.to_string(),
            pod.metadata.name.clone().unwrap_or_default(),
        ),
        (
            POD_NAMESPACE.to_string(),
            pod.metadata.namespace.clone().unwrap_or_default(),
        ),
        (
            POD_UID.to_string(),
            pod.metadata.uid.clone().unwrap_or_default(),
        ),
        (CONTAINER_NAME.to_string(), c.name.clone()),
    ]);
    labels.shrink_to_fit();
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: c.name.clone(),
            attempt: inputs.attempt,
        }),
        image: Some(api::ImageSpec {
            image: inputs.image,
            user_specified_image: c.image.clone().unwrap_or_default(),
            ..Default::default()
        }),
        command: c
            .command
            .iter()
            .flatten()
            .map(|s| expand(s, inputs.env))
            .collect(),
        args: c
            .args
            .iter()
            .flatten()
            .map(|s| expand(s, inputs.env))
            .collect(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs: inputs
            .env
            .iter()
            .map(|(key, value)| api::KeyValue {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        mounts: inputs.mounts,
        labels,
        annotations: HashMap::from([(
            "io.kubernetes.container.restartCount".to_string(),
            inputs.attempt.to_string(),
        )]),
        log_path: format!("{}/{}.log", c.name, inputs.attempt),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        linux: Some(api::LinuxContainerConfig {
            resources: Some(resources(c)),
            security_context: Some(api::LinuxContainerSecurityContext {
                privileged: sc.and_then(|s| s.privileged).unwrap_or(false),
                namespace_options: Some(namespaces(pod)),
                run_as_user: run_as_user.map(|value| api::Int64Value { value }),
                run_as_group: run_as_group.map(|value| api::Int64Value { value }),
                readonly_rootfs: sc
                    .and_then(|s| s.read_only_root_filesystem)
                    .unwrap_or(false),
                no_new_privs: sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
                capabilities: caps.map(|c| api::Capability {
                    add_capabilities: c.add.clone().unwrap_or_default(),
                    drop_capabilities: c.drop.clone().unwrap_or_default(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "team", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"containers": [{
                "name": "c", "image": "nginx", "command": ["sh", "-c", "echo $(GREETING)"],
                "ports": [{"containerPort": 80, "hostPort": 8080}],
                "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}},
                "volumeMounts": [{"name": "data", "mountPath": "/data", "subPath": "x"}, {"name": "cfg", "mountPath": "/cfg", "readOnly": true}]
            }]}
        }))
        .unwrap()
    }

    #[test]
    fn sandbox_carries_hostname_ports_labels_and_cgroup() {
        let s = sandbox_config(&pod(), Path::new("/logs"), 0, &ClusterDns::default());
        assert_eq!(s.hostname, "web");
        assert_eq!(s.log_directory, "/logs/team_web_u1");
        assert_eq!(s.port_mappings[0].host_port, 8080);
        assert_eq!(s.labels[POD_UID], "u1");
        assert_eq!(s.labels["app"], "web");
        assert_eq!(s.linux.unwrap().cgroup_parent, "/kubepods/burstable/podu1");
    }

    #[test]
    fn container_gets_expanded_command_limits_and_mounts() {
        let p = pod();
        let c = &p.spec.as_ref().unwrap().containers[0];
        let dir = tempfile::tempdir().unwrap();
        let volumes = BTreeMap::from([
            (
                "data".to_string(),
                Prepared {
                    host_path: dir.path().join("data"),
                },
            ),
            (
                "cfg".to_string(),
                Prepared {
                    host_path: dir.path().join("cfg"),
                },
            ),
        ]);
        let m = mounts(c, &volumes).unwrap();
        assert_eq!(m[0].host_path, dir.path().join("data/x").to_string_lossy());
        assert!(m[1].readonly);
        let env = vec![("GREETING".to_string(), "hi".to_string())];
        let cfg = container_config(
            &p,
            c,
            ContainerInputs {
                env: &env,
                mounts: m,
                image: "sha256:x".into(),
                attempt: 2,
            },
        );
        assert_eq!(cfg.command, ["sh", "-c", "echo hi"]);
        assert_eq!(cfg.log_path, "c/2.log");
        let r = cfg.linux.unwrap().resources.unwrap();
        assert_eq!(r.cpu_shares, 256);
        assert_eq!(r.cpu_quota, 50_000);
        assert_eq!(r.memory_limit_in_bytes, 64 * 1024 * 1024);
        assert_eq!(cfg.labels[CONTAINER_NAME], "c");
        let missing = BTreeMap::new();
        assert_eq!(
            mounts(c, &missing).unwrap_err(),
            MountError::NoVolume("data".into())
        );
    }
}

//! The node's own containerd, started as k3s does when no runtime endpoint is given: its root,
//! state, socket and config under DATA/containerd, the CRI plugin pointed at kapi's CNI
//! configuration and registry settings, stopped when the node stops.
//!
//! Containers outlive it (their shims are separate processes), so a restarted node finds and
//! adopts them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::cri::Cri;

/// Failures starting containerd.
#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    /// A file under DATA/containerd could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The program could not be started.
    #[error("starting {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// It started but did not answer CRI calls in time.
    #[error("containerd did not answer on {socket} within {seconds} s; see {log}")]
    NotReady {
        /// Its socket.
        socket: PathBuf,
        /// Its log.
        log: PathBuf,
        /// How long we waited.
        seconds: u64,
    },
}

/// What the generated configuration needs.
pub struct ContainerdConfig<'a> {
    /// DATA/containerd.
    pub dir: &'a Path,
    /// The sandbox image (kubelet's `--pod-infra-container-image`).
    pub pause_image: &'a str,
    /// Where the CNI plugins are installed.
    pub cni_bin_dir: &'a Path,
    /// Where kapi writes the CNI network configuration.
    pub cni_conf_dir: &'a Path,
    /// containerd's `config_path` for registry hosts (written from registries.yaml).
    pub registry_hosts_dir: &'a Path,
}

/// A containerd process owned by the node.
pub struct Containerd {
    child: Child,
    /// Its CRI socket.
    pub socket: PathBuf,
}

/// [`ContainerdConfig`] with owned values, to start containerd again after it dies.
#[derive(Debug, Clone)]
pub struct OwnedConfig {
    /// DATA/containerd.
    pub dir: PathBuf,
    /// The sandbox image.
    pub pause_image: String,
    /// Where the CNI plugins are installed.
    pub cni_bin_dir: PathBuf,
    /// Where kapi writes the CNI network configuration.
    pub cni_conf_dir: PathBuf,
    /// containerd's `config_path` for registry hosts.
    pub registry_hosts_dir: PathBuf,
}

impl OwnedConfig {
    /// Borrowed, as [`Containerd::start`] takes it.
    pub fn borrowed(&self) -> ContainerdConfig<'_> {
        ContainerdConfig {
            dir: &self.dir,
            pause_image: &self.pause_image,
            cni_bin_dir: &self.cni_bin_dir,
            cni_conf_dir: &self.cni_conf_dir,
            registry_hosts_dir: &self.registry_hosts_dir,
        }
    }
}

impl Containerd {
    /// Writes the configuration, starts `containerd` and waits until its CRI service answers.
    pub async fn start(
        config: &ContainerdConfig<'_>,
    ) -> Result<(Containerd, Cri), ContainerdError> {
        let dir = config.dir;
        let write = |path: &Path, text: &str| {
            std::fs::write(path, text).map_err(|source| ContainerdError::Write {
                path: path.to_path_buf(),
                source,
            })
        };
        for sub in ["root", "state"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path)
                .map_err(|source| ContainerdError::Write { path, source })?;
        }
        let socket = dir.join("containerd.sock");
        let config_path = dir.join("config.toml");
        write(&config_path, &render_config(config, &socket))?;
        let log_path = dir.join("containerd.log");
        let log = std::fs::File::create(&log_path).map_err(|source| ContainerdError::Write {
            path: log_path.clone(),
            source,
        })?;
        let err_log = log.try_clone().map_err(|source| ContainerdError::Write {
            path: log_path.clone(),
            source,
        })?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ContainerdError::Spawn {
                program: "containerd".into(),
                source,
            })?;
        let mut containerd = Containerd { child, socket };
        let wait = Duration::from_secs(30);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Ok(cri) = Cri::connect(&containerd.socket).await {
                if cri.version().await.is_ok() {
                    return Ok((containerd, cri));
                }
            }
            let exited = matches!(containerd.child.try_wait(), Ok(Some(_)));
            if exited || tokio::time::Instant::now() > deadline {
                return Err(ContainerdError::NotReady {
                    socket: containerd.socket.clone(),
                    log: log_path,
                    seconds: wait.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts containerd again whenever it exits, until this future is dropped (which kills
    /// it). Pods keep running meanwhile: their shims are separate processes, and the node's
    /// CRI channel dials the socket anew.
    pub async fn supervise(mut self, config: OwnedConfig) {
        loop {
            let status = self.child.wait().await;
            tracing::warn!(?status, "containerd exited; starting it again");
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = std::fs::remove_file(&self.socket);
                match Containerd::start(&config.borrowed()).await {
                    Ok((next, _)) => {
                        self = next;
                        break;
                    }
                    Err(e) => tracing::error!(error = %e, "containerd did not start again"),
                }
            }
        }
    }

    /// Asks containerd to stop (SIGTERM) and waits for it a few seconds; it is killed if it
    /// lingers, and in any case when this value is dropped.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").arg(pid.to_string()).status().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// containerd 1.6/1.7's config (version 2), CRI plugin included.
fn render_config(c: &ContainerdConfig<'_>, socket: &Path) -> String {
    let q = |p: &Path| serde_json::to_string(&p.to_string_lossy()).unwrap_or_default();
    let s = |v: &str| serde_json::to_string(v).unwrap_or_default();
    format!(
        r#"# Generated by kapi: rewritten at every start.
version = 2
root = {root}
state = {state}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = {socket}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {pause}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  restrict_oom_score_adj = {restrict_oom}
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {cni_bin}
    conf_dir = {cni_conf}
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = {hosts}
"#,
        root = q(&c.dir.join("root")),
        state = q(&c.dir.join("state")),
        socket = q(socket),
        pause = s(c.pause_image),
        cni_bin = q(c.cni_bin_dir),
        cni_conf = q(c.cni_conf_dir),
        hosts = q(c.registry_hosts_dir),
        restrict_oom = !has_sys_resource(),
    )
}

/// Whether this process may lower OOM scores (CAP_SYS_RESOURCE). Without it (in a container,
/// or a VM that drops it) the sandbox's oom_score_adj of -998 cannot be set and every pod
/// fails to start, so containerd is told to keep scores at or above its own.
pub fn has_sys_resource() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps >> CAP_SYS_RESOURCE & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_points_cri_at_kapis_directories() {
        let c = ContainerdConfig {
            dir: Path::new("/d/containerd"),
            pause_image: "registry.k8s.io/pause:3.10",
            cni_bin_dir: Path::new("/usr/lib/cni"),
            cni_conf_dir: Path::new("/d/cni/net.d"),
            registry_hosts_dir: Path::new("/d/containerd/certs.d"),
        };
        let text = render_config(&c, Path::new("/d/containerd/containerd.sock"));
        assert!(text.contains("address = \"/d/containerd/containerd.sock\""));
        assert!(text.contains("sandbox_image = \"registry.k8s.io/pause:3.10\""));
        assert!(text.contains("conf_dir = \"/d/cni/net.d\""));
        assert!(text.contains("config_path = \"/d/containerd/certs.d\""));
        assert!(text.contains("root = \"/d/containerd/root\""));
    }
}

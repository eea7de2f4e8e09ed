//! Registry settings in k3s's `registries.yaml` format, turned into containerd's `hosts.toml`
//! directories (`config_path`), plus the credentials the node passes with each pull.
//!
//! ```yaml
//! mirrors:
//!   docker.io:
//!     endpoint: ["http://127.0.0.1:5000"]
//! configs:
//!   "127.0.0.1:5000":
//!     auth: {username: u, password: p}
//!     tls: {ca_file: /etc/ssl/ca.pem, insecure_skip_verify: false}
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file's contents.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Registries {
    /// Registry host → where to pull from instead.
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    /// Registry or endpoint host → credentials and TLS settings.
    #[serde(default)]
    pub configs: BTreeMap<String, RegistryConfig>,
}

/// The endpoints tried, in order, for one registry name.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Mirror {
    /// URLs such as `https://mirror.example:5000` or `http://127.0.0.1:5000`.
    #[serde(default)]
    pub endpoint: Vec<String>,
}

/// Credentials and TLS for one host.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RegistryConfig {
    /// Basic or token credentials.
    pub auth: Option<Auth>,
    /// TLS settings.
    pub tls: Option<Tls>,
}

/// Registry credentials, as in a docker config.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
pub struct Auth {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
    /// base64 of `user:password`.
    #[serde(default)]
    pub auth: String,
    /// An identity token.
    #[serde(default)]
    pub identitytoken: String,
}

/// TLS settings for one host.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Tls {
    /// A client certificate.
    pub cert_file: Option<PathBuf>,
    /// Its key.
    pub key_file: Option<PathBuf>,
    /// The CA that signs the registry's certificate.
    pub ca_file: Option<PathBuf>,
    /// Do not verify the registry's certificate.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Failures reading the file.
#[derive(Debug, thiserror::Error)]
pub enum RegistriesError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML of this shape.
    #[error("{path} is not a valid registries file: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_yaml::Error,
    },
    /// A hosts.toml could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl Registries {
    /// Reads a registries file.
    pub fn load(path: &Path) -> Result<Registries, RegistriesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistriesError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if text.trim().is_empty() {
            return Ok(Registries::default());
        }
        serde_yaml::from_str(&text).map_err(|source| RegistriesError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The credentials for pulling `image` (by its registry host, or a mirror endpoint's).
    pub fn auth_for(&self, image: &str) -> Option<&Auth> {
        let host = registry_host(image);
        let direct = self.configs.get(host).and_then(|c| c.auth.as_ref());
        direct.or_else(|| {
            let mirror = self.mirrors.get(host)?;
            mirror.endpoint.iter().find_map(|e| {
                self.configs
                    .get(endpoint_host(e))
                    .and_then(|c| c.auth.as_ref())
            })
        })
    }

    /// Writes `DIR/<registry>/hosts.toml` for every mirror (containerd's `config_path` layout).
    pub fn write_hosts_dir(&self, dir: &Path) -> Result<(), RegistriesError> {
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RegistriesError::Write { path, source }
        };
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(write_err(dir))?;
        for (name, mirror) in &self.mirrors {
            let host_dir = dir.join(if name == "*" { "_default" } else { name });
            std::fs::create_dir_all(&host_dir).map_err(write_err(&host_dir))?;
            let path = host_dir.join("hosts.toml");
            std::fs::write(&path, self.hosts_toml(name, mirror)).map_err(write_err(&path))?;
        }
        Ok(())
    }

    fn hosts_toml(&self, name: &str, mirror: &Mirror) -> String {
        let mut out = String::new();
        if name != "*" {
            let _ = writeln!(out, "server = {}", toml_str(&default_server(name)));
        }
        for endpoint in &mirror.endpoint {
            let url = if endpoint.contains("://") {
                endpoint.clone()
            } else {
                format!("https://{endpoint}")
            };
            let _ = writeln!(out, "\n[host.{}]", toml_str(&url));
            let _ = writeln!(out, "  capabilities = [\"pull\", \"resolve\"]");
            if let Some(tls) = self
                .configs
                .get(endpoint_host(endpoint))
                .and_then(|c| c.tls.as_ref())
            {
                if let Some(ca) = &tls.ca_file {
                    let _ = writeln!(out, "  ca = {}", toml_str(&ca.to_string_lossy()));
                }
                if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
                    let _ = writeln!(
                        out,
                        "  client = [[{}, {}]]",
                        toml_str(&cert.to_string_lossy()),
                        toml_str(&key.to_string_lossy())
                    );
                }
                if tls.insecure_skip_verify {
                    let _ = writeln!(out, "  skip_verify = true");
                }
            }
        }
        out
    }
}

/// The upstream address a registry name stands for (docker.io's API lives elsewhere).
fn default_server(name: &str) -> String {
    if name == "docker.io" {
        "https://registry-1.docker.io".into()
    } else {
        format!("https://{name}")
    }
}

/// The host part of an endpoint URL.
fn endpoint_host(endpoint: &str) -> &str {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// The registry an image reference names, with Docker's defaulting (`nginx` is docker.io's).
pub fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_host_follows_docker_defaulting() {
        assert_eq!(registry_host("nginx"), "docker.io");
        assert_eq!(registry_host("library/nginx:1.27"), "docker.io");
        assert_eq!(registry_host("127.0.0.1:5000/x/y:1"), "127.0.0.1:5000");
        assert_eq!(
            registry_host("registry.k8s.io/pause:3.10"),
            "registry.k8s.io"
        );
        assert_eq!(registry_host("localhost/x"), "localhost");
    }

    #[test]
    fn mirrors_become_hosts_toml_with_tls_and_auth_lookup() {
        let regs: Registries = serde_yaml::from_str(
            r#"
mirrors:
  docker.io:
    endpoint: ["http://127.0.0.1:5000"]
configs:
  "127.0.0.1:5000":
    auth: {username: u, password: p}
    tls: {ca_file: /ca.pem, insecure_skip_verify: true}
"#,
        )
        .unwrap();
        let text = regs.hosts_toml("docker.io", &regs.mirrors["docker.io"]);
        assert!(text.starts_with("server = \"https://registry-1.docker.io\"\n"));
        assert!(text.contains("[host.\"http://127.0.0.1:5000\"]"));
        assert!(text.contains("ca = \"/ca.pem\""));
        assert!(text.contains("skip_verify = true"));
        assert_eq!(regs.auth_for("nginx:1.27").unwrap().username, "u");
        assert!(regs.auth_for("quay.io/x").is_none());
        let dir = tempfile::tempdir().unwrap();
        regs.write_hosts_dir(dir.path()).unwrap();
        assert!(dir.path().join("docker.io/hosts.toml").exists());
    }
}

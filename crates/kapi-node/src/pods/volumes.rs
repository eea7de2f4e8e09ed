//! A pod's volumes, prepared on the node and handed to the runtime as bind mounts:
//! projected (service-account token bound to the pod, ConfigMaps, Secrets, downward API),
//! configMap, secret, downwardAPI, emptyDir and hostPath. Files are written with
//! [`atomic_writer`](super::atomic_writer), so updates appear in running containers at once.
//!
//! Layout, as kubelet's: `PODS/<uid>/volumes/kubernetes.io~<plugin>/<name>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Pod, Secret, Volume};
use kube::api::PostParams;
use kube::Api;
use serde_json::{json, Value};

use super::atomic_writer::{self, Files};
use super::env::{field_value, EnvSources};

/// Why a volume could not be set up (kubelet's FailedMount).
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A referenced object is missing.
    #[error("{kind} \"{name}\" not found")]
    NotFound {
        /// `configmap` or `secret`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A key named in `items` is missing.
    #[error("configmap references non-existent config key: {0}")]
    MissingKey(String),
    /// The API server refused a read or a token.
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// Writing the files failed.
    #[error("writing volume {name}: {source}")]
    Io {
        /// The volume.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// A volume type this node does not support.
    #[error("volume {0}: unsupported volume type")]
    Unsupported(String),
}

/// A prepared volume.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Where it is on the node.
    pub host_path: PathBuf,
}

/// When the projected tokens and mounted objects must be refreshed next.
#[derive(Debug, Clone)]
pub struct Refresh {
    /// The earliest moment a refresh is due.
    pub due: Instant,
}

/// How often mounted ConfigMaps and Secrets are re-read (kubelet's sync period is 1 min).
pub const RESYNC: Duration = Duration::from_secs(60);

/// Where this pod's volumes live.
pub fn pod_dir(pods_dir: &Path, uid: &str) -> PathBuf {
    pods_dir.join(uid)
}

/// Projected service-account tokens already minted, by `volume/path`: the token and when it is
/// due for renewal (80% of its lifetime, as kubelet renews). Kept between refreshes so that a
/// ConfigMap resync does not mint a new token each time.
pub type Tokens = std::collections::HashMap<String, (String, Instant)>;

/// Prepares (or refreshes) every volume of `pod`.
pub async fn prepare(
    client: &kube::Client,
    pods_dir: &Path,
    pod: &Pod,
    env: &EnvSources<'_>,
    tokens: &mut Tokens,
) -> Result<(BTreeMap<String, Prepared>, Refresh), VolumeError> {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let base = pod_dir(pods_dir, uid).join("volumes");
    let mut out = BTreeMap::new();
    let mut due = Instant::now() + RESYNC;
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    for vol in &volumes {
        let (plugin, files) =
            match volume_files(client, ns, pod, vol, env, &mut due, tokens).await? {
                VolumeContent::Files(plugin, files) => (plugin, files),
                VolumeContent::Dir(plugin, medium_memory) => {
                    let path = base.join(plugin).join(&vol.name);
                    std::fs::create_dir_all(&path).map_err(|source| VolumeError::Io {
                        name: vol.name.clone(),
                        source,
                    })?;
                    let _ = medium_memory;
                    out.insert(vol.name.clone(), Prepared { host_path: path });
                    continue;
                }
                VolumeContent::Host(path) => {
                    out.insert(vol.name.clone(), Prepared { host_path: path });
                    continue;
                }
            };
        let path = base.join(plugin).join(&vol.name);
        atomic_writer::write(&path, &files).map_err(|source| VolumeError::Io {
            name: vol.name.clone(),
            source,
        })?;
        out.insert(vol.name.clone(), Prepared { host_path: path });
    }
    Ok((out, Refresh { due }))
}

enum VolumeContent {
    Files(&'static str, Files),
    Dir(&'static str, bool),
    Host(PathBuf),
}

async fn volume_files(
    client: &kube::Client,
    ns: &str,
    pod: &Pod,
    vol: &Volume,
    env: &EnvSources<'_>,
    due: &mut Instant,
    tokens: &mut Tokens,
) -> Result<VolumeContent, VolumeError> {
    if let Some(p) = &vol.projected {
        let default_mode = p.default_mode.unwrap_or(0o644) as u32;
        let mut files = Files::new();
        for source in p.sources.iter().flatten() {
            if let Some(t) = &source.service_account_token {
                let key = format!("{}/{}", vol.name, t.path);
                let now = Instant::now();
                let token = match tokens.get(&key).filter(|(_, renew)| now < *renew) {
                    Some((token, renew)) => {
                        *due = (*due).min(*renew);
                        token.clone()
                    }
                    None => {
                        let (token, ttl) = request_token(
                            client,
                            ns,
                            pod,
                            t.audience.as_deref(),
                            t.expiration_seconds,
                        )
                        .await?;
                        let renew = now + ttl.mul_f64(0.8);
                        *due = (*due).min(renew);
                        tokens.insert(key, (token.clone(), renew));
                        token
                    }
                };
                files.insert(t.path.clone(), (token.into_bytes(), default_mode));
            }
            if let Some(c) = &source.config_map {
                if let Some(data) = config_map(client, ns, &c.name, c.optional).await? {
                    project(
                        &mut files,
                        &data,
                        c.items.as_deref(),
                        default_mode,
                        c.optional,
                    )?;
                }
            }
            if let Some(s) = &source.secret {
                if let Some(data) = secret(client, ns, &s.name, s.optional).await? {
                    project(
                        &mut files,
                        &data,
                        s.items.as_deref(),
                        default_mode,
                        s.optional,
                    )?;
                }
            }
            if let Some(d) = &source.downward_api {
                downward(
                    &mut files,
                    d.items.as_deref().unwrap_or_default(),
                    default_mode,
                    env,
                )?;
            }
        }
        return Ok(VolumeContent::Files("kubernetes.io~projected", files));
    }
    if let Some(c) = &vol.config_map {
        let mode = c.default_mode.unwrap_or(0o644) as u32;
        let mut files = Files::new();
        if let Some(data) = config_map(client, ns, &c.name, c.optional).await? {
            project(&mut files, &data, c.items.as_deref(), mode, c.optional)?;
        }
        return Ok(VolumeContent::Files("kubernetes.io~configmap", files));
    }
    if let Some(s) = &vol.secret {
        let mode = s.default_mode.unwrap_or(0o644) as u32;
        let name = s.secret_name.clone().unwrap_or_default();
        let mut files = Files::new();
        if let Some(data) = secret(client, ns, &name, s.optional).await? {
            project(&mut files, &data, s.items.as_deref(), mode, s.optional)?;
        }
        return Ok(VolumeContent::Files("kubernetes.io~secret", files));
    }
    if let Some(d) = &vol.downward_api {
        let mode = d.default_mode.unwrap_or(0o644) as u32;
        let mut files = Files::new();
        downward(
            &mut files,
            d.items.as_deref().unwrap_or_default(),
            mode,
            env,
        )?;
        return Ok(VolumeContent::Files("kubernetes.io~downward-api", files));
    }
    if let Some(e) = &vol.empty_dir {
        return Ok(VolumeContent::Dir(
            "kubernetes.io~empty-dir",
            e.medium.as_deref() == Some("Memory"),
        ));
    }
    if let Some(h) = &vol.host_path {
        let path = PathBuf::from(&h.path);
        match h.type_.as_deref() {
            Some("DirectoryOrCreate") => {
                std::fs::create_dir_all(&path).map_err(|source| VolumeError::Io {
                    name: vol.name.clone(),
                    source,
                })?
            }
            Some("FileOrCreate") if !path.exists() => {
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                std::fs::write(&path, b"").map_err(|source| VolumeError::Io {
                    name: vol.name.clone(),
                    source,
                })?
            }
            _ => {}
        }
        return Ok(VolumeContent::Host(path));
    }
    Err(VolumeError::Unsupported(vol.name.clone()))
}

/// A token bound to the pod, from the TokenRequest API, and how long it lives.
async fn request_token(
    client: &kube::Client,
    ns: &str,
    pod: &Pod,
    audience: Option<&str>,
    expiration: Option<i64>,
) -> Result<(String, Duration), VolumeError> {
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".into());
    let audiences: Vec<&str> = audience.filter(|a| !a.is_empty()).into_iter().collect();
    let seconds = expiration.unwrap_or(3607);
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {
            "audiences": audiences,
            "expirationSeconds": seconds,
            "boundObjectRef": {
                "kind": "Pod", "apiVersion": "v1",
                "name": pod.metadata.name, "uid": pod.metadata.uid,
            }
        }
    });
    let api: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), ns);
    let bytes = serde_json::to_vec(&body).map_err(kube::Error::SerdeError)?;
    let answer: Value = api
        .create_subresource("token", &sa, &PostParams::default(), bytes)
        .await?;
    let token = answer
        .pointer("/status/token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((token, Duration::from_secs(seconds.max(600) as u64)))
}

async fn config_map(
    client: &kube::Client,
    ns: &str,
    name: &str,
    optional: Option<bool>,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, VolumeError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await? {
        Some(cm) => {
            let mut data: BTreeMap<String, Vec<u8>> = cm
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            data.extend(
                cm.binary_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0)),
            );
            Ok(Some(data))
        }
        None if optional == Some(true) => Ok(None),
        None => Err(VolumeError::NotFound {
            kind: "configmap",
            name: name.into(),
        }),
    }
}

async fn secret(
    client: &kube::Client,
    ns: &str,
    name: &str,
    optional: Option<bool>,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, VolumeError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await? {
        Some(s) => {
            let mut data: BTreeMap<String, Vec<u8>> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            data.extend(
                s.string_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes())),
            );
            Ok(Some(data))
        }
        None if optional == Some(true) => Ok(None),
        None => Err(VolumeError::NotFound {
            kind: "secret",
            name: name.into(),
        }),
    }
}

/// Adds a ConfigMap's or Secret's keys: all of them, or the listed `items` at their paths.
pub fn project(
    files: &mut Files,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    mode: u32,
    optional: Option<bool>,
) -> Result<(), VolumeError> {
    match items {
        Some(items) if !items.is_empty() => {
            for item in items {
                match data.get(&item.key) {
                    Some(v) => {
                        let m = item.mode.map_or(mode, |m| m as u32);
                        files.insert(item.path.clone(), (v.clone(), m));
                    }
                    None if optional == Some(true) => {}
                    None => return Err(VolumeError::MissingKey(item.key.clone())),
                }
            }
        }
        _ => {
            for (k, v) in data {
                files.insert(k.clone(), (v.clone(), mode));
            }
        }
    }
    Ok(())
}

fn downward(
    files: &mut Files,
    items: &[k8s_openapi::api::core::v1::DownwardAPIVolumeFile],
    mode: u32,
    env: &EnvSources<'_>,
) -> Result<(), VolumeError> {
    for item in items {
        let value = match &item.field_ref {
            Some(f) => field_value(&f.field_path, env)
                .map_err(|e| VolumeError::Unsupported(e.to_string()))?,
            None => continue,
        };
        let m = item.mode.map_or(mode, |m| m as u32);
        files.insert(item.path.clone(), (value.into_bytes(), m));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_pick_keys_and_modes() {
        let data = BTreeMap::from([
            ("a".to_string(), b"1".to_vec()),
            ("b".to_string(), b"2".to_vec()),
        ]);
        let mut files = Files::new();
        project(&mut files, &data, None, 0o644, None).unwrap();
        assert_eq!(files.len(), 2);
        let items: Vec<KeyToPath> =
            serde_json::from_value(json!([{"key": "b", "path": "dir/b.txt", "mode": 0o400}]))
                .unwrap();
        let mut files = Files::new();
        project(&mut files, &data, Some(&items), 0o644, None).unwrap();
        assert_eq!(files["dir/b.txt"], (b"2".to_vec(), 0o400));
        let missing: Vec<KeyToPath> =
            serde_json::from_value(json!([{"key": "z", "path": "z"}])).unwrap();
        assert!(project(&mut Files::new(), &data, Some(&missing), 0o644, None).is_err());
        assert!(project(&mut Files::new(), &data, Some(&missing), 0o644, Some(true)).is_ok());
    }
}

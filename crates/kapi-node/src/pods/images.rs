//! Image pulls as kubelet makes them: `imagePullPolicy`, credentials from the pod's
//! `imagePullSecrets` (dockerconfigjson) or the registries file, and the back-off that turns
//! ErrImagePull into ImagePullBackOff.

use std::time::Instant;

use base64::Engine;
use k8s_openapi::api::core::v1::{Container, Pod, Secret};
use kube::Api;
use serde_json::Value;

use crate::cri::{self, api, Cri, CriError};
use crate::registries::{registry_host, Registries};

/// When to pull, from the container's policy or upstream's default (`Always` for `:latest` or
/// no tag, `IfNotPresent` otherwise).
pub fn pull_policy(c: &Container) -> &str {
    if let Some(p) = c.image_pull_policy.as_deref().filter(|p| !p.is_empty()) {
        return p;
    }
    let image = c.image.as_deref().unwrap_or_default();
    let name = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || (name.contains(':') && !name.ends_with(":latest")) {
        "IfNotPresent"
    } else {
        "Always"
    }
}

/// The credentials for `image`: the first matching `imagePullSecrets` entry, then the
/// registries file.
pub async fn credentials(
    client: &kube::Client,
    pod: &Pod,
    registries: &Registries,
    image: &str,
) -> Option<api::AuthConfig> {
    let host = registry_host(image);
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for r in pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref())
        .into_iter()
        .flatten()
    {
        let Ok(Some(secret)) = secrets.get_opt(&r.name).await else {
            continue;
        };
        let data = secret.data.unwrap_or_default();
        let raw = data
            .get(".dockerconfigjson")
            .or_else(|| data.get(".dockercfg"))
            .map(|b| b.0.clone());
        if let Some(auth) = raw.and_then(|raw| docker_auth(&raw, host)) {
            return Some(auth);
        }
    }
    registries.auth_for(image).map(|a| api::AuthConfig {
        username: a.username.clone(),
        password: a.password.clone(),
        auth: a.auth.clone(),
        identity_token: a.identitytoken.clone(),
        server_address: host.to_string(),
        ..Default::default()
    })
}

/// The entry for `host` in a docker config (`{"auths": {...}}` or the older bare map).
pub fn docker_auth(raw: &[u8], host: &str) -> Option<api::AuthConfig> {
    let doc: Value = serde_json::from_slice(raw).ok()?;
    let auths = doc.get("auths").unwrap_or(&doc).as_object()?;
    let wanted = [
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
        if host == "docker.io" {
            "https://index.docker.io/v1/".to_string()
        } else {
            String::new()
        },
    ];
    let (_, entry) = auths.iter().find(|(k, _)| {
        let k = k.trim_end_matches('/');
        wanted
            .iter()
            .any(|w| !w.is_empty() && w.trim_end_matches('/') == k)
    })?;
    let text = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (mut username, mut password) = (text("username"), text("password"));
    if username.is_empty() {
        if let Some((u, p)) = base64::engine::general_purpose::STANDARD
            .decode(text("auth"))
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
        {
            username = u;
            password = p;
        }
    }
    Some(api::AuthConfig {
        username,
        password,
        server_address: host.to_string(),
        identity_token: text("identitytoken"),
        ..Default::default()
    })
}

/// Whether the runtime has the image; its reference if so.
pub async fn present(cri: &Cri, image: &str) -> Result<Option<String>, CriError> {
    let mut images = cri.images.clone();
    let status = images
        .image_status(api::ImageStatusRequest {
            image: Some(api::ImageSpec {
                image: image.to_string(),
                ..Default::default()
            }),
            verbose: false,
        })
        .await
        .map_err(cri::call("ImageStatus"))?
        .into_inner();
    Ok(status.image.map(|i| i.id))
}

/// Pulls `image`; returns the runtime's reference and how long it took.
pub async fn pull(
    cri: &Cri,
    image: &str,
    auth: Option<api::AuthConfig>,
    sandbox: &api::PodSandboxConfig,
) -> Result<(String, std::time::Duration), CriError> {
    let started = Instant::now();
    let mut images = cri.images.clone();
    let answer = images
        .pull_image(api::PullImageRequest {
            image: Some(api::ImageSpec {
                image: image.to_string(),
                ..Default::default()
            }),
            auth,
            sandbox_config: Some(sandbox.clone()),
        })
        .await
        .map_err(cri::call("PullImage"))?
        .into_inner();
    Ok((answer.image_ref, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pull_policy_follows_the_tag() {
        let c = |image: &str| -> Container {
            serde_json::from_value(serde_json::json!({"name": "c", "image": image})).unwrap()
        };
        assert_eq!(pull_policy(&c("nginx")), "Always");
        assert_eq!(pull_policy(&c("nginx:latest")), "Always");
        assert_eq!(pull_policy(&c("nginx:1.27")), "IfNotPresent");
        assert_eq!(pull_policy(&c("127.0.0.1:5000/x/nginx")), "Always");
        assert_eq!(pull_policy(&c("127.0.0.1:5000/x/nginx:1")), "IfNotPresent");
        assert_eq!(pull_policy(&c("nginx@sha256:abc")), "IfNotPresent");
    }

    #[test]
    fn docker_config_auth_is_found_by_host() {
        let raw = br#"{"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}, "r.example:5000": {"username": "a", "password": "b"}}}"#;
        let hub = docker_auth(raw, "docker.io").unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("u", "p"));
        assert_eq!(docker_auth(raw, "r.example:5000").unwrap().username, "a");
        assert!(docker_auth(raw, "quay.io").is_none());
    }
}

//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`: checked here, then proxied to
//! the kubelet API of the pod's node over TLS with the API server's kubelet-client certificate,
//! as kube-apiserver does. Upgraded streams (SPDY or WebSocket) pass through untouched.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use futures_util::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use kapi_api::resources;
use kapi_api::status::ApiError;
use serde_json::Value;

use super::negotiate::Query;
use super::ReqBody;
use crate::request_info::RequestInfo;
use crate::response::Body;
use crate::Server;

/// Proxies one pod stream request to the pod's node.
pub async fn serve(
    server: &Server,
    info: &RequestInfo,
    query: &Query,
    req: Request<ReqBody>,
) -> Result<Response<Body>, ApiError> {
    let pods = resources::find("", "v1", "pods").ok_or_else(ApiError::no_route)?;
    let (pod, _) = server
        .registry
        .get_value(pods, Some(&info.namespace), &info.name)?;
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if node.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {} does not have a host assigned",
            info.name
        )));
    }
    let ns = &info.namespace;
    let name = &info.name;
    let path = match info.subresource.as_str() {
        "portforward" => format!("/portForward/{ns}/{name}"),
        sub => {
            let container = container(&pod, query, sub == "log")?;
            let mut params = Vec::new();
            if sub == "log" {
                for key in ["follow", "previous", "timestamps"] {
                    if query.flag(key) {
                        params.push(format!("{key}=true"));
                    }
                }
                for key in ["tailLines", "sinceSeconds", "sinceTime", "limitBytes"] {
                    if let Some(v) = query.get(key).filter(|v| !v.is_empty()) {
                        params.push(format!("{key}={}", encode(v)));
                    }
                }
                format!(
                    "/containerLogs/{ns}/{name}/{container}?{}",
                    params.join("&")
                )
            } else {
                let commands: Vec<&str> = query.all("command");
                if sub == "exec" && commands.is_empty() {
                    return Err(ApiError::bad_request("you must specify at least 1 command"));
                }
                for c in commands {
                    params.push(format!("command={}", encode(c)));
                }
                let (stdin, stdout, stderr, tty) = (
                    query.flag("stdin"),
                    query.flag("stdout"),
                    query.flag("stderr"),
                    query.flag("tty"),
                );
                if !(stdin || stdout || stderr) {
                    return Err(ApiError::bad_request(
                        "you must specify at least one of stdin, stdout, stderr",
                    ));
                }
                for (key, on) in [
                    ("input", stdin),
                    ("output", stdout),
                    ("error", stderr),
                    ("tty", tty),
                ] {
                    if on {
                        params.push(format!("{key}=1"));
                    }
                }
                format!("/{sub}/{ns}/{name}/{container}?{}", params.join("&"))
            }
        }
    };
    let (ip, port) = kubelet_address(server, &node)?;
    let connector = server
        .kubelet_client
        .clone()
        .ok_or_else(|| ApiError::unavailable("the API server has no kubelet client credentials"))?;
    let tcp = tokio::net::TcpStream::connect((ip, port))
        .await
        .map_err(|e| {
            ApiError::unavailable(format!("error dialing backend: dial tcp {ip}:{port}: {e}"))
        })?;
    let tls = connector
        .connect(rustls::pki_types::ServerName::IpAddress(ip.into()), tcp)
        .await
        .map_err(|e| ApiError::unavailable(format!("error dialing backend: {e}")))?;
    let authority = std::net::SocketAddr::new(ip, port).to_string();
    let resp = kapi_node::upgrade::forward(tls, req, &path, &authority)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let status = resp.status();
    if status == StatusCode::SWITCHING_PROTOCOLS || status.is_success() {
        let (parts, body) = resp.into_parts();
        let stream = http_body_util::BodyStream::new(body)
            .take_while(|frame| std::future::ready(frame.is_ok()))
            .filter_map(|frame| std::future::ready(frame.ok().map(Ok::<_, Infallible>)));
        return Ok(Response::from_parts(
            parts,
            BodyExt::boxed(http_body_util::StreamBody::new(stream)),
        ));
    }
    let text = resp
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
        .unwrap_or_default();
    Err(ApiError::with_code(
        status.as_u16(),
        if text.is_empty() {
            status.to_string()
        } else {
            text
        },
    ))
}

/// The container a request means: the one named, the only one, or the
/// `kubectl.kubernetes.io/default-container`.
fn container(pod: &Value, query: &Query, logs: bool) -> Result<String, ApiError> {
    let names = |key: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    };
    let containers = names("containers");
    let inits = names("initContainers");
    let ephemeral = names("ephemeralContainers");
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(name) = query.get("container").filter(|c| !c.is_empty()) {
        if containers
            .iter()
            .chain(&inits)
            .chain(&ephemeral)
            .any(|c| c == name)
        {
            return Ok(name.to_string());
        }
        return Err(ApiError::bad_request(format!(
            "container {name} is not valid for pod {pod_name}"
        )));
    }
    if let Some(default) = pod
        .pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
        .and_then(Value::as_str)
        .filter(|d| containers.iter().any(|c| c == d))
    {
        return Ok(default.to_string());
    }
    match containers.as_slice() {
        [only] => Ok(only.clone()),
        _ => {
            let mut message = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                containers.join(" ")
            );
            if logs && !inits.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    inits.join(" ")
                ));
            }
            Err(ApiError::bad_request(message))
        }
    }
}

/// The node's InternalIP and kubelet port, from its Node object.
pub(crate) fn kubelet_address(server: &Server, node: &str) -> Result<(IpAddr, u16), ApiError> {
    let nodes = resources::find("", "v1", "nodes").ok_or_else(ApiError::no_route)?;
    let (obj, _) = server.registry.get_value(nodes, None, node)?;
    let addresses = obj.pointer("/status/addresses").and_then(Value::as_array);
    let ip = ["InternalIP", "ExternalIP"]
        .iter()
        .find_map(|kind| {
            addresses?
                .iter()
                .find(|a| a["type"] == *kind)
                .and_then(|a| a["address"].as_str())
                .and_then(|a| a.parse::<IpAddr>().ok())
        })
        .ok_or_else(|| {
            ApiError::unavailable(format!(
                "node {node:?} has no address to reach its kubelet at"
            ))
        })?;
    let port = obj
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .unwrap_or(10250);
    Ok((ip, port))
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The TLS client the API server reaches kubelets with: its kubelet-client certificate, and
/// kubelets' serving certificates verified against the cluster CA.
pub fn kubelet_connector(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .map_err(|e| e.to_string())?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_container_is_named_defaulted_or_asked_for() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
        let two = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        let q = |s: &str| Query::parse(s);
        assert_eq!(container(&one, &q(""), false).unwrap(), "a");
        assert_eq!(container(&two, &q("container=b"), false).unwrap(), "b");
        assert_eq!(
            container(&two, &q(""), true).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        assert_eq!(
            container(&one, &q("container=z"), false)
                .unwrap_err()
                .message,
            "container z is not valid for pod p"
        );
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}

//! `kapi kubeconfig`: prints complete kubeconfigs (CA embedded) for the admin, for a new user
//! with a client certificate signed through the CSR API, or for a service account with a
//! bound token.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::args::{KubeconfigArgs, KubeconfigKind};
use crate::client::{call, ClientConfig};

/// Parses `90s`, `10m`, `24h`, `30d` into seconds.
fn parse_duration(s: &str) -> anyhow::Result<i64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().with_context(|| format!("duration {s:?}"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => bail!("duration {s:?}: unknown unit {other:?} (use s, m, h or d)"),
    };
    Ok(n * mult)
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn render_token(cluster: &str, server: &str, ca_pem: &[u8], user: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: {user}@{cluster}\n  context:\n    cluster: {cluster}\n    user: {user}\ncurrent-context: {user}@{cluster}\npreferences: {{}}\n",
        ca = b64(ca_pem),
    )
}

async fn json_call(
    cfg: &ClientConfig,
    method: Method,
    path: &str,
    body: Option<&Value>,
    content_type: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut conn = cfg.connect_h2().await?;
    let payload = body.map(|b| Bytes::from(b.to_string()));
    let (status, bytes) = call(&mut conn, cfg, method, path, payload, content_type).await?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, v))
}

fn fail(what: &str, status: StatusCode, body: &Value) -> anyhow::Error {
    anyhow!(
        "{what}: {status}: {}",
        body["message"].as_str().unwrap_or("no message")
    )
}

/// Prints the requested kubeconfig.
pub fn run(args: KubeconfigArgs) -> anyhow::Result<()> {
    if let KubeconfigKind::Admin = args.kind {
        let path = args.data_dir.join("admin.kubeconfig");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (has `kapi server` run with this data dir?)",
                path.display()
            )
        })?;
        print!("{text}");
        return Ok(());
    }
    let admin = args.data_dir.join("admin.kubeconfig");
    let cfg = match &args.kubeconfig {
        Some(p) => ClientConfig::load(Some(p))?,
        None => ClientConfig::load(None).or_else(|_| ClientConfig::load(Some(&admin)))?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let text = runtime.block_on(async {
        match args.kind {
            KubeconfigKind::Admin => unreachable!("handled above"),
            KubeconfigKind::User {
                name,
                groups,
                duration,
            } => user(&cfg, &name, &groups, duration.as_deref()).await,
            KubeconfigKind::Serviceaccount { account, duration } => {
                service_account(&cfg, &account, duration.as_deref()).await
            }
        }
    })?;
    print!("{text}");
    Ok(())
}

async fn service_account(
    cfg: &ClientConfig,
    account: &str,
    duration: Option<&str>,
) -> anyhow::Result<String> {
    let (ns, name) = account
        .split_once('/')
        .ok_or_else(|| anyhow!("expected NAMESPACE/NAME, got {account:?}"))?;
    let seconds = duration.map(parse_duration).transpose()?.unwrap_or(3600);
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}});
    let (status, reply) = json_call(
        cfg,
        Method::POST,
        &format!("/api/v1/namespaces/{ns}/serviceaccounts/{name}/token"),
        Some(&body),
        "application/json",
    )
    .await?;
    if status != StatusCode::CREATED {
        return Err(fail("requesting a token", status, &reply));
    }
    let token = reply["status"]["token"]
        .as_str()
        .ok_or_else(|| anyhow!("the TokenRequest reply has no token"))?;
    Ok(render_token(
        "kapi",
        &cfg.server,
        &cfg.ca_pem,
        &format!("system:serviceaccount:{ns}:{name}"),
        token,
    ))
}

async fn user(
    cfg: &ClientConfig,
    name: &str,
    groups: &[String],
    duration: Option<&str>,
) -> anyhow::Result<String> {
    let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    let (csr, key_pem) = kapi_auth::pki::client_csr(name, &group_refs)?;
    let csr_name = format!(
        "kapi-user-{}-{}",
        name.to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
        std::process::id()
    );
    let mut spec = json!({
        "request": b64(csr.as_bytes()),
        "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": ["digital signature", "client auth"],
    });
    if let Some(d) = duration {
        spec["expirationSeconds"] = json!(parse_duration(d)?);
    }
    let body = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": csr_name}, "spec": spec});
    let base = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
    let (status, created) =
        json_call(cfg, Method::POST, base, Some(&body), "application/json").await?;
    if status != StatusCode::CREATED {
        return Err(fail(
            "creating the CertificateSigningRequest",
            status,
            &created,
        ));
    }
    let mut approved = created.clone();
    approved["status"]["conditions"] = json!([{
        "type": "Approved", "status": "True", "reason": "KapiKubeconfig",
        "message": "approved by kapi kubeconfig", "lastUpdateTime": chrono_now(),
    }]);
    let (status, reply) = json_call(
        cfg,
        Method::PUT,
        &format!("{base}/{csr_name}/approval"),
        Some(&approved),
        "application/json",
    )
    .await?;
    if status != StatusCode::OK {
        return Err(fail(
            "approving the CertificateSigningRequest",
            status,
            &reply,
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let cert_pem = loop {
        let (status, csr) = json_call(
            cfg,
            Method::GET,
            &format!("{base}/{csr_name}"),
            None,
            "application/json",
        )
        .await?;
        if status != StatusCode::OK {
            return Err(fail("reading the CertificateSigningRequest", status, &csr));
        }
        if let Some(cert) = csr["status"]["certificate"]
            .as_str()
            .filter(|c| !c.is_empty())
        {
            break base64::engine::general_purpose::STANDARD
                .decode(cert)
                .context("decoding the issued certificate")?;
        }
        if let Some(failed) = csr["status"]["conditions"].as_array().and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == "Failed" || c["type"] == "Denied")
        }) {
            bail!(
                "the CertificateSigningRequest was not signed: {}",
                failed["message"].as_str().unwrap_or("")
            );
        }
        if Instant::now() > deadline {
            bail!("the CertificateSigningRequest {csr_name} was approved but not signed within 30s (is the csrsigning controller running?)");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    Ok(kapi_auth::kubeconfig::render_client_cert(
        "kapi",
        &cfg.server,
        &String::from_utf8_lossy(&cfg.ca_pem),
        name,
        &String::from_utf8_lossy(&cert_pem),
        &key_pem,
    ))
}

fn chrono_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_timestamps() {
        assert_eq!(parse_duration("10m").unwrap(), 600);
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert!(parse_duration("5y").is_err());
        assert!(chrono_now().ends_with('Z'));
    }
}

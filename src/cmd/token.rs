//! `kapi token create`: a bootstrap token for joining nodes (`kubeadm token create`'s model).

use anyhow::{anyhow, Context};
use base64::Engine;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;

use crate::args::{TokenArgs, TokenCommand};
use crate::client::{call, ClientConfig};

/// Creates the token's Secret and prints the token.
pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let TokenCommand::Create { ttl, description } = &args.command;
    let admin = args.data_dir.join("admin.kubeconfig");
    let cfg = match &args.kubeconfig {
        Some(p) => ClientConfig::load(Some(p))?,
        None => ClientConfig::load(None).or_else(|_| ClientConfig::load(Some(&admin)))?,
    };
    let token = kapi_auth::bootstrap_token::generate();
    let (id, secret) = kapi_auth::bootstrap_token::parse(&token)
        .ok_or_else(|| anyhow!("generated a malformed token"))?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let expiration = (chrono::Utc::now() + chrono::Duration::seconds(*ttl as i64))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut data = json!({
        "token-id": b64(id),
        "token-secret": b64(secret),
        "usage-bootstrap-authentication": b64("true"),
        "usage-bootstrap-signing": b64("true"),
        "auth-extra-groups": b64("system:bootstrappers:kapi:default-node-token"),
    });
    if *ttl > 0 {
        data["expiration"] = json!(b64(&expiration));
    }
    if let Some(d) = description {
        data["description"] = json!(b64(d));
    }
    let body = json!({
        "apiVersion": "v1", "kind": "Secret", "type": kapi_auth::bootstrap_token::SECRET_TYPE,
        "metadata": {"name": format!("{}{id}", kapi_auth::bootstrap_token::SECRET_PREFIX), "namespace": kapi_auth::bootstrap_token::NAMESPACE},
        "data": data,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let mut conn = cfg.connect_h2().await?;
        let (status, answer) = call(
            &mut conn,
            &cfg,
            Method::POST,
            "/api/v1/namespaces/kube-system/secrets",
            Some(Bytes::from(body.to_string())),
            "application/json",
        )
        .await?;
        if status != StatusCode::CREATED {
            let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
            anyhow::bail!(
                "creating the token: {status}: {}",
                v["message"].as_str().unwrap_or("no message")
            );
        }
        Ok(())
    })?;
    println!("{token}");
    eprintln!(
        "join a machine with:\n  kapi node --server {} --token {token} --certificate-authority ca.crt\n(ca.crt: the cluster CA, {} on the server)",
        cfg.server,
        args.data_dir.join("ca.crt").display()
    );
    Ok(())
}

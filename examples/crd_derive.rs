//! An operator's first steps with kube-rs, unchanged, against kapi: a custom resource defined
//! by a Rust type (`#[derive(CustomResource)]`), its CustomResourceDefinition installed with
//! server-side apply, an object created, its status written through the status subresource,
//! and both seen through kube-runtime's watcher.
//!
//! ```sh
//! KUBECONFIG=kapi-data/admin.kubeconfig cargo run --example crd_derive
//! ```

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A document to publish: what the user asks for.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "docs.kapi.example.com",
    version = "v1",
    kind = "Document",
    namespaced,
    status = "DocumentStatus",
    shortname = "doc",
    printcolumn = r#"{"name":"Title","type":"string","jsonPath":".spec.title"}"#,
    printcolumn = r#"{"name":"Words","type":"integer","jsonPath":".status.words"}"#
)]
pub struct DocumentSpec {
    /// Shown by `kubectl get documents`.
    pub title: String,
    /// The text whose words the operator counts.
    pub body: String,
}

/// What the operator observed.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct DocumentStatus {
    /// How many words the body has.
    pub words: u32,
}

const MANAGER: &str = "crd-derive-example";

/// Installs the definition, creates `name` in `namespace`, counts its words into its status,
/// and answers the status the watcher saw.
pub async fn run(client: Client, namespace: &str, name: &str) -> anyhow::Result<DocumentStatus> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = Document::crd();
    let crd_name = crd.name_any();
    crds.patch(
        &crd_name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await?;
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(crds, &crd_name, conditions::is_crd_established()),
    )
    .await??;

    let docs: Api<Document> = Api::namespaced(client, namespace);
    let doc = Document::new(
        name,
        DocumentSpec {
            title: "Hello".into(),
            body: "custom resources from a Rust type".into(),
        },
    );
    docs.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&doc),
    )
    .await?;

    // The operator's half: observe the object, write what it found to status.
    let words = u32::try_from(doc.spec.body.split_whitespace().count())?;
    let status = serde_json::json!({
        "apiVersion": Document::api_resource().api_version,
        "kind": "Document",
        "status": DocumentStatus { words },
    });
    docs.patch_status(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&status),
    )
    .await?;

    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut seen = watcher::watcher(docs, config).applied_objects().boxed();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), seen.try_next()).await??;
        let Some(doc) = next else {
            anyhow::bail!("the watch ended before the status was seen");
        };
        if let Some(status) = doc.status {
            return Ok(status);
        }
    }
}

#[allow(dead_code)] // the e2e tests call `run` on a cluster of their own
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let client = Client::try_default().await?;
    let status = run(client, "default", "hello").await?;
    println!("document/hello has {} words", status.words);
    Ok(())
}

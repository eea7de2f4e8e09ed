//! The root CA publisher: every active namespace has a ConfigMap `kube-root-ca.crt` whose
//! `ca.crt` is the cluster CA, so that pods can verify the API server (the projected
//! service-account volume mounts it). Edits and deletions are undone.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::serviceaccounts::terminating;
use crate::shared::{
    is_namespace_terminating, is_status, log_result, Context, ReconcileError, Task,
};

/// The ConfigMap's name, fixed by Kubernetes.
pub const CONFIGMAP_NAME: &str = "kube-root-ca.crt";
/// The key holding the PEM bundle.
pub const CA_KEY: &str = "ca.crt";
/// The annotation saying what the ConfigMap is for.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
/// kapi's wording of that description.
pub const DESCRIPTION: &str = "The certificate authority that signed the API server's serving \
certificate, published by kapi in every namespace so that clients in pods can verify the API \
server. Changes are overwritten.";

/// Reconciles namespaces, waking one whenever its `kube-root-ca.crt` changes or goes.
pub fn run(ctx: Arc<Context>) -> Task {
    let namespaces = Api::<Namespace>::all(ctx.client.clone());
    let configmaps = Api::<ConfigMap>::all(ctx.client.clone());
    let only_ours = watcher::Config::default().fields(&format!("metadata.name={CONFIGMAP_NAME}"));
    Box::pin(
        Controller::new(namespaces, watcher::Config::default())
            .watches(configmaps, only_ours, |cm| {
                cm.namespace().map(|ns| ObjectRef::<Namespace>::new(&ns))
            })
            .run(reconcile, error_policy, ctx)
            .for_each(|r| log_result(crate::ROOT_CA_CERT_PUBLISHER, r)),
    )
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    if terminating(&ns) {
        return Ok(Action::await_change());
    }
    let api = Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns.name_any());
    let data = BTreeMap::from([(CA_KEY.to_string(), ctx.ca_pem.clone())]);
    match api.get_opt(CONFIGMAP_NAME).await? {
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(CONFIGMAP_NAME.into()),
                    annotations: Some(BTreeMap::from([(
                        DESCRIPTION_ANNOTATION.to_string(),
                        DESCRIPTION.to_string(),
                    )])),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            };
            match api.create(&PostParams::default(), &cm).await {
                Ok(_) => tracing::info!(namespace = ns.name_any(), "published root CA"),
                // Created meanwhile: its watch event brings us back to check the content.
                Err(e) if is_status(&e, 409) || is_namespace_terminating(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Some(mut cm) => {
            let described = cm.annotations().contains_key(DESCRIPTION_ANNOTATION);
            if cm.data.as_ref() != Some(&data) || !described {
                cm.data = Some(data);
                cm.annotations_mut()
                    .insert(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into());
                // Carries the resourceVersion we read: a concurrent edit makes this a 409 and
                // the retry starts over from the newer object.
                api.replace(CONFIGMAP_NAME, &PostParams::default(), &cm)
                    .await?;
                tracing::info!(namespace = ns.name_any(), "restored root CA");
            }
        }
    }
    ctx.succeeded(crate::ROOT_CA_CERT_PUBLISHER, ns.as_ref());
    Ok(Action::await_change())
}

fn error_policy(ns: Arc<Namespace>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.failed(crate::ROOT_CA_CERT_PUBLISHER, ns.as_ref(), error)
}

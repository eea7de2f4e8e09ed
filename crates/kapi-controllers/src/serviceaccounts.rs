//! The ServiceAccount controller: every active namespace has a ServiceAccount named `default`,
//! recreated whenever it is deleted, so that pods without `serviceAccountName` have one.

use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::shared::{
    is_namespace_terminating, is_status, log_result, Context, ReconcileError, Task,
};

/// The account every namespace gets.
pub const DEFAULT_ACCOUNT: &str = "default";

/// Reconciles namespaces, and wakes a namespace whenever its `default` account changes or goes.
pub fn run(ctx: Arc<Context>) -> Task {
    let namespaces = Api::<Namespace>::all(ctx.client.clone());
    let accounts = Api::<ServiceAccount>::all(ctx.client.clone());
    let only_default =
        watcher::Config::default().fields(&format!("metadata.name={DEFAULT_ACCOUNT}"));
    Box::pin(
        Controller::new(namespaces, watcher::Config::default())
            .watches(accounts, only_default, |sa| {
                sa.namespace().map(|ns| ObjectRef::<Namespace>::new(&ns))
            })
            .run(reconcile, error_policy, ctx)
            .for_each(|r| log_result(crate::SERVICEACCOUNT, r)),
    )
}

/// A namespace being deleted gets nothing new: the server would refuse it anyway.
pub fn terminating(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    if terminating(&ns) {
        return Ok(Action::await_change());
    }
    let api = Api::<ServiceAccount>::namespaced(ctx.client.clone(), &ns.name_any());
    if api.get_opt(DEFAULT_ACCOUNT).await?.is_none() {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(DEFAULT_ACCOUNT.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => tracing::info!(namespace = ns.name_any(), "created default service account"),
            // Someone else made it between our read and our write: the goal is met.
            Err(e) if is_status(&e, 409) || is_namespace_terminating(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    ctx.succeeded(crate::SERVICEACCOUNT, ns.as_ref());
    Ok(Action::await_change())
}

fn error_policy(ns: Arc<Namespace>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.failed(crate::SERVICEACCOUNT, ns.as_ref(), error)
}

//! The ReplicaSet controller: keeps `spec.replicas` pods of the template running, as
//! kube-controller-manager's does; the same code keeps ReplicationControllers ([`kind`]).
//!
//! Upstream decides from an informer cache and guards it with "expectations" (creates and
//! deletes it has issued but not yet seen), because the cache lags its own writes. Here every
//! sync reads the ReplicaSet and the namespace's pods from the API server, whose reads are
//! consistent (served once the watch cache has caught up with the store), and kube-runtime
//! never syncs one ReplicaSet twice at a time. So every acknowledged create or delete is in the
//! next sync's view — the guarantee expectations buy — and a restarted controller starts from
//! the same fresh view instead of from nothing. The watches only say *when* to sync.

mod batch;
pub mod kind;
pub mod ranking;
mod status;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::chrono::Utc;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::ownership::{self, Claim};
use crate::podstate;
use kapi_node::events::{EventType, Recorder};
use kind::Replicated;

use crate::shared::{
    is_namespace_terminating, is_status, log_result, Context, ReconcileError, Task,
};

/// Upstream's `BurstReplicas`: the most pods created or deleted in one sync.
const BURST: usize = 500;

/// The shared context plus this controller's event recorder.
struct Ctx {
    shared: Arc<Context>,
    events: Recorder,
}

/// Keeps ReplicaSets' pods in number.
pub fn run(ctx: Arc<Context>) -> Task {
    run_for::<ReplicaSet>(ctx)
}

/// Keeps ReplicationControllers' pods in number.
pub fn run_replication_controllers(ctx: Arc<Context>) -> Task {
    run_for::<ReplicationController>(ctx)
}

fn run_for<K: Replicated>(ctx: Arc<Context>) -> Task {
    let client = ctx.client.clone();
    let ctx = Arc::new(Ctx {
        events: Recorder::new(client.clone(), K::COMPONENT, String::new()),
        shared: ctx,
    });
    let controller = Controller::new(Api::<K>::all(client.clone()), watcher::Config::default());
    let sets = controller.store();
    Box::pin(
        controller
            .watches(
                Api::<Pod>::all(client),
                watcher::Config::default(),
                move |pod| ownership::interested(&sets, &pod.metadata, K::selector),
            )
            .with_config(controller::Config::default().debounce(Duration::from_millis(50)))
            .run(reconcile::<K>, error_policy::<K>, ctx)
            .for_each(|r| log_result(K::CONTROLLER, r)),
    )
}

async fn reconcile<K: Replicated>(cached: Arc<K>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = cached.namespace().unwrap_or_default();
    let sets = Api::<K>::namespaced(ctx.shared.client.clone(), &ns);
    let Some(rs) = sets.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let pods_api = Api::<Pod>::namespaced(ctx.shared.client.clone(), &ns);
    let pods = pods_api.list(&ListParams::default()).await?.items;
    let owned = claim_pods(&rs, pods, &pods_api).await?;
    let active: Vec<Pod> = owned.into_iter().filter(podstate::is_active).collect();
    let manage = if rs.meta().deletion_timestamp.is_none() {
        manage_replicas(&rs, &active, &pods_api, &ctx.events).await
    } else {
        Ok(())
    };
    let now = Utc::now();
    let min_ready = rs.min_ready_seconds();
    let computed = status::compute(rs.template(), min_ready, rs.meta().generation, &active, now);
    let failure = match &manage {
        Err(Failure::Create(e)) => Some(("FailedCreate", api_message(e))),
        Err(Failure::Delete(e)) => Some(("FailedDelete", api_message(e))),
        _ => None,
    };
    let conditions = status::replica_failure(rs.conditions(), failure, now);
    if rs.counts().as_ref() != Some(&computed) || conditions.is_some() {
        let mut patch = serde_json::json!({ "status": computed });
        if let Some(conditions) = conditions {
            patch["status"]["conditions"] = conditions.into();
        }
        sets.patch_status(
            &rs.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    manage.map_err(Failure::into_error)?;
    ctx.shared.succeeded(K::CONTROLLER, &rs);
    // A pod that is Ready but not yet available changes nothing the watches see when it
    // becomes available: come back then.
    let wait = active
        .iter()
        .filter_map(|p| podstate::until_available(p, min_ready, now))
        .min();
    Ok(match wait {
        Some(d) => Action::requeue(d + Duration::from_millis(100)),
        None => Action::await_change(),
    })
}

fn error_policy<K: Replicated>(rs: Arc<K>, error: &ReconcileError, ctx: Arc<Ctx>) -> Action {
    ctx.shared.failed(K::CONTROLLER, rs.as_ref(), error)
}

/// Adopts orphans the selector takes, releases owned pods it no longer takes, and returns the
/// pods this ReplicaSet controls.
async fn claim_pods<K: Replicated>(
    rs: &K,
    pods: Vec<Pod>,
    api: &Api<Pod>,
) -> Result<Vec<Pod>, ReconcileError> {
    let uid = rs.meta().uid.clone().unwrap_or_default();
    let deleting = rs.meta().deletion_timestamp.is_some();
    let sel = rs.selector();
    let owner = ownership::controller_ref(&K::api_version(&()), &K::kind(&()), rs.meta());
    let mut owned = Vec::new();
    for pod in pods {
        match ownership::claim(&uid, deleting, &sel, &pod.metadata) {
            Claim::Owned => owned.push(pod),
            Claim::Adopt => {
                let patch = ownership::adopt_patch(&pod.metadata, &owner);
                match api
                    .patch(
                        &pod.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    Ok(adopted) => owned.push(adopted),
                    Err(e) if is_status(&e, 404) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Claim::Release => {
                let patch = ownership::release_patch(&pod.metadata, &uid);
                match api
                    .patch(
                        &pod.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_status(&e, 404) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Claim::Ignore => {}
        }
    }
    Ok(owned)
}

/// Why managing the pods failed: the status says which way (upstream's ReplicaFailure).
enum Failure {
    /// A pod could not be created.
    Create(kube::Error),
    /// A pod could not be deleted.
    Delete(kube::Error),
}

impl Failure {
    fn into_error(self) -> ReconcileError {
        match self {
            Failure::Create(e) | Failure::Delete(e) => ReconcileError::Api(e),
        }
    }
}

/// The API's own message, without the client's wrapping.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(resp) => resp.message.clone(),
        other => other.to_string(),
    }
}

/// Creates or deletes pods so that `active` (this ReplicaSet's live pods) matches
/// `spec.replicas`, at most [`BURST`] per sync.
async fn manage_replicas<K: Replicated>(
    rs: &K,
    active: &[Pod],
    api: &Api<Pod>,
    events: &Recorder,
) -> Result<(), Failure> {
    let want = usize::try_from(rs.replicas()).unwrap_or(0);
    if active.len() < want {
        let n = (want - active.len()).min(BURST);
        let pod = pod_from_template(rs);
        let (created, err) = batch::slow_start(n, 1, || {
            let pod = pod.clone();
            async move {
                let created = api.create(&PostParams::default(), &pod).await?;
                let msg = format!("Created pod: {}", created.name_any());
                events
                    .object(rs, EventType::Normal, "SuccessfulCreate", &msg)
                    .await;
                Ok::<(), kube::Error>(())
            }
        })
        .await;
        tracing::debug!(rs = %rs.name_any(), created, wanted = n, "created pods");
        match err {
            Some(e) if is_namespace_terminating(&e) => Ok(()),
            Some(e) => {
                let msg = format!("Error creating: {}", api_message(&e));
                events
                    .object(rs, EventType::Warning, "FailedCreate", &msg)
                    .await;
                Err(Failure::Create(e))
            }
            None => Ok(()),
        }
    } else if active.len() > want {
        let n = (active.len() - want).min(BURST);
        for pod in ranking::victims(active, n) {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: pod.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(&pod.name_any(), &params).await {
                Ok(_) => {
                    let msg = format!("Deleted pod: {}", pod.name_any());
                    events
                        .object(rs, EventType::Normal, "SuccessfulDelete", &msg)
                        .await;
                }
                Err(e) if is_status(&e, 404) || is_status(&e, 409) => {}
                Err(e) => {
                    let msg = format!("Error deleting: {}", api_message(&e));
                    events
                        .object(rs, EventType::Warning, "FailedDelete", &msg)
                        .await;
                    return Err(Failure::Delete(e));
                }
            }
        }
        Ok(())
    } else {
        Ok(())
    }
}

/// A new pod from the template: `<rs>-` plus a random suffix, the template's labels,
/// annotations and finalizers, this ReplicaSet as its controller.
fn pod_from_template<K: Replicated>(rs: &K) -> Pod {
    let template = rs.template().cloned().unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", rs.name_any())),
            namespace: rs.namespace(),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![ownership::controller_ref(
                &K::api_version(&()),
                &K::kind(&()),
                rs.meta(),
            )]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

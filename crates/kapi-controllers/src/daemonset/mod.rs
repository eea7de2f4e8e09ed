//! The DaemonSet controller: one pod of the template on every node it belongs on
//! ([`eligible`]), replaced node by node when the template changes ([`update`]), with the
//! template history kept as ControllerRevisions ([`crate::history`]) and a status `kubectl
//! rollout status` understands ([`status`]).
//!
//! As upstream since 1.12, the controller does not bind its pods: it pins each to its node
//! with required node affinity on `metadata.name` and leaves the binding to the scheduler, so
//! a daemon's resources and host ports are accounted for like any other pod's. Each sync reads
//! the set, the nodes, the pods and the revisions from the API server; the watches on pods and
//! nodes only say when to sync.

pub mod eligible;
pub mod status;
pub mod update;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::chrono::Utc;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use kapi_node::events::{EventType, Recorder};

use crate::deployment::fenceposts;
use crate::history::{self, Owner};
use crate::ownership;
use crate::podstate;
use crate::shared::{
    is_namespace_terminating, is_status, log_result, Context, ReconcileError, Task,
};

/// The label with the template hash, on the revisions and the pods (upstream's
/// `DefaultDaemonSetUniqueLabelKey`).
pub const REVISION_LABEL: &str = "controller-revision-hash";
/// The deprecated label with the generation a pod was made at; upstream still writes it.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// The shared context plus this controller's event recorder.
struct Ctx {
    shared: Arc<Context>,
    events: Recorder,
}

/// Runs DaemonSets.
pub fn run(ctx: Arc<Context>) -> Task {
    let client = ctx.client.clone();
    let ctx = Arc::new(Ctx {
        events: Recorder::new(client.clone(), "daemonset-controller", String::new()),
        shared: ctx,
    });
    let controller = Controller::new(
        Api::<DaemonSet>::all(client.clone()),
        watcher::Config::default(),
    );
    let for_pods = controller.store();
    let for_nodes = controller.store();
    Box::pin(
        controller
            .watches(
                Api::<Pod>::all(client.clone()),
                watcher::Config::default(),
                move |pod| ownership::interested(&for_pods, &pod.metadata, selector),
            )
            .watches(
                Api::<Node>::all(client),
                watcher::Config::default(),
                move |_node: Node| {
                    for_nodes
                        .state()
                        .iter()
                        .map(|ds| ObjectRef::from_obj(ds.as_ref()))
                        .collect::<Vec<_>>()
                },
            )
            .with_config(controller::Config::default().debounce(Duration::from_millis(50)))
            .run(reconcile, error_policy, ctx)
            .for_each(|r| log_result(crate::DAEMONSET, r)),
    )
}

fn selector(ds: &DaemonSet) -> kapi_api::selectors::LabelSelector {
    ownership::selector(ds.spec.as_ref().map(|s| &s.selector))
}

fn error_policy(ds: Arc<DaemonSet>, error: &ReconcileError, ctx: Arc<Ctx>) -> Action {
    ctx.shared.failed(crate::DAEMONSET, ds.as_ref(), error)
}

/// Whether a daemon pod is done for good (it is replaced).
fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Failed" | "Succeeded")
    )
}

async fn reconcile(cached: Arc<DaemonSet>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = cached.namespace().unwrap_or_default();
    let client = ctx.shared.client.clone();
    let sets = Api::<DaemonSet>::namespaced(client.clone(), &ns);
    let Some(ds) = sets.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let name = ds.name_any();
    let deleting = ds.metadata.deletion_timestamp.is_some();
    let owner_ref = ownership::controller_ref("apps/v1", "DaemonSet", &ds.metadata);
    let spec = ds.spec.clone().unwrap_or_default();

    let pods_api = Api::<Pod>::namespaced(client.clone(), &ns);
    let listed = pods_api.list(&ListParams::default()).await?.items;
    let mut owned =
        ownership::claim_objects(&pods_api, &owner_ref, deleting, &selector(&ds), listed).await?;
    owned.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let mut nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    nodes.sort_by_key(|n| n.name_any());

    let revs_api = Api::<ControllerRevision>::namespaced(client.clone(), &ns);
    let mut revs = ownership::claim_objects(
        &revs_api,
        &owner_ref,
        deleting,
        &selector(&ds),
        revs_api.list(&ListParams::default()).await?.items,
    )
    .await?;
    let stored = ds.status.clone().unwrap_or_default();
    let mut collision_count = stored.collision_count.unwrap_or(0);
    let owner = Owner {
        meta: &ds.metadata,
        reference: owner_ref.clone(),
        hash_label: REVISION_LABEL,
        labels: spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default(),
    };
    let data = history::patch_data(&spec.template);
    let current =
        match history::sync(&revs_api, &owner, &mut revs, data, &mut collision_count).await {
            Ok(i) => i,
            Err(e) => {
                if collision_count != stored.collision_count.unwrap_or(0) {
                    let patch = serde_json::json!({"status": {"collisionCount": collision_count}});
                    sets.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await?;
                }
                return Err(e);
            }
        };
    let hash = revs[current]
        .labels()
        .get(REVISION_LABEL)
        .cloned()
        .unwrap_or_else(|| history::hash_of(&history::patch_data(&spec.template), collision_count));

    // The daemon pod as the eligibility rules see it: the template with the tolerations.
    let mut probe_spec = spec.template.spec.clone().unwrap_or_default();
    eligible::add_tolerations(&mut probe_spec);
    let probe = Pod {
        spec: Some(probe_spec),
        ..Pod::default()
    };

    let mut by_node: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for pod in owned {
        if let Some(node) = eligible::target_node(&pod) {
            by_node.entry(node).or_default().push(pod);
        }
    }
    let min_ready = i64::from(spec.min_ready_seconds.unwrap_or(0));
    let now = Utc::now();
    let writer = Writer {
        ds: &ds,
        pods: &pods_api,
        events: &ctx.events,
        hash: &hash,
    };

    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let rolling = strategy.type_.as_deref() != Some("OnDelete");
    let rolling_update = strategy.rolling_update.clone().unwrap_or_default();
    let desired = i32::try_from(
        nodes
            .iter()
            .filter(|n| eligible::verdict(&probe, n).should_run)
            .count(),
    )
    .unwrap_or(i32::MAX);
    let scaled = |v: Option<&IntOrString>, absent: i32| match v {
        None => Ok(absent),
        Some(v) => fenceposts::scaled(Some(v), "100%", desired, true)
            .map_err(|e| ReconcileError::Invalid(e.to_string())),
    };
    let max_surge = if rolling {
        scaled(rolling_update.max_surge.as_ref(), 0)?
    } else {
        0
    };
    let max_unavailable = scaled(rolling_update.max_unavailable.as_ref(), 1)?;

    let mut views: Vec<(String, eligible::Verdict)> = Vec::new();
    let mut managed = Ok(());
    for node in &nodes {
        let node_name = node.name_any();
        let verdict = eligible::verdict(&probe, node);
        views.push((node_name.clone(), verdict));
        if deleting {
            continue;
        }
        let pods: Vec<&Pod> = by_node
            .get(&node_name)
            .map(|v| {
                v.iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .collect()
            })
            .unwrap_or_default();
        let result = if verdict.should_run {
            let (done, running): (Vec<&Pod>, Vec<&Pod>) =
                pods.into_iter().partition(|p| finished(p));
            let mut r = Ok(());
            for p in done {
                r = r.and(writer.delete(p).await);
            }
            if running.is_empty() {
                r = r.and(writer.create(&node_name).await);
            }
            // One daemon per node, the oldest; during a surge, the oldest of each template.
            let mut kept_new = false;
            let mut kept_old = false;
            for p in running {
                let keep = if max_surge > 0 {
                    let slot = if status::is_updated(p, &hash) {
                        &mut kept_new
                    } else {
                        &mut kept_old
                    };
                    !std::mem::replace(slot, true)
                } else {
                    !std::mem::replace(&mut kept_old, true)
                };
                if !keep {
                    r = r.and(writer.delete(p).await);
                }
            }
            r
        } else if !verdict.should_continue {
            let mut r = Ok(());
            for p in pods {
                r = r.and(writer.delete(p).await);
            }
            r
        } else {
            Ok(())
        };
        if managed.is_ok() {
            managed = result;
        }
    }
    // A pod pinned to a node that is gone can never be scheduled, and only bound pods are
    // collected with their node: remove it here, as upstream does.
    if !deleting {
        let names: BTreeSet<String> = nodes.iter().map(ResourceExt::name_any).collect();
        for (node, pods) in &by_node {
            if names.contains(node) {
                continue;
            }
            for p in pods.iter().filter(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .is_none_or(str::is_empty)
            }) {
                let r = writer.delete(p).await;
                if managed.is_ok() {
                    managed = r;
                }
            }
        }
    }

    if rolling && !deleting && managed.is_ok() {
        let nodes: Vec<&str> = views
            .iter()
            .filter(|(_, v)| v.should_run)
            .map(|(n, _)| n.as_str())
            .collect();
        let facts = |p: &Pod| update::Facts {
            updated: status::is_updated(p, &hash),
            available: podstate::is_available(p, min_ready, now),
            terminating: p.metadata.deletion_timestamp.is_some(),
        };
        let serving = |node: &str| -> Vec<&Pod> {
            by_node
                .get(node)
                .map(|v| {
                    v.iter()
                        .filter(|p| !finished(p) && p.metadata.deletion_timestamp.is_none())
                        .collect()
                })
                .unwrap_or_default()
        };
        let oldest = |node: &str, updated: bool| {
            serving(node)
                .into_iter()
                .find(|p| status::is_updated(p, &hash) == updated)
        };
        let result = if max_surge > 0 {
            let pairs: Vec<(&str, update::Pair)> = nodes
                .iter()
                .map(|n| {
                    let pair = update::Pair {
                        old: oldest(n, false).map(facts),
                        new: oldest(n, true).map(facts),
                    };
                    (*n, pair)
                })
                .collect();
            let (create, retire) = update::surge(&pairs, max_surge);
            let mut r = Ok(());
            for node in create {
                r = r.and(writer.create(node).await);
            }
            for node in retire {
                if let Some(p) = oldest(node, false) {
                    r = r.and(writer.delete(p).await);
                }
            }
            r
        } else {
            let slots: Vec<(&str, Option<update::Facts>)> = nodes
                .iter()
                .map(|n| (*n, serving(n).first().map(|p| facts(p))))
                .collect();
            let mut r = Ok(());
            for node in update::rolling(&slots, max_unavailable) {
                if let Some(p) = serving(node).first() {
                    r = r.and(writer.delete(p).await);
                }
            }
            r
        };
        managed = result;
    }

    let node_views: Vec<status::NodeView<'_>> = views
        .iter()
        .map(|(n, v)| status::NodeView {
            should_run: v.should_run,
            pods: by_node
                .get(n)
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_none() && !finished(p))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let computed = status::compute(
        &node_views,
        &hash,
        min_ready,
        ds.metadata.generation,
        collision_count,
        now,
    );
    if !status::unchanged(ds.status.as_ref(), &computed) {
        let patch = serde_json::json!({ "status": computed });
        sets.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    managed?;

    // Revisions still run by some pod stay, as does the current one.
    let hashes: BTreeSet<String> = by_node
        .values()
        .flatten()
        .filter_map(|p| p.labels().get(REVISION_LABEL).cloned())
        .collect();
    let mut live: BTreeSet<String> = revs
        .iter()
        .filter(|r| {
            r.labels()
                .get(REVISION_LABEL)
                .is_some_and(|h| hashes.contains(h))
        })
        .map(|r| r.name_any())
        .collect();
    live.insert(revs[current].name_any());
    let limit = spec.revision_history_limit.unwrap_or(10);
    history::trim(&revs_api, &revs, &live, limit).await?;

    ctx.shared.succeeded(crate::DAEMONSET, &ds);
    let wait = by_node
        .values()
        .flatten()
        .filter_map(|p| podstate::until_available(p, min_ready, now))
        .min();
    Ok(match wait {
        Some(d) => Action::requeue(d + Duration::from_millis(100)),
        None => Action::await_change(),
    })
}

/// The pod writes of one sync.
struct Writer<'a> {
    ds: &'a DaemonSet,
    pods: &'a Api<Pod>,
    events: &'a Recorder,
    hash: &'a str,
}

impl Writer<'_> {
    /// The daemon pod for `node`: the template, the hash and generation labels, the daemon
    /// tolerations, and affinity to that node alone.
    fn pod(&self, node: &str) -> Pod {
        let spec = self.ds.spec.clone().unwrap_or_default();
        let tmeta = spec.template.metadata.unwrap_or_default();
        let mut labels = tmeta.labels.unwrap_or_default();
        labels.insert(REVISION_LABEL.into(), self.hash.to_string());
        if let Some(g) = self.ds.metadata.generation {
            labels.insert(TEMPLATE_GENERATION_LABEL.into(), g.to_string());
        }
        let mut pod_spec = spec.template.spec.unwrap_or_default();
        eligible::add_tolerations(&mut pod_spec);
        eligible::pin_to_node(&mut pod_spec, node);
        Pod {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}-", self.ds.name_any())),
                namespace: self.ds.namespace(),
                labels: Some(labels),
                annotations: tmeta.annotations,
                finalizers: tmeta.finalizers,
                owner_references: Some(vec![ownership::controller_ref(
                    "apps/v1",
                    "DaemonSet",
                    &self.ds.metadata,
                )]),
                ..ObjectMeta::default()
            },
            spec: Some(pod_spec),
            status: None,
        }
    }

    async fn create(&self, node: &str) -> Result<(), ReconcileError> {
        match self
            .pods
            .create(&PostParams::default(), &self.pod(node))
            .await
        {
            Ok(created) => {
                let msg = format!("Created pod: {}", created.name_any());
                self.events
                    .object(self.ds, EventType::Normal, "SuccessfulCreate", &msg)
                    .await;
                Ok(())
            }
            Err(e) if is_namespace_terminating(&e) => Ok(()),
            Err(e) => {
                let msg = format!("Error creating: {e}");
                self.events
                    .object(self.ds, EventType::Warning, "FailedCreate", &msg)
                    .await;
                Err(e.into())
            }
        }
    }

    async fn delete(&self, pod: &Pod) -> Result<(), ReconcileError> {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self.pods.delete(&pod.name_any(), &params).await {
            Ok(_) => {
                let msg = format!("Deleted pod: {}", pod.name_any());
                self.events
                    .object(self.ds, EventType::Normal, "SuccessfulDelete", &msg)
                    .await;
                Ok(())
            }
            Err(e) if is_status(&e, 404) || is_status(&e, 409) => Ok(()),
            Err(e) => {
                let msg = format!("Error deleting pod {}: {e}", pod.name_any());
                self.events
                    .object(self.ds, EventType::Warning, "FailedDelete", &msg)
                    .await;
                Err(e.into())
            }
        }
    }
}

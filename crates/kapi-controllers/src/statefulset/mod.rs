//! The StatefulSet controller: pods with stable names `<set>-<ordinal>` ([`ordinals`]), each
//! with its own PersistentVolumeClaims ([`claims`]), created, removed and replaced in the
//! order the set's policies ask for ([`update`]), with the template history kept as
//! ControllerRevisions ([`crate::history`]) so `kubectl rollout history|undo` work, and a
//! status `kubectl rollout status` understands ([`status`]).
//!
//! As the ReplicaSet controller does, each sync reads the set, its pods and its revisions from
//! the API server (consistent reads), so it never acts on a view older than its own writes;
//! the watches only say when to sync.

pub mod claims;
pub mod ordinals;
pub mod status;
pub mod update;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::chrono::Utc;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{self, Action, Controller};
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
use update::{Change, Facts};

/// The shared context plus this controller's event recorder.
struct Ctx {
    shared: Arc<Context>,
    events: Recorder,
}

/// Runs StatefulSets.
pub fn run(ctx: Arc<Context>) -> Task {
    let client = ctx.client.clone();
    let ctx = Arc::new(Ctx {
        events: Recorder::new(client.clone(), "statefulset-controller", String::new()),
        shared: ctx,
    });
    let controller = Controller::new(
        Api::<StatefulSet>::all(client.clone()),
        watcher::Config::default(),
    );
    let sets = controller.store();
    Box::pin(
        controller
            .watches(
                Api::<Pod>::all(client),
                watcher::Config::default(),
                move |pod| ownership::interested(&sets, &pod.metadata, selector),
            )
            .with_config(controller::Config::default().debounce(Duration::from_millis(50)))
            .run(reconcile, error_policy, ctx)
            .for_each(|r| log_result(crate::STATEFULSET, r)),
    )
}

fn selector(set: &StatefulSet) -> kapi_api::selectors::LabelSelector {
    ownership::selector(set.spec.as_ref().map(|s| &s.selector))
}

fn error_policy(set: Arc<StatefulSet>, error: &ReconcileError, ctx: Arc<Ctx>) -> Action {
    ctx.shared.failed(crate::STATEFULSET, set.as_ref(), error)
}

/// The strategy knobs of one set, resolved.
struct Strategy {
    ordered: bool,
    rolling: bool,
    partition: i32,
    max_unavailable: i32,
}

impl Strategy {
    fn of(set: &StatefulSet, replicas: i32) -> Result<Self, ReconcileError> {
        let spec = set.spec.as_ref();
        let strategy = spec.and_then(|s| s.update_strategy.as_ref());
        let rolling_update = strategy.and_then(|s| s.rolling_update.as_ref());
        // Absent, one pod at a time; a percentage of `replicas`, rounded up, as upstream.
        let max_unavailable = match rolling_update.and_then(|r| r.max_unavailable.as_ref()) {
            None => 1,
            Some(v) => fenceposts::scaled(Some(v), "100%", replicas, true)
                .map_err(|e| ReconcileError::Invalid(e.to_string()))?,
        };
        Ok(Self {
            ordered: spec.and_then(|s| s.pod_management_policy.as_deref()) != Some("Parallel"),
            rolling: strategy.and_then(|s| s.type_.as_deref()) != Some("OnDelete"),
            partition: rolling_update.and_then(|r| r.partition).unwrap_or(0),
            max_unavailable: max_unavailable.max(1),
        })
    }
}

async fn reconcile(cached: Arc<StatefulSet>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = cached.namespace().unwrap_or_default();
    let client = ctx.shared.client.clone();
    let sets = Api::<StatefulSet>::namespaced(client.clone(), &ns);
    let Some(set) = sets.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let name = set.name_any();
    let deleting = set.metadata.deletion_timestamp.is_some();
    let owner_ref = ownership::controller_ref("apps/v1", "StatefulSet", &set.metadata);
    let pods_api = Api::<Pod>::namespaced(client.clone(), &ns);
    let listed = pods_api.list(&ListParams::default()).await?.items;
    let owned =
        ownership::claim_objects(&pods_api, &owner_ref, deleting, &selector(&set), listed).await?;
    let mut members: BTreeMap<i32, Pod> = owned
        .into_iter()
        .filter_map(|p| ordinals::ordinal_of(&name, &p.name_any()).map(|o| (o, p)))
        .collect();
    if !deleting {
        repair_identities(&pods_api, &name, &mut members).await?;
    }

    let spec = set.spec.clone().unwrap_or_default();
    let revs_api = Api::<ControllerRevision>::namespaced(client.clone(), &ns);
    let mut revs = ownership::claim_objects(
        &revs_api,
        &owner_ref,
        deleting,
        &selector(&set),
        revs_api.list(&ListParams::default()).await?.items,
    )
    .await?;
    let stored = set.status.clone().unwrap_or_default();
    let mut collision_count = stored.collision_count.unwrap_or(0);
    let owner = Owner {
        meta: &set.metadata,
        reference: owner_ref.clone(),
        hash_label: history::HASH_LABEL,
        labels: spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default(),
    };
    let data = history::patch_data(&spec.template);
    let update_idx = history::sync(&revs_api, &owner, &mut revs, data, &mut collision_count).await;
    let update_idx = match update_idx {
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
    let update_rev = revs[update_idx].clone();
    let current_rev = stored
        .current_revision
        .as_deref()
        .and_then(|n| revs.iter().find(|r| r.name_any() == n))
        .cloned()
        .unwrap_or_else(|| update_rev.clone());
    let replicas = spec.replicas.unwrap_or(1);
    let strategy = Strategy::of(&set, replicas)?;
    let min_ready = i64::from(spec.min_ready_seconds.unwrap_or(0));
    let now = Utc::now();

    let sync = Sync {
        set: &set,
        pods: &pods_api,
        claims: Api::namespaced(client.clone(), &ns),
        events: &ctx.events,
        current: &current_rev,
        update: &update_rev,
        partition: strategy.partition,
        replicas,
        start: spec
            .ordinals
            .as_ref()
            .and_then(|o| o.start)
            .unwrap_or(0)
            .max(0),
    };
    let managed = if deleting {
        Ok(())
    } else {
        let facts: BTreeMap<i32, Facts> = members
            .iter()
            .map(|(o, p)| {
                let index = o.saturating_sub(sync.start);
                (index, facts(p, &update_rev.name_any(), min_ready, now))
            })
            .collect();
        manage(&sync, &facts, replicas, &strategy).await
    };

    let member_pods: Vec<Pod> = members.values().cloned().collect();
    let computed = status::compute(
        &status::Inputs {
            pods: &member_pods,
            current_revision: &current_rev.name_any(),
            update_revision: &update_rev.name_any(),
            rolling: strategy.rolling,
            min_ready,
            generation: set.metadata.generation,
            collision_count,
        },
        now,
    );
    if !status::unchanged(set.status.as_ref(), &computed) {
        let patch = serde_json::json!({ "status": computed });
        sets.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    managed?;

    let mut live: BTreeSet<String> = member_pods
        .iter()
        .filter_map(|p| ordinals::revision_of(p).map(str::to_string))
        .collect();
    live.insert(current_rev.name_any());
    live.insert(update_rev.name_any());
    live.extend(computed.current_revision.clone());
    let limit = spec.revision_history_limit.unwrap_or(10);
    history::trim(&revs_api, &revs, &live, limit).await?;

    ctx.shared.succeeded(crate::STATEFULSET, &set);
    let wait = member_pods
        .iter()
        .filter_map(|p| podstate::until_available(p, min_ready, now))
        .min();
    Ok(match wait {
        Some(d) => Action::requeue(d + Duration::from_millis(100)),
        None => Action::await_change(),
    })
}

/// Scales, then (once OrderedReady has nothing left to wait for) rolls the update on.
async fn manage(
    sync: &Sync<'_>,
    facts: &BTreeMap<i32, Facts>,
    replicas: i32,
    strategy: &Strategy,
) -> Result<(), ReconcileError> {
    sync.apply(&update::scale(replicas, facts, strategy.ordered))
        .await?;
    let settled = (0..replicas).all(|o| facts.get(&o).is_some_and(|f| f.healthy && !f.terminating))
        && facts.keys().all(|i| (0..replicas).contains(i));
    if strategy.rolling && (!strategy.ordered || settled) {
        let victims = update::rolling(
            replicas,
            facts,
            strategy.partition,
            strategy.max_unavailable,
        );
        let changes: Vec<Change> = victims.into_iter().map(Change::Delete).collect();
        sync.apply(&changes).await?;
    }
    Ok(())
}

/// Gives adopted members the identity labels they lack (a Service per member selects on
/// them), as upstream's `updateStatefulPod` does.
async fn repair_identities(
    api: &Api<Pod>,
    set: &str,
    members: &mut BTreeMap<i32, Pod>,
) -> Result<(), ReconcileError> {
    for (ordinal, pod) in members.iter_mut() {
        let Some(labels) = ordinals::missing_labels(pod, set, *ordinal) else {
            continue;
        };
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let patch = serde_json::json!({"metadata": {
            "labels": labels,
            "resourceVersion": pod.metadata.resource_version,
        }});
        match api
            .patch(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(updated) => *pod = updated,
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// What the decisions need of one member pod.
fn facts(
    pod: &Pod,
    update_revision: &str,
    min_ready: i64,
    now: k8s_openapi::chrono::DateTime<Utc>,
) -> Facts {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    Facts {
        terminating: pod.metadata.deletion_timestamp.is_some(),
        finished: matches!(phase, Some("Failed" | "Succeeded")),
        healthy: status::running_and_ready(pod) && podstate::is_available(pod, min_ready, now),
        updated: ordinals::revision_of(pod) == Some(update_revision),
    }
}

/// The writes of one sync.
struct Sync<'a> {
    set: &'a StatefulSet,
    pods: &'a Api<Pod>,
    claims: Api<PersistentVolumeClaim>,
    events: &'a Recorder,
    current: &'a ControllerRevision,
    update: &'a ControllerRevision,
    partition: i32,
    replicas: i32,
    /// `spec.ordinals.start`: the decisions count members from 0, the names from here.
    start: i32,
}

impl Sync<'_> {
    /// Carries out changes given by member index (ordinal minus `start`).
    async fn apply(&self, changes: &[Change]) -> Result<(), ReconcileError> {
        for change in changes {
            match *change {
                Change::Create(i) => self.create(i.saturating_add(self.start)).await?,
                Change::Delete(i) => self.delete(i.saturating_add(self.start)).await?,
            }
        }
        Ok(())
    }

    /// Member `ordinal` from the revision its place calls for: below the partition the
    /// current one, otherwise the update revision.
    fn pod(&self, ordinal: i32) -> Pod {
        let rev = if ordinal < self.partition {
            self.current
        } else {
            self.update
        };
        let spec = self.set.spec.clone().unwrap_or_default();
        let template = history::template_of(rev).unwrap_or(spec.template);
        let tmeta = template.metadata.unwrap_or_default();
        let mut labels = tmeta.labels.unwrap_or_default();
        labels.insert(ordinals::REVISION_LABEL.into(), rev.name_any());
        let mut pod = Pod {
            metadata: ObjectMeta {
                namespace: self.set.namespace(),
                labels: Some(labels),
                annotations: tmeta.annotations,
                finalizers: tmeta.finalizers,
                owner_references: Some(vec![ownership::controller_ref(
                    "apps/v1",
                    "StatefulSet",
                    &self.set.metadata,
                )]),
                ..ObjectMeta::default()
            },
            spec: template.spec,
            status: None,
        };
        ordinals::set_identity(
            &mut pod,
            &self.set.name_any(),
            Some(spec.service_name.as_deref().unwrap_or("")),
            ordinal,
        );
        claims::mount_claims(&mut pod, self.set, ordinal);
        pod
    }

    async fn create(&self, ordinal: i32) -> Result<(), ReconcileError> {
        let set_name = self.set.name_any();
        let pod = self.pod(ordinal);
        let pod_name = pod.name_any();
        for claim in claims::claims_for(self.set, ordinal) {
            let claim_name = claim.name_any();
            if self.claims.get_opt(&claim_name).await?.is_some() {
                continue;
            }
            match self.claims.create(&PostParams::default(), &claim).await {
                Ok(_) => {
                    let msg = format!(
                        "create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success"
                    );
                    self.event(EventType::Normal, "SuccessfulCreate", &msg)
                        .await;
                }
                Err(e) if is_status(&e, 409) => {}
                Err(e) if is_namespace_terminating(&e) => return Ok(()),
                Err(e) => {
                    let msg = format!(
                        "create Claim {claim_name} for Pod {pod_name} in StatefulSet {set_name} failed error: {e}"
                    );
                    self.event(EventType::Warning, "FailedCreate", &msg).await;
                    return Err(e.into());
                }
            }
        }
        match self.pods.create(&PostParams::default(), &pod).await {
            Ok(_) => {
                let msg = format!("create Pod {pod_name} in StatefulSet {set_name} successful");
                self.event(EventType::Normal, "SuccessfulCreate", &msg)
                    .await;
                Ok(())
            }
            // The previous pod of this name is still going away; its deletion brings a sync.
            Err(e) if is_status(&e, 409) => Ok(()),
            Err(e) if is_namespace_terminating(&e) => Ok(()),
            Err(e) => {
                let msg =
                    format!("create Pod {pod_name} in StatefulSet {set_name} failed error: {e}");
                self.event(EventType::Warning, "FailedCreate", &msg).await;
                Err(e.into())
            }
        }
    }

    async fn delete(&self, ordinal: i32) -> Result<(), ReconcileError> {
        let set_name = self.set.name_any();
        let pod_name = ordinals::pod_name(&set_name, ordinal);
        let Some(pod) = self.pods.get_opt(&pod_name).await? else {
            return Ok(());
        };
        let index = ordinal.saturating_sub(self.start);
        let condemned = index < 0 || index >= self.replicas;
        if condemned && claims::delete_when_scaled(self.set) {
            self.hand_claims_to(&pod, ordinal).await?;
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self.pods.delete(&pod_name, &params).await {
            Ok(_) => {
                let msg = format!("delete Pod {pod_name} in StatefulSet {set_name} successful");
                self.event(EventType::Normal, "SuccessfulDelete", &msg)
                    .await;
                Ok(())
            }
            Err(e) if is_status(&e, 404) || is_status(&e, 409) => Ok(()),
            Err(e) => {
                let msg =
                    format!("delete Pod {pod_name} in StatefulSet {set_name} failed error: {e}");
                self.event(EventType::Warning, "FailedDelete", &msg).await;
                Err(e.into())
            }
        }
    }

    /// Makes the removed member's claims dependents of its pod (whenScaled: Delete).
    async fn hand_claims_to(&self, pod: &Pod, ordinal: i32) -> Result<(), ReconcileError> {
        let set_uid = self.set.metadata.uid.clone().unwrap_or_default();
        for wanted in claims::claims_for(self.set, ordinal) {
            let Some(claim) = self.claims.get_opt(&wanted.name_any()).await? else {
                continue;
            };
            let refs = claims::condemned_owners(&claim, &set_uid, pod);
            if claim.metadata.owner_references.as_ref() == Some(&refs) {
                continue;
            }
            let patch = serde_json::json!({"metadata": {
                "ownerReferences": refs,
                "resourceVersion": claim.metadata.resource_version,
            }});
            self.claims
                .patch(
                    &claim.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
        }
        Ok(())
    }

    async fn event(&self, kind: EventType, reason: &str, msg: &str) {
        self.events.object(self.set, kind, reason, msg).await;
    }
}

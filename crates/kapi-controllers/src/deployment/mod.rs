//! The Deployment controller: rolls a Deployment's pod template out through ReplicaSets, as
//! kube-controller-manager's does.
//!
//! Each template gets a ReplicaSet named `<deployment>-<pod-template-hash>` ([`hash`]), whose
//! selector and template carry the `pod-template-hash` label so the revisions' pods never mix.
//! A sync takes one step — create or find the new ReplicaSet, resize one side ([`rolling`],
//! Recreate, [`scale`] for scaling events and paused Deployments) — then writes the status
//! ([`status`]) and lets the ReplicaSets' own updates bring the next sync. Like the
//! ReplicaSet controller, each sync reads the Deployment and the namespace's ReplicaSets from
//! the API server (consistent reads), so it never acts on a ReplicaSet it has not seen.

pub mod fenceposts;
pub mod hash;
pub mod revision;
pub mod rolling;
pub mod scale;
pub mod status;
mod view;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::chrono::Utc;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

use kapi_node::events::{EventType, Recorder};

use crate::ownership::{self, Claim};
use crate::shared::{
    is_namespace_terminating, is_status, log_result, Context, ReconcileError, Task,
};
use view::{SetView, DESIRED_REPLICAS, MAX_REPLICAS};

/// How often a Recreate rollout looks again while old pods are still stopping (pods are not
/// watched here).
const RECREATE_POLL: Duration = Duration::from_secs(1);

/// The shared context plus this controller's event recorder.
struct Ctx {
    shared: Arc<Context>,
    events: Recorder,
}

/// Rolls Deployments out.
pub fn run(ctx: Arc<Context>) -> Task {
    let client = ctx.client.clone();
    let ctx = Arc::new(Ctx {
        events: Recorder::new(client.clone(), "deployment-controller", String::new()),
        shared: ctx,
    });
    let controller = Controller::new(
        Api::<Deployment>::all(client.clone()),
        watcher::Config::default(),
    );
    let deployments = controller.store();
    Box::pin(
        controller
            .watches(
                Api::<ReplicaSet>::all(client),
                watcher::Config::default(),
                move |rs| {
                    ownership::interested(&deployments, &rs.metadata, |d: &Deployment| {
                        ownership::selector(d.spec.as_ref().map(|s| &s.selector))
                    })
                },
            )
            .with_config(controller::Config::default().debounce(Duration::from_millis(50)))
            .run(reconcile, error_policy, ctx)
            .for_each(|r| log_result(crate::DEPLOYMENT, r)),
    )
}

fn error_policy(d: Arc<Deployment>, error: &ReconcileError, ctx: Arc<Ctx>) -> Action {
    ctx.shared.failed(crate::DEPLOYMENT, d.as_ref(), error)
}

async fn reconcile(cached: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = cached.namespace().unwrap_or_default();
    let deployments = Api::<Deployment>::namespaced(ctx.shared.client.clone(), &ns);
    let Some(d) = deployments.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let sel = ownership::selector(d.spec.as_ref().map(|s| &s.selector));
    if sel.is_empty() {
        tracing::warn!(deployment = %d.name_any(), "empty selector; selecting nothing");
        return Ok(Action::await_change());
    }
    let sets_api = Api::<ReplicaSet>::namespaced(ctx.shared.client.clone(), &ns);
    let listed = sets_api.list(&ListParams::default()).await?.items;
    let sets = claim_sets(&d, listed, &sets_api).await?;
    let mut sync = Sync {
        surge: fenceposts::max_surge(&d).map_err(|e| ReconcileError::Invalid(e.to_string()))?,
        unavailable: fenceposts::max_unavailable(&d)
            .map_err(|e| ReconcileError::Invalid(e.to_string()))?,
        want: fenceposts::replicas(&d),
        d,
        sets,
        deployments,
        sets_api,
        pods: Api::<Pod>::namespaced(ctx.shared.client.clone(), &ns),
        events: ctx.events.clone(),
    };
    let action = sync.run().await?;
    ctx.shared.succeeded(crate::DEPLOYMENT, &sync.d);
    Ok(action)
}

/// Adopts orphan ReplicaSets the selector takes, releases owned ones it no longer takes, and
/// returns the ReplicaSets this Deployment controls.
async fn claim_sets(
    d: &Deployment,
    sets: Vec<ReplicaSet>,
    api: &Api<ReplicaSet>,
) -> Result<Vec<ReplicaSet>, ReconcileError> {
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let deleting = d.metadata.deletion_timestamp.is_some();
    let sel = ownership::selector(d.spec.as_ref().map(|s| &s.selector));
    let owner = ownership::controller_ref("apps/v1", "Deployment", &d.metadata);
    let mut owned = Vec::new();
    for rs in sets {
        let patch = match ownership::claim(&uid, deleting, &sel, &rs.metadata) {
            Claim::Owned => {
                owned.push(rs);
                continue;
            }
            Claim::Ignore => continue,
            Claim::Adopt => ownership::adopt_patch(&rs.metadata, &owner),
            Claim::Release => ownership::release_patch(&rs.metadata, &uid),
        };
        let adopting = ownership::controller_of(&rs.metadata).is_none();
        match api
            .patch(
                &rs.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(updated) if adopting => owned.push(updated),
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(owned)
}

/// One sync of one Deployment: its stored state, its ReplicaSets, and what it resolved to.
struct Sync {
    d: Deployment,
    sets: Vec<ReplicaSet>,
    want: i32,
    surge: i32,
    unavailable: i32,
    deployments: Api<Deployment>,
    sets_api: Api<ReplicaSet>,
    pods: Api<Pod>,
    events: Recorder,
}

impl Sync {
    async fn run(&mut self) -> Result<Action, ReconcileError> {
        if self.d.metadata.deletion_timestamp.is_some() {
            return self.sync_status().await;
        }
        self.paused_condition();
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        if paused || self.is_scaling_event() {
            return self.scale_only(paused).await;
        }
        if fenceposts::is_recreate(&self.d) {
            self.recreate().await
        } else {
            self.rolling().await
        }
    }

    /// Index of the ReplicaSet of the current template: the oldest whose template matches.
    fn new_index(&self) -> Option<usize> {
        let template = self
            .d
            .spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default();
        let mut candidates: Vec<usize> = (0..self.sets.len())
            .filter(|&i| {
                self.sets[i]
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| hash::equal_ignore_hash(t, &template))
            })
            .collect();
        candidates.sort_by_key(|&i| {
            (
                self.sets[i]
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0),
                self.sets[i].name_any(),
            )
        });
        candidates.first().copied()
    }

    fn old_indices(&self, new: Option<usize>) -> Vec<usize> {
        (0..self.sets.len()).filter(|&i| Some(i) != new).collect()
    }

    fn views(&self, indices: &[usize]) -> Vec<SetView> {
        indices
            .iter()
            .map(|&i| SetView::of(&self.sets[i]))
            .collect()
    }

    fn all_refs(&self) -> Vec<&ReplicaSet> {
        self.sets.iter().collect()
    }

    fn is_scaling_event(&self) -> bool {
        self.sets
            .iter()
            .filter(|rs| rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) > 0)
            .filter_map(|rs| SetView::of(rs).desired)
            .any(|desired| desired != self.want)
    }

    /// Paused and resumed show in the Progressing condition (when there is a deadline).
    fn paused_condition(&mut self) {
        if status::progress_deadline(&self.d).is_none() {
            return;
        }
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let st = self.d.status.get_or_insert_with(Default::default);
        let reason = status::get(st, status::PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(status::TIMED_OUT) {
            return;
        }
        let shown = reason.as_deref() == Some(status::PAUSED);
        let now = Utc::now();
        if paused && !shown {
            status::set_condition(
                st,
                status::condition(
                    status::PROGRESSING,
                    "Unknown",
                    status::PAUSED,
                    "Deployment is paused",
                    now,
                ),
            );
        } else if !paused && shown {
            status::set_condition(
                st,
                status::condition(
                    status::PROGRESSING,
                    "Unknown",
                    status::RESUMED,
                    "Deployment is resumed",
                    now,
                ),
            );
        }
    }

    /// Finds the new ReplicaSet (bringing its revision and annotations up to date) or, with
    /// `create`, creates it. Also keeps the Deployment's revision annotation in step.
    async fn new_set(&mut self, create: bool) -> Result<Option<usize>, ReconcileError> {
        let new = self.new_index();
        let old = self.old_indices(new);
        let next = revision::max(&old.iter().map(|&i| &self.sets[i]).collect::<Vec<_>>()) + 1;
        let d_annotations = self.d.annotations().clone();
        let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
        if let Some(i) = new {
            let rs = &self.sets[i];
            let mut annotations = rs.annotations().clone();
            let changed = revision::annotate_new(&mut annotations, &d_annotations, next);
            let rs_min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds);
            if changed || rs_min_ready.unwrap_or(0) != min_ready.unwrap_or(0) {
                let patch = json!({
                    "metadata": {"annotations": annotations, "resourceVersion": rs.resource_version()},
                    "spec": {"minReadySeconds": min_ready.unwrap_or(0)},
                });
                self.sets[i] = self
                    .sets_api
                    .patch(
                        &rs.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await?;
            }
            let rev = revision::of(&self.sets[i]);
            self.set_revision(rev).await?;
            if status::progress_deadline(&self.d).is_some() {
                let st = self.d.status.get_or_insert_with(Default::default);
                if status::get(st, status::PROGRESSING).is_none() {
                    let msg = format!("Found new replica set \"{}\"", self.sets[i].name_any());
                    status::set_condition(
                        st,
                        status::condition(
                            status::PROGRESSING,
                            "True",
                            status::FOUND_NEW_RS,
                            &msg,
                            Utc::now(),
                        ),
                    );
                }
            }
            return Ok(Some(i));
        }
        if !create {
            return Ok(None);
        }
        let spec = self.d.spec.clone().unwrap_or_default();
        let collisions = self.d.status.as_ref().and_then(|s| s.collision_count);
        let h = hash::compute(&spec.template, collisions);
        let mut template = spec.template.clone();
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(hash::POD_TEMPLATE_HASH.into(), h.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(hash::POD_TEMPLATE_HASH.into(), h.clone());
        let mut annotations = BTreeMap::new();
        revision::annotate_new(&mut annotations, &d_annotations, next);
        annotations.insert(DESIRED_REPLICAS.into(), self.want.to_string());
        annotations.insert(MAX_REPLICAS.into(), (self.want + self.surge).to_string());
        let replicas = if fenceposts::is_recreate(&self.d) {
            self.want
        } else {
            let total: i32 = self.views(&old).iter().map(|s| s.replicas).sum();
            rolling::new_replicas(self.want, self.surge, total, 0)
        };
        let name = format!("{}-{}", self.d.name_any(), h);
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.namespace(),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                annotations: Some(annotations),
                owner_references: Some(vec![ownership::controller_ref(
                    "apps/v1",
                    "Deployment",
                    &self.d.metadata,
                )]),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: min_ready,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let created = match self.sets_api.create(&PostParams::default(), &rs).await {
            Ok(created) => created,
            Err(e) if is_status(&e, 409) => {
                let existing = self.sets_api.get(&name).await?;
                let ours = ownership::controller_of(&existing.metadata).map(|r| r.uid.as_str())
                    == self.d.metadata.uid.as_deref();
                let same = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| hash::equal_ignore_hash(t, &spec.template));
                if !(ours && same) {
                    let count = collisions.unwrap_or(0).saturating_add(1);
                    let patch = json!({"status": {"collisionCount": count}});
                    self.deployments
                        .patch_status(
                            &self.d.name_any(),
                            &PatchParams::default(),
                            &Patch::Merge(&patch),
                        )
                        .await?;
                    return Err(ReconcileError::Collision(format!("replica set {name} exists with another template; collisionCount is now {count}")));
                }
                existing
            }
            Err(e) if is_namespace_terminating(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        tracing::info!(deployment = %self.d.name_any(), replicaset = %name, replicas, "created new replica set");
        if replicas > 0 {
            let msg = format!("Scaled up replica set {name} from 0 to {replicas}");
            self.events
                .object(&self.d, EventType::Normal, "ScalingReplicaSet", &msg)
                .await;
        }
        let rev = revision::of(&created);
        self.sets.push(created);
        self.set_revision(rev).await?;
        if status::progress_deadline(&self.d).is_some() {
            let msg = format!("Created new replica set \"{name}\"");
            let st = self.d.status.get_or_insert_with(Default::default);
            status::set_condition(
                st,
                status::condition(
                    status::PROGRESSING,
                    "True",
                    status::NEW_RS_CREATED,
                    &msg,
                    Utc::now(),
                ),
            );
        }
        Ok(Some(self.sets.len() - 1))
    }

    /// Puts `rev` on the Deployment, as upstream's `SetDeploymentRevision`.
    async fn set_revision(&mut self, rev: i64) -> Result<(), ReconcileError> {
        let rev = rev.to_string();
        if self.d.annotations().get(revision::REVISION) == Some(&rev) {
            return Ok(());
        }
        let patch = json!({"metadata": {"annotations": {revision::REVISION: rev}}});
        let updated = self
            .deployments
            .patch(
                &self.d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        // Keep the status being worked on; only the metadata changed.
        self.d.metadata = updated.metadata;
        Ok(())
    }

    /// Sizes ReplicaSet `i` to `size`, with the replica annotations of the current spec.
    /// Returns whether the size changed.
    async fn resize(&mut self, i: usize, size: i32) -> Result<bool, ReconcileError> {
        let rs = &self.sets[i];
        let v = SetView::of(rs);
        let max = self.want + self.surge;
        if v.replicas == size && v.desired == Some(self.want) && v.max == Some(max) {
            return Ok(false);
        }
        let patch = json!({
            "metadata": {
                "annotations": {DESIRED_REPLICAS: self.want.to_string(), MAX_REPLICAS: max.to_string()},
                "resourceVersion": rs.resource_version(),
            },
            "spec": {"replicas": size},
        });
        tracing::info!(deployment = %self.d.name_any(), replicaset = %v.name, from = v.replicas, to = size, "scaling replica set");
        self.sets[i] = self
            .sets_api
            .patch(&v.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        if v.replicas != size {
            let direction = if size > v.replicas { "up" } else { "down" };
            let msg = format!(
                "Scaled {direction} replica set {} from {} to {size}",
                v.name, v.replicas
            );
            self.events
                .object(&self.d, EventType::Normal, "ScalingReplicaSet", &msg)
                .await;
        }
        Ok(v.replicas != size)
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.sets
            .iter()
            .position(|rs| rs.metadata.name.as_deref() == Some(name))
    }

    async fn rolling(&mut self) -> Result<Action, ReconcileError> {
        let Some(new) = self.new_set(true).await? else {
            return self.rollout_status().await;
        };
        let current = SetView::of(&self.sets[new]).replicas;
        if current != self.want {
            let total: i32 = self.sets.iter().map(|rs| SetView::of(rs).replicas).sum();
            let size = if current > self.want {
                self.want
            } else {
                rolling::new_replicas(self.want, self.surge, total, current)
            };
            if self.resize(new, size).await? {
                return self.rollout_status().await;
            }
        }
        let old = self.old_indices(Some(new));
        let active_old: Vec<usize> = old
            .iter()
            .copied()
            .filter(|&i| SetView::of(&self.sets[i]).replicas > 0)
            .collect();
        let plan = rolling::scale_down_old(
            self.want,
            self.unavailable,
            &SetView::of(&self.sets[new]),
            &self.views(&active_old),
        );
        let mut scaled = false;
        for (name, size) in plan {
            if let Some(i) = self.index_of(&name) {
                scaled |= self.resize(i, size).await?;
            }
        }
        if !scaled {
            let current = self.d.status.clone().unwrap_or_default();
            if status::complete(&self.d, &current) {
                self.cleanup(&old).await?;
            }
        }
        self.rollout_status().await
    }

    async fn recreate(&mut self) -> Result<Action, ReconcileError> {
        let new = self.new_set(false).await?;
        let old = self.old_indices(new);
        let mut scaled = false;
        for &i in &old {
            if SetView::of(&self.sets[i]).replicas > 0 {
                scaled |= self.resize(i, 0).await?;
            }
        }
        if scaled {
            return self.rollout_status().await;
        }
        if self.old_pods_running(&old).await? {
            self.rollout_status().await?;
            return Ok(Action::requeue(RECREATE_POLL));
        }
        let new = match new {
            Some(i) => Some(i),
            None => self.new_set(true).await?,
        };
        if let Some(i) = new {
            if self.resize(i, self.want).await? {
                return self.rollout_status().await;
            }
        }
        let current = self.d.status.clone().unwrap_or_default();
        if status::complete(&self.d, &current) {
            self.cleanup(&old).await?;
        }
        self.rollout_status().await
    }

    /// Whether pods of old ReplicaSets still run (Recreate waits for them to be gone).
    async fn old_pods_running(&self, old: &[usize]) -> Result<bool, ReconcileError> {
        if old
            .iter()
            .any(|&i| self.sets[i].status.as_ref().is_some_and(|s| s.replicas > 0))
        {
            return Ok(true);
        }
        let uids: Vec<&str> = old
            .iter()
            .filter_map(|&i| self.sets[i].metadata.uid.as_deref())
            .collect();
        if uids.is_empty() {
            return Ok(false);
        }
        let pods = self.pods.list(&ListParams::default()).await?.items;
        Ok(pods.iter().any(|p| {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            ownership::controller_of(&p.metadata).is_some_and(|r| uids.contains(&r.uid.as_str()))
                && !matches!(phase, Some("Succeeded" | "Failed"))
        }))
    }

    /// Scaling events and paused Deployments: resize without rolling, then the counts.
    async fn scale_only(&mut self, paused: bool) -> Result<Action, ReconcileError> {
        let new = self.new_set(false).await?;
        let old = self.old_indices(new);
        let status_replicas = self.d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let new_view = new.map(|i| SetView::of(&self.sets[i]));
        let plan = scale::plan(
            self.want,
            self.surge,
            status_replicas,
            new_view.as_ref(),
            &self.views(&old),
            !fenceposts::is_recreate(&self.d),
        );
        for (name, size) in plan {
            if let Some(i) = self.index_of(&name) {
                self.resize(i, size).await?;
            }
        }
        if paused {
            self.cleanup(&old).await?;
        }
        self.sync_status().await
    }

    /// Deletes the oldest unused ReplicaSets beyond `revisionHistoryLimit`.
    async fn cleanup(&mut self, old: &[usize]) -> Result<(), ReconcileError> {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = old
            .iter()
            .map(|&i| &self.sets[i])
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = cleanable
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(0));
        if excess == 0 {
            return Ok(());
        }
        cleanable.sort_by_key(|rs| {
            (
                revision::of(rs),
                rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
            )
        });
        for rs in cleanable.into_iter().take(excess) {
            let st = rs.status.clone().unwrap_or_default();
            let idle = st.replicas == 0
                && rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) == 0
                && rs.metadata.generation <= st.observed_generation;
            if !idle {
                continue;
            }
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: rs.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match self.sets_api.delete(&rs.name_any(), &params).await {
                Ok(_) => {
                    tracing::info!(deployment = %self.d.name_any(), replicaset = %rs.name_any(), "deleted old replica set")
                }
                Err(e) if is_status(&e, 404) || is_status(&e, 409) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Counts only (upstream's `syncDeploymentStatus`).
    async fn sync_status(&mut self) -> Result<Action, ReconcileError> {
        let new = self.new_index();
        let computed = status::compute(
            &self.d,
            &self.all_refs(),
            new.map(|i| &self.sets[i]),
            self.unavailable,
            Utc::now(),
        );
        self.write_status(computed).await?;
        Ok(Action::await_change())
    }

    /// Counts and the Progressing condition (upstream's `syncRolloutStatus`).
    async fn rollout_status(&mut self) -> Result<Action, ReconcileError> {
        let new = self.new_index();
        let now = Utc::now();
        let computed = status::rollout(
            &self.d,
            &self.all_refs(),
            new.map(|i| &self.sets[i]),
            self.unavailable,
            now,
        );
        let recheck = status::recheck_after(&self.d, &computed, now);
        self.write_status(computed).await?;
        Ok(match recheck {
            Some(after) => Action::requeue(after),
            None => Action::await_change(),
        })
    }

    async fn write_status(
        &mut self,
        computed: k8s_openapi::api::apps::v1::DeploymentStatus,
    ) -> Result<(), ReconcileError> {
        let stored = self.deployments.get(&self.d.name_any()).await?;
        if stored.status.as_ref() == Some(&computed) {
            return Ok(());
        }
        let patch = json!({"status": computed});
        self.deployments
            .patch_status(
                &self.d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        self.d.status = Some(computed);
        Ok(())
    }
}

//! One pod's worker: brings the runtime in line with the pod (sandbox, init containers in
//! order, containers with their restart policy and back-off), reports status, and on deletion
//! stops everything within the grace period and finishes the deletion, as kubelet's pod
//! workers do.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::Api;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::backoff::Backoff;
use super::cri_config::{self, ContainerInputs, CONTAINER_NAME, POD_UID};
use super::env::{self, DataByName, EnvSources};
use super::etc_hosts;
use super::images;
use super::probes::{self, Kind, Timing, Tracker};
use super::status::{self, Instance, Observation, State};
use super::volumes::{self, Prepared};
use super::Context;
use crate::cri::{self, api, CriError};
use crate::events::EventType;

/// How often a pod is looked at again while nothing tells the worker to.
const RESYNC: Duration = Duration::from_secs(2);
/// kubelet's floor on a deletion's grace period.
const MIN_GRACE: i64 = 2;

/// What the worker remembers between syncs.
#[derive(Default)]
struct PodState {
    start_time: Option<String>,
    volumes: Option<BTreeMap<String, Prepared>>,
    refresh_due: Option<Instant>,
    crash_backoff: HashMap<String, Backoff>,
    pull_backoff: HashMap<String, Backoff>,
    /// Why each container is waiting, when the worker knows.
    waiting: BTreeMap<String, (String, String)>,
    last_status: Option<Value>,
    /// The last event per container, so a steady condition is not reported every sync.
    last_event: HashMap<String, String>,
    /// Probe state per container instance and kind.
    probes: HashMap<(String, Kind), Tracker>,
    /// When each container instance was first seen running (probes' initial delay).
    running_since: HashMap<String, Instant>,
    /// The projected tokens minted for the pod, reused until they are due for renewal.
    tokens: volumes::Tokens,
}

/// Runs until the pod is gone. `None` on the channel means the pod left the API.
pub async fn run(ctx: Arc<Context>, mut pod: Pod, mut updates: mpsc::Receiver<Option<Pod>>) {
    let mut state = PodState::default();
    loop {
        if pod.metadata.deletion_timestamp.is_some() {
            let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30);
            terminate(&ctx, &pod, grace).await;
            finish_deletion(&ctx, &pod).await;
            return;
        }
        let next = match sync(&ctx, &pod, &mut state).await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(pod = %pod_key(&pod), error = %e, "pod sync failed");
                RESYNC
            }
        };
        tokio::select! {
            update = updates.recv() => match update {
                Some(Some(p)) => pod = p,
                Some(None) | None => {
                    let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(MIN_GRACE);
                    terminate(&ctx, &pod, grace).await;
                    return;
                }
            },
            _ = tokio::time::sleep(next) => {}
        }
    }
}

/// `namespace/name`.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn nanos_rfc3339(nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The pod's sandboxes, newest first.
async fn sandboxes(ctx: &Context, pod_uid: &str) -> Result<Vec<api::PodSandbox>, CriError> {
    let mut rt = ctx.cri.runtime.clone();
    let mut items = rt
        .list_pod_sandbox(api::ListPodSandboxRequest {
            filter: Some(api::PodSandboxFilter {
                label_selector: HashMap::from([(POD_UID.to_string(), pod_uid.to_string())]),
                ..Default::default()
            }),
        })
        .await
        .map_err(cri::call("ListPodSandbox"))?
        .into_inner()
        .items;
    items.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    Ok(items)
}

/// The pod's container instances by name, newest first.
async fn instances(
    ctx: &Context,
    pod_uid: &str,
) -> Result<BTreeMap<String, Vec<Instance>>, CriError> {
    let mut rt = ctx.cri.runtime.clone();
    let containers = rt
        .list_containers(api::ListContainersRequest {
            filter: Some(api::ContainerFilter {
                label_selector: HashMap::from([(POD_UID.to_string(), pod_uid.to_string())]),
                ..Default::default()
            }),
        })
        .await
        .map_err(cri::call("ListContainers"))?
        .into_inner()
        .containers;
    let mut out: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
    for c in containers {
        let Some(name) = c.labels.get(CONTAINER_NAME).cloned() else {
            continue;
        };
        let status = rt
            .container_status(api::ContainerStatusRequest {
                container_id: c.id.clone(),
                verbose: false,
            })
            .await
            .map_err(cri::call("ContainerStatus"))?
            .into_inner()
            .status
            .unwrap_or_default();
        let state = match api::ContainerState::try_from(status.state) {
            Ok(api::ContainerState::ContainerRunning) => State::Running {
                started_at: nanos_rfc3339(status.started_at),
            },
            Ok(api::ContainerState::ContainerExited) => State::Exited {
                exit_code: status.exit_code,
                reason: if status.reason.is_empty() {
                    if status.exit_code == 0 {
                        "Completed"
                    } else {
                        "Error"
                    }
                    .to_string()
                } else {
                    status.reason.clone()
                },
                message: status.message.clone(),
                started_at: nanos_rfc3339(status.started_at),
                finished_at: nanos_rfc3339(status.finished_at),
            },
            _ => State::Created,
        };
        out.entry(name).or_default().push(Instance {
            id: c.id,
            attempt: c.metadata.map_or(0, |m| m.attempt),
            state,
            image_ref: status.image_ref,
        });
    }
    for list in out.values_mut() {
        list.sort_by_key(|i| std::cmp::Reverse(i.attempt));
    }
    Ok(out)
}

/// The sandbox's IP.
async fn sandbox_ip(ctx: &Context, id: &str) -> Result<Option<String>, CriError> {
    let mut rt = ctx.cri.runtime.clone();
    let status = rt
        .pod_sandbox_status(api::PodSandboxStatusRequest {
            pod_sandbox_id: id.to_string(),
            verbose: false,
        })
        .await
        .map_err(cri::call("PodSandboxStatus"))?
        .into_inner()
        .status;
    Ok(status
        .and_then(|s| s.network)
        .map(|n| n.ip)
        .filter(|ip| !ip.is_empty()))
}

/// Error from one sync, for the log; the pod's status and events carry the user-facing part.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Cri(#[from] CriError),
    #[error(transparent)]
    Api(#[from] kube::Error),
}

async fn sync(ctx: &Arc<Context>, pod: &Pod, st: &mut PodState) -> Result<Duration, SyncError> {
    let pod_uid = uid(pod);
    let start_time = st
        .start_time
        .get_or_insert_with(|| {
            pod.status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(now_rfc3339)
        })
        .clone();
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("");
    if matches!(phase, "Succeeded" | "Failed") {
        // A finished pod keeps its status; its sandbox is no longer needed.
        stop_sandboxes(ctx, &pod_uid, false).await;
        return Ok(Duration::from_secs(60));
    }
    let spec = pod.spec.clone().unwrap_or_default();
    let mut obs = Observation {
        host_ip: ctx.node_ip.clone(),
        start_time,
        runtime: ctx.runtime_name.clone(),
        ..Default::default()
    };
    let sandbox_list = sandboxes(ctx, &pod_uid).await?;
    let ready = sandbox_list
        .iter()
        .find(|s| s.state == api::PodSandboxState::SandboxReady as i32)
        .cloned();
    // The host's resolv.conf is read for every sandbox, as kubelet reads it, so a change on the
    // node reaches new pods without a restart.
    let dns = super::dns::ClusterDns {
        host: super::dns::HostResolv::load(),
        ..ctx.cluster_dns.clone()
    };
    let sandbox_config =
        cri_config::sandbox_config(pod, &ctx.logs_dir, sandbox_list.len() as u32, &dns);
    let needs_volumes = st.volumes.is_none() || st.refresh_due.is_some_and(|d| Instant::now() >= d);
    if needs_volumes {
        let (services, config_maps, secrets) = env_inputs(ctx, pod).await;
        let sources = EnvSources {
            pod,
            node_name: &ctx.node_name,
            host_ip: &ctx.node_ip,
            pod_ip: "",
            services: &services,
            config_maps: &config_maps,
            secrets: &secrets,
            allocatable: ctx.allocatable,
        };
        match volumes::prepare(&ctx.client, &ctx.pods_dir, pod, &sources, &mut st.tokens).await {
            Ok((prepared, refresh)) => {
                st.volumes = Some(prepared);
                st.refresh_due = Some(refresh.due);
            }
            Err(e) => {
                let message = format!("MountVolume.SetUp failed: {e}");
                event_once(
                    ctx,
                    pod,
                    st,
                    "",
                    EventType::Warning,
                    "FailedMount",
                    &message,
                )
                .await;
                if st.volumes.is_none() {
                    obs.instances = BTreeMap::new();
                    report(ctx, pod, st, &obs).await?;
                    return Ok(RESYNC);
                }
            }
        }
    }
    let sandbox_id = match ready {
        Some(s) => s.id,
        None => {
            for old in &sandbox_list {
                remove_sandbox(ctx, &old.id).await;
            }
            let mut rt = ctx.cri.runtime.clone();
            match rt
                .run_pod_sandbox(api::RunPodSandboxRequest {
                    config: Some(sandbox_config.clone()),
                    runtime_handler: String::new(),
                })
                .await
            {
                Ok(r) => r.into_inner().pod_sandbox_id,
                Err(status) => {
                    let message = format!("Failed to create pod sandbox: {}", status.message());
                    event_once(
                        ctx,
                        pod,
                        st,
                        "",
                        EventType::Warning,
                        "FailedCreatePodSandBox",
                        &message,
                    )
                    .await;
                    report(ctx, pod, st, &obs).await?;
                    return Ok(RESYNC * 2);
                }
            }
        }
    };
    obs.sandbox_ready = true;
    obs.pod_ip = sandbox_ip(ctx, &sandbox_id).await?;
    obs.instances = instances(ctx, &pod_uid).await?;
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");

    // Init containers, one at a time, in order.
    let mut initialized = true;
    for c in spec.init_containers.iter().flatten() {
        let latest = obs.instances.get(&c.name).and_then(|i| i.first()).cloned();
        match latest.as_ref().map(|i| &i.state) {
            Some(State::Exited { exit_code: 0, .. }) => continue,
            Some(State::Running { .. }) => {}
            Some(State::Exited { .. }) if policy == "Never" => {}
            Some(State::Exited { finished_at, .. }) => {
                restart_with_backoff(
                    ctx,
                    pod,
                    st,
                    &sandbox_id,
                    &sandbox_config,
                    c,
                    latest.as_ref(),
                    finished_at,
                    &obs,
                )
                .await;
            }
            Some(State::Created) | None => {
                start(
                    ctx,
                    pod,
                    st,
                    &sandbox_id,
                    &sandbox_config,
                    c,
                    latest.as_ref(),
                    &obs,
                )
                .await;
            }
        }
        initialized = false;
        break;
    }
    if initialized {
        for c in &spec.containers {
            let latest = obs.instances.get(&c.name).and_then(|i| i.first()).cloned();
            match latest.as_ref().map(|i| &i.state) {
                Some(State::Running { .. }) => {
                    st.waiting.remove(&c.name);
                }
                Some(State::Exited {
                    exit_code,
                    finished_at,
                    ..
                }) => {
                    let restart = policy == "Always" || (policy == "OnFailure" && *exit_code != 0);
                    if restart {
                        let finished_at = finished_at.clone();
                        restart_with_backoff(
                            ctx,
                            pod,
                            st,
                            &sandbox_id,
                            &sandbox_config,
                            c,
                            latest.as_ref(),
                            &finished_at,
                            &obs,
                        )
                        .await;
                    } else {
                        st.waiting.remove(&c.name);
                    }
                }
                Some(State::Created) | None => {
                    start(
                        ctx,
                        pod,
                        st,
                        &sandbox_id,
                        &sandbox_config,
                        c,
                        latest.as_ref(),
                        &obs,
                    )
                    .await;
                }
            }
        }
    }
    obs.instances = instances(ctx, &pod_uid).await?;
    let next_probe = run_probes(ctx, pod, st, &mut obs).await;
    report(ctx, pod, st, &obs).await?;
    let now = Instant::now();
    Ok(next_probe
        .map(|at| {
            at.saturating_duration_since(now)
                .max(Duration::from_millis(100))
        })
        .map_or(RESYNC, |d| d.min(RESYNC)))
}

/// Runs the probes that are due on running containers; sets readiness and startup in `obs`,
/// restarts containers whose liveness or startup probe failed. Returns when the next is due.
async fn run_probes(
    ctx: &Context,
    pod: &Pod,
    st: &mut PodState,
    obs: &mut Observation,
) -> Option<Instant> {
    let spec = pod.spec.clone().unwrap_or_default();
    let now = Instant::now();
    let live_ids: std::collections::HashSet<String> = obs
        .instances
        .values()
        .flatten()
        .filter(|i| matches!(i.state, State::Running { .. }))
        .map(|i| i.id.clone())
        .collect();
    st.probes.retain(|(id, _), _| live_ids.contains(id));
    st.running_since.retain(|id, _| live_ids.contains(id));
    let pod_ip = obs.pod_ip.clone().unwrap_or_default();
    let mut next: Option<Instant> = None;
    for c in &spec.containers {
        let Some(inst) = obs.instances.get(&c.name).and_then(|l| l.first()).cloned() else {
            continue;
        };
        if !matches!(inst.state, State::Running { .. }) {
            obs.ready.insert(c.name.clone(), false);
            continue;
        }
        let since = *st.running_since.entry(inst.id.clone()).or_insert(now);
        let mut verdicts = HashMap::new();
        for kind in [Kind::Startup, Kind::Liveness, Kind::Readiness] {
            let Some(probe) = kind.of(c) else { continue };
            if kind != Kind::Startup
                && verdicts
                    .get(&Kind::Startup)
                    .is_some_and(|v: &Option<bool>| *v != Some(true))
            {
                continue;
            }
            let timing = Timing::of(probe);
            let tracker = st
                .probes
                .entry((inst.id.clone(), kind))
                .or_insert_with(|| Tracker::new(timing, since));
            if tracker.due(now) {
                let result =
                    probes::run(&ctx.cri, probe, c, &inst.id, &pod_ip, timing.timeout).await;
                let tracker = st
                    .probes
                    .get_mut(&(inst.id.clone(), kind))
                    .expect("tracker just inserted");
                tracker.record(result.is_ok(), Instant::now());
                if let Err(why) = &result {
                    let message = format!("{} probe failed: {why}", kind.name());
                    event_once(
                        ctx,
                        pod,
                        st,
                        &c.name,
                        EventType::Warning,
                        "Unhealthy",
                        &message,
                    )
                    .await;
                }
            }
            let tracker = &st.probes[&(inst.id.clone(), kind)];
            next = Some(next.map_or(tracker.next_run(), |n| n.min(tracker.next_run())));
            verdicts.insert(kind, tracker.passing);
        }
        let started =
            c.startup_probe.is_none() || verdicts.get(&Kind::Startup) == Some(&Some(true));
        if !started {
            obs.not_started.insert(c.name.clone());
        }
        let failed = [Kind::Startup, Kind::Liveness]
            .into_iter()
            .find(|k| verdicts.get(k) == Some(&Some(false)));
        if let Some(kind) = failed {
            let message = format!(
                "Container {} failed {} probe, will be restarted",
                c.name,
                kind.name().to_ascii_lowercase()
            );
            ctx.recorder
                .pod(
                    pod,
                    Some(field_path(pod, &c.name)),
                    EventType::Normal,
                    "Killing",
                    &message,
                )
                .await;
            let grace = spec
                .termination_grace_period_seconds
                .unwrap_or(30)
                .max(MIN_GRACE);
            let mut rt = ctx.cri.runtime.clone();
            let _ = rt
                .stop_container(api::StopContainerRequest {
                    container_id: inst.id.clone(),
                    timeout: grace,
                })
                .await;
            st.probes.retain(|(id, _), _| *id != inst.id);
            obs.ready.insert(c.name.clone(), false);
            continue;
        }
        let ready = started
            && match c.readiness_probe {
                None => true,
                Some(_) => verdicts.get(&Kind::Readiness) == Some(&Some(true)),
            };
        obs.ready.insert(c.name.clone(), ready);
    }
    next
}

/// Writes the pod's status when it changed.
async fn report(
    ctx: &Context,
    pod: &Pod,
    st: &mut PodState,
    obs: &Observation,
) -> Result<(), SyncError> {
    let mut obs = obs.clone();
    for (name, w) in &st.waiting {
        obs.waiting.insert(name.clone(), w.clone());
    }
    let status = status::pod_status(pod, &obs, &now_rfc3339());
    let mut comparable = status.clone();
    strip_times(&mut comparable);
    if st.last_status.as_ref() == Some(&comparable) {
        return Ok(());
    }
    let api: Api<Pod> = Api::namespaced(
        ctx.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    );
    api.patch_status(
        pod.metadata.name.as_deref().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Strategic(json!({"status": status})),
    )
    .await?;
    st.last_status = Some(comparable);
    Ok(())
}

/// Drops the condition timestamps, which change on every computation.
fn strip_times(status: &mut Value) {
    if let Some(conds) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conds {
            if let Some(o) = c.as_object_mut() {
                o.remove("lastTransitionTime");
            }
        }
    }
}

async fn event_once(
    ctx: &Context,
    pod: &Pod,
    st: &mut PodState,
    container: &str,
    kind: EventType,
    reason: &str,
    message: &str,
) {
    let key = format!("{reason}:{message}");
    if st.last_event.get(container) == Some(&key) {
        return;
    }
    st.last_event.insert(container.to_string(), key);
    let path = (!container.is_empty()).then(|| field_path(pod, container));
    ctx.recorder.pod(pod, path, kind, reason, message).await;
}

/// `spec.containers{name}` or `spec.initContainers{name}`.
fn field_path(pod: &Pod, container: &str) -> String {
    let is_init = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .is_some_and(|i| i.iter().any(|c| c.name == container));
    if is_init {
        format!("spec.initContainers{{{container}}}")
    } else {
        format!("spec.containers{{{container}}}")
    }
}

#[allow(clippy::too_many_arguments)]
async fn restart_with_backoff(
    ctx: &Context,
    pod: &Pod,
    st: &mut PodState,
    sandbox_id: &str,
    sandbox_config: &api::PodSandboxConfig,
    c: &Container,
    latest: Option<&Instance>,
    _finished_at: &str,
    obs: &Observation,
) {
    let backoff = st.crash_backoff.entry(c.name.clone()).or_default();
    match backoff.try_again(Instant::now()) {
        Ok(()) => {
            start(ctx, pod, st, sandbox_id, sandbox_config, c, latest, obs).await;
        }
        Err(_) => {
            let delay = backoff.delay().as_secs();
            let message = format!(
                "back-off {} restarting failed container={} pod={}_{}({})",
                go_duration(delay),
                c.name,
                pod.metadata.name.as_deref().unwrap_or_default(),
                pod.metadata.namespace.as_deref().unwrap_or_default(),
                uid(pod),
            );
            st.waiting
                .insert(c.name.clone(), ("CrashLoopBackOff".into(), message));
            event_once(
                ctx,
                pod,
                st,
                &c.name,
                EventType::Warning,
                "BackOff",
                "Back-off restarting failed container",
            )
            .await;
        }
    }
}

/// A duration as Go prints it (`10s`, `1m20s`, `5m0s`).
fn go_duration(secs: u64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

/// Pulls the image when the policy says so, then creates and starts the container.
#[allow(clippy::too_many_arguments)]
async fn start(
    ctx: &Context,
    pod: &Pod,
    st: &mut PodState,
    sandbox_id: &str,
    sandbox_config: &api::PodSandboxConfig,
    c: &Container,
    latest: Option<&Instance>,
    obs: &Observation,
) {
    let image = c.image.clone().unwrap_or_default();
    let image_ref = match ensure_image(ctx, pod, st, sandbox_config, c, &image).await {
        Some(r) => r,
        None => return,
    };
    let (services, config_maps, secrets) = env_inputs(ctx, pod).await;
    let sources = EnvSources {
        pod,
        node_name: &ctx.node_name,
        host_ip: &ctx.node_ip,
        pod_ip: obs.pod_ip.as_deref().unwrap_or_default(),
        services: &services,
        config_maps: &config_maps,
        secrets: &secrets,
        allocatable: ctx.allocatable,
    };
    let fail = |st: &mut PodState, message: String| {
        st.waiting.insert(
            c.name.clone(),
            ("CreateContainerConfigError".into(), message),
        );
    };
    let env = match env::container_env(c, &sources) {
        Ok(env) => env,
        Err(e) => {
            fail(st, e.to_string());
            event_once(
                ctx,
                pod,
                st,
                &c.name,
                EventType::Warning,
                "Failed",
                &format!("Error: {e}"),
            )
            .await;
            return;
        }
    };
    let volumes = st.volumes.clone().unwrap_or_default();
    let mut mounts = match cri_config::mounts(c, &volumes) {
        Ok(m) => m,
        Err(e) => {
            fail(st, e.to_string());
            event_once(
                ctx,
                pod,
                st,
                &c.name,
                EventType::Warning,
                "Failed",
                &format!("Error: {e}"),
            )
            .await;
            return;
        }
    };
    if !mounts.iter().any(|m| m.container_path == "/etc/hosts") {
        let pod_dir = volumes::pod_dir(
            &ctx.pods_dir,
            pod.metadata.uid.as_deref().unwrap_or_default(),
        );
        let ip = obs.pod_ip.as_deref().unwrap_or_default();
        match etc_hosts::write(&pod_dir, pod, ip, &ctx.cluster_dns.domain) {
            Ok(Some(path)) => mounts.push(api::Mount {
                container_path: "/etc/hosts".into(),
                host_path: path.to_string_lossy().into_owned(),
                ..Default::default()
            }),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(pod = %pod.metadata.name.as_deref().unwrap_or_default(), error = %e, "could not write /etc/hosts")
            }
        }
    }
    let attempt = latest.map_or(0, |i| i.attempt + 1);
    // Keep the one exited instance `kubectl logs --previous` reads; remove older ones.
    if let Some(list) = obs.instances.get(&c.name) {
        for old in list.iter().skip(1) {
            let mut rt = ctx.cri.runtime.clone();
            let _ = rt
                .remove_container(api::RemoveContainerRequest {
                    container_id: old.id.clone(),
                })
                .await;
        }
        if let Some(created) = list.first().filter(|i| i.state == State::Created) {
            let mut rt = ctx.cri.runtime.clone();
            let _ = rt
                .remove_container(api::RemoveContainerRequest {
                    container_id: created.id.clone(),
                })
                .await;
        }
    }
    let config = cri_config::container_config(
        pod,
        c,
        ContainerInputs {
            env: &env,
            mounts,
            image: image_ref,
            attempt,
        },
    );
    let mut rt = ctx.cri.runtime.clone();
    let created = rt
        .create_container(api::CreateContainerRequest {
            pod_sandbox_id: sandbox_id.to_string(),
            config: Some(config),
            sandbox_config: Some(sandbox_config.clone()),
        })
        .await;
    let id = match created {
        Ok(r) => r.into_inner().container_id,
        Err(status) => {
            let message = status.message().to_string();
            st.waiting.insert(
                c.name.clone(),
                ("CreateContainerError".into(), message.clone()),
            );
            event_once(
                ctx,
                pod,
                st,
                &c.name,
                EventType::Warning,
                "Failed",
                &format!("Error: {message}"),
            )
            .await;
            return;
        }
    };
    ctx.recorder
        .pod(
            pod,
            Some(field_path(pod, &c.name)),
            EventType::Normal,
            "Created",
            &format!("Created container: {}", c.name),
        )
        .await;
    match rt
        .start_container(api::StartContainerRequest {
            container_id: id.clone(),
        })
        .await
    {
        Ok(_) => {
            st.waiting.remove(&c.name);
            st.last_event.remove(&c.name);
            ctx.recorder
                .pod(
                    pod,
                    Some(field_path(pod, &c.name)),
                    EventType::Normal,
                    "Started",
                    &format!("Started container {}", c.name),
                )
                .await;
        }
        Err(status) => {
            let message = status.message().to_string();
            st.waiting.insert(
                c.name.clone(),
                ("RunContainerError".into(), message.clone()),
            );
            event_once(
                ctx,
                pod,
                st,
                &c.name,
                EventType::Warning,
                "Failed",
                &format!("Error: {message}"),
            )
            .await;
        }
    }
}

/// The image's reference once it is on the node, pulling per policy; `None` (with the
/// container's waiting reason set) when it is not there.
async fn ensure_image(
    ctx: &Context,
    pod: &Pod,
    st: &mut PodState,
    sandbox_config: &api::PodSandboxConfig,
    c: &Container,
    image: &str,
) -> Option<String> {
    let policy = images::pull_policy(c).to_string();
    let present = images::present(&ctx.cri, image).await.ok().flatten();
    if policy != "Always" {
        if let Some(r) = present {
            event_once(
                ctx,
                pod,
                st,
                &c.name,
                EventType::Normal,
                "Pulled",
                &format!("Container image \"{image}\" already present on machine"),
            )
            .await;
            return Some(r);
        }
        if policy == "Never" {
            let message =
                format!("Container image \"{image}\" is not present with pull policy of Never");
            st.waiting.insert(
                c.name.clone(),
                ("ErrImageNeverPull".into(), message.clone()),
            );
            event_once(
                ctx,
                pod,
                st,
                &c.name,
                EventType::Warning,
                "ErrImageNeverPull",
                &message,
            )
            .await;
            return None;
        }
    }
    let backoff = st.pull_backoff.entry(c.name.clone()).or_default();
    let in_backoff = st
        .waiting
        .get(&c.name)
        .is_some_and(|(r, _)| r == "ErrImagePull" || r == "ImagePullBackOff");
    if in_backoff && backoff.try_again(Instant::now()).is_err() {
        let message = format!("Back-off pulling image \"{image}\"");
        st.waiting
            .insert(c.name.clone(), ("ImagePullBackOff".into(), message.clone()));
        event_once(
            ctx,
            pod,
            st,
            &c.name,
            EventType::Normal,
            "BackOff",
            &message,
        )
        .await;
        return None;
    }
    ctx.recorder
        .pod(
            pod,
            Some(field_path(pod, &c.name)),
            EventType::Normal,
            "Pulling",
            &format!("Pulling image \"{image}\""),
        )
        .await;
    let auth = images::credentials(&ctx.client, pod, &ctx.registries, image).await;
    match images::pull(&ctx.cri, image, auth, sandbox_config).await {
        Ok((reference, took)) => {
            st.pull_backoff.remove(&c.name);
            ctx.recorder
                .pod(
                    pod,
                    Some(field_path(pod, &c.name)),
                    EventType::Normal,
                    "Pulled",
                    &format!(
                        "Successfully pulled image \"{image}\" in {:.3}s",
                        took.as_secs_f64()
                    ),
                )
                .await;
            Some(reference)
        }
        Err(e) => {
            let message = format!(
                "failed to pull and unpack image \"{image}\": {}",
                e.message()
            );
            st.waiting
                .insert(c.name.clone(), ("ErrImagePull".into(), message.clone()));
            st.pull_backoff
                .entry(c.name.clone())
                .or_default()
                .try_again(Instant::now())
                .ok();
            ctx.recorder
                .pod(
                    pod,
                    Some(field_path(pod, &c.name)),
                    EventType::Warning,
                    "Failed",
                    &format!("Failed to pull image \"{image}\": {message}"),
                )
                .await;
            event_once(
                ctx,
                pod,
                st,
                &c.name,
                EventType::Warning,
                "Failed",
                "Error: ErrImagePull",
            )
            .await;
            None
        }
    }
}

/// What environment variables may refer to: Services, and the ConfigMaps and Secrets the
/// pod's containers name (missing ones are simply absent; the env code decides).
async fn env_inputs(ctx: &Context, pod: &Pod) -> (Vec<Service>, DataByName, DataByName) {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let mut services = Vec::new();
    let in_ns: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
    if let Ok(list) = in_ns.list(&ListParams::default()).await {
        services.extend(list.items);
    }
    if ns != "default" {
        let default: Api<Service> = Api::namespaced(ctx.client.clone(), "default");
        if let Ok(Some(s)) = default.get_opt("kubernetes").await {
            services.push(s);
        }
    }
    let spec = pod.spec.clone().unwrap_or_default();
    let mut cm_names = Vec::new();
    let mut secret_names = Vec::new();
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for f in c.env_from.iter().flatten() {
            if let Some(r) = &f.config_map_ref {
                cm_names.push(r.name.clone());
            }
            if let Some(r) = &f.secret_ref {
                secret_names.push(r.name.clone());
            }
        }
        for e in c.env.iter().flatten() {
            if let Some(from) = &e.value_from {
                if let Some(r) = &from.config_map_key_ref {
                    cm_names.push(r.name.clone());
                }
                if let Some(r) = &from.secret_key_ref {
                    secret_names.push(r.name.clone());
                }
            }
        }
    }
    let mut config_maps = DataByName::new();
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    for name in cm_names {
        if let Ok(Some(cm)) = cms.get_opt(&name).await {
            config_maps.insert(name, cm.data.unwrap_or_default().into_iter().collect());
        }
    }
    let mut secrets = DataByName::new();
    let secret_api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    for name in secret_names {
        if let Ok(Some(s)) = secret_api.get_opt(&name).await {
            let data = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .collect();
            secrets.insert(name, data);
        }
    }
    (services, config_maps, secrets)
}

async fn remove_sandbox(ctx: &Context, id: &str) {
    let mut rt = ctx.cri.runtime.clone();
    let _ = rt
        .stop_pod_sandbox(api::StopPodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        })
        .await;
    let _ = rt
        .remove_pod_sandbox(api::RemovePodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        })
        .await;
}

/// Stops the pod's sandboxes (and with them any container left), removing them if asked.
async fn stop_sandboxes(ctx: &Context, pod_uid: &str, remove: bool) {
    let Ok(list) = sandboxes(ctx, pod_uid).await else {
        return;
    };
    for s in list {
        if remove {
            remove_sandbox(ctx, &s.id).await;
        } else if s.state == api::PodSandboxState::SandboxReady as i32 {
            let mut rt = ctx.cri.runtime.clone();
            let _ = rt
                .stop_pod_sandbox(api::StopPodSandboxRequest {
                    pod_sandbox_id: s.id,
                })
                .await;
        }
    }
}

/// Stops the pod's containers, each given `grace` seconds after SIGTERM, then removes its
/// sandbox, volumes and logs.
pub async fn terminate(ctx: &Context, pod: &Pod, grace: i64) {
    let pod_uid = uid(pod);
    let grace = grace.max(MIN_GRACE);
    if let Ok(all) = instances(ctx, &pod_uid).await {
        let mut stops = Vec::new();
        for (name, list) in all {
            for i in list
                .into_iter()
                .filter(|i| matches!(i.state, State::Running { .. }))
            {
                ctx.recorder
                    .pod(
                        pod,
                        Some(field_path(pod, &name)),
                        EventType::Normal,
                        "Killing",
                        &format!("Stopping container {name}"),
                    )
                    .await;
                let mut rt = ctx.cri.runtime.clone();
                stops.push(async move {
                    let _ = rt
                        .stop_container(api::StopContainerRequest {
                            container_id: i.id,
                            timeout: grace,
                        })
                        .await;
                });
            }
        }
        futures_util::future::join_all(stops).await;
    }
    stop_sandboxes(ctx, &pod_uid, true).await;
    let _ = std::fs::remove_dir_all(volumes::pod_dir(&ctx.pods_dir, &pod_uid));
    let _ = std::fs::remove_dir_all(cri_config::log_directory(&ctx.logs_dir, pod));
}

/// Removes the pod from the API once its containers are gone (kubelet's final delete).
async fn finish_deletion(ctx: &Context, pod: &Pod) {
    let api: Api<Pod> = Api::namespaced(
        ctx.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    );
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api
        .delete(pod.metadata.name.as_deref().unwrap_or_default(), &params)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(e) => {
            tracing::warn!(pod = %pod_key(pod), error = %e, "could not finish deleting the pod")
        }
    }
}

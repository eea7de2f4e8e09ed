//! The HorizontalPodAutoscaler controller (upstream's `horizontalpodautoscaling`).
//!
//! Every sync period each HPA is reconciled from scratch: its target's scale subresource gives
//! the current size and the pod selector; the selected pods are listed, and their usage read
//! from `metrics.k8s.io`; each metric proposes a size ([`replicas`]), the largest wins, and
//! `behavior` ([`behavior`]) tempers it before the scale is written. Status and conditions
//! say what happened, with upstream's reasons and messages.
//!
//! Nothing is cached but what upstream keeps in memory too — per HPA, recent recommendations
//! and scale events — so memory stays flat however many pods there are. Pods, Object and
//! External metrics need a custom or external metrics API, which kapi does not serve: such a
//! metric reports ScalingActive False as upstream does when those APIs are unavailable.

pub mod behavior;
mod conditions;
mod metrics;
pub mod replicas;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::autoscaling::v2::{
    ContainerResourceMetricStatus, HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus,
    MetricSpec, MetricStatus, MetricValueStatus, ResourceMetricStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::chrono::{DateTime, Utc};
use kapi_node::events::{EventType, Recorder};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::shared::{is_status, log_result, Context, ReconcileError, Task};
use behavior::{Behavior, History};
use conditions::{ABLE_TO_SCALE, SCALING_ACTIVE, SCALING_LIMITED};
use replicas::{PodInfo, Readiness};

const CONTROLLER: &str = crate::HORIZONTAL_POD_AUTOSCALING;

/// Upstream's `--horizontal-pod-autoscaler-sync-period` default.
pub const DEFAULT_SYNC_PERIOD: Duration = Duration::from_secs(15);

/// The in-memory record of one HPA.
#[derive(Default)]
struct State {
    history: History,
    /// The warnings of the last sync: a failure repeated every sync is posted once, not
    /// every 15 s.
    last_warnings: Vec<(String, String)>,
    /// When the last sync ran and for which generation.
    last_sync: Option<(std::time::Instant, Option<i64>)>,
}

struct Ctx {
    shared: Arc<Context>,
    events: Recorder,
    /// Per HPA (`namespace/name`), upstream's in-memory state.
    states: Mutex<HashMap<String, State>>,
}

/// Reconciles every HPA once per sync period and when its spec changes. Its own status
/// writes do not start a sync early (upstream, too, waits out the period after one).
pub fn run(ctx: Arc<Context>) -> Task {
    let client = ctx.client.clone();
    let ctx = Arc::new(Ctx {
        events: Recorder::new(client.clone(), "horizontal-pod-autoscaler", String::new()),
        shared: ctx,
        states: Mutex::new(HashMap::new()),
    });
    let controller = Controller::new(
        Api::<HorizontalPodAutoscaler>::all(client),
        watcher::Config::default(),
    );
    let known = controller.store();
    Box::pin(
        controller
            .with_config(controller::Config::default().debounce(Duration::from_millis(50)))
            .run(
                move |hpa, ctx| reconcile(hpa, ctx, known.clone()),
                error_policy,
                ctx,
            )
            .for_each(|r| log_result(CONTROLLER, r)),
    )
}

fn error_policy(
    hpa: Arc<HorizontalPodAutoscaler>,
    error: &ReconcileError,
    ctx: Arc<Ctx>,
) -> Action {
    ctx.shared.failed(CONTROLLER, hpa.as_ref(), error)
}

fn key(hpa: &HorizontalPodAutoscaler) -> String {
    format!("{}/{}", hpa.namespace().unwrap_or_default(), hpa.name_any())
}

/// The scalable resource a `scaleTargetRef` names, as upstream's REST mapper would find it.
fn target_resource(api_version: &str, kind: &str) -> Option<ApiResource> {
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    let (group, version, plural) = match (group, kind) {
        ("apps", "Deployment") => ("apps", "v1", "deployments"),
        ("apps", "ReplicaSet") => ("apps", "v1", "replicasets"),
        ("apps", "StatefulSet") => ("apps", "v1", "statefulsets"),
        ("", "ReplicationController") => ("", "v1", "replicationcontrollers"),
        _ => return None,
    };
    Some(ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, kind),
        plural,
    ))
}

fn pod_metrics_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics"),
        "pods",
    )
}

/// A milli-quantity as upstream prints `resource.NewMilliQuantity(v, DecimalSI)`.
fn milli_quantity(milli: i64) -> Quantity {
    if milli % 1000 != 0 {
        return Quantity(format!("{milli}m"));
    }
    let mut value = milli / 1000;
    for suffix in ["", "k", "M", "G", "T", "P"] {
        if value % 1000 != 0 || value == 0 {
            return Quantity(format!("{value}{suffix}"));
        }
        value /= 1000;
    }
    Quantity(format!("{value}E"))
}

/// What one sync learned; written to status at the end, whatever happened.
struct Sync {
    conditions: Vec<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerCondition>,
    now: DateTime<Utc>,
    warnings: Vec<(String, String)>,
}

impl Sync {
    fn set(&mut self, type_: &str, status: bool, reason: &str, message: impl Into<String>) {
        conditions::set(
            &mut self.conditions,
            type_,
            status,
            reason,
            message,
            self.now,
        );
    }

    fn warn(&mut self, reason: &str, message: impl Into<String>) {
        self.warnings.push((reason.to_string(), message.into()));
    }

    /// Marks ScalingActive False for a metric that failed, with upstream's wording.
    fn unable_to_compute(&mut self, reason: &str, err: &str) -> (String, String) {
        self.warn(reason, err);
        (
            reason.to_string(),
            format!("the HPA was unable to compute the replica count: {err}"),
        )
    }

    /// A metric that could not be read: the condition's reason and message, and the status
    /// line naming `what` failed.
    fn unavailable_metric(
        &mut self,
        reason: &str,
        what: &str,
        err: String,
    ) -> (String, String, String) {
        let (reason, message) = self.unable_to_compute(reason, &err);
        (reason, message, format!("failed to get {what}: {err}"))
    }
}

async fn reconcile(
    cached: Arc<HorizontalPodAutoscaler>,
    ctx: Arc<Ctx>,
    known: Store<HorizontalPodAutoscaler>,
) -> Result<Action, ReconcileError> {
    let ns = cached.namespace().unwrap_or_default();
    let hpas = Api::<HorizontalPodAutoscaler>::namespaced(ctx.shared.client.clone(), &ns);
    let Some(hpa) = hpas.get_opt(&cached.name_any()).await? else {
        if let Ok(mut states) = ctx.states.lock() {
            states.remove(&key(&cached));
        }
        return Ok(Action::await_change());
    };
    if hpa.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let hkey = key(&hpa);
    let period = ctx.shared.hpa_sync_period;
    let generation = hpa.metadata.generation;
    let now = std::time::Instant::now();
    let early = with_state(&ctx, &hkey, |s| {
        let wait = s
            .last_sync
            .filter(|(_, g)| *g == generation)
            .and_then(|(at, _)| period.checked_sub(now.duration_since(at)));
        if wait.is_none() {
            s.last_sync = Some((now, generation));
        }
        wait
    })
    .flatten();
    if let Some(wait) = early {
        // Woken by our own status write (or an unchanged object): keep the period.
        return Ok(Action::requeue(wait));
    }
    if let Ok(mut states) = ctx.states.lock() {
        let known: std::collections::HashSet<String> =
            known.state().iter().map(|h| key(h)).collect();
        states.retain(|k, _| k == &hkey || known.contains(k));
    }
    let result = autoscale(&hpa, &hpas, &ctx).await;
    ctx.shared.succeeded(CONTROLLER, &hpa);
    result.map(|()| Action::requeue(ctx.shared.hpa_sync_period))
}

async fn autoscale(
    hpa: &HorizontalPodAutoscaler,
    hpas: &Api<HorizontalPodAutoscaler>,
    ctx: &Ctx,
) -> Result<(), ReconcileError> {
    let ns = hpa.namespace().unwrap_or_default();
    let spec = hpa.spec.clone().unwrap_or_default();
    let old_status = hpa.status.clone().unwrap_or_default();
    let mut sync = Sync {
        conditions: old_status.conditions.clone().unwrap_or_default(),
        now: Utc::now(),
        warnings: Vec::new(),
    };
    let target = &spec.scale_target_ref;
    let reference = format!("{}/{}", target.kind, target.name);
    let api_version = target.api_version.clone().unwrap_or_default();

    let scale = match target_resource(&api_version, &target.kind) {
        None => Err(format!(
            "no matches for kind \"{}\" in group \"{}\"",
            target.kind,
            api_version.split_once('/').map_or("", |(g, _)| g)
        )),
        Some(ar) => Api::<DynamicObject>::namespaced_with(ctx.shared.client.clone(), &ns, &ar)
            .get_scale(&target.name)
            .await
            .map(|s| (ar, s))
            .map_err(|e| e.to_string()),
    };
    let (ar, scale) = match scale {
        Ok(s) => s,
        Err(e) => {
            sync.set(
                ABLE_TO_SCALE,
                false,
                "FailedGetScale",
                format!("the HPA controller was unable to get the target's current scale: {e}"),
            );
            sync.warn("FailedGetScale", e);
            let status = HorizontalPodAutoscalerStatus {
                conditions: Some(sync.conditions.clone()),
                ..old_status.clone()
            };
            write_status(hpa, hpas, ctx, status, &sync).await?;
            return Ok(());
        }
    };
    sync.set(
        ABLE_TO_SCALE,
        true,
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
    );
    let current = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let selector = scale
        .status
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    let min = spec.min_replicas.unwrap_or(1);
    let max = spec.max_replicas;
    let hkey = key(hpa);
    with_state(ctx, &hkey, |s| s.history.seed(current, sync.now));

    let mut statuses: Vec<MetricStatus> = Vec::new();
    let mut rescale_reason = String::new();
    let desired = if current == 0 && min != 0 {
        sync.set(
            SCALING_ACTIVE,
            false,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        );
        0
    } else if current > max {
        rescale_reason = "Current number of replicas above Spec.MaxReplicas".into();
        max
    } else if current < min {
        rescale_reason = "Current number of replicas below Spec.MinReplicas".into();
        min
    } else {
        let proposal = compute(
            &spec.metrics.clone().unwrap_or_default(),
            current,
            &selector,
            &ns,
            ctx,
            &mut sync,
        )
        .await;
        statuses = proposal.statuses;
        let Some((metric_desired, metric_name)) = proposal.replicas else {
            sync.warn("FailedComputeMetricsReplicas", proposal.error.clone());
            let status = HorizontalPodAutoscalerStatus {
                current_replicas: Some(current),
                current_metrics: Some(statuses).filter(|s| !s.is_empty()),
                conditions: Some(sync.conditions.clone()),
                ..old_status.clone()
            };
            write_status(hpa, hpas, ctx, status, &sync).await?;
            tracing::info!(
                hpa = hkey,
                reference,
                error = proposal.error,
                "failed to compute desired replicas"
            );
            return Ok(());
        };
        if metric_desired > current {
            rescale_reason = format!("{metric_name} above target");
        } else if metric_desired < current {
            rescale_reason = "All metrics below target".into();
        }
        let b = Behavior::from_spec(spec.behavior.as_ref());
        let n = with_state(ctx, &hkey, |s| {
            s.history
                .normalize(&b, current, metric_desired, min, max, sync.now)
        })
        .unwrap_or_else(|| {
            History::default().normalize(&b, current, metric_desired, min, max, sync.now)
        });
        sync.set(
            ABLE_TO_SCALE,
            n.able_to_scale.status,
            n.able_to_scale.reason,
            n.able_to_scale.message,
        );
        sync.set(
            SCALING_LIMITED,
            n.scaling_limited.status,
            n.scaling_limited.reason,
            n.scaling_limited.message,
        );
        n.replicas
    };

    let rescale = desired != current;
    if rescale {
        let mut body = scale.clone();
        body.spec.get_or_insert_with(Default::default).replicas = Some(desired);
        let written = match serde_json::to_vec(&body) {
            Ok(bytes) => Api::<DynamicObject>::namespaced_with(ctx.shared.client.clone(), &ns, &ar)
                .replace_scale(&target.name, &PostParams::default(), bytes)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = written {
            sync.warn(
                "FailedRescale",
                format!("New size: {desired}; reason: {rescale_reason}; error: {e}"),
            );
            sync.set(
                ABLE_TO_SCALE,
                false,
                "FailedUpdateScale",
                format!("the HPA controller was unable to update the target scale: {e}"),
            );
            let status = HorizontalPodAutoscalerStatus {
                current_replicas: Some(current),
                current_metrics: Some(statuses).filter(|s| !s.is_empty()),
                conditions: Some(sync.conditions.clone()),
                ..old_status.clone()
            };
            write_status(hpa, hpas, ctx, status, &sync).await?;
            return Ok(());
        }
        sync.set(
            ABLE_TO_SCALE,
            true,
            "SucceededRescale",
            format!("the HPA controller was able to update the target scale to {desired}"),
        );
        ctx.events
            .object(
                hpa,
                EventType::Normal,
                "SuccessfulRescale",
                &format!("New size: {desired}; reason: {rescale_reason}"),
            )
            .await;
        let b = Behavior::from_spec(spec.behavior.as_ref());
        with_state(ctx, &hkey, |s| {
            s.history.record_scale(&b, current, desired, sync.now)
        });
        tracing::info!(
            hpa = hkey,
            reference,
            from = current,
            to = desired,
            reason = rescale_reason,
            "rescaled"
        );
    }
    let status = HorizontalPodAutoscalerStatus {
        observed_generation: hpa.metadata.generation,
        current_replicas: Some(current),
        desired_replicas: desired,
        last_scale_time: if rescale {
            Some(Time(sync.now))
        } else {
            old_status.last_scale_time.clone()
        },
        current_metrics: Some(statuses).filter(|s| !s.is_empty()),
        conditions: Some(sync.conditions.clone()),
    };
    write_status(hpa, hpas, ctx, status, &sync).await
}

fn with_state<T>(ctx: &Ctx, key: &str, f: impl FnOnce(&mut State) -> T) -> Option<T> {
    let mut states = ctx.states.lock().ok()?;
    Some(f(states.entry(key.to_string()).or_default()))
}

/// Posts the sync's warnings (each once while it repeats) and writes the status if it changed.
async fn write_status(
    hpa: &HorizontalPodAutoscaler,
    hpas: &Api<HorizontalPodAutoscaler>,
    ctx: &Ctx,
    mut status: HorizontalPodAutoscalerStatus,
    sync: &Sync,
) -> Result<(), ReconcileError> {
    let hkey = key(hpa);
    let previous = with_state(ctx, &hkey, |s| {
        std::mem::replace(&mut s.last_warnings, sync.warnings.clone())
    })
    .unwrap_or_default();
    for (reason, message) in &sync.warnings {
        if !previous.contains(&(reason.clone(), message.clone())) {
            ctx.events
                .object(hpa, EventType::Warning, reason, message)
                .await;
        }
    }
    if status.observed_generation.is_none() {
        status.observed_generation = hpa.metadata.generation;
    }
    if hpa.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let mut updated = hpa.clone();
    updated.status = Some(status);
    let body = serde_json::to_vec(&updated).map_err(|e| ReconcileError::Invalid(e.to_string()))?;
    match hpas
        .replace_status(&hpa.name_any(), &PostParams::default(), body)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The metrics' verdict: the largest proposal and the metric behind it, or none with the
/// first error.
struct Proposal {
    replicas: Option<(i32, String)>,
    statuses: Vec<MetricStatus>,
    error: String,
}

async fn compute(
    specs: &[MetricSpec],
    current: i32,
    selector: &str,
    ns: &str,
    ctx: &Ctx,
    sync: &mut Sync,
) -> Proposal {
    let mut statuses: Vec<MetricStatus> = Vec::new();
    if selector.is_empty() {
        sync.warn("SelectorRequired", "selector is required");
        sync.set(
            SCALING_ACTIVE,
            false,
            "InvalidSelector",
            "the HPA target's scale is missing a selector",
        );
        return Proposal {
            replicas: None,
            statuses,
            error: "selector is required".into(),
        };
    }
    let mut pods_cache: Option<Result<Vec<Pod>, String>> = None;
    let mut best: Option<(i32, String)> = None;
    let mut invalid = 0usize;
    let mut first: Option<(String, String, String)> = None;
    for spec in specs {
        let result = match spec.type_.as_str() {
            "Resource" | "ContainerResource" => {
                resource_metric(spec, current, selector, ns, ctx, &mut pods_cache, sync).await
            }
            // Served by the custom and external metrics APIs, which kapi does not have.
            "Pods" => {
                let name = spec.pods.as_ref().map(|p| p.metric.name.as_str());
                let err = format!("unable to get metric {}: unable to fetch metrics from custom metrics API: the server could not find the requested resource", name.unwrap_or_default());
                Err(sync.unavailable_metric("FailedGetPodsMetric", "pods metric value", err))
            }
            "Object" => {
                let name = spec.object.as_ref().map(|o| o.metric.name.as_str());
                let err = format!("unable to get metric {}: unable to fetch metrics from custom metrics API: the server could not find the requested resource", name.unwrap_or_default());
                Err(sync.unavailable_metric("FailedGetObjectMetric", "object metric value", err))
            }
            "External" => {
                let name = spec.external.as_ref().map(|e| e.metric.name.as_str());
                let err = format!("unable to get external metric {ns}/{}: unable to fetch metrics from external metrics API: the server could not find the requested resource", name.unwrap_or_default());
                Err(sync.unavailable_metric(
                    "FailedGetExternalMetric",
                    "external metric value",
                    err,
                ))
            }
            other => {
                let err = format!("unknown metric source type {other:?}");
                Err((
                    "InvalidMetricSourceType".to_string(),
                    format!("the HPA was unable to compute the replica count: {err}"),
                    err,
                ))
            }
        };
        match result {
            Ok((replicas, name, status)) => {
                statuses.push(status);
                if best.as_ref().is_none_or(|(r, _)| replicas > *r) {
                    best = Some((replicas, name));
                }
            }
            Err((reason, message, err)) => {
                // Upstream leaves a failed metric's slot empty, keeping statuses aligned
                // with specs (printers pair them by position).
                statuses.push(MetricStatus::default());
                if first.is_none() {
                    first = Some((reason, message, err));
                }
                invalid += 1;
            }
        }
    }
    let error = first.as_ref().map(|(_, _, e)| {
        format!(
            "invalid metrics ({invalid} invalid out of {}), first error is: {e}",
            specs.len()
        )
    });
    let scaling_down = best.as_ref().is_some_and(|(r, _)| *r < current);
    if invalid >= specs.len() || (invalid > 0 && scaling_down) {
        if let Some((reason, message, _)) = &first {
            sync.set(SCALING_ACTIVE, false, reason, message.clone());
        }
        return Proposal {
            replicas: None,
            statuses,
            error: error.unwrap_or_else(|| "no metrics to compute a replica count from".into()),
        };
    }
    let (replicas, name) = best.unwrap_or((current, String::new()));
    sync.set(
        SCALING_ACTIVE,
        true,
        "ValidMetricFound",
        format!("the HPA was able to successfully calculate a replica count from {name}"),
    );
    Proposal {
        replicas: Some((replicas, name)),
        statuses,
        error: error.unwrap_or_default(),
    }
}

type MetricResult = Result<(i32, String, MetricStatus), (String, String, String)>;

/// A Resource or ContainerResource metric: (proposal, metric name, status), or (condition
/// reason, condition message, error).
async fn resource_metric(
    spec: &MetricSpec,
    current: i32,
    selector: &str,
    ns: &str,
    ctx: &Ctx,
    pods_cache: &mut Option<Result<Vec<Pod>, String>>,
    sync: &mut Sync,
) -> MetricResult {
    let (resource, container, target, reason, wrap) =
        match (&spec.resource, &spec.container_resource) {
            (Some(r), _) if spec.type_ == "Resource" => (
                r.name.clone(),
                None,
                r.target.clone(),
                "FailedGetResourceMetric",
                format!("failed to get {} resource metric value", r.name),
            ),
            (_, Some(c)) => (
                c.name.clone(),
                Some(c.container.clone()),
                c.target.clone(),
                "FailedGetContainerResourceMetric",
                format!("failed to get {} container metric value", c.container),
            ),
            _ => {
                let err = format!("unknown metric source type {:?}", spec.type_);
                return Err((
                    "InvalidMetricSourceType".into(),
                    format!("the HPA was unable to compute the replica count: {err}"),
                    err,
                ));
            }
        };
    let fail = |sync: &mut Sync, err: String| {
        let (reason, message) = sync.unable_to_compute(reason, &err);
        Err((reason, message, format!("{wrap}: {err}")))
    };
    let utilization = target.average_value.is_none();
    if utilization && target.average_utilization.is_none() {
        return fail(sync, "invalid resource metric source: neither an average utilization target nor an average value (usage) target was set".into());
    }
    let what = if utilization { "utilization" } else { "usage" };
    let inner = |e: String| format!("failed to get {resource} {what}: {e}");

    // Metrics first, then pods, as upstream's calculator asks them.
    let metrics_api = Api::<DynamicObject>::namespaced_with(
        ctx.shared.client.clone(),
        ns,
        &pod_metrics_resource(),
    );
    let list = match metrics_api
        .list(&ListParams::default().labels(selector))
        .await
    {
        Ok(list) => list,
        Err(e) => {
            return fail(sync, inner(format!("unable to get metrics for resource {resource}: unable to fetch metrics from resource metrics API: {e}")));
        }
    };
    if list.items.is_empty() {
        return fail(sync, inner(format!("unable to get metrics for resource {resource}: no metrics returned from resource metrics API")));
    }
    let list = serde_json::to_value(&list).unwrap_or_default();
    let samples = metrics::samples(&list, &resource, container.as_deref());
    if pods_cache.is_none() {
        let pods = Api::<Pod>::namespaced(ctx.shared.client.clone(), ns)
            .list(&ListParams::default().labels(selector))
            .await
            .map(|l| l.items)
            .map_err(|e| e.to_string());
        *pods_cache = Some(pods);
    }
    let pods = match pods_cache.as_ref() {
        Some(Ok(pods)) => pods,
        Some(Err(e)) => {
            return fail(
                sync,
                inner(format!(
                    "unable to get pods while calculating replica count: {e}"
                )),
            )
        }
        None => {
            return fail(
                sync,
                inner("unable to get pods while calculating replica count".into()),
            )
        }
    };
    let infos: Vec<PodInfo> = pods
        .iter()
        .map(|p| pod_info(p, &resource, container.as_deref()))
        .collect();
    if utilization {
        let goal = target.average_utilization.unwrap_or(0);
        match replicas::utilization_replicas(current, goal, &resource, &infos, &samples, sync.now) {
            Ok(u) => {
                let name = if container.is_some() {
                    format!("{resource} container resource utilization (percentage of request)")
                } else {
                    format!("{resource} resource utilization (percentage of request)")
                };
                let value = MetricValueStatus {
                    average_utilization: Some(u.percent),
                    average_value: Some(milli_quantity(u.average)),
                    value: None,
                };
                Ok((
                    u.replicas,
                    name,
                    metric_status(spec, &resource, container, value),
                ))
            }
            Err(e) => fail(sync, inner(e.to_string())),
        }
    } else {
        let goal = target
            .average_value
            .as_ref()
            .and_then(|q| kapi_api::quantity::parse_milli(&q.0))
            .and_then(|m| i64::try_from(m).ok())
            .unwrap_or(0);
        match replicas::average_value_replicas(current, goal, &resource, &infos, &samples, sync.now)
        {
            Ok((replicas, average)) => {
                let name = if container.is_some() {
                    format!("{resource} container resource")
                } else {
                    format!("{resource} resource")
                };
                let value = MetricValueStatus {
                    average_value: Some(milli_quantity(average)),
                    ..Default::default()
                };
                Ok((
                    replicas,
                    name,
                    metric_status(spec, &resource, container, value),
                ))
            }
            Err(e) => fail(sync, inner(e.to_string())),
        }
    }
}

fn metric_status(
    spec: &MetricSpec,
    resource: &str,
    container: Option<String>,
    current: MetricValueStatus,
) -> MetricStatus {
    match container {
        Some(container) => MetricStatus {
            type_: spec.type_.clone(),
            container_resource: Some(ContainerResourceMetricStatus {
                container,
                name: resource.to_string(),
                current,
            }),
            ..Default::default()
        },
        None => MetricStatus {
            type_: spec.type_.clone(),
            resource: Some(ResourceMetricStatus {
                name: resource.to_string(),
                current,
            }),
            ..Default::default()
        },
    }
}

/// What the calculator needs of a pod: phase, readiness, start, and each counted container's
/// request for `resource` (regular containers and restartable init containers, as upstream).
fn pod_info(pod: &Pod, resource: &str, only: Option<&str>) -> PodInfo {
    let status = pod.status.clone().unwrap_or_default();
    let readiness = status
        .conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| Readiness {
            ready: c.status == "True",
            since: c
                .last_transition_time
                .as_ref()
                .map_or(DateTime::<Utc>::MIN_UTC, |t| t.0),
        });
    let spec = pod.spec.clone().unwrap_or_default();
    let sidecars = spec
        .init_containers
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let requests = spec
        .containers
        .into_iter()
        .chain(sidecars)
        .filter(|c| only.is_none_or(|name| c.name == name))
        .map(|c| {
            let request = c
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get(resource))
                .and_then(|q| kapi_api::quantity::parse_milli(&q.0))
                .and_then(|m| i64::try_from(m).ok());
            (c.name, request)
        })
        .collect();
    PodInfo {
        name: pod.name_any(),
        phase: status.phase.unwrap_or_default(),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        readiness,
        start_time: status.start_time.map(|t| t.0),
        requests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_print_as_upstreams_decimal_si() {
        assert_eq!(milli_quantity(250).0, "250m");
        assert_eq!(milli_quantity(1500).0, "1500m");
        assert_eq!(milli_quantity(2000).0, "2");
        assert_eq!(milli_quantity(0).0, "0");
        assert_eq!(milli_quantity(10_485_760_000).0, "10485760");
        assert_eq!(milli_quantity(3_000_000_000).0, "3M");
    }

    #[test]
    fn only_upstreams_scalable_kinds_have_a_scale() {
        assert_eq!(
            target_resource("apps/v1", "Deployment").unwrap().plural,
            "deployments"
        );
        assert_eq!(
            target_resource("v1", "ReplicationController")
                .unwrap()
                .group,
            ""
        );
        assert!(target_resource("apps/v1", "DaemonSet").is_none());
    }
}

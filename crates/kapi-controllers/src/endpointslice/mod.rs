//! The EndpointSlice controller: every Service with a selector gets EndpointSlices listing the
//! pods it selects, with their readiness, as kube-controller-manager's controller writes them
//! ([`desired`] says what they hold). The service proxy, cluster DNS and `kubectl` read them.
//!
//! It works level-triggered over three watch caches (Services, pods, and the slices it
//! manages): any change wakes one pass that compares every selected Service's wanted slices
//! with the stored ones and writes only the differences. A pod relabelled out of a Service is
//! therefore dropped without remembering old labels, and a restart resumes from what is
//! stored. Creates are idempotent because slice names are derived, not generated.

pub mod desired;
pub mod endpoints;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::Api;
use tokio::sync::Notify;

use crate::shared::{is_namespace_terminating, is_status, Context, Task};
use desired::{MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL};

/// Changes arriving within this window are handled in one pass.
const BATCH: Duration = Duration::from_millis(50);
/// How long to wait before retrying after a failed write.
const RETRY: Duration = Duration::from_secs(1);

/// Keeps the slices of every selected Service in step with its pods.
pub fn run(ctx: Arc<Context>) -> Task {
    Box::pin(sync_forever(ctx.client.clone()))
}

/// The endpoints controller: the core/v1 Endpoints of every selected Service, by the same
/// level-triggered passes over their own caches.
pub fn run_endpoints(ctx: Arc<Context>) -> Task {
    Box::pin(sync_endpoints_forever(ctx.client.clone()))
}

/// Upstream's annotation on Endpoints used as leader-election locks: never collected.
const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";

async fn sync_endpoints_forever(client: kube::Client) {
    let changed = Arc::new(Notify::new());
    let services: Store<Service> =
        kapi_node::reflect::spawn(Api::all(client.clone()), changed.clone(), trim_service);
    let pods: Store<Pod> =
        kapi_node::reflect::spawn(Api::all(client.clone()), changed.clone(), trim_pod);
    let stored: Store<Endpoints> =
        kapi_node::reflect::spawn(Api::all(client.clone()), changed.clone(), |e| {
            e.metadata.managed_fields = None;
        });
    for store_ready in [
        services.wait_until_ready().await.is_ok(),
        pods.wait_until_ready().await.is_ok(),
        stored.wait_until_ready().await.is_ok(),
    ] {
        if !store_ready {
            return;
        }
    }
    loop {
        changed.notified().await;
        tokio::time::sleep(BATCH).await;
        if !sync_endpoints_once(&client, &services.state(), &pods.state(), &stored.state()).await {
            let again = changed.clone();
            tokio::spawn(async move {
                tokio::time::sleep(RETRY).await;
                again.notify_one();
            });
        }
    }
}

/// One pass: Endpoints for every selected Service, and none left for Services that are gone.
async fn sync_endpoints_once(
    client: &kube::Client,
    services: &[Arc<Service>],
    pods: &[Arc<Pod>],
    stored: &[Arc<Endpoints>],
) -> bool {
    let mut pods_by_ns: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for pod in pods {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        pods_by_ns.entry(ns).or_default().push(pod);
    }
    let key = |m: &kube::api::ObjectMeta| {
        (
            m.namespace.clone().unwrap_or_default(),
            m.name.clone().unwrap_or_default(),
        )
    };
    let have: HashMap<(String, String), &Endpoints> = stored
        .iter()
        .map(|e| (key(&e.metadata), e.as_ref()))
        .collect();
    let mut ok = true;
    let mut seen = HashSet::new();
    for svc in services {
        let k = key(&svc.metadata);
        seen.insert(k.clone());
        if !desired::is_managed(svc) {
            continue;
        }
        let in_ns = pods_by_ns
            .get(k.0.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let want = endpoints::endpoints(svc, in_ns);
        let api = Api::<Endpoints>::namespaced(client.clone(), &k.0);
        let result = match have.get(&k) {
            Some(current) if endpoints::same(current, &want) => continue,
            Some(current) => {
                let mut next = want;
                next.metadata.resource_version = current.metadata.resource_version.clone();
                next.metadata.annotations = current.metadata.annotations.clone();
                api.replace(&k.1, &PostParams::default(), &next)
                    .await
                    .map(|_| ())
            }
            None => api.create(&PostParams::default(), &want).await.map(|_| ()),
        };
        ok &= settled(result, &k.0, &k.1, "write Endpoints");
    }
    for (k, e) in &have {
        let lock = e
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(LEADER_ANNOTATION));
        if seen.contains(k) || lock {
            continue;
        }
        let api = Api::<Endpoints>::namespaced(client.clone(), &k.0);
        let result = api.delete(&k.1, &DeleteParams::default()).await.map(|_| ());
        ok &= settled(result, &k.0, &k.1, "delete Endpoints");
    }
    ok
}

async fn sync_forever(client: kube::Client) {
    let changed = Arc::new(Notify::new());
    let services: Store<Service> =
        kapi_node::reflect::spawn(Api::all(client.clone()), changed.clone(), trim_service);
    let pods: Store<Pod> =
        kapi_node::reflect::spawn(Api::all(client.clone()), changed.clone(), trim_pod);
    let managed = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    let slices: Store<EndpointSlice> = kapi_node::reflect::spawn_selected(
        Api::all(client.clone()),
        managed,
        changed.clone(),
        |s| s.metadata.managed_fields = None,
    );
    for store_ready in [
        services.wait_until_ready().await.is_ok(),
        pods.wait_until_ready().await.is_ok(),
        slices.wait_until_ready().await.is_ok(),
    ] {
        if !store_ready {
            return;
        }
    }
    loop {
        changed.notified().await;
        tokio::time::sleep(BATCH).await;
        if !sync_once(&client, &services.state(), &pods.state(), &slices.state()).await {
            let again = changed.clone();
            tokio::spawn(async move {
                tokio::time::sleep(RETRY).await;
                again.notify_one();
            });
        }
    }
}

/// One pass over every Service; false when a write failed and the pass should be repeated.
async fn sync_once(
    client: &kube::Client,
    services: &[Arc<Service>],
    pods: &[Arc<Pod>],
    slices: &[Arc<EndpointSlice>],
) -> bool {
    let mut pods_by_ns: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for pod in pods {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        pods_by_ns.entry(ns).or_default().push(pod);
    }
    let mut have: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
    for slice in slices {
        let ns = slice.metadata.namespace.as_deref().unwrap_or_default();
        let svc = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
            .map(String::as_str)
            .unwrap_or_default();
        have.entry((ns, svc)).or_default().push(slice);
    }
    let mut ok = true;
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for svc in services {
        let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        seen.insert((ns, name));
        let want = if desired::is_managed(svc) {
            let in_ns = pods_by_ns.get(ns).map(Vec::as_slice).unwrap_or_default();
            desired::slices(svc, in_ns)
        } else {
            // A selector removed (or the Service turned ExternalName): its slices go, as
            // upstream's controller removes them.
            BTreeMap::new()
        };
        let existing = have.get(&(ns, name)).map(Vec::as_slice).unwrap_or_default();
        ok &= write(client, ns, &want, existing).await;
    }
    // Slices whose Service is gone (the garbage collector would take them too, by owner).
    for ((ns, svc), existing) in &have {
        if !seen.contains(&(*ns, *svc)) {
            ok &= write(client, ns, &BTreeMap::new(), existing).await;
        }
    }
    ok
}

/// Brings one Service's stored slices to `want`; false if a write failed for a reason other
/// than a stale cache.
async fn write(
    client: &kube::Client,
    ns: &str,
    want: &BTreeMap<String, EndpointSlice>,
    existing: &[&EndpointSlice],
) -> bool {
    let api = Api::<EndpointSlice>::namespaced(client.clone(), ns);
    let mut ok = true;
    let by_name: HashMap<&str, &EndpointSlice> = existing
        .iter()
        .map(|s| (s.metadata.name.as_deref().unwrap_or_default(), *s))
        .collect();
    for (name, slice) in want {
        let result = match by_name.get(name.as_str()) {
            Some(have) if desired::same(have, slice) => continue,
            Some(have) => {
                let mut updated = slice.clone();
                updated.metadata.resource_version = have.metadata.resource_version.clone();
                updated.metadata.annotations = have.metadata.annotations.clone();
                api.replace(name, &PostParams::default(), &updated)
                    .await
                    .map(|_| ())
            }
            None => api.create(&PostParams::default(), slice).await.map(|_| ()),
        };
        ok &= settled(result, ns, name, "write EndpointSlice");
    }
    for (name, _) in by_name.iter().filter(|(n, _)| !want.contains_key(**n)) {
        let result = api.delete(name, &DeleteParams::default()).await.map(|_| ());
        ok &= settled(result, ns, name, "delete EndpointSlice");
    }
    ok
}

/// Whether a write's outcome needs no retry: done, or refused only because our cache was
/// behind (409, 404: the watch brings the newer state and another pass) or the namespace is
/// going away.
fn settled(result: Result<(), kube::Error>, ns: &str, name: &str, what: &str) -> bool {
    match result {
        Ok(()) => true,
        Err(e) if is_status(&e, 409) || is_status(&e, 404) || is_namespace_terminating(&e) => {
            tracing::debug!(namespace = ns, name, error = %e, "{what}: cache was behind");
            true
        }
        Err(e) => {
            tracing::warn!(namespace = ns, slice = name, error = %e, "could not {what} EndpointSlice");
            false
        }
    }
}

/// Keeps what the slices are computed from.
fn trim_service(svc: &mut Service) {
    svc.metadata.managed_fields = None;
    svc.metadata.annotations = None;
    svc.status = None;
}

/// Keeps what an endpoint is computed from: labels, addresses, readiness, placement, hostname
/// and container ports.
fn trim_pod(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    pod.metadata.annotations = None;
    pod.metadata.owner_references = None;
    if let Some(spec) = pod.spec.as_mut() {
        spec.volumes = None;
        spec.init_containers = None;
        spec.tolerations = None;
        spec.affinity = None;
        for c in &mut spec.containers {
            c.command = None;
            c.args = None;
            c.env = None;
            c.env_from = None;
            c.volume_mounts = None;
            c.liveness_probe = None;
            c.readiness_probe = None;
            c.startup_probe = None;
            c.resources = None;
        }
    }
    if let Some(status) = pod.status.as_mut() {
        status.container_statuses = None;
        status.init_container_statuses = None;
    }
}

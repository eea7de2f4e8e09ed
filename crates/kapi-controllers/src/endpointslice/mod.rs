//! The EndpointSlice controller: every Service with a selector gets EndpointSlices listing the
//! pods it selects, with their readiness, as kube-controller-manager's controller writes them
//! ([`desired`] says what they hold). The service proxy, cluster DNS and `kubectl` read them.
//!
//! It works per Service, as upstream's controller does ([`queued`]): a pod change queues the
//! Services whose selector matched the pod before or after it ([`triggers`]), a Service or
//! slice change queues that Service, and a sync of one Service compares its wanted slices with
//! the cached ones and writes only the differences. A relist queues every Service, so a restart
//! or a broken watch resumes from what is stored. Creates are idempotent because slice names
//! are derived, not generated.

pub mod desired;
pub mod endpoints;
mod queued;
pub mod triggers;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::Api;

use crate::shared::{is_namespace_terminating, is_status, Context, Task};
use desired::{MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL};
use queued::Caches;

/// Keeps the slices of every selected Service in step with its pods.
pub fn run(ctx: Arc<Context>) -> Task {
    Box::pin(sync_forever(ctx.client.clone()))
}

/// The endpoints controller: the core/v1 Endpoints of every selected Service, by the same
/// per-Service syncs over its own caches.
pub fn run_endpoints(ctx: Arc<Context>) -> Task {
    Box::pin(sync_endpoints_forever(ctx.client.clone()))
}

/// Upstream's annotation on Endpoints used as leader-election locks: never collected.
const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";

async fn sync_endpoints_forever(client: kube::Client) {
    let trim_own: fn(&mut Endpoints) = |e| e.metadata.managed_fields = None;
    let sync = |caches: Arc<Caches<Endpoints>>, ns: String, name: String| {
        let client = client.clone();
        async move { sync_endpoints(&client, &caches, &ns, &name).await }
    };
    queued::run(
        client.clone(),
        watcher::Config::default(),
        trim_own,
        |e| Some(triggers::key_of(&e.metadata)),
        sync,
    )
    .await;
}

/// The Endpoints of one Service; an Endpoints whose Service is gone is deleted, unless it is
/// a leader-election lock.
async fn sync_endpoints(
    client: &kube::Client,
    caches: &Caches<Endpoints>,
    ns: &str,
    name: &str,
) -> bool {
    let api = Api::<Endpoints>::namespaced(client.clone(), ns);
    let current = caches.own.get(&ObjectRef::new(name).within(ns));
    let Some(svc) = caches.service(ns, name) else {
        let Some(current) = current else { return true };
        let lock = current
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(LEADER_ANNOTATION));
        if lock {
            return true;
        }
        let result = api.delete(name, &DeleteParams::default()).await.map(|_| ());
        return settled(result, ns, name, "delete Endpoints");
    };
    if !desired::is_managed(&svc) {
        return true;
    }
    let pods = caches.pods_in(ns);
    let in_ns: Vec<&Pod> = pods.iter().map(AsRef::as_ref).collect();
    let want = endpoints::endpoints(&svc, &in_ns);
    let result = match current {
        Some(current) if endpoints::same(&current, &want) => return true,
        Some(current) => {
            let mut next = want;
            next.metadata.resource_version = current.metadata.resource_version.clone();
            next.metadata.annotations = current.metadata.annotations.clone();
            api.replace(name, &PostParams::default(), &next)
                .await
                .map(|_| ())
        }
        None => api.create(&PostParams::default(), &want).await.map(|_| ()),
    };
    settled(result, ns, name, "write Endpoints")
}

async fn sync_forever(client: kube::Client) {
    let managed = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    let trim_own: fn(&mut EndpointSlice) = |s| s.metadata.managed_fields = None;
    let sync = |caches: Arc<Caches<EndpointSlice>>, ns: String, name: String| {
        let client = client.clone();
        async move { sync_slices(&client, &caches, &ns, &name).await }
    };
    queued::run(
        client.clone(),
        managed,
        trim_own,
        |s| triggers::owner_of_slice(&s.metadata),
        sync,
    )
    .await;
}

/// The slices of one Service: none when it is gone or no longer selects (as upstream's
/// controller removes them; the garbage collector would take them too, by owner).
async fn sync_slices(
    client: &kube::Client,
    caches: &Caches<EndpointSlice>,
    ns: &str,
    name: &str,
) -> bool {
    let want = match caches.service(ns, name) {
        Some(svc) if desired::is_managed(&svc) => {
            let pods = caches.pods_in(ns);
            let in_ns: Vec<&Pod> = pods.iter().map(AsRef::as_ref).collect();
            desired::slices(&svc, &in_ns)
        }
        _ => BTreeMap::new(),
    };
    let existing: Vec<Arc<EndpointSlice>> = caches
        .own
        .state()
        .into_iter()
        .filter(|s| {
            s.metadata.namespace.as_deref() == Some(ns)
                && s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(SERVICE_NAME_LABEL))
                    .map(String::as_str)
                    == Some(name)
        })
        .collect();
    let existing: Vec<&EndpointSlice> = existing.iter().map(AsRef::as_ref).collect();
    write(client, ns, &want, &existing).await
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

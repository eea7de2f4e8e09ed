//! What the EndpointSlice and Endpoints controllers share: watch caches of Services, pods and
//! the objects the controller writes, whose changes queue the keys of the Services they
//! concern ([`super::triggers`]), and a few workers syncing one Service at a time from the
//! caches. A pod change therefore costs the Services that select it, not every Service.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use kapi_node::reflect::{spawn_with, Change};
use kapi_node::workqueue::WorkQueue;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::Api;

use super::triggers;

/// Services synced at once; each is one Service's writes, done in order.
const WORKERS: usize = 4;
/// How long to wait before retrying a Service after a failed write.
const RETRY: Duration = Duration::from_secs(1);
/// The key that stands for "every Service": queued when a cache was (re)listed, when
/// deletions may have been missed.
const ALL: &str = "";

/// The caches a sync reads.
pub struct Caches<T: kube::Resource<DynamicType = ()> + Clone + 'static> {
    pub services: Store<Service>,
    pub pods: Store<Pod>,
    /// The objects the controller writes (slices, or Endpoints).
    pub own: Store<T>,
}

impl<T: kube::Resource<DynamicType = ()> + Clone + 'static> Caches<T> {
    /// The Service `ns/name`, if it still exists.
    pub fn service(&self, ns: &str, name: &str) -> Option<Arc<Service>> {
        self.services.get(&ObjectRef::new(name).within(ns))
    }

    /// The pods of namespace `ns`.
    pub fn pods_in(&self, ns: &str) -> Vec<Arc<Pod>> {
        self.pods
            .state()
            .into_iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
            .collect()
    }
}

/// Watches, then syncs Services as their keys are queued; `trim` drops what the syncs never
/// read of the controller's own objects, `owner` gives the Service key of
/// one of the controller's own objects. `sync(ns, name)` returns false when it should be
/// retried.
pub async fn run<T, S, F>(
    client: kube::Client,
    own_config: watcher::Config,
    trim: fn(&mut T),
    owner: fn(&T) -> Option<String>,
    sync: S,
) where
    T: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    S: Fn(Arc<Caches<T>>, String, String) -> F,
    F: Future<Output = bool>,
{
    let queue: Arc<WorkQueue<()>> = Arc::default();
    let own = spawn_with(Api::<T>::all(client.clone()), own_config, trim, {
        let queue = queue.clone();
        move |change: Change<'_, T>| match change {
            Change::Applied { new: o, .. } | Change::Deleted(o) => {
                if let Some(k) = owner(o) {
                    queue.push(k, ());
                }
            }
            Change::Relisted => queue.push(ALL.into(), ()),
        }
    });
    let services = spawn_with(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
        super::trim_service,
        {
            let queue = queue.clone();
            move |change: Change<'_, Service>| match change {
                Change::Applied { new: s, .. } | Change::Deleted(s) => {
                    queue.push(triggers::key_of(&s.metadata), ())
                }
                Change::Relisted => queue.push(ALL.into(), ()),
            }
        },
    );
    let pods = spawn_with(
        Api::<Pod>::all(client.clone()),
        watcher::Config::default(),
        super::trim_pod,
        {
            let (queue, services) = (queue.clone(), services.clone());
            move |change: Change<'_, Pod>| {
                let (old, new) = match &change {
                    Change::Applied { old, new } => (old.as_deref(), Some(*new)),
                    Change::Deleted(p) => (Some(*p), None),
                    Change::Relisted => return queue.push(ALL.into(), ()),
                };
                if let (Some(o), Some(n)) = (old, new) {
                    if !triggers::pod_changed(o, n) {
                        return;
                    }
                }
                for k in triggers::services_for_pod(&services.state(), old, new) {
                    queue.push(k, ());
                }
            }
        },
    );
    for ready in [
        services.wait_until_ready().await.is_ok(),
        pods.wait_until_ready().await.is_ok(),
        own.wait_until_ready().await.is_ok(),
    ] {
        if !ready {
            return;
        }
    }
    let caches = Arc::new(Caches {
        services,
        pods,
        own,
    });
    let worker = || async {
        loop {
            let (key, ()) = queue.pop().await;
            let ok = if key == ALL {
                for s in caches.services.state() {
                    queue.push(triggers::key_of(&s.metadata), ());
                }
                for o in caches.own.state() {
                    if let Some(k) = owner(&o) {
                        queue.push(k, ());
                    }
                }
                true
            } else {
                let (ns, name) = key.split_once('/').unwrap_or_default();
                sync(caches.clone(), ns.to_string(), name.to_string()).await
            };
            queue.done(&key);
            if !ok {
                let queue = queue.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(RETRY).await;
                    queue.push_if_absent(key, ());
                });
            }
        }
    };
    futures_util::future::join_all((0..WORKERS).map(|_| worker())).await;
}

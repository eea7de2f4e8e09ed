//! A cache of one resource kept by a watch (kube-runtime's reflector), waking a `Notify` on
//! every change (deletions included: a Service that goes must take its rules with it) and once
//! when the first list has arrived: what the service proxy, the scheduler and the EndpointSlice
//! controller recompute from.
//!
//! Only one task may wait on a cache's `wait_until_ready`: kube-runtime's readiness signal
//! wakes a single waiter (its receiver keeps one waker), so a second concurrent waiter would
//! sleep forever. This module therefore signals readiness through the `Notify` instead.

use std::sync::Arc;

use futures_util::StreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use tokio::sync::Notify;

/// Starts the watch; `trim` drops what the caller never reads before it is cached.
pub fn spawn<K>(api: Api<K>, changed: Arc<Notify>, trim: fn(&mut K)) -> Store<K>
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    spawn_selected(api, watcher::Config::default(), changed, trim)
}

/// As [`spawn`], for the objects `config` selects (e.g. by label).
pub fn spawn_selected<K>(
    api: Api<K>,
    config: watcher::Config,
    changed: Arc<Notify>,
    trim: fn(&mut K),
) -> Store<K>
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config).modify(trim)).default_backoff();
    tokio::spawn(async move {
        let mut stream = stream.boxed();
        while let Some(event) = stream.next().await {
            match event {
                // The first list wakes once, when complete (so an empty one wakes too).
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                Ok(_) => changed.notify_one(),
                // The watcher retries with backoff; say why.
                Err(e) => tracing::warn!(
                    resource = std::any::type_name::<K>(),
                    error = %e,
                    "watch failed; retrying"
                ),
            }
        }
    });
    reader
}

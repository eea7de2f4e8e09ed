//! A cache of one resource kept by a watch (kube-runtime's reflector), waking a `Notify` on
//! every change (deletions included: a Service that goes must take its rules with it) and once
//! when the first list has arrived: what the service proxy, the scheduler and the EndpointSlice
//! controller recompute from.
//!
//! Only one task may wait on a cache's `wait_until_ready`: kube-runtime's readiness signal
//! wakes a single waiter (its receiver keeps one waker), so a second concurrent waiter would
//! sleep forever. This module therefore signals readiness through the `Notify` instead.

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
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

/// What a watched object did, told after the cache has applied it (so a worker woken by it
/// reads the new state).
pub enum Change<'a, K> {
    /// Added or modified.
    Applied {
        /// The cached version it replaced, if any.
        old: Option<Arc<K>>,
        /// The version now cached.
        new: &'a K,
    },
    /// Deleted (its last known state).
    Deleted(&'a K),
    /// The whole list was (re)read, on start or after a broken watch: deletions may have been
    /// missed, so every key should be looked at again.
    Relisted,
}

/// As [`spawn_selected`], calling `on_change` for every object change instead of waking a
/// `Notify`: what per-key controllers queue their work from. The returned cache is ready before
/// the first [`Change::Relisted`].
pub fn spawn_with<K, F>(
    api: Api<K>,
    config: watcher::Config,
    trim: fn(&mut K),
    on_change: F,
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
    F: Fn(Change<'_, K>) + Send + 'static,
{
    let (reader, writer) = reflector::store();
    // The cached version an applied object replaces, read before the reflector overwrites it;
    // the stream is polled one event at a time, so the slot holds the current event's.
    let replaced: Arc<std::sync::Mutex<Option<Arc<K>>>> = Arc::default();
    let before = {
        let (reader, replaced) = (reader.clone(), replaced.clone());
        move |event: &watcher::Event<K>| {
            if let watcher::Event::Apply(obj) = event {
                let old = reader.get(&reflector::ObjectRef::from_obj(obj));
                *replaced.lock().unwrap_or_else(|e| e.into_inner()) = old;
            }
        }
    };
    let stream = reflector::reflector(writer, watcher(api, config).modify(trim).inspect_ok(before))
        .default_backoff();
    tokio::spawn(async move {
        let mut stream = stream.boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(obj)) => {
                    let old = replaced.lock().unwrap_or_else(|e| e.into_inner()).take();
                    on_change(Change::Applied { old, new: &obj });
                }
                Ok(watcher::Event::Delete(obj)) => on_change(Change::Deleted(&obj)),
                Ok(watcher::Event::InitDone) => on_change(Change::Relisted),
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
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

//! A cache of one resource kept by a watch (kube-runtime's reflector), waking a `Notify` on
//! every change and once when the first list has arrived: what the service proxy and the
//! scheduler recompute from.

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
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default()).modify(trim),
    )
    .default_backoff()
    .applied_objects();
    let on_change = changed.clone();
    tokio::spawn(async move {
        let mut stream = stream.boxed();
        while let Some(item) = stream.next().await {
            if item.is_ok() {
                on_change.notify_one();
            }
        }
    });
    let ready = reader.clone();
    let notify = changed;
    tokio::spawn(async move {
        let _ = ready.wait_until_ready().await;
        notify.notify_one();
    });
    reader
}

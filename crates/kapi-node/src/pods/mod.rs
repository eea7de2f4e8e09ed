//! The pods bound to this node: a watch on them (field selector `spec.nodeName`), one worker
//! per pod, and the clean-up of sandboxes whose pods are gone. After a restart the workers find
//! the pods' sandboxes and containers by their labels and adopt them.

mod atomic_writer;
mod backoff;
pub mod cri_config;
pub mod dns;
mod env;
mod etc_hosts;
mod images;
mod probes;
mod qos;
pub mod status;
mod volumes;
mod worker;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use kube::Api;
use tokio::sync::mpsc;

use crate::cri::{api, Cri};
use crate::events::Recorder;
use crate::registries::Registries;

/// What every pod worker shares.
pub struct Context {
    /// The node's API client.
    pub client: kube::Client,
    /// The runtime.
    pub cri: Cri,
    /// The Node's name.
    pub node_name: String,
    /// The node's InternalIP (`status.hostIP`).
    pub node_ip: String,
    /// DATA/pods: volumes per pod UID.
    pub pods_dir: PathBuf,
    /// Where container logs go (kubelet's /var/log/pods).
    pub logs_dir: PathBuf,
    /// Registry credentials.
    pub registries: Registries,
    /// Events.
    pub recorder: Recorder,
    /// Allocatable CPU (milli) and memory (bytes): limits' defaults in the downward API.
    pub allocatable: (i128, i128),
    /// The runtime's name in container IDs (`containerd`).
    pub runtime_name: String,
    /// Cluster DNS for pods' resolv.conf (its `host` part is re-read per sandbox).
    pub cluster_dns: dns::ClusterDns,
}

/// Watches this node's pods and keeps one worker per pod until the pod is gone.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.node_name));
    let mut stream = watcher(api, config).boxed();
    let mut workers: HashMap<String, mpsc::Sender<Option<Pod>>> = HashMap::new();
    let mut seen_in_list: HashSet<String> = HashSet::new();
    let mut cleaned = false;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(error = %e, "pod watch interrupted; resuming");
                continue;
            }
        };
        workers.retain(|_, tx| !tx.is_closed());
        match event {
            watcher::Event::Init => seen_in_list.clear(),
            watcher::Event::InitApply(pod) => {
                seen_in_list.insert(pod.metadata.uid.clone().unwrap_or_default());
                dispatch(&ctx, &mut workers, pod).await;
            }
            watcher::Event::InitDone => {
                let gone: Vec<String> = workers
                    .keys()
                    .filter(|uid| !seen_in_list.contains(*uid))
                    .cloned()
                    .collect();
                for uid in gone {
                    if let Some(tx) = workers.remove(&uid) {
                        let _ = tx.send(None).await;
                    }
                }
                if !cleaned {
                    cleaned = true;
                    remove_orphans(&ctx, &seen_in_list).await;
                }
            }
            watcher::Event::Apply(pod) => dispatch(&ctx, &mut workers, pod).await,
            watcher::Event::Delete(pod) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if let Some(tx) = workers.remove(&uid) {
                    let _ = tx.send(None).await;
                }
            }
        }
    }
}

async fn dispatch(
    ctx: &Arc<Context>,
    workers: &mut HashMap<String, mpsc::Sender<Option<Pod>>>,
    pod: Pod,
) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    if let Some(tx) = workers.get(&uid) {
        // A full channel means the worker has updates queued; the newest matters, so wait.
        if tx.send(Some(pod.clone())).await.is_ok() {
            return;
        }
    }
    let (tx, rx) = mpsc::channel(16);
    workers.insert(uid, tx);
    tokio::spawn(worker::run(ctx.clone(), pod, rx));
}

/// Stops and removes sandboxes of pods that are no longer bound here (deleted while the node
/// was down).
async fn remove_orphans(ctx: &Context, live: &HashSet<String>) {
    let mut rt = ctx.cri.runtime.clone();
    let Ok(list) = rt
        .list_pod_sandbox(api::ListPodSandboxRequest { filter: None })
        .await
    else {
        return;
    };
    for s in list.into_inner().items {
        let Some(uid) = s.labels.get(cri_config::POD_UID) else {
            continue;
        };
        if live.contains(uid) {
            continue;
        }
        tracing::info!(pod_uid = %uid, "removing the sandbox of a pod that is gone");
        let _ = rt
            .stop_pod_sandbox(api::StopPodSandboxRequest {
                pod_sandbox_id: s.id.clone(),
            })
            .await;
        let _ = rt
            .remove_pod_sandbox(api::RemovePodSandboxRequest {
                pod_sandbox_id: s.id,
            })
            .await;
    }
}

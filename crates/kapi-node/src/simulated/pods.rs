//! Pods bound to simulated nodes: ONE watch for all of them (bound pods only, kept to the
//! simulated nodes by name), no cache of pods, and a fixed pool of workers draining a
//! [`WorkQueue`]. A new pod gets an address and kubelet's running status in one write; a pod
//! that already shows it is left alone, unless a Job owns it: then it completes (exit 0) in a
//! second write, as kwok's stages do; a pod being deleted is finished at once with kubelet's
//! final delete (grace 0, on the pod's uid), as a kubelet does once its containers have
//! stopped. The task reading the watch owns the address book, so assignment needs no lock.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde_json::json;

use super::addresses::{self, Ipv4Cidr, PodAddresses};
use super::pod_status::{self, Placement};
use crate::registration::MANAGER;
use crate::workqueue::WorkQueue;

/// What to do with one pod.
#[derive(Debug)]
pub enum Work {
    /// Write its running status.
    Report(Box<Pod>, Placement),
    /// Write its completed status (a Job's pod that runs).
    Complete(Box<Pod>),
    /// Finish its deletion.
    Finish {
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
        /// The uid the final delete is conditional on.
        uid: String,
    },
}

/// A simulated node as the pod loop needs it.
#[derive(Debug, Clone)]
pub struct SimNode {
    /// Its place in the fleet (decides the stand-in pod range).
    pub index: usize,
    /// Its InternalIP.
    pub ip: IpAddr,
}

/// What the pod loop shares with its workers.
pub struct Context {
    /// The API client.
    pub client: kube::Client,
    /// The simulated nodes by name.
    pub nodes: HashMap<String, SimNode>,
    /// The simulated Nodes as the API has them (their podCIDRs).
    pub node_store: Store<Node>,
    /// Pending writes.
    pub queue: WorkQueue<Work>,
}

/// How long a failed write waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

fn key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Watches the pods and feeds `workers` workers until the task is dropped.
pub async fn run(ctx: Arc<Context>, workers: usize) {
    let mut pool = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        pool.spawn(work(ctx.clone()));
    }
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut addresses = PodAddresses::default();
    let mut relisted: Option<HashSet<String>> = None;
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => relisted = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(pod)) => {
                if let (Some(seen), Some(uid)) = (relisted.as_mut(), pod.metadata.uid.clone()) {
                    seen.insert(uid);
                }
                observe(&ctx, &mut addresses, pod);
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(seen) = relisted.take() {
                    addresses.retain(&seen);
                }
            }
            Ok(watcher::Event::Apply(pod)) => observe(&ctx, &mut addresses, pod),
            Ok(watcher::Event::Delete(pod)) => {
                if let Some(uid) = &pod.metadata.uid {
                    addresses.release(uid);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "watching the simulated nodes' pods failed; retrying")
            }
        }
    }
}

/// Decides what an event asks of the node, and queues it.
fn observe(ctx: &Context, addresses: &mut PodAddresses, pod: Pod) {
    let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
        return;
    };
    let Some(node) = ctx.nodes.get(&node_name) else {
        return;
    };
    if pod.metadata.deletion_timestamp.is_some() {
        ctx.queue.push(
            key(&pod),
            Work::Finish {
                namespace: pod.metadata.namespace.clone().unwrap_or_default(),
                name: pod.metadata.name.clone().unwrap_or_default(),
                uid: pod.metadata.uid.clone().unwrap_or_default(),
            },
        );
        return;
    }
    if pod_status::terminal(&pod) {
        return;
    }
    if pod_status::settled(&pod) {
        if pod_status::runs_to_completion(&pod) {
            // Its containers exit: the sandbox goes, and with it the address.
            if let Some(uid) = &pod.metadata.uid {
                addresses.release(uid);
            }
            ctx.queue.push(key(&pod), Work::Complete(Box::new(pod)));
        }
        return;
    }
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let cidr = ctx
        .node_store
        .get(&ObjectRef::new(&node_name))
        .and_then(|n| {
            n.spec
                .as_ref()?
                .pod_cidr
                .as_deref()
                .and_then(Ipv4Cidr::parse)
        })
        .unwrap_or_else(|| addresses::fallback_cidr(node.index));
    let current: Option<Ipv4Addr> = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok());
    let Some(ip) = addresses
        .assign(&node_name, cidr, &uid, current)
        .or_else(|| {
            // The range is full (more pods than it holds): a stand-in address beats none.
            addresses.assign(
                &format!("{node_name}/overflow"),
                addresses::fallback_cidr(node.index),
                &uid,
                None,
            )
        })
    else {
        tracing::warn!(pod = %key(&pod), node = %node_name, "no pod address left on the simulated node");
        return;
    };
    let placement = Placement {
        pod_ip: ip.to_string(),
        host_ip: node.ip.to_string(),
        now: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    ctx.queue
        .push(key(&pod), Work::Report(Box::new(pod), placement));
}

/// One worker: takes a pod, writes, and puts it back for later when the write failed.
async fn work(ctx: Arc<Context>) {
    loop {
        let (key, item) = ctx.queue.pop().await;
        if let Err(item) = apply(&ctx.client, item).await {
            let ctx = ctx.clone();
            let key = key.clone();
            // A short-lived timer, not a task per pod: only failed writes wait here.
            tokio::spawn(async move {
                tokio::time::sleep(RETRY_AFTER).await;
                ctx.queue.push_if_absent(key, item);
            });
        }
        ctx.queue.done(&key);
    }
}

/// Does one piece of work; gives it back when it should be tried again.
async fn apply(client: &kube::Client, item: Work) -> Result<(), Work> {
    match item {
        Work::Report(pod, at) => {
            let status = pod_status::running_status(&pod, &at);
            match write_status(client, &pod, status).await {
                Ok(()) => Ok(()),
                Err(()) => Err(Work::Report(pod, at)),
            }
        }
        Work::Complete(pod) => {
            let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let status = pod_status::completed_status(&pod, &now);
            match write_status(client, &pod, status).await {
                Ok(()) => Ok(()),
                Err(()) => Err(Work::Complete(pod)),
            }
        }
        Work::Finish {
            namespace,
            name,
            uid,
        } => {
            let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            match api.delete(&name, &params).await {
                Ok(_) => Ok(()),
                // Deleted already, or a new pod of the same name (not ours to delete).
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
                Err(e) => {
                    tracing::debug!(pod = %name, error = %e, "finishing the simulated pod's deletion failed; retrying");
                    Err(Work::Finish {
                        namespace,
                        name,
                        uid,
                    })
                }
            }
        }
    }
}

/// Merges `status` into the pod's; `Err` when it should be tried again.
async fn write_status(
    client: &kube::Client,
    pod: &Pod,
    status: serde_json::Value,
) -> Result<(), ()> {
    let api: Api<Pod> = Api::namespaced(
        client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    );
    let name = pod.metadata.name.clone().unwrap_or_default();
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let patch = json!({"status": status});
    match api
        .patch_status(&name, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        // Gone already, or going (its deletion arrives as an event of its own).
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => {
            tracing::debug!(pod = %name, error = %e, "writing the simulated pod's status failed; retrying");
            Err(())
        }
    }
}

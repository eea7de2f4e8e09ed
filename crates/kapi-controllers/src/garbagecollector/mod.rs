//! The garbage collector: deletes objects whose owners are gone, and carries out the
//! `orphan` and `foregroundDeletion` finalizers a delete leaves on an owner, as
//! kube-controller-manager's does.
//!
//! It discovers every resource the server serves that can be listed, watched and deleted
//! (custom resources included; rediscovered periodically), watches each into one ownership
//! [`graph`], and works through the objects each change concerns, one at a time:
//! - an owner being deleted with `orphan`: its dependents lose their references to it, then
//!   the finalizer is removed;
//! - an owner being deleted with `foregroundDeletion`: its dependents are deleted (in the
//!   foreground too), and once none that blocks it (`blockOwnerDeletion`) is left, the
//!   finalizer is removed;
//! - any object with ownerReferences: [`decide::verdict`]. An owner missing from the graph is
//!   looked up on the server before it counts as gone, so watch lag never deletes a dependent
//!   of a live owner.

pub mod decide;
pub mod graph;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions};
use kube::discovery::{verbs, Discovery, Scope};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

use crate::shared::{is_status, Context, Task};
use decide::{Owner, Propagation, Verdict};
use graph::{Graph, Kind, Node, FOREGROUND, ORPHAN};

/// How often new resources (CustomResourceDefinitions) are looked for.
const REDISCOVERY: Duration = Duration::from_secs(30);
/// First retry delay for an object whose decision failed or had to wait; doubles per attempt
/// up to [`MAX_RETRY`], so a lasting refusal (an owner kind nobody serves, a forbidden patch)
/// costs little.
const RETRY: Duration = Duration::from_millis(500);
/// The longest wait between attempts at one object.
const MAX_RETRY: Duration = Duration::from_secs(120);
/// The longest wait for the first lists before acting anyway.
const SYNC_WAIT: Duration = Duration::from_secs(30);

/// Resources never collected, as upstream ignores them: events are many and short-lived.
const IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];

/// State shared by the watchers and the worker.
struct Shared {
    ctx: Arc<Context>,
    graph: Mutex<Graph>,
    /// Kinds by (group, kind), for looking owners up.
    kinds: Mutex<HashMap<(String, String), Arc<Kind>>>,
    /// Uids queued and not yet taken, so a busy object is queued once.
    queued: Mutex<HashSet<String>>,
    queue: mpsc::UnboundedSender<String>,
    /// Watchers that have not finished their first list.
    unsynced: Mutex<HashSet<String>>,
    /// Whether discovery has run once (so `unsynced` names every resource).
    discovered: std::sync::atomic::AtomicBool,
    /// Failed attempts per uid, for backoff.
    attempts: Mutex<HashMap<String, u32>>,
}

impl Shared {
    fn enqueue(&self, uids: impl IntoIterator<Item = String>) {
        let Ok(mut queued) = self.queued.lock() else {
            return;
        };
        for uid in uids {
            if queued.insert(uid.clone()) {
                let _ = self.queue.send(uid);
            }
        }
    }

    fn enqueue_later(self: &Arc<Self>, uid: String) {
        let n = self
            .attempts
            .lock()
            .map(|mut a| {
                let n = a.entry(uid.clone()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            })
            .unwrap_or(1);
        let delay = RETRY
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(MAX_RETRY);
        // Holds only a weak reference: once the collector stops, the retry does nothing.
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(me) = me.upgrade() {
                me.enqueue([uid]);
            }
        });
    }

    fn node(&self, uid: &str) -> Option<Node> {
        self.graph.lock().ok()?.get(uid).cloned()
    }
}

/// Collects garbage until the process ends.
pub fn run(ctx: Arc<Context>) -> Task {
    Box::pin(async move {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            ctx,
            graph: Mutex::new(Graph::default()),
            kinds: Mutex::new(HashMap::new()),
            queued: Mutex::new(HashSet::new()),
            queue: tx,
            unsynced: Mutex::new(HashSet::new()),
            discovered: std::sync::atomic::AtomicBool::new(false),
            attempts: Mutex::new(HashMap::new()),
        });
        // Both run inside this task, so that losing the Lease (which drops it) stops the
        // watchers too.
        tokio::join!(discover_forever(shared.clone()), work(shared, rx));
    })
}

/// Discovers resources now and every [`REDISCOVERY`], starting a watcher for each new one.
async fn discover_forever(shared: Arc<Shared>) {
    let mut started: HashSet<String> = HashSet::new();
    // Dropped with this future, which aborts every watcher.
    let mut watchers = tokio::task::JoinSet::new();
    loop {
        let discovered_ok = match Discovery::new(shared.ctx.client.clone()).run().await {
            Ok(discovery) => {
                for group in discovery.groups() {
                    for (ar, caps) in group.recommended_resources() {
                        let ops = [verbs::LIST, verbs::WATCH, verbs::DELETE];
                        if !ops.iter().all(|v| caps.supports_operation(v))
                            || IGNORED.contains(&(ar.group.as_str(), ar.plural.as_str()))
                        {
                            continue;
                        }
                        let kind = Arc::new(Kind {
                            namespaced: caps.scope == Scope::Namespaced,
                            ar: ar.clone(),
                        });
                        if let Ok(mut kinds) = shared.kinds.lock() {
                            kinds.insert((ar.group.clone(), ar.kind.clone()), kind.clone());
                        }
                        let key = format!("{}/{}", ar.group, ar.plural);
                        if started.insert(key.clone()) {
                            if let Ok(mut u) = shared.unsynced.lock() {
                                u.insert(key.clone());
                            }
                            watchers.spawn(watch_kind(shared.clone(), kind, key));
                        }
                    }
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "garbage collector: discovery failed");
                false
            }
        };
        // Only a discovery that worked lets the collector decide: with nothing listed, a
        // foreground owner would look as if it had no dependents.
        if discovered_ok {
            shared
                .discovered
                .store(true, std::sync::atomic::Ordering::Release);
        }
        tokio::time::sleep(REDISCOVERY).await;
    }
}

fn to_node(kind: &Arc<Kind>, obj: &DynamicObject) -> Option<Node> {
    let meta = &obj.metadata;
    Some(Node {
        kind: kind.clone(),
        namespace: meta.namespace.clone(),
        name: meta.name.clone()?,
        uid: meta.uid.clone()?,
        resource_version: meta.resource_version.clone(),
        owners: meta.owner_references.clone().unwrap_or_default(),
        deleting: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
    })
}

/// Mirrors one resource into the graph, waking the objects each change concerns.
async fn watch_kind(shared: Arc<Shared>, kind: Arc<Kind>, key: String) {
    let api = Api::<DynamicObject>::all_with(shared.ctx.client.clone(), &kind.ar);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut relisted: HashSet<String> = HashSet::new();
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(resource = %key, error = %e, "garbage collector: watch");
                continue;
            }
        };
        let wake = {
            let Ok(mut g) = shared.graph.lock() else {
                return;
            };
            match event {
                watcher::Event::Apply(obj) => to_node(&kind, &obj)
                    .map(|n| g.upsert(n))
                    .unwrap_or_default(),
                watcher::Event::Delete(obj) => obj.uid().map(|u| g.remove(&u)).unwrap_or_default(),
                watcher::Event::Init => {
                    relisted.clear();
                    Vec::new()
                }
                watcher::Event::InitApply(obj) => match to_node(&kind, &obj) {
                    Some(n) => {
                        relisted.insert(n.uid.clone());
                        g.upsert(n)
                    }
                    None => Vec::new(),
                },
                watcher::Event::InitDone => {
                    let gone: Vec<String> = g
                        .uids_of(&kind)
                        .into_iter()
                        .filter(|u| !relisted.contains(u))
                        .collect();
                    let mut wake = Vec::new();
                    for uid in gone {
                        wake.extend(g.remove(&uid));
                    }
                    if let Ok(mut u) = shared.unsynced.lock() {
                        u.remove(&key);
                    }
                    wake
                }
            }
        };
        shared.enqueue(wake);
    }
}

/// Takes queued objects one at a time, once every resource has been listed (or after
/// [`SYNC_WAIT`]): a foreground owner must not lose its finalizer before its dependents are
/// known, and owners not yet listed would each cost a lookup.
async fn work(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<String>) {
    let start = tokio::time::Instant::now();
    loop {
        let discovered = shared.discovered.load(std::sync::atomic::Ordering::Acquire);
        let pending = shared.unsynced.lock().map(|u| u.len()).unwrap_or(0);
        if (discovered && pending == 0) || start.elapsed() > SYNC_WAIT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while let Some(uid) = rx.recv().await {
        if let Ok(mut q) = shared.queued.lock() {
            q.remove(&uid);
        }
        match process(&shared, &uid).await {
            Ok(true) => {
                if let Ok(mut a) = shared.attempts.lock() {
                    a.remove(&uid);
                }
            }
            Ok(false) => shared.enqueue_later(uid),
            Err(e) => {
                if is_status(&e, 409) {
                    // The object changed since the graph saw it: routine, the graph catches up.
                    tracing::debug!(uid, "garbage collector: conflict; retrying");
                } else {
                    tracing::warn!(uid, error = %e, "garbage collector: retrying");
                }
                shared.enqueue_later(uid);
            }
        }
    }
}

/// Handles one object; `Ok(false)` asks to look again later.
async fn process(shared: &Arc<Shared>, uid: &str) -> Result<bool, kube::Error> {
    let Some(node) = shared.node(uid) else {
        return Ok(true);
    };
    if node.deleting && node.has(ORPHAN) {
        return orphan_dependents(shared, &node).await;
    }
    let mut done = true;
    if node.deleting && node.has(FOREGROUND) {
        done = delete_dependents_first(shared, &node).await?;
    }
    if node.owners.is_empty() {
        return Ok(done);
    }
    let mut owners = Vec::with_capacity(node.owners.len());
    for r in &node.owners {
        owners.push((r.clone(), owner_state(shared, &node, r).await));
    }
    let has_dependents = shared
        .graph
        .lock()
        .map(|g| !g.dependents(uid).is_empty())
        .unwrap_or(false);
    match decide::verdict(&node, &owners, has_dependents) {
        Verdict::Keep => Ok(done),
        Verdict::Retry => Ok(false),
        Verdict::Delete(policy) => {
            delete(shared, &node, policy).await?;
            Ok(done)
        }
        Verdict::Unlink(uids) => {
            unlink(shared, &node, &uids).await?;
            Ok(done)
        }
    }
}

fn api(shared: &Shared, kind: &Kind, namespace: Option<&str>) -> Api<DynamicObject> {
    let client = shared.ctx.client.clone();
    match namespace {
        Some(ns) if kind.namespaced => Api::namespaced_with(client, ns, &kind.ar),
        _ => Api::all_with(client, &kind.ar),
    }
}

/// Whether the owner named by `r` exists, from the graph or else from the server.
async fn owner_state(shared: &Shared, dependent: &Node, r: &OwnerReference) -> Owner {
    if let Some(o) = shared.node(&r.uid) {
        return if o.deleting && o.has(FOREGROUND) {
            Owner::WaitingForDependents
        } else {
            Owner::Present
        };
    }
    let group = r
        .api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or("")
        .to_string();
    let kind = shared
        .kinds
        .lock()
        .ok()
        .and_then(|k| k.get(&(group, r.kind.clone())).cloned());
    let Some(kind) = kind else {
        return Owner::Unknown;
    };
    if kind.namespaced && dependent.namespace.is_none() {
        // A cluster-scoped object cannot be owned by a namespaced one: an invalid reference,
        // never a reason to delete (upstream refuses to collect it and logs why).
        tracing::debug!(owner = %r.name, "garbage collector: namespaced owner of a cluster-scoped object");
        return Owner::Unknown;
    }
    let params = ListParams::default().fields(&format!("metadata.name={}", r.name));
    match api(shared, &kind, dependent.namespace.as_deref())
        .list(&params)
        .await
    {
        Ok(list) => {
            let found = list
                .items
                .iter()
                .find(|o| o.metadata.uid.as_deref() == Some(r.uid.as_str()));
            match found {
                Some(o)
                    if o.metadata.deletion_timestamp.is_some()
                        && o.metadata
                            .finalizers
                            .as_deref()
                            .unwrap_or_default()
                            .iter()
                            .any(|f| f == FOREGROUND) =>
                {
                    Owner::WaitingForDependents
                }
                Some(_) => Owner::Present,
                None => Owner::Absent,
            }
        }
        Err(e) => {
            tracing::debug!(owner = %r.name, error = %e, "garbage collector: owner lookup");
            Owner::Unknown
        }
    }
}

async fn delete(shared: &Shared, node: &Node, policy: Propagation) -> Result<(), kube::Error> {
    let params = DeleteParams {
        // The object as decided on: if it changed since (a new owner), the 409 sends it back
        // through the graph instead of deleting what is no longer garbage.
        preconditions: Some(Preconditions {
            uid: Some(node.uid.clone()),
            resource_version: node.resource_version.clone(),
        }),
        propagation_policy: Some(match policy {
            Propagation::Background => kube::api::PropagationPolicy::Background,
            Propagation::Foreground => kube::api::PropagationPolicy::Foreground,
            Propagation::Orphan => kube::api::PropagationPolicy::Orphan,
        }),
        ..DeleteParams::default()
    };
    tracing::info!(kind = %node.kind.ar.kind, namespace = ?node.namespace, name = %node.name, policy = policy.as_str(), "garbage collector: deleting");
    match api(shared, &node.kind, node.namespace.as_deref())
        .delete(&node.name, &params)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) || is_status(&e, 409) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes `node`'s references to `owners`. The patch carries the resourceVersion the graph
/// saw, so a reference added meanwhile is never dropped (a conflict retries).
async fn unlink(shared: &Shared, node: &Node, owners: &[String]) -> Result<(), kube::Error> {
    let kept: Vec<&OwnerReference> = node
        .owners
        .iter()
        .filter(|r| !owners.contains(&r.uid))
        .collect();
    let patch = json!({"metadata": {
        "ownerReferences": if kept.is_empty() { serde_json::Value::Null } else { json!(kept) },
        "resourceVersion": node.resource_version,
    }});
    match api(shared, &node.kind, node.namespace.as_deref())
        .patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn remove_finalizer(
    shared: &Shared,
    node: &Node,
    finalizer: &str,
) -> Result<(), kube::Error> {
    let kept: Vec<&String> = node.finalizers.iter().filter(|f| *f != finalizer).collect();
    let patch = json!({"metadata": {
        "finalizers": if kept.is_empty() { serde_json::Value::Null } else { json!(kept) },
        "resourceVersion": node.resource_version,
    }});
    match api(shared, &node.kind, node.namespace.as_deref())
        .patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `orphan`: every dependent loses its reference to `owner`, then the finalizer goes.
async fn orphan_dependents(shared: &Shared, owner: &Node) -> Result<bool, kube::Error> {
    let dependents: Vec<Node> = shared
        .graph
        .lock()
        .map(|g| g.dependents(&owner.uid).into_iter().cloned().collect())
        .unwrap_or_default();
    for d in &dependents {
        unlink(shared, d, std::slice::from_ref(&owner.uid)).await?;
    }
    remove_finalizer(shared, owner, ORPHAN).await?;
    Ok(true)
}

/// `foregroundDeletion`: dependents are deleted (they see their owner waiting and go in the
/// foreground themselves); the finalizer goes once no blocking dependent is left. Returns
/// whether it went.
async fn delete_dependents_first(shared: &Arc<Shared>, owner: &Node) -> Result<bool, kube::Error> {
    let dependents: Vec<Node> = shared
        .graph
        .lock()
        .map(|g| g.dependents(&owner.uid).into_iter().cloned().collect())
        .unwrap_or_default();
    let blocking = dependents.iter().any(|d| {
        d.owners
            .iter()
            .any(|r| r.uid == owner.uid && r.block_owner_deletion == Some(true))
    });
    shared.enqueue(
        dependents
            .iter()
            .filter(|d| !d.deleting)
            .map(|d| d.uid.clone()),
    );
    if blocking {
        // The dependents' deletions wake this owner again.
        return Ok(true);
    }
    remove_finalizer(shared, owner, FOREGROUND).await?;
    Ok(true)
}

//! The built-in service load balancer, after k3s's ServiceLB: a Service of type LoadBalancer
//! without a `loadBalancerClass` gets the nodes' addresses as `status.loadBalancer.ingress`,
//! and every node's service proxy serves the Service's ports there (the ingress addresses are
//! external addresses to it). A Service naming a class is left to that implementation.
//!
//! Since the addresses are the nodes' own, two Services cannot share a port: the older one
//! keeps it and the newer one stays pending (no ingress) until the port is free, as a k3s
//! ServiceLB pod would stay unschedulable.
//!
//! With `--service-lb-pool`, as MetalLB's layer-2 mode instead, each Service gets an address
//! of its own from the pool (the one it has, else its `spec.loadBalancerIP` when free, else
//! the lowest free one), which one node then holds (`kapi_node::proxy::announce`). A Service
//! finds the pool exhausted stays pending until an address is released.

use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Service};
use kapi_node::proxy::LbPool;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::Api;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::shared::{is_status, Context, Task};

/// Changes arriving within this window are handled in one pass.
const BATCH: Duration = Duration::from_millis(50);

/// Keeps the ingress of every LoadBalancer Service in step with the nodes.
pub fn run(ctx: Arc<Context>) -> Task {
    Box::pin(sync_forever(
        ctx.client.clone(),
        ctx.service_lb_pool.clone(),
    ))
}

async fn sync_forever(client: kube::Client, pool: Option<LbPool>) {
    let changed = Arc::new(Notify::new());
    let services: Store<Service> =
        kapi_node::reflect::spawn(Api::all(client.clone()), changed.clone(), |s| {
            s.metadata.managed_fields = None;
        });
    let nodes: Store<Node> = kapi_node::reflect::spawn(
        Api::all(client.clone()),
        changed.clone(),
        crate::shared::trim_node,
    );
    if services.wait_until_ready().await.is_err() || nodes.wait_until_ready().await.is_err() {
        return;
    }
    loop {
        changed.notified().await;
        tokio::time::sleep(BATCH).await;
        let addresses = node_addresses(&nodes.state());
        let mut ok = true;
        for (svc, ingress) in plan(&services.state(), &addresses, pool.as_ref()) {
            ok &= publish(&client, &svc, ingress).await;
        }
        if !ok {
            let again = changed.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                again.notify_one();
            });
        }
    }
}

/// The address each node is reached at from outside: ExternalIP when it has one, else
/// InternalIP (k3s's choice), for nodes that are Ready.
pub fn node_addresses(nodes: &[Arc<Node>]) -> Vec<String> {
    let mut out: Vec<String> = nodes
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
        .filter_map(|n| {
            let addresses = n.status.as_ref()?.addresses.as_ref()?;
            ["ExternalIP", "InternalIP"].iter().find_map(|kind| {
                addresses
                    .iter()
                    .find(|a| a.type_ == *kind)
                    .map(|a| a.address.clone())
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The Services whose ingress must change, with the ingress they should have (`None` clears
/// it). Older Services win ports (or pool addresses); Services of another class are not
/// touched.
pub fn plan(
    services: &[Arc<Service>],
    addresses: &[String],
    pool: Option<&LbPool>,
) -> Vec<(Arc<Service>, Option<Value>)> {
    let mut ours: Vec<&Arc<Service>> = services.iter().filter(|s| is_ours(s)).collect();
    ours.sort_by(|a, b| {
        (
            a.metadata.creation_timestamp.as_ref().map(|t| t.0),
            &a.metadata.namespace,
            &a.metadata.name,
        )
            .cmp(&(
                b.metadata.creation_timestamp.as_ref().map(|t| t.0),
                &b.metadata.namespace,
                &b.metadata.name,
            ))
    });
    let mut claimed: HashSet<(String, i32)> = HashSet::new();
    let mut out = Vec::new();
    for svc in services {
        let current = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.clone())
            .filter(|i| !i.is_empty());
        if !is_ours(svc) {
            let spec = svc.spec.as_ref();
            let other_class = spec.and_then(|s| s.load_balancer_class.as_ref()).is_some();
            // No longer a LoadBalancer: its address goes, as upstream's service controller
            // removes it.
            if !other_class && current.is_some() {
                out.push((svc.clone(), None));
            }
        }
    }
    let from_pool = pool.map(|pool| pool_addresses(&ours, pool));
    for (i, svc) in ours.into_iter().enumerate() {
        let want: Vec<Value> = match &from_pool {
            Some(assigned) => assigned[i]
                .iter()
                .map(|ip| json!({"ip": ip.to_string(), "ipMode": "VIP"}))
                .collect(),
            None => node_ingress(svc, addresses, &mut claimed),
        };
        let have: Vec<(Option<String>, Option<String>)> = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .map(|i| (i.ip.clone(), i.ip_mode.clone()))
            .collect();
        let wanted: Vec<(Option<String>, Option<String>)> = want
            .iter()
            .map(|v| {
                (
                    v["ip"].as_str().map(str::to_string),
                    Some("VIP".to_string()),
                )
            })
            .collect();
        if have != wanted {
            out.push((svc.clone(), (!want.is_empty()).then(|| Value::Array(want))));
        }
    }
    out
}

/// The pool address of each Service (in the order given, oldest first): first every Service
/// keeps the pool address it holds, unless an older one holds it too; then the rest get the
/// address they ask for in `spec.loadBalancerIP` when free, else the lowest free one.
fn pool_addresses(services: &[&Arc<Service>], pool: &LbPool) -> Vec<Option<Ipv4Addr>> {
    let mut taken: BTreeSet<Ipv4Addr> = BTreeSet::new();
    let mut out: Vec<Option<Ipv4Addr>> = services
        .iter()
        .map(|svc| {
            let held = svc
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|i| i.ip.as_deref())
                .filter(|ip| pool.contains(ip))
                .filter_map(|ip| ip.parse().ok())
                .find(|ip| !taken.contains(ip));
            if let Some(ip) = held {
                taken.insert(ip);
            }
            held
        })
        .collect();
    for (svc, slot) in services.iter().zip(out.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        let asked = svc
            .spec
            .as_ref()
            .and_then(|s| s.load_balancer_ip.as_deref())
            .filter(|ip| pool.contains(ip))
            .and_then(|ip| ip.parse().ok())
            .filter(|ip| !taken.contains(ip));
        *slot = asked.or_else(|| pool.first_free(&taken));
        match slot {
            Some(ip) => {
                taken.insert(*ip);
            }
            None => tracing::warn!(
                namespace = svc.metadata.namespace.as_deref().unwrap_or_default(),
                service = svc.metadata.name.as_deref().unwrap_or_default(),
                "the load balancer pool is exhausted; the Service waits for an address"
            ),
        }
    }
    out
}

/// The nodes' addresses when the Service's ports are still free on them (claiming them).
fn node_ingress(
    svc: &Service,
    addresses: &[String],
    claimed: &mut HashSet<(String, i32)>,
) -> Vec<Value> {
    let ports: Vec<(String, i32)> = svc
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .map(|p| (p.protocol.clone().unwrap_or_else(|| "TCP".into()), p.port))
        .collect();
    let free = ports.iter().all(|p| !claimed.contains(p));
    if !free || addresses.is_empty() {
        return Vec::new();
    }
    claimed.extend(ports);
    addresses
        .iter()
        .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
        .collect()
}

fn is_ours(svc: &Service) -> bool {
    svc.spec.as_ref().is_some_and(|s| {
        s.type_.as_deref() == Some("LoadBalancer") && s.load_balancer_class.is_none()
    })
}

/// Writes one Service's ingress; false when the write should be retried.
async fn publish(client: &kube::Client, svc: &Service, ingress: Option<Value>) -> bool {
    let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let api = Api::<Service>::namespaced(client.clone(), ns);
    let patch = json!({"status": {"loadBalancer": {"ingress": ingress}}});
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            tracing::info!(
                namespace = ns,
                service = name,
                ?ingress,
                "load balancer ingress"
            );
            true
        }
        Err(e) if is_status(&e, 404) => true,
        Err(e) => {
            tracing::warn!(namespace = ns, service = name, error = %e, "could not publish the load balancer address");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, created: &str, spec: Value, status: Value) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "d", "creationTimestamp": created},
                "spec": spec, "status": status,
            }))
            .unwrap(),
        )
    }

    #[test]
    fn load_balancers_get_node_addresses_and_the_older_one_keeps_a_shared_port() {
        let lb = json!({"type": "LoadBalancer", "ports": [{"port": 8080, "protocol": "TCP"}]});
        let old = svc("old", "2026-01-01T00:00:00Z", lb.clone(), json!({}));
        let new = svc("new", "2026-01-02T00:00:00Z", lb, json!({}));
        let addrs = vec!["10.250.0.10".to_string()];
        let plan = plan(&[new.clone(), old], &addrs, None);
        assert_eq!(plan.len(), 1, "only the older Service gets the port");
        assert_eq!(plan[0].0.metadata.name.as_deref(), Some("old"));
        assert_eq!(
            plan[0].1,
            Some(json!([{"ip": "10.250.0.10", "ipMode": "VIP"}]))
        );
    }

    #[test]
    fn settled_services_other_classes_and_former_load_balancers() {
        let done = svc(
            "done",
            "2026-01-01T00:00:00Z",
            json!({"type": "LoadBalancer", "ports": [{"port": 80}]}),
            json!({"loadBalancer": {"ingress": [{"ip": "10.250.0.10", "ipMode": "VIP"}]}}),
        );
        let classed = svc(
            "metal",
            "2026-01-01T00:00:00Z",
            json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/lb", "ports": [{"port": 81}]}),
            json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}),
        );
        let former = svc(
            "former",
            "2026-01-01T00:00:00Z",
            json!({"type": "ClusterIP", "ports": [{"port": 82}]}),
            json!({"loadBalancer": {"ingress": [{"ip": "10.250.0.10"}]}}),
        );
        let addrs = vec!["10.250.0.10".to_string()];
        let plan = plan(&[done, classed, former], &addrs, None);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].0.metadata.name.as_deref(), Some("former"));
        assert_eq!(plan[0].1, None);
    }

    #[test]
    fn a_pool_gives_each_service_its_own_address_keeping_held_ones_and_honouring_requests() {
        let pool: LbPool = "192.0.2.10-192.0.2.12".parse().unwrap();
        let lb = |extra: Value| {
            let mut spec = json!({"type": "LoadBalancer", "ports": [{"port": 80}]});
            spec.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            spec
        };
        let held = svc(
            "held",
            "2026-01-03T00:00:00Z",
            lb(json!({})),
            json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.10", "ipMode": "VIP"}]}}),
        );
        let asks = svc(
            "asks",
            "2026-01-01T00:00:00Z",
            lb(json!({"loadBalancerIP": "192.0.2.12"})),
            json!({}),
        );
        let asks_taken = svc(
            "asks-taken",
            "2026-01-02T00:00:00Z",
            lb(json!({"loadBalancerIP": "192.0.2.10"})),
            json!({}),
        );
        let late = svc("late", "2026-01-04T00:00:00Z", lb(json!({})), json!({}));
        let plan = plan(&[held, asks, asks_taken, late], &[], Some(&pool));
        let got: Vec<(&str, Option<Value>)> = plan
            .iter()
            .map(|(s, v)| (s.metadata.name.as_deref().unwrap(), v.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("asks", Some(json!([{"ip": "192.0.2.12", "ipMode": "VIP"}]))),
                (
                    "asks-taken",
                    Some(json!([{"ip": "192.0.2.11", "ipMode": "VIP"}]))
                ),
            ],
            "the holder keeps its address, shared ports do not matter, and the pool runs out"
        );
    }
}

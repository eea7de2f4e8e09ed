//! Service ClusterIPs and NodePorts claimed in the store, so that servers sharing one (on
//! etcd) never hand out the same one: a claim is a key created only if absent, which the
//! store refuses to a second claimant whichever server it comes from.
//!
//! A ClusterIP's claim is an `IPAddress` object (networking.k8s.io/v1, named by the address,
//! its `parentRef` the Service), as upstream's allocator keeps them since 1.33; NodePorts are
//! bits of upstream's `RangeAllocation` bitmap ([`super::port_range`]).
//! Claims are made before a Service is stored and released when it is deleted or gives an
//! address up; [`repair`] collects what a crash between the two left, and claims what
//! Services stored before claims existed hold.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use bytes::Bytes;
use kapi_api::status::ApiError;
use kapi_store::StoreError;
use serde_json::{json, Value};

use super::{decode, stored, Registry};

/// Where Services live.
pub const SERVICES_PREFIX: &str = "/registry/services/specs/";
/// Where ClusterIP claims live (upstream's IPAddress key space).
pub const IP_PREFIX: &str = "/registry/ipaddresses/";
/// Where an earlier kapi kept one claim per NodePort; [`repair`] removes them.
const LEGACY_PORT_PREFIX: &str = "/registry/kapi/servicenodeports/";
/// How old a claim without its Service must be before [`repair`] removes it: a create in
/// flight holds its claims for a moment before its Service is stored.
const GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// What claims one Service's addresses: its namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
}

impl Owner {
    /// The Service `name` in `ns`.
    pub fn new(ns: Option<&str>, name: &str) -> Owner {
        Owner {
            namespace: ns.unwrap_or_default().to_string(),
            name: name.to_string(),
        }
    }
}

/// Whether objects of `def` hold addresses that are claimed (Services).
pub fn holds_addresses(def: &kapi_api::resources::ResourceDef) -> bool {
    def.group.is_empty() && def.resource == "services"
}

/// A claim that someone else holds.
#[derive(Debug)]
pub enum ClaimError {
    /// The address or port is claimed already.
    Taken,
    /// The store failed.
    Failed(ApiError),
}

/// A claim object named `name`, its `parentRef` the owning Service.
fn claim(api_version: &str, kind: &str, name: String, labels: Value, owner: &Owner) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind,
        "metadata": {
            "name": name,
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": super::write::now(),
            "labels": labels,
        },
        "spec": {"parentRef": {
            "group": "", "resource": "services",
            "namespace": owner.namespace, "name": owner.name,
        }},
    })
}

fn ip_claim(ip: Ipv4Addr, owner: &Owner) -> Value {
    let labels = json!({
        "ipaddress.kubernetes.io/ip-family": "IPv4",
        "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io",
    });
    claim(
        "networking.k8s.io/v1",
        "IPAddress",
        ip.to_string(),
        labels,
        owner,
    )
}

fn ip_key(ip: Ipv4Addr) -> String {
    format!("{IP_PREFIX}{ip}")
}

fn owner_of(claim: &Value) -> Option<Owner> {
    let parent = claim.pointer("/spec/parentRef")?;
    Some(Owner {
        namespace: parent.get("namespace")?.as_str()?.to_string(),
        name: parent.get("name")?.as_str()?.to_string(),
    })
}

async fn create(registry: &Registry, key: String, claim: Value) -> Result<(), ClaimError> {
    let value = stored::encode(claim).map_err(ClaimError::Failed)?;
    match registry.store().create(&key, value).await {
        Ok(_) => Ok(()),
        Err(StoreError::AlreadyExists(_)) => Err(ClaimError::Taken),
        Err(e) => Err(ClaimError::Failed(ApiError::internal(e))),
    }
}

/// Claims one ClusterIP for `owner`.
pub async fn claim_ip(registry: &Registry, ip: Ipv4Addr, owner: &Owner) -> Result<(), ClaimError> {
    create(registry, ip_key(ip), ip_claim(ip, owner)).await
}

/// Claims one NodePort.
pub async fn claim_port(registry: &Registry, port: u16) -> Result<(), ClaimError> {
    super::port_range::claim(registry, port).await
}

/// Deletes the claim at `key` if `owner` holds it.
async fn release_key(registry: &Registry, key: &str, owner: &Owner) {
    let store = registry.store();
    let Some(kv) = store.get(key) else { return };
    let held = decode(&kv.value).ok().and_then(|c| owner_of(&c));
    if held.as_ref() != Some(owner) {
        return;
    }
    if let Err(e) = store
        .delete(key, Some(kv.mod_revision), kv.value.clone())
        .await
    {
        // Released by someone else meanwhile, or the store is away: repair collects it.
        tracing::debug!(key, error = %e, "could not release a claim");
    }
}

/// Releases the claims `owner` holds on these addresses and ports.
pub async fn release(registry: &Registry, ips: &[Ipv4Addr], ports: &[u16], owner: &Owner) {
    for ip in ips {
        release_key(registry, &ip_key(*ip), owner).await;
    }
    if let Err(ClaimError::Failed(e)) = super::port_range::release(registry, ports).await {
        // The store is away: repair frees them later.
        tracing::debug!(error = %e.message, "could not release node ports");
    }
}

/// Every claimed address and port, for the allocator to skip.
pub fn claimed(registry: &Registry) -> (HashSet<Ipv4Addr>, HashSet<u16>) {
    let names = |prefix: &str| {
        let (items, _, _) = registry.store().list(prefix, None, 0, |_, _| true);
        items
            .into_iter()
            .map(|(k, _)| k[prefix.len()..].to_string())
            .collect::<Vec<_>>()
    };
    let ips = names(IP_PREFIX)
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    (ips, super::port_range::in_use(registry))
}

/// The ClusterIP and NodePorts a stored Service holds.
pub fn held_by(svc: &Value) -> (Option<Ipv4Addr>, Vec<u16>) {
    let ip = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok());
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
        .filter_map(|n| u16::try_from(n).ok())
        .collect();
    (ip, ports)
}

/// What `before` holds that `after` does not (everything when there is no `after`).
pub fn given_up(before: &Value, after: Option<&Value>) -> (Vec<Ipv4Addr>, Vec<u16>) {
    let (ip, ports) = held_by(before);
    let (kept_ip, kept_ports) = after.map(held_by).unwrap_or_default();
    (
        ip.into_iter().filter(|ip| Some(*ip) != kept_ip).collect(),
        ports
            .into_iter()
            .filter(|p| !kept_ports.contains(p))
            .collect(),
    )
}

/// The Service a stored object is, as the owner of its claims.
pub fn owner_of_service(svc: &Value) -> Option<Owner> {
    Some(Owner {
        namespace: svc.pointer("/metadata/namespace")?.as_str()?.to_string(),
        name: svc.pointer("/metadata/name")?.as_str()?.to_string(),
    })
}

/// Makes the claims agree with the stored Services: claims whose Service is gone or no longer
/// holds them (and that are older than a create in flight takes) are deleted, and what a
/// Service holds without a claim is claimed for it.
pub async fn repair(registry: &Registry) {
    let services = registry
        .store()
        .list(SERVICES_PREFIX, None, 0, |_, _| true)
        .0;
    let mut holds: HashSet<(String, Owner)> = HashSet::new();
    let mut held_ports: HashSet<u16> = HashSet::new();
    for (_, kv) in &services {
        let Ok(svc) = decode(&kv.value) else { continue };
        let Some(owner) = owner_of_service(&svc) else {
            continue;
        };
        let (ip, ports) = held_by(&svc);
        if let Some(ip) = ip {
            holds.insert((ip_key(ip), owner.clone()));
        }
        held_ports.extend(ports);
    }
    repair_ports(registry, &held_ports).await;
    let now = chrono::Utc::now();
    let (claims, _, _) = registry.store().list(IP_PREFIX, None, 0, |_, _| true);
    for (key, kv) in claims {
        let Ok(claim) = decode(&kv.value) else {
            continue;
        };
        let owner = owner_of(&claim);
        if owner
            .as_ref()
            .is_some_and(|o| holds.remove(&(key.clone(), o.clone())))
        {
            continue;
        }
        let old = claim
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_none_or(|t| now.signed_duration_since(t) > GRACE);
        if old {
            let value: Bytes = kv.value.clone();
            if let Err(e) = registry
                .store()
                .delete(&key, Some(kv.mod_revision), value)
                .await
            {
                tracing::debug!(key, error = %e, "could not remove a stale claim");
            } else {
                tracing::info!(key, "removed a claim whose Service no longer holds it");
            }
        }
    }
    // What is held without a claim: Services stored before claims existed.
    for (key, owner) in holds {
        let Some(Ok(ip)) = key.strip_prefix(IP_PREFIX).map(str::parse) else {
            continue;
        };
        match claim_ip(registry, ip, &owner).await {
            Ok(()) => {}
            Err(ClaimError::Taken) => tracing::warn!(
                key,
                service = %format!("{}/{}", owner.namespace, owner.name),
                "a Service holds an address another Service has claimed"
            ),
            Err(ClaimError::Failed(e)) => {
                tracing::debug!(key, error = %e.message, "could not claim")
            }
        }
    }
}

/// The NodePort bitmap agrees with the Services: every held port is set, and a port no Service
/// holds at two repairs in a row is freed. One-key-per-port claims an earlier kapi wrote go.
async fn repair_ports(registry: &Registry, held: &HashSet<u16>) {
    let held_list: Vec<u16> = held.iter().copied().collect();
    if let Err(ClaimError::Failed(e)) = super::port_range::mark(registry, &held_list).await {
        tracing::debug!(error = %e.message, "could not mark held node ports");
        return;
    }
    let leaked: HashSet<u16> = super::port_range::in_use(registry)
        .difference(held)
        .copied()
        .collect();
    let seen_before = registry
        .allocator
        .leaked_ports
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(leaked.clone())
        .unwrap_or_default();
    let free: Vec<u16> = leaked.intersection(&seen_before).copied().collect();
    if !free.is_empty() {
        match super::port_range::release(registry, &free).await {
            Ok(()) => tracing::info!(ports = ?free, "freed node ports no Service holds"),
            Err(_) => tracing::debug!("could not free leaked node ports"),
        }
    }
    let (legacy, _, _) = registry
        .store()
        .list(LEGACY_PORT_PREFIX, None, 0, |_, _| true);
    for (key, kv) in legacy {
        let _ = registry
            .store()
            .delete(&key, Some(kv.mod_revision), kv.value.clone())
            .await;
    }
}

/// Runs [`repair`] now and then every `interval` for as long as the server runs.
pub fn spawn_repair(registry: std::sync::Arc<Registry>, interval: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        loop {
            ticks.tick().await;
            repair(&registry).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_and_services_are_where_their_resources_are_stored() {
        let key = |group, resource| {
            kapi_api::resources::find(group, "v1", resource)
                .unwrap()
                .key_prefix()
        };
        assert_eq!(SERVICES_PREFIX, key("", "services"));
        assert_eq!(IP_PREFIX, key("networking.k8s.io", "ipaddresses"));
    }

    #[test]
    fn a_service_holds_its_cluster_ip_and_node_ports() {
        let svc = json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {
            "clusterIP": "10.96.1.7",
            "ports": [{"port": 80, "nodePort": 30080}, {"port": 443}],
        }});
        assert_eq!(
            held_by(&svc),
            (Some(Ipv4Addr::new(10, 96, 1, 7)), vec![30080])
        );
        assert_eq!(
            held_by(&json!({"spec": {"clusterIP": "None"}})),
            (None, vec![])
        );
        let owner = owner_of_service(&svc).unwrap();
        assert_eq!(
            owner_of(&ip_claim(Ipv4Addr::new(10, 96, 1, 7), &owner)),
            Some(owner.clone())
        );
        let other = json!({"spec": {"clusterIP": "10.96.1.7", "ports": [{"nodePort": 30081}]}});
        assert_eq!(given_up(&svc, Some(&other)), (vec![], vec![30080]));
        assert_eq!(
            given_up(&svc, None),
            (vec![Ipv4Addr::new(10, 96, 1, 7)], vec![30080])
        );
    }
}

#[cfg(test)]
mod port_tests {
    use super::*;

    async fn registry() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let options = kapi_store::StoreOptions {
            stamp: crate::registry::stamp_revision,
            ..Default::default()
        };
        let store = kapi_store::Store::open(&dir.path().join("kapi.db"), options).unwrap();
        (dir, Registry::new(store))
    }

    async fn put(registry: &Registry, key: &str, obj: Value) {
        registry
            .store()
            .create(key, stored::encode(obj).unwrap())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn node_ports_are_one_bitmap_that_repair_keeps_equal_to_the_services() {
        let (_dir, registry) = registry().await;
        claim_port(&registry, 30100).await.unwrap();
        assert!(matches!(
            claim_port(&registry, 30100).await,
            Err(ClaimError::Taken)
        ));
        claim_port(&registry, 30101).await.unwrap();
        let stored = decode(
            &registry
                .store()
                .get(super::super::port_range::KEY)
                .unwrap()
                .value,
        )
        .unwrap();
        assert_eq!(stored["kind"], "RangeAllocation");
        assert_eq!(stored["range"], "30000-32767");
        // A Service stored before the bitmap held its port, and an earlier kapi's claim.
        put(
            &registry,
            &format!("{SERVICES_PREFIX}default/old"),
            json!({"metadata": {"name": "old", "namespace": "default"},
                "spec": {"ports": [{"nodePort": 30200}, {"nodePort": 30100}]}}),
        )
        .await;
        put(
            &registry,
            &format!("{LEGACY_PORT_PREFIX}30200"),
            json!({"metadata": {"name": "30200"}}),
        )
        .await;
        repair(&registry).await;
        let in_use = super::super::port_range::in_use(&registry);
        assert!(in_use.contains(&30200), "held without a claim: marked");
        assert!(
            in_use.contains(&30101),
            "not held, but seen only once: kept"
        );
        assert_eq!(registry.store().count(LEGACY_PORT_PREFIX, 1), 0);
        repair(&registry).await;
        let in_use = super::super::port_range::in_use(&registry);
        assert!(!in_use.contains(&30101), "not held at two repairs: freed");
        assert!(in_use.contains(&30100) && in_use.contains(&30200));
        release(
            &registry,
            &[],
            &[30200],
            &Owner::new(Some("default"), "old"),
        )
        .await;
        assert!(!super::super::port_range::in_use(&registry).contains(&30200));
    }
}

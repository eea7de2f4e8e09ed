//! Service ClusterIPs and NodePorts, handed out without duplicates.
//!
//! The used set is what the stored Services hold plus what this process has handed out to
//! writes still in flight, so concurrent creates never receive the same address. A
//! [`Reservation`] covers one write and is dropped when the write has landed (the stored
//! Service then holds the address) or failed or was a dry run (the address is free again), so
//! an address or port comes free as soon as its Service is deleted or gives it up.
//!
//! As upstream, the start of each range is a static band for addresses users pick themselves
//! (the `kube-dns` Service's 10.96.0.10 among them): dynamic allocation takes from the rest
//! first and falls back to the band only when the rest is full.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use kapi_api::status::{invalid_number, invalid_strings, invalid_value, ApiError};
use serde_json::{json, Value};

use super::claims::{self, ClaimError, Owner};
use super::service_cidrs::{self, Ipv4Range};
use super::Registry;

const NODE_PORTS: std::ops::RangeInclusive<u16> = super::port_range::RANGE;
/// Upstream's static band for the default node port range: min(max(16, size/32), 128).
const NODE_PORT_STATIC_BAND: u16 = 86;

pub(crate) struct Allocator {
    handed_out: Mutex<(HashSet<Ipv4Addr>, HashSet<u16>)>,
    /// NodePorts in use that no Service held at the last repair: freed if still so at the
    /// next (a create in flight holds its port for a moment before its Service is stored;
    /// upstream waits several repairs too).
    pub(super) leaked_ports: Mutex<Option<HashSet<u16>>>,
}

/// Addresses and ports handed to one write; released when dropped.
pub(crate) struct Reservation<'a> {
    allocator: &'a Allocator,
    ips: Vec<Ipv4Addr>,
    ports: Vec<u16>,
    /// Those of `ips` and `ports` the allocator picked (not asked for by the user): another
    /// may be picked in their place when another server claimed them first.
    picked_ips: Vec<Ipv4Addr>,
    picked_ports: Vec<u16>,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut guard = self
            .allocator
            .handed_out
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for ip in &self.ips {
            guard.0.remove(ip);
        }
        for port in &self.ports {
            guard.1.remove(port);
        }
    }
}

impl Allocator {
    pub fn new() -> Self {
        Self {
            handed_out: Mutex::new((HashSet::new(), HashSet::new())),
            leaked_ports: Mutex::new(None),
        }
    }

    /// Fills `spec.clusterIP(s)` and node ports of a Service being created.
    pub fn allocate_service<'a>(
        &'a self,
        registry: &Registry,
        svc: &mut Value,
    ) -> Result<Reservation<'a>, ApiError> {
        self.assign(registry, None, svc)
    }

    /// Keeps what an updated Service already holds and fills what a change of type needs: a
    /// cluster IP when it stops being ExternalName, node ports when it becomes NodePort or
    /// LoadBalancer; ports it no longer may have are dropped.
    pub fn update_service<'a>(
        &'a self,
        registry: &Registry,
        old: &Value,
        svc: &mut Value,
    ) -> Result<Reservation<'a>, ApiError> {
        self.assign(registry, Some(old), svc)
    }

    fn assign<'a>(
        &'a self,
        registry: &Registry,
        old: Option<&Value>,
        svc: &mut Value,
    ) -> Result<Reservation<'a>, ApiError> {
        let mut reservation = Reservation {
            allocator: self,
            ips: Vec::new(),
            ports: Vec::new(),
            picked_ips: Vec::new(),
            picked_ports: Vec::new(),
        };
        let name = svc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ty = svc
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        let spec = &mut svc["spec"];
        if ty == "ExternalName" {
            if old.is_some() {
                for key in ["clusterIP", "clusterIPs"] {
                    if let Some(m) = spec.as_object_mut() {
                        m.remove(key);
                    }
                }
            }
            drop_node_ports(spec);
            return Ok(reservation);
        }
        let mut guard = self.handed_out.lock().unwrap_or_else(|p| p.into_inner());
        let (used_ips, mut used_ports) = in_use(registry, &guard);
        let (ips, ports) = &mut *guard;
        // An update keeps its own addresses.
        let old_ip = old
            .and_then(|o| o.pointer("/spec/clusterIP"))
            .and_then(Value::as_str)
            .filter(|ip| !ip.is_empty())
            .map(str::to_string);
        // A cluster IP is immutable once set (headless included), as upstream validates.
        if let (Some(was), Some(now)) = (
            old_ip.as_deref(),
            spec.get("clusterIP")
                .and_then(Value::as_str)
                .filter(|ip| !ip.is_empty()),
        ) {
            if was != now {
                return Err(ApiError::invalid(
                    "",
                    "Service",
                    &name,
                    vec![invalid_value(
                        "spec.clusterIPs[0]",
                        now,
                        "may not change once set",
                    )],
                ));
            }
        }
        match spec.get("clusterIP").and_then(Value::as_str) {
            Some("None") => {
                spec["clusterIPs"] = json!(["None"]);
            }
            Some(ip) if !ip.is_empty() && Some(ip) == old_ip.as_deref() => {}
            Some(ip) if !ip.is_empty() => {
                let parsed: Ipv4Addr = ip.parse().map_err(|_| {
                    ApiError::invalid(
                        "",
                        "Service",
                        &name,
                        vec![invalid_value(
                            "spec.clusterIP",
                            ip,
                            "must be a valid IP address",
                        )],
                    )
                })?;
                if !service_cidrs::ranges(registry)
                    .iter()
                    .any(|r| r.holds(parsed))
                {
                    return Err(ip_refused(
                        &name,
                        ip,
                        "the provided network does not match the current range",
                    ));
                }
                if used_ips.contains(&parsed) {
                    return Err(ip_refused(&name, ip, "provided IP is already allocated"));
                }
                ips.insert(parsed);
                reservation.ips.push(parsed);
                spec["clusterIPs"] = json!([ip]);
            }
            _ => {
                let ip = match old_ip {
                    Some(ip) => ip,
                    None => {
                        let ip = next_ip(&used_ips, &service_cidrs::ranges(registry)).ok_or_else(
                            || ApiError::internal("failed to allocate a serviceIP: range is full"),
                        )?;
                        ips.insert(ip);
                        reservation.ips.push(ip);
                        reservation.picked_ips.push(ip);
                        ip.to_string()
                    }
                };
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            }
        }
        let wants_node_ports = ty == "NodePort"
            || (ty == "LoadBalancer"
                && spec.get("allocateLoadBalancerNodePorts") != Some(&json!(false)));
        if !wants_node_ports {
            if ty != "LoadBalancer" {
                drop_node_ports(spec);
            }
            return Ok(reservation);
        }
        let kept: HashSet<u16> = old
            .map(|o| claims::held_by(o).1)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let old_ports = old.and_then(|o| o.pointer("/spec/ports").cloned());
        if let Some(Value::Array(list)) = spec.get_mut("ports") {
            for (i, p) in list.iter_mut().enumerate() {
                let asked = p.get("nodePort").and_then(Value::as_u64);
                match asked {
                    Some(n) => {
                        let field = format!("spec.ports[{i}].nodePort");
                        let port = u16::try_from(n).ok().filter(|n| NODE_PORTS.contains(n));
                        let Some(port) = port else {
                            return Err(ApiError::invalid("", "Service", &name, vec![invalid_number(&field, n as i64, "provided port is not in the valid range. The range of valid ports is 30000-32767")]));
                        };
                        if kept.contains(&port) {
                            continue;
                        }
                        if used_ports.contains(&port) {
                            return Err(ApiError::invalid(
                                "",
                                "Service",
                                &name,
                                vec![invalid_number(
                                    &field,
                                    n as i64,
                                    "provided port is already allocated",
                                )],
                            ));
                        }
                        used_ports.insert(port);
                        ports.insert(port);
                        reservation.ports.push(port);
                    }
                    None => {
                        // A port the Service had before keeps its node port.
                        let previous = old_ports
                            .as_ref()
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .find(|o| {
                                o.get("port") == p.get("port")
                                    && o.get("protocol") == p.get("protocol")
                            })
                            .and_then(|o| o.get("nodePort").cloned());
                        if let Some(previous) = previous {
                            p["nodePort"] = previous;
                            continue;
                        }
                        let n = next_port(&used_ports).ok_or_else(|| {
                            ApiError::internal("failed to allocate a nodePort: range is full")
                        })?;
                        used_ports.insert(n);
                        ports.insert(n);
                        reservation.ports.push(n);
                        reservation.picked_ports.push(n);
                        p["nodePort"] = json!(n);
                    }
                }
            }
        }
        Ok(reservation)
    }
}

impl Reservation<'_> {
    /// Claims in the store what this reservation handed out, so that no other server hands
    /// it out too. A picked address or port another server claimed first is replaced by
    /// another (in `svc` as well); one the user asked for is refused as already allocated.
    /// On failure nothing stays claimed.
    pub async fn claim(
        &mut self,
        registry: &Registry,
        svc: &mut Value,
        owner: &Owner,
    ) -> Result<(), ApiError> {
        let (mut ips, mut ports) = (Vec::new(), Vec::new());
        let claimed = self
            .claim_all(registry, svc, owner, &mut ips, &mut ports)
            .await;
        if claimed.is_err() {
            claims::release(registry, &ips, &ports, owner).await;
        }
        claimed
    }

    async fn claim_all(
        &mut self,
        registry: &Registry,
        svc: &mut Value,
        owner: &Owner,
        ips: &mut Vec<Ipv4Addr>,
        ports: &mut Vec<u16>,
    ) -> Result<(), ApiError> {
        let refused = |field: &str, value: String, why: &str| {
            ApiError::invalid(
                "",
                "Service",
                &owner.name,
                vec![invalid_value(field, &value, why)],
            )
        };
        for mut ip in self.ips.clone() {
            for attempt in 0.. {
                match claims::claim_ip(registry, ip, owner).await {
                    Ok(()) => {
                        ips.push(ip);
                        break;
                    }
                    Err(ClaimError::Taken) if self.picked_ips.contains(&ip) && attempt < 16 => {
                        let next = self.repick_ip(registry).await?;
                        svc["spec"]["clusterIP"] = json!(next.to_string());
                        svc["spec"]["clusterIPs"] = json!([next.to_string()]);
                        ip = next;
                    }
                    Err(ClaimError::Taken) => {
                        return Err(ip_refused(
                            &owner.name,
                            &ip.to_string(),
                            "provided IP is already allocated",
                        ))
                    }
                    Err(ClaimError::Failed(e)) => return Err(e),
                }
            }
        }
        for mut port in self.ports.clone() {
            for attempt in 0.. {
                match claims::claim_port(registry, port).await {
                    Ok(()) => {
                        ports.push(port);
                        break;
                    }
                    Err(ClaimError::Taken) if self.picked_ports.contains(&port) && attempt < 16 => {
                        let next = self.repick_port(registry).await?;
                        if let Some(Value::Array(list)) = svc["spec"].get_mut("ports") {
                            for p in list {
                                if p.get("nodePort").and_then(Value::as_u64)
                                    == Some(u64::from(port))
                                {
                                    p["nodePort"] = json!(next);
                                }
                            }
                        }
                        port = next;
                    }
                    Err(ClaimError::Taken) => {
                        return Err(refused(
                            "spec.ports[].nodePort",
                            port.to_string(),
                            "provided port is already allocated",
                        ))
                    }
                    Err(ClaimError::Failed(e)) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// What is taken everywhere, once this server's store has caught up with the claim that
    /// was refused: stored, claimed, or handed out here.
    async fn taken(
        &self,
        registry: &Registry,
    ) -> Result<(HashSet<Ipv4Addr>, HashSet<u16>), ApiError> {
        registry.sync().await?;
        let guard = self
            .allocator
            .handed_out
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Ok(in_use(registry, &guard))
    }

    /// Another ClusterIP in place of one another server claimed first.
    async fn repick_ip(&mut self, registry: &Registry) -> Result<Ipv4Addr, ApiError> {
        let (ips, _) = self.taken(registry).await?;
        let ip = next_ip(&ips, &service_cidrs::ranges(registry))
            .ok_or_else(|| ApiError::internal("failed to allocate a serviceIP: range is full"))?;
        self.allocator
            .handed_out
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .insert(ip);
        self.ips.push(ip);
        self.picked_ips.push(ip);
        Ok(ip)
    }

    /// Another NodePort in place of one another server claimed first.
    async fn repick_port(&mut self, registry: &Registry) -> Result<u16, ApiError> {
        let (_, ports) = self.taken(registry).await?;
        let port = next_port(&ports)
            .ok_or_else(|| ApiError::internal("failed to allocate a nodePort: range is full"))?;
        self.allocator
            .handed_out
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .insert(port);
        self.ports.push(port);
        self.picked_ports.push(port);
        Ok(port)
    }
}

/// Every address and port in use as far as this server knows: held by a stored Service,
/// claimed in the store (by other servers too, for Services not seen here yet), or handed out
/// here to a write in flight.
fn in_use(
    registry: &Registry,
    handed_out: &(HashSet<Ipv4Addr>, HashSet<u16>),
) -> (HashSet<Ipv4Addr>, HashSet<u16>) {
    let (mut ips, mut ports) = claims::claimed(registry);
    let (stored, _, _) = registry
        .store()
        .list(claims::SERVICES_PREFIX, None, 0, |_, _| true);
    for (_, kv) in stored {
        if let Ok(svc) = serde_json::from_slice::<Value>(&kv.value) {
            let (ip, held) = claims::held_by(&svc);
            ips.extend(ip);
            ports.extend(held);
        }
    }
    ips.extend(handed_out.0.iter().copied());
    ports.extend(handed_out.1.iter().copied());
    (ips, ports)
}

/// A Service's ClusterIP refused, in the words of upstream's allocator.
fn ip_refused(service: &str, ip: &str, why: &str) -> ApiError {
    ApiError::invalid(
        "",
        "Service",
        service,
        vec![invalid_strings(
            "spec.clusterIPs",
            &[ip],
            &format!("failed to allocate IP {ip}: {why}"),
        )],
    )
}

fn drop_node_ports(spec: &mut Value) {
    if let Some(Value::Array(list)) = spec.get_mut("ports") {
        for p in list {
            if let Some(m) = p.as_object_mut() {
                m.remove("nodePort");
            }
        }
    }
}

/// The first free address of the first range with one: above the range's static band, else
/// in it (network and broadcast addresses never).
fn next_ip(used: &HashSet<Ipv4Addr>, ranges: &[Ipv4Range]) -> Option<Ipv4Addr> {
    ranges.iter().find_map(|r| {
        let band = r.static_band().min(r.size());
        let dynamic = r.base.saturating_add(band)..r.base.saturating_add(r.size() - 1);
        let low = r.base.saturating_add(1)..r.base.saturating_add(band);
        dynamic
            .chain(low)
            .map(Ipv4Addr::from)
            .find(|ip| r.holds(*ip) && !used.contains(ip))
    })
}

/// The first free node port above the static band, else the first free one in it.
fn next_port(used: &HashSet<u16>) -> Option<u16> {
    let start = *NODE_PORTS.start();
    let dynamic = start + NODE_PORT_STATIC_BAND..=*NODE_PORTS.end();
    let band = start..start + NODE_PORT_STATIC_BAND;
    dynamic.chain(band).find(|p| !used.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_allocation_avoids_the_static_band_until_the_rest_is_full() {
        let mut used = HashSet::new();
        let ranges = [service_cidrs::DEFAULT_RANGE];
        assert_eq!(next_ip(&used, &ranges), Some(Ipv4Addr::new(10, 96, 1, 0)));
        used.insert(Ipv4Addr::new(10, 96, 1, 0));
        assert_eq!(next_ip(&used, &ranges), Some(Ipv4Addr::new(10, 96, 1, 1)));
        let mut ports = HashSet::new();
        assert_eq!(next_port(&ports), Some(30086));
        ports.extend(30086..=32767);
        assert_eq!(next_port(&ports), Some(30000));
        ports.extend(30000..30086);
        assert_eq!(next_port(&ports), None);
    }

    #[test]
    fn a_full_range_gives_way_to_the_next_servicecidr() {
        let small = Ipv4Range {
            base: u32::from(Ipv4Addr::new(10, 97, 0, 0)),
            prefix: 29,
        };
        let extra = Ipv4Range {
            base: u32::from(Ipv4Addr::new(10, 98, 0, 0)),
            prefix: 30,
        };
        let mut used = HashSet::new();
        for _ in 0..6 {
            let ip = next_ip(&used, &[small, extra]).unwrap();
            assert!(small.holds(ip), "{ip}");
            used.insert(ip);
        }
        assert_eq!(
            next_ip(&used, &[small, extra]),
            Some(Ipv4Addr::new(10, 98, 0, 1))
        );
        used.insert(Ipv4Addr::new(10, 98, 0, 1));
        assert_eq!(
            next_ip(&used, &[small, extra]),
            Some(Ipv4Addr::new(10, 98, 0, 2))
        );
        used.insert(Ipv4Addr::new(10, 98, 0, 2));
        assert_eq!(next_ip(&used, &[small, extra]), None, "range is full");
    }

    /// Two registries on one etcd, as two servers: an address and port picked by one that
    /// the other claimed meanwhile (before the first had seen it) are replaced; one the user
    /// asked for is refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pick_another_server_claimed_first_is_replaced_and_an_asked_one_refused() {
        use kapi_store::etcd::{EtcdBackend, EtcdConfig};
        let etcd = kapi_store::testing::EtcdProcess::start();
        let open = || async {
            let config = EtcdConfig {
                endpoints: vec![etcd.url()],
                ..Default::default()
            };
            let stamp = crate::registry::stamp_revision;
            let (backend, loaded) = EtcdBackend::connect(config, stamp).await.unwrap();
            let options = kapi_store::StoreOptions {
                stamp,
                ..Default::default()
            };
            let store =
                kapi_store::Store::start(std::sync::Arc::new(backend), loaded, options).unwrap();
            Registry::new(store)
        };
        let (one, two) = (open().await, open().await);
        let owner = Owner {
            namespace: "default".into(),
            name: "web".into(),
        };
        let other = Owner {
            namespace: "default".into(),
            name: "other".into(),
        };
        let mut svc = json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        let mut reservation = two.allocator.allocate_service(&two, &mut svc).unwrap();
        let ip: Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
        let port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap() as u16;
        claims::claim_ip(&one, ip, &other).await.unwrap();
        claims::claim_port(&one, port).await.unwrap();
        reservation.claim(&two, &mut svc, &owner).await.unwrap();
        let now: Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
        let now_port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap() as u16;
        assert!(now != ip && now_port != port, "{svc}");
        assert_eq!(svc["spec"]["clusterIPs"], json!([now.to_string()]));
        one.sync().await.unwrap();
        let (claimed_ips, claimed_ports) = claims::claimed(&one);
        assert!(claimed_ips.contains(&now) && claimed_ports.contains(&now_port));
        drop(reservation);

        let mut asked = json!({"metadata": {"name": "asked", "namespace": "default"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.77", "ports": [{"port": 80}]}});
        let mut reservation = two.allocator.allocate_service(&two, &mut asked).unwrap();
        claims::claim_ip(&one, Ipv4Addr::new(10, 96, 0, 77), &other)
            .await
            .unwrap();
        let asker = Owner {
            namespace: "default".into(),
            name: "asked".into(),
        };
        let err = reservation
            .claim(&two, &mut asked, &asker)
            .await
            .unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message.contains("provided IP is already allocated"),
            "{}",
            err.message
        );
    }

    #[test]
    fn type_changes_drop_node_ports() {
        let mut spec = json!({"ports": [{"port": 80, "nodePort": 30080}]});
        drop_node_ports(&mut spec);
        assert_eq!(spec, json!({"ports": [{"port": 80}]}));
        assert_eq!(
            claims::held_by(&json!({"spec": {"ports": [{"nodePort": 30001}, {"port": 1}]}})).1,
            [30001]
        );
    }
}

//! Service ClusterIPs and NodePorts, handed out without duplicates.
//!
//! The used set is what the stored Services hold plus what this process handed out and may not
//! be stored yet, so concurrent creates never receive the same address. Allocations survive
//! restarts because they live in the stored Services themselves.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use kapi_api::status::{invalid_value, ApiError};
use serde_json::{json, Value};

use super::Registry;

/// The service range: 10.96.0.0/12. The first address belongs to the `kubernetes` Service.
const RANGE_BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const RANGE_SIZE: u32 = 1 << 20;
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

pub(crate) struct Allocator {
    handed_out: Mutex<(HashSet<Ipv4Addr>, HashSet<u16>)>,
}

impl Allocator {
    pub fn new() -> Self {
        Self {
            handed_out: Mutex::new((HashSet::new(), HashSet::new())),
        }
    }

    /// Fills `spec.clusterIP(s)` and node ports of a Service being created.
    pub fn allocate_service(&self, registry: &Registry, svc: &mut Value) -> Result<(), ApiError> {
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
        if ty == "ExternalName" {
            return Ok(());
        }
        let mut guard = self.handed_out.lock().unwrap_or_else(|p| p.into_inner());
        let (ips, ports) = &mut *guard;
        let (mut used_ips, mut used_ports) = (ips.clone(), ports.clone());
        let prefix = "/registry/core/services/";
        let (existing, _, _) = registry.store().list(prefix, None, 0, |_, _| true);
        for (_, kv) in existing {
            let Ok(v) = serde_json::from_slice::<Value>(&kv.value) else {
                continue;
            };
            if let Some(ip) = v
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
            {
                used_ips.insert(ip);
            }
            for p in v
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = p.get("nodePort").and_then(Value::as_u64) {
                    used_ports.insert(u16::try_from(n).unwrap_or(0));
                }
            }
        }
        let spec = &mut svc["spec"];
        match spec.get("clusterIP").and_then(Value::as_str) {
            Some("None") => {
                spec["clusterIPs"] = json!(["None"]);
            }
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
                let n = u32::from(parsed);
                if !(RANGE_BASE..RANGE_BASE + RANGE_SIZE).contains(&n) {
                    return Err(ApiError::invalid("", "Service", &name, vec![invalid_value("spec.clusterIPs", ip, "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12")]));
                }
                if used_ips.contains(&parsed) {
                    return Err(ApiError::invalid(
                        "",
                        "Service",
                        &name,
                        vec![invalid_value(
                            "spec.clusterIPs",
                            ip,
                            "failed to allocate IP: provided IP is already allocated",
                        )],
                    ));
                }
                ips.insert(parsed);
                spec["clusterIPs"] = json!([ip]);
            }
            _ => {
                let ip = (RANGE_BASE + 1..RANGE_BASE + RANGE_SIZE - 1)
                    .map(Ipv4Addr::from)
                    .find(|ip| !used_ips.contains(ip))
                    .ok_or_else(|| ApiError::internal("the service IP range is exhausted"))?;
                ips.insert(ip);
                spec["clusterIP"] = json!(ip.to_string());
                spec["clusterIPs"] = json!([ip.to_string()]);
            }
        }
        if ty == "NodePort" || ty == "LoadBalancer" {
            if let Some(Value::Array(list)) = spec.get_mut("ports") {
                for p in list {
                    match p.get("nodePort").and_then(Value::as_u64) {
                        Some(n) => {
                            let n = u16::try_from(n).unwrap_or(0);
                            if !NODE_PORTS.contains(&n) || used_ports.contains(&n) {
                                return Err(ApiError::invalid(
                                    "",
                                    "Service",
                                    &name,
                                    vec![invalid_value(
                                        "spec.ports[0].nodePort",
                                        &n.to_string(),
                                        "provided port is already allocated or outside 30000-32767",
                                    )],
                                ));
                            }
                            used_ports.insert(n);
                            ports.insert(n);
                        }
                        None => {
                            let n = NODE_PORTS
                                .clone()
                                .find(|n| !used_ports.contains(n))
                                .ok_or_else(|| {
                                    ApiError::internal("the node port range is exhausted")
                                })?;
                            used_ports.insert(n);
                            ports.insert(n);
                            p["nodePort"] = json!(n);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

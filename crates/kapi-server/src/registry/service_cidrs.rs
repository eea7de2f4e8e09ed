//! ServiceCIDRs (networking.k8s.io/v1): the ranges Service ClusterIPs come from. The one
//! named `kubernetes` is the server's own range and always exists; users add others to grow
//! the space (upstream's MultiCIDRServiceAllocator, GA in 1.33). Validation follows
//! upstream's, the allocator ([`super::allocator`]) reads the eligible ranges from here, and
//! the service-cidrs controller (kapi-controllers) keeps their Ready condition and finalizer.

use std::net::{IpAddr, Ipv4Addr};

use kapi_api::resources::{self, ResourceDef};
use kapi_api::status::{go_quote, invalid_strings, invalid_value, ApiError, Cause};
use serde_json::{json, Value};

use super::{Registry, WriteOptions};

/// The default ServiceCIDR's well-known name.
pub const DEFAULT_NAME: &str = "kubernetes";
/// The server's Service range (kapi's `--service-cluster-ip-range`, fixed).
pub const DEFAULT_RANGE: Ipv4Range = Ipv4Range {
    base: u32::from_be_bytes([10, 96, 0, 0]),
    prefix: 12,
};

/// An IPv4 block, as the allocator walks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Range {
    /// The network address.
    pub base: u32,
    /// The prefix length.
    pub prefix: u8,
}

impl Ipv4Range {
    /// How many addresses the block spans, network and broadcast included.
    pub fn size(&self) -> u32 {
        1u32.checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
            .max(1)
    }

    /// Whether `ip` is one a Service may hold: inside, and neither the network nor the
    /// broadcast address (as upstream's allocator excludes them).
    pub fn holds(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        let last = self.base.wrapping_add(self.size() - 1);
        n > self.base && n < last
    }

    /// Upstream's static band at the start of the block, kept for addresses users pick:
    /// min(max(16, size/16), 256) addresses.
    pub fn static_band(&self) -> u32 {
        (self.size() / 16).clamp(16, 256)
    }
}

impl std::fmt::Display for Ipv4Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// A CIDR string's problem, in upstream's words.
fn cidr_problem(cidr: &str) -> Option<String> {
    const INVALID: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";
    let Some((ip, len)) = cidr.split_once('/') else {
        return Some(INVALID.into());
    };
    let Ok(len_n) = len.parse::<u8>() else {
        return Some(INVALID.into());
    };
    let leading_zero = |s: &str| s.len() > 1 && s.starts_with('0');
    let addr: IpAddr = match ip.parse() {
        Ok(addr) => addr,
        Err(_) if ip.split('.').count() == 4 && ip.split('.').any(leading_zero) => {
            return Some("must not have leading 0s in IP or prefix length".into())
        }
        Err(_) => return Some(INVALID.into()),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if !len.bytes().all(|b| b.is_ascii_digit()) || len_n > max {
        return Some(INVALID.into());
    }
    if leading_zero(len) {
        return Some("must not have leading 0s in IP or prefix length".into());
    }
    match addr {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len_n)).unwrap_or(0);
            if u32::from(v4) & !mask != 0 {
                return Some("must not have bits set beyond the prefix length".into());
            }
        }
        IpAddr::V6(v6) => {
            if v6.to_ipv4_mapped().is_some() {
                return Some("must not have an IPv4-mapped IPv6 address".into());
            }
            let mask = u128::MAX.checked_shl(128 - u32::from(len_n)).unwrap_or(0);
            if u128::from(v6) & !mask != 0 {
                return Some("must not have bits set beyond the prefix length".into());
            }
            let canonical = format!("{v6}/{len_n}");
            if canonical != cidr {
                return Some(format!(
                    "must be in canonical form ({})",
                    go_quote(&canonical)
                ));
            }
        }
    }
    None
}

fn cidrs(obj: &Value) -> Vec<&str> {
    obj.pointer("/spec/cidrs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The checks of a ServiceCIDR's spec.
pub fn validate(obj: &Value, causes: &mut Vec<Cause>) {
    let list = cidrs(obj);
    if list.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: at least one CIDR required".into(),
            field: "spec.cidrs".into(),
        });
        return;
    }
    if list.len() > 2 {
        causes.push(invalid_strings(
            "spec.cidrs",
            &list,
            "may only hold up to 2 values",
        ));
        return;
    }
    let mut valid = true;
    for (i, cidr) in list.iter().enumerate() {
        if let Some(problem) = cidr_problem(cidr) {
            valid = false;
            causes.push(invalid_value(format!("spec.cidrs[{i}]"), cidr, &problem));
        }
    }
    if valid && list.len() == 2 && list[0].contains(':') == list[1].contains(':') {
        causes.push(invalid_strings(
            "spec.cidrs",
            &list,
            "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64",
        ));
    }
}

/// An update may only add the other family's block to a single-block ServiceCIDR.
pub fn validate_update(old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    let (was, now) = (cidrs(old), cidrs(new));
    let immutable = |field: String, value: &str| invalid_value(field, value, "field is immutable");
    if was.len() == now.len() {
        for (i, (a, b)) in was.iter().zip(&now).enumerate() {
            if a != b {
                causes.push(immutable(format!("spec.cidrs[{i}]"), b));
            }
        }
    } else if was.len() == 1 && now.len() == 2 {
        if was[0] != now[0] {
            causes.push(immutable("spec.cidrs[0]".into(), now[0]));
        }
    } else {
        causes.push(invalid_strings("spec.cidrs", &now, "field is immutable"));
    }
}

/// Whether the allocator may take addresses from this ServiceCIDR: not being deleted, and
/// Ready or not yet judged, as upstream's allocator decides.
fn eligible(obj: &Value) -> bool {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return false;
    }
    let ready = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    ready.is_none_or(|c| c["status"] == "True")
}

fn parse_v4(cidr: &str) -> Option<Ipv4Range> {
    let (ip, len) = cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let prefix: u8 = len.parse().ok().filter(|p| *p <= 32)?;
    Some(Ipv4Range {
        base: u32::from(ip),
        prefix,
    })
}

/// The IPv4 ranges Services take addresses from: the server's own first, then every eligible
/// ServiceCIDR's, by name, each once.
pub fn ranges(registry: &Registry) -> Vec<Ipv4Range> {
    let mut out = vec![DEFAULT_RANGE];
    let Some(def) = def() else { return out };
    let (items, _, _) = registry
        .store()
        .list(&def.key_prefix(), None, 0, |_, _| true);
    for (_, kv) in items {
        let Ok(obj) = serde_json::from_slice::<Value>(&kv.value) else {
            continue;
        };
        if !eligible(&obj) {
            continue;
        }
        for range in cidrs(&obj).into_iter().filter_map(parse_v4) {
            if !out.contains(&range) {
                out.push(range);
            }
        }
    }
    out
}

fn def() -> Option<&'static ResourceDef> {
    resources::find("networking.k8s.io", "v1", "servicecidrs")
}

/// Creates the default ServiceCIDR, Ready, when it is missing (at start, as upstream's
/// kubernetes-service-cidr-controller does).
pub async fn ensure_default(registry: &Registry) -> Result<(), ApiError> {
    let def = def().ok_or_else(|| ApiError::internal("servicecidrs not served"))?;
    if registry.get_value(def, None, DEFAULT_NAME).is_ok() {
        return Ok(());
    }
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let obj = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "ServiceCIDR",
        "metadata": {"name": DEFAULT_NAME},
        "spec": {"cidrs": [DEFAULT_RANGE.to_string()]},
        "status": {"conditions": [{
            "type": "Ready",
            "status": "True",
            "lastTransitionTime": now,
            "reason": "",
            "message": "Kubernetes default Service CIDR is ready",
        }]},
    });
    let opts = WriteOptions {
        field_manager: "kubernetes-service-cidr-controller".into(),
        ..Default::default()
    };
    match registry.create(def, None, obj, &opts).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(obj: Value) -> Vec<(String, String)> {
        let mut causes = Vec::new();
        validate(&obj, &mut causes);
        causes.into_iter().map(|c| (c.field, c.message)).collect()
    }

    #[test]
    fn cidrs_are_checked_as_upstream_checks_them() {
        let spec = |cidrs: Value| json!({"spec": {"cidrs": cidrs}});
        assert!(messages(spec(json!(["10.100.0.0/16", "fd00:10::/108"]))).is_empty());
        assert_eq!(
            messages(spec(json!([]))),
            [(
                "spec.cidrs".into(),
                "Required value: at least one CIDR required".into()
            )]
        );
        assert_eq!(
            messages(spec(json!(["10.0.0.0/8", "10.1.0.0/16", "fd00::/64"])))[0].1,
            r#"Invalid value: []string{"10.0.0.0/8", "10.1.0.0/16", "fd00::/64"}: may only hold up to 2 values"#
        );
        let one = |cidr: &str| messages(spec(json!([cidr])))[0].1.clone();
        assert_eq!(
            one("10.0.0.1/8"),
            r#"Invalid value: "10.0.0.1/8": must not have bits set beyond the prefix length"#
        );
        assert_eq!(
            one("nope"),
            r#"Invalid value: "nope": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"#
        );
        assert_eq!(
            one("010.0.0.0/8"),
            r#"Invalid value: "010.0.0.0/8": must not have leading 0s in IP or prefix length"#
        );
        assert_eq!(
            one("fd00:0::/64"),
            r#"Invalid value: "fd00:0::/64": must be in canonical form ("fd00::/64")"#
        );
        assert_eq!(
            messages(spec(json!(["10.0.0.0/8", "192.168.0.0/16"])))[0],
            ("spec.cidrs".into(), r#"Invalid value: []string{"10.0.0.0/8", "192.168.0.0/16"}: may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64"#.into())
        );
    }

    #[test]
    fn only_the_other_family_may_be_added_on_update() {
        let spec = |cidrs: Value| json!({"spec": {"cidrs": cidrs}});
        let check = |old: Value, new: Value| {
            let mut causes = Vec::new();
            validate_update(&old, &new, &mut causes);
            causes.into_iter().map(|c| c.field).collect::<Vec<_>>()
        };
        assert!(check(
            spec(json!(["10.0.0.0/8"])),
            spec(json!(["10.0.0.0/8", "fd00::/64"]))
        )
        .is_empty());
        assert_eq!(
            check(spec(json!(["10.0.0.0/8"])), spec(json!(["10.2.0.0/16"]))),
            ["spec.cidrs[0]"]
        );
        assert_eq!(
            check(
                spec(json!(["10.0.0.0/8", "fd00::/64"])),
                spec(json!(["10.0.0.0/8"]))
            ),
            ["spec.cidrs"]
        );
    }

    #[test]
    fn ranges_leave_out_network_and_broadcast_and_cidrs_being_deleted_or_not_ready() {
        let r = parse_v4("10.97.0.0/28").unwrap();
        assert!(!r.holds(Ipv4Addr::new(10, 97, 0, 0)));
        assert!(r.holds(Ipv4Addr::new(10, 97, 0, 1)));
        assert!(r.holds(Ipv4Addr::new(10, 97, 0, 14)));
        assert!(!r.holds(Ipv4Addr::new(10, 97, 0, 15)));
        assert_eq!(DEFAULT_RANGE.static_band(), 256);
        assert_eq!(r.static_band(), 16);
        assert!(eligible(&json!({"spec": {}})));
        assert!(!eligible(
            &json!({"metadata": {"deletionTimestamp": "2026-12-01T00:00:00Z"}})
        ));
        assert!(!eligible(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
        ));
    }
}

//! Cells for RBAC, networking, discovery, coordination, policy, storage, certificates,
//! scheduling, node and admission registration resources.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::duration::human_duration;
use super::util::*;

/// Role and binding cells shared by RoleBindings and ClusterRoleBindings.
pub(super) fn role_binding(rb: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        str_at(rb, &["roleRef", "kind"]),
        str_at(rb, &["roleRef", "name"])
    );
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut service_accounts = Vec::new();
    for subject in arr_at(rb, &["subjects"]) {
        let subject_name = str_at(subject, &["name"]);
        match str_at(subject, &["kind"]) {
            "User" => users.push(subject_name.to_string()),
            "Group" => groups.push(subject_name.to_string()),
            "ServiceAccount" => service_accounts.push(format!(
                "{}/{subject_name}",
                str_at(subject, &["namespace"])
            )),
            _ => {}
        }
    }
    vec![
        s(name(rb)),
        s(role),
        age(rb, now),
        s(users.join(", ")),
        s(groups.join(", ")),
        s(service_accounts.join(", ")),
    ]
}

pub(super) fn lease(lease: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        s(name(lease)),
        s(str_at(lease, &["spec", "holderIdentity"])),
        age(lease, now),
    ]
}

pub(super) fn endpoint_slice(slice: &Value, now: DateTime<Utc>) -> Vec<Value> {
    const MAX: usize = 3;
    let ports = arr_at(slice, &["ports"]);
    let port_list: Vec<String> = ports
        .iter()
        .take(MAX)
        .map(|p| match (opt_int(p, &["port"]), opt_str(p, &["name"])) {
            (Some(port), _) => port.to_string(),
            (None, Some(port_name)) => port_name.to_string(),
            (None, None) => "*".to_string(),
        })
        .collect();
    let ports_text = list_with_more(&port_list, ports.len() > MAX, ports.len(), MAX);

    let addresses: Vec<&str> = arr_at(slice, &["endpoints"])
        .iter()
        .flat_map(|e| arr_at(e, &["addresses"]))
        .map(|a| a.as_str().unwrap_or(""))
        .collect();
    let address_list: Vec<String> = addresses.iter().take(MAX).map(|a| a.to_string()).collect();
    let endpoints_text = list_with_more(&address_list, addresses.len() > MAX, addresses.len(), MAX);
    vec![
        s(name(slice)),
        s(str_at(slice, &["addressType"])),
        s(ports_text),
        s(endpoints_text),
        age(slice, now),
    ]
}

pub(super) fn ingress(ing: &Value, now: DateTime<Utc>) -> Vec<Value> {
    const MAX: usize = 3;
    let rules = arr_at(ing, &["spec", "rules"]);
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if more {
        format!("{} + {} more...", hosts.join(","), rules.len() - MAX)
    } else {
        hosts.join(",")
    };
    let ports = if arr_at(ing, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        s(name(ing)),
        s(opt_str(ing, &["spec", "ingressClassName"]).unwrap_or("<none>")),
        s(hosts),
        s(load_balancer_ingress(get(ing, &["status", "loadBalancer"]))),
        s(ports),
        age(ing, now),
    ]
}

pub(super) fn ingress_class(class: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let parameters = match get(class, &["spec", "parameters"]).filter(|p| p.is_object()) {
        Some(p) => {
            let kind = str_at(p, &["kind"]);
            let name = str_at(p, &["name"]);
            match opt_str(p, &["apiGroup"]) {
                Some(group) => format!("{kind}.{group}/{name}"),
                None => format!("{kind}/{name}"),
            }
        }
        None => "<none>".to_string(),
    };
    vec![
        s(name(class)),
        s(str_at(class, &["spec", "controller"])),
        s(parameters),
        age(class, now),
    ]
}

pub(super) fn network_policy(np: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        s(name(np)),
        s(format_label_selector(get(np, &["spec", "podSelector"]))),
        age(np, now),
    ]
}

pub(super) fn pod_disruption_budget(pdb: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let or_na = |field: &str| {
        int_or_string(get(pdb, &["spec", field])).unwrap_or_else(|| "N/A".to_string())
    };
    vec![
        s(name(pdb)),
        s(or_na("minAvailable")),
        s(or_na("maxUnavailable")),
        n(int_at(pdb, &["status", "disruptionsAllowed"])),
        age(pdb, now),
    ]
}

/// Whether an annotation marks the object as its kind's default (`"true"`).
fn annotated_default(obj: &Value, keys: &[&str]) -> bool {
    keys.iter()
        .any(|k| opt_str(obj, &["metadata", "annotations", k]) == Some("true"))
}

pub(super) fn storage_class(sc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut display = name(sc).to_string();
    if annotated_default(
        sc,
        &[
            "storageclass.kubernetes.io/is-default-class",
            "storageclass.beta.kubernetes.io/is-default-class",
        ],
    ) {
        display.push_str(" (default)");
    }
    vec![
        s(display),
        s(str_at(sc, &["provisioner"])),
        s(opt_str(sc, &["reclaimPolicy"]).unwrap_or("Delete")),
        s(opt_str(sc, &["volumeBindingMode"]).unwrap_or("Immediate")),
        Value::Bool(bool_at(sc, &["allowVolumeExpansion"])),
        age(sc, now),
    ]
}

/// The Condition cell of a CSR: `Denied`, `Approved` or `Pending`, then `,Failed` and
/// `,Issued` as they apply.
fn csr_condition(csr: &Value) -> String {
    let conditions = arr_at(csr, &["status", "conditions"]);
    let has = |t: &str| conditions.iter().any(|c| str_at(c, &["type"]) == t);
    let mut status = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !str_at(csr, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}

pub(super) fn certificate_signing_request(csr: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let signer = match str_at(csr, &["spec", "signerName"]) {
        "" => "<none>",
        signer => signer,
    };
    let requested = match opt_int(csr, &["spec", "expirationSeconds"]) {
        Some(secs) => human_duration(chrono::Duration::seconds(secs)),
        None => "<none>".to_string(),
    };
    vec![
        s(name(csr)),
        age(csr, now),
        s(signer),
        s(str_at(csr, &["spec", "username"])),
        s(requested),
        s(csr_condition(csr)),
    ]
}

pub(super) fn priority_class(pc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        s(name(pc)),
        n(int_at(pc, &["value"])),
        Value::Bool(bool_at(pc, &["globalDefault"])),
        age(pc, now),
        s(opt_str(pc, &["preemptionPolicy"]).unwrap_or("PreemptLowerPriority")),
    ]
}

pub(super) fn webhook_configuration(cfg: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![s(name(cfg)), n(len_at(cfg, &["webhooks"])), age(cfg, now)]
}

/// `Local` or `namespace/name`; `True`, `False (Reason)` or `Unknown`.
pub(super) fn api_service(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let service = match get(svc, &["spec", "service"]).filter(|s| s.is_object()) {
        Some(s) => format!("{}/{}", str_at(s, &["namespace"]), str_at(s, &["name"])),
        None => "Local".to_string(),
    };
    let available = arr_at(svc, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Available")
        .map(|c| match (str_at(c, &["status"]), str_at(c, &["reason"])) {
            ("True", _) => "True".to_string(),
            (status, "") => status.to_string(),
            (status, reason) => format!("{status} ({reason})"),
        })
        .unwrap_or_else(|| "Unknown".to_string());
    vec![s(name(svc)), s(service), s(available), age(svc, now)]
}

pub(super) fn service_cidr(cidr: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let cidrs: Vec<&str> = arr_at(cidr, &["spec", "cidrs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    vec![s(name(cidr)), s(cidrs.join(",")), age(cidr, now)]
}

/// `resource[.group]/[namespace/]name` of the parent, as upstream prints it.
pub(super) fn ip_address(ip: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let parent = match get(ip, &["spec", "parentRef"]).filter(|p| p.is_object()) {
        Some(p) => {
            let resource = str_at(p, &["resource"]).to_lowercase();
            let mut out = match opt_str(p, &["group"]).filter(|g| !g.is_empty()) {
                Some(group) => format!("{resource}.{group}"),
                None => resource,
            };
            if let Some(ns) = opt_str(p, &["namespace"]).filter(|n| !n.is_empty()) {
                out = format!("{out}/{ns}");
            }
            format!("{out}/{}", str_at(p, &["name"]))
        }
        None => "<none>".to_string(),
    };
    vec![s(name(ip)), s(parent)]
}

pub(super) fn runtime_class(rc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![s(name(rc)), s(str_at(rc, &["handler"])), age(rc, now)]
}

pub(super) fn flow_schema(fs: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let missing =
        condition_status(arr_at(fs, &["status", "conditions"]), "Dangling").unwrap_or("?");
    vec![
        s(name(fs)),
        s(str_at(fs, &["spec", "priorityLevelConfiguration", "name"])),
        n(int_at(fs, &["spec", "matchingPrecedence"])),
        s(opt_str(fs, &["spec", "distinguisherMethod", "type"]).unwrap_or("<none>")),
        age(fs, now),
        s(missing),
    ]
}

pub(super) fn priority_level(pl: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let queuing = ["spec", "limited", "limitResponse", "queuing"];
    let cell = |path: &[&str]| opt_int(pl, path).map_or_else(|| s("<none>"), n);
    let under = |field: &str| {
        let mut path = queuing.to_vec();
        path.push(field);
        cell(&path)
    };
    vec![
        s(name(pl)),
        s(str_at(pl, &["spec", "type"])),
        cell(&["spec", "limited", "nominalConcurrencyShares"]),
        under("queues"),
        under("handSize"),
        under("queueLengthLimit"),
        age(pl, now),
    ]
}

/// Unset fields read as the API's defaults (attach required, the rest off).
pub(super) fn csi_driver(d: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let flag =
        |field: &str, default: bool| Value::Bool(opt_bool(d, &["spec", field]).unwrap_or(default));
    let audiences: Vec<&str> = arr_at(d, &["spec", "tokenRequests"])
        .iter()
        .map(|t| str_at(t, &["audience"]))
        .collect();
    let modes: Vec<&str> = arr_at(d, &["spec", "volumeLifecycleModes"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    vec![
        s(name(d)),
        flag("attachRequired", true),
        flag("podInfoOnMount", false),
        flag("storageCapacity", false),
        s(if audiences.is_empty() {
            "<unset>".to_string()
        } else {
            audiences.join(",")
        }),
        flag("requiresRepublish", false),
        s(if modes.is_empty() {
            "<none>".to_string()
        } else {
            modes.join(",")
        }),
        age(d, now),
    ]
}

pub(super) fn csi_node(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        s(name(node)),
        n(len_at(node, &["spec", "drivers"])),
        age(node, now),
    ]
}

pub(super) fn csi_storage_capacity(c: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let capacity = match get(c, &["capacity"]) {
        Some(Value::String(q)) => q.clone(),
        Some(Value::Number(q)) => q.to_string(),
        _ => "<unset>".to_string(),
    };
    vec![s(name(c)), s(str_at(c, &["storageClassName"])), s(capacity)]
}

pub(super) fn volume_attachment(va: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        s(name(va)),
        s(str_at(va, &["spec", "attacher"])),
        s(str_at(va, &["spec", "source", "persistentVolumeName"])),
        s(str_at(va, &["spec", "nodeName"])),
        Value::Bool(bool_at(va, &["status", "attached"])),
        age(va, now),
    ]
}

pub(super) fn volume_attributes_class(vac: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![s(name(vac)), s(str_at(vac, &["driverName"])), age(vac, now)]
}

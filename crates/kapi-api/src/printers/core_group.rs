//! Cells for the core (`""` group) resources.
//!
//! Where upstream's defaulting always fills a field (a Service's `type`, a Secret's `type`, a
//! port's `protocol`, ...), a missing field is printed as that default, so sparse objects print as
//! the stored, defaulted object would.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::quantity;
use super::util::*;

/// Whether the init container `name` of the pod is a restartable (sidecar) one.
fn is_sidecar(pod: &Value, name: &str) -> bool {
    arr_at(pod, &["spec", "initContainers"])
        .iter()
        .any(|c| str_at(c, &["name"]) == name && str_at(c, &["restartPolicy"]) == "Always")
}

/// Keeps the later of `latest` and the `lastState.terminated.finishedAt` of a container status.
fn note_last_termination(latest: &mut Option<DateTime<Utc>>, status: &Value) {
    if let Some(t) = time_at(status, &["lastState", "terminated", "finishedAt"]) {
        if latest.is_none_or(|l| l < t) {
            *latest = Some(t);
        }
    }
}

/// The reason text for a terminated state without a reason: `Signal:N` or `ExitCode:N`.
fn exit_text(terminated: &Value) -> String {
    let signal = int_at(terminated, &["signal"]);
    if signal != 0 {
        format!("Signal:{signal}")
    } else {
        format!("ExitCode:{}", int_at(terminated, &["exitCode"]))
    }
}

fn condition_true(conditions: &[Value], type_: &str) -> bool {
    condition_status(conditions, type_) == Some("True")
}

pub(super) fn pod(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let status = get(pod, &["status"]).unwrap_or(&Value::Null);
    let conditions = arr_at(status, &["conditions"]);
    let init_specs = arr_at(pod, &["spec", "initContainers"]);
    let sidecars = init_specs
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
        .count();
    let total = arr_at(pod, &["spec", "containers"]).len() + sidecars;
    let mut ready = 0;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;

    let phase = str_at(status, &["phase"]);
    let mut reason = match str_at(status, &["reason"]) {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    if conditions.iter().any(|c| {
        str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated"
    }) {
        reason = "SchedulingGated".to_string();
    }

    let mut initializing = false;
    for (i, c) in arr_at(status, &["initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let count = int_at(c, &["restartCount"]);
        restarts += count;
        note_last_termination(&mut last_restart, c);
        let sidecar = is_sidecar(pod, str_at(c, &["name"]));
        if sidecar {
            sidecar_restarts += count;
            note_last_termination(&mut last_sidecar_restart, c);
        }
        let terminated = get(c, &["state", "terminated"]).filter(|t| t.is_object());
        let waiting_reason = str_at(c, &["state", "waiting", "reason"]);
        if terminated.is_some_and(|t| int_at(t, &["exitCode"]) == 0) {
            continue;
        }
        if sidecar && bool_at(c, &["started"]) {
            if bool_at(c, &["ready"]) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = match str_at(t, &["reason"]) {
                "" => format!("Init:{}", exit_text(t)),
                r => format!("Init:{r}"),
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(conditions, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in arr_at(status, &["containerStatuses"]).iter().rev() {
            restarts += int_at(c, &["restartCount"]);
            note_last_termination(&mut last_restart, c);
            let waiting_reason = str_at(c, &["state", "waiting", "reason"]);
            let terminated = get(c, &["state", "terminated"]).filter(|t| t.is_object());
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = match str_at(t, &["reason"]) {
                    "" => exit_text(t),
                    r => r.to_string(),
                };
            } else if bool_at(c, &["ready"]) && present(c, &["state", "running"]) {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(conditions, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if deleting(pod) && str_at(status, &["reason"]) == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting(pod) && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    let pod_ip = arr_at(status, &["podIPs"])
        .first()
        .map(|p| str_at(p, &["ip"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| str_at(status, &["podIP"]));
    let none_if_empty = |v: &str| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.to_string()
        }
    };
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let passing = gates
            .iter()
            .filter(|g| condition_true(conditions, str_at(g, &["conditionType"])))
            .count();
        format!("{passing}/{}", gates.len())
    };

    vec![
        s(name(pod)),
        s(format!("{ready}/{total}")),
        s(reason),
        s(restarts_text),
        age(pod, now),
        s(none_if_empty(pod_ip)),
        s(none_if_empty(str_at(pod, &["spec", "nodeName"]))),
        s(none_if_empty(str_at(status, &["nominatedNodeName"]))),
        s(readiness_gates),
    ]
}

/// Row conditions for a pod: completed pods are marked, so clients can hide them.
pub(super) fn pod_row_conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match str_at(pod, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(serde_json::json!([{
        "type": "Completed",
        "status": "True",
        "reason": reason,
        "message": message,
    }]))
}

pub(super) fn pod_template(obj: &Value) -> Vec<Value> {
    let (names, images) = container_cells(get(obj, &["template", "spec"]));
    vec![
        s(name(obj)),
        names,
        images,
        s(format_labels(obj_at(
            obj,
            &["template", "metadata", "labels"],
        ))),
    ]
}

/// The External-IP cell of a Service.
fn service_external_ip(svc: &Value, type_: &str) -> String {
    let external: Vec<&str> = arr_at(svc, &["spec", "externalIPs"])
        .iter()
        .map(|v| v.as_str().unwrap_or(""))
        .collect();
    match type_ {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ingress(get(svc, &["status", "loadBalancer"]));
            if !external.is_empty() {
                let mut all: Vec<&str> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(','));
                }
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

pub(super) fn service(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let type_ = opt_str(svc, &["spec", "type"]).unwrap_or("ClusterIP");
    let cluster_ip = arr_at(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| opt_str(svc, &["spec", "clusterIP"]).filter(|ip| !ip.is_empty()))
        .unwrap_or("<none>");
    let ports: Vec<String> = arr_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            let protocol = opt_str(p, &["protocol"]).unwrap_or("TCP");
            match int_at(p, &["nodePort"]) {
                np if np > 0 => format!("{port}:{np}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        s(name(svc)),
        s(type_),
        s(cluster_ip),
        s(service_external_ip(svc, type_)),
        s(ports),
        age(svc, now),
        s(format_labels(obj_at(svc, &["spec", "selector"]))),
    ]
}

/// The Endpoints cell: up to three `ip:port` pairs, then ` + N more...`.
fn format_endpoints(obj: &Value) -> String {
    let subsets = arr_at(obj, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for subset in subsets {
        let addresses = arr_at(subset, &["addresses"]);
        let ports = arr_at(subset, &["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(str_at(a, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_at(a, &["ip"]), int_at(port, &["port"])));
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count.saturating_sub(MAX))
    } else {
        joined
    }
}

pub(super) fn endpoints(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![s(name(obj)), s(format_endpoints(obj)), age(obj, now)]
}

pub(super) fn namespace(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let phase = opt_str(obj, &["status", "phase"]).unwrap_or("Active");
    vec![s(name(obj)), s(phase), age(obj, now)]
}

pub(super) fn config_map(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let count = len_at(obj, &["data"]) + len_at(obj, &["binaryData"]);
    vec![s(name(obj)), n(count), age(obj, now)]
}

pub(super) fn secret(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let type_ = opt_str(obj, &["type"]).unwrap_or("Opaque");
    // `stringData` is write-only upstream (merged into `data`); count its keys too.
    let mut keys: Vec<&String> = obj_at(obj, &["data"])
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .collect();
    keys.extend(
        obj_at(obj, &["stringData"])
            .into_iter()
            .flatten()
            .map(|(k, _)| k),
    );
    keys.sort_unstable();
    keys.dedup();
    vec![s(name(obj)), s(type_), n(keys.len() as i64), age(obj, now)]
}

pub(super) fn service_account(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![s(name(obj)), n(len_at(obj, &["secrets"])), age(obj, now)]
}

/// The first address of `type_` in a node's status, or `<none>`.
fn node_address<'a>(node: &'a Value, type_: &str) -> &'a str {
    arr_at(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == type_)
        .map_or("<none>", |a| str_at(a, &["address"]))
}

pub(super) fn node(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ready = arr_at(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| str_at(c, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if str_at(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_at(node, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<&str> = obj_at(node, &["metadata", "labels"])
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                Some(role).filter(|r| !r.is_empty())
            } else if k == "kubernetes.io/role" {
                v.as_str().filter(|r| !r.is_empty())
            } else {
                None
            }
        })
        .collect();
    roles.sort_unstable();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let info = |field: &str| match str_at(node, &["status", "nodeInfo", field]) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        s(name(node)),
        s(status.join(",")),
        s(roles),
        age(node, now),
        s(str_at(node, &["status", "nodeInfo", "kubeletVersion"])),
        s(node_address(node, "InternalIP")),
        s(node_address(node, "ExternalIP")),
        s(info("osImage")),
        s(info("kernelVersion")),
        s(info("containerRuntimeVersion")),
    ]
}

/// The fields of an event, under the names of either API (`v1` or `events.k8s.io/v1`).
struct EventView<'a> {
    first_timestamp: Option<DateTime<Utc>>,
    last_timestamp: Option<DateTime<Utc>>,
    event_time: Option<DateTime<Utc>>,
    count: i64,
    series: Option<&'a Value>,
    involved: Option<&'a Value>,
    source: Option<&'a Value>,
    message: &'a str,
}

/// Cells for an event, in its stored core form (`events.k8s.io/v1` Events are stored so too).
pub(super) fn event(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let view = EventView {
        first_timestamp: time_at(ev, &["firstTimestamp"]),
        last_timestamp: time_at(ev, &["lastTimestamp"]),
        event_time: time_at(ev, &["eventTime"]),
        count: int_at(ev, &["count"]),
        series: get(ev, &["series"]).filter(|v| v.is_object()),
        involved: get(ev, &["involvedObject"]),
        source: get(ev, &["source"]),
        message: str_at(ev, &["message"]),
    };
    let first = match view.first_timestamp {
        Some(t) => since(Some(t), now),
        None => since(view.event_time, now),
    };
    let mut last = match view.last_timestamp {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = view.count;
    if let Some(series) = view.series {
        last = since(time_at(series, &["lastObservedTime"]), now);
        count = int_at(series, &["count"]);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let involved = view.involved.unwrap_or(&Value::Null);
    let kind = str_at(involved, &["kind"]).to_lowercase();
    let target = match str_at(involved, &["name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let source = view.source.unwrap_or(&Value::Null);
    let component = first_non_empty(
        str_at(source, &["component"]),
        str_at(ev, &["reportingComponent"]),
    );
    let instance = first_non_empty(
        str_at(source, &["host"]),
        str_at(ev, &["reportingInstance"]),
    );
    let source_text = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        s(last),
        s(str_at(ev, &["type"])),
        s(str_at(ev, &["reason"])),
        s(target),
        s(str_at(involved, &["fieldPath"])),
        s(source_text),
        s(view.message.trim()),
        s(first),
        n(count),
        s(name(ev)),
    ]
}

/// Access modes in upstream's short form and fixed order: `RWO,ROX,RWX,RWOP`.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(long, _)| has(long))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// The storage class of a PV or PVC: the beta annotation wins over `spec.storageClassName`.
fn storage_class(obj: &Value) -> &str {
    opt_str(
        obj,
        &["metadata", "annotations", BETA_STORAGE_CLASS_ANNOTATION],
    )
    .unwrap_or_else(|| str_at(obj, &["spec", "storageClassName"]))
}

/// A quantity from a resource list, canonical; `0` when absent.
fn quantity_at(obj: &Value, path: &[&str]) -> String {
    match get(obj, path) {
        Some(Value::String(q)) => quantity::canonical(q),
        Some(Value::Number(q)) => quantity::canonical(&q.to_string()),
        _ => "0".to_string(),
    }
}

pub(super) fn persistent_volume(pv: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = match get(pv, &["spec", "claimRef"]).filter(|c| c.is_object()) {
        Some(c) => format!("{}/{}", str_at(c, &["namespace"]), str_at(c, &["name"])),
        None => String::new(),
    };
    let phase = if deleting(pv) {
        "Terminating"
    } else {
        opt_str(pv, &["status", "phase"]).unwrap_or("Pending")
    };
    vec![
        s(name(pv)),
        s(quantity_at(pv, &["spec", "capacity", "storage"])),
        s(access_modes(arr_at(pv, &["spec", "accessModes"]))),
        s(opt_str(pv, &["spec", "persistentVolumeReclaimPolicy"]).unwrap_or("Retain")),
        s(phase),
        s(claim),
        s(storage_class(pv)),
        s(opt_str(pv, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        s(str_at(pv, &["status", "reason"])),
        age(pv, now),
        s(opt_str(pv, &["spec", "volumeMode"]).unwrap_or("Filesystem")),
    ]
}

pub(super) fn persistent_volume_claim(pvc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let phase = if deleting(pvc) {
        "Terminating"
    } else {
        opt_str(pvc, &["status", "phase"]).unwrap_or("Pending")
    };
    let volume = str_at(pvc, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity_at(pvc, &["status", "capacity", "storage"]),
            access_modes(arr_at(pvc, &["status", "accessModes"])),
        )
    };
    vec![
        s(name(pvc)),
        s(phase),
        s(volume),
        s(capacity),
        s(modes),
        s(storage_class(pvc)),
        s(opt_str(pvc, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        age(pvc, now),
        s(opt_str(pvc, &["spec", "volumeMode"]).unwrap_or("Filesystem")),
    ]
}

pub(super) fn resource_quota(rq: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut resources: Vec<&String> = obj_at(rq, &["status", "hard"])
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .collect();
    resources.sort_unstable();
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    for r in resources {
        let used = quantity_at(rq, &["status", "used", r]);
        let hard = quantity_at(rq, &["status", "hard", r]);
        let text = format!("{r}: {used}/{hard}");
        let mut pieces = r.split('.');
        if pieces.next() == Some("limits") && pieces.next().is_some() {
            limits.push(text);
        } else {
            requests.push(text);
        }
    }
    vec![
        s(name(rq)),
        s(requests.join(", ")),
        s(limits.join(", ")),
        age(rq, now),
    ]
}

pub(super) fn replication_controller(rc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(get(rc, &["spec", "template", "spec"]));
    vec![
        s(name(rc)),
        n(opt_int(rc, &["spec", "replicas"]).unwrap_or(1)),
        n(int_at(rc, &["status", "replicas"])),
        n(int_at(rc, &["status", "readyReplicas"])),
        age(rc, now),
        names,
        images,
        s(format_labels(obj_at(rc, &["spec", "selector"]))),
    ]
}

pub(super) fn component_status(cs: &Value) -> Vec<Value> {
    let healthy = arr_at(cs, &["conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Healthy");
    let (status, message, error) = match healthy {
        Some(c) => (
            if str_at(c, &["status"]) == "True" {
                "Healthy"
            } else {
                "Unhealthy"
            },
            str_at(c, &["message"]),
            str_at(c, &["error"]),
        ),
        None => ("Unknown", "", ""),
    };
    vec![s(name(cs)), s(status), s(message), s(error)]
}

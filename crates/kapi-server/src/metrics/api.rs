//! The `metrics.k8s.io/v1beta1` endpoints: NodeMetrics and PodMetrics (single and lists, label
//! selectors applied to the Node's or Pod's own labels), built from [`super::Cache`].

use std::collections::BTreeMap;

use http::Response;
use kapi_api::resources;
use kapi_api::selectors::{field_value, FieldSelector, LabelSelector};
use kapi_api::status::ApiError;
use serde_json::{json, Value};

use super::{Usage, GROUP, VERSION};
use crate::handlers::Query;
use crate::request_info::RequestInfo;
use crate::response::{self, Body};
use crate::Server;

/// CPU as a canonical decimal quantity from nanocores (`250m`, `1`, `1234n`).
pub fn cpu_quantity(nano: u64) -> String {
    match nano {
        0 => "0".to_string(),
        n if n.is_multiple_of(1_000_000_000) => format!("{}", n / 1_000_000_000),
        n if n.is_multiple_of(1_000_000) => format!("{}m", n / 1_000_000),
        n if n.is_multiple_of(1_000) => format!("{}u", n / 1_000),
        n => format!("{n}n"),
    }
}

/// Memory as a canonical binary quantity (`12345Ki`), plain bytes when no suffix divides it.
pub fn memory_quantity(bytes: u64) -> String {
    const SUFFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    if bytes == 0 {
        return "0".to_string();
    }
    let mut value = bytes;
    let mut suffix = "";
    for s in SUFFIXES {
        if !value.is_multiple_of(1024) {
            break;
        }
        value /= 1024;
        suffix = s;
    }
    format!("{value}{suffix}")
}

/// A window as Go prints a `time.Duration` (`15.003s`, `1m0.5s`).
pub fn go_duration(ms: i64) -> String {
    let minutes = ms / 60_000;
    let rest = ms % 60_000;
    let seconds = if rest % 1000 == 0 {
        format!("{}s", rest / 1000)
    } else {
        let frac = format!("{:03}", rest % 1000);
        format!("{}.{}s", rest / 1000, frac.trim_end_matches('0'))
    };
    if minutes > 0 {
        format!("{minutes}m{seconds}")
    } else {
        seconds
    }
}

fn rfc3339_ms(ms: i64) -> Value {
    chrono::DateTime::from_timestamp_millis(ms).map_or(Value::Null, |t| {
        json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    })
}

fn usage_json(u: &Usage) -> Value {
    json!({"cpu": cpu_quantity(u.nano_cores), "memory": memory_quantity(u.memory)})
}

fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn metadata(name: &str, namespace: Option<&str>, labels: &BTreeMap<String, String>) -> Value {
    let mut m = json!({"name": name, "creationTimestamp": rfc3339_ms(chrono::Utc::now().timestamp_millis())});
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    if !labels.is_empty() {
        m["labels"] = json!(labels);
    }
    m
}

fn list(kind: &str, items: Vec<Value>) -> Response<Body> {
    response::json_value(
        200,
        &json!({
            "kind": kind,
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "metadata": {},
            "items": items,
        }),
    )
}

fn single(kind: &str, mut item: Value) -> Response<Body> {
    item["kind"] = json!(kind);
    item["apiVersion"] = json!(format!("{GROUP}/{VERSION}"));
    response::json_value(200, &item)
}

/// A list's selectors, applied to the Node or Pod the metrics describe (as metrics-server
/// filters the objects it lists).
struct Selector {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Selector {
    fn matches(&self, obj: &Value, labels: &BTreeMap<String, String>) -> bool {
        self.labels.matches(labels) && self.fields.matches(|f| field_value(obj, f))
    }
}

/// Answers a request for the group's resources (already authorized like any resource).
pub fn serve(
    server: &Server,
    info: &RequestInfo,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    if !info.subresource.is_empty() {
        return Err(ApiError::no_route());
    }
    if !matches!(info.verb.as_str(), "get" | "list") {
        return Err(ApiError::method_not_supported(
            GROUP,
            &info.resource,
            &info.verb,
        ));
    }
    let selector = Selector {
        labels: LabelSelector::parse(query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        fields: FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
    };
    match info.resource.as_str() {
        "nodes" if info.namespace.is_empty() => nodes(server, &info.name, &selector),
        "pods" => pods(server, &info.namespace, &info.name, &selector),
        _ => Err(ApiError::no_route()),
    }
}

fn nodes(server: &Server, name: &str, selector: &Selector) -> Result<Response<Body>, ApiError> {
    let def = resources::find("", "v1", "nodes").ok_or_else(ApiError::no_route)?;
    let mut items = Vec::new();
    for (node, usage) in server.metrics.nodes() {
        if !name.is_empty() && node != name {
            continue;
        }
        let Ok((obj, _)) = server.registry.get_value(def, None, &node) else {
            continue;
        };
        let labels = labels_of(&obj);
        if name.is_empty() && !selector.matches(&obj, &labels) {
            continue;
        }
        items.push(json!({
            "metadata": metadata(&node, None, &labels),
            "timestamp": rfc3339_ms(usage.timestamp_ms),
            "window": go_duration(usage.window_ms),
            "usage": usage_json(&usage),
        }));
    }
    if name.is_empty() {
        return Ok(list("NodeMetricsList", items));
    }
    match items.pop() {
        Some(item) => Ok(single("NodeMetrics", item)),
        None => Err(ApiError::not_found(GROUP, "nodes", name)),
    }
}

fn pods(
    server: &Server,
    namespace: &str,
    name: &str,
    selector: &Selector,
) -> Result<Response<Body>, ApiError> {
    let def = resources::find("", "v1", "pods").ok_or_else(ApiError::no_route)?;
    let mut items = Vec::new();
    for ((ns, pod), containers) in server.metrics.pods() {
        if (!namespace.is_empty() && ns != namespace) || (!name.is_empty() && pod != name) {
            continue;
        }
        let Ok((obj, _)) = server.registry.get_value(def, Some(&ns), &pod) else {
            continue;
        };
        let labels = labels_of(&obj);
        if name.is_empty() && !selector.matches(&obj, &labels) {
            continue;
        }
        let (timestamp, window) = containers
            .iter()
            .map(|(_, u)| (u.timestamp_ms, u.window_ms))
            .max()
            .unwrap_or_default();
        items.push(json!({
            "metadata": metadata(&pod, Some(&ns), &labels),
            "timestamp": rfc3339_ms(timestamp),
            "window": go_duration(window),
            "containers": containers.iter().map(|(c, u)| json!({"name": c, "usage": usage_json(u)})).collect::<Vec<_>>(),
        }));
    }
    if name.is_empty() {
        return Ok(list("PodMetricsList", items));
    }
    match items.pop() {
        Some(item) => Ok(single("PodMetrics", item)),
        None => Err(ApiError::not_found(GROUP, "pods", name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_canonical() {
        assert_eq!(cpu_quantity(0), "0");
        assert_eq!(cpu_quantity(2_000_000_000), "2");
        assert_eq!(cpu_quantity(250_000_000), "250m");
        assert_eq!(cpu_quantity(1_500), "1500n");
        assert_eq!(cpu_quantity(3_000), "3u");
        assert_eq!(memory_quantity(12_345 * 1024), "12345Ki");
        assert_eq!(memory_quantity(3 * 1024 * 1024), "3Mi");
        assert_eq!(memory_quantity(1000), "1000");
    }

    #[test]
    fn windows_print_as_go_durations() {
        assert_eq!(go_duration(15_000), "15s");
        assert_eq!(go_duration(15_003), "15.003s");
        assert_eq!(go_duration(60_500), "1m0.5s");
    }
}

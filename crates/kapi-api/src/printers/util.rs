//! Small helpers shared by the printers: tolerant JSON access, timestamps, label and selector
//! formatting, container lists.
//!
//! Every accessor treats a missing field, or a field of the wrong JSON type, as absent: objects
//! handed to the printers may be sparse, and printing must never fail.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::duration::human_duration;

/// The value at `path`, if every step exists.
pub(super) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.as_object()?.get(*key)?;
    }
    Some(cur)
}

/// The string at `path`, or "" when absent or not a string.
pub(super) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

/// The string at `path`, if present (an empty string counts as present).
pub(super) fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// The integer at `path`, or 0.
pub(super) fn int_at(v: &Value, path: &[&str]) -> i64 {
    opt_int(v, path).unwrap_or(0)
}

/// The integer at `path`, if present. Floats with an integral value are accepted.
pub(super) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    let n = get(v, path)?;
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
            .map(|f| f as i64)
    })
}

/// The boolean at `path`, if present.
pub(super) fn opt_bool(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path).and_then(Value::as_bool)
}

/// The boolean at `path`, or false.
pub(super) fn bool_at(v: &Value, path: &[&str]) -> bool {
    opt_bool(v, path).unwrap_or(false)
}

/// The array at `path`, or an empty slice.
pub(super) fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object at `path`, if present.
pub(super) fn obj_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    get(v, path).and_then(Value::as_object)
}

/// The number of entries of the map or array at `path` (0 when absent).
pub(super) fn len_at(v: &Value, path: &[&str]) -> i64 {
    match get(v, path) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

/// Whether the value at `path` is present and not JSON null.
pub(super) fn present(v: &Value, path: &[&str]) -> bool {
    !matches!(get(v, path), None | Some(Value::Null))
}

/// `metadata.name`.
pub(super) fn name(obj: &Value) -> &str {
    str_at(obj, &["metadata", "name"])
}

/// Whether `metadata.deletionTimestamp` is set.
pub(super) fn deleting(obj: &Value) -> bool {
    present(obj, &["metadata", "deletionTimestamp"])
}

/// A JSON string cell.
pub(super) fn s(x: impl Into<String>) -> Value {
    Value::String(x.into())
}

/// A JSON integer cell.
pub(super) fn n(x: i64) -> Value {
    Value::from(x)
}

/// Parses an RFC 3339 timestamp (seconds or fractional seconds). The zero time of Go
/// (`0001-01-01T00:00:00Z`), which upstream treats as unset, is returned as `None`.
pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    if t.timestamp() == ZERO_TIME_SECS {
        return None;
    }
    Some(t)
}

/// Seconds since the Unix epoch of Go's zero time, 0001-01-01T00:00:00Z.
const ZERO_TIME_SECS: i64 = -62_135_596_800;

/// The timestamp at `path`, if present and valid.
pub(super) fn time_at(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    opt_str(v, path).and_then(parse_time)
}

/// How long ago `t` was, as upstream prints it: `<unknown>` when unset.
pub(super) fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => human_duration(now.signed_duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

/// The age cell: time since `metadata.creationTimestamp`.
pub(super) fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    s(since(time_at(obj, &["metadata", "creationTimestamp"]), now))
}

/// `metadata.creationTimestamp` in RFC 3339 (UTC, whole seconds), Go's zero time when unset.
pub(super) fn created_at(obj: &Value) -> String {
    match opt_str(obj, &["metadata", "creationTimestamp"])
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => t
            .with_timezone(&Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

/// A string-to-string map as `k1=v1,k2=v2` sorted by key; `<none>` when empty or absent.
pub(super) fn format_labels(map: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<(&str, &str)> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
        .collect();
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A `LabelSelector` that cannot be turned into a selector.
#[derive(Debug)]
pub(super) struct InvalidSelector;

/// A `metav1.LabelSelector` in selector syntax, requirements sorted by key: `a=b,c in (x,y)`.
/// Absent or empty selectors give "".
pub(super) fn label_selector_string(sel: Option<&Value>) -> Result<String, InvalidSelector> {
    let Some(sel) = sel.filter(|v| !v.is_null()) else {
        return Ok(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in obj_at(sel, &["matchLabels"]).into_iter().flatten() {
        let v = v.as_str().unwrap_or("");
        reqs.push((k.clone(), format!("{k}={v}")));
    }
    for expr in arr_at(sel, &["matchExpressions"]) {
        let key = str_at(expr, &["key"]);
        let mut values: Vec<&str> = arr_at(expr, &["values"])
            .iter()
            .map(|v| v.as_str().unwrap_or(""))
            .collect();
        values.sort_unstable();
        let text = match str_at(expr, &["operator"]) {
            "In" | "NotIn" if values.is_empty() => return Err(InvalidSelector),
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" | "DoesNotExist" if !values.is_empty() => return Err(InvalidSelector),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return Err(InvalidSelector),
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(","))
}

/// Upstream's `FormatLabelSelector`: the selector string, `<none>` when empty, `<error>` when
/// invalid.
pub(super) fn format_label_selector(sel: Option<&Value>) -> String {
    match label_selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(InvalidSelector) => "<error>".to_string(),
    }
}

/// Container names and images of a pod spec, each comma-joined.
pub(super) fn container_cells(pod_spec: Option<&Value>) -> (Value, Value) {
    let containers = pod_spec.map_or(&[][..], |spec| arr_at(spec, &["containers"]));
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (s(names.join(",")), s(images.join(",")))
}

/// Host and port joined as Go's `net.JoinHostPort` does (IPv6 hosts in brackets).
pub(super) fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The first non-empty string.
pub(super) fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
    }
}

/// `list` comma-joined, with ` + N more...` when it was cut at `max` of `count` entries;
/// `<unset>` when empty.
pub(super) fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let joined = list.join(",");
    if more {
        return format!("{joined} + {} more...", count.saturating_sub(max));
    }
    if joined.is_empty() {
        return "<unset>".to_string();
    }
    joined
}

/// A load balancer status (`status.loadBalancer`) as the sorted set of its IPs or hostnames,
/// comma-joined.
pub(super) fn load_balancer_ingress(status: Option<&Value>) -> String {
    let ingress = status.map_or(&[][..], |s| arr_at(s, &["ingress"]));
    let mut set: Vec<&str> = ingress
        .iter()
        .filter_map(|i| {
            let ip = str_at(i, &["ip"]);
            let host = str_at(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.sort_unstable();
    set.dedup();
    set.join(",")
}

/// An `IntOrString` value as text (`""` when absent).
pub(super) fn int_or_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The status of the first condition of `type_` in `conditions`, if any.
pub(super) fn condition_status<'a>(conditions: &'a [Value], type_: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .map(|c| str_at(c, &["status"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_format_like_upstream() {
        let cases = [
            (json!(null), "<none>"),
            (json!({}), "<none>"),
            (json!({"matchLabels": {"b": "2", "a": "1"}}), "a=1,b=2"),
            (
                json!({"matchLabels": {"z": "1"}, "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["web", "api"]},
                    {"key": "env", "operator": "NotIn", "values": ["prod"]},
                    {"key": "a", "operator": "Exists"},
                    {"key": "b", "operator": "DoesNotExist"}
                ]}),
                "a,!b,env notin (prod),tier in (api,web),z=1",
            ),
            (
                json!({"matchExpressions": [{"key": "x", "operator": "Bogus"}]}),
                "<error>",
            ),
        ];
        for (sel, want) in cases {
            assert_eq!(format_label_selector(Some(&sel)), want, "{sel}");
        }
    }

    #[test]
    fn labels_format_sorted() {
        let m = json!({"b": "2", "a": "1"});
        assert_eq!(format_labels(m.as_object()), "a=1,b=2");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn zero_time_is_unset() {
        assert!(parse_time("0001-01-01T00:00:00Z").is_none());
        assert!(parse_time("2024-01-01T00:00:00Z").is_some());
        assert!(parse_time("2024-01-01T00:00:00.123456Z").is_some());
        assert!(parse_time("garbage").is_none());
    }

    #[test]
    fn host_ports_join() {
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
    }
}

//! Upstream's range checks on workload and Service fields that kapi used to store unchecked
//! (a Deployment of -1 replicas, a containerPort of 99999, a Service on port 0, a negative
//! memory request, a CronJob schedule that is not one): each refused with upstream's field
//! path and words.

use kapi_api::status::{invalid_number, invalid_value, required, ApiError, Cause};
use serde_json::Value;

const PORT_RANGE: &str = "must be between 1 and 65535, inclusive";
const NON_NEGATIVE: &str = "must be greater than or equal to 0";
/// Upstream's words when a quantity does not parse (a decoding error there, so a 400).
pub const QUANTITY_SYNTAX: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// `spec.replicas` of a Deployment, ReplicaSet, StatefulSet or ReplicationController.
pub fn replicas(obj: &Value, causes: &mut Vec<Cause>) {
    if let Some(n) = obj.pointer("/spec/replicas").and_then(Value::as_i64) {
        if n < 0 {
            causes.push(invalid_number("spec.replicas", n, NON_NEGATIVE));
        }
    }
}

fn port_in_range(n: i64) -> bool {
    (1..=65535).contains(&n)
}

/// Every container of a pod spec, init containers first, with its field path.
fn each_container<'a>(
    spec: &'a Value,
    path: &'a str,
) -> impl Iterator<Item = (String, &'a Value)> + 'a {
    ["initContainers", "containers"]
        .into_iter()
        .flat_map(move |list| {
            spec.get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .map(move |(i, c)| (format!("{path}.{list}[{i}]"), c))
        })
}

/// A container's resource quantities: the field path of each and its text.
fn quantities(at: &str, c: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for kind in ["requests", "limits"] {
        if let Some(Value::Object(m)) = c.pointer(&format!("/resources/{kind}")) {
            for (name, q) in m {
                let text = q.as_str().map_or_else(|| q.to_string(), str::to_string);
                out.push((format!("{at}.resources.{kind}[{name}]"), text));
            }
        }
    }
    out
}

/// Container ports and resource quantities of every container of a pod spec at `path`.
pub fn containers(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(spec) = spec else { return };
    for (at, c) in each_container(spec, path) {
        for (j, p) in c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let port_at = format!("{at}.ports[{j}]");
            match p.get("containerPort").and_then(Value::as_i64) {
                None | Some(0) => causes.push(required(format!("{port_at}.containerPort"))),
                Some(n) if !port_in_range(n) => causes.push(invalid_number(
                    format!("{port_at}.containerPort"),
                    n,
                    PORT_RANGE,
                )),
                Some(_) => {}
            }
            if let Some(n) = p.get("hostPort").and_then(Value::as_i64) {
                if n != 0 && !port_in_range(n) {
                    causes.push(invalid_number(format!("{port_at}.hostPort"), n, PORT_RANGE));
                }
            }
        }
        for (field, text) in quantities(&at, c) {
            if kapi_api::quantity::parse_milli(&text).is_some_and(|v| v < 0) {
                causes.push(invalid_value(field, &text, NON_NEGATIVE));
            }
        }
    }
}

/// Quantities that do not parse, which upstream refuses while decoding the body (400).
pub fn quantity_syntax(kind: &str, version: &str, spec: Option<&Value>) -> Result<(), ApiError> {
    let Some(spec) = spec else { return Ok(()) };
    let unparseable = each_container(spec, "")
        .flat_map(|(at, c)| quantities(&at, c))
        .any(|(_, text)| kapi_api::quantity::parse_milli(&text).is_none());
    if unparseable {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {QUANTITY_SYNTAX}"
        )));
    }
    Ok(())
}

/// A Service's `spec.ports[].port` (and a numeric `targetPort`, `nodePort` aside: the
/// allocator checks those).
pub fn service_ports(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(Value::Array(ports)) = obj.pointer("/spec/ports") else {
        return;
    };
    for (i, p) in ports.iter().enumerate() {
        if let Some(n) = p.get("port").and_then(Value::as_i64) {
            if !port_in_range(n) {
                causes.push(invalid_number(
                    format!("spec.ports[{i}].port"),
                    n,
                    PORT_RANGE,
                ));
            }
        }
        if let Some(n) = p.get("targetPort").and_then(Value::as_i64) {
            if !port_in_range(n) {
                causes.push(invalid_number(
                    format!("spec.ports[{i}].targetPort"),
                    n,
                    PORT_RANGE,
                ));
            }
        }
    }
}

/// A CronJob's `spec.schedule`, parsed as the controller will parse it.
pub fn schedule(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(schedule) = obj.pointer("/spec/schedule").and_then(Value::as_str) else {
        return;
    };
    let zone = obj.pointer("/spec/timeZone").and_then(Value::as_str);
    if let Err(e) = kapi_controllers::cronjob::schedule::Schedule::parse(schedule, zone) {
        let field = match e {
            kapi_controllers::cronjob::schedule::ScheduleError::TimeZone(_) => "spec.timeZone",
            _ => "spec.schedule",
        };
        let value = if field == "spec.timeZone" {
            zone.unwrap_or_default()
        } else {
            schedule
        };
        // Upstream's parser prints the fields it found as a Go slice.
        let why = match e {
            kapi_controllers::cronjob::schedule::ScheduleError::Fields(n, _) => format!(
                "expected exactly 5 fields, found {n}: [{}]",
                schedule.split_whitespace().collect::<Vec<_>>().join(" ")
            ),
            other => other.to_string(),
        };
        causes.push(invalid_value(field, value, &why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(f: impl Fn(&Value, &mut Vec<Cause>), obj: Value) -> Vec<String> {
        let mut causes = Vec::new();
        f(&obj, &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn ranges_are_checked_with_upstreams_words() {
        assert_eq!(
            messages(replicas, json!({"spec": {"replicas": -1}})),
            ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
        );
        assert_eq!(
            messages(
                service_ports,
                json!({"spec": {"ports": [{"port": 0}, {"port": 70000}, {"port": 80}]}})
            ),
            [
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive"
            ]
        );
        let pod = json!({"spec": {"containers": [{"name": "a", "image": "i",
            "ports": [{"containerPort": 99999}],
            "resources": {"requests": {"memory": "-5Gi", "cpu": "250m"}}}]}});
        assert_eq!(
            messages(|o, c| containers(o.get("spec"), "spec", c), pod),
            [
                "spec.containers[0].ports[0].containerPort: Invalid value: 99999: must be between 1 and 65535, inclusive",
                "spec.containers[0].resources.requests[memory]: Invalid value: \"-5Gi\": must be greater than or equal to 0"
            ]
        );
        let bad = json!({"containers": [{"resources": {"limits": {"cpu": "1.2.3"}}}]});
        let err = quantity_syntax("Pod", "v1", Some(&bad)).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (400, "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"));
        let cron = messages(schedule, json!({"spec": {"schedule": "not a cron"}}));
        assert_eq!(cron.len(), 1);
        assert_eq!(
            cron[0],
            "spec.schedule: Invalid value: \"not a cron\": expected exactly 5 fields, found 3: [not a cron]"
        );
    }
}

//! Cells for the `apps` and `batch` workloads.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::duration::human_duration;
use super::util::*;

/// `spec.replicas`, which upstream's defaulting sets to 1 when omitted.
fn desired_replicas(obj: &Value) -> i64 {
    opt_int(obj, &["spec", "replicas"]).unwrap_or(1)
}

pub(super) fn deployment(d: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(get(d, &["spec", "template", "spec"]));
    let selector = label_selector_string(get(d, &["spec", "selector"]))
        .unwrap_or_else(|InvalidSelector| "<invalid>".to_string());
    vec![
        s(name(d)),
        s(format!(
            "{}/{}",
            int_at(d, &["status", "readyReplicas"]),
            desired_replicas(d)
        )),
        n(int_at(d, &["status", "updatedReplicas"])),
        n(int_at(d, &["status", "availableReplicas"])),
        age(d, now),
        names,
        images,
        s(selector),
    ]
}

pub(super) fn replica_set(rs: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(get(rs, &["spec", "template", "spec"]));
    vec![
        s(name(rs)),
        n(desired_replicas(rs)),
        n(int_at(rs, &["status", "replicas"])),
        n(int_at(rs, &["status", "readyReplicas"])),
        age(rs, now),
        names,
        images,
        s(format_label_selector(get(rs, &["spec", "selector"]))),
    ]
}

pub(super) fn stateful_set(sts: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(get(sts, &["spec", "template", "spec"]));
    vec![
        s(name(sts)),
        s(format!(
            "{}/{}",
            int_at(sts, &["status", "readyReplicas"]),
            desired_replicas(sts)
        )),
        age(sts, now),
        names,
        images,
    ]
}

pub(super) fn daemon_set(ds: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(get(ds, &["spec", "template", "spec"]));
    let status = |field: &str| n(int_at(ds, &["status", field]));
    vec![
        s(name(ds)),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        s(format_labels(obj_at(
            ds,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        age(ds, now),
        names,
        images,
        s(format_label_selector(get(ds, &["spec", "selector"]))),
    ]
}

/// `kind.group/name` (lowercase kind and group) of the controlling owner, or `<none>`.
fn controller_of(obj: &Value) -> String {
    let Some(owner) = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|o| bool_at(o, &["controller"]))
    else {
        return "<none>".to_string();
    };
    let api_version = str_at(owner, &["apiVersion"]);
    let group = match api_version.split_once('/') {
        Some((g, _)) => g,
        None => "",
    };
    let kind = str_at(owner, &["kind"]);
    let owner_name = str_at(owner, &["name"]);
    if kind.is_empty() && group.is_empty() {
        return owner_name.to_string();
    }
    let group_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    format!("{}/{owner_name}", group_kind.to_lowercase())
}

pub(super) fn controller_revision(cr: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        s(name(cr)),
        s(controller_of(cr)),
        n(int_at(cr, &["revision"])),
        age(cr, now),
    ]
}

/// Whether the first condition of `type_` is true.
fn has_condition(conditions: &[Value], type_: &str) -> bool {
    condition_status(conditions, type_) == Some("True")
}

pub(super) fn job(job: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int_at(job, &["status", "succeeded"]);
    let completions = match opt_int(job, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int_at(job, &["spec", "parallelism"]) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        time_at(job, &["status", "startTime"]),
        time_at(job, &["status", "completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.signed_duration_since(start)),
        (Some(start), Some(end)) => human_duration(end.signed_duration_since(start)),
    };
    let conditions = arr_at(job, &["status", "conditions"]);
    let status = if has_condition(conditions, "Complete") {
        "Complete"
    } else if has_condition(conditions, "Failed") {
        "Failed"
    } else if deleting(job) {
        "Terminating"
    } else if has_condition(conditions, "Suspended") {
        "Suspended"
    } else if has_condition(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = container_cells(get(job, &["spec", "template", "spec"]));
    vec![
        s(name(job)),
        s(status),
        s(completions),
        s(duration),
        age(job, now),
        names,
        images,
        s(format_label_selector(get(job, &["spec", "selector"]))),
    ]
}

pub(super) fn cron_job(cj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last_schedule = match get(cj, &["status", "lastScheduleTime"]) {
        Some(Value::String(t)) => since(parse_time(t), now),
        _ => "<none>".to_string(),
    };
    // `spec.suspend` defaults to false upstream.
    let suspend = if opt_bool(cj, &["spec", "suspend"]).unwrap_or(false) {
        "True"
    } else {
        "False"
    };
    let job_spec = get(cj, &["spec", "jobTemplate", "spec"]);
    let (names, images) = container_cells(job_spec.and_then(|j| get(j, &["template", "spec"])));
    vec![
        s(name(cj)),
        s(str_at(cj, &["spec", "schedule"])),
        s(opt_str(cj, &["spec", "timeZone"]).unwrap_or("<none>")),
        s(suspend),
        n(len_at(cj, &["status", "active"])),
        s(last_schedule),
        age(cj, now),
        names,
        images,
        s(format_label_selector(
            job_spec.and_then(|j| get(j, &["selector"])),
        )),
    ]
}

//! Per-resource rules: what a create or update may set, the defaults Kubernetes fills in,
//! and validation with upstream's field paths and messages.

use kapi_api::meta::{generate_suffix, validate_name, NameRule};
use kapi_api::resources::ResourceDef;
use kapi_api::status::{invalid_value, required, ApiError, Cause};
use serde_json::{json, Map, Value};

use super::write::now;

/// Upstream's cap on the size of one stored object.
pub const MAX_OBJECT_BYTES: usize = 1_536 * 1024;

fn obj_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

fn child<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    let m = obj_mut(v);
    let entry = m.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry
}

fn default(v: &mut Value, key: &str, value: Value) {
    let m = obj_mut(v);
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

/// A name from `metadata.generateName` and a fresh suffix, when the object has no name.
pub fn generated_name(meta: &Value, suffix: impl FnOnce() -> String) -> Option<String> {
    let named = meta
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let prefix = meta
        .get("generateName")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())?;
    (!named).then(|| format!("{prefix}{}", suffix()))
}

/// Prepares a new object: identity, metadata the server owns, defaults, validation.
pub fn prepare_create(
    def: &ResourceDef,
    ns: Option<&str>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    check_type(def, obj)?;
    super::object_meta::normalize(obj);
    {
        let meta = child(obj, "metadata");
        if let Some(name) = generated_name(meta, || generate_suffix(rand::random::<u32>)) {
            meta["name"] = json!(name);
        }
        if def.namespaced {
            let url_ns = ns.unwrap_or_default();
            match meta.get("namespace").and_then(Value::as_str) {
                Some(body_ns) if !body_ns.is_empty() && body_ns != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => meta["namespace"] = json!(url_ns),
            }
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        let m = obj_mut(meta);
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(now()));
        m.remove("resourceVersion");
        m.remove("deletionTimestamp");
        m.remove("deletionGracePeriodSeconds");
        m.remove("selfLink");
        m.remove("managedFields");
        if def.generation {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
    if def.has_status() {
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
    }
    apply_defaults(def, obj);
    validate(def, obj)?;
    Ok(())
}

/// Builds the object an update produces from the stored `old` and the client's `new`.
pub fn prepare_update(
    def: &ResourceDef,
    subresource: &str,
    old: &Value,
    mut new: Value,
) -> Result<Value, ApiError> {
    if !new.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    check_type(def, &mut new)?;
    super::object_meta::normalize(&mut new);
    let result = match subresource {
        "status" => {
            // Only .status changes through the status subresource.
            let mut merged = old.clone();
            merged["status"] = new.get("status").cloned().unwrap_or(json!({}));
            merged
        }
        "" | "approval" | "finalize" | "ephemeralcontainers" | "binding" => {
            if def.has_status() && subresource.is_empty() {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            {
                let old_meta = old.get("metadata").cloned().unwrap_or(json!({}));
                let meta = child(&mut new, "metadata");
                let m = obj_mut(meta);
                for key in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "namespace",
                    "name",
                    "generation",
                ] {
                    match old_meta.get(key) {
                        Some(v) => {
                            m.insert(key.into(), v.clone());
                        }
                        None => {
                            m.remove(key);
                        }
                    }
                }
                if !m.contains_key("managedFields") {
                    if let Some(mf) = old_meta.get("managedFields") {
                        m.insert("managedFields".into(), mf.clone());
                    }
                }
                m.remove("selfLink");
            }
            apply_defaults(def, &mut new);
            if def.generation && spec_changed(old, &new) {
                let g = old
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    + 1;
                new["metadata"]["generation"] = json!(g);
            }
            new
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "the subresource {other} of {} cannot be written this way",
                def.resource
            )))
        }
    };
    if subresource.is_empty() {
        let mut causes = Vec::new();
        super::update_rules::check(def, old, &result, &mut causes);
        if !causes.is_empty() {
            let name = result
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(ApiError::invalid(def.group, def.kind, name, causes));
        }
    }
    validate(def, &result)?;
    Ok(result)
}

fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(old) != strip(new)
}

fn check_type(def: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
    let want_version = def.api_version();
    let m = obj_mut(obj);
    match m.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k != def.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind of the object ({k}) does not match the kind of the URL ({})",
                def.kind
            )))
        }
        _ => {}
    }
    match m.get("apiVersion").and_then(Value::as_str) {
        Some(v) if !v.is_empty() && v != want_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want_version})"
            )))
        }
        _ => {}
    }
    // apiVersion and kind lead, as in every object the API serves.
    let mut ordered = Map::new();
    ordered.insert("apiVersion".into(), json!(want_version));
    ordered.insert("kind".into(), json!(def.kind));
    for (k, v) in std::mem::take(m) {
        if k != "apiVersion" && k != "kind" {
            ordered.insert(k, v);
        }
    }
    *m = ordered;
    Ok(())
}

fn apply_defaults(def: &ResourceDef, obj: &mut Value) {
    match (def.group, def.resource) {
        ("", "namespaces") => {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let labels = child(child(obj, "metadata"), "labels");
            labels["kubernetes.io/metadata.name"] = json!(name);
            let spec = child(obj, "spec");
            default(spec, "finalizers", json!(["kubernetes"]));
            let status = child(obj, "status");
            default(status, "phase", json!("Active"));
        }
        ("", "pods") => {
            default_pod_spec(child(obj, "spec"));
            let status = child(obj, "status");
            default(status, "phase", json!("Pending"));
            default(status, "qosClass", json!("BestEffort"));
        }
        ("", "secrets") => {
            default(obj, "type", json!("Opaque"));
            if let Some(Value::Object(string_data)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                use base64::Engine;
                let data = child(obj, "data");
                for (k, v) in string_data {
                    let s = v.as_str().unwrap_or_default();
                    data[k] = json!(base64::engine::general_purpose::STANDARD.encode(s));
                }
            }
        }
        ("", "services") => {
            let spec = child(obj, "spec");
            default(spec, "type", json!("ClusterIP"));
            default(spec, "sessionAffinity", json!("None"));
            let ty = spec
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP")
                .to_string();
            if ty != "ExternalName" {
                default(spec, "ipFamilies", json!(["IPv4"]));
                default(spec, "ipFamilyPolicy", json!("SingleStack"));
                default(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            if ty == "NodePort" || ty == "LoadBalancer" {
                default(spec, "externalTrafficPolicy", json!("Cluster"));
            }
            if ty == "LoadBalancer" {
                default(spec, "allocateLoadBalancerNodePorts", json!(true));
            }
            if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                for p in ports {
                    default(p, "protocol", json!("TCP"));
                    if p.get("targetPort").is_none() {
                        if let Some(port) = p.get("port").cloned() {
                            p["targetPort"] = port;
                        }
                    }
                }
            }
            let status = child(obj, "status");
            default(status, "loadBalancer", json!({}));
        }
        ("apps", "deployments") => {
            let spec = child(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            // Field by field, as upstream: `strategy: {}` (what `kubectl create deployment`
            // sends) becomes RollingUpdate 25%/25% too.
            let strategy = child(spec, "strategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let rolling = child(strategy, "rollingUpdate");
                default(rolling, "maxUnavailable", json!("25%"));
                default(rolling, "maxSurge", json!("25%"));
            }
            default_pod_spec(child(child(spec, "template"), "spec"));
        }
        ("apps", "replicasets") | ("", "replicationcontrollers") => {
            let core = def.group.is_empty();
            let spec = child(obj, "spec");
            default(spec, "replicas", json!(1));
            // A ReplicationController without a selector selects its template's labels, as
            // upstream defaults it (without that its pods would never count as its own).
            if core {
                let labels = spec.pointer("/template/metadata/labels").cloned();
                let empty = spec
                    .get("selector")
                    .and_then(Value::as_object)
                    .is_none_or(|m| m.is_empty());
                if let (Some(labels), true) = (labels, empty) {
                    spec["selector"] = labels;
                }
            }
            default_pod_spec(child(child(spec, "template"), "spec"));
        }
        ("apps", "statefulsets") => {
            let spec = child(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            default(spec, "revisionHistoryLimit", json!(10));
            // Field by field, as upstream: `rollingUpdate` is made only when the type was
            // absent, and an existing one gets `partition: 0`.
            let strategy = child(spec, "updateStrategy");
            if strategy.get("type").is_none_or(|t| t.is_null() || t == "") {
                strategy["type"] = json!("RollingUpdate");
                child(strategy, "rollingUpdate");
            }
            if strategy["type"] == "RollingUpdate" {
                if let Some(rolling) = strategy.get_mut("rollingUpdate").filter(|r| r.is_object()) {
                    default(rolling, "partition", json!(0));
                }
            }
            let retention = child(spec, "persistentVolumeClaimRetentionPolicy");
            default(retention, "whenDeleted", json!("Retain"));
            default(retention, "whenScaled", json!("Retain"));
            default_pod_spec(child(child(spec, "template"), "spec"));
        }
        ("apps", "daemonsets") => {
            let spec = child(obj, "spec");
            default(spec, "revisionHistoryLimit", json!(10));
            // Field by field, as upstream: `updateStrategy: {}` becomes RollingUpdate 1/0 too.
            let strategy = child(spec, "updateStrategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let rolling = child(strategy, "rollingUpdate");
                default(rolling, "maxUnavailable", json!(1));
                default(rolling, "maxSurge", json!(0));
            }
            default_pod_spec(child(child(spec, "template"), "spec"));
        }
        ("batch", "jobs") => {
            let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
            let spec = child(obj, "spec");
            default(spec, "backoffLimit", json!(6));
            // Upstream: both unset means one pod once; parallelism alone is a work queue
            // (completions stays unset).
            if spec.get("completions").is_none() && spec.get("parallelism").is_none() {
                default(spec, "completions", json!(1));
            }
            default(spec, "parallelism", json!(1));
            default(spec, "completionMode", json!("NonIndexed"));
            default(spec, "suspend", json!(false));
            if spec.get("podFailurePolicy").is_none() {
                default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            }
            generate_job_selector(&meta, spec);
            let tspec = child(child(spec, "template"), "spec");
            default(tspec, "restartPolicy", json!("Never"));
            default_pod_spec(tspec);
        }
        ("autoscaling", "horizontalpodautoscalers") => default_hpa_spec(child(obj, "spec")),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            crate::crd::validation::defaults(obj)
        }
        ("admissionregistration.k8s.io", resource) => {
            crate::admission::webhooks::configurations::defaults(
                obj,
                resource == "mutatingwebhookconfigurations",
            )
        }
        ("batch", "cronjobs") => {
            let spec = child(obj, "spec");
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
        }
        _ => {}
    }
}

/// autoscaling/v2 defaults: one replica at least, 80% average CPU utilization when no metric
/// is named, and each scaling direction's missing rules: scale up at once by up to 4 pods or
/// 100% per 15 s, whichever is more; scale down by up to 100% per 15 s. The scale-down
/// stabilization window stays unset; the controller applies its own default (300 s) to it.
fn default_hpa_spec(spec: &mut Value) {
    default(spec, "minReplicas", json!(1));
    if spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        spec["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}]);
    }
    let behavior = child(spec, "behavior");
    let up = child(behavior, "scaleUp");
    default(up, "stabilizationWindowSeconds", json!(0));
    default(up, "selectPolicy", json!("Max"));
    default(
        up,
        "policies",
        json!([{"type": "Pods", "value": 4, "periodSeconds": 15},
               {"type": "Percent", "value": 100, "periodSeconds": 15}]),
    );
    let down = child(behavior, "scaleDown");
    default(down, "selectPolicy", json!("Max"));
    default(
        down,
        "policies",
        json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
    );
}

/// Upstream's Job strategy: unless `manualSelector` is true, the selector is the Job's own
/// uid and the template carries the labels that select it (new and legacy names), so two Jobs
/// never fight over pods. Runs only while the selector is unset, i.e. on create.
fn generate_job_selector(meta: &Value, spec: &mut Value) {
    if spec.get("manualSelector") == Some(&json!(true)) || spec.get("selector").is_some() {
        return;
    }
    let (Some(uid), Some(name)) = (
        meta.get("uid").and_then(Value::as_str),
        meta.get("name").and_then(Value::as_str),
    ) else {
        return;
    };
    spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    let labels = child(child(child(spec, "template"), "metadata"), "labels");
    labels["batch.kubernetes.io/controller-uid"] = json!(uid);
    labels["batch.kubernetes.io/job-name"] = json!(name);
    labels["controller-uid"] = json!(uid);
    labels["job-name"] = json!(name);
}

fn default_pod_spec(spec: &mut Value) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "enableServiceLinks", json!(true));
    default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    default(spec, "priority", json!(0));
    for list in ["initContainers", "containers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(list) {
            for c in containers {
                let image = c
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let tag = image.rsplit('/').next().unwrap_or("");
                let latest = !tag.contains(':') || tag.ends_with(":latest");
                let policy = if latest && !image.contains('@') {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                default(c, "imagePullPolicy", json!(policy));
                default(c, "terminationMessagePath", json!("/dev/termination-log"));
                default(c, "terminationMessagePolicy", json!("File"));
                default(c, "resources", json!({}));
                if let Some(Value::Array(ports)) = c.get_mut("ports") {
                    for p in ports {
                        default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

fn validate(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let mut causes: Vec<Cause> = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: name or generateName is required".into(),
            field: "metadata.name".into(),
        });
    } else {
        for msg in validate_name(name, NameRule::for_resource(def.group, def.resource)) {
            causes.push(invalid_value("metadata.name", name, &msg));
        }
    }
    let pod_spec = match (def.group, def.resource) {
        ("", "pods") => obj.get("spec"),
        ("apps", _) | ("", "replicationcontrollers") | ("batch", "jobs") => {
            obj.pointer("/spec/template/spec")
        }
        ("batch", "cronjobs") => obj.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    };
    super::workload_checks::quantity_syntax(def.kind, def.version, pod_spec)?;
    super::object_meta::validate(obj, &mut causes);
    match (def.group, def.resource) {
        ("", "pods") => validate_pod_spec(obj.get("spec"), "spec", &mut causes),
        ("autoscaling", "horizontalpodautoscalers") => super::hpa::validate(obj, &mut causes),
        ("networking.k8s.io", "servicecidrs") => super::service_cidrs::validate(obj, &mut causes),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            crate::crd::validation::validate(obj, &mut causes)
        }
        ("admissionregistration.k8s.io", _) => {
            crate::admission::webhooks::configurations::validate(obj, &mut causes)
        }
        ("", "services") => super::workload_checks::service_ports(obj, &mut causes),
        ("batch", "cronjobs") => super::workload_checks::schedule(obj, &mut causes),
        ("apps", "deployments")
        | ("apps", "replicasets")
        | ("apps", "statefulsets")
        | ("apps", "daemonsets") => {
            super::workload_checks::replicas(obj, &mut causes);
            match obj.pointer("/spec/selector") {
                None => causes.push(required("spec.selector")),
                Some(selector) => validate_selector(def, selector, obj, &mut causes),
            }
            validate_pod_spec(
                obj.pointer("/spec/template/spec"),
                "spec.template.spec",
                &mut causes,
            );
        }
        ("", "replicationcontrollers") => {
            super::workload_checks::replicas(obj, &mut causes);
            let selector = obj.pointer("/spec/selector").and_then(Value::as_object);
            match selector.filter(|m| !m.is_empty()) {
                None => causes.push(required("spec.selector")),
                Some(m) => {
                    let labels = template_labels(obj);
                    if !m
                        .iter()
                        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
                    {
                        causes.push(selector_mismatch(&labels));
                    }
                }
            }
        }
        ("", "configmaps") | ("", "secrets") => {
            if let Some(Value::Object(data)) = obj.get("data") {
                for k in data.keys() {
                    if k.is_empty()
                        || !k
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
                    {
                        causes.push(invalid_value(format!("data[{k}]"), k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
                    }
                }
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(def.group, def.kind, name, causes))
    }
}

/// A workload's selector must select something, and its own pod template: otherwise the
/// controller would create pods it never counts, without end.
fn validate_selector(def: &ResourceDef, selector: &Value, obj: &Value, causes: &mut Vec<Cause>) {
    let parsed = match kapi_api::selectors::LabelSelector::from_label_selector_json(selector) {
        Ok(parsed) => parsed,
        Err(e) => {
            causes.push(invalid_value(
                "spec.selector",
                &selector.to_string(),
                &e.to_string(),
            ));
            return;
        }
    };
    if parsed.is_empty() || parsed.matches_nothing() {
        // Upstream prints the Go value of the empty selector.
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: v1.LabelSelector{{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}: empty selector is invalid for {}",
                def.kind.to_ascii_lowercase()
            ),
            field: "spec.selector".into(),
        });
        return;
    }
    let labels = template_labels(obj);
    if !parsed.matches(&labels) {
        causes.push(selector_mismatch(&labels));
    }
}

fn template_labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    obj.pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Upstream's cause, with the labels printed as Go prints the map.
fn selector_mismatch(labels: &std::collections::BTreeMap<String, String>) -> Cause {
    let map: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                kapi_api::status::go_quote(k),
                kapi_api::status::go_quote(v)
            )
        })
        .collect();
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!(
            "Invalid value: map[string]string{{{}}}: `selector` does not match template `labels`",
            map.join(", ")
        ),
        field: "spec.template.metadata.labels".into(),
    }
}

fn validate_pod_spec(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    super::workload_checks::containers(spec, path, causes);
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    match containers {
        None => causes.push(required(format!("{path}.containers"))),
        Some(list) if list.is_empty() => causes.push(required(format!("{path}.containers"))),
        Some(list) => {
            for (i, c) in list.iter().enumerate() {
                if c.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    causes.push(required(format!("{path}.containers[{i}].name")));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    causes.push(required(format!("{path}.containers[{i}].image")));
                }
            }
        }
    }
}

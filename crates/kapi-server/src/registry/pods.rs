//! What is particular to pods in storage: binding to a node (`pods/binding` and the legacy
//! `bindings` resource), and graceful deletion, which leaves a bound pod in place with a
//! deletionTimestamp until its node has stopped it.

use bytes::Bytes;
use kapi_api::resources::ResourceDef;
use kapi_api::status::ApiError;
use serde_json::{json, Value};

use super::write::{meta_mut, now, WriteOptions};
use super::Registry;

/// The grace period a delete of `pod` gets, or `None` when it is removed at once: pods not
/// bound to a node, pods that have finished, and deletes with a grace period of 0 go at once,
/// as upstream's pod strategy decides.
pub fn graceful_delete_seconds(pod: &Value, options: &Value) -> Option<i64> {
    let bound = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if !bound || finished {
        return None;
    }
    let grace = options
        .get("gracePeriodSeconds")
        .and_then(Value::as_i64)
        .or_else(|| {
            pod.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(30);
    (grace > 0).then_some(grace)
}

/// Marks a pod for graceful deletion: `deletionTimestamp` = now + grace, and the grace period
/// recorded for the node. A later delete may only shorten it. Returns `None` when nothing
/// changes.
pub fn mark_terminating(pod: &mut Value, grace: i64) -> Option<()> {
    let current = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    if pod.pointer("/metadata/deletionTimestamp").is_some() && current.is_some_and(|c| c <= grace) {
        return None;
    }
    let at = chrono::Utc::now() + chrono::Duration::seconds(grace);
    let meta = meta_mut(pod);
    meta.insert(
        "deletionTimestamp".into(),
        json!(at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
    Some(())
}

impl Registry {
    /// Binds a pod to a node (what the scheduler does): sets `spec.nodeName` and the
    /// PodScheduled condition. A pod already bound is a 409.
    pub async fn bind(
        &self,
        def: &'static ResourceDef,
        ns: &str,
        binding: &Value,
        opts: &WriteOptions,
    ) -> Result<Bytes, ApiError> {
        let name = binding
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let node = binding
            .pointer("/target/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let kind = binding
            .pointer("/target/kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        if node.is_empty() {
            return Err(ApiError::invalid(
                "",
                "Binding",
                &name,
                vec![kapi_api::status::required("target.name")],
            ));
        }
        if !kind.is_empty() && kind != "Node" {
            return Err(ApiError::bad_request(format!(
                "Binding target kind must be Node, not {kind:?}"
            )));
        }
        let uid = binding
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.guaranteed_update(def, Some(ns), &name, "binding", None, opts, false, |pod| {
            if let Some(uid) = &uid {
                if pod.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
                    return Err(ApiError::conflict_with(
                        "",
                        "pods/binding",
                        &name,
                        "the UID in the binding does not match the pod's",
                    ));
                }
            }
            if pod.pointer("/metadata/deletionTimestamp").is_some() {
                return Err(ApiError::conflict_with(
                    "",
                    "pods/binding",
                    &name,
                    &format!("pod {name} is being deleted, cannot be assigned to a host"),
                ));
            }
            let current = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !current.is_empty() {
                return Err(ApiError::conflict_with(
                    "",
                    "pods/binding",
                    &name,
                    &format!("pod {name} is already assigned to node {current:?}"),
                ));
            }
            let mut pod = pod.clone();
            pod["spec"]["nodeName"] = json!(node);
            set_scheduled(&mut pod);
            Ok(pod)
        })
        .await
    }
}

/// PodScheduled=True, replacing an earlier Unschedulable.
fn set_scheduled(pod: &mut Value) {
    let condition = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now()});
    let status = pod
        .as_object_mut()
        .map(|m| m.entry("status").or_insert_with(|| json!({})));
    let Some(status) = status.and_then(Value::as_object_mut) else {
        return;
    };
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    if let Some(list) = conditions.as_array_mut() {
        list.retain(|c| c["type"] != "PodScheduled");
        list.push(condition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bound_running_pods_are_deleted_gracefully() {
        let bound = json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 30}, "status": {"phase": "Running"}});
        assert_eq!(graceful_delete_seconds(&bound, &json!({})), Some(30));
        assert_eq!(
            graceful_delete_seconds(&bound, &json!({"gracePeriodSeconds": 5})),
            Some(5)
        );
        assert_eq!(
            graceful_delete_seconds(&bound, &json!({"gracePeriodSeconds": 0})),
            None
        );
        let pending = json!({"spec": {}, "status": {"phase": "Pending"}});
        assert_eq!(graceful_delete_seconds(&pending, &json!({})), None);
        let done = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        assert_eq!(graceful_delete_seconds(&done, &json!({})), None);
    }

    #[test]
    fn a_second_delete_may_only_shorten_the_grace() {
        let mut pod = json!({"metadata": {"name": "p"}});
        assert!(mark_terminating(&mut pod, 30).is_some());
        assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 30);
        assert!(mark_terminating(&mut pod, 60).is_none());
        assert!(mark_terminating(&mut pod, 1).is_some());
        assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 1);
    }
}

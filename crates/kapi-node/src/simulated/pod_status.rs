//! The status kubelet would report for a pod whose containers all started and are ready, and
//! the test for whether a pod already shows it (so a pod is written once, not on every event);
//! then, for a Job's pod, the status of containers that exited 0. A simulated pod never fails a
//! probe, and only Jobs' pods exit: kwok's default stages (ready, complete) are the model.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

/// The runtime name in container IDs and the Node's `containerRuntimeVersion`.
pub const RUNTIME: &str = "simulated";

/// What the node knows when it reports a pod.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The pod's address.
    pub pod_ip: String,
    /// The node's InternalIP.
    pub host_ip: String,
    /// Now (RFC 3339), the start time of a pod that has none yet.
    pub now: String,
}

/// Whether the pod already reports itself running and ready with an address: nothing to write.
pub fn settled(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    let containers = pod.spec.as_ref().map_or(0, |s| s.containers.len());
    status.phase.as_deref() == Some("Running")
        && status.pod_ip.as_deref().is_some_and(|ip| !ip.is_empty())
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
        && status
            .container_statuses
            .as_ref()
            .is_some_and(|s| s.len() == containers && s.iter().all(|c| c.ready))
}

/// Whether the pod has finished (Succeeded or Failed): a node leaves its status alone.
pub fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Whether a Job controls the pod: such a pod runs to completion (kwok's `pod-complete` stage),
/// any other runs until deleted.
pub fn runs_to_completion(pod: &Pod) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.kind == "Job" && o.api_version == "batch/v1")
}

/// The status of a running pod (see [`running_status`]) once every container has exited 0, as
/// kubelet reports it: phase Succeeded, Ready and ContainersReady False with reason
/// PodCompleted, the sandbox gone, each container terminated Completed. Addresses stay.
pub fn completed_status(pod: &Pod, now: &str) -> Value {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let previous = pod.status.as_ref();
    let time = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.map(|t| {
            t.0.to_rfc3339_opts(k8s_openapi::chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|| now.to_string())
    };
    let start = time(previous.and_then(|s| s.start_time.as_ref()));
    let kept = |kind: &str| {
        let since = time(
            previous
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == kind && c.status == "True"))
                .and_then(|c| c.last_transition_time.as_ref()),
        );
        json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": since})
    };
    let ended = |kind: &str, reason: Option<&str>| {
        let mut c = json!({"type": kind, "status": "False", "lastProbeTime": null, "lastTransitionTime": now});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        c
    };
    let containers: Vec<Value> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let id = container_id(uid, &c.name);
            json!({
                "name": c.name,
                "image": c.image.clone().unwrap_or_default(),
                "imageID": "",
                "containerID": id,
                "restartCount": 0,
                "ready": false,
                "started": false,
                "state": {"terminated": {
                    "exitCode": 0, "reason": "Completed",
                    "startedAt": start, "finishedAt": now, "containerID": id,
                }},
                "lastState": {},
            })
        })
        .collect();
    json!({
        "phase": "Succeeded",
        "conditions": [
            ended("PodReadyToStartContainers", None),
            kept("Initialized"),
            ended("Ready", Some("PodCompleted")),
            ended("ContainersReady", Some("PodCompleted")),
            kept("PodScheduled"),
        ],
        "containerStatuses": containers,
    })
}

/// A stable container ID, so that rewriting a status names the same containers.
fn container_id(uid: &str, name: &str) -> String {
    format!("{RUNTIME}://{uid}-{name}")
}

/// The pod's status as kubelet writes it once every container runs and is ready: phase
/// Running, the five conditions True, init containers Completed, containers running, started
/// and ready. Transition times already True are kept; `startTime` is kept once set.
pub fn running_status(pod: &Pod, at: &Placement) -> Value {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let previous = pod.status.as_ref();
    let start = previous
        .and_then(|s| s.start_time.as_ref())
        .map(|t| {
            t.0.to_rfc3339_opts(k8s_openapi::chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|| at.now.clone());
    let condition = |kind: &str| {
        let since = previous
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == kind && c.status == "True"))
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| {
                t.0.to_rfc3339_opts(k8s_openapi::chrono::SecondsFormat::Secs, true)
            })
            .unwrap_or_else(|| at.now.clone());
        json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": since})
    };
    let spec = pod.spec.as_ref();
    let containers: Vec<Value> = spec
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "image": c.image.clone().unwrap_or_default(),
                "imageID": "",
                "containerID": container_id(uid, &c.name),
                "restartCount": 0,
                "ready": true,
                "started": true,
                "state": {"running": {"startedAt": start}},
                "lastState": {},
            })
        })
        .collect();
    let mut status = json!({
        "phase": "Running",
        "conditions": [
            condition("PodReadyToStartContainers"),
            condition("Initialized"),
            condition("Ready"),
            condition("ContainersReady"),
            condition("PodScheduled"),
        ],
        "hostIP": at.host_ip,
        "hostIPs": [{"ip": at.host_ip}],
        "podIP": at.pod_ip,
        "podIPs": [{"ip": at.pod_ip}],
        "startTime": start,
        "containerStatuses": containers,
    });
    if let Some(inits) = spec.and_then(|s| s.init_containers.as_ref()) {
        status["initContainerStatuses"] = inits
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "image": c.image.clone().unwrap_or_default(),
                    "imageID": "",
                    "containerID": container_id(uid, &c.name),
                    "restartCount": 0,
                    "ready": true,
                    "started": false,
                    "state": {"terminated": {
                        "exitCode": 0, "reason": "Completed",
                        "startedAt": start, "finishedAt": start,
                        "containerID": container_id(uid, &c.name),
                    }},
                    "lastState": {},
                })
            })
            .collect();
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u-1"},
            "spec": {
                "nodeName": "n0",
                "initContainers": [{"name": "setup", "image": "busybox"}],
                "containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}],
            },
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            ]},
        }))
        .unwrap()
    }

    fn at() -> Placement {
        Placement {
            pod_ip: "10.244.0.2".into(),
            host_ip: "198.18.0.1".into(),
            now: "2026-01-02T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_running_status_has_every_container_ready_and_the_addresses() {
        let s = running_status(&pod(), &at());
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["podIP"], "10.244.0.2");
        assert_eq!(s["hostIPs"][0]["ip"], "198.18.0.1");
        assert_eq!(s["startTime"], "2026-01-02T00:00:00Z");
        let kinds: Vec<&str> = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled"
            ]
        );
        assert!(s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "True"));
        assert_eq!(s["containerStatuses"][1]["name"], "b");
        assert_eq!(s["containerStatuses"][1]["image"], "redis");
        assert_eq!(s["containerStatuses"][1]["ready"], true);
        assert_eq!(
            s["containerStatuses"][0]["state"]["running"]["startedAt"],
            "2026-01-02T00:00:00Z"
        );
        assert_eq!(
            s["initContainerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
    }

    #[test]
    fn the_scheduled_transition_time_is_kept() {
        let s = running_status(&pod(), &at());
        assert_eq!(
            s["conditions"][4]["lastTransitionTime"],
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            s["conditions"][2]["lastTransitionTime"],
            "2026-01-02T00:00:00Z"
        );
    }

    #[test]
    fn a_pod_is_settled_once_its_running_status_is_applied() {
        let mut p = pod();
        assert!(!settled(&p));
        let mut v = serde_json::to_value(&p).unwrap();
        v["status"] = running_status(&p, &at());
        p = serde_json::from_value(v).unwrap();
        assert!(settled(&p));
        // A container added to the status' expectations (another spec) unsettles it.
        p.spec.as_mut().unwrap().containers.push(Default::default());
        assert!(!settled(&p));
    }

    #[test]
    fn a_jobs_pod_completes_with_every_container_exited_zero() {
        let mut p = pod();
        assert!(!runs_to_completion(&p));
        p.metadata.owner_references = Some(vec![serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "j-1", "controller": true,
        }))
        .unwrap()]);
        assert!(runs_to_completion(&p));
        let mut v = serde_json::to_value(&p).unwrap();
        v["status"] = running_status(&p, &at());
        let running: Pod = serde_json::from_value(v).unwrap();
        let s = completed_status(&running, "2026-01-03T00:00:00Z");
        assert_eq!(s["phase"], "Succeeded");
        assert_eq!(s["conditions"][2]["status"], "False");
        assert_eq!(s["conditions"][2]["reason"], "PodCompleted");
        assert_eq!(
            s["conditions"][1]["lastTransitionTime"],
            "2026-01-02T00:00:00Z"
        );
        let t = &s["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(t["exitCode"], 0);
        assert_eq!(t["reason"], "Completed");
        assert_eq!(t["startedAt"], "2026-01-02T00:00:00Z");
        assert_eq!(t["finishedAt"], "2026-01-03T00:00:00Z");
    }

    #[test]
    fn finished_pods_are_terminal() {
        let mut p = pod();
        assert!(!terminal(&p));
        p.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(terminal(&p));
    }
}

//! A pod's status from what the runtime reports, as kubelet computes it: phase, conditions,
//! and one status per container (state, lastState, ready, started, restartCount, image IDs).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{json, Value};

use super::qos::qos_class;

/// What the runtime says about one container instance.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Created, not started.
    Created,
    /// Running since (RFC 3339).
    Running {
        /// When it started.
        started_at: String,
    },
    /// Exited.
    Exited {
        /// Its exit code.
        exit_code: i32,
        /// `Completed`, `Error`, `OOMKilled` ...
        reason: String,
        /// The termination message, if any.
        message: String,
        /// When it started.
        started_at: String,
        /// When it finished.
        finished_at: String,
    },
}

/// One container instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The runtime's id.
    pub id: String,
    /// The restart attempt it is.
    pub attempt: u32,
    /// Its state.
    pub state: State,
    /// The image's digest reference.
    pub image_ref: String,
}

/// Everything observed about a pod's runtime side.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// The sandbox is up with its network.
    pub sandbox_ready: bool,
    /// The pod's IP.
    pub pod_ip: Option<String>,
    /// The node's IP.
    pub host_ip: String,
    /// When the node first saw the pod (RFC 3339).
    pub start_time: String,
    /// Instances by container name, newest first.
    pub instances: BTreeMap<String, Vec<Instance>>,
    /// Why a container is not running (reason, message), when the node knows better than
    /// "ContainerCreating": ErrImagePull, CrashLoopBackOff ...
    pub waiting: BTreeMap<String, (String, String)>,
    /// Containers whose readiness probe passes (or that have none and run).
    pub ready: BTreeMap<String, bool>,
    /// Running containers whose startup probe has not passed yet.
    pub not_started: std::collections::BTreeSet<String>,
    /// The runtime's name for container IDs (`containerd`).
    pub runtime: String,
}

/// Whether an init container finished successfully.
fn succeeded(obs: &Observation, name: &str) -> bool {
    matches!(
        obs.instances
            .get(name)
            .and_then(|i| i.first())
            .map(|i| &i.state),
        Some(State::Exited { exit_code: 0, .. })
    )
}

/// Whether every init container has completed.
pub fn initialized(pod: &Pod, obs: &Observation) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .is_none_or(|inits| inits.iter().all(|c| succeeded(obs, &c.name)))
}

/// The pod's phase.
pub fn phase(pod: &Pod, obs: &Observation) -> &'static str {
    let Some(spec) = &pod.spec else {
        return "Pending";
    };
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    if !initialized(pod, obs) {
        let failed_init = spec.init_containers.iter().flatten().any(|c| {
            matches!(
                obs.instances.get(&c.name).and_then(|i| i.first()).map(|i| &i.state),
                Some(State::Exited { exit_code, .. }) if *exit_code != 0
            )
        });
        return if failed_init && policy == "Never" {
            "Failed"
        } else {
            "Pending"
        };
    }
    let (mut running, mut ok, mut failed, mut never_started) = (0, 0, 0, 0);
    for c in &spec.containers {
        match obs
            .instances
            .get(&c.name)
            .and_then(|i| i.first())
            .map(|i| &i.state)
        {
            Some(State::Running { .. }) => running += 1,
            Some(State::Exited { exit_code: 0, .. }) => ok += 1,
            Some(State::Exited { .. }) => failed += 1,
            Some(State::Created) | None => never_started += 1,
        }
    }
    if never_started > 0 {
        return if running + ok + failed > 0 {
            "Running"
        } else {
            "Pending"
        };
    }
    if running > 0 {
        return "Running";
    }
    match policy {
        "Always" => "Running",
        "OnFailure" if failed > 0 => "Running",
        _ if failed > 0 => "Failed",
        _ => "Succeeded",
    }
}

fn instance_state(i: &Instance, runtime: &str) -> Value {
    match &i.state {
        State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        State::Exited {
            exit_code,
            reason,
            message,
            started_at,
            finished_at,
        } => {
            let mut t = json!({
                "exitCode": exit_code, "reason": reason,
                "startedAt": started_at, "finishedAt": finished_at,
                "containerID": format!("{runtime}://{}", i.id),
            });
            if !message.is_empty() {
                t["message"] = json!(message);
            }
            json!({"terminated": t})
        }
        State::Created => json!({"waiting": {"reason": "ContainerCreating"}}),
    }
}

/// One entry of containerStatuses / initContainerStatuses.
pub fn container_status(c: &Container, obs: &Observation, before_start: &str) -> Value {
    let instances = obs
        .instances
        .get(&c.name)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let latest = instances.first();
    let waiting = obs.waiting.get(&c.name);
    let image = c.image.clone().unwrap_or_default();
    let mut status = json!({
        "name": c.name,
        "image": image,
        "imageID": latest.map(|i| i.image_ref.clone()).unwrap_or_default(),
        "restartCount": latest.map_or(0, |i| i.attempt),
        "ready": false,
        "started": false,
        "lastState": {},
    });
    if let Some(i) = latest {
        status["containerID"] = json!(format!("{}://{}", obs.runtime, i.id));
    }
    let running = matches!(latest.map(|i| &i.state), Some(State::Running { .. }));
    match (latest, waiting) {
        (Some(i), Some((reason, message))) if !running => {
            // Waiting to run again: the exit is history.
            status["state"] = json!({"waiting": {"reason": reason, "message": message}});
            if matches!(i.state, State::Exited { .. }) {
                status["lastState"] = instance_state(i, &obs.runtime);
            }
        }
        (Some(i), _) => {
            status["state"] = instance_state(i, &obs.runtime);
            if let Some(prev) = instances.get(1) {
                status["lastState"] = instance_state(prev, &obs.runtime);
            }
        }
        (None, Some((reason, message))) => {
            status["state"] = json!({"waiting": {"reason": reason, "message": message}});
        }
        (None, None) => status["state"] = json!({"waiting": {"reason": before_start}}),
    }
    if running {
        status["started"] = json!(!obs.not_started.contains(&c.name));
        status["ready"] = json!(obs.ready.get(&c.name).copied().unwrap_or(false));
    }
    if status["state"]["waiting"]["message"] == "" {
        if let Some(w) = status["state"]["waiting"].as_object_mut() {
            w.remove("message");
        }
    }
    status
}

/// The pod's status (PodScheduled stays as the scheduler wrote it: a strategic merge keeps it).
pub fn pod_status(pod: &Pod, obs: &Observation, now: &str) -> Value {
    let Some(spec) = &pod.spec else {
        return json!({});
    };
    let inited = initialized(pod, obs);
    let phase = phase(pod, obs);
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            container_status(
                c,
                obs,
                if inited {
                    "ContainerCreating"
                } else {
                    "PodInitializing"
                },
            )
        })
        .collect();
    let all_ready = containers.iter().all(|c| c["ready"] == true);
    let previous: Vec<Value> = pod
        .status
        .as_ref()
        .and_then(|s| serde_json::to_value(&s.conditions).ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let not_ready: Vec<&str> = spec
        .containers
        .iter()
        .zip(&containers)
        .filter(|(_, s)| s["ready"] != true)
        .map(|(c, _)| c.name.as_str())
        .collect();
    let not_ready_msg = format!("containers with unready status: [{}]", not_ready.join(" "));
    let pending_inits: Vec<&str> = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| !succeeded(obs, &c.name))
        .map(|c| c.name.as_str())
        .collect();
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let cond = |kind: &str, ok: bool, reason: &str, message: &str| {
        let status = if ok { "True" } else { "False" };
        let transition = previous
            .iter()
            .find(|c| c["type"] == kind && c["status"] == status)
            .and_then(|c| c["lastTransitionTime"].as_str())
            .unwrap_or(now)
            .to_string();
        let mut c = json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": transition});
        if !ok && !reason.is_empty() {
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        c
    };
    let ready_reason = if terminal {
        "PodCompleted"
    } else {
        "ContainersNotReady"
    };
    let mut conditions = vec![
        cond("PodReadyToStartContainers", obs.sandbox_ready, "", ""),
        cond(
            "Initialized",
            inited || terminal,
            "ContainersNotInitialized",
            &format!(
                "containers with incomplete status: [{}]",
                pending_inits.join(" ")
            ),
        ),
        cond(
            "Ready",
            all_ready && !terminal,
            ready_reason,
            &not_ready_msg,
        ),
        cond(
            "ContainersReady",
            all_ready && !terminal,
            ready_reason,
            &not_ready_msg,
        ),
    ];
    if terminal && inited {
        conditions[1] = cond("Initialized", true, "PodCompleted", "");
    }
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": obs.host_ip,
        "hostIPs": [{"ip": obs.host_ip}],
        "startTime": obs.start_time,
        "containerStatuses": containers,
        "qosClass": qos_class(spec).as_str(),
    });
    if let Some(ip) = &obs.pod_ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    if let Some(inits) = &spec.init_containers {
        status["initContainerStatuses"] = Value::Array(
            inits
                .iter()
                .map(|c| container_status(c, obs, "PodInitializing"))
                .collect(),
        );
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(policy: &str, inits: bool) -> Pod {
        let mut spec =
            json!({"restartPolicy": policy, "containers": [{"name": "a", "image": "busybox"}]});
        if inits {
            spec["initContainers"] = json!([{"name": "i", "image": "busybox"}]);
        }
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    fn obs(states: &[(&str, State)]) -> Observation {
        let mut o = Observation {
            sandbox_ready: true,
            pod_ip: Some("10.244.0.5".into()),
            host_ip: "10.0.0.1".into(),
            start_time: "T0".into(),
            runtime: "containerd".into(),
            ..Default::default()
        };
        for (name, s) in states {
            o.instances.insert(
                name.to_string(),
                vec![Instance {
                    id: format!("id-{name}"),
                    attempt: 0,
                    state: s.clone(),
                    image_ref: "sha256:abc".into(),
                }],
            );
        }
        o
    }

    fn exited(code: i32) -> State {
        State::Exited {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: String::new(),
            started_at: "T1".into(),
            finished_at: "T2".into(),
        }
    }

    #[test]
    fn phases_follow_containers_and_restart_policy() {
        let running = State::Running {
            started_at: "T1".into(),
        };
        assert_eq!(phase(&pod("Always", false), &obs(&[])), "Pending");
        assert_eq!(
            phase(&pod("Always", false), &obs(&[("a", running.clone())])),
            "Running"
        );
        assert_eq!(
            phase(&pod("Never", false), &obs(&[("a", exited(0))])),
            "Succeeded"
        );
        assert_eq!(
            phase(&pod("Never", false), &obs(&[("a", exited(1))])),
            "Failed"
        );
        assert_eq!(
            phase(&pod("OnFailure", false), &obs(&[("a", exited(1))])),
            "Running"
        );
        assert_eq!(
            phase(&pod("OnFailure", false), &obs(&[("a", exited(0))])),
            "Succeeded"
        );
        assert_eq!(
            phase(&pod("Always", false), &obs(&[("a", exited(0))])),
            "Running"
        );
        assert_eq!(
            phase(&pod("Always", true), &obs(&[("i", running.clone())])),
            "Pending"
        );
        assert_eq!(
            phase(&pod("Never", true), &obs(&[("i", exited(2))])),
            "Failed"
        );
        assert_eq!(
            phase(
                &pod("Always", true),
                &obs(&[("i", exited(0)), ("a", running)])
            ),
            "Running"
        );
    }

    #[test]
    fn status_reads_as_clients_expect() {
        let mut o = obs(&[(
            "a",
            State::Running {
                started_at: "T1".into(),
            },
        )]);
        o.ready.insert("a".into(), true);
        let s = pod_status(&pod("Always", false), &o, "T9");
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["podIP"], "10.244.0.5");
        assert_eq!(s["qosClass"], "BestEffort");
        let c = &s["containerStatuses"][0];
        assert_eq!(c["ready"], true);
        assert_eq!(c["started"], true);
        assert_eq!(c["containerID"], "containerd://id-a");
        assert_eq!(c["state"]["running"]["startedAt"], "T1");
        let ready = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True");
    }

    #[test]
    fn crash_loop_shows_waiting_with_the_last_exit() {
        let mut o = obs(&[("a", exited(1))]);
        o.waiting.insert(
            "a".into(),
            (
                "CrashLoopBackOff".into(),
                "back-off 10s restarting failed container=a pod=p_default(u)".into(),
            ),
        );
        let s = pod_status(&pod("Always", false), &o, "T9");
        let c = &s["containerStatuses"][0];
        assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(c["ready"], false);
        let ready = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["reason"], "ContainersNotReady");
        assert_eq!(ready["message"], "containers with unready status: [a]");
    }

    #[test]
    fn image_pull_errors_show_before_any_instance() {
        let mut o = obs(&[]);
        o.waiting
            .insert("a".into(), ("ErrImagePull".into(), "not found".into()));
        let s = pod_status(&pod("Always", false), &o, "T9");
        assert_eq!(
            s["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ErrImagePull"
        );
        assert_eq!(s["phase"], "Pending");
    }
}

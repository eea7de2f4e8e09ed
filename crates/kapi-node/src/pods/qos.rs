//! A pod's QoS class and the cgroup it runs under, from its containers' requests and limits.

use k8s_openapi::api::core::v1::{Container, PodSpec};

/// Upstream's three classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosClass {
    /// Every container has CPU and memory limits equal to its requests.
    Guaranteed,
    /// Some requests or limits, not Guaranteed.
    Burstable,
    /// No requests or limits at all.
    BestEffort,
}

impl QosClass {
    /// The name in `status.qosClass`.
    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }

    /// The pod's cgroup parent under the cgroupfs driver, as kubelet lays them out.
    pub fn cgroup_parent(self, pod_uid: &str) -> String {
        match self {
            QosClass::Guaranteed => format!("/kubepods/pod{pod_uid}"),
            QosClass::Burstable => format!("/kubepods/burstable/pod{pod_uid}"),
            QosClass::BestEffort => format!("/kubepods/besteffort/pod{pod_uid}"),
        }
    }
}

/// The class of a pod (init containers count, as upstream).
pub fn qos_class(spec: &PodSpec) -> QosClass {
    let all: Vec<&Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &all {
        let res = c.resources.as_ref();
        let requests = res.and_then(|r| r.requests.as_ref());
        let limits = res.and_then(|r| r.limits.as_ref());
        let nonzero = |q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>| {
            q.and_then(|q| kapi_api::quantity::parse_milli(&q.0))
                .is_some_and(|v| v != 0)
        };
        for name in ["cpu", "memory"] {
            let req = requests.and_then(|r| r.get(name));
            let lim = limits.and_then(|l| l.get(name));
            if nonzero(req) || nonzero(lim) {
                any = true;
            }
            // A missing request defaults to the limit.
            let req_value = req.or(lim).map(|q| kapi_api::quantity::parse_milli(&q.0));
            let lim_value = lim.map(|q| kapi_api::quantity::parse_milli(&q.0));
            if lim_value.is_none() || req_value != lim_value {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => QosClass::BestEffort,
        (true, true) => QosClass::Guaranteed,
        (true, false) => QosClass::Burstable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(resources: serde_json::Value) -> PodSpec {
        serde_json::from_value(serde_json::json!({
            "containers": [{"name": "c", "resources": resources}]
        }))
        .unwrap()
    }

    #[test]
    fn classes_follow_requests_and_limits() {
        assert_eq!(
            qos_class(&spec(serde_json::json!({}))),
            QosClass::BestEffort
        );
        assert_eq!(
            qos_class(&spec(
                serde_json::json!({"limits": {"cpu": "1", "memory": "1Gi"}})
            )),
            QosClass::Guaranteed
        );
        assert_eq!(
            qos_class(&spec(serde_json::json!({"requests": {"cpu": "100m"}}))),
            QosClass::Burstable
        );
        assert_eq!(
            qos_class(&spec(serde_json::json!({
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"cpu": "1", "memory": "1Gi"}
            }))),
            QosClass::Burstable
        );
        assert_eq!(
            QosClass::BestEffort.cgroup_parent("u1"),
            "/kubepods/besteffort/podu1"
        );
    }
}

//! The core/v1 Endpoints of a Service with a selector, as upstream's endpoints controller
//! writes them, for the clients that still read them (`kubectl describe service` before 1.33,
//! SDKs' `read_namespaced_endpoints`). They are derived from the same pods as the slices:
//! ready pods in `addresses`, the others in `notReadyAddresses`, terminating pods left out
//! unless the Service publishes not-ready addresses; one subset per distinct set of resolved
//! ports.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::desired::{selects, slices, HEADLESS_LABEL};

/// The Endpoints `svc` should have (`pods`: those of its namespace).
pub fn endpoints(svc: &Service, pods: &[&Pod]) -> Endpoints {
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let mut subsets: BTreeMap<String, EndpointSubset> = BTreeMap::new();
    let selected: Vec<&Pod> = pods.iter().copied().filter(|p| selects(svc, p)).collect();
    for slice in slices(svc, &selected).into_values() {
        let Some(ports) = slice.ports else { continue };
        let ports: Vec<EndpointPort> = ports
            .into_iter()
            .map(|p| EndpointPort {
                name: p.name.filter(|n| !n.is_empty()),
                port: p.port.unwrap_or_default(),
                protocol: p.protocol,
                app_protocol: p.app_protocol,
            })
            .collect();
        let key = serde_json::to_string(&ports).unwrap_or_default();
        let subset = subsets.entry(key).or_insert_with(|| EndpointSubset {
            ports: Some(ports),
            ..Default::default()
        });
        for ep in slice.endpoints {
            let c = ep.conditions.unwrap_or_default();
            if c.terminating == Some(true) && !publish {
                continue;
            }
            let into = if c.ready.unwrap_or(false) {
                subset.addresses.get_or_insert_with(Vec::new)
            } else {
                subset.not_ready_addresses.get_or_insert_with(Vec::new)
            };
            for ip in ep.addresses {
                into.push(EndpointAddress {
                    ip,
                    hostname: ep.hostname.clone(),
                    node_name: ep.node_name.clone(),
                    target_ref: ep.target_ref.clone(),
                });
            }
        }
    }
    let subsets: Vec<EndpointSubset> = subsets
        .into_values()
        .filter(|s| s.addresses.is_some() || s.not_ready_addresses.is_some())
        .collect();
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    Endpoints {
        metadata: ObjectMeta {
            name: svc.metadata.name.clone(),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(labels).filter(|l| !l.is_empty()),
            ..Default::default()
        },
        subsets: Some(subsets).filter(|s| !s.is_empty()),
    }
}

/// Whether the stored Endpoints already say what `want` says.
pub fn same(have: &Endpoints, want: &Endpoints) -> bool {
    have.subsets == want.subsets && have.metadata.labels == want.metadata.labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_pods_are_addresses_and_the_rest_not_ready_ones() {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "d", "uid": "u"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
        }))
        .unwrap();
        let pod = |name: &str, ip: &str, ready: bool, deleting: bool| -> Pod {
            let mut meta = json!({"name": name, "namespace": "d", "labels": {"app": "web"}});
            if deleting {
                meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            }
            serde_json::from_value(json!({
                "metadata": meta,
                "spec": {"containers": [{"name": "c"}], "nodeName": "n1"},
                "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
            }))
            .unwrap()
        };
        let (a, b, c) = (
            pod("a", "10.244.0.5", true, false),
            pod("b", "10.244.0.6", false, false),
            pod("c", "10.244.0.7", true, true),
        );
        let e = endpoints(&svc, &[&a, &b, &c]);
        let subsets = e.subsets.unwrap();
        assert_eq!(subsets.len(), 1);
        let s = &subsets[0];
        assert_eq!(s.addresses.as_ref().unwrap()[0].ip, "10.244.0.5");
        assert_eq!(s.not_ready_addresses.as_ref().unwrap()[0].ip, "10.244.0.6");
        assert_eq!(
            s.addresses.as_ref().unwrap().len() + s.not_ready_addresses.as_ref().unwrap().len(),
            2
        );
        assert_eq!(s.ports.as_ref().unwrap()[0].port, 8080);
        assert_eq!(s.ports.as_ref().unwrap()[0].name.as_deref(), Some("http"));
        assert!(endpoints(&svc, &[]).subsets.is_none());
    }
}

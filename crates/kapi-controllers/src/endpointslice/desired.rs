//! What a Service's EndpointSlices should hold, computed from the Service and the pods its
//! selector matches, as kube-controller-manager's EndpointSlice controller computes it: one
//! endpoint per pod with an address, conditions from the pod's readiness and deletion, ports
//! resolved per pod (named target ports look up the pod's container ports), pods grouped by
//! their resolved ports, at most [`MAX_ENDPOINTS`] per slice.
//!
//! Slice names are derived from the Service's uid, the port group and the chunk, so that a
//! create repeated on a stale cache meets a 409 instead of making a duplicate slice.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `kubernetes.io/service-name`: which Service a slice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// `endpointslice.kubernetes.io/managed-by`: who writes a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// Upstream's value for slices its controller writes; kapi's controller writes the same, so
/// tools that look for it find kapi's slices.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// Set (empty) on the slices of headless Services.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// Upstream's limit of endpoints per slice (`--max-endpoints-per-slice` default).
pub const MAX_ENDPOINTS: usize = 100;

/// Whether the controller manages slices for this Service: it has a selector and is not an
/// ExternalName. Services without one keep the slices their users write.
pub fn is_managed(svc: &Service) -> bool {
    let Some(spec) = &svc.spec else { return false };
    spec.type_.as_deref() != Some("ExternalName")
        && spec.selector.as_ref().is_some_and(|s| !s.is_empty())
}

/// Whether the pod's labels satisfy the Service's selector (an equality map).
pub fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(selector) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    if selector.is_empty() || pod.metadata.namespace != svc.metadata.namespace {
        return false;
    }
    let labels = pod.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The IPv4 slices the Service should have, keyed by name. `pods` are the pods of its
/// namespace (those the selector does not match are skipped here).
pub fn slices(svc: &Service, pods: &[&Pod]) -> BTreeMap<String, EndpointSlice> {
    // Keyed by the resolved ports' JSON (the port type has no ordering of its own).
    type Group = (Vec<EndpointPort>, Vec<(String, Endpoint)>);
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    for pod in pods {
        if !selects(svc, pod) {
            continue;
        }
        let Some((endpoint, resolved)) = endpoint(svc, pod, &ports) else {
            continue;
        };
        let key = serde_json::to_string(&resolved).unwrap_or_default();
        groups
            .entry(key)
            .or_insert_with(|| (resolved, Vec::new()))
            .1
            .push((pod.metadata.name.clone().unwrap_or_default(), endpoint));
    }
    let mut out = BTreeMap::new();
    if groups.is_empty() {
        // Upstream keeps one empty slice for a selected Service without endpoints, so that
        // clients watching slices see the Service exists and has none.
        let slice = slice(svc, Vec::new(), None, 0);
        out.insert(slice.metadata.name.clone().unwrap_or_default(), slice);
        return out;
    }
    for (resolved, mut endpoints) in groups.into_values() {
        endpoints.sort_by(|a, b| a.0.cmp(&b.0));
        let endpoints: Vec<Endpoint> = endpoints.into_iter().map(|(_, e)| e).collect();
        for (chunk, part) in endpoints.chunks(MAX_ENDPOINTS).enumerate() {
            let slice = slice(svc, part.to_vec(), Some(resolved.clone()), chunk);
            out.insert(slice.metadata.name.clone().unwrap_or_default(), slice);
        }
    }
    out
}

/// The pod as an endpoint of `svc`, with the ports it resolves to; `None` when it should not
/// be listed (no IPv4 address yet, or finished).
fn endpoint(
    svc: &Service,
    pod: &Pod,
    ports: &[ServicePort],
) -> Option<(Endpoint, Vec<EndpointPort>)> {
    let status = pod.status.as_ref()?;
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let ip = status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.as_str())
        .chain(status.pod_ip.as_deref())
        .find(|ip| !ip.is_empty() && !ip.contains(':'))?
        .to_string();
    let spec = pod.spec.as_ref()?;
    let pod_ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let svc_name = svc.metadata.name.as_deref().unwrap_or_default();
    let hostname = spec
        .hostname
        .clone()
        .filter(|h| !h.is_empty() && spec.subdomain.as_deref() == Some(svc_name));
    let endpoint = Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions {
            ready: Some(publish || (pod_ready && !terminating)),
            serving: Some(publish || pod_ready),
            terminating: Some(terminating),
        }),
        hostname,
        node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let resolved = ports
        .iter()
        .filter_map(|p| {
            let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            Some(EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(target_port(pod, p, &protocol)?),
                protocol: Some(protocol),
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect();
    Some((endpoint, resolved))
}

/// The pod's port for a Service port: the number given, the Service port when none is given,
/// or the container port of that name and protocol (none: the pod does not serve this port).
fn target_port(pod: &Pod, port: &ServicePort, protocol: &str) -> Option<i32> {
    match &port.target_port {
        None | Some(IntOrString::Int(0)) => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|cp| {
                    cp.name.as_deref() == Some(name.as_str())
                        && cp.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|cp| cp.container_port)
        }
    }
}

fn slice(
    svc: &Service,
    endpoints: Vec<Endpoint>,
    ports: Option<Vec<EndpointPort>>,
    chunk: usize,
) -> EndpointSlice {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let uid = svc.metadata.uid.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = svc
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != MANAGED_BY_LABEL && k != HEADLESS_LABEL)
        .collect();
    labels.insert(SERVICE_NAME_LABEL.into(), name.clone());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    let signature = serde_json::to_string(&ports).unwrap_or_default();
    let suffix = suffix(&format!("{uid}/{signature}/{chunk}"));
    // Upstream's generateName prefix is the Service's name cut so the whole stays a label.
    let prefix: String = name.chars().take(57).collect();
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(format!("{prefix}-{suffix}")),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Service".into(),
                name,
                uid,
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints,
        ports,
    }
}

/// Five characters from the alphabet upstream's generated names use, from an FNV-1a hash.
fn suffix(input: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in input.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (0..5)
        .map(|i| {
            let n = (hash >> (i * 8)) as usize % ALPHABET.len();
            ALPHABET[n] as char
        })
        .collect()
}

/// Whether a stored slice already holds what `want` says (the fields the controller owns).
pub fn same(have: &EndpointSlice, want: &EndpointSlice) -> bool {
    have.address_type == want.address_type
        && have.endpoints == want.endpoints
        && have.ports == want.ports
        && have.metadata.labels == want.metadata.labels
        && have.metadata.owner_references == want.metadata.owner_references
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "labels": {"app": "web"}},
            "spec": spec,
        }))
        .unwrap()
    }

    fn pod(name: &str, ip: &str, ready: bool, extra: serde_json::Value) -> Pod {
        let mut p = json!({
            "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
        });
        if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if let (Some(into), Some(v)) =
                    (p.get_mut(k).and_then(|x| x.as_object_mut()), v.as_object())
                {
                    into.extend(v.clone());
                }
            }
        }
        serde_json::from_value(p).unwrap()
    }

    #[test]
    fn ready_and_not_ready_pods_become_endpoints_with_resolved_named_ports() {
        let s =
            svc(json!({"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}));
        let a = pod("a", "10.244.0.5", true, json!({}));
        let b = pod("b", "10.244.0.6", false, json!({}));
        let other = pod(
            "c",
            "10.244.0.7",
            true,
            json!({"metadata": {"labels": {"app": "db"}}}),
        );
        let out = slices(&s, &[&b, &a, &other]);
        assert_eq!(out.len(), 1);
        let slice = out.values().next().unwrap();
        assert!(slice.metadata.name.as_deref().unwrap().starts_with("web-"));
        let labels = slice.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[SERVICE_NAME_LABEL], "web");
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(labels["app"], "web");
        let ports = slice.ports.as_ref().unwrap();
        assert_eq!(ports[0].port, Some(8080));
        assert_eq!(ports[0].name.as_deref(), Some(""));
        let eps = &slice.endpoints;
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].addresses, ["10.244.0.5"]);
        assert_eq!(eps[0].conditions.as_ref().unwrap().ready, Some(true));
        assert_eq!(eps[1].conditions.as_ref().unwrap().ready, Some(false));
        assert_eq!(eps[1].node_name.as_deref(), Some("n1"));
        assert_eq!(
            eps[1].target_ref.as_ref().unwrap().name.as_deref(),
            Some("b")
        );
        // Same inputs, same name: a repeated create collides instead of duplicating.
        assert_eq!(
            slices(&s, &[&a, &b]).keys().collect::<Vec<_>>(),
            out.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn terminating_pods_are_serving_but_not_ready_and_publish_not_ready_overrides() {
        let s = svc(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}));
        let going = pod(
            "a",
            "10.244.0.5",
            true,
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}),
        );
        let out = slices(&s, &[&going]);
        let c = out.values().next().unwrap().endpoints[0]
            .conditions
            .clone()
            .unwrap();
        assert_eq!(
            (c.ready, c.serving, c.terminating),
            (Some(false), Some(true), Some(true))
        );
        let publish = svc(
            json!({"selector": {"app": "web"}, "publishNotReadyAddresses": true, "ports": [{"port": 80}]}),
        );
        let unready = pod("b", "10.244.0.6", false, json!({}));
        let out = slices(&publish, &[&unready]);
        assert_eq!(
            out.values().next().unwrap().endpoints[0]
                .conditions
                .as_ref()
                .unwrap()
                .ready,
            Some(true)
        );
    }

    #[test]
    fn finished_and_addressless_pods_are_left_out_and_an_empty_service_keeps_one_slice() {
        let s =
            svc(json!({"selector": {"app": "web"}, "clusterIP": "None", "ports": [{"port": 80}]}));
        let done = pod(
            "a",
            "10.244.0.5",
            false,
            json!({"status": {"phase": "Succeeded"}}),
        );
        let pending = pod("b", "", false, json!({}));
        let out = slices(&s, &[&done, &pending]);
        assert_eq!(out.len(), 1);
        let slice = out.values().next().unwrap();
        assert!(slice.endpoints.is_empty());
        assert!(slice.ports.is_none());
        assert_eq!(slice.metadata.labels.as_ref().unwrap()[HEADLESS_LABEL], "");
    }

    #[test]
    fn pods_resolving_ports_differently_go_to_different_slices_and_large_sets_are_chunked() {
        let s =
            svc(json!({"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}));
        let a = pod("a", "10.244.0.5", true, json!({}));
        let b: Pod = {
            let mut b = pod("b", "10.244.0.6", true, json!({}));
            b.spec.as_mut().unwrap().containers[0]
                .ports
                .as_mut()
                .unwrap()[0]
                .container_port = 9090;
            b
        };
        assert_eq!(slices(&s, &[&a, &b]).len(), 2);
        let many: Vec<Pod> = (0..250)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    &format!("10.244.1.{}", i % 250),
                    true,
                    json!({}),
                )
            })
            .collect();
        let refs: Vec<&Pod> = many.iter().collect();
        let out = slices(&s, &refs);
        assert_eq!(out.len(), 3);
        assert_eq!(out.values().map(|s| s.endpoints.len()).sum::<usize>(), 250);
    }

    #[test]
    fn services_without_selectors_or_of_external_name_are_not_managed() {
        assert!(!is_managed(&svc(json!({"ports": [{"port": 80}]}))));
        assert!(!is_managed(&svc(
            json!({"selector": {}, "ports": [{"port": 80}]})
        )));
        assert!(!is_managed(&svc(
            json!({"type": "ExternalName", "externalName": "x.example", "selector": {"a": "b"}})
        )));
        assert!(is_managed(&svc(json!({"selector": {"app": "web"}}))));
    }

    #[test]
    fn hostnames_are_published_for_pods_in_the_service_subdomain() {
        let s =
            svc(json!({"selector": {"app": "web"}, "clusterIP": "None", "ports": [{"port": 80}]}));
        let named = pod(
            "a",
            "10.244.0.5",
            true,
            json!({"spec": {"hostname": "db-0", "subdomain": "web"}}),
        );
        let elsewhere = pod(
            "b",
            "10.244.0.6",
            true,
            json!({"spec": {"hostname": "db-1", "subdomain": "other"}}),
        );
        let out = slices(&s, &[&named, &elsewhere]);
        let eps = &out.values().next().unwrap().endpoints;
        assert_eq!(eps[0].hostname.as_deref(), Some("db-0"));
        assert_eq!(eps[1].hostname, None);
    }
}

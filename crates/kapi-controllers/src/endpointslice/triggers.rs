//! Which Services a change concerns, as upstream's endpointslice controller maps its watch
//! events onto Service keys: a pod concerns the Services of its namespace whose selector
//! matched it before or after the change (so a relabelled pod leaves the old one's slices), a
//! Service or one of its slices concerns that Service only.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::ObjectMeta;

use super::desired::{selects, SERVICE_NAME_LABEL};

/// A Service's work-queue key, "namespace/name".
pub fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// The key of the object `meta` names (a Service, or the Endpoints named after one).
pub fn key_of(meta: &ObjectMeta) -> String {
    key(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// The key of the Service a slice belongs to, from its `kubernetes.io/service-name` label.
pub fn owner_of_slice(meta: &ObjectMeta) -> Option<String> {
    let svc = meta.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some(key(meta.namespace.as_deref().unwrap_or_default(), svc))
}

/// Whether a pod update can change any endpoint: its labels, deletion, spec (placement,
/// hostname, ports) or status (addresses, readiness) moved. Resync-only updates do not.
pub fn pod_changed(old: &Pod, new: &Pod) -> bool {
    old.metadata.labels != new.metadata.labels
        || old.metadata.deletion_timestamp != new.metadata.deletion_timestamp
        || old.spec != new.spec
        || old.status != new.status
}

/// Keys of the Services selecting `old` or `new` (two versions of one pod; either may be
/// absent).
pub fn services_for_pod(
    services: &[Arc<Service>],
    old: Option<&Pod>,
    new: Option<&Pod>,
) -> Vec<String> {
    services
        .iter()
        .filter(|svc| old.is_some_and(|p| selects(svc, p)) || new.is_some_and(|p| selects(svc, p)))
        .map(|svc| key_of(&svc.metadata))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ns: &str, name: &str, app: &str) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": ns},
                "spec": {"selector": {"app": app}}
            }))
            .unwrap(),
        )
    }

    fn pod(ns: &str, app: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": ns, "labels": {"app": app}},
            "spec": {"containers": []}
        }))
        .unwrap()
    }

    #[test]
    fn a_pod_concerns_the_services_of_its_namespace_that_select_it() {
        let services = [
            svc("a", "web", "web"),
            svc("a", "db", "db"),
            svc("b", "web", "web"),
        ];
        let p = pod("a", "web");
        assert_eq!(services_for_pod(&services, None, Some(&p)), ["a/web"]);
        assert_eq!(services_for_pod(&services, Some(&p), None), ["a/web"]);
    }

    #[test]
    fn a_relabelled_pod_concerns_its_old_and_new_services() {
        let services = [
            svc("a", "web", "web"),
            svc("a", "db", "db"),
            svc("a", "x", "x"),
        ];
        let (old, new) = (pod("a", "web"), pod("a", "db"));
        let mut keys = services_for_pod(&services, Some(&old), Some(&new));
        keys.sort();
        assert_eq!(keys, ["a/db", "a/web"]);
    }

    #[test]
    fn a_slice_belongs_to_the_service_its_label_names() {
        let meta: ObjectMeta = serde_json::from_value(json!({
            "name": "web-abcde", "namespace": "a",
            "labels": {SERVICE_NAME_LABEL: "web"}
        }))
        .unwrap();
        assert_eq!(owner_of_slice(&meta).as_deref(), Some("a/web"));
        assert_eq!(owner_of_slice(&ObjectMeta::default()), None);
    }

    #[test]
    fn only_endpoint_relevant_pod_updates_count() {
        let old = pod("a", "web");
        let mut same = old.clone();
        same.metadata.resource_version = Some("9".into());
        assert!(!pod_changed(&old, &same));
        assert!(pod_changed(&old, &pod("a", "db")));
    }
}

//! Events about pods, as kubelet records them (core/v1 Events with `source.component: kubelet`),
//! so that `kubectl describe pod` and `kubectl events` read as on any cluster.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something went as planned.
    Normal,
    /// Something failed.
    Warning,
}

/// Posts events with one component's name.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    component: &'static str,
    host: String,
}

impl Recorder {
    /// A recorder for `component` (`kubelet`) on `host`.
    pub fn new(client: kube::Client, component: &'static str, host: String) -> Recorder {
        Recorder {
            client,
            component,
            host,
        }
    }

    /// Records an event about a pod, or one of its containers (`field_path` such as
    /// `spec.containers{web}`). Failures are logged, never returned: events are best effort.
    pub async fn pod(
        &self,
        pod: &Pod,
        field_path: Option<String>,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        let mut involved = json!({
            "kind": "Pod", "apiVersion": "v1",
            "namespace": pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            "name": pod.metadata.name.clone().unwrap_or_default(),
            "uid": pod.metadata.uid, "resourceVersion": pod.metadata.resource_version,
        });
        if let Some(path) = field_path {
            involved["fieldPath"] = json!(path);
        }
        self.record(involved, kind, reason, message);
    }

    /// Records an event about any namespaced object, given as an ObjectReference (`kind`,
    /// `apiVersion`, `namespace`, `name`, `uid`), as controllers do about what they manage.
    pub async fn object<K: kube::Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        let meta = obj.meta();
        let involved = json!({
            "kind": K::kind(&()), "apiVersion": K::api_version(&()),
            "namespace": meta.namespace.clone().unwrap_or_else(|| "default".into()),
            "name": meta.name.clone().unwrap_or_default(),
            "uid": meta.uid, "resourceVersion": meta.resource_version,
        });
        self.record(involved, kind, reason, message);
    }

    fn record(&self, involved: serde_json::Value, kind: EventType, reason: &str, message: &str) {
        let ns = involved["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let obj_name = involved["name"].as_str().unwrap_or_default().to_string();
        let now = chrono::Utc::now();
        let stamp = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let name = format!(
            "{obj_name}.{:x}",
            now.timestamp_nanos_opt().unwrap_or_default()
        );
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved,
            "reason": reason, "message": message,
            "type": match kind { EventType::Normal => "Normal", EventType::Warning => "Warning" },
            "source": {"component": self.component, "host": self.host},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": self.component, "reportingInstance": self.host,
        });
        let Ok(event) = serde_json::from_value::<Event>(event) else {
            return;
        };
        // Sent in the background: a pod's start does not wait for its events to be stored.
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let reason = reason.to_string();
        tokio::spawn(async move {
            if let Err(e) = api.create(&PostParams::default(), &event).await {
                tracing::debug!(error = %e, reason, "could not record an event");
            }
        });
    }
}

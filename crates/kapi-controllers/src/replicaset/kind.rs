//! The two kinds this controller keeps in number: apps/v1 ReplicaSet and its predecessor,
//! core/v1 ReplicationController. They differ only in where things are (a label-selector
//! object or a plain map), so the controller is written once over [`Replicated`].

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController};
use k8s_openapi::NamespaceResourceScope;
use kapi_api::selectors::LabelSelector as Selector;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::status::Counts;
use crate::ownership;

/// A kind that keeps `replicas` pods of a template.
pub trait Replicated:
    kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// The controller's name (logs, backoff).
    const CONTROLLER: &'static str;
    /// The component its events are recorded as.
    const COMPONENT: &'static str;
    /// `spec.replicas` (1 when unset).
    fn replicas(&self) -> i32;
    /// `spec.minReadySeconds`.
    fn min_ready_seconds(&self) -> i64;
    /// `spec.selector` as a matcher.
    fn selector(&self) -> Selector;
    /// `spec.template`.
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// The counts in `status`, if any.
    fn counts(&self) -> Option<Counts>;
    /// `status.conditions` as JSON (the two kinds' condition types have the same fields).
    fn conditions(&self) -> Vec<serde_json::Value>;
}

impl Replicated for ReplicaSet {
    const CONTROLLER: &'static str = crate::REPLICASET;
    const COMPONENT: &'static str = "replicaset-controller";

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i64 {
        i64::from(
            self.spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0),
        )
    }
    fn selector(&self) -> Selector {
        ownership::selector(self.spec.as_ref().map(|s| &s.selector))
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn counts(&self) -> Option<Counts> {
        let s = self.status.as_ref()?;
        Some(Counts {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas.unwrap_or(0),
            ready_replicas: s.ready_replicas.unwrap_or(0),
            available_replicas: s.available_replicas.unwrap_or(0),
            observed_generation: s.observed_generation,
        })
    }
    fn conditions(&self) -> Vec<serde_json::Value> {
        let conditions = self.status.as_ref().and_then(|s| s.conditions.as_ref());
        conditions
            .and_then(|c| serde_json::to_value(c).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }
}

impl Replicated for ReplicationController {
    const CONTROLLER: &'static str = crate::REPLICATIONCONTROLLER;
    const COMPONENT: &'static str = "replication-controller";

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i64 {
        i64::from(
            self.spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0),
        )
    }
    fn selector(&self) -> Selector {
        // A map of labels, every one required; validation defaults it to the template's.
        match self.spec.as_ref().and_then(|s| s.selector.as_ref()) {
            Some(map) if !map.is_empty() => Selector::from_set(map),
            _ => Selector::nothing(),
        }
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn counts(&self) -> Option<Counts> {
        let s = self.status.as_ref()?;
        Some(Counts {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas.unwrap_or(0),
            ready_replicas: s.ready_replicas.unwrap_or(0),
            available_replicas: s.available_replicas.unwrap_or(0),
            observed_generation: s.observed_generation,
        })
    }
    fn conditions(&self) -> Vec<serde_json::Value> {
        let conditions = self.status.as_ref().and_then(|s| s.conditions.as_ref());
        conditions
            .and_then(|c| serde_json::to_value(c).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }
}

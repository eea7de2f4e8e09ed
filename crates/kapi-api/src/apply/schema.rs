//! What server-side apply needs to know about the shape of built-in kinds.
//!
//! Upstream reads these from the OpenAPI markers of the Go types: `x-kubernetes-list-type`
//! (`atomic`, `set`, `map`), `x-kubernetes-list-map-keys` and `x-kubernetes-map-type` /
//! `+structType=atomic`. They mostly agree with the strategic merge patch tags in
//! [`merge_keys`](crate::patch::merge_keys), which this module starts from: a list merged by
//! key is a list-type map, a merged list of primitives a set, every other list atomic. The
//! tables below restate where the two disagree (Kubernetes 1.34):
//!
//! - multi-key maps: container `ports` by `containerPort` + `protocol`, Service `spec.ports` by
//!   `port` + `protocol` (`protocol` defaults to `TCP` in the key), pod
//!   `topologySpreadConstraints` by `topologyKey` + `whenUnsatisfiable`;
//! - list-type maps with atomic items: `ownerReferences`, `imagePullSecrets`, ServiceAccount
//!   `secrets`;
//! - lists SMP merges but SSA treats as atomic: Pod `status.hostIPs`, Job `status.conditions`;
//! - lists SSA merges that SMP does not: `resources.claims` (by `name`), Job
//!   `status.uncountedTerminatedPods.{failed,succeeded}` (sets);
//! - atomic maps: label selectors (`selector` of workloads, PDBs, PVCs, Services and
//!   replication controllers, and every `labelSelector`, `namespaceSelector`,
//!   `objectSelector`, `podSelector`), `nodeSelector`, node affinity's required
//!   `NodeSelector`, the env `*KeyRef` / `fieldRef` / `resourceFieldRef` selectors, volume
//!   `secretRef`s and CSI `*SecretRef`s, `claimRef`, `dataSource`, `roleRef`, an Event's
//!   `involvedObject` / `related`, ingress backend `resource` and `service.port`, and a
//!   ResourceQuota's `scopeSelector`.
//!
//! Custom resources take these facts from their definitions' schemas instead, through a
//! registered [`CustomShape`] (see `custom.rs`).
//!
//! Not covered: fields whose list type differs between API versions and the item-level
//! details of alpha fields.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::custom::{custom_shape, CustomListType, CustomShape};
use crate::patch::merge_keys::{field_strategy, FieldStrategy};

/// How a list merges.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ListType {
    /// Replaced as a whole; owned as one field.
    Atomic,
    /// A set of scalars, items owned one by one (`v:`).
    Set,
    /// Items identified by key fields (`k:`).
    Map {
        /// Key field names.
        keys: Vec<Cow<'static, str>>,
        /// Each item is owned and replaced as a whole.
        atomic_items: bool,
    },
}

/// Where each kind keeps its pod spec, if it does.
const POD_SPEC_ROOTS: &[(&str, &str, &[&str])] = &[
    ("", "Pod", &["spec"]),
    ("", "PodTemplate", &["template", "spec"]),
    ("", "ReplicationController", &["spec", "template", "spec"]),
    ("apps", "Deployment", &["spec", "template", "spec"]),
    ("apps", "ReplicaSet", &["spec", "template", "spec"]),
    ("apps", "StatefulSet", &["spec", "template", "spec"]),
    ("apps", "DaemonSet", &["spec", "template", "spec"]),
    ("batch", "Job", &["spec", "template", "spec"]),
    (
        "batch",
        "CronJob",
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
];

const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// Maps whose keys are data, not struct fields (so a key is never "named").
const FREE_FORM_MAPS: &[&str] = &[
    "labels",
    "annotations",
    "data",
    "binaryData",
    "stringData",
    "nodeSelector",
    "matchLabels",
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "volumeAttributes",
    "parameters",
    "overhead",
    "hard",
    "used",
];

/// Field names that hold an atomic struct or map wherever they appear in a built-in kind.
const ATOMIC_MAP_NAMES: &[&str] = &[
    "selector",
    "labelSelector",
    "namespaceSelector",
    "objectSelector",
    "podSelector",
    "scopeSelector",
    "nodeSelector",
    "configMapKeyRef",
    "secretKeyRef",
    "fileKeyRef",
    "fieldRef",
    "resourceFieldRef",
    "secretRef",
    "nodePublishSecretRef",
    "nodeStageSecretRef",
    "nodeExpandSecretRef",
    "controllerPublishSecretRef",
    "controllerExpandSecretRef",
    "claimRef",
    "dataSource",
    "roleRef",
];

/// The facts of one kind, as seen from a path.
pub(crate) struct Schema<'a> {
    group: &'a str,
    kind: &'a str,
    /// A custom resource's shape, from its definition's schema.
    custom: Option<Arc<dyn CustomShape>>,
}

fn is(path: &[&str], want: &[&str]) -> bool {
    path == want
}

impl<'a> Schema<'a> {
    pub(crate) fn new(group: &'a str, kind: &'a str) -> Self {
        let group = if group == "core" { "" } else { group };
        Schema {
            group,
            kind,
            custom: None,
        }
    }

    /// The facts of `kind` in `api_version`: a custom resource's from its registered shape.
    pub(crate) fn of(group: &'a str, kind: &'a str, api_version: &str) -> Self {
        let mut schema = Schema::new(group, kind);
        schema.custom = custom_shape(api_version, kind);
        schema
    }

    /// Built-in kinds: the core group, dotless groups and `*.k8s.io` (CRDs have their own
    /// schemas, so name-based rules must not guess for them).
    fn builtin(&self) -> bool {
        self.group != "apiextensions.k8s.io"
            && (!self.group.contains('.') || self.group.ends_with(".k8s.io"))
    }

    /// The path relative to the kind's pod spec, if it is inside one.
    fn in_pod_spec<'p>(&self, path: &'p [&'p str]) -> Option<&'p [&'p str]> {
        let (_, _, root) = POD_SPEC_ROOTS
            .iter()
            .find(|(g, k, _)| *g == self.group && *k == self.kind)?;
        path.strip_prefix(*root)
    }

    /// How the list at `path` (field names, list levels transparent) merges.
    pub(crate) fn list_type(&self, path: &[&str]) -> ListType {
        let map = |keys: &[&'static str], atomic_items| ListType::Map {
            keys: keys.iter().map(|k| Cow::Borrowed(*k)).collect(),
            atomic_items,
        };
        if let [.., "metadata", "ownerReferences"] = path {
            return map(&["uid"], true);
        }
        if let (Some(custom), false) = (&self.custom, path.first() == Some(&"metadata")) {
            return match custom.list_type(path) {
                CustomListType::Atomic => ListType::Atomic,
                CustomListType::Set => ListType::Set,
                CustomListType::Map(keys) => ListType::Map {
                    keys: keys.into_iter().map(Cow::Owned).collect(),
                    atomic_items: false,
                },
            };
        }
        if let Some(rel) = self.in_pod_spec(path) {
            match rel {
                ["topologySpreadConstraints"] => {
                    return map(&["topologyKey", "whenUnsatisfiable"], false)
                }
                ["imagePullSecrets"] => return map(&["name"], true),
                ["resources", "claims"] => return map(&["name"], false),
                [list, "ports"] if CONTAINER_LISTS.contains(list) => {
                    return map(&["containerPort", "protocol"], false)
                }
                [list, "resources", "claims"] if CONTAINER_LISTS.contains(list) => {
                    return map(&["name"], false)
                }
                _ => {}
            }
        }
        match (self.group, self.kind) {
            ("", "Service") if is(path, &["spec", "ports"]) => {
                return map(&["port", "protocol"], false)
            }
            ("", "ServiceAccount") if is(path, &["secrets"]) => return map(&["name"], true),
            ("", "Pod") if is(path, &["status", "hostIPs"]) => return ListType::Atomic,
            ("batch", "Job") if is(path, &["status", "conditions"]) => return ListType::Atomic,
            ("batch", "Job")
                if is(path, &["status", "uncountedTerminatedPods", "failed"])
                    || is(path, &["status", "uncountedTerminatedPods", "succeeded"]) =>
            {
                return ListType::Set
            }
            _ => {}
        }
        match field_strategy(self.group, self.kind, path) {
            FieldStrategy::MergeByKey(key) => ListType::Map {
                keys: vec![Cow::Borrowed(key)],
                atomic_items: false,
            },
            FieldStrategy::MergePrimitives => ListType::Set,
            FieldStrategy::Default | FieldStrategy::Replace => ListType::Atomic,
        }
    }

    /// Whether the object at `path` is owned and replaced as a whole.
    pub(crate) fn map_is_atomic(&self, path: &[&str]) -> bool {
        if let (Some(custom), false) = (&self.custom, path.first() == Some(&"metadata")) {
            return custom.map_is_atomic(path);
        }
        if field_strategy(self.group, self.kind, path) == FieldStrategy::Replace {
            return true;
        }
        if !self.builtin() {
            return false;
        }
        match path {
            [] => false,
            [.., last] if ATOMIC_MAP_NAMES.contains(last) => true,
            [.., "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"]
            | [.., "nodeAffinity", "required"]
            | [.., "defaultBackend", "resource"]
            | [.., "backend", "resource"]
            | [.., "service", "port"] => true,
            ["involvedObject"] | ["related"] => self.group.is_empty() && self.kind == "Event",
            _ => false,
        }
    }

    /// Whether the object at `path` is a free-form map (its keys are data, not fields).
    pub(crate) fn is_free_form(&self, path: &[&str]) -> bool {
        matches!(path, [.., last] if FREE_FORM_MAPS.contains(last))
    }

    /// Whether the field at `path` is present in every typed object of the kind (a Go struct
    /// or a slice without `omitempty`): a JSON document that leaves it out means "empty", so
    /// its absence is neither "removed" nor its appearance "added".
    pub(crate) fn always_present(&self, path: &[&str]) -> bool {
        if matches!(path, ["metadata"] | ["spec"] | ["status"]) {
            return true;
        }
        if let Some(rel) = self.in_pod_spec(path) {
            match rel {
                ["containers"] => return true,
                [list, "resources"] if CONTAINER_LISTS.contains(list) => return true,
                _ => {}
            }
        }
        if let Some(rel) = self.in_pod_template(path) {
            return matches!(rel, [] | ["metadata"] | ["spec"]);
        }
        match (self.group, self.kind) {
            ("apps", "Deployment") => is(path, &["spec", "strategy"]),
            ("apps", "StatefulSet" | "DaemonSet") => is(path, &["spec", "updateStrategy"]),
            ("batch", "CronJob") => {
                is(path, &["spec", "jobTemplate"]) || is(path, &["spec", "jobTemplate", "spec"])
            }
            _ => false,
        }
    }

    /// The path relative to the kind's pod template, if it is inside one.
    fn in_pod_template<'p>(&self, path: &'p [&'p str]) -> Option<&'p [&'p str]> {
        let (_, _, root) = POD_SPEC_ROOTS
            .iter()
            .find(|(g, k, _)| *g == self.group && *k == self.kind)?;
        let template = root.strip_suffix(&["spec"])?;
        if template.is_empty() {
            return None;
        }
        path.strip_prefix(template)
    }
}

/// The value a missing key field takes in an item's key (the field's default upstream).
pub(crate) fn key_default(field: &str) -> Value {
    match field {
        "protocol" => Value::String("TCP".into()),
        "containerPort" | "port" => Value::from(0),
        _ => Value::String(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_types() {
        let pod = Schema::new("", "Pod");
        assert_eq!(
            pod.list_type(&["spec", "containers"]),
            ListType::Map {
                keys: vec!["name".into()],
                atomic_items: false
            }
        );
        assert_eq!(
            pod.list_type(&["spec", "containers", "ports"]),
            ListType::Map {
                keys: vec!["containerPort".into(), "protocol".into()],
                atomic_items: false
            }
        );
        assert_eq!(
            pod.list_type(&["spec", "containers", "args"]),
            ListType::Atomic
        );
        assert_eq!(pod.list_type(&["spec", "tolerations"]), ListType::Atomic);
        assert_eq!(pod.list_type(&["metadata", "finalizers"]), ListType::Set);
        assert_eq!(pod.list_type(&["status", "hostIPs"]), ListType::Atomic);
        assert_eq!(
            pod.list_type(&["metadata", "ownerReferences"]),
            ListType::Map {
                keys: vec!["uid".into()],
                atomic_items: true
            }
        );
        let deploy = Schema::new("apps", "Deployment");
        assert_eq!(
            deploy.list_type(&["spec", "template", "spec", "topologySpreadConstraints"]),
            ListType::Map {
                keys: vec!["topologyKey".into(), "whenUnsatisfiable".into()],
                atomic_items: false
            }
        );
        assert_eq!(
            Schema::new("", "Service").list_type(&["spec", "ports"]),
            ListType::Map {
                keys: vec!["port".into(), "protocol".into()],
                atomic_items: false
            }
        );
        assert_eq!(
            Schema::new("batch", "Job").list_type(&["status", "conditions"]),
            ListType::Atomic
        );
    }

    #[test]
    fn atomic_maps_and_always_present_fields() {
        let deploy = Schema::new("apps", "Deployment");
        assert!(deploy.map_is_atomic(&["spec", "selector"]));
        assert!(!deploy.map_is_atomic(&["spec", "template", "metadata", "labels"]));
        assert!(deploy.map_is_atomic(&["spec", "template", "spec", "nodeSelector"]));
        assert!(deploy.map_is_atomic(&[
            "spec",
            "template",
            "spec",
            "containers",
            "env",
            "valueFrom",
            "secretKeyRef"
        ]));
        assert!(!deploy.map_is_atomic(&["spec", "strategy"]));
        assert!(Schema::new("policy", "PodDisruptionBudget").map_is_atomic(&["spec", "selector"]));
        assert!(Schema::new("", "Event").map_is_atomic(&["involvedObject"]));
        assert!(!Schema::new("", "ConfigMap").map_is_atomic(&["related"]));
        assert!(!Schema::new("stable.example.com", "Widget").map_is_atomic(&["spec", "selector"]));
        assert!(deploy.always_present(&["spec", "template", "spec"]));
        assert!(deploy.always_present(&["spec", "template", "spec", "containers"]));
        assert!(deploy.always_present(&["spec", "strategy"]));
        assert!(!deploy.always_present(&["spec", "template", "spec", "securityContext"]));
        assert!(Schema::new("", "Pod").always_present(&["spec"]));
        assert!(Schema::new("", "Pod").always_present(&["spec", "containers", "resources"]));
        assert!(!Schema::new("", "Pod").always_present(&["spec", "spec"]));
    }
}

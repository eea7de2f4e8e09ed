//! Strategic merge patch strategies of the built-in kinds.
//!
//! Upstream reads these from the `patchStrategy` / `patchMergeKey` struct tags of the Go types
//! in `k8s.io/api` (the same facts appear as `+patchStrategy` / `+patchMergeKey` comments in the
//! protobuf definitions and as `x-kubernetes-patch-strategy` / `-merge-key` in OpenAPI). This
//! table restates them for Kubernetes 1.34, keyed by the path of JSON field names from the
//! object root, list levels being transparent: a Deployment's container env is
//! `["spec", "template", "spec", "containers", "env"]`.
//!
//! Fields of `ObjectMeta` are found wherever a `metadata` object is (root, pod templates, PVC
//! templates); fields of `PodSpec` and `Container` relative to each kind's pod spec root. Any
//! field not listed has the default strategy: objects merge, lists are replaced. Notably
//! `tolerations`, `readinessGates`, `resizePolicy`, node `taints` and Endpoints `subsets` are
//! atomic lists upstream and so are replaced.
//!
//! `retainKeys` strategies (`PodSpec.volumes`, `resourceClaims`, `DeploymentSpec.strategy`)
//! only change how clients compute patches; the server honours a `$retainKeys` directive
//! wherever it appears, so they are not listed.

/// How strategic merge patch treats one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldStrategy {
    /// No tag: objects merge key by key, lists (and everything else) are replaced.
    Default,
    /// `patchStrategy=merge`, `patchMergeKey=<key>`: a list of objects merged element by
    /// element, elements matched by the value of this field.
    MergeByKey(&'static str),
    /// `patchStrategy=merge` on a list of primitives (finalizers, podCIDRs): set union.
    MergePrimitives,
    /// `patchStrategy=replace` on an object: the patch value replaces it wholesale.
    Replace,
}

use FieldStrategy::{MergeByKey, MergePrimitives, Replace};

/// Field paths (relative to some root) and their strategies.
type Table = &'static [(&'static [&'static str], FieldStrategy)];

/// `metav1.ObjectMeta`, relative to a `metadata` object.
const OBJECT_META: Table = &[
    (&["finalizers"], MergePrimitives),
    (&["ownerReferences"], MergeByKey("uid")),
];

/// `core/v1.PodSpec`, relative to the pod spec.
const POD_SPEC: Table = &[
    (&["containers"], MergeByKey("name")),
    (&["initContainers"], MergeByKey("name")),
    (&["ephemeralContainers"], MergeByKey("name")),
    // patchStrategy "merge,retainKeys".
    (&["volumes"], MergeByKey("name")),
    (&["imagePullSecrets"], MergeByKey("name")),
    (&["hostAliases"], MergeByKey("ip")),
    (&["topologySpreadConstraints"], MergeByKey("topologyKey")),
    (&["schedulingGates"], MergeByKey("name")),
    // patchStrategy "merge,retainKeys".
    (&["resourceClaims"], MergeByKey("name")),
];

/// The lists of a PodSpec whose elements are `Container` (or `EphemeralContainer`, which
/// inlines the same fields).
const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// `core/v1.Container`, relative to one container.
const CONTAINER: Table = &[
    (&["ports"], MergeByKey("containerPort")),
    (&["env"], MergeByKey("name")),
    (&["volumeMounts"], MergeByKey("mountPath")),
    (&["volumeDevices"], MergeByKey("devicePath")),
];

/// `status.conditions` merged by `type`, the most common tag of all.
const STATUS_CONDITIONS: Table = &[(&["status", "conditions"], MergeByKey("type"))];

/// What one kind adds to the shared tables.
struct KindInfo {
    /// API group; `""` for the core group.
    group: &'static str,
    /// The kind, as in `kind:`.
    kind: &'static str,
    /// Where the kind holds a `PodSpec`, if it does.
    pod_spec_at: Option<&'static [&'static str]>,
    /// The kind's own tagged fields, from the object root.
    fields: Table,
}

const POD_TEMPLATE_SPEC: &[&str] = &["spec", "template", "spec"];

const KINDS: &[KindInfo] = &[
    // core/v1
    KindInfo {
        group: "",
        kind: "Pod",
        pod_spec_at: Some(&["spec"]),
        fields: &[
            (&["status", "conditions"], MergeByKey("type")),
            (&["status", "podIPs"], MergeByKey("ip")),
            (&["status", "hostIPs"], MergeByKey("ip")),
            (&["status", "resourceClaimStatuses"], MergeByKey("name")),
        ],
    },
    KindInfo {
        group: "",
        kind: "PodTemplate",
        pod_spec_at: Some(&["template", "spec"]),
        fields: &[],
    },
    KindInfo {
        group: "",
        kind: "ReplicationController",
        pod_spec_at: Some(POD_TEMPLATE_SPEC),
        fields: STATUS_CONDITIONS,
    },
    KindInfo {
        group: "",
        kind: "Node",
        pod_spec_at: None,
        fields: &[
            (&["spec", "podCIDRs"], MergePrimitives),
            (&["status", "conditions"], MergeByKey("type")),
            (&["status", "addresses"], MergeByKey("type")),
        ],
    },
    KindInfo {
        group: "",
        kind: "Service",
        pod_spec_at: None,
        fields: &[
            (&["spec", "ports"], MergeByKey("port")),
            (&["status", "conditions"], MergeByKey("type")),
        ],
    },
    KindInfo {
        group: "",
        kind: "Namespace",
        pod_spec_at: None,
        fields: STATUS_CONDITIONS,
    },
    KindInfo {
        group: "",
        kind: "PersistentVolumeClaim",
        pod_spec_at: None,
        fields: STATUS_CONDITIONS,
    },
    KindInfo {
        group: "",
        kind: "ServiceAccount",
        pod_spec_at: None,
        fields: &[(&["secrets"], MergeByKey("name"))],
    },
    KindInfo {
        group: "",
        kind: "ComponentStatus",
        pod_spec_at: None,
        fields: &[(&["conditions"], MergeByKey("type"))],
    },
    // apps/v1
    KindInfo {
        group: "apps",
        kind: "Deployment",
        pod_spec_at: Some(POD_TEMPLATE_SPEC),
        fields: STATUS_CONDITIONS,
    },
    KindInfo {
        group: "apps",
        kind: "ReplicaSet",
        pod_spec_at: Some(POD_TEMPLATE_SPEC),
        fields: STATUS_CONDITIONS,
    },
    KindInfo {
        group: "apps",
        kind: "StatefulSet",
        pod_spec_at: Some(POD_TEMPLATE_SPEC),
        fields: STATUS_CONDITIONS,
    },
    KindInfo {
        group: "apps",
        kind: "DaemonSet",
        pod_spec_at: Some(POD_TEMPLATE_SPEC),
        fields: STATUS_CONDITIONS,
    },
    // batch/v1
    KindInfo {
        group: "batch",
        kind: "Job",
        pod_spec_at: Some(POD_TEMPLATE_SPEC),
        fields: STATUS_CONDITIONS,
    },
    KindInfo {
        group: "batch",
        kind: "CronJob",
        pod_spec_at: Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        fields: &[],
    },
    // autoscaling/v2 (v1 has no conditions, so the entry is harmless there)
    KindInfo {
        group: "autoscaling",
        kind: "HorizontalPodAutoscaler",
        pod_spec_at: None,
        fields: STATUS_CONDITIONS,
    },
    // policy/v1
    KindInfo {
        group: "policy",
        kind: "PodDisruptionBudget",
        pod_spec_at: None,
        fields: &[
            (&["spec", "selector"], Replace),
            (&["status", "conditions"], MergeByKey("type")),
        ],
    },
    // admissionregistration.k8s.io/v1
    KindInfo {
        group: "admissionregistration.k8s.io",
        kind: "MutatingWebhookConfiguration",
        pod_spec_at: None,
        fields: &[
            (&["webhooks"], MergeByKey("name")),
            (&["webhooks", "matchConditions"], MergeByKey("name")),
        ],
    },
    KindInfo {
        group: "admissionregistration.k8s.io",
        kind: "ValidatingWebhookConfiguration",
        pod_spec_at: None,
        fields: &[
            (&["webhooks"], MergeByKey("name")),
            (&["webhooks", "matchConditions"], MergeByKey("name")),
        ],
    },
    KindInfo {
        group: "admissionregistration.k8s.io",
        kind: "ValidatingAdmissionPolicy",
        pod_spec_at: None,
        fields: &[
            (&["spec", "matchConditions"], MergeByKey("name")),
            (&["spec", "variables"], MergeByKey("name")),
        ],
    },
    // flowcontrol.apiserver.k8s.io/v1
    KindInfo {
        group: "flowcontrol.apiserver.k8s.io",
        kind: "FlowSchema",
        pod_spec_at: None,
        fields: STATUS_CONDITIONS,
    },
    KindInfo {
        group: "flowcontrol.apiserver.k8s.io",
        kind: "PriorityLevelConfiguration",
        pod_spec_at: None,
        fields: STATUS_CONDITIONS,
    },
    // networking.k8s.io/v1
    KindInfo {
        group: "networking.k8s.io",
        kind: "ServiceCIDR",
        pod_spec_at: None,
        fields: STATUS_CONDITIONS,
    },
    // storage.k8s.io/v1
    KindInfo {
        group: "storage.k8s.io",
        kind: "CSINode",
        pod_spec_at: None,
        fields: &[(&["spec", "drivers"], MergeByKey("name"))],
    },
    // apiregistration.k8s.io/v1
    KindInfo {
        group: "apiregistration.k8s.io",
        kind: "APIService",
        pod_spec_at: None,
        fields: STATUS_CONDITIONS,
    },
];

/// The strategy of the field at `path` (JSON field names from the object root, list levels
/// transparent) in an object of `group` (`""` or `"core"` for the core group) and `kind`.
pub fn field_strategy<S: AsRef<str>>(group: &str, kind: &str, path: &[S]) -> FieldStrategy {
    let n = path.len();
    if n >= 2 && path[n - 2].as_ref() == "metadata" {
        if let Some(s) = lookup(OBJECT_META, &path[n - 1..]) {
            return s;
        }
    }
    let group = if group == "core" { "" } else { group };
    if group == "apiextensions.k8s.io"
        && kind == "CustomResourceDefinition"
        && path
            .last()
            .is_some_and(|f| f.as_ref() == "x-kubernetes-validations")
    {
        // JSONSchemaProps.x-kubernetes-validations, at any depth of the schema.
        return MergeByKey("rule");
    }
    let Some(info) = KINDS.iter().find(|k| k.group == group && k.kind == kind) else {
        return FieldStrategy::Default;
    };
    if let Some(root) = info.pod_spec_at {
        if let Some(rel) = strip_prefix(path, root) {
            if let Some(s) = pod_spec_field(rel) {
                return s;
            }
        }
    }
    lookup(info.fields, path).unwrap_or(FieldStrategy::Default)
}

/// A field relative to a pod spec: the PodSpec's own lists, or a container's.
fn pod_spec_field<S: AsRef<str>>(rel: &[S]) -> Option<FieldStrategy> {
    if let Some(s) = lookup(POD_SPEC, rel) {
        return Some(s);
    }
    let (list, rest) = rel.split_first()?;
    if CONTAINER_LISTS.contains(&list.as_ref()) {
        return lookup(CONTAINER, rest);
    }
    None
}

fn lookup<S: AsRef<str>>(table: Table, path: &[S]) -> Option<FieldStrategy> {
    table
        .iter()
        .find(|(p, _)| p.len() == path.len() && p.iter().zip(path).all(|(a, b)| *a == b.as_ref()))
        .map(|(_, s)| *s)
}

fn strip_prefix<'a, S: AsRef<str>>(path: &'a [S], prefix: &[&str]) -> Option<&'a [S]> {
    if path.len() < prefix.len() {
        return None;
    }
    let (head, rest) = path.split_at(prefix.len());
    head.iter()
        .zip(prefix)
        .all(|(a, b)| a.as_ref() == *b)
        .then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use FieldStrategy::Default;

    #[test]
    fn strategy_table() {
        let cases: &[(&str, &str, &[&str], FieldStrategy)] = &[
            ("", "Pod", &["spec", "containers"], MergeByKey("name")),
            (
                "core",
                "Pod",
                &["spec", "initContainers"],
                MergeByKey("name"),
            ),
            (
                "",
                "Pod",
                &["spec", "ephemeralContainers", "env"],
                MergeByKey("name"),
            ),
            (
                "",
                "Pod",
                &["spec", "containers", "ports"],
                MergeByKey("containerPort"),
            ),
            (
                "",
                "Pod",
                &["spec", "containers", "volumeMounts"],
                MergeByKey("mountPath"),
            ),
            (
                "",
                "Pod",
                &["spec", "containers", "volumeDevices"],
                MergeByKey("devicePath"),
            ),
            ("", "Pod", &["spec", "containers", "resizePolicy"], Default),
            ("", "Pod", &["spec", "containers", "args"], Default),
            ("", "Pod", &["spec", "volumes"], MergeByKey("name")),
            ("", "Pod", &["spec", "tolerations"], Default),
            ("", "Pod", &["spec", "hostAliases"], MergeByKey("ip")),
            (
                "",
                "Pod",
                &["spec", "topologySpreadConstraints"],
                MergeByKey("topologyKey"),
            ),
            ("", "Pod", &["spec", "imagePullSecrets"], MergeByKey("name")),
            ("", "Pod", &["status", "conditions"], MergeByKey("type")),
            ("", "Pod", &["status", "podIPs"], MergeByKey("ip")),
            ("", "Pod", &["status", "containerStatuses"], Default),
            ("", "Pod", &["metadata", "finalizers"], MergePrimitives),
            (
                "",
                "Pod",
                &["metadata", "ownerReferences"],
                MergeByKey("uid"),
            ),
            (
                "",
                "ConfigMap",
                &["metadata", "finalizers"],
                MergePrimitives,
            ),
            ("", "ConfigMap", &["data"], Default),
            (
                "apps",
                "Deployment",
                &["spec", "template", "spec", "containers"],
                MergeByKey("name"),
            ),
            (
                "apps",
                "Deployment",
                &["spec", "template", "spec", "containers", "env"],
                MergeByKey("name"),
            ),
            (
                "apps",
                "Deployment",
                &["spec", "template", "metadata", "finalizers"],
                MergePrimitives,
            ),
            ("apps", "Deployment", &["spec", "containers"], Default),
            (
                "apps",
                "Deployment",
                &["status", "conditions"],
                MergeByKey("type"),
            ),
            (
                "apps",
                "StatefulSet",
                &["spec", "template", "spec", "volumes"],
                MergeByKey("name"),
            ),
            (
                "apps",
                "DaemonSet",
                &["spec", "template", "spec", "initContainers"],
                MergeByKey("name"),
            ),
            (
                "apps",
                "ReplicaSet",
                &["status", "conditions"],
                MergeByKey("type"),
            ),
            (
                "batch",
                "Job",
                &["spec", "template", "spec", "containers"],
                MergeByKey("name"),
            ),
            (
                "batch",
                "CronJob",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "env",
                ],
                MergeByKey("name"),
            ),
            (
                "",
                "PodTemplate",
                &["template", "spec", "containers"],
                MergeByKey("name"),
            ),
            (
                "",
                "ReplicationController",
                &["spec", "template", "spec", "containers"],
                MergeByKey("name"),
            ),
            ("", "Service", &["spec", "ports"], MergeByKey("port")),
            ("", "Endpoints", &["subsets"], Default),
            ("", "Node", &["status", "conditions"], MergeByKey("type")),
            ("", "Node", &["status", "addresses"], MergeByKey("type")),
            ("", "Node", &["spec", "podCIDRs"], MergePrimitives),
            ("", "Node", &["spec", "taints"], Default),
            ("", "ServiceAccount", &["secrets"], MergeByKey("name")),
            (
                "policy",
                "PodDisruptionBudget",
                &["spec", "selector"],
                Replace,
            ),
            (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
                &["webhooks"],
                MergeByKey("name"),
            ),
            (
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                &[
                    "spec",
                    "versions",
                    "schema",
                    "openAPIV3Schema",
                    "x-kubernetes-validations",
                ],
                MergeByKey("rule"),
            ),
            ("example.com", "Widget", &["spec", "containers"], Default),
        ];
        for (group, kind, path, want) in cases {
            assert_eq!(
                field_strategy(group, kind, path),
                *want,
                "{group}/{kind} {path:?}"
            );
        }
    }
}

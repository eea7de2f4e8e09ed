//! The resource table: every kind kapi serves, as discovery reports it.
//!
//! One row per resource with what Kubernetes discovery says of it (plural, singular, kind,
//! scope, verbs, short names, categories, subresources). The server derives its routes,
//! discovery documents and OpenAPI index from this table alone, so adding a resource is one row.
//! Custom resources join it at run time through [`custom`]; the lookups here see both.

pub mod custom;

use custom::Entry;

/// The standard verbs of a writable resource.
pub const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Verbs of a resource that can only be read.
pub const RO: &[&str] = &["get", "list"];
/// Verbs of a virtual resource that is only ever created (reviews).
pub const CREATE_ONLY: &[&str] = &["create"];

/// A subresource such as `status` or `scale`.
#[derive(Debug)]
pub struct Subresource {
    /// The name after the slash: `status`, `scale`, `log`, ...
    pub name: &'static str,
    /// Group of the kind it speaks (`autoscaling` for scale).
    pub group: &'static str,
    /// Version of that kind.
    pub version: &'static str,
    /// The kind it speaks.
    pub kind: &'static str,
    /// Verbs it supports.
    pub verbs: &'static [&'static str],
}

/// One served resource.
#[derive(Debug)]
pub struct ResourceDef {
    /// API group, empty for core.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// The plural used in URLs.
    pub resource: &'static str,
    /// The singular name.
    pub singular: &'static str,
    /// The kind.
    pub kind: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Verbs allowed on the resource itself.
    pub verbs: &'static [&'static str],
    /// Short names (`po`, `svc`).
    pub short_names: &'static [&'static str],
    /// Categories (`all`).
    pub categories: &'static [&'static str],
    /// Subresources.
    pub subresources: &'static [Subresource],
    /// Whether the main resource's writes keep `.spec` semantics and bump `metadata.generation`.
    pub generation: bool,
    /// Whether a CustomResourceDefinition asked for it ([`custom`]) rather than kapi serving it.
    pub custom: bool,
}

impl ResourceDef {
    /// Whether objects of this resource are stored (reviews and bindings are only answered).
    pub fn is_stored(&self) -> bool {
        let answered_only = matches!(self.group, "authentication.k8s.io" | "authorization.k8s.io")
            || (self.group.is_empty() && matches!(self.resource, "bindings" | "componentstatuses"));
        !answered_only
    }

    /// `group/version`, or `version` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group-qualified resource as Kubernetes prints it in messages: `pods`, `deployments.apps`.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// The subresource named `name`, if served.
    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// Whether a `status` subresource splits writes of `.status` from the rest.
    pub fn has_status(&self) -> bool {
        self.subresource("status").is_some()
    }

    /// The storage key prefix of this resource, in kube-apiserver's layout so that both can
    /// share one etcd: `/registry/<resource>/` for built-in resources whatever their group, with
    /// upstream's historical names for a few (`services/specs`, `services/endpoints`, `minions`,
    /// `controllers`, `ingress`), and `/registry/<group>/<resource>/` for the API groups that
    /// upstream serves from its extension servers (and for custom resources).
    pub fn key_prefix(&self) -> String {
        match self.location() {
            ("", path) => format!("/registry/{path}/"),
            (group, path) => format!("/registry/{group}/{path}/"),
        }
    }

    /// The two parts of [`Self::key_prefix`] after `/registry/`: a group (empty for most) and a
    /// path, compared without building the key.
    fn location(&self) -> (&'static str, &'static str) {
        match (self.group, self.resource) {
            ("", "services") => ("", "services/specs"),
            ("", "endpoints") => ("", "services/endpoints"),
            ("", "nodes") => ("", "minions"),
            ("", "replicationcontrollers") => ("", "controllers"),
            ("networking.k8s.io", "ingresses") => ("", "ingress"),
            (group @ ("apiextensions.k8s.io" | "apiregistration.k8s.io"), resource) => {
                (group, resource)
            }
            (group, resource) if self.custom => (group, resource),
            (_, resource) => ("", resource),
        }
    }

    /// The key prefix kapi used before it took upstream's layout,
    /// `/registry/<group-or-core>/<resource>/`: stores written then are moved at start.
    pub fn legacy_key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("/registry/{group}/{}/", self.resource)
    }

    /// The storage key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/{name}", self.key_prefix()),
            _ => format!("{}{name}", self.key_prefix()),
        }
    }
}

const fn status(kind: &'static str, group: &'static str, version: &'static str) -> Subresource {
    Subresource {
        name: "status",
        group,
        version,
        kind,
        verbs: &["get", "patch", "update"],
    }
}

const fn scale() -> Subresource {
    Subresource {
        name: "scale",
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
        verbs: &["get", "patch", "update"],
    }
}

macro_rules! res {
    ($group:expr, $version:expr, $resource:expr, $singular:expr, $kind:expr, $namespaced:expr,
     $verbs:expr, $short:expr, $cats:expr, $subs:expr, $generation:expr) => {
        ResourceDef {
            group: $group,
            version: $version,
            resource: $resource,
            singular: $singular,
            kind: $kind,
            namespaced: $namespaced,
            verbs: $verbs,
            short_names: $short,
            categories: $cats,
            subresources: $subs,
            generation: $generation,
            custom: false,
        }
    };
}

const NONE: &[&str] = &[];
const ALL: &[&str] = &["all"];

/// Every resource kapi serves, grouped by group-version in discovery order.
#[rustfmt::skip]
pub static RESOURCES: &[ResourceDef] = &[
    // core/v1
    res!("", "v1", "bindings", "binding", "Binding", true, CREATE_ONLY, NONE, NONE, &[], false),
    res!("", "v1", "componentstatuses", "componentstatus", "ComponentStatus", false, RO, &["cs"], NONE, &[], false),
    res!("", "v1", "configmaps", "configmap", "ConfigMap", true, RW, &["cm"], NONE, &[], false),
    res!("", "v1", "endpoints", "endpoints", "Endpoints", true, RW, &["ep"], NONE, &[], false),
    res!("", "v1", "events", "event", "Event", true, RW, &["ev"], NONE, &[], false),
    res!("", "v1", "limitranges", "limitrange", "LimitRange", true, RW, &["limits"], NONE, &[], false),
    res!("", "v1", "namespaces", "namespace", "Namespace", false, &["create", "delete", "get", "list", "patch", "update", "watch"], &["ns"], NONE, &[status("Namespace", "", "v1"), Subresource { name: "finalize", group: "", version: "v1", kind: "Namespace", verbs: &["update"] } ], false),
    res!("", "v1", "nodes", "node", "Node", false, RW, &["no"], NONE, &[status("Node", "", "v1"), Subresource { name: "proxy", group: "", version: "v1", kind: "NodeProxyOptions", verbs: &["create", "delete", "get", "head", "patch", "put", "update"] } ], false),
    res!("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true, RW, &["pvc"], NONE, &[status("PersistentVolumeClaim", "", "v1")], false),
    res!("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", false, RW, &["pv"], NONE, &[status("PersistentVolume", "", "v1")], false),
    res!("", "v1", "pods", "pod", "Pod", true, RW, &["po"], ALL, &[status("Pod", "", "v1"), Subresource { name: "binding", group: "", version: "v1", kind: "Binding", verbs: &["create"] }, Subresource { name: "eviction", group: "policy", version: "v1", kind: "Eviction", verbs: &["create"] }, Subresource { name: "ephemeralcontainers", group: "", version: "v1", kind: "Pod", verbs: &["get", "patch", "update"] }, Subresource { name: "log", group: "", version: "v1", kind: "Pod", verbs: &["get"] }, Subresource { name: "exec", group: "", version: "v1", kind: "PodExecOptions", verbs: &["create", "get"] }, Subresource { name: "attach", group: "", version: "v1", kind: "PodAttachOptions", verbs: &["create", "get"] }, Subresource { name: "portforward", group: "", version: "v1", kind: "PodPortForwardOptions", verbs: &["create", "get"] }, Subresource { name: "proxy", group: "", version: "v1", kind: "PodProxyOptions", verbs: &["create", "delete", "get", "head", "patch", "put", "update"] } ], true),
    res!("", "v1", "podtemplates", "podtemplate", "PodTemplate", true, RW, NONE, NONE, &[], false),
    res!("", "v1", "replicationcontrollers", "replicationcontroller", "ReplicationController", true, RW, &["rc"], ALL, &[status("ReplicationController", "", "v1"), scale()], true),
    res!("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", true, RW, &["quota"], NONE, &[status("ResourceQuota", "", "v1")], false),
    res!("", "v1", "secrets", "secret", "Secret", true, RW, NONE, NONE, &[], false),
    res!("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, RW, &["sa"], NONE, &[Subresource { name: "token", group: "authentication.k8s.io", version: "v1", kind: "TokenRequest", verbs: &["create"] }], false),
    res!("", "v1", "services", "service", "Service", true, &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch" ], &["svc"], ALL, &[status("Service", "", "v1"), Subresource { name: "proxy", group: "", version: "v1", kind: "ServiceProxyOptions", verbs: &["create", "delete", "get", "head", "patch", "put", "update"] } ], false),
    // apiregistration.k8s.io/v1: listed first among groups, as the aggregator lists itself
    // admissionregistration.k8s.io/v1: admission webhooks (called by kapi-server's admission::webhooks)
    res!("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "mutatingwebhookconfiguration", "MutatingWebhookConfiguration", false, RW, NONE, &["api-extensions"], &[], true),
    res!("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "validatingwebhookconfiguration", "ValidatingWebhookConfiguration", false, RW, NONE, &["api-extensions"], &[], true),
    res!("apiregistration.k8s.io", "v1", "apiservices", "apiservice", "APIService", false, RW, NONE, &["api-extensions"], &[status("APIService", "apiregistration.k8s.io", "v1")], false),
    // apiextensions.k8s.io/v1: the definitions behind custom resources
    res!("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition", "CustomResourceDefinition", false, RW, &["crd", "crds"], &["api-extensions"], &[status("CustomResourceDefinition", "apiextensions.k8s.io", "v1")], true),
    // authentication.k8s.io/v1 and authorization.k8s.io/v1: reviews, answered and never stored
    res!("authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", false, CREATE_ONLY, NONE, NONE, &[], false),
    res!("authentication.k8s.io", "v1", "tokenreviews", "tokenreview", "TokenReview", false, CREATE_ONLY, NONE, NONE, &[], false),
    res!("authorization.k8s.io", "v1", "localsubjectaccessreviews", "localsubjectaccessreview", "LocalSubjectAccessReview", true, CREATE_ONLY, NONE, NONE, &[], false),
    res!("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview", false, CREATE_ONLY, NONE, NONE, &[], false),
    res!("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview", "SelfSubjectRulesReview", false, CREATE_ONLY, NONE, NONE, &[], false),
    res!("authorization.k8s.io", "v1", "subjectaccessreviews", "subjectaccessreview", "SubjectAccessReview", false, CREATE_ONLY, NONE, NONE, &[], false),
    // apps/v1
    res!("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true, RW, NONE, NONE, &[], false),
    res!("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, RW, &["ds"], ALL, &[status("DaemonSet", "apps", "v1")], true),
    res!("apps", "v1", "deployments", "deployment", "Deployment", true, RW, &["deploy"], ALL, &[status("Deployment", "apps", "v1"), scale()], true),
    res!("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, RW, &["rs"], ALL, &[status("ReplicaSet", "apps", "v1"), scale()], true),
    res!("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, RW, &["sts"], ALL, &[status("StatefulSet", "apps", "v1"), scale()], true),
    // autoscaling/v2 (preferred, the stored version) and autoscaling/v1: one resource in two versions
    res!("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", true, RW, &["hpa"], ALL, &[status("HorizontalPodAutoscaler", "autoscaling", "v2")], true),
    res!("autoscaling", "v1", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", true, RW, &["hpa"], ALL, &[status("HorizontalPodAutoscaler", "autoscaling", "v1")], true),
    // batch/v1
    res!("batch", "v1", "cronjobs", "cronjob", "CronJob", true, RW, &["cj"], ALL, &[status("CronJob", "batch", "v1")], true),
    res!("batch", "v1", "jobs", "job", "Job", true, RW, NONE, ALL, &[status("Job", "batch", "v1")], true),
    // certificates.k8s.io/v1
    res!("certificates.k8s.io", "v1", "certificatesigningrequests", "certificatesigningrequest", "CertificateSigningRequest", false, RW, &["csr"], NONE, &[Subresource { name: "approval", group: "certificates.k8s.io", version: "v1", kind: "CertificateSigningRequest", verbs: &["get", "patch", "update"] }, status("CertificateSigningRequest", "certificates.k8s.io", "v1") ], false),
    // coordination.k8s.io/v1
    res!("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, RW, NONE, NONE, &[], false),
    // discovery.k8s.io/v1
    res!("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true, RW, NONE, NONE, &[], false),
    // events.k8s.io/v1
    res!("events.k8s.io", "v1", "events", "event", "Event", true, RW, &["ev"], NONE, &[], false),
    // flowcontrol.apiserver.k8s.io/v1: API Priority and Fairness configuration
    res!("flowcontrol.apiserver.k8s.io", "v1", "flowschemas", "flowschema", "FlowSchema", false, RW, NONE, NONE, &[status("FlowSchema", "flowcontrol.apiserver.k8s.io", "v1")], true),
    res!("flowcontrol.apiserver.k8s.io", "v1", "prioritylevelconfigurations", "prioritylevelconfiguration", "PriorityLevelConfiguration", false, RW, NONE, NONE, &[status("PriorityLevelConfiguration", "flowcontrol.apiserver.k8s.io", "v1")], true),
    // networking.k8s.io/v1
    res!("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", false, RW, NONE, NONE, &[], false),
    res!("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", true, RW, &["ing"], NONE, &[status("Ingress", "networking.k8s.io", "v1")], true),
    res!("networking.k8s.io", "v1", "ipaddresses", "ipaddress", "IPAddress", false, RW, &["ip"], NONE, &[], false),
    res!("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", true, RW, &["netpol"], NONE, &[], true),
    res!("networking.k8s.io", "v1", "servicecidrs", "servicecidr", "ServiceCIDR", false, RW, NONE, NONE, &[status("ServiceCIDR", "networking.k8s.io", "v1")], false),
    // node.k8s.io/v1
    res!("node.k8s.io", "v1", "runtimeclasses", "runtimeclass", "RuntimeClass", false, RW, NONE, NONE, &[], false),
    // policy/v1
    res!("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", true, RW, &["pdb"], NONE, &[status("PodDisruptionBudget", "policy", "v1")], true),
    // rbac.authorization.k8s.io/v1
    res!("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", false, RW, NONE, NONE, &[], false),
    res!("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", false, RW, NONE, NONE, &[], false),
    res!("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", true, RW, NONE, NONE, &[], false),
    res!("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", true, RW, NONE, NONE, &[], false),
    // scheduling.k8s.io/v1
    res!("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", false, RW, &["pc"], NONE, &[], false),
    // storage.k8s.io/v1
    res!("storage.k8s.io", "v1", "csidrivers", "csidriver", "CSIDriver", false, RW, NONE, NONE, &[], false),
    res!("storage.k8s.io", "v1", "csinodes", "csinode", "CSINode", false, RW, NONE, NONE, &[], false),
    res!("storage.k8s.io", "v1", "csistoragecapacities", "csistoragecapacity", "CSIStorageCapacity", true, RW, NONE, NONE, &[], false),
    res!("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", false, RW, &["sc"], NONE, &[], false),
    res!("storage.k8s.io", "v1", "volumeattachments", "volumeattachment", "VolumeAttachment", false, RW, NONE, NONE, &[status("VolumeAttachment", "storage.k8s.io", "v1")], false),
    res!("storage.k8s.io", "v1", "volumeattributesclasses", "volumeattributesclass", "VolumeAttributesClass", false, RW, &["vac"], NONE, &[], false),
];

/// The served custom resources.
fn served_custom() -> impl Iterator<Item = &'static ResourceDef> {
    let entries = custom::entries();
    (0..entries.len()).filter_map(move |i| entries[i].served.then_some(entries[i].def))
}

/// The resource `resource` in `group`/`version`.
pub fn find(group: &str, version: &str, resource: &str) -> Option<&'static ResourceDef> {
    let matches =
        |r: &&ResourceDef| r.group == group && r.version == version && r.resource == resource;
    RESOURCES
        .iter()
        .find(matches)
        .or_else(|| served_custom().find(matches))
}

/// The resource serving `kind` in `group`/`version`.
pub fn find_kind(group: &str, version: &str, kind: &str) -> Option<&'static ResourceDef> {
    let matches = |r: &&ResourceDef| r.group == group && r.version == version && r.kind == kind;
    RESOURCES
        .iter()
        .find(matches)
        .or_else(|| served_custom().find(matches))
}

/// The row whose version stores `def`'s objects: `def` itself, or for a resource served in
/// several versions or groups the first (preferred) row with its storage key, as upstream stores
/// one version of each resource (HorizontalPodAutoscalers as `autoscaling/v2`, `events.k8s.io`
/// Events as core `v1` Events); for a custom resource the version its definition marks as the
/// storage version.
pub fn storage(def: &'static ResourceDef) -> &'static ResourceDef {
    if !def.is_stored() {
        return def;
    }
    let at = def.location();
    if def.custom {
        return custom::entries()
            .iter()
            .find(|e: &&Entry| e.storage && e.def.location() == at)
            .map_or(def, |e| e.def);
    }
    RESOURCES
        .iter()
        .find(|r| r.is_stored() && r.location() == at)
        .unwrap_or(def)
}

/// One row per stored resource (its storage version), built-in and custom: what holds objects.
pub fn stored() -> Vec<&'static ResourceDef> {
    let mut out: Vec<&'static ResourceDef> = Vec::new();
    for def in RESOURCES.iter().filter(|d| d.is_stored()) {
        if !out.iter().any(|o| o.location() == def.location()) {
            out.push(def);
        }
    }
    out.extend(
        custom::entries()
            .iter()
            .filter(|e| e.storage)
            .map(|e| e.def),
    );
    out
}

/// Every served group-version, in discovery order; core (`""`) first, custom groups last.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES.iter().chain(served_custom()) {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// The resources of one group-version.
pub fn in_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceDef> + 'a {
    RESOURCES
        .iter()
        .chain(served_custom())
        .filter(move |r| r.group == group && r.version == version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_unique_and_keys_distinct() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert!(
                    !(a.group == b.group && a.version == b.version && a.resource == b.resource),
                    "{} twice",
                    a.resource
                );
                if !a.is_stored() || !b.is_stored() {
                    continue;
                }
                let (ka, kb) = (a.key_prefix(), b.key_prefix());
                if ka == kb {
                    // One resource in two versions or groups: one row stores both.
                    assert!(std::ptr::eq(storage(a), storage(b)), "{ka}");
                    assert_eq!(a.kind, b.kind);
                    continue;
                }
                assert!(
                    !ka.starts_with(&kb) && !kb.starts_with(&ka),
                    "{ka} and {kb} overlap: a watch of one would see the other"
                );
            }
        }
    }

    #[test]
    fn keys_follow_kube_apiservers_layout() {
        let key = |group, version, resource, ns, name| {
            find(group, version, resource).unwrap().key(ns, name)
        };
        let cases = [
            (
                key("", "v1", "pods", Some("default"), "web"),
                "/registry/pods/default/web",
            ),
            (
                key("", "v1", "namespaces", None, "default"),
                "/registry/namespaces/default",
            ),
            (
                key("", "v1", "services", Some("a"), "b"),
                "/registry/services/specs/a/b",
            ),
            (
                key("", "v1", "endpoints", Some("a"), "b"),
                "/registry/services/endpoints/a/b",
            ),
            (key("", "v1", "nodes", None, "n"), "/registry/minions/n"),
            (
                key("", "v1", "replicationcontrollers", Some("a"), "b"),
                "/registry/controllers/a/b",
            ),
            (
                key("apps", "v1", "deployments", Some("a"), "b"),
                "/registry/deployments/a/b",
            ),
            (
                key("networking.k8s.io", "v1", "ingresses", Some("a"), "b"),
                "/registry/ingress/a/b",
            ),
            (
                key("rbac.authorization.k8s.io", "v1", "clusterroles", None, "c"),
                "/registry/clusterroles/c",
            ),
            (
                key("events.k8s.io", "v1", "events", Some("a"), "e"),
                "/registry/events/a/e",
            ),
            (
                key(
                    "autoscaling",
                    "v1",
                    "horizontalpodautoscalers",
                    Some("a"),
                    "h",
                ),
                "/registry/horizontalpodautoscalers/a/h",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        let events = find("events.k8s.io", "v1", "events").unwrap();
        assert_eq!(storage(events).api_version(), "v1", "stored as core Events");
        assert_eq!(
            find("", "v1", "pods").unwrap().legacy_key_prefix(),
            "/registry/core/pods/"
        );
        assert_eq!(
            find("apps", "v1", "deployments").unwrap().group_resource(),
            "deployments.apps"
        );
    }
}

//! The default policy a fresh cluster starts with: upstream's user-facing ClusterRoles and
//! bindings, plus least-privilege roles for kapi's own components.

use serde_json::{json, Map, Value};

use super::rule::PolicyRule;
use crate::authz::SYSTEM_MASTERS;

/// Label every bootstrap object carries (`kubernetes.io/bootstrapping: rbac-defaults`).
pub const BOOTSTRAP_LABEL: (&str, &str) = ("kubernetes.io/bootstrapping", "rbac-defaults");
/// Annotation saying the server may reconcile the object at start; `"false"` opts out.
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";
/// Group of every authenticated user.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// Group of the anonymous user.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// Group of every service account.
pub const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
/// The controller manager's user name (certificate CN) and its ClusterRole's name.
pub const CONTROLLER_MANAGER_USER: &str = "system:kapi:controller-manager";
/// The scheduler's user name, as upstream's (its ClusterRole has upstream's name and rules).
pub const SCHEDULER_USER: &str = "system:kube-scheduler";
/// The Lease (in kube-system) the scheduler may read and renew by name for leader election.
pub const SCHEDULER_LEASE: &str = "kube-scheduler";
/// The group of node agents; each one's user is [`NODE_USER_PREFIX`] + node name.
pub const NODES_GROUP: &str = "system:nodes";
/// Prefix of a node agent's user name.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// Namespace of node heartbeat Leases; the node role's lease rights are bound only there.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];
const EVENT_GROUPS: &[&str] = &["", "events.k8s.io"];
const EVENT_VERBS: &[&str] = &["create", "update", "patch"];

/// The bootstrap ClusterRoles, then ClusterRoleBindings, then the one RoleBinding (in
/// [`NODE_LEASE_NAMESPACE`], which must exist first), as Kubernetes JSON objects labelled
/// [`BOOTSTRAP_LABEL`] and annotated [`AUTOUPDATE_ANNOTATION`]` = "true"`.
///
/// From upstream (same names, same rules): `cluster-admin` (bound to `system:masters`),
/// `admin`/`edit`/`view` (aggregated, bound to nobody) and the `system:aggregate-to-*` roles
/// that define them, `system:discovery` and `system:basic-user` (bound to
/// `system:authenticated`), `system:public-info-viewer` (also bound to
/// `system:unauthenticated`), `system:service-account-issuer-discovery`, `system:monitoring`,
/// `system:auth-delegator` and `system:kube-scheduler` (bound to user `system:kube-scheduler`;
/// without upstream's feature-gated dynamic-resource-allocation rules).
///
/// kapi's own: `system:kapi:controller-manager` for [`CONTROLLER_MANAGER_USER`], and
/// `system:node` for the group [`NODES_GROUP`]. Upstream's `system:node` is broad and bound to
/// nobody because the Node authorizer confines each kubelet to its own objects; kapi's holds
/// only what the node agent uses and is bound to the group (Secrets, ConfigMaps and tokens are
/// left to kapi-server's Node authorizer), with Lease rights through a RoleBinding in
/// `kube-node-lease` only.
pub fn bootstrap_policy() -> Vec<Value> {
    let mut objects = cluster_roles();
    objects.extend(cluster_role_bindings());
    objects.push(role_binding(
        NODE_LEASE_NAMESPACE,
        "system:kapi:node-lease",
        "system:kapi:node-lease",
        &[("Group", NODES_GROUP)],
    ));
    objects
}

/// A rule with upstream's normalization: every list sorted, as upstream's rule builder does.
fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let mut r = PolicyRule::resource(verbs, groups, resources);
    r.verbs.sort();
    r.api_groups.sort();
    r.resources.sort();
    r
}

fn named(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
    let mut r = rule(verbs, groups, resources).with_names(names);
    r.resource_names.sort();
    r
}

fn urls(verbs: &[&str], paths: &[&str]) -> PolicyRule {
    let mut r = PolicyRule::urls(verbs, paths);
    r.verbs.sort();
    r.non_resource_urls.sort();
    r
}

fn metadata(name: &str, labels: &[(&str, &str)]) -> Value {
    let mut all = Map::new();
    all.insert(BOOTSTRAP_LABEL.0.into(), BOOTSTRAP_LABEL.1.into());
    for (k, v) in labels {
        all.insert((*k).into(), (*v).into());
    }
    json!({
        "name": name,
        "labels": all,
        "annotations": {AUTOUPDATE_ANNOTATION: "true"},
    })
}

fn cluster_role(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata(name, labels),
        "rules": rules.iter().map(PolicyRule::to_json).collect::<Vec<_>>(),
    })
}

/// A ClusterRole whose rules the aggregation controller fills from roles labelled `selects`.
fn aggregated_role(name: &str, labels: &[(&str, &str)], selects: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata(name, labels),
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {selects: "true"}}]},
    })
}

fn subjects(list: &[(&str, &str)]) -> Value {
    list.iter()
        .map(|(kind, name)| json!({"apiGroup": RBAC_GROUP, "kind": kind, "name": name}))
        .collect()
}

fn cluster_role_binding(name: &str, role: &str, to: &[(&str, &str)]) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata(name, &[]),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": subjects(to),
    })
}

fn role_binding(namespace: &str, name: &str, cluster_role: &str, to: &[(&str, &str)]) -> Value {
    let mut meta = metadata(name, &[]);
    if let Some(m) = meta.as_object_mut() {
        m.insert("namespace".into(), namespace.into());
    }
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": cluster_role},
        "subjects": subjects(to),
    })
}

const TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
const TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
const TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";

fn cluster_roles() -> Vec<Value> {
    vec![
        cluster_role(
            "cluster-admin",
            &[],
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
        ),
        cluster_role(
            "system:discovery",
            &[],
            vec![urls(
                &["get"],
                &[
                    "/livez",
                    "/readyz",
                    "/healthz",
                    "/version",
                    "/version/",
                    "/openapi",
                    "/openapi/*",
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                ],
            )],
        ),
        cluster_role(
            "system:basic-user",
            &[],
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        cluster_role(
            "system:public-info-viewer",
            &[],
            vec![urls(
                &["get"],
                &["/livez", "/readyz", "/healthz", "/version", "/version/"],
            )],
        ),
        cluster_role(
            "system:service-account-issuer-discovery",
            &[],
            vec![urls(
                &["get"],
                &["/.well-known/openid-configuration", "/openid/v1/jwks"],
            )],
        ),
        cluster_role(
            "system:monitoring",
            &[],
            vec![urls(
                &["get"],
                &[
                    "/metrics",
                    "/metrics/slis",
                    "/livez",
                    "/readyz",
                    "/healthz",
                    "/livez/*",
                    "/readyz/*",
                    "/healthz/*",
                ],
            )],
        ),
        cluster_role(
            "system:auth-delegator",
            &[],
            vec![
                rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
            ],
        ),
        aggregated_role("admin", &[], TO_ADMIN),
        aggregated_role("edit", &[(TO_ADMIN, "true")], TO_EDIT),
        aggregated_role("view", &[(TO_EDIT, "true")], TO_VIEW),
        cluster_role(
            "system:aggregate-to-admin",
            &[(TO_ADMIN, "true")],
            aggregate_to_admin(),
        ),
        cluster_role(
            "system:aggregate-to-edit",
            &[(TO_EDIT, "true")],
            aggregate_to_edit(),
        ),
        cluster_role(
            "system:aggregate-to-view",
            &[(TO_VIEW, "true")],
            aggregate_to_view(),
        ),
        // What metrics-server's manifest installs so that view, edit and admin read metrics.
        cluster_role(
            "system:aggregated-metrics-reader",
            &[(TO_ADMIN, "true"), (TO_EDIT, "true"), (TO_VIEW, "true")],
            vec![rule(
                &["get", "list", "watch"],
                &["metrics.k8s.io"],
                &["pods", "nodes"],
            )],
        ),
        cluster_role(SCHEDULER_USER, &[], scheduler()),
        cluster_role(CONTROLLER_MANAGER_USER, &[], controller_manager()),
        cluster_role("system:node", &[], node()),
        // What a joining node needs before it has its own identity, as upstream's roles.
        cluster_role(
            "system:node-bootstrapper",
            &[],
            vec![rule(
                &["create", "get", "list", "watch"],
                &[CERTIFICATES_GROUP],
                &["certificatesigningrequests"],
            )],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            &[],
            vec![rule(
                &["create"],
                &[CERTIFICATES_GROUP],
                &["certificatesigningrequests/nodeclient"],
            )],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            &[],
            vec![rule(
                &["create"],
                &[CERTIFICATES_GROUP],
                &["certificatesigningrequests/selfnodeclient"],
            )],
        ),
        cluster_role(
            "system:kapi:node-lease",
            &[],
            vec![rule(
                &["get", "create", "update", "patch", "delete"],
                &["coordination.k8s.io"],
                &["leases"],
            )],
        ),
    ]
}

fn cluster_role_bindings() -> Vec<Value> {
    vec![
        cluster_role_binding(
            "cluster-admin",
            "cluster-admin",
            &[("Group", SYSTEM_MASTERS)],
        ),
        cluster_role_binding(
            "system:discovery",
            "system:discovery",
            &[("Group", AUTHENTICATED_GROUP)],
        ),
        cluster_role_binding(
            "system:basic-user",
            "system:basic-user",
            &[("Group", AUTHENTICATED_GROUP)],
        ),
        cluster_role_binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &[
                ("Group", AUTHENTICATED_GROUP),
                ("Group", UNAUTHENTICATED_GROUP),
            ],
        ),
        cluster_role_binding(
            "system:service-account-issuer-discovery",
            "system:service-account-issuer-discovery",
            &[("Group", SERVICE_ACCOUNTS_GROUP)],
        ),
        cluster_role_binding(
            "system:monitoring",
            "system:monitoring",
            &[("Group", "system:monitoring")],
        ),
        cluster_role_binding(SCHEDULER_USER, SCHEDULER_USER, &[("User", SCHEDULER_USER)]),
        cluster_role_binding(
            CONTROLLER_MANAGER_USER,
            CONTROLLER_MANAGER_USER,
            &[("User", CONTROLLER_MANAGER_USER)],
        ),
        cluster_role_binding("system:node", "system:node", &[("Group", NODES_GROUP)]),
        // kubeadm's bindings: bootstrap tokens may ask for node client certificates, which
        // are approved for them, and nodes may renew their own.
        cluster_role_binding(
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            &[("Group", crate::bootstrap_token::BOOTSTRAPPERS_GROUP)],
        ),
        cluster_role_binding(
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            &[("Group", crate::bootstrap_token::BOOTSTRAPPERS_GROUP)],
        ),
        cluster_role_binding(
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            &[("Group", NODES_GROUP)],
        ),
    ]
}

/// The certificates API group.
const CERTIFICATES_GROUP: &str = "certificates.k8s.io";

/// What `admin` adds to `edit`: managing Roles and RoleBindings in the namespace.
fn aggregate_to_admin() -> Vec<PolicyRule> {
    vec![
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
        ),
        rule(READ_WRITE, &[RBAC_GROUP], &["roles", "rolebindings"]),
    ]
}

/// What `edit` adds to `view`: writing workloads and their inputs, Secrets included, and the
/// escalating reads (exec, attach, port-forward, proxy, Secrets). No endpoints writes (upstream
/// dropped them in 1.22, CVE-2021-25740).
fn aggregate_to_edit() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
                "secrets",
                "services/proxy",
            ],
        ),
        rule(&["impersonate"], &[""], &["serviceaccounts"]),
        rule(
            WRITE,
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
            ],
        ),
        rule(&["create"], &[""], &["pods/eviction"]),
        rule(
            WRITE,
            &[""],
            &[
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/proxy",
                "persistentvolumeclaims",
                "configmaps",
                "secrets",
                "events",
            ],
        ),
        rule(&["create"], &[""], &["serviceaccounts/token"]),
        rule(
            WRITE,
            &["apps"],
            &[
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "replicasets",
                "replicasets/scale",
            ],
        ),
        rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        rule(WRITE, &["batch"], &["jobs", "cronjobs"]),
        rule(
            WRITE,
            &["extensions"],
            &[
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "ingresses",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
                "networkpolicies",
            ],
        ),
        rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
        rule(
            WRITE,
            &["networking.k8s.io"],
            &["networkpolicies", "ingresses"],
        ),
        rule(READ_WRITE, &["coordination.k8s.io"], &["leases"]),
    ]
}

/// `view`: reading the namespace's non-escalating objects: no Secrets, no exec or proxy.
fn aggregate_to_view() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
            ],
        ),
        rule(
            READ,
            &[""],
            &[
                "limitranges",
                "resourcequotas",
                "bindings",
                "events",
                "pods/status",
                "resourcequotas/status",
                "namespaces/status",
                "replicationcontrollers/status",
                "pods/log",
            ],
        ),
        // Reading namespaces through a RoleBinding means reading this one namespace.
        rule(READ, &[""], &["namespaces"]),
        rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        rule(
            READ,
            &["apps"],
            &[
                "controllerrevisions",
                "statefulsets",
                "statefulsets/status",
                "statefulsets/scale",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/status",
                "deployments/scale",
                "replicasets",
                "replicasets/status",
                "replicasets/scale",
            ],
        ),
        rule(
            READ,
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        rule(
            READ,
            &["batch"],
            &["jobs", "cronjobs", "cronjobs/status", "jobs/status"],
        ),
        rule(
            READ,
            &["extensions"],
            &[
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
                "networkpolicies",
            ],
        ),
        rule(
            READ,
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
        ),
        rule(
            READ,
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
        ),
    ]
}

/// Upstream's `system:kube-scheduler` (without the feature-gated resource.k8s.io rules; kapi
/// serves no dynamic resource allocation).
fn scheduler() -> Vec<PolicyRule> {
    vec![
        rule(EVENT_VERBS, EVENT_GROUPS, &["events"]),
        // leader election
        rule(&["create"], &["coordination.k8s.io"], &["leases"]),
        named(
            &["get", "update"],
            &["coordination.k8s.io"],
            &["leases"],
            &[SCHEDULER_LEASE],
        ),
        // scheduling
        rule(READ, &[""], &["nodes"]),
        rule(&["get", "list", "watch", "delete"], &[""], &["pods"]),
        rule(&["create"], &[""], &["pods/binding", "bindings"]),
        rule(&["patch", "update"], &[""], &["pods/status"]),
        // spreading and volume constraints
        rule(READ, &[""], &["replicationcontrollers", "services"]),
        rule(READ, &["apps", "extensions"], &["replicasets"]),
        rule(READ, &["apps"], &["statefulsets"]),
        rule(READ, &["policy"], &["poddisruptionbudgets"]),
        rule(
            READ,
            &[""],
            &["persistentvolumeclaims", "persistentvolumes"],
        ),
        // delegated authentication and authorization of its own endpoints
        rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
        ),
        rule(READ, &["storage.k8s.io"], &["csinodes"]),
        rule(READ, &[""], &["namespaces"]),
        rule(READ, &["storage.k8s.io"], &["csidrivers"]),
        rule(READ, &["storage.k8s.io"], &["csistoragecapacities"]),
    ]
}

/// Namespaced resources kapi serves, per group: what namespace deletion must empty and the
/// garbage collector may delete or patch (owner references, finalizers). Listed rather than
/// `*` so that the controller manager cannot reach subresources such as `pods/exec`,
/// `pods/ephemeralcontainers` or `serviceaccounts/token`. A new resource must be added here.
const NAMESPACED_CONTENT: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "configmaps",
            "endpoints",
            "events",
            "limitranges",
            "persistentvolumeclaims",
            "pods",
            "podtemplates",
            "replicationcontrollers",
            "resourcequotas",
            "secrets",
            "serviceaccounts",
            "services",
        ],
    ),
    (
        "apps",
        &[
            "controllerrevisions",
            "daemonsets",
            "deployments",
            "replicasets",
            "statefulsets",
        ],
    ),
    ("batch", &["cronjobs", "jobs"]),
    ("coordination.k8s.io", &["leases"]),
    ("discovery.k8s.io", &["endpointslices"]),
    ("events.k8s.io", &["events"]),
    ("networking.k8s.io", &["ingresses", "networkpolicies"]),
    ("policy", &["poddisruptionbudgets"]),
    (RBAC_GROUP, &["roles", "rolebindings"]),
];

/// `system:kapi:controller-manager`: the union of what kapi's controllers do — service
/// accounts and their token Secrets, the root CA ConfigMap, namespace deletion, endpoints and
/// EndpointSlices, Deployments → ReplicaSets → Pods, Jobs and CronJobs, StatefulSets and
/// DaemonSets, horizontal autoscaling, garbage collection, signing API-client CSRs, events and leader election. It may
/// not create RBAC objects, impersonate, exec into pods or mint tokens; and since it holds no
/// `*` rule and no `bind` or `escalate`, escalation prevention stops it from rewriting bindings
/// into more power.
fn controller_manager() -> Vec<PolicyRule> {
    let lifecycle = [
        "get",
        "list",
        "watch",
        "patch",
        "update",
        "delete",
        "deletecollection",
    ];
    let mut rules = vec![rule(EVENT_VERBS, EVENT_GROUPS, &["events"])];
    rules.extend(
        NAMESPACED_CONTENT
            .iter()
            .map(|(group, resources)| rule(&lifecycle, &[*group], resources)),
    );
    rules.extend([
        // namespace controller
        rule(&["get", "list", "watch", "delete"], &[""], &["namespaces"]),
        // node IPAM and node lifecycle
        rule(
            &["get", "list", "watch", "update", "patch"],
            &[""],
            &["nodes"],
        ),
        rule(&["update", "patch"], &[""], &["nodes/status"]),
        rule(
            &["update"],
            &[""],
            &["namespaces/finalize", "namespaces/status"],
        ),
        // objects controllers create
        rule(
            &["create"],
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "pods",
                "secrets",
                "serviceaccounts",
            ],
        ),
        rule(
            &["create"],
            &["apps"],
            &["controllerrevisions", "replicasets"],
        ),
        rule(&["create"], &["batch"], &["jobs"]),
        rule(&["create"], &["discovery.k8s.io"], &["endpointslices"]),
        rule(&["create"], &["coordination.k8s.io"], &["leases"]),
        // status and owner-reference finalizers of what they manage
        rule(
            &["update", "patch"],
            &[""],
            &["pods/status", "replicationcontrollers/status"],
        ),
        // the service load balancer publishes ingress addresses
        rule(&["update", "patch"], &[""], &["services/status"]),
        // the ServiceCIDR controller: finalizers and the Ready condition, from the addresses
        rule(
            &["get", "list", "watch", "patch", "update"],
            &["networking.k8s.io"],
            &["servicecidrs"],
        ),
        rule(
            &["patch", "update"],
            &["networking.k8s.io"],
            &["servicecidrs/status", "servicecidrs/finalizers"],
        ),
        rule(
            &["get", "list", "watch"],
            &["networking.k8s.io"],
            &["ipaddresses"],
        ),
        rule(
            &["update", "patch"],
            &["apps"],
            &[
                "daemonsets/status",
                "deployments/status",
                "replicasets/status",
                "statefulsets/status",
            ],
        ),
        rule(
            &["update", "patch"],
            &["batch"],
            &["cronjobs/status", "jobs/status"],
        ),
        rule(
            &["update"],
            &[""],
            &[
                "pods/finalizers",
                "replicationcontrollers/finalizers",
                "services/finalizers",
            ],
        ),
        rule(
            &["update"],
            &["apps"],
            &[
                "daemonsets/finalizers",
                "deployments/finalizers",
                "replicasets/finalizers",
                "statefulsets/finalizers",
            ],
        ),
        rule(
            &["update"],
            &["batch"],
            &["cronjobs/finalizers", "jobs/finalizers"],
        ),
        // garbage collector: lists and watches every resource to follow ownerReferences
        // (owners are looked up by list with a name field selector) and deletes dependents.
        // Upstream's generic-garbage-collector role also has get, patch and update on `*`,
        // but `*` covers subresources too: `get` would open pods/exec, pods/attach and
        // nodes/proxy, and `patch` pods/ephemeralcontainers — a way to run code anywhere.
        // Patches of ownerReferences and finalizers are covered for the built-in namespaced
        // kinds by the rules above; elsewhere (custom resources) they are refused and logged.
        rule(&["list", "watch", "delete"], &["*"], &["*"]),
        // nodes: pod garbage collection, DaemonSets, EndpointSlice topology
        rule(READ, &[""], &["nodes"]),
        // CSR signing and cleaning: read requests, write the certificate or a Failed
        // condition, delete finished ones; sign only for the API-client signer
        rule(
            &["get", "list", "watch", "delete"],
            &["certificates.k8s.io"],
            &["certificatesigningrequests"],
        ),
        rule(
            &["update"],
            &["certificates.k8s.io"],
            &["certificatesigningrequests/status"],
        ),
        named(
            &["sign"],
            &["certificates.k8s.io"],
            &["signers"],
            &[
                "kubernetes.io/kube-apiserver-client",
                "kubernetes.io/kube-apiserver-client-kubelet",
                "kubernetes.io/kubelet-serving",
            ],
        ),
        // CSR approval of nodes' requests, after a SubjectAccessReview of the requester
        rule(
            &["update"],
            &["certificates.k8s.io"],
            &["certificatesigningrequests/approval"],
        ),
        named(
            &["approve"],
            &["certificates.k8s.io"],
            &["signers"],
            &[
                "kubernetes.io/kube-apiserver-client-kubelet",
                "kubernetes.io/kubelet-serving",
            ],
        ),
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
        ),
        // horizontal pod autoscaler: reads HPAs, its targets' scale and their pods' metrics,
        // writes the scale and the HPA's status
        rule(READ, &["autoscaling"], &["horizontalpodautoscalers"]),
        rule(
            &["update"],
            &["autoscaling"],
            &["horizontalpodautoscalers/status"],
        ),
        rule(&["get", "update"], &[""], &["replicationcontrollers/scale"]),
        rule(
            &["get", "update"],
            &["apps"],
            &[
                "deployments/scale",
                "replicasets/scale",
                "statefulsets/scale",
            ],
        ),
        rule(&["get", "list"], &["metrics.k8s.io"], &["pods"]),
    ]);
    rules
}

/// kapi's `system:node`: what the node agent does for the pods bound to it — register and
/// heartbeat its Node, watch pods, report their status, finish their deletion, record events,
/// and follow Services and endpoints for the service proxy. Reading the Secrets and ConfigMaps
/// its pods use and minting their tokens is the Node authorizer's to allow, per object.
fn node() -> Vec<PolicyRule> {
    vec![
        rule(
            &["create", "get", "list", "watch", "update", "patch"],
            &[""],
            &["nodes"],
        ),
        rule(&["update", "patch"], &[""], &["nodes/status"]),
        rule(&["get", "list", "watch", "delete"], &[""], &["pods"]),
        rule(
            &["update", "patch"],
            &[""],
            &["pods/status", "replicationcontrollers/status"],
        ),
        rule(EVENT_VERBS, EVENT_GROUPS, &["events"]),
        rule(READ, &[""], &["services", "endpoints"]),
        rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        // its own client certificate renewed, its serving certificate
        rule(
            &["create", "get", "list", "watch"],
            &[CERTIFICATES_GROUP],
            &["certificatesigningrequests"],
        ),
        // delegated authentication and authorization of the kubelet API
        rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["subjectaccessreviews", "localsubjectaccessreviews"],
        ),
    ]
}

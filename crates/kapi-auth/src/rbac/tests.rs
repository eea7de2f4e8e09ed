//! Decisions through the index, and the bootstrap policy's promises, end to end within RBAC.

use serde_json::{json, Value};

use super::*;
use crate::authz::Decision;

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..Default::default()
    }
}

fn role(ns: &str, name: &str, rules: Value) -> Value {
    json!({"kind": "Role", "metadata": {"namespace": ns, "name": name}, "rules": rules})
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"kind": "ClusterRole", "metadata": {"name": name}, "rules": rules})
}

fn binding(ns: &str, name: &str, kind: &str, role: &str, subjects: Value) -> Value {
    let mut meta = json!({"name": name});
    if !ns.is_empty() {
        meta["namespace"] = ns.into();
    }
    json!({
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": subjects,
    })
}

fn subject(kind: &str, name: &str) -> Value {
    json!({"kind": kind, "name": name})
}

fn get<'a>(u: &'a UserInfo, resource: &'a str, ns: &'a str, name: &'a str) -> Attributes<'a> {
    Attributes::resource(u, "get", "", resource, "", ns, name)
}

fn pod_reader() -> Value {
    json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}])
}

/// A small cluster covering every way a binding can apply.
#[rustfmt::skip]
fn index() -> RbacIndex {
    let roles = vec![
        role("a", "pod-reader", pod_reader()),
        role("b", "secret-reader", json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}])),
    ];
    let cluster_roles = vec![
        cluster_role("pod-reader", pod_reader()),
        cluster_role("node-reader", json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}])),
        cluster_role("metrics", json!([{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}])),
    ];
    let role_bindings = vec![
        binding("a", "alice-pods", "Role", "pod-reader", json!([subject("User", "alice")])),
        binding("b", "alice-via-cluster-role", "ClusterRole", "pod-reader", json!([subject("User", "alice")])),
        // the Role lives in namespace b, not c: nothing granted in c
        binding("c", "wrong-namespace", "Role", "secret-reader", json!([subject("User", "alice")])),
        binding("b", "devs-secrets", "Role", "secret-reader", json!([subject("Group", "devs")])),
        binding("a", "sa-local", "Role", "pod-reader", json!([{"kind": "ServiceAccount", "name": "app"}])),
        binding("b", "sa-remote", "Role", "secret-reader", json!([{"kind": "ServiceAccount", "name": "app", "namespace": "a"}])),
        binding("d", "dangling", "Role", "gone", json!([subject("User", "dan")])),
    ];
    let cluster_role_bindings = vec![
        binding("", "ops-nodes", "ClusterRole", "node-reader", json!([subject("User", "carol"), subject("Group", "ops")])),
        binding("", "metrics", "ClusterRole", "metrics", json!([subject("Group", "monitoring")])),
        // a ServiceAccount subject of a ClusterRoleBinding needs its namespace
        binding("", "sa-without-namespace", "ClusterRole", "node-reader", json!([{"kind": "ServiceAccount", "name": "app"}])),
        binding("", "missing-cluster-role", "ClusterRole", "absent", json!([subject("User", "dan")])),
        binding("", "odd-kind", "Something", "x", json!([subject("User", "dan")])),
    ];
    RbacIndex::build(&roles, &cluster_roles, &role_bindings, &cluster_role_bindings)
}

#[test]
fn role_binding_to_role_applies_in_its_namespace() {
    let idx = index();
    let alice = user("alice", &["system:authenticated"]);
    assert_eq!(
        idx.authorize(&get(&alice, "pods", "a", "web")),
        (
            Decision::Allow,
            r#"RBAC: allowed by RoleBinding "alice-pods/a" of Role "pod-reader" to User "alice""#
                .to_owned()
        )
    );
    let list = Attributes::resource(&alice, "list", "", "pods", "", "a", "");
    assert_eq!(idx.authorize(&list).0, Decision::Allow);
    let delete = Attributes::resource(&alice, "delete", "", "pods", "", "a", "web");
    assert_eq!(idx.authorize(&delete), (Decision::NoOpinion, String::new()));
    assert_eq!(
        idx.authorize(&get(&alice, "pods", "elsewhere", "web")).0,
        Decision::NoOpinion
    );
    // all namespaces (list at cluster scope) is not granted by a RoleBinding
    let list_all = Attributes::resource(&alice, "list", "", "pods", "", "", "");
    assert_eq!(idx.authorize(&list_all).0, Decision::NoOpinion);
    // a Role of the same name in another namespace is not referenced
    assert_eq!(
        idx.authorize(&get(&alice, "secrets", "c", "s")).0,
        Decision::NoOpinion
    );
}

#[test]
fn role_binding_to_cluster_role_is_limited_to_its_namespace() {
    let idx = index();
    let alice = user("alice", &[]);
    assert_eq!(
        idx.authorize(&get(&alice, "pods", "b", "web")),
        (
            Decision::Allow,
            r#"RBAC: allowed by RoleBinding "alice-via-cluster-role/b" of ClusterRole "pod-reader" to User "alice""#
                .to_owned()
        )
    );
    assert_eq!(
        idx.authorize(&get(&alice, "pods", "z", "web")).0,
        Decision::NoOpinion
    );
}

#[test]
fn cluster_role_binding_applies_everywhere_by_user_or_group() {
    let idx = index();
    let carol = user("carol", &[]);
    assert_eq!(
        idx.authorize(&get(&carol, "nodes", "", "n1")),
        (
            Decision::Allow,
            r#"RBAC: allowed by ClusterRoleBinding "ops-nodes" of ClusterRole "node-reader" to User "carol""#
                .to_owned()
        )
    );
    let op = user("olga", &["system:authenticated", "ops"]);
    assert_eq!(
        idx.authorize(&get(&op, "nodes", "", "n1")).1,
        r#"RBAC: allowed by ClusterRoleBinding "ops-nodes" of ClusterRole "node-reader" to Group "ops""#
    );
    // cluster-wide grants apply inside namespaces too
    assert_eq!(
        idx.authorize(&get(&op, "nodes", "a", "n1")).0,
        Decision::Allow
    );
    let mon = user("prometheus", &["monitoring"]);
    assert_eq!(
        idx.authorize(&Attributes::non_resource(&mon, "get", "/metrics"))
            .0,
        Decision::Allow
    );
    assert_eq!(
        idx.authorize(&Attributes::non_resource(&mon, "get", "/metrics/x"))
            .0,
        Decision::NoOpinion
    );
    assert_eq!(
        idx.authorize(&Attributes::non_resource(&carol, "get", "/metrics"))
            .0,
        Decision::NoOpinion
    );
}

#[test]
fn group_subjects_of_role_bindings() {
    let idx = index();
    let dev = user("dave", &["devs"]);
    assert_eq!(
        idx.authorize(&get(&dev, "secrets", "b", "s")).1,
        r#"RBAC: allowed by RoleBinding "devs-secrets/b" of Role "secret-reader" to Group "devs""#
    );
    assert_eq!(
        idx.authorize(&get(&dev, "secrets", "a", "s")).0,
        Decision::NoOpinion
    );
    let other = user("dave", &["not-devs"]);
    assert_eq!(
        idx.authorize(&get(&other, "secrets", "b", "s")).0,
        Decision::NoOpinion
    );
}

#[test]
fn service_account_subjects() {
    let idx = index();
    let sa = user(
        "system:serviceaccount:a:app",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:a",
            "system:authenticated",
        ],
    );
    // namespace defaults to the binding's
    assert_eq!(
        idx.authorize(&get(&sa, "pods", "a", "p")).1,
        r#"RBAC: allowed by RoleBinding "sa-local/a" of Role "pod-reader" to ServiceAccount "app/a""#
    );
    // an explicit namespace reaches across namespaces
    assert_eq!(
        idx.authorize(&get(&sa, "secrets", "b", "s")).1,
        r#"RBAC: allowed by RoleBinding "sa-remote/b" of Role "secret-reader" to ServiceAccount "app/a""#
    );
    // the same name in another namespace is another account
    let other = user("system:serviceaccount:b:app", &["system:serviceaccounts"]);
    assert_eq!(
        idx.authorize(&get(&other, "pods", "a", "p")).0,
        Decision::NoOpinion
    );
    // a ClusterRoleBinding's namespace-less ServiceAccount subject matches nobody
    assert_eq!(
        idx.authorize(&get(&sa, "nodes", "", "n")).0,
        Decision::NoOpinion
    );
}

#[test]
fn system_masters_is_allowed_everything() {
    let idx = RbacIndex::default();
    let admin = user(
        "kubernetes-admin",
        &["system:masters", "system:authenticated"],
    );
    let attrs = Attributes::resource(
        &admin,
        "escalate",
        "rbac.authorization.k8s.io",
        "clusterroles",
        "",
        "",
        "x",
    );
    assert_eq!(idx.authorize(&attrs), (Decision::Allow, String::new()));
    assert_eq!(
        idx.authorize(&Attributes::non_resource(&admin, "delete", "/x"))
            .0,
        Decision::Allow
    );
}

#[test]
fn no_opinion_reports_unresolved_references() {
    let idx = index();
    let nobody = user("nobody", &["system:authenticated"]);
    assert_eq!(
        idx.authorize(&get(&nobody, "pods", "a", "p")),
        (Decision::NoOpinion, String::new())
    );
    let dan = user("dan", &[]);
    assert_eq!(
        idx.authorize(&get(&dan, "pods", "", "p")).1,
        r#"RBAC: [clusterrole.rbac.authorization.k8s.io "absent" not found, unsupported role reference kind: "Something"]"#
    );
    assert_eq!(
        idx.authorize(&get(&dan, "pods", "d", "p")).1,
        r#"RBAC: [clusterrole.rbac.authorization.k8s.io "absent" not found, unsupported role reference kind: "Something", role.rbac.authorization.k8s.io "gone" not found]"#
    );
    let (rules, errors) = idx.resolve(&dan, "d");
    assert!(rules.is_empty());
    assert_eq!(errors.len(), 3);
}

#[test]
#[rustfmt::skip]
fn first_binding_in_list_order_explains_the_allow() {
    let crs = vec![cluster_role("pod-reader", pod_reader())];
    let crbs = vec![
        binding("", "first", "ClusterRole", "pod-reader", json!([subject("Group", "g"), subject("User", "u")])),
        binding("", "second", "ClusterRole", "pod-reader", json!([subject("User", "u")])),
    ];
    let idx = RbacIndex::build(&[], &crs, &[], &crbs);
    let u = user("u", &["g"]);
    assert_eq!(
        idx.authorize(&get(&u, "pods", "x", "p")).1,
        r#"RBAC: allowed by ClusterRoleBinding "first" of ClusterRole "pod-reader" to Group "g""#
    );
    // both of "first"'s subjects apply; its rules count once
    assert_eq!(idx.rules_for(&u, "x").len(), 2);
}

#[test]
fn rules_for_lists_cluster_then_namespace_rules() {
    let idx = index();
    let alice = user("alice", &["ops"]);
    let rules = idx.rules_for(&alice, "a");
    assert_eq!(
        rules,
        vec![
            PolicyRule::resource(&["get"], &[""], &["nodes"]),
            PolicyRule::resource(&["get", "list"], &[""], &["pods"]),
        ]
    );
    assert_eq!(idx.rules_for(&alice, "").len(), 1);
    assert!(idx.rules_for(&user("nobody", &[]), "a").is_empty());
}

#[test]
#[rustfmt::skip]
fn malformed_objects_are_skipped_not_fatal() {
    let junk = vec![json!(null), json!({"metadata": {}}), json!({"metadata": {"name": 3}}), json!("x")];
    let idx = RbacIndex::build(&junk, &junk, &junk, &junk);
    let u = user("u", &[]);
    assert_eq!(idx.authorize(&get(&u, "pods", "a", "p")).0, Decision::NoOpinion);
}

/// The bootstrap policy plus RoleBindings of `view`, `edit` and `admin` in namespace `team`.
fn bootstrapped() -> RbacIndex {
    let policy = bootstrap_policy();
    let of = |kind: &str| -> Vec<Value> {
        policy
            .iter()
            .filter(|o| o["kind"] == kind)
            .cloned()
            .collect()
    };
    let mut role_bindings = of("RoleBinding");
    for who in ["view", "edit", "admin"] {
        role_bindings.push(binding(
            "team",
            who,
            "ClusterRole",
            who,
            json!([subject("User", who)]),
        ));
    }
    RbacIndex::build(
        &of("Role"),
        &of("ClusterRole"),
        &role_bindings,
        &of("ClusterRoleBinding"),
    )
}

fn allowed(idx: &RbacIndex, attrs: Attributes<'_>) -> bool {
    idx.authorize(&attrs).0 == Decision::Allow
}

#[allow(clippy::too_many_arguments)]
#[rustfmt::skip]
fn can(idx: &RbacIndex, u: &UserInfo, verb: &str, group: &str, resource: &str, sub: &str, ns: &str, name: &str) -> bool {
    allowed(idx, Attributes::resource(u, verb, group, resource, sub, ns, name))
}

#[test]
#[rustfmt::skip]
fn bootstrap_objects_are_labelled_and_annotated() {
    let policy = bootstrap_policy();
    assert!(policy.len() > 20);
    for obj in &policy {
        assert_eq!(obj["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults", "{obj}");
        assert_eq!(obj["metadata"]["annotations"][AUTOUPDATE_ANNOTATION], "true", "{obj}");
        assert_eq!(obj["apiVersion"], "rbac.authorization.k8s.io/v1");
    }
    let crb = policy.iter().find(|o| o["kind"] == "ClusterRoleBinding" && o["metadata"]["name"] == "cluster-admin").unwrap();
    assert_eq!(crb["subjects"], json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]));
    // every binding refers to a role that exists
    for b in policy.iter().filter(|o| o["kind"].as_str().is_some_and(|k| k.ends_with("Binding"))) {
        let target = &b["roleRef"]["name"];
        assert!(policy.iter().any(|o| o["kind"] == "ClusterRole" && &o["metadata"]["name"] == target), "{b}");
    }
}

#[test]
#[rustfmt::skip]
fn view_reads_but_not_secrets() {
    let idx = bootstrapped();
    let u = user("view", &["system:authenticated"]);
    assert!(can(&idx, &u, "get", "", "pods", "", "team", "p"));
    assert!(can(&idx, &u, "list", "apps", "deployments", "", "team", ""));
    assert!(can(&idx, &u, "watch", "discovery.k8s.io", "endpointslices", "", "team", ""));
    assert!(can(&idx, &u, "get", "", "pods", "log", "team", "p"));
    assert!(can(&idx, &u, "get", "", "namespaces", "", "team", "team"));
    assert!(!can(&idx, &u, "get", "", "secrets", "", "team", "s"));
    assert!(!can(&idx, &u, "list", "", "secrets", "", "team", ""));
    assert!(!can(&idx, &u, "create", "", "pods", "exec", "team", "p"));
    assert!(!can(&idx, &u, "create", "apps", "deployments", "", "team", ""));
    assert!(!can(&idx, &u, "get", "", "pods", "", "other", "p"));
}

#[test]
#[rustfmt::skip]
fn edit_writes_workloads_but_not_rbac() {
    let idx = bootstrapped();
    let u = user("edit", &["system:authenticated"]);
    assert!(can(&idx, &u, "create", "apps", "deployments", "", "team", ""));
    assert!(can(&idx, &u, "patch", "apps", "deployments", "scale", "team", "d"));
    assert!(can(&idx, &u, "get", "apps", "deployments", "", "team", "d"));
    assert!(can(&idx, &u, "create", "batch", "jobs", "", "team", ""));
    assert!(can(&idx, &u, "get", "", "secrets", "", "team", "s"));
    assert!(can(&idx, &u, "create", "", "pods", "exec", "team", "p"));
    assert!(can(&idx, &u, "create", "", "serviceaccounts", "token", "team", "default"));
    assert!(can(&idx, &u, "update", "coordination.k8s.io", "leases", "", "team", "l"));
    assert!(!can(&idx, &u, "create", "", "endpoints", "", "team", ""));
    assert!(!can(&idx, &u, "create", "rbac.authorization.k8s.io", "roles", "", "team", ""));
    assert!(!can(&idx, &u, "create", "rbac.authorization.k8s.io", "rolebindings", "", "team", ""));
    assert!(!can(&idx, &u, "create", "apps", "deployments", "", "other", ""));
}

#[test]
#[rustfmt::skip]
fn admin_manages_rbac_in_its_namespace_only() {
    let idx = bootstrapped();
    let u = user("admin", &["system:authenticated"]);
    assert!(can(&idx, &u, "create", "rbac.authorization.k8s.io", "rolebindings", "", "team", ""));
    assert!(can(&idx, &u, "delete", "rbac.authorization.k8s.io", "roles", "", "team", "r"));
    assert!(can(&idx, &u, "create", "authorization.k8s.io", "localsubjectaccessreviews", "", "team", ""));
    assert!(can(&idx, &u, "create", "apps", "deployments", "", "team", ""));
    assert!(!can(&idx, &u, "create", "rbac.authorization.k8s.io", "clusterroles", "", "", ""));
    assert!(!can(&idx, &u, "create", "rbac.authorization.k8s.io", "rolebindings", "", "other", ""));
    assert!(!can(&idx, &u, "escalate", "rbac.authorization.k8s.io", "roles", "", "team", "r"));
}

#[test]
fn aggregated_roles_nest() {
    let idx = bootstrapped();
    let rules = |who: &str| idx.rules_for(&user(who, &[]), "team");
    assert!(covers(&rules("edit"), &rules("view")).is_ok());
    assert!(covers(&rules("admin"), &rules("edit")).is_ok());
    assert!(covers(&rules("view"), &rules("edit")).is_err());
    assert!(covers(&rules("edit"), &rules("admin")).is_err());
}

#[test]
#[rustfmt::skip]
fn anonymous_reads_public_info_only() {
    let idx = bootstrapped();
    let anon = UserInfo::anonymous();
    for path in ["/healthz", "/livez", "/readyz", "/version", "/version/"] {
        assert!(allowed(&idx, Attributes::non_resource(&anon, "get", path)), "{path}");
        assert!(!allowed(&idx, Attributes::non_resource(&anon, "post", path)), "{path}");
    }
    for path in ["/api", "/apis", "/openapi/v2", "/metrics", "/healthz/etcd", "/version/x", "/.well-known/openid-configuration"] {
        assert!(!allowed(&idx, Attributes::non_resource(&anon, "get", path)), "{path}");
    }
    assert!(!can(&idx, &anon, "list", "", "pods", "", "default", ""));
    assert!(!can(&idx, &anon, "create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""));
}

#[test]
#[rustfmt::skip]
fn authenticated_users_discover_and_review_themselves() {
    let idx = bootstrapped();
    let u = user("someone", &["system:authenticated"]);
    for path in ["/api", "/api/v1", "/apis", "/apis/apps/v1", "/openapi/v3", "/version"] {
        assert!(allowed(&idx, Attributes::non_resource(&u, "get", path)), "{path}");
    }
    assert!(can(&idx, &u, "create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""));
    assert!(can(&idx, &u, "create", "authorization.k8s.io", "selfsubjectrulesreviews", "", "", ""));
    assert!(can(&idx, &u, "create", "authentication.k8s.io", "selfsubjectreviews", "", "", ""));
    assert!(!can(&idx, &u, "list", "", "pods", "", "default", ""));
    assert!(!can(&idx, &u, "create", "authorization.k8s.io", "subjectaccessreviews", "", "", ""));
    let sa = user("system:serviceaccount:default:x", &["system:serviceaccounts", "system:authenticated"]);
    assert!(allowed(&idx, Attributes::non_resource(&sa, "get", "/openid/v1/jwks")));
    assert!(!allowed(&idx, Attributes::non_resource(&u, "get", "/openid/v1/jwks")));
    assert!(!can(&idx, &sa, "get", "", "secrets", "", "default", "s"));
}

#[test]
#[rustfmt::skip]
fn nodes_get_what_the_agent_needs_and_no_more() {
    let idx = bootstrapped();
    let n = user("system:node:n1", &[NODES_GROUP, "system:authenticated"]);
    assert!(can(&idx, &n, "create", "", "nodes", "", "", ""));
    assert!(can(&idx, &n, "patch", "", "nodes", "status", "", "n1"));
    assert!(can(&idx, &n, "watch", "", "pods", "", "", ""));
    assert!(can(&idx, &n, "update", "", "pods", "status", "team", "p"));
    // The Node authorizer, not RBAC, allows these per object (kapi-server filters/node_authz.rs).
    assert!(!can(&idx, &n, "get", "", "secrets", "", "team", "s"));
    assert!(!can(&idx, &n, "get", "", "configmaps", "", "team", "kube-root-ca.crt"));
    assert!(!can(&idx, &n, "create", "", "serviceaccounts", "token", "team", "default"));
    assert!(can(&idx, &n, "create", "", "events", "", "team", ""));
    assert!(can(&idx, &n, "list", "discovery.k8s.io", "endpointslices", "", "", ""));
    assert!(can(&idx, &n, "update", "coordination.k8s.io", "leases", "", NODE_LEASE_NAMESPACE, "n1"));
    assert!(!can(&idx, &n, "update", "coordination.k8s.io", "leases", "", "kube-system", "kube-scheduler"));
    assert!(!can(&idx, &n, "list", "", "secrets", "", "team", ""));
    assert!(!can(&idx, &n, "create", "", "pods", "", "team", ""));
    assert!(!can(&idx, &n, "get", "", "nodes", "proxy", "", "n1"));
}

#[test]
#[rustfmt::skip]
fn controller_manager_is_not_an_admin() {
    let idx = bootstrapped();
    let cm = user(CONTROLLER_MANAGER_USER, &["system:authenticated"]);
    assert!(can(&idx, &cm, "create", "", "pods", "", "team", ""));
    assert!(can(&idx, &cm, "create", "", "serviceaccounts", "", "team", ""));
    assert!(can(&idx, &cm, "create", "", "configmaps", "", "team", ""));
    assert!(can(&idx, &cm, "update", "apps", "replicasets", "status", "team", "rs"));
    assert!(can(&idx, &cm, "deletecollection", "", "secrets", "", "team", ""));
    assert!(can(&idx, &cm, "update", "", "namespaces", "finalize", "team", "team"));
    assert!(can(&idx, &cm, "create", "discovery.k8s.io", "endpointslices", "", "team", ""));
    assert!(can(&idx, &cm, "create", "coordination.k8s.io", "leases", "", "kube-system", ""));
    // the garbage collector follows and deletes dependents of every kind, custom ones too
    assert!(can(&idx, &cm, "list", "example.com", "widgets", "", "team", ""));
    assert!(can(&idx, &cm, "delete", "example.com", "widgets", "", "team", "w"));
    assert!(can(&idx, &cm, "watch", "rbac.authorization.k8s.io", "clusterroles", "", "", ""));
    assert!(!can(&idx, &cm, "get", "", "nodes", "proxy", "", "n1"));
    assert!(!can(&idx, &cm, "get", "", "pods", "attach", "team", "p"));
    assert!(!can(&idx, &cm, "create", "", "pods", "exec", "team", "p"));
    assert!(!can(&idx, &cm, "get", "", "pods", "exec", "team", "p"));
    assert!(!can(&idx, &cm, "patch", "", "pods", "ephemeralcontainers", "team", "p"));
    assert!(!can(&idx, &cm, "create", "", "serviceaccounts", "token", "team", "default"));
    assert!(!can(&idx, &cm, "create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", ""));
    assert!(!can(&idx, &cm, "create", "rbac.authorization.k8s.io", "rolebindings", "", "team", ""));
    assert!(!can(&idx, &cm, "impersonate", "", "serviceaccounts", "", "team", "x"));
    // cannot turn its update rights on bindings into cluster-admin
    assert!(idx
        .confirm_no_escalation(&cm, "team", &[PolicyRule::resource(&["*"], &["*"], &["*"])])
        .is_err());
}

#[test]
#[rustfmt::skip]
fn scheduler_binds_pods_and_holds_its_lease() {
    let idx = bootstrapped();
    let s = user(SCHEDULER_USER, &["system:authenticated"]);
    assert!(can(&idx, &s, "create", "", "pods", "binding", "team", "p"));
    assert!(can(&idx, &s, "update", "coordination.k8s.io", "leases", "", "kube-system", SCHEDULER_LEASE));
    assert!(!can(&idx, &s, "update", "coordination.k8s.io", "leases", "", "kube-system", "other"));
    assert!(!can(&idx, &s, "get", "", "secrets", "", "team", "s"));
}

#[test]
fn escalation_checks_use_the_namespace_rules() {
    let idx = bootstrapped();
    let admin = user("admin", &["system:authenticated"]);
    let grant_pods = [PolicyRule::resource(&["get"], &[""], &["pods"])];
    assert!(idx
        .confirm_no_escalation(&admin, "team", &grant_pods)
        .is_ok());
    assert!(idx
        .confirm_no_escalation(&admin, "other", &grant_pods)
        .is_err());
    let view = user("view", &["system:authenticated"]);
    let grant_secrets = [PolicyRule::resource(&["get"], &[""], &["secrets"])];
    let err = idx
        .confirm_no_escalation(&view, "team", &grant_secrets)
        .unwrap_err();
    assert_eq!(
        forbidden_message("roles.rbac.authorization.k8s.io", "r", &err),
        "roles.rbac.authorization.k8s.io \"r\" is forbidden: user \"view\" \
         (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not \
         currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}"
    );
    let masters = user("root", &["system:masters"]);
    assert!(idx
        .confirm_no_escalation(&masters, "", &full_authority())
        .is_ok());
}

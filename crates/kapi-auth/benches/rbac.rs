//! RBAC decision cost with a realistic policy: the bootstrap policy plus 1,000 Roles and 1,000
//! RoleBindings spread over 100 namespaces.
//!
//! Run: `cargo bench -p kapi-auth --bench rbac`. The median of each benchmark is in
//! `target/criterion/<group>/<name>/new/estimates.json` (`median.point_estimate`, ns).

// `criterion_group!` defines a public function it cannot document.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use kapi_auth::authz::Decision;
use kapi_auth::rbac::{bootstrap_policy, Attributes, RbacIndex};
use kapi_auth::UserInfo;
use serde_json::{json, Value};

const NAMESPACES: usize = 100;
const PER_NAMESPACE: usize = 10;

/// (roles, cluster roles, role bindings, cluster role bindings)
fn policy() -> (Vec<Value>, Vec<Value>, Vec<Value>, Vec<Value>) {
    let bootstrap = bootstrap_policy();
    let of = |kind: &str| -> Vec<Value> {
        bootstrap
            .iter()
            .filter(|o| o["kind"] == kind)
            .cloned()
            .collect()
    };
    let mut roles = of("Role");
    let mut role_bindings = of("RoleBinding");
    for n in 0..NAMESPACES {
        let ns = format!("ns-{n}");
        for i in 0..PER_NAMESPACE {
            roles.push(json!({
                "kind": "Role",
                "metadata": {"namespace": ns, "name": format!("role-{i}")},
                "rules": [
                    {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods", "pods/log", "services", "endpoints"]},
                    {"verbs": ["get", "list", "watch", "create", "update", "patch", "delete"], "apiGroups": ["apps"], "resources": ["deployments", "replicasets", "statefulsets"]},
                    {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": [format!("config-{i}")]},
                    {"verbs": ["create"], "apiGroups": ["batch"], "resources": ["jobs"]},
                    {"verbs": ["get", "list"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"]},
                ],
            }));
            // each binding names a user and a ServiceAccount; one in ten also a group
            let mut subjects = vec![
                json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": format!("user-{n}-{i}")}),
                json!({"kind": "ServiceAccount", "name": format!("sa-{i}"), "namespace": ns}),
            ];
            if i == 0 {
                subjects.push(json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": format!("team-{n}")}));
            }
            role_bindings.push(json!({
                "kind": "RoleBinding",
                "metadata": {"namespace": ns, "name": format!("binding-{i}")},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": format!("role-{i}")},
                "subjects": subjects,
            }));
        }
    }
    (
        roles,
        of("ClusterRole"),
        role_bindings,
        of("ClusterRoleBinding"),
    )
}

fn decisions(c: &mut Criterion) {
    let (roles, cluster_roles, role_bindings, cluster_role_bindings) = policy();
    let index = RbacIndex::build(
        &roles,
        &cluster_roles,
        &role_bindings,
        &cluster_role_bindings,
    );
    let user = UserInfo {
        name: "user-42-7".into(),
        groups: vec!["team-42".into(), "system:authenticated".into()],
        ..Default::default()
    };
    let allowed = Attributes::resource(&user, "get", "apps", "deployments", "", "ns-42", "web");
    let denied = Attributes::resource(&user, "get", "", "secrets", "", "ns-42", "db-password");
    let discovery = Attributes::non_resource(&user, "get", "/apis/apps/v1");
    assert_eq!(index.authorize(&allowed).0, Decision::Allow);
    assert_eq!(index.authorize(&denied).0, Decision::NoOpinion);
    assert_eq!(index.authorize(&discovery).0, Decision::Allow);

    let mut group = c.benchmark_group("rbac_authorize");
    group.bench_function("allowed_rolebinding", |b| {
        b.iter(|| index.authorize(black_box(&allowed)))
    });
    group.bench_function("denied", |b| b.iter(|| index.authorize(black_box(&denied))));
    group.bench_function("allowed_discovery_path", |b| {
        b.iter(|| index.authorize(black_box(&discovery)))
    });
    group.finish();

    c.bench_function("rbac_build_2000_objects", |b| {
        b.iter(|| {
            RbacIndex::build(
                black_box(&roles),
                &cluster_roles,
                &role_bindings,
                &cluster_role_bindings,
            )
        })
    });
}

criterion_group!(benches, decisions);
criterion_main!(benches);

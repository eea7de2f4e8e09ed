//! Server-side apply scenarios, each checked against the object and the managedFields
//! kube-apiserver produces for it.

use serde_json::{json, Value};

use super::*;

const T0: &str = "2025-01-01T00:00:00Z";
const T1: &str = "2025-01-01T00:01:00Z";
const T2: &str = "2025-01-01T00:02:00Z";

fn cm_scope() -> Scope<'static> {
    Scope::new("", "ConfigMap", "v1")
}

fn deploy_scope() -> Scope<'static> {
    Scope {
        status_subresource: true,
        ..Scope::new("apps", "Deployment", "apps/v1")
    }
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}, "data": data})
}

/// A stored object: what `apply` returned, plus the identity the server gives it.
fn stored(mut obj: Value) -> Value {
    obj["metadata"]["uid"] = json!("uid-1");
    obj["metadata"]["resourceVersion"] = json!("7");
    obj
}

fn entries(obj: &Value) -> Vec<ManagedFieldsEntry> {
    ManagedFieldsEntry::list_from_object(obj).unwrap()
}

/// `manager/operation` -> FieldsV1 of every entry.
fn owners(obj: &Value) -> Vec<(String, Value)> {
    entries(obj)
        .into_iter()
        .map(|e| {
            (
                format!("{}/{}", e.manager, e.operation.as_str()),
                e.fields.to_fields_v1(),
            )
        })
        .collect()
}

fn apply_ok(
    scope: &Scope,
    live: &Value,
    manager: &str,
    applied: &Value,
    force: bool,
    now: &str,
) -> Value {
    let (obj, _) = apply(scope, live, &entries(live), manager, applied, force, now)
        .unwrap_or_else(|e| panic!("apply by {manager} failed: {e}"));
    stored(obj)
}

#[test]
fn apply_creates_ownership() {
    let (obj, got) = apply(
        &cm_scope(),
        &json!({}),
        &[],
        "kubectl",
        &cm(json!({"a": "1"})),
        false,
        T0,
    )
    .unwrap();
    assert_eq!(obj["data"], json!({"a": "1"}));
    assert_eq!(obj["metadata"]["name"], "c");
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].to_json(),
        json!({"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": T0,
               "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}})
    );
    assert_eq!(obj["metadata"]["managedFields"][0], got[0].to_json());
}

#[test]
fn conflicts_force_and_shared_ownership() {
    let live = apply_ok(
        &cm_scope(),
        &json!({}),
        "kubectl",
        &cm(json!({"a": "1", "b": "1"})),
        false,
        T0,
    );

    struct Case {
        name: &'static str,
        data: Value,
        force: bool,
        /// The error message, or the owners after success.
        want: Result<Vec<(&'static str, Value)>, &'static str>,
    }
    let cases = [
        Case {
            name: "changing another applier's field conflicts",
            data: json!({"a": "2"}),
            force: false,
            want: Err("Apply failed with 1 conflict: conflict with \"kubectl\": .data.a"),
        },
        Case {
            name: "two fields, two lines",
            data: json!({"a": "2", "b": "2"}),
            force: false,
            want: Err(
                "Apply failed with 2 conflicts: conflicts with \"kubectl\":\n- .data.a\n- .data.b",
            ),
        },
        Case {
            name: "the same value is shared",
            data: json!({"a": "1"}),
            force: false,
            // Nothing changed, so "other" gets no time and sorts first, as upstream.
            want: Ok(vec![
                ("other/Apply", json!({"f:data": {"f:a": {}}})),
                ("kubectl/Apply", json!({"f:data": {"f:a": {}, "f:b": {}}})),
            ]),
        },
        Case {
            name: "force moves ownership",
            data: json!({"a": "2"}),
            force: true,
            want: Ok(vec![
                ("kubectl/Apply", json!({"f:data": {"f:b": {}}})),
                ("other/Apply", json!({"f:data": {"f:a": {}}})),
            ]),
        },
        Case {
            name: "a new field is no conflict",
            data: json!({"c": "1"}),
            force: false,
            want: Ok(vec![
                ("kubectl/Apply", json!({"f:data": {"f:a": {}, "f:b": {}}})),
                ("other/Apply", json!({"f:data": {"f:c": {}}})),
            ]),
        },
    ];
    for case in cases {
        let result = apply(
            &cm_scope(),
            &live,
            &entries(&live),
            "other",
            &cm(case.data),
            case.force,
            T1,
        );
        match (result, case.want) {
            (Err(e), Err(msg)) => {
                assert_eq!(e.to_status_message(), msg, "{}", case.name);
                let status = ApiError::from(e).to_status();
                assert_eq!(status["code"], 409, "{}", case.name);
                assert_eq!(status["reason"], "Conflict", "{}", case.name);
                assert_eq!(
                    status["details"]["causes"][0],
                    json!({"reason": "FieldManagerConflict", "message": "conflict with \"kubectl\"", "field": ".data.a"}),
                    "{}",
                    case.name
                );
            }
            (Ok((obj, _)), Ok(want)) => {
                let got = owners(&obj);
                let want: Vec<(String, Value)> =
                    want.into_iter().map(|(m, f)| (m.to_string(), f)).collect();
                assert_eq!(got, want, "{}", case.name);
            }
            (got, want) => panic!("{}: got {got:?}, want {want:?}", case.name),
        }
    }
}

#[test]
fn dropped_fields_are_removed_unless_someone_else_owns_them() {
    let live = apply_ok(
        &cm_scope(),
        &json!({}),
        "a",
        &cm(json!({"x": "1", "y": "1", "z": "1"})),
        false,
        T0,
    );
    // "b" co-owns y (same value).
    let live = apply_ok(&cm_scope(), &live, "b", &cm(json!({"y": "1"})), false, T1);
    // "a" stops applying x and y.
    let out = apply_ok(&cm_scope(), &live, "a", &cm(json!({"z": "1"})), false, T2);
    assert_eq!(out["data"], json!({"y": "1", "z": "1"}));
    assert_eq!(
        owners(&out),
        vec![
            ("b/Apply".to_string(), json!({"f:data": {"f:y": {}}})),
            ("a/Apply".to_string(), json!({"f:data": {"f:z": {}}})),
        ]
    );
    // Dropping everything removes the map; metadata the server owns stays.
    let out = apply_ok(&cm_scope(), &out, "a", &cm(json!(null)), false, T2);
    assert_eq!(out["data"], json!({"y": "1"}));
    let bare = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let out = apply_ok(&cm_scope(), &out, "b", &bare, false, T2);
    assert!(out.get("data").is_none(), "{out}");
    assert_eq!(out["metadata"]["name"], "c");
    assert_eq!(out["metadata"]["uid"], "uid-1");
}

fn deployment(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}})
}

#[test]
fn containers_merge_by_name_between_managers() {
    let s = deploy_scope();
    let live = apply_ok(
        &s,
        &json!({}),
        "a",
        &deployment(json!([{"name": "app", "image": "app:1"}])),
        false,
        T0,
    );
    let sidecar = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "log", "image": "log:1"}]}}}});
    let live = apply_ok(&s, &live, "b", &sidecar, false, T1);
    let names: Vec<&str> = live["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // Live-only items keep their place; new ones follow.
    assert_eq!(names, ["app", "log"]);
    let by = owners(&live);
    assert_eq!(by[1].0, "b/Apply");
    assert_eq!(
        by[1].1,
        json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"log\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
    );
    // "a" updates its container without touching "b"'s; changing b's image conflicts.
    let live = apply_ok(
        &s,
        &live,
        "a",
        &deployment(json!([{"name": "app", "image": "app:2"}])),
        false,
        T2,
    );
    let containers = &live["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0], json!({"name": "app", "image": "app:2"}));
    assert_eq!(containers[1], json!({"name": "log", "image": "log:1"}));
    let err = apply(
        &s,
        &live,
        &entries(&live),
        "a",
        &deployment(json!([{"name": "app", "image": "app:2"}, {"name": "log", "image": "log:2"}])),
        false,
        T2,
    )
    .unwrap_err();
    assert_eq!(
        err.to_status_message(),
        "Apply failed with 1 conflict: conflict with \"b\": .spec.template.spec.containers[name=\"log\"].image"
    );
    // "b" drops its sidecar: it goes, "a"'s container stays.
    let empty = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    let live = apply_ok(&s, &live, "b", &empty, false, T2);
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"],
        json!([{"name": "app", "image": "app:2"}])
    );
    assert_eq!(owners(&live).len(), 1);
}

#[test]
fn status_is_owned_only_through_the_status_subresource() {
    let s = deploy_scope();
    let mut with_status = deployment(json!([{"name": "app", "image": "app:1"}]));
    with_status["status"] = json!({"replicas": 3});
    let live = apply_ok(&s, &json!({}), "a", &with_status, false, T0);
    let fields = &owners(&live)[0].1;
    assert!(fields.get("f:status").is_none(), "{fields}");
    let status_scope = Scope {
        subresource: "status",
        ..s
    };
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "status": {"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]}});
    let out = apply_ok(&status_scope, &live, "ctl", &status, false, T1);
    let e = entries(&out)
        .into_iter()
        .find(|e| e.manager == "ctl")
        .unwrap();
    assert_eq!(e.subresource, "status");
    assert_eq!(
        e.fields.to_fields_v1(),
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Available\"}": {".": {}, "f:status": {}, "f:type": {}}}, "f:replicas": {}}})
    );
}

#[test]
fn updates_take_ownership_of_what_they_change() {
    let s = cm_scope();
    let live = apply_ok(
        &s,
        &json!({}),
        "kubectl",
        &cm(json!({"a": "1", "b": "1"})),
        false,
        T0,
    );
    let mut new = live.clone();
    new["data"]["a"] = json!("2");
    new["data"]["n"] = json!("new");
    new["metadata"]["labels"] = json!({"x": "y"});
    let got = update_managed_fields(&s, &live, &new, &entries(&live), "editor", T1);
    let by: Vec<(String, Value)> = got
        .iter()
        .map(|e| {
            (
                format!("{}/{}", e.manager, e.operation.as_str()),
                e.fields.to_fields_v1(),
            )
        })
        .collect();
    assert_eq!(
        by,
        vec![
            ("kubectl/Apply".to_string(), json!({"f:data": {"f:b": {}}})),
            (
                "editor/Update".to_string(),
                json!({"f:data": {"f:a": {}, "f:n": {}}, "f:metadata": {"f:labels": {".": {}, "f:x": {}}}})
            ),
        ]
    );
    assert_eq!(got[1].time.as_deref(), Some(T1));
    // An apply now conflicts with the updater, named with its version.
    let mut stored_new = new.clone();
    ManagedFieldsEntry::set_on_object(&mut stored_new, &got);
    let err = apply(
        &s,
        &stored_new,
        &got,
        "kubectl",
        &cm(json!({"a": "1", "b": "1"})),
        false,
        T2,
    )
    .unwrap_err();
    assert_eq!(
        err.to_status_message(),
        "Apply failed with 1 conflict: conflict with \"editor\" using v1: .data.a"
    );
    // A write that changes nothing leaves managedFields alone.
    let same = update_managed_fields(&s, &stored_new, &stored_new, &got, "other", T2);
    assert_eq!(same, got);
}

#[test]
fn create_records_every_field_set() {
    let s = deploy_scope();
    let mut obj = deployment(json!([{"name": "app", "image": "app:1", "resources": {}}]));
    obj["metadata"]["uid"] = json!("u");
    obj["metadata"]["creationTimestamp"] = json!(T0);
    obj["spec"]["replicas"] = json!(1);
    track_update(&s, None, &mut obj, "kubectl-create", T0);
    assert_eq!(
        owners(&obj),
        vec![(
            "kubectl-create/Update".to_string(),
            json!({"f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}, "f:resources": {}}}}}}})
        )]
    );
    // `[{}]` clears managedFields; an existing object then stays untracked.
    let old = obj.clone();
    obj["metadata"]["managedFields"] = json!([{}]);
    obj["spec"]["replicas"] = json!(2);
    track_update(&s, Some(&old), &mut obj, "kubectl-edit", T1);
    assert!(obj["metadata"].get("managedFields").is_none(), "{obj}");
    // Managed fields a client sends are kept (kubectl's client-side apply migration).
    let mut edited = old.clone();
    let mut e = entries(&old);
    e[0].manager = "renamed".into();
    ManagedFieldsEntry::set_on_object(&mut edited, &e);
    track_update(&s, Some(&old), &mut edited, "kubectl", T1);
    assert_eq!(entries(&edited)[0].manager, "renamed");
}

#[test]
fn kubectl_takes_over_client_side_apply_fields() {
    let s = cm_scope();
    // What client-side `kubectl apply` leaves behind.
    let last = "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"1\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"c\",\"namespace\":\"ns\"}}\n";
    let mut live = cm(json!({"a": "1"}));
    live["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: last});
    live = stored(live);
    track_update(&s, None, &mut live, "kubectl-client-side-apply", T0);
    // Any other manager conflicts with the client-side applier.
    let err = apply(
        &s,
        &live,
        &entries(&live),
        "other",
        &cm(json!({"a": "2"})),
        false,
        T1,
    )
    .unwrap_err();
    assert_eq!(
        err.to_status_message(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.a"
    );
    // `kubectl` may take what still matches the annotation, and keeps the annotation current.
    let out = apply_ok(&s, &live, "kubectl", &cm(json!({"a": "2"})), false, T1);
    assert_eq!(out["data"]["a"], "2");
    assert_eq!(
        out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
        "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"2\"},\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"ns\"}}\n"
    );
    assert_eq!(
        owners(&out),
        vec![
            ("kubectl/Apply".to_string(), json!({"f:data": {"f:a": {}}})),
            (
                "kubectl-client-side-apply/Update".to_string(),
                json!({"f:data": {}, "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}}})
            ),
        ]
    );
    // A field changed since the last client-side apply is not the applier's to take.
    let mut drifted = live.clone();
    drifted["data"]["a"] = json!("9");
    let err = apply(
        &s,
        &drifted,
        &entries(&drifted),
        "kubectl",
        &cm(json!({"a": "2"})),
        false,
        T1,
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::Conflicts(_)), "{err}");
}

#[test]
fn untracked_objects_belong_to_before_first_apply() {
    let s = cm_scope();
    let live = stored(cm(json!({"a": "1"})));
    let err = apply(&s, &live, &[], "kubectl", &cm(json!({"a": "2"})), false, T1).unwrap_err();
    assert_eq!(
        err.to_status_message(),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using v1: .data.a"
    );
}

#[test]
fn invalid_configurations() {
    let s = deploy_scope();
    let cases: &[(Value, &str, u16)] = &[
        (json!({"apiVersion": "v1", "kind": "Deployment"}), "invalid object type: /v1, Kind=Deployment", 400),
        (json!({"metadata": {"name": "x"}}), "invalid object type: /, Kind=", 400),
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "managedFields": []}}),
            "metadata.managedFields must be nil",
            400,
        ),
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "namespace": "d"},
                "spec": {"template": {"spec": {"containers": [{"name": "c"}, {"name": "c"}]}}}}),
            "failed to create typed patch object (d/x; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name=\"c\"]",
            500,
        ),
    ];
    for (applied, msg, code) in cases {
        let err = apply(&s, &json!({}), &[], "m", applied, false, T0).unwrap_err();
        assert_eq!(err.to_status_message(), *msg);
        assert_eq!(ApiError::from(err).code, *code, "{msg}");
    }
}

#[test]
fn multiple_managers_in_one_conflict_message() {
    let s = cm_scope();
    let live = apply_ok(&s, &json!({}), "b", &cm(json!({"b": "1"})), false, T0);
    let live = apply_ok(&s, &live, "a", &cm(json!({"a": "1"})), false, T1);
    let err = apply(
        &s,
        &live,
        &entries(&live),
        "c",
        &cm(json!({"a": "2", "b": "2"})),
        false,
        T2,
    )
    .unwrap_err();
    assert_eq!(
        err.to_status_message(),
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .data.a\nconflicts with \"b\":\n- .data.b"
    );
    let causes = err.causes();
    assert_eq!(causes.len(), 2);
    assert_eq!(causes[1].message, "conflict with \"b\"");
    assert_eq!(causes[1].field, ".data.b");
}

#[test]
fn a_noop_apply_keeps_times() {
    let s = cm_scope();
    let live = apply_ok(&s, &json!({}), "kubectl", &cm(json!({"a": "1"})), false, T0);
    let out = apply_ok(&s, &live, "kubectl", &cm(json!({"a": "1"})), false, T2);
    assert_eq!(entries(&out)[0].time.as_deref(), Some(T0));
    assert_eq!(out, live);
}

#[test]
fn field_set_of_an_object() {
    let set = FieldSet::from_object(
        "",
        "Service",
        &json!({"spec": {"selector": {"app": "a"},
        "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}}),
    );
    assert_eq!(
        set.to_fields_v1(),
        json!({"f:spec": {"f:ports": {
            "k:{\"port\":53,\"protocol\":\"UDP\"}": {".": {}, "f:port": {}, "f:protocol": {}},
            "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}},
            "f:selector": {}}})
    );
}

#[test]
fn dropping_a_struct_drops_its_unowned_defaults_too() {
    let s = deploy_scope();
    let mut d = deployment(json!([{"name": "app", "image": "app:1"}]));
    d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}});
    let mut live = apply_ok(&s, &json!({}), "a", &d, false, T0);
    // Defaulting filled in a field nobody owns.
    live["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = json!("25%");
    let out = apply_ok(
        &s,
        &live,
        "a",
        &deployment(json!([{"name": "app", "image": "app:1"}])),
        false,
        T1,
    );
    assert!(out["spec"].get("strategy").is_none(), "{out}");
    assert_eq!(
        out["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
}

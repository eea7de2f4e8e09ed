//! The crate's properties: documents hold together, validation finds what upstream finds.

use serde_json::{json, Value};

use crate::{check_document, openapi_v3_document, prune_unknown_fields, validate_fields};

fn deployment(container: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "a", "image": "nginx"}, container]},
            },
        },
    })
}

#[test]
fn unknown_nested_field_is_reported_with_its_path() {
    let d = deployment(
        json!({"name": "b", "image": "nginx", "foo": 1, "ports": [{"containerPort": 80, "bar": "x"}]}),
    );
    assert_eq!(
        validate_fields("apps", "v1", "Deployment", &d),
        vec![
            r#"unknown field "spec.template.spec.containers[1].foo""#,
            r#"unknown field "spec.template.spec.containers[1].ports[0].bar""#,
        ]
    );
}

#[test]
fn unknown_fields_come_in_document_order_at_every_level() {
    let mut d = deployment(json!({"name": "b"}));
    d["zzz"] = json!(1);
    d["spec"]["foo"] = json!({"deep": true});
    d["metadata"]["bogus"] = json!("x");
    assert_eq!(
        validate_fields("apps", "v1", "Deployment", &d),
        vec![
            r#"unknown field "metadata.bogus""#,
            r#"unknown field "spec.foo""#,
            r#"unknown field "zzz""#,
        ]
    );
}

#[test]
fn a_valid_object_has_no_problems() {
    let d = deployment(
        json!({"name": "b", "image": "busybox", "env": [{"name": "X", "value": "1"}],
        "resources": {"limits": {"cpu": "500m", "memory": 128}}}),
    );
    assert!(validate_fields("apps", "v1", "Deployment", &d).is_empty());
}

#[test]
fn config_map_data_accepts_any_key() {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"a/b": "c"}},
        "data": {"anything.at-all": "x", "spec": "y", "foo": ""},
        "binaryData": {"k": "aGk="},
    });
    assert!(validate_fields("", "v1", "ConfigMap", &cm).is_empty());
    let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": 1}});
    assert_eq!(
        validate_fields("", "v1", "ConfigMap", &bad),
        vec!["json: cannot unmarshal number into Go struct field ConfigMap.data of type string"]
    );
}

#[test]
fn int_or_string_takes_both_and_nothing_else() {
    let svc = |target: Value| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetPort": target}]}})
    };
    assert!(validate_fields("", "v1", "Service", &svc(json!(8080))).is_empty());
    assert!(validate_fields("", "v1", "Service", &svc(json!("http"))).is_empty());
    assert_eq!(
        validate_fields("", "v1", "Service", &svc(json!({"x": 1}))),
        vec!["json: cannot unmarshal object into Go struct field ServicePort.spec.ports.targetPort of type int32"]
    );
    assert_eq!(
        validate_fields("", "v1", "Service", &svc(json!(1.5))),
        vec!["json: cannot unmarshal number 1.5 into Go struct field ServicePort.spec.ports.targetPort of type int32"]
    );
}

#[test]
fn type_mismatches_are_worded_as_go_does() {
    let mut d = deployment(json!({"name": "b"}));
    d["spec"]["replicas"] = json!("two");
    assert_eq!(
        validate_fields("apps", "v1", "Deployment", &d),
        vec!["json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"]
    );
    let mut d = deployment(json!({"name": "b"}));
    d["metadata"]["labels"] = json!({"a": 1});
    assert_eq!(
        validate_fields("apps", "v1", "Deployment", &d),
        vec!["json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"]
    );
    let mut d = deployment(json!({"name": "b"}));
    d["spec"]["template"]["spec"]["containers"] = json!("x");
    assert_eq!(
        validate_fields("apps", "v1", "Deployment", &d),
        vec!["json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"]
    );
    assert_eq!(
        validate_fields("apps", "v1", "Deployment", &json!([1])),
        vec!["json: cannot unmarshal array into Go value of type v1.Deployment"]
    );
}

#[test]
fn nulls_and_opaque_fields_are_accepted() {
    let mut d = deployment(json!({"name": "b", "image": null}));
    d["metadata"]["managedFields"] = json!([{"manager": "m", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:anything": {}}}}]);
    d["spec"]["paused"] = Value::Null;
    assert!(validate_fields("apps", "v1", "Deployment", &d).is_empty());
}

#[test]
fn pruning_removes_unknown_fields_and_keeps_the_rest_in_order() {
    let mut d = deployment(json!({"name": "b", "foo": 1, "image": "x"}));
    d["spec"]["foo"] = json!(1);
    let p = prune_unknown_fields("apps", "v1", "Deployment", &mut d);
    assert_eq!(p.unknown.len(), 2);
    assert_eq!(p.type_error, None);
    assert_eq!(d["spec"].get("foo"), None);
    let c = &d["spec"]["template"]["spec"]["containers"][1];
    assert_eq!(c, &json!({"name": "b", "image": "x"}));
    assert_eq!(
        c.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["name".to_string(), "image".to_string()])
    );
    assert!(prune_unknown_fields("apps", "v1", "Deployment", &mut d).is_empty());
}

#[test]
fn unknown_kinds_are_not_validated() {
    assert!(validate_fields("example.com", "v1", "Widget", &json!({"spec": {"x": 1}})).is_empty());
    assert!(!crate::is_known("example.com", "v1", "Widget"));
    assert!(crate::is_known("", "v1", "Pod"));
}

#[test]
fn validation_never_panics_on_odd_input() {
    let mut deep = json!("leaf");
    for _ in 0..120 {
        deep = json!({"spec": deep});
    }
    for v in [
        json!(null),
        json!(1),
        json!("x"),
        json!([]),
        json!({"spec": [[[]]]}),
        deep,
        json!({"metadata": {"labels": [1, 2]}, "spec": {"template": {"spec": {"containers": [1, null, "x", [], {}]}}}}),
    ] {
        for (g, k) in [("apps", "Deployment"), ("", "Pod"), ("", "ConfigMap")] {
            let _ = validate_fields(g, "v1", k, &v);
            let mut v = v.clone();
            let _ = prune_unknown_fields(g, "v1", k, &mut v);
        }
    }
}

#[test]
fn every_served_document_holds_together() {
    for (g, v) in kapi_api::resources::group_versions() {
        let doc = openapi_v3_document(g, v);
        let text = serde_json::to_string(&doc).expect("serializes");
        let back: Value = serde_json::from_str(&text).expect("valid JSON");
        check_document(&back).unwrap_or_else(|e| panic!("{g}/{v}: {e}"));
        for r in kapi_api::resources::in_group_version(g, v) {
            let gvk = json!({"group": r.group, "kind": r.kind, "version": r.version});
            let found = doc["components"]["schemas"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .any(|s| {
                    s["x-kubernetes-group-version-kind"]
                        .as_array()
                        .is_some_and(|a| a.contains(&gvk))
                });
            assert!(found, "{g}/{v}: no schema for {}", r.kind);
            let patched = doc["paths"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .any(|p| {
                    p["patch"]["x-kubernetes-group-version-kind"] == gvk
                        && p["patch"]["parameters"]
                            .as_array()
                            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "fieldValidation"))
                });
            assert!(
                patched || !r.verbs.contains(&"patch"),
                "{g}/{v}: no PATCH for {}",
                r.kind
            );
        }
    }
}

#[test]
fn documents_carry_upstream_markers() {
    let core = openapi_v3_document("", "v1");
    let schemas = &core["components"]["schemas"];
    let pod = &schemas["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
    assert!(pod["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(
        pod.get("required"),
        None,
        "metadata is not required upstream"
    );
    let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    assert_eq!(
        containers["items"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Container"
    );
    let volumes = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["volumes"];
    assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
    let ports = &schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"];
    assert_eq!(
        ports["x-kubernetes-list-map-keys"],
        json!(["containerPort", "protocol"])
    );
    let finalizers =
        &schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["finalizers"];
    assert_eq!(finalizers["x-kubernetes-list-type"], "set");
    assert_eq!(
        schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["x-kubernetes-int-or-string"],
        true
    );
    assert_eq!(
        schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"],
        "date-time"
    );
    let spec = &pod["properties"]["spec"];
    assert_eq!(
        spec["allOf"],
        json!([{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}])
    );
    assert!(spec["description"].is_string());
    let patch = &core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-action"], "patch");
    for t in [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ] {
        assert!(patch["requestBody"]["content"][t].is_object(), "{t}");
    }
    let apps = openapi_v3_document("apps", "v1");
    let strategy = &apps["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]
        ["properties"]["strategy"];
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
    assert!(apps["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"].is_object());
    assert!(
        apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
            .is_object()
    );
    assert!(apps["paths"]["/apis/apps/v1/deployments"]["get"].is_object());
    assert!(
        apps["components"]["schemas"]
            .get("io.k8s.api.core.v1.Service")
            .is_none(),
        "only reachable schemas"
    );
}

#[test]
fn generation_cost() {
    let t = std::time::Instant::now();
    // Held, so that the documents below reuse this generation.
    let _all = crate::components::all();
    let components = t.elapsed();
    let t = std::time::Instant::now();
    let mut total = 0;
    for (g, v) in kapi_api::resources::group_versions() {
        let t = std::time::Instant::now();
        let len = serde_json::to_vec(&openapi_v3_document(g, v))
            .map(|b| b.len())
            .unwrap_or(0);
        eprintln!("{g}/{v}: {len} bytes in {:?}", t.elapsed());
        total += len;
    }
    let docs = t.elapsed();
    let t = std::time::Instant::now();
    let d = deployment(json!({"name": "b"}));
    let _ = validate_fields("apps", "v1", "Deployment", &d);
    let compile = t.elapsed();
    let t = std::time::Instant::now();
    for _ in 0..1000 {
        let mut d = d.clone();
        let _ = prune_unknown_fields("apps", "v1", "Deployment", &mut d);
    }
    eprintln!(
        "components {components:?}, all documents {docs:?} ({total} bytes), validator {compile:?}, 1000 deployment checks {:?}",
        t.elapsed()
    );
}

#[test]
fn a_field_named_ref_is_a_property_not_a_reference() {
    let doc = openapi_v3_document("apiextensions.k8s.io", "v1");
    let props = &doc["components"]["schemas"]
        ["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"]["properties"];
    assert_eq!(props["$ref"], json!({"type": "string"}));
    assert!(
        props["allOf"]["type"] == "array",
        "allOf is JSONSchemaProps' own list: {}",
        props["allOf"]
    );
}

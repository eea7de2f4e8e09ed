//! OpenAPI v3 and field validation as kubectl and curl see them: `explain` reads real
//! schemas, client-side apply computes strategic merge patches from them, and unknown fields
//! are rejected, warned about or dropped as `fieldValidation` says.

use crate::support::{split_code, write_file, Cluster};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 25%}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
        env:
        - {name: A, value: \"1\"}
      - name: sidecar
        image: busybox:1
      volumes:
      - name: scratch
        emptyDir: {}
";

#[test]
fn explain_prints_upstream_descriptions() {
    let c = Cluster::start();
    let out = c.kubectl_ok(&["explain", "pod.spec.containers"]);
    assert!(out.contains("KIND:       Pod"), "{out}");
    assert!(out.contains("FIELD: containers <[]Container>"), "{out}");
    assert!(
        out.contains("List of containers belonging to the pod."),
        "{out}"
    );
    for field in [
        "image\t<string>",
        "ports\t<[]ContainerPort>",
        "resources\t<ResourceRequirements>",
    ] {
        assert!(out.contains(field), "{field} missing: {out}");
    }
    let out = c.kubectl_ok(&["explain", "deployment.spec.replicas"]);
    assert!(
        out.contains("GROUP:      apps") && out.contains("KIND:       Deployment"),
        "{out}"
    );
    assert!(out.contains("FIELD: replicas <integer>"), "{out}");
    assert!(out.contains("Number of desired pods."), "{out}");
    let out = c.kubectl_ok(&["explain", "service.spec.ports.targetPort"]);
    assert!(out.contains("<IntOrString>"), "{out}");
}

#[test]
fn apply_twice_computes_the_patch_from_openapi_without_warnings() {
    let c = Cluster::start();
    let file = write_file(c.dir.path(), "web.yaml", DEPLOYMENT);
    let path = file.to_str().unwrap_or_default();
    let first = c.kubectl(&["apply", "-f", path]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // A changed image, a renamed container (list merged by name), a new label (a map) and a
    // strategy switch (retainKeys): kubectl computes all of it from our schemas.
    let changed = DEPLOYMENT
        .replace("nginx:1.27", "nginx:1.28")
        .replace("name: sidecar", "name: helper")
        .replace(
            "labels: {app: web}\n    spec:",
            "labels: {app: web, tier: front}\n    spec:",
        )
        .replace(
            "type: RollingUpdate\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 25%}",
            "type: Recreate",
        );
    std::fs::write(&file, changed).expect("rewrite manifest");
    let second = c.kubectl(&["apply", "-f", path]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&second.stdout).contains("deployment.apps/web configured"));
    assert!(
        !stderr.to_lowercase().contains("warning"),
        "kubectl warned: {stderr}"
    );
    let got = c.kubectl_ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].name} {.spec.template.spec.containers[*].image} {.spec.template.spec.containers[0].env[0].value} {.spec.template.metadata.labels.tier} {.spec.strategy}",
    ]);
    assert_eq!(
        got,
        r#"web helper nginx:1.28 busybox:1 1 front {"type":"Recreate"}"#
    );
}

#[test]
fn apply_rejects_unknown_fields_unless_validation_is_off() {
    let c = Cluster::start();
    let manifest = DEPLOYMENT
        .replace("  replicas: 1\n", "  replicas: 1\n  foo: true\n")
        .replace(
            "        image: nginx:1.27\n",
            "        image: nginx:1.27\n        bar: 1\n",
        );
    let file = write_file(c.dir.path(), "bad.yaml", &manifest);
    let path = file.to_str().unwrap_or_default();
    let err = c.kubectl_err(&["apply", "-f", path]);
    assert!(
        err.contains(r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo", unknown field "spec.template.spec.containers[0].bar""#),
        "{err}"
    );
    let err = c.kubectl_err(&["create", "-f", path]);
    assert!(err.contains(r#"unknown field "spec.foo""#), "{err}");
    assert!(c.kubectl(&["get", "deploy", "web"]).stdout.is_empty());

    c.kubectl_ok(&["apply", "-f", path, "--validate=false"]);
    let stored: serde_json::Value =
        serde_json::from_str(&c.kubectl_ok(&["get", "deploy", "web", "-o", "json"])).expect("json");
    assert_eq!(stored["spec"].get("foo"), None, "{stored}");
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][0].get("bar"),
        None
    );
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );

    // The object exists now: the second apply is a strategic merge patch, checked the same way.
    let err = c.kubectl_err(&["apply", "-f", path]);
    assert!(
        err.contains("strict decoding error") && err.contains(r#"unknown field "spec.foo""#),
        "{err}"
    );
    let out = c.kubectl(&["apply", "-f", path, "--validate=warn"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(r#"Warning: unknown field "spec.foo""#),
        "{stderr}"
    );
}

#[test]
fn create_f_with_default_validation() {
    let c = Cluster::start();
    let file = write_file(c.dir.path(), "web.yaml", DEPLOYMENT);
    let out = c.kubectl_ok(&["create", "-f", file.to_str().unwrap_or_default()]);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {any.key: x}\nspec: {}\n";
    let out = c.kubectl_stdin(&["create", "-f", "-"], Some(cm));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "spec""#), "{stderr}");
}

#[test]
fn curl_gets_warnings_strict_errors_and_type_errors() {
    let c = Cluster::start();
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1","foo":1},"data":{"a":"b"},"bar":{"x":1}}"#;
    let post = |query: &str, body: &str| {
        let url = format!("/api/v1/namespaces/default/configmaps{query}");
        let out = c.curl(&[
            &url,
            "-D",
            "-",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = post("?fieldValidation=Warn", cm);
    assert!(out.starts_with("HTTP/2 201"), "{out}");
    let warnings: Vec<&str> = out
        .lines()
        .filter(|l| l.to_lowercase().starts_with("warning:"))
        .map(str::trim)
        .collect();
    assert_eq!(
        warnings
            .iter()
            .map(|w| w.split_once(':').map(|(_, v)| v.trim()).unwrap_or(""))
            .collect::<Vec<_>>(),
        vec![
            r#"299 - "unknown field \"metadata.foo\"""#,
            r#"299 - "unknown field \"bar\"""#
        ],
        "{out}"
    );
    let (code, stored) = c.curl_json(&["/api/v1/namespaces/default/configmaps/c1"]);
    assert_eq!(code, 200);
    assert_eq!(stored.get("bar"), None, "{stored}");
    assert_eq!(stored["metadata"].get("foo"), None, "{stored}");

    let out = post("?fieldValidation=Ignore", &cm.replace("c1", "c2"));
    assert!(
        out.starts_with("HTTP/2 201") && !out.to_lowercase().contains("\nwarning:"),
        "{out}"
    );

    let (code, status) = split_code(
        &c.curl(&[
            "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            &cm.replace("c1", "c3"),
            "-w",
            "\n%{http_code}",
        ])
        .stdout,
    );
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "metadata.foo", unknown field "bar""#
    );

    let (code, status) = c.curl_json(&[
        "/api/v1/namespaces/default/configmaps",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c4"},"data":{"a":1}}"#,
    ]);
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"#
    );

    let (code, status) = c.curl_json(&[
        "/api/v1/namespaces/default/configmaps/c1?fieldValidation=Strict",
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/merge-patch+json",
        "-d",
        r#"{"spec":{"x":1}}"#,
    ]);
    assert_eq!(code, 422, "{status}");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.ends_with(r#"strict decoding error: unknown field "spec""#)),
        "{status}"
    );
}

#[test]
fn documents_are_indexed_cached_and_complete() {
    let c = Cluster::start();
    let (code, index) = c.curl_json(&["/openapi/v3"]);
    assert_eq!(code, 200);
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{index}");
    let (code, doc) = c.curl_json(&[&url]);
    assert_eq!(code, 200);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
        serde_json::json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert_eq!(
        schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
            ["x-kubernetes-patch-merge-key"],
        "name"
    );
    let etag = url.rsplit('=').next().unwrap_or_default();
    let out = c.curl(&[
        &url,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!("If-None-Match: \"{etag}\""),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "304");
}

#[test]
fn an_unknown_kind_is_reported_as_unmapped_not_as_a_missing_document() {
    let c = Cluster::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(
        dir.path(),
        "foo.yaml",
        "apiVersion: example.com/v1\nkind: Foo\nmetadata:\n  name: x\n",
    );
    // kubectl falls back to /openapi/v2 for a kind the v3 documents do not hold.
    let err = c.kubectl_err(&["apply", "-f", path.to_str().unwrap_or_default()]);
    assert!(
        err.contains(r#"no matches for kind "Foo" in version "example.com/v1""#)
            && err.contains("ensure CRDs are installed first"),
        "{err}"
    );
    let (code, doc) = c.curl_json(&["/openapi/v2", "-H", "Accept: application/json"]);
    assert_eq!(code, 200);
    assert_eq!(doc["swagger"], "2.0");
}

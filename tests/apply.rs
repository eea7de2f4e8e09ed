//! Server-side apply against the real server: field ownership, conflicts, forcing, pruning,
//! migration from client-side apply, and status apply as kube-rs controllers do it.

use crate::support::{write_file, Cluster};

fn cm(data: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: default\ndata:\n{data}")
}

/// `manager` -> `operation` of every managedFields entry of an object.
fn managers(c: &Cluster, what: &str) -> Vec<(String, String)> {
    let out = c.kubectl_ok(&["get", what, "-o", "json", "--show-managed-fields"]);
    let obj: serde_json::Value = serde_json::from_str(&out).expect("object JSON");
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or_default().to_string(),
                        e["operation"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn apply_conflicts_force_and_prune() {
    let c = Cluster::start();
    let dir = c.dir.path();
    let f = write_file(dir, "v1.yaml", &cm("  a: \"1\"\n  b: \"1\"\n"));
    let out = c.kubectl_ok(&["apply", "--server-side", "-f", f.to_str().unwrap()]);
    assert!(out.contains("configmap/ssa serverside-applied"), "{out}");

    // The same manager updates its own field freely.
    let f = write_file(dir, "v2.yaml", &cm("  a: \"2\"\n  b: \"1\"\n"));
    c.kubectl_ok(&["apply", "--server-side", "-f", f.to_str().unwrap()]);
    assert_eq!(
        c.kubectl_ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"]),
        "2"
    );

    // Another manager changing it conflicts, as kubectl prints it.
    let f = write_file(dir, "other.yaml", &cm("  a: \"3\"\n"));
    let err = c.kubectl_err(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        f.to_str().unwrap(),
    ]);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .data.a"),
        "{err}"
    );
    assert!(err.contains("--force-conflicts"), "{err}");
    assert_eq!(
        c.kubectl_ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"]),
        "2"
    );

    // The Status behind it: 409 Conflict with one cause per field.
    let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"4","b":"4"}}"#;
    let (code, status) = c.curl_json(&[
        "/api/v1/namespaces/default/configmaps/ssa?fieldManager=third",
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/apply-patch+yaml",
        "-d",
        body,
    ]);
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["message"],
        "Apply failed with 2 conflicts: conflicts with \"kubectl\":\n- .data.a\n- .data.b"
    );
    assert_eq!(
        status["details"]["causes"][0],
        serde_json::json!({"reason": "FieldManagerConflict", "message": "conflict with \"kubectl\"", "field": ".data.a"})
    );

    // Forcing takes the field over; both managers now show.
    c.kubectl_ok(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        f.to_str().unwrap(),
    ]);
    assert_eq!(
        c.kubectl_ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"]),
        "3"
    );
    let yaml = c.kubectl_ok(&["get", "cm", "ssa", "-o", "yaml", "--show-managed-fields"]);
    assert!(
        yaml.contains("manager: kubectl\n") && yaml.contains("manager: other\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("operation: Apply") && yaml.contains("fieldsType: FieldsV1"),
        "{yaml}"
    );
    assert_eq!(
        managers(&c, "cm/ssa"),
        [
            ("kubectl".into(), "Apply".into()),
            ("other".into(), "Apply".into())
        ]
    );
    // Without the flag kubectl hides them.
    assert!(!c
        .kubectl_ok(&["get", "cm", "ssa", "-o", "yaml"])
        .contains("managedFields"));

    // kubectl stops applying b, which only it owned: b goes. "other" keeps a.
    let f = write_file(dir, "v3.yaml", &cm("  c: \"1\"\n"));
    c.kubectl_ok(&["apply", "--server-side", "-f", f.to_str().unwrap()]);
    let data = c.kubectl_ok(&["get", "cm", "ssa", "-o", "jsonpath={.data}"]);
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data, serde_json::json!({"a": "3", "c": "1"}));

    // A non-apply write takes ownership of what it changes.
    c.kubectl_ok(&["patch", "cm", "ssa", "-p", r#"{"data":{"c":"patched"}}"#]);
    let err = c.kubectl_err(&["apply", "--server-side", "-f", f.to_str().unwrap()]);
    assert!(
        err.contains("conflict with \"kubectl-patch\" using v1: .data.c"),
        "{err}"
    );
}

#[test]
fn two_managers_own_one_container_each() {
    let c = Cluster::start();
    let app = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
";
    let sidecar = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: log
        image: busybox:1.36
";
    let f = write_file(c.dir.path(), "app.yaml", app);
    c.kubectl_ok(&["apply", "--server-side", "-f", f.to_str().unwrap()]);
    let s = write_file(c.dir.path(), "sidecar.yaml", sidecar);
    c.kubectl_ok(&[
        "apply",
        "--server-side",
        "--field-manager=sidecar",
        "-f",
        s.to_str().unwrap(),
    ]);
    let names = c.kubectl_ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].name}",
    ]);
    assert_eq!(names, "web log");

    // Re-applying the app's manifest with a new image leaves the sidecar alone.
    let f = write_file(
        c.dir.path(),
        "app2.yaml",
        &app.replace("nginx:1.27", "nginx:1.28"),
    );
    c.kubectl_ok(&["apply", "--server-side", "-f", f.to_str().unwrap()]);
    let images = c.kubectl_ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].image}",
    ]);
    assert_eq!(images, "nginx:1.28 busybox:1.36");

    let out = c.kubectl_ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    let obj: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entries = obj["metadata"]["managedFields"].as_array().unwrap();
    let fields_of = |m: &str| {
        entries
            .iter()
            .find(|e| e["manager"] == m)
            .map(|e| e["fieldsV1"].clone())
            .unwrap_or_default()
    };
    let containers =
        |m: &str| fields_of(m)["f:spec"]["f:template"]["f:spec"]["f:containers"].clone();
    assert!(
        containers("kubectl").get("k:{\"name\":\"web\"}").is_some(),
        "{out}"
    );
    assert!(
        containers("kubectl").get("k:{\"name\":\"log\"}").is_none(),
        "{out}"
    );
    assert!(
        containers("sidecar").get("k:{\"name\":\"log\"}").is_some(),
        "{out}"
    );
    // Ports are keyed by port and protocol; the selector is atomic.
    assert!(
        containers("kubectl")["k:{\"name\":\"web\"}"]["f:ports"]
            .get("k:{\"containerPort\":80,\"protocol\":\"TCP\"}")
            .is_some(),
        "{out}"
    );
    assert_eq!(
        fields_of("kubectl")["f:spec"]["f:selector"],
        serde_json::json!({})
    );

    // The sidecar's manager withdraws: its container goes, the app's stays.
    let none = write_file(
        c.dir.path(),
        "none.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
    );
    c.kubectl_ok(&[
        "apply",
        "--server-side",
        "--field-manager=sidecar",
        "-f",
        none.to_str().unwrap(),
    ]);
    let names = c.kubectl_ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].name}",
    ]);
    assert_eq!(names, "web");
}

#[test]
fn server_side_apply_after_client_side_apply() {
    let c = Cluster::start();
    let dir = c.dir.path();
    let f = write_file(dir, "csa.yaml", &cm("  a: \"1\"\n"));
    c.kubectl_ok(&["apply", "-f", f.to_str().unwrap()]);
    assert_eq!(
        managers(&c, "cm/ssa"),
        [("kubectl-client-side-apply".into(), "Update".into())]
    );

    // Another field manager conflicts with the client-side applier.
    let f2 = write_file(dir, "ssa.yaml", &cm("  a: \"2\"\n"));
    let err = c.kubectl_err(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        f2.to_str().unwrap(),
    ]);
    assert!(
        err.contains("conflict with \"kubectl-client-side-apply\" using v1: .data.a"),
        "{err}"
    );

    // kubectl's own manager may take over what still matches last-applied-configuration,
    // as upstream lets it (and kubectl then folds the client-side entry into its own).
    let out = c.kubectl_ok(&["apply", "--server-side", "-f", f2.to_str().unwrap()]);
    assert!(out.contains("serverside-applied"), "{out}");
    assert_eq!(
        c.kubectl_ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"]),
        "2"
    );
    let last = c.kubectl_ok(&[
        "get",
        "cm",
        "ssa",
        "-o",
        "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
    ]);
    assert!(
        last.contains("\"a\":\"2\""),
        "the server keeps last-applied current: {last}"
    );
    let owners = managers(&c, "cm/ssa");
    assert!(
        owners.contains(&("kubectl".into(), "Apply".into())),
        "{owners:?}"
    );
    assert!(
        !owners.iter().any(|(m, _)| m == "kubectl-client-side-apply"),
        "{owners:?}"
    );

    // Client-side apply still works afterwards.
    let f3 = write_file(dir, "csa3.yaml", &cm("  a: \"3\"\n"));
    c.kubectl_ok(&["apply", "-f", f3.to_str().unwrap()]);
    assert_eq!(
        c.kubectl_ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"]),
        "3"
    );
}

#[test]
fn status_apply_like_kube_rs() {
    let c = Cluster::start();
    let deploy = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"op"},
        "spec":{"replicas":0,"selector":{"matchLabels":{"app":"op"}},
        "template":{"metadata":{"labels":{"app":"op"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}"#;
    let path = "/apis/apps/v1/namespaces/default/deployments/op";
    let apply = |url: &str, body: &str| {
        c.curl_json(&[
            url,
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/apply-patch+yaml",
            "--data-binary",
            body,
        ])
    };
    let (code, created) = apply(&format!("{path}?fieldManager=op-controller"), deploy);
    assert_eq!(code, 201, "{created}");

    // kube-rs: Patch::Apply on /status with only apiVersion, kind and status, force=true.
    let status = r#"{"apiVersion":"apps/v1","kind":"Deployment",
        "status":{"observedGeneration":1,"conditions":[{"type":"Available","status":"True","reason":"Op"}]}}"#;
    let (code, obj) = apply(
        &format!("{path}/status?fieldManager=op-status&force=true"),
        status,
    );
    assert_eq!(code, 200, "{obj}");
    assert_eq!(obj["status"]["conditions"][0]["type"], "Available");
    assert_eq!(obj["spec"]["replicas"], 0);
    let entry = obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "op-status")
        .cloned()
        .expect("op-status entry");
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["subresource"], "status");
    assert_eq!(
        entry["fieldsV1"],
        serde_json::json!({"f:status": {"f:conditions": {"k:{\"type\":\"Available\"}": {".": {}, "f:reason": {}, "f:status": {}, "f:type": {}}}, "f:observedGeneration": {}}})
    );

    // Another controller flipping that condition without force conflicts on the field.
    let flip = status.replace("\"True\"", "\"False\"");
    let (code, st) = apply(&format!("{path}/status?fieldManager=intruder"), &flip);
    assert_eq!(code, 409, "{st}");
    assert_eq!(
        st["details"]["causes"][0]["field"],
        ".status.conditions[type=\"Available\"].status"
    );
    assert_eq!(
        st["details"]["causes"][0]["message"],
        "conflict with \"op-status\" with subresource \"status\""
    );

    // A status apply to a missing object is 404; the main resource ignores status.
    let (code, _) = apply(
        "/apis/apps/v1/namespaces/default/deployments/nope/status?fieldManager=x",
        status,
    );
    assert_eq!(code, 404);
    let (code, obj) = apply(
        &format!("{path}?fieldManager=op-controller"),
        &deploy.replace("\"replicas\":0", "\"replicas\":0,\"paused\":true"),
    );
    assert_eq!(code, 200, "{obj}");
    assert_eq!(obj["status"]["conditions"][0]["status"], "True");
}

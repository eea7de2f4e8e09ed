//! Bad input gets a Kubernetes Status with the right code, and the server stays healthy.

use crate::support::Cluster;

#[test]
fn malformed_bodies_are_400_and_harmless() {
    let c = Cluster::start();
    let cases: &[(&str, &[u8])] = &[
        ("application/json", b"{not json"),
        ("application/json", b"[1,2,3]"),
        ("application/yaml", b"a: [unclosed"),
        (
            "application/vnd.kubernetes.protobuf",
            b"k8s\0\x0a\xff\xff\xff",
        ),
        ("application/vnd.kubernetes.protobuf", b"garbage"),
    ];
    for (i, (ct, body)) in cases.iter().enumerate() {
        let path = c.dir.path().join(format!("body{i}"));
        std::fs::write(&path, body).unwrap();
        let (code, status) = c.curl_json(&[
            "/api/v1/namespaces/default/configmaps",
            "-X",
            "POST",
            "-H",
            &format!("Content-Type: {ct}"),
            "--data-binary",
            &format!("@{}", path.display()),
        ]);
        assert_eq!(code, 400, "{ct} {body:?}: {status}");
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "BadRequest");
    }
    let (code, status) = c.curl_json(&[
        "/api/v1/namespaces/default/configmaps",
        "-X",
        "POST",
        "-H",
        "Content-Type: text/csv",
        "-d",
        "a,b",
    ]);
    assert_eq!(
        (code, status["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    assert_eq!(c.curl(&["/readyz"]).stdout, b"ok");
}

#[test]
fn oversized_bodies_are_413() {
    let c = Cluster::start();
    let big = format!("{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"big\"}},\"data\":{{\"a\":\"{}\"}}}}", "x".repeat(4 * 1024 * 1024));
    let path = crate::support::write_file(c.dir.path(), "big.json", &big);
    let (code, status) = c.curl_json(&[
        "/api/v1/namespaces/default/configmaps",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", path.display()),
    ]);
    assert_eq!(code, 413, "{status}");
    let two_mb = big.replace(&"x".repeat(4 * 1024 * 1024), &"x".repeat(2 * 1024 * 1024));
    let path = crate::support::write_file(c.dir.path(), "two.json", &two_mb);
    let (code, _) = c.curl_json(&[
        "/api/v1/namespaces/default/configmaps",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", path.display()),
    ]);
    assert_eq!(code, 413, "objects over 1.5 MiB are refused");
}

#[test]
fn statuses_carry_upstream_wording() {
    let c = Cluster::start();
    let (code, s) = c.curl_json(&["/apis/apps/v1/namespaces/default/deployments/nope"]);
    assert_eq!(code, 404);
    assert_eq!(s["message"], "deployments.apps \"nope\" not found");
    assert_eq!(s["details"]["group"], "apps");
    let (code, s) = c.curl_json(&["/api/v1/nothing-here"]);
    assert_eq!(
        (code, s["message"].as_str()),
        (
            404,
            Some("the server could not find the requested resource")
        )
    );
    let (code, s) = c.curl_json(&[
        "/api/v1/namespaces/default/configmaps",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#,
    ]);
    assert_eq!(code, 422);
    assert_eq!(s["reason"], "Invalid");
    assert!(
        s["message"].as_str().unwrap().starts_with(
            "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""
        ),
        "{s}"
    );
    let (code, s) = c.curl_json(&["/api/v1/namespaces/default/pods", "-X", "POST", "-H", "Content-Type: application/json", "-d", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}}"#]);
    assert_eq!(code, 422);
    assert_eq!(
        s["details"]["causes"][0]["field"],
        "spec.containers[0].image"
    );
    let (code, s) =
        c.curl_json(&["/api/v1/namespaces/default/configmaps?fieldSelector=data.x%3D1"]);
    assert_eq!(
        (code, s["message"].as_str()),
        (400, Some("field label not supported: data.x"))
    );
}

#[test]
fn anonymous_reads_health_only_and_no_plaintext() {
    let c = Cluster::start();
    assert_eq!(c.curl_anonymous(&["/readyz"]).stdout, b"ok");
    let out = c.curl_anonymous(&["/version"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("gitVersion"));
    let out = c.curl_anonymous(&["/api/v1/namespaces", "-w", "\n%{http_code}"]);
    let (code, s) = crate::support::split_code(&out.stdout);
    assert_eq!(code, 403);
    assert_eq!(s["message"], "namespaces is forbidden: User \"system:anonymous\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope");
    let out = c.curl_anonymous(&[
        "/api/v1/namespaces/default/configmaps",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        "{}",
        "-w",
        "\n%{http_code}",
    ]);
    assert_eq!(crate::support::split_code(&out.stdout).0, 403);
    let plain = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://127.0.0.1:{}/api", c.port),
        ])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200");
}

#[test]
fn delete_options_with_an_unknown_or_doubled_propagation_policy_are_invalid() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "configmap", "kept"]);
    let path = "/api/v1/namespaces/default/configmaps/kept";
    let (code, body) = c.curl_json(&[
        &format!("{path}?propagationPolicy=Sometimes"),
        "-X",
        "DELETE",
    ]);
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        r#"DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sometimes": supported values: "Foreground", "Background", "Orphan", "nil""#
    );
    let (code, body) = c.curl_json(&[
        path,
        "-X",
        "DELETE",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"propagationPolicy":"Orphan","orphanDependents":true}"#,
    ]);
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["details"]["causes"][0]["field"], "propagationPolicy");
    c.kubectl_ok(&["get", "configmap", "kept"]);
}

#[test]
fn health_endpoints_name_only_the_checks_kapi_makes() {
    let c = Cluster::start();
    // Named checks are for authenticated callers (upstream's public-info-viewer role grants
    // anonymous users only the three roots).
    let code_of = |path: &str| {
        let out = c.curl(&[path, "-o", "/dev/null", "-w", "%{http_code}"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    for path in ["/healthz/ping", "/livez/ping", "/readyz/store"] {
        assert_eq!(code_of(path), "200", "{path}");
    }
    for path in ["/healthz/etcd", "/readyz/anything", "/livez/ping/x"] {
        assert_eq!(code_of(path), "404", "{path} is not a check kapi makes");
    }
    let verbose = c.curl_anonymous(&["/readyz?verbose"]).stdout;
    assert_eq!(
        String::from_utf8_lossy(&verbose),
        "[+]ping ok\n[+]store ok\n[+]store-space ok\nreadyz check passed\n"
    );
    let excluded = c
        .curl_anonymous(&["/livez?verbose&exclude=store&exclude=store-space"])
        .stdout;
    assert_eq!(
        String::from_utf8_lossy(&excluded),
        "[+]ping ok\nlivez check passed\n"
    );
}

/// Objects upstream refuses, tried as a new user would (the issue's list): each is refused
/// with upstream's code, field path and words, and nothing is stored.
#[test]
fn values_upstream_refuses_are_refused_with_its_words_and_not_stored() {
    let c = Cluster::start();
    let big_label = "v".repeat(1 << 20);
    let big_annotation = "x".repeat(300 * 1024);
    let cases: Vec<(String, u16, &str)> = vec![
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: neg}\nspec:\n  replicas: -1\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec: {containers: [{name: c, image: busybox}]}\n".into(),
            422,
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: port}\nspec: {containers: [{name: c, image: busybox, ports: [{containerPort: 99999}]}]}\n".into(),
            422,
            "spec.containers[0].ports[0].containerPort: Invalid value: 99999: must be between 1 and 65535, inclusive",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: mem}\nspec: {containers: [{name: c, image: busybox, resources: {requests: {memory: -5Gi}}}]}\n".into(),
            422,
            "spec.containers[0].resources.requests[memory]: Invalid value: \"-5Gi\": must be greater than or equal to 0",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: cpu}\nspec: {containers: [{name: c, image: busybox, resources: {requests: {cpu: \"1.2.3\"}}}]}\n".into(),
            400,
            "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: zero}\nspec: {ports: [{port: 0}]}\n".into(),
            422,
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        ),
        (
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cron}\nspec:\n  schedule: not a cron\n  jobTemplate:\n    spec:\n      template:\n        spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}\n".into(),
            422,
            "spec.schedule: Invalid value: \"not a cron\": expected exactly 5 fields, found 3: [not a cron]",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: key, labels: {\"bad key!\": x}}\n".into(),
            422,
            "metadata.labels: Invalid value: \"bad key!\": name part must consist of alphanumeric characters",
        ),
        (
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: long, labels: {{a: {big_label}}}}}\n"),
            422,
            ": must be no more than 63 characters",
        ),
        (
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: notes, annotations: {{a: {big_annotation}}}}}\n"),
            422,
            "metadata.annotations: Too long: may not be more than 262144 bytes",
        ),
    ];
    for (i, (manifest, code, words)) in cases.iter().enumerate() {
        let path = c.dir.path().join(format!("bad{i}.yaml"));
        std::fs::write(&path, manifest).unwrap();
        let kind = manifest
            .lines()
            .find_map(|l| l.strip_prefix("kind: "))
            .unwrap_or_default();
        let url = match kind {
            "Deployment" => "/apis/apps/v1/namespaces/default/deployments",
            "CronJob" => "/apis/batch/v1/namespaces/default/cronjobs",
            "Pod" => "/api/v1/namespaces/default/pods",
            "Service" => "/api/v1/namespaces/default/services",
            _ => "/api/v1/namespaces/default/configmaps",
        };
        let (got, status) = c.curl_json(&[
            url,
            "-X",
            "POST",
            "-H",
            "Content-Type: application/yaml",
            "--data-binary",
            &format!("@{}", path.display()),
        ]);
        assert_eq!(got, *code, "case {i}: {status}");
        let said: Vec<String> = match status["details"]["causes"].as_array() {
            Some(causes) => causes
                .iter()
                .map(|c| {
                    format!(
                        "{}: {}",
                        c["field"].as_str().unwrap_or(""),
                        c["message"].as_str().unwrap_or("")
                    )
                })
                .collect(),
            None => vec![status["message"].as_str().unwrap_or_default().to_string()],
        };
        assert!(said.iter().any(|m| m.contains(words)), "case {i}: {said:?}");
    }
    let names = c.kubectl_ok(&[
        "get",
        "deployments,pods,services,cronjobs,configmaps",
        "-o",
        "name",
    ]);
    for name in [
        "neg",
        "port",
        "mem",
        "cpu",
        "zero",
        "cron",
        "configmap/key",
        "configmap/long",
        "configmap/notes",
    ] {
        assert!(
            !names.contains(&format!("/{name}\n")) && !names.contains(&format!("{name}\n")),
            "{name} stored: {names}"
        );
    }
    // A label whose value is null reads as empty, as upstream decodes it.
    let out = c.kubectl_stdin(
        &["create", "-f", "-", "-o", "jsonpath={.metadata.labels}"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nulls, labels: {a: null}}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Updates upstream refuses: a workload's selector, a pod's spec beyond what may change in
/// place; an image change goes through.
#[test]
fn immutable_fields_refuse_updates_with_upstreams_words() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "deployment", "web", "--image=nginx:1.27"]);
    let out = c.kubectl(&[
        "patch", "deployment", "web", "--type=merge",
        "-p", r#"{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}"#,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"other"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#),
        "{err}"
    );
    let out = c.kubectl_stdin(
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {restartPolicy: Always, containers: [{name: c, image: busybox:1}]}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = c.kubectl(&[
        "patch",
        "pod",
        "p",
        "--type=merge",
        "-p",
        r#"{"spec":{"restartPolicy":"Never"}}"#,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`")
            && err.contains("spec.restartPolicy"),
        "{err}"
    );
    c.kubectl_ok(&["set", "image", "pod/p", "c=busybox:2"]);
    assert_eq!(
        c.kubectl_ok(&[
            "get",
            "pod",
            "p",
            "-o",
            "jsonpath={.spec.containers[0].image}"
        ]),
        "busybox:2"
    );
}

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

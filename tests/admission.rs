//! Admission: what the server adds to and refuses of the objects it is given.

use crate::support::Cluster;

#[test]
fn pods_get_the_service_account_volume_as_upstream() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "serviceaccount", "runner"]);
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"serviceAccountName":"runner","initContainers":[{"name":"init","image":"busybox:1.36"}],"containers":[{"name":"a","image":"busybox:1.36"},{"name":"b","image":"busybox:1.36"}]}}"#;
    let (code, p) = c.curl_json(&[
        "/api/v1/namespaces/default/pods",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        pod,
    ]);
    assert_eq!(code, 201, "{p}");
    let volumes = p["spec"]["volumes"].as_array().unwrap();
    assert_eq!(volumes.len(), 1);
    let v = &volumes[0];
    let name = v["name"].as_str().unwrap();
    assert!(
        name.starts_with("kube-api-access-") && name.len() == "kube-api-access-".len() + 5,
        "{name}"
    );
    let sources = &v["projected"]["sources"];
    assert_eq!(
        sources[0]["serviceAccountToken"],
        serde_json::json!({"expirationSeconds": 3607, "path": "token"})
    );
    assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
    assert_eq!(
        sources[1]["configMap"]["items"][0],
        serde_json::json!({"key": "ca.crt", "path": "ca.crt"})
    );
    assert_eq!(
        sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(v["projected"]["defaultMode"], 420);
    for list in ["initContainers", "containers"] {
        for ctr in p["spec"][list].as_array().unwrap() {
            let m = &ctr["volumeMounts"][0];
            assert_eq!(
                m["mountPath"],
                "/var/run/secrets/kubernetes.io/serviceaccount"
            );
            assert_eq!(m["readOnly"], true);
            assert_eq!(m["name"], name);
        }
    }
    assert_eq!(p["spec"]["serviceAccount"], "runner");
}

#[test]
fn pods_of_missing_accounts_are_refused_and_automount_can_be_off() {
    let c = Cluster::start();
    let pod = |sa: &str, automount: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p-{sa}"}},"spec":{{"serviceAccountName":"{sa}"{automount},"containers":[{{"name":"a","image":"busybox:1.36"}}]}}}}"#
        )
    };
    let (code, s) = c.curl_json(&[
        "/api/v1/namespaces/default/pods",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        &pod("ghost", ""),
    ]);
    assert_eq!(code, 403, "{s}");
    assert_eq!(s["message"], "pods \"p-ghost\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found");
    c.kubectl_ok(&["create", "serviceaccount", "quiet"]);
    let (code, p) = c.curl_json(&[
        "/api/v1/namespaces/default/pods",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        &pod("quiet", r#","automountServiceAccountToken":false"#),
    ]);
    assert_eq!(code, 201, "{p}");
    assert!(p["spec"].get("volumes").is_none(), "{p}");
}

//! Watch streams over the wire: initial events, resume from a resourceVersion, bookmarks,
//! selectors and timeouts.

use crate::support::Cluster;

fn events(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("each watch line is one JSON event"))
        .collect()
}

fn create_cm(c: &Cluster, name: &str, labels: &str) -> String {
    let body = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","labels":{{{labels}}}}}}}"#
    );
    let (code, obj) = c.curl_json(&[
        "/api/v1/namespaces/default/configmaps",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        &body,
    ]);
    assert_eq!(code, 201, "{obj}");
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn resume_from_resource_version_sees_only_later_events() {
    let c = Cluster::start();
    // The root CA publisher adds kube-root-ca.crt to `default` soon after start; let it, so
    // that the only events below are this test's.
    crate::support::eventually("kube-root-ca.crt", 10, || {
        (c.curl_json(&["/api/v1/namespaces/default/configmaps/kube-root-ca.crt"])
            .0
            == 200)
            .then_some(())
    });
    let rv1 = create_cm(&c, "one", "");
    create_cm(&c, "two", "");
    let (code, _) = c.curl_json(&["/api/v1/namespaces/default/configmaps/one", "-X", "DELETE"]);
    assert_eq!(code, 200);
    let out = c.curl(&[&format!(
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv1}&timeoutSeconds=1"
    )]);
    let evs = events(&out.stdout);
    let seen: Vec<(String, String)> = evs
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("ADDED".into(), "two".into()),
            ("DELETED".into(), "one".into())
        ]
    );
    let rvs: Vec<i64> = evs
        .iter()
        .map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "ordered: {rvs:?}");
    assert!(rvs[0] > rv1.parse::<i64>().unwrap());
}

#[test]
fn watch_without_version_starts_with_current_objects() {
    let c = Cluster::start();
    create_cm(&c, "a", r#""app":"x""#);
    create_cm(&c, "b", r#""app":"y""#);
    let out = c.curl(&[
        "/api/v1/namespaces/default/configmaps?watch=1&labelSelector=app%3Dx&timeoutSeconds=1",
    ]);
    let evs = events(&out.stdout);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0]["type"], "ADDED");
    assert_eq!(evs[0]["object"]["metadata"]["name"], "a");
}

#[test]
fn send_initial_events_ends_with_the_marker_bookmark() {
    let c = Cluster::start();
    create_cm(&c, "a", "");
    let out = c.curl(&["/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"]);
    let evs = events(&out.stdout);
    let kinds: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    // The initial state, then the marker; what happens later in the namespace (the root CA
    // publisher adding kube-root-ca.crt, say) may follow it.
    let marker = evs
        .iter()
        .position(|e| e["type"] == "BOOKMARK")
        .unwrap_or_else(|| panic!("no bookmark: {kinds:?}"));
    assert!(
        marker >= 1 && kinds[..marker].iter().all(|k| *k == "ADDED"),
        "{kinds:?}"
    );
    assert!(
        evs[..marker]
            .iter()
            .any(|e| e["object"]["metadata"]["name"] == "a"),
        "{kinds:?}"
    );
    assert_eq!(
        evs[marker]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let (code, _) = c.curl_json(&["/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"]);
    assert_eq!(
        code, 422,
        "sendInitialEvents without bookmarks is refused, never ignored"
    );
}

#[test]
fn label_change_moves_objects_in_and_out_of_a_selector_watch() {
    let c = Cluster::start();
    let rv = create_cm(&c, "m", r#""tier":"a""#);
    let patch = |tier: &str| {
        let (code, _) = c.curl_json(&[
            "/api/v1/namespaces/default/configmaps/m",
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/merge-patch+json",
            "-d",
            &format!(r#"{{"metadata":{{"labels":{{"tier":"{tier}"}}}}}}"#),
        ]);
        assert_eq!(code, 200);
    };
    patch("b");
    patch("a");
    let out = c.curl(&[&format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&labelSelector=tier%3Da&timeoutSeconds=1")]);
    let kinds: Vec<String> = events(&out.stdout)
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["DELETED", "ADDED"]);
}

#[test]
fn list_pages_with_limit_and_continue() {
    let c = Cluster::start();
    for i in 0..5 {
        create_cm(&c, &format!("p{i}"), r#""page":"me""#);
    }
    // Controllers put kube-root-ca.crt in every namespace; select only this test's objects.
    let (_, page1) =
        c.curl_json(&["/api/v1/namespaces/default/configmaps?limit=2&labelSelector=page%3Dme"]);
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let token = page1["metadata"]["continue"].as_str().unwrap().to_string();
    let (_, page2) = c.curl_json(&[&format!(
        "/api/v1/namespaces/default/configmaps?limit=10&labelSelector=page%3Dme&continue={token}"
    )]);
    let names: Vec<&str> = page2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p2", "p3", "p4"]);
    assert!(page2["metadata"].get("continue").is_none());
}

#[test]
fn objects_a_namespace_deletion_removes_are_deleted_at_a_new_version_that_resumes_past_them() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "gone"]);
    c.kubectl_ok(&["create", "configmap", "c", "-n", "gone"]);
    let created = c.kubectl_ok(&[
        "get",
        "configmap",
        "c",
        "-n",
        "gone",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    c.kubectl_ok(&["delete", "namespace", "gone", "--wait=true"]);
    create_cm(&c, "marker", "");
    let watch_from = |rv: &str| {
        let out = c.curl(&[&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1"
        )]);
        events(&out.stdout)
    };
    let evs = watch_from(&created);
    let deleted = evs
        .iter()
        .find(|e| e["type"] == "DELETED" && e["object"]["metadata"]["name"] == "c")
        .expect("the DELETED event of c");
    let deleted_rv = deleted["object"]["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_string();
    assert!(
        deleted_rv.parse::<i64>().unwrap() > created.parse::<i64>().unwrap(),
        "the DELETED event carries the deletion's version, not the object's last one ({deleted_rv} vs {created})"
    );
    // A client that saw the DELETED event resumes after it: not again, but what came later.
    let later = watch_from(&deleted_rv);
    assert!(
        !later.iter().any(|e| e["object"]["metadata"]["name"] == "c"),
        "{later:?}"
    );
    assert!(later
        .iter()
        .any(|e| e["type"] == "ADDED" && e["object"]["metadata"]["name"] == "marker"));
}

#[test]
fn a_list_at_a_version_the_store_has_not_reached_waits_then_times_out_as_upstream() {
    let c = Cluster::start();
    let (code, status) = c.curl_json(&[
        "/api/v1/namespaces/default/configmaps?resourceVersion=999999999&resourceVersionMatch=NotOlderThan",
    ]);
    assert_eq!(code, 504, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Timeout: Too large resource version: 999999999, current: "),
        "{status}"
    );
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "ResourceVersionTooLarge"
    );
}

#[test]
fn pages_of_a_list_come_from_the_snapshot_of_the_first_page_and_a_stale_token_gets_410() {
    let mut c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "paged"]);
    for n in ["a", "b", "c", "d"] {
        c.kubectl_ok(&[
            "create",
            "configmap",
            n,
            "-n",
            "paged",
            &format!("--from-literal=v={n}0"),
        ]);
    }
    let list = |c: &Cluster, query: &str| {
        c.curl_json(&[&format!("/api/v1/namespaces/paged/configmaps?{query}")])
    };
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            // The root CA publisher adds its ConfigMap whenever it gets to the namespace.
            .filter(|i| i["metadata"]["name"] != "kube-root-ca.crt")
            .map(|i| {
                format!(
                    "{}={}",
                    i["metadata"]["name"].as_str().unwrap_or_default(),
                    i["data"]["v"].as_str().unwrap_or_default()
                )
            })
            .collect()
    };
    let (code, first) = list(&c, "limit=2");
    assert_eq!(code, 200, "{first}");
    assert_eq!(names(&first), ["a=a0", "b=b0"]);
    let rv = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    // The collection changes before the next page is asked for.
    c.kubectl_ok(&["delete", "configmap", "c", "-n", "paged"]);
    c.kubectl_ok(&[
        "patch",
        "configmap",
        "d",
        "-n",
        "paged",
        "-p",
        r#"{"data":{"v":"d1"}}"#,
    ]);
    c.kubectl_ok(&["create", "configmap", "bb", "-n", "paged"]);
    let (code, second) = list(&c, &format!("limit=2&continue={token}"));
    assert_eq!(code, 200, "{second}");
    assert_eq!(
        names(&second),
        ["c=c0", "d=d0"],
        "the snapshot the first page saw"
    );
    assert_eq!(second["metadata"]["resourceVersion"], rv.as_str());
    let (code, exact) = list(
        &c,
        &format!("resourceVersion={rv}&resourceVersionMatch=Exact"),
    );
    assert_eq!(code, 200, "{exact}");
    assert_eq!(names(&exact), ["a=a0", "b=b0", "c=c0", "d=d0"]);

    // After a restart the history no longer knows what those changes replaced: the token is
    // refused as upstream refuses a compacted one, with one that goes on inconsistently.
    c.restart();
    let (code, status) = list(&c, &format!("limit=2&continue={token}"));
    assert_eq!(code, 410, "{status}");
    assert!(status["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("The provided continue parameter is too old"));
    let inconsistent = status["metadata"]["continue"]
        .as_str()
        .expect("a token to go on with");
    let (code, rest) = list(&c, &format!("continue={inconsistent}"));
    assert_eq!(code, 200, "{rest}");
    assert_eq!(names(&rest), ["bb=", "d=d1"], "the rest, as it is now");
}

//! The cluster stored in etcd (a throwaway member started by the test): it survives a restart
//! of the server, and two servers sharing it serve one cluster.

use kapi_store::testing::EtcdProcess;

use crate::support::{eventually, Cluster};

#[test]
fn a_cluster_in_etcd_keeps_its_objects_across_a_restart_and_no_embedded_store_is_made() {
    let etcd = EtcdProcess::start();
    let url = etcd.url();
    let mut c = Cluster::start_with(&["--etcd-servers", &url]);
    c.kubectl_ok(&["create", "configmap", "kept", "--from-literal=k=v"]);
    let rv = c.kubectl_ok(&[
        "get",
        "configmap",
        "kept",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    c.restart();
    let after = c.kubectl_ok(&[
        "get",
        "configmap",
        "kept",
        "-o",
        "jsonpath={.metadata.resourceVersion}:{.data.k}",
    ]);
    assert_eq!(after, format!("{rv}:v"));
    assert!(
        !c.data().join("kapi.db").exists(),
        "the data dir holds credentials only; the objects are in etcd"
    );
    // Writes after the restart get later revisions.
    c.kubectl_ok(&["create", "configmap", "later"]);
    let later: i64 = c
        .kubectl_ok(&[
            "get",
            "configmap",
            "later",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    assert!(later > rv.parse::<i64>().unwrap());
}

fn api_server_ips(c: &Cluster) -> String {
    c.kubectl_ok(&[
        "get",
        "endpoints",
        "kubernetes",
        "-o",
        "jsonpath={.subsets[0].addresses[*].ip}",
    ])
    .trim()
    .to_string()
}

#[test]
fn two_servers_on_one_etcd_serve_one_cluster_and_the_kubernetes_service_lists_the_live_ones() {
    let etcd = EtcdProcess::start();
    let url = etcd.url();
    let one = Cluster::start_with(&["--etcd-servers", &url]);
    let mut two = Cluster::start_beside(&one, "127.0.0.2", &["--etcd-servers", &url]);

    // Each reads the other's writes at once.
    one.kubectl_ok(&["create", "configmap", "from-one"]);
    assert_eq!(
        two.kubectl_ok(&["get", "configmap", "from-one", "-o", "name"])
            .trim(),
        "configmap/from-one"
    );
    let rv = two.kubectl_ok(&[
        "create",
        "configmap",
        "from-two",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    assert_eq!(
        one.kubectl_ok(&["get", "configmap", "from-two", "-o", "name"])
            .trim(),
        "configmap/from-two"
    );
    // Optimistic concurrency holds across them: an update at a version the other server has
    // moved past is refused.
    one.kubectl_ok(&["label", "configmap", "from-two", "by=one"]);
    let stale = two.kubectl(&[
        "label",
        "configmap",
        "from-two",
        "by=two",
        "--overwrite",
        &format!("--resource-version={rv}"),
    ]);
    assert!(!stale.status.success(), "a stale update is refused");
    assert!(
        String::from_utf8_lossy(&stale.stderr).contains("the object has been modified"),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
    // A watch on one server, resumed from a version the other handed out, sees what was
    // written after it on either.
    one.kubectl_ok(&["create", "configmap", "after"]);
    let out = two.curl(&[&format!(
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=2"
    )]);
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(
        events.contains(r#""name":"after""#) && events.contains(r#""by":"one""#),
        "{events}"
    );

    // The kubernetes Service lists both servers, and drops one that stops.
    eventually("both API servers in the kubernetes endpoints", 20, || {
        (api_server_ips(&one) == "127.0.0.1 127.0.0.2").then_some(())
    });
    two.kill();
    eventually("the stopped server leaves the endpoints", 40, || {
        (api_server_ips(&one) == "127.0.0.1").then_some(())
    });
    one.kubectl_ok(&["create", "configmap", "still-served"]);
}

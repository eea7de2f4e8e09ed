//! The cluster stored in etcd (a throwaway member started by the test): it survives a restart
//! of the server, and two servers sharing it serve one cluster.

use kapi_store::testing::EtcdProcess;

use crate::support::{eventually, Cluster};

#[test]
fn a_cluster_in_etcd_keeps_its_objects_across_a_restart_without_an_embedded_store_and_its_health_reports_etcd(
) {
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
    // Health reports etcd, as upstream's check of that name, and fails when it is gone.
    let verbose = c.curl(&["/readyz?verbose"]);
    assert!(
        String::from_utf8_lossy(&verbose.stdout).contains("[+]etcd ok"),
        "{}",
        String::from_utf8_lossy(&verbose.stdout)
    );
    let statuses = c.kubectl_ok(&[
        "get",
        "componentstatuses",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.conditions[0].status} {end}",
    ]);
    assert!(statuses.contains("etcd-0=True"), "{statuses}");
    drop(etcd);
    eventually("/readyz/etcd failing once etcd is gone", 20, || {
        let out = c.curl(&["/readyz/etcd", "-o", "/dev/null", "-w", "%{http_code}"]);
        (out.stdout == b"500").then_some(())
    });
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
fn two_servers_on_one_etcd_serve_one_cluster_with_one_rbac_and_the_kubernetes_service_lists_the_live_ones(
) {
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

    // Authorization on one follows RBAC written through the other.
    let can = |c: &Cluster| {
        String::from_utf8_lossy(
            &c.kubectl(&["auth", "can-i", "list", "pods", "--as=jane"])
                .stdout,
        )
        .trim()
        .to_string()
    };
    assert_eq!(can(&two), "no");
    one.kubectl_ok(&[
        "create",
        "rolebinding",
        "jane-view",
        "--clusterrole=view",
        "--user=jane",
    ]);
    eventually("jane's binding in force on the other server", 10, || {
        (can(&two) == "yes").then_some(())
    });

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

#[test]
fn services_created_on_two_servers_at_once_get_distinct_addresses_each_claimed_by_an_ipaddress() {
    let etcd = EtcdProcess::start();
    let url = etcd.url();
    let one = Cluster::start_with(&["--etcd-servers", &url]);
    let two = Cluster::start_beside(&one, "127.0.0.2", &["--etcd-servers", &url]);
    // Both allocate the lowest free address and port (the moment when one has picked what
    // the other claimed but not yet seen is covered in registry::allocator's tests).
    let start = std::sync::Barrier::new(16);
    std::thread::scope(|s| {
        for (server, tag) in [(&one, "a"), (&two, "b")] {
            for i in 0..8 {
                let start = &start;
                s.spawn(move || {
                    let body = format!(
                        r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{tag}{i}","labels":{{"app":"x"}}}},"spec":{{"type":"NodePort","ports":[{{"port":80}}]}}}}"#
                    );
                    start.wait();
                    let out = server.curl(&[
                        "/api/v1/namespaces/default/services",
                        "-X",
                        "POST",
                        "-H",
                        "Content-Type: application/json",
                        "-d",
                        &body,
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}",
                    ]);
                    assert_eq!(String::from_utf8_lossy(&out.stdout), "201");
                });
            }
        }
    });
    let listed = one.kubectl_ok(&[
        "get",
        "services",
        "-l",
        "app",
        "-o",
        "jsonpath={range .items[*]}{.spec.clusterIP} {.spec.ports[0].nodePort}{\"\\n\"}{end}",
    ]);
    let pairs: Vec<(String, String)> = listed
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(ip, port)| (ip.to_string(), port.to_string()))
        .collect();
    assert_eq!(pairs.len(), 16, "{listed}");
    let ips: std::collections::HashSet<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
    let ports: std::collections::HashSet<&str> = pairs.iter().map(|p| p.1.as_str()).collect();
    assert_eq!((ips.len(), ports.len()), (16, 16), "{listed}");
    // Each address is claimed by an IPAddress naming its Service, as upstream's allocator
    // keeps them; deleting the Service frees it.
    let a0_ip = one.kubectl_ok(&["get", "service", "a0", "-o", "jsonpath={.spec.clusterIP}"]);
    let parent = two.kubectl_ok(&[
        "get",
        "ipaddress",
        a0_ip.trim(),
        "-o",
        "jsonpath={.spec.parentRef.resource}/{.spec.parentRef.namespace}/{.spec.parentRef.name}",
    ]);
    assert_eq!(parent, "services/default/a0");
    two.kubectl_ok(&["delete", "service", "a0"]);
    let gone = one.kubectl(&["get", "ipaddress", a0_ip.trim()]);
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
}

/// etcd's JSON gateway (`/v3/kv/...`, keys and values in base64), so the test reads and
/// writes etcd as another program would, without kapi's client.
fn etcd_call(etcd: &EtcdProcess, method: &str, body: serde_json::Value) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-X", "POST", "-d", &body.to_string()])
        .arg(format!("{}/v3/kv/{method}", etcd.url()))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn etcd_get(etcd: &EtcdProcess, key: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let answer = etcd_call(etcd, "range", serde_json::json!({"key": b64(key)}));
    let value = answer["kvs"][0]["value"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap();
    Some(serde_json::from_slice(&bytes).unwrap())
}

#[test]
fn objects_are_kept_under_kube_apiservers_keys_and_json_it_wrote_is_served() {
    let etcd = EtcdProcess::start();
    let c = Cluster::start_with(&["--etcd-servers", &etcd.url()]);
    c.kubectl_ok(&["create", "configmap", "mine", "--from-literal=k=v"]);
    c.kubectl_ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    c.kubectl_ok(&[
        "create",
        "service",
        "nodeport",
        "np",
        "--tcp=80",
        "--node-port=30009",
    ]);
    let ip = c.kubectl_ok(&["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    for (key, kind) in [
        ("/registry/configmaps/default/mine", "ConfigMap"),
        ("/registry/namespaces/kube-system", "Namespace"),
        ("/registry/services/specs/default/web", "Service"),
        (
            "/registry/services/endpoints/default/kubernetes",
            "Endpoints",
        ),
        ("/registry/clusterroles/admin", "ClusterRole"),
        (
            "/registry/serviceaccounts/default/default",
            "ServiceAccount",
        ),
        (&format!("/registry/ipaddresses/{ip}"), "IPAddress"),
        ("/registry/flowschemas/exempt", "FlowSchema"),
    ] {
        let obj = etcd_get(&etcd, key).unwrap_or_else(|| panic!("nothing at {key}"));
        assert_eq!(obj["kind"], kind, "{key}");
    }
    // NodePorts as upstream's bitmap: bit 9 (port 30009) of the number the bytes spell.
    let ports = etcd_get(&etcd, "/registry/ranges/servicenodeports").expect("the NodePort range");
    assert_eq!(
        (ports["kind"].as_str(), ports["range"].as_str()),
        (Some("RangeAllocation"), Some("30000-32767"))
    );
    let bitmap = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(ports["data"].as_str().unwrap())
            .unwrap()
    };
    let last = bitmap.len() - 1;
    assert_eq!(bitmap[last - 1] & 0b10, 0b10, "{bitmap:?}");
    // An object as kube-apiserver writes it with `--storage-media-type=application/json`:
    // no resourceVersion (the revision is etcd's), a trailing newline.
    let upstream = "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"theirs\",\"namespace\":\"default\",\"uid\":\"0b5c0b8e-5f5e-4f6e-9a38-3f1f4f4a0c11\",\"creationTimestamp\":\"2026-12-01T08:00:00Z\"},\"data\":{\"from\":\"kube-apiserver\"}}\n";
    let put = etcd_call(
        &etcd,
        "put",
        serde_json::json!({"key": b64("/registry/configmaps/default/theirs"), "value": b64(upstream)}),
    );
    let revision = put["header"]["revision"].as_str().unwrap().to_string();
    let got = eventually("the object kube-apiserver wrote served", 20, || {
        let out = c.kubectl(&[
            "get",
            "configmap",
            "theirs",
            "-o",
            "jsonpath={.data.from} {.metadata.resourceVersion} {.metadata.uid}",
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert_eq!(
        got,
        format!("kube-apiserver {revision} 0b5c0b8e-5f5e-4f6e-9a38-3f1f4f4a0c11")
    );
    // And kapi updates it in place, where kube-apiserver would look for it.
    c.kubectl_ok(&["label", "configmap", "theirs", "touched=yes"]);
    let stored = etcd_get(&etcd, "/registry/configmaps/default/theirs").unwrap();
    assert_eq!(stored["metadata"]["labels"]["touched"], "yes");
    assert_eq!(stored["data"]["from"], "kube-apiserver");
}

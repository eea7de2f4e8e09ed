//! Everyday kubectl against a fresh server, as the README's tour does it.

use crate::support::{write_file, Cluster};

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
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
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
";

#[test]
fn default_namespaces_and_tables() {
    let c = Cluster::start();
    let out = c.kubectl_ok(&["get", "namespaces"]);
    let header = out.lines().next().unwrap_or("");
    assert!(
        header.starts_with("NAME") && header.contains("STATUS") && header.contains("AGE"),
        "{out}"
    );
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(ns) && l.contains("Active")),
            "{ns} missing: {out}"
        );
    }
    let svc = c.kubectl_ok(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP} {.spec.ports[0].port}",
    ]);
    assert_eq!(svc, "10.96.0.1 443");
}

#[test]
fn configmap_lifecycle_with_protobuf_create() {
    let c = Cluster::start();
    // kubectl sends this create as a protobuf body.
    c.kubectl_ok(&[
        "create",
        "configmap",
        "a",
        "--from-literal=x=1",
        "--from-literal=y=2",
    ]);
    let out = c.kubectl_ok(&["get", "cm", "a"]);
    assert!(
        out.contains("DATA")
            && out
                .lines()
                .nth(1)
                .is_some_and(|l| l.split_whitespace().nth(1) == Some("2")),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&c.kubectl_ok(&["get", "cm", "a", "-o", "json"])).unwrap();
    assert_eq!(json["data"]["x"], "1");
    assert!(json["metadata"]["uid"].is_string() && json["metadata"]["resourceVersion"].is_string());
    let describe = c.kubectl_ok(&["describe", "cm", "a"]);
    assert!(
        describe.contains("Name:") && describe.contains("a") && describe.contains("x:"),
        "{describe}"
    );
    let err = c.kubectl_err(&["create", "configmap", "a"]);
    assert!(err.contains("configmaps \"a\" already exists"), "{err}");
    c.kubectl_ok(&["delete", "cm", "a"]);
    let err = c.kubectl_err(&["get", "cm", "a"]);
    assert!(err.contains("configmaps \"a\" not found"), "{err}");
}

#[test]
fn apply_deployment_and_service_then_delete() {
    let c = Cluster::start();
    let file = write_file(c.dir.path(), "web.yaml", WEB);
    let file = file.to_str().unwrap();
    let out = c.kubectl_ok(&["apply", "-f", file]);
    assert!(
        out.contains("deployment.apps/web created") && out.contains("service/web created"),
        "{out}"
    );
    let out = c.kubectl_ok(&["apply", "-f", file]);
    assert!(out.contains("unchanged"), "{out}");
    let changed = WEB.replace("replicas: 2", "replicas: 3");
    let file2 = write_file(c.dir.path(), "web2.yaml", &changed);
    let out = c.kubectl_ok(&["apply", "-f", file2.to_str().unwrap()]);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let replicas = c.kubectl_ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.replicas} {.metadata.generation}",
    ]);
    assert_eq!(replicas, "3 2");
    let svc = c.kubectl_ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(svc.starts_with("10.96.") && svc != "10.96.0.1", "{svc}");
    let all = c.kubectl_ok(&["get", "all"]);
    assert!(
        all.contains("deployment.apps/web") && all.contains("service/web"),
        "{all}"
    );
    let wide = c.kubectl_ok(&["get", "deploy", "-o", "wide"]);
    assert!(
        wide.contains("CONTAINERS") && wide.contains("nginx:1.27"),
        "{wide}"
    );
    c.kubectl_ok(&["scale", "deploy", "web", "--replicas=5"]);
    assert_eq!(
        c.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );
    c.kubectl_ok(&["set", "image", "deploy/web", "web=nginx:1.28"]);
    assert_eq!(
        c.kubectl_ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "nginx:1.28"
    );
    let out = c.kubectl_ok(&["delete", "-f", file]);
    assert!(out.contains("deleted"), "{out}");
    assert!(c
        .kubectl_ok(&["get", "deploy", "-o", "name"])
        .trim()
        .is_empty());
}

#[test]
fn server_side_apply_creates_and_updates() {
    let c = Cluster::start();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: \"1\"\n";
    let f = write_file(c.dir.path(), "ssa.yaml", cm);
    let out = c.kubectl_ok(&["apply", "--server-side", "-f", f.to_str().unwrap()]);
    assert!(out.contains("serverside-applied"), "{out}");
    let f = write_file(c.dir.path(), "ssa2.yaml", &cm.replace("\"1\"", "\"2\""));
    c.kubectl_ok(&["apply", "--server-side", "-f", f.to_str().unwrap()]);
    assert_eq!(
        c.kubectl_ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"]),
        "2"
    );
}

#[test]
fn edit_label_and_conflicts() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "configmap", "e", "--from-literal=k=v"]);
    // kubectl edit with a non-interactive editor that rewrites the value.
    let editor = write_file(
        c.dir.path(),
        "editor.sh",
        "#!/bin/sh\nsed -i 's/k: v/k: edited/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = std::process::Command::new("kubectl")
        .args(["edit", "cm", "e"])
        .env("KUBECONFIG", c.kubeconfig())
        .env("HOME", c.dir.path())
        .env("KUBE_EDITOR", &editor)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        c.kubectl_ok(&["get", "cm", "e", "-o", "jsonpath={.data.k}"]),
        "edited"
    );
    c.kubectl_ok(&["label", "cm", "e", "tier=web"]);
    assert_eq!(
        c.kubectl_ok(&["get", "cm", "-l", "tier=web", "-o", "name"])
            .trim(),
        "configmap/e"
    );
    assert_eq!(
        c.kubectl_ok(&["get", "cm", "-l", "tier in (db,cache)", "-o", "name"])
            .trim(),
        ""
    );
    let stale = c.kubectl_ok(&["get", "cm", "e", "-o", "json"]);
    c.kubectl_ok(&["annotate", "cm", "e", "touched=yes"]);
    let out = c.kubectl_stdin(&["replace", "-f", "-"], Some(&stale));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the object has been modified"));
}

#[test]
fn discovery_and_version() {
    let c = Cluster::start();
    let out = c.kubectl_ok(&["api-resources"]);
    assert!(
        out.lines().any(
            |l| l.split_whitespace().collect::<Vec<_>>() == ["pods", "po", "v1", "true", "Pod"]
        ),
        "{out}"
    );
    assert!(out.contains("deployments") && out.contains("apps/v1"));
    let v: serde_json::Value =
        serde_json::from_str(&c.kubectl_ok(&["version", "-o", "json"])).unwrap();
    assert_eq!(v["serverVersion"]["major"], "1");
    assert_eq!(v["serverVersion"]["minor"], "34");
    let cs = c.kubectl_ok(&["get", "componentstatuses"]);
    assert!(
        cs.starts_with("NAME") && cs.contains("storage") && cs.contains("Healthy"),
        "{cs}"
    );
    let cs = c.kubectl_ok(&["api-versions"]);
    assert!(cs.contains("rbac.authorization.k8s.io/v1") && cs.contains("batch/v1"));
}

#[test]
fn namespaces_empty_then_disappear() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "gone"]);
    c.kubectl_ok(&["create", "configmap", "x", "-n", "gone"]);
    c.kubectl_ok(&[
        "delete",
        "namespace",
        "gone",
        "--wait=true",
        "--timeout=20s",
    ]);
    let err = c.kubectl_err(&["get", "namespace", "gone"]);
    assert!(err.contains("not found"), "{err}");
    let err = c.kubectl_err(&["create", "configmap", "y", "-n", "missing"]);
    assert!(err.contains("namespaces \"missing\" not found"), "{err}");
}

#[test]
fn pods_print_with_upstream_columns() {
    let c = Cluster::start();
    c.kubectl_ok(&[
        "run",
        "p",
        "--image=busybox:1.36",
        "--restart=Never",
        "--",
        "sleep",
        "3600",
    ]);
    let out = c.kubectl_ok(&["get", "pods", "-A", "-o", "wide"]);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        &header[..6],
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );
    assert!(out.contains("0/1") && out.contains("Pending"), "{out}");
    let policy = c.kubectl_ok(&[
        "get",
        "pod",
        "p",
        "-o",
        "jsonpath={.spec.restartPolicy} {.spec.containers[0].imagePullPolicy}",
    ]);
    assert_eq!(policy, "Never IfNotPresent");
}

#[test]
fn a_pods_ephemeralcontainers_subresource_reads_as_the_pod() {
    let c = Cluster::start();
    c.kubectl_ok(&["run", "eph", "--image=busybox", "--restart=Never"]);
    let (code, pod) = c.curl_json(&["/api/v1/namespaces/default/pods/eph/ephemeralcontainers"]);
    assert_eq!(
        (code, pod["kind"].as_str(), pod["metadata"]["name"].as_str()),
        (200, Some("Pod"), Some("eph"))
    );
    let (code, _) = c.curl_json(&["/api/v1/namespaces/default/pods/nope/ephemeralcontainers"]);
    assert_eq!(code, 404);
}

#[test]
fn storage_and_node_resources_clients_look_up_by_name_are_served() {
    let c = Cluster::start();
    let out = c.kubectl_ok(&["api-resources", "--api-group=storage.k8s.io", "-o", "name"]);
    for name in [
        "csidrivers.storage.k8s.io",
        "csinodes.storage.k8s.io",
        "csistoragecapacities.storage.k8s.io",
        "storageclasses.storage.k8s.io",
        "volumeattachments.storage.k8s.io",
        "volumeattributesclasses.storage.k8s.io",
    ] {
        assert!(out.lines().any(|l| l == name), "{name} missing from {out}");
    }
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: gvisor\nhandler: runsc\n"),
    );
    let table = c.kubectl_ok(&["get", "runtimeclass", "gvisor"]);
    assert!(
        table.starts_with("NAME") && table.contains("HANDLER") && table.contains("runsc"),
        "{table}"
    );
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: storage.k8s.io/v1\nkind: CSIDriver\nmetadata:\n  name: hostpath.csi.k8s.io\nspec:\n  podInfoOnMount: true\n"),
    );
    let drivers = c.kubectl_ok(&["get", "csidrivers"]);
    let header: Vec<&str> = drivers
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "ATTACHREQUIRED",
            "PODINFOONMOUNT",
            "STORAGECAPACITY",
            "TOKENREQUESTS",
            "REQUIRESREPUBLISH",
            "MODES",
            "AGE"
        ],
        "{drivers}"
    );
    let capacities = c.kubectl(&["get", "csistoragecapacities", "-A"]);
    assert!(capacities.status.success());
    assert!(String::from_utf8_lossy(&capacities.stderr).contains("No resources found"));
}

#[test]
fn a_cluster_ip_is_free_again_once_its_namespace_is_deleted() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "old"]);
    let create = |ns: &str| {
        c.kubectl(&[
            "create",
            "service",
            "clusterip",
            "fixed",
            "--tcp=80:80",
            "--clusterip=10.96.0.123",
            "-n",
            ns,
        ])
    };
    assert!(create("old").status.success());
    let (code, _) = c.curl_json(&["/apis/networking.k8s.io/v1/ipaddresses/10.96.0.123"]);
    assert_eq!(code, 200, "the address is claimed");
    let taken = create("default");
    assert!(String::from_utf8_lossy(&taken.stderr).contains("already allocated"));
    c.kubectl_ok(&["delete", "namespace", "old", "--wait=true", "--timeout=60s"]);
    let again = create("default");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// Events are one set, stored as core Events and served in both groups, as upstream: one
/// written through `events.k8s.io/v1` reads back through core `v1` and the other way round,
/// in lists, tables and watches.
#[test]
fn events_written_in_either_group_are_read_in_both() {
    let c = Cluster::start();
    let new_api = "apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: pulled.1, namespace: default}
eventTime: 2026-12-01T08:00:00.000000Z
reportingController: example.com/puller
reportingInstance: node-a
action: Pull
reason: Pulled
type: Normal
note: image pulled
regarding: {kind: Pod, name: web, namespace: default}
";
    let core = "apiVersion: v1
kind: Event
metadata: {name: started.1, namespace: default}
involvedObject: {kind: Pod, name: web, namespace: default}
reason: Started
message: container started
type: Normal
source: {component: kubelet, host: node-a}
count: 2
";
    for manifest in [new_api, core] {
        let out = c.kubectl_stdin(&["create", "-f", "-"], Some(manifest));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let as_core: serde_json::Value =
        serde_json::from_str(&c.kubectl_ok(&["get", "events.v1.", "pulled.1", "-o", "json"]))
            .unwrap();
    assert_eq!(as_core["apiVersion"], "v1");
    assert_eq!(as_core["message"], "image pulled");
    assert_eq!(as_core["involvedObject"]["name"], "web");
    assert_eq!(as_core["reportingComponent"], "example.com/puller");
    let as_new: serde_json::Value = serde_json::from_str(&c.kubectl_ok(&[
        "get",
        "events.v1.events.k8s.io",
        "started.1",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(as_new["apiVersion"], "events.k8s.io/v1");
    assert_eq!(as_new["note"], "container started");
    assert_eq!(as_new["regarding"]["kind"], "Pod");
    assert_eq!(as_new["deprecatedSource"]["component"], "kubelet");
    assert_eq!(as_new["deprecatedCount"], 2);
    // Both in either group's list and table.
    for resource in ["events.v1.", "events.v1.events.k8s.io"] {
        let names = c.kubectl_ok(&["get", resource, "-o", "name"]);
        assert!(
            names.contains("pulled.1") && names.contains("started.1"),
            "{resource}: {names}"
        );
        let table = c.kubectl_ok(&["get", resource]);
        assert!(table.contains("image pulled"), "{resource}: {table}");
        assert!(table.contains("container started"), "{resource}: {table}");
    }
    // A watch through events.k8s.io sends the new API's shape.
    let out = c.curl(&[
        "/apis/events.k8s.io/v1/namespaces/default/events?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3Dstarted.1",
    ]);
    let first: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["note"], "container started");
}

/// Field selectors read fields as upstream's field sets give them: Services by type and
/// cluster IP, a pod that leaves `hostNetwork` unset as `false`.
#[test]
fn field_selectors_read_unset_fields_and_services_as_upstream() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "service", "nodeport", "np", "--tcp=80"]);
    c.kubectl_ok(&["create", "service", "clusterip", "cip", "--tcp=80"]);
    let by_type = c.kubectl_ok(&[
        "get",
        "services",
        "--field-selector",
        "spec.type=NodePort",
        "-o",
        "name",
    ]);
    assert_eq!(by_type.trim(), "service/np");
    let ip = c.kubectl_ok(&["get", "service", "cip", "-o", "jsonpath={.spec.clusterIP}"]);
    let by_ip = c.kubectl_ok(&[
        "get",
        "services",
        "--field-selector",
        &format!("spec.clusterIP={ip}"),
        "-o",
        "name",
    ]);
    assert_eq!(by_ip.trim(), "service/cip");
    let out = c.kubectl_stdin(
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pods = c.kubectl_ok(&[
        "get",
        "pods",
        "--field-selector",
        "spec.hostNetwork=false",
        "-o",
        "name",
    ]);
    assert_eq!(pods.trim(), "pod/p");
    let none = c.kubectl_ok(&[
        "get",
        "pods",
        "--field-selector",
        "spec.hostNetwork=true",
        "-o",
        "name",
    ]);
    assert_eq!(none.trim(), "");
}

//! Table-driven tests of the printers: cells per resource, and the Table envelope.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::*;

/// The fixed "now" of every test.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-06-01T12:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A timestamp `d` before [`now`].
fn ago(d: Duration) -> String {
    (now() - d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn meta(name: &str, created: Duration) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(created)})
}

/// Asserts the cells of each `(description, object, expected cells)` case.
fn check(group: &str, resource: &str, cases: Vec<(&str, Value, Value)>) {
    let width = columns(group, resource).len();
    for (what, obj, want) in cases {
        let got = cells(group, resource, &obj, now());
        assert_eq!(got.len(), width, "{resource} {what}: one cell per column");
        assert_eq!(Value::Array(got), want, "{resource} {what}");
    }
}

#[test]
fn pod_cells() {
    let running = json!({
        "metadata": meta("web-1", Duration::minutes(17)),
        "spec": {"nodeName": "node-a", "containers": [{"name": "a"}, {"name": "b"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.5",
            "podIPs": [{"ip": "10.0.0.5"}],
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2,
                 "state": {"running": {"startedAt": ago(Duration::minutes(5))}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(Duration::minutes(5))}}},
                {"name": "b", "ready": false, "restartCount": 0,
                 "state": {"running": {}}}
            ]
        }
    });
    let creating = json!({
        "metadata": meta("web-2", Duration::seconds(45)),
        "spec": {"containers": [{"name": "a"}], "nodeName": "node-a"},
        "status": {
            "phase": "Pending",
            "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}}}]
        }
    });
    let completed = json!({
        "metadata": meta("job-x", Duration::hours(77)),
        "spec": {"containers": [{"name": "a"}]},
        "status": {
            "phase": "Succeeded",
            "podIP": "10.0.0.9",
            "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]
        }
    });
    let mut terminating = running.clone();
    terminating["metadata"]["deletionTimestamp"] = json!(ago(Duration::seconds(3)));
    let init_waiting = json!({
        "metadata": meta("init", Duration::seconds(303)),
        "spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [
                {"name": "i1", "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
                {"name": "i2", "restartCount": 0, "state": {"running": {}}}
            ]
        }
    });
    let crashing = json!({
        "metadata": meta("crash", Duration::days(400)),
        "spec": {"containers": [{"name": "a"}], "readinessGates": [{"conditionType": "x/ok"}]},
        "status": {
            "phase": "Running",
            "nominatedNodeName": "node-b",
            "conditions": [{"type": "x/ok", "status": "True"}],
            "containerStatuses": [{"name": "a", "ready": false, "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(Duration::seconds(303))}}}]
        }
    });
    check(
        "",
        "pods",
        vec![
            (
                "running",
                running,
                json!([
                    "web-1",
                    "1/2",
                    "Running",
                    "2 (5m ago)",
                    "17m",
                    "10.0.0.5",
                    "node-a",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "pending ContainerCreating",
                creating,
                json!([
                    "web-2",
                    "0/1",
                    "ContainerCreating",
                    "0",
                    "45s",
                    "<none>",
                    "node-a",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "completed",
                completed,
                json!([
                    "job-x",
                    "0/1",
                    "Completed",
                    "0",
                    "3d5h",
                    "10.0.0.9",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "terminating",
                terminating,
                json!([
                    "web-1",
                    "1/2",
                    "Terminating",
                    "2 (5m ago)",
                    "17m",
                    "10.0.0.5",
                    "node-a",
                    "<none>",
                    "<none>"
                ]),
            ),
            (
                "second init container running",
                init_waiting,
                json!([
                    "init", "0/1", "Init:1/2", "0", "5m3s", "<none>", "<none>", "<none>", "<none>"
                ]),
            ),
            (
                "crash loop with readiness gate",
                crashing,
                json!([
                    "crash",
                    "0/1",
                    "CrashLoopBackOff",
                    "7 (5m3s ago)",
                    "400d",
                    "<none>",
                    "<none>",
                    "node-b",
                    "1/1"
                ]),
            ),
            (
                "sparse",
                json!({}),
                json!([
                    "",
                    "0/0",
                    "",
                    "0",
                    "<unknown>",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>"
                ]),
            ),
        ],
    );
}

#[test]
fn pod_rows_mark_completed_pods() {
    let done = json!({"metadata": {"name": "p"}, "status": {"phase": "Succeeded"}});
    let row = table_row("", "pods", &done, now(), IncludeObject::Metadata);
    assert_eq!(
        row["conditions"],
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                "message": "The pod has completed successfully."}])
    );
    let running = json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}});
    let row = table_row("", "pods", &running, now(), IncludeObject::Metadata);
    assert!(row.get("conditions").is_none());
}

#[test]
fn service_cells() {
    let cluster_ip = json!({
        "metadata": meta("web", Duration::hours(5)),
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                 "selector": {"app": "web", "tier": "fe"},
                 "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}
    });
    let node_port = json!({
        "metadata": meta("np", Duration::minutes(260)),
        "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.11"],
                 "ports": [{"port": 80, "nodePort": 30080}, {"port": 443, "nodePort": 30443, "protocol": "TCP"}]}
    });
    let lb_pending = json!({
        "metadata": meta("lb", Duration::seconds(119)),
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"],
                 "ports": [{"port": 443, "nodePort": 30443, "protocol": "TCP"}]},
        "status": {"loadBalancer": {}}
    });
    let lb_ready = json!({
        "metadata": meta("lb2", Duration::seconds(121)),
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.13"], "externalIPs": ["1.2.3.4"],
                 "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"}]}}
    });
    let external_name = json!({
        "metadata": meta("ext", Duration::days(3)),
        "spec": {"type": "ExternalName", "externalName": "db.example.com"}
    });
    let headless = json!({
        "metadata": meta("hl", Duration::days(9)),
        "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]}
    });
    check(
        "",
        "services",
        vec![
            (
                "ClusterIP",
                cluster_ip,
                json!([
                    "web",
                    "ClusterIP",
                    "10.96.0.10",
                    "<none>",
                    "80/TCP,53/UDP",
                    "5h",
                    "app=web,tier=fe"
                ]),
            ),
            (
                "NodePort",
                node_port,
                json!([
                    "np",
                    "NodePort",
                    "10.96.0.11",
                    "<none>",
                    "80:30080/TCP,443:30443/TCP",
                    "4h20m",
                    "<none>"
                ]),
            ),
            (
                "LoadBalancer pending",
                lb_pending,
                json!([
                    "lb",
                    "LoadBalancer",
                    "10.96.0.12",
                    "<pending>",
                    "443:30443/TCP",
                    "119s",
                    "<none>"
                ]),
            ),
            (
                "LoadBalancer with ingress and external IPs",
                lb_ready,
                json!([
                    "lb2",
                    "LoadBalancer",
                    "10.96.0.13",
                    "5.6.7.8,lb.example.com,1.2.3.4",
                    "80:31000/TCP",
                    "2m1s",
                    "<none>"
                ]),
            ),
            (
                "ExternalName",
                external_name,
                json!([
                    "ext",
                    "ExternalName",
                    "<none>",
                    "db.example.com",
                    "<none>",
                    "3d",
                    "<none>"
                ]),
            ),
            (
                "headless, type defaulted",
                headless,
                json!([
                    "hl",
                    "ClusterIP",
                    "None",
                    "<none>",
                    "5432/TCP",
                    "9d",
                    "<none>"
                ]),
            ),
        ],
    );
}

#[test]
fn deployment_cells() {
    let ready = json!({
        "metadata": meta("web", Duration::days(2)),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.27"},
                {"name": "sidecar", "image": "busybox"}
            ]}}
        },
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    let fresh = json!({
        "metadata": meta("new", Duration::seconds(5)),
        "spec": {"selector": {"matchLabels": {"app": "new"},
                 "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
                 "template": {"spec": {"containers": [{"name": "c", "image": "img"}]}}}
    });
    check(
        "apps",
        "deployments",
        vec![
            (
                "partly ready",
                ready,
                json!([
                    "web",
                    "2/3",
                    3,
                    2,
                    "2d",
                    "nginx,sidecar",
                    "nginx:1.27,busybox",
                    "app=web"
                ]),
            ),
            (
                "no status yet, replicas defaulted",
                fresh,
                json!([
                    "new",
                    "0/1",
                    0,
                    0,
                    "5s",
                    "c",
                    "img",
                    "app=new,env in (dev,prod)"
                ]),
            ),
            (
                "sparse",
                json!({}),
                json!(["", "0/1", 0, 0, "<unknown>", "", "", ""]),
            ),
        ],
    );
}

#[test]
fn config_map_cells() {
    check(
        "",
        "configmaps",
        vec![
            (
                "data and binaryData",
                json!({"metadata": meta("cfg", Duration::minutes(7)),
                       "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
                json!(["cfg", 3, "7m"]),
            ),
            (
                "empty",
                json!({"metadata": meta("empty", Duration::hours(8))}),
                json!(["empty", 0, "8h"]),
            ),
        ],
    );
}

#[test]
fn secret_cells() {
    check(
        "",
        "secrets",
        vec![
            (
                "tls",
                json!({"metadata": meta("cert", Duration::days(760)),
                       "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
                json!(["cert", "kubernetes.io/tls", 2, "2y30d"]),
            ),
            (
                "type defaulted, stringData counted",
                json!({"metadata": meta("s", Duration::seconds(10)),
                       "data": {"a": "eA=="}, "stringData": {"a": "x", "b": "y"}}),
                json!(["s", "Opaque", 2, "10s"]),
            ),
        ],
    );
}

#[test]
fn namespace_cells() {
    let mut terminating = json!({"metadata": meta("old", Duration::days(30)),
                                 "status": {"phase": "Terminating"}});
    terminating["metadata"]["deletionTimestamp"] = json!(ago(Duration::seconds(1)));
    check(
        "",
        "namespaces",
        vec![
            (
                "active",
                json!({"metadata": meta("default", Duration::hours(47)), "status": {"phase": "Active"}}),
                json!(["default", "Active", "47h"]),
            ),
            (
                "terminating",
                terminating,
                json!(["old", "Terminating", "30d"]),
            ),
            (
                "phase defaulted",
                json!({"metadata": meta("x", Duration::seconds(1))}),
                json!(["x", "Active", "1s"]),
            ),
        ],
    );
}

#[test]
fn core_event_cells() {
    let repeated = json!({
        "metadata": meta("web.17a", Duration::minutes(30)),
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default",
                           "fieldPath": "spec.containers{nginx}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container\n",
        "source": {"component": "kubelet", "host": "node-a"},
        "firstTimestamp": ago(Duration::minutes(30)),
        "lastTimestamp": ago(Duration::seconds(40)),
        "count": 12,
        "type": "Warning"
    });
    let new_style = json!({
        "metadata": meta("web.17b", Duration::minutes(3)),
        "involvedObject": {"kind": "Deployment", "name": "web"},
        "reason": "ScalingReplicaSet",
        "message": "Scaled up replica set web-abc to 3",
        "eventTime": ago(Duration::minutes(3)),
        "reportingComponent": "deployment-controller",
        "type": "Normal"
    });
    let series = json!({
        "metadata": meta("s", Duration::hours(1)),
        "involvedObject": {"kind": "Node"},
        "eventTime": ago(Duration::hours(1)),
        "series": {"count": 5, "lastObservedTime": ago(Duration::seconds(20))},
        "reportingComponent": "kubelet",
        "reportingInstance": "node-a",
        "type": "Normal",
        "reason": "R"
    });
    check(
        "",
        "events",
        vec![
            (
                "repeated kubelet event",
                repeated,
                json!([
                    "40s",
                    "Warning",
                    "BackOff",
                    "pod/web",
                    "spec.containers{nginx}",
                    "kubelet, node-a",
                    "Back-off restarting failed container",
                    "30m",
                    12,
                    "web.17a"
                ]),
            ),
            (
                "singleton with eventTime only",
                new_style,
                json!([
                    "3m",
                    "Normal",
                    "ScalingReplicaSet",
                    "deployment/web",
                    "",
                    "deployment-controller",
                    "Scaled up replica set web-abc to 3",
                    "3m",
                    1,
                    "web.17b"
                ]),
            ),
            (
                "series",
                series,
                json!([
                    "20s",
                    "Normal",
                    "R",
                    "node",
                    "",
                    "kubelet, node-a",
                    "",
                    "60m",
                    5,
                    "s"
                ]),
            ),
            (
                "sparse",
                json!({}),
                json!(["<unknown>", "", "", "", "", "", "", "<unknown>", 1, ""]),
            ),
        ],
    );
}

#[test]
fn events_k8s_io_events_print_from_their_stored_core_form() {
    let ev = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": meta("web.17c", Duration::minutes(10)),
        "regarding": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{a}"},
        "reason": "Pulled",
        "note": "Container image already present",
        "type": "Normal",
        "eventTime": ago(Duration::minutes(10)),
        "reportingController": "kubelet",
        "reportingInstance": "node-a",
        "deprecatedCount": 2,
        "deprecatedFirstTimestamp": ago(Duration::minutes(10)),
        "deprecatedLastTimestamp": ago(Duration::minutes(2))
    });
    let core = crate::resources::find("", "v1", "events").unwrap();
    let ev = crate::conversion::convert(ev, core).unwrap();
    assert_eq!(columns("events.k8s.io", "events"), columns("", "events"));
    check(
        "events.k8s.io",
        "events",
        vec![(
            "kubelet event",
            ev,
            json!([
                "2m",
                "Normal",
                "Pulled",
                "pod/web",
                "spec.containers{a}",
                "kubelet, node-a",
                "Container image already present",
                "10m",
                2,
                "web.17c"
            ]),
        )],
    );
}

#[test]
fn other_resource_cells() {
    let m = |n: &str| meta(n, Duration::minutes(17));
    check(
        "",
        "nodes",
        vec![(
            "ready control plane, cordoned",
            json!({"metadata": {"name": "n1", "creationTimestamp": ago(Duration::days(1)),
                                "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "master"}},
                   "spec": {"unschedulable": true},
                   "status": {"conditions": [{"type": "Ready", "status": "True"}],
                              "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}],
                              "nodeInfo": {"kubeletVersion": "v1.34.0", "osImage": "Debian"}}}),
            json!([
                "n1",
                "Ready,SchedulingDisabled",
                "control-plane,master",
                "24h",
                "v1.34.0",
                "192.168.1.2",
                "<none>",
                "Debian",
                "<unknown>",
                "<unknown>"
            ]),
        )],
    );
    check(
        "",
        "endpoints",
        vec![
            (
                "more than three",
                json!({"metadata": m("web"), "subsets": [{
                    "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}],
                    "ports": [{"port": 80}, {"port": 443}]}]}),
                json!([
                    "web",
                    "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 3 more...",
                    "17m"
                ]),
            ),
            (
                "none",
                json!({"metadata": m("e")}),
                json!(["e", "<none>", "17m"]),
            ),
        ],
    );
    check(
        "",
        "persistentvolumeclaims",
        vec![(
            "bound",
            json!({"metadata": m("data"),
                   "spec": {"volumeName": "pv-1", "storageClassName": "standard"},
                   "status": {"phase": "Bound", "capacity": {"storage": "1024Mi"},
                              "accessModes": ["ReadWriteMany", "ReadWriteOnce"]}}),
            json!([
                "data",
                "Bound",
                "pv-1",
                "1Gi",
                "RWO,RWX",
                "standard",
                "<unset>",
                "17m",
                "Filesystem"
            ]),
        )],
    );
    check(
        "batch",
        "jobs",
        vec![(
            "complete",
            json!({"metadata": m("pi"),
                   "spec": {"completions": 1, "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
                            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}},
                   "status": {"succeeded": 1, "startTime": ago(Duration::minutes(17)),
                              "completionTime": ago(Duration::minutes(16)),
                              "conditions": [{"type": "Complete", "status": "True"}]}}),
            json!([
                "pi",
                "Complete",
                "1/1",
                "60s",
                "17m",
                "pi",
                "perl",
                "batch.kubernetes.io/controller-uid=u"
            ]),
        )],
    );
    check(
        "rbac.authorization.k8s.io",
        "rolebindings",
        vec![(
            "mixed subjects",
            json!({"metadata": m("rb"), "roleRef": {"kind": "Role", "name": "reader"},
                   "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                                {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
                                {"kind": "User", "name": "bob"}]}),
            json!(["rb", "Role/reader", "17m", "alice, bob", "devs", "ns/sa"]),
        )],
    );
    check(
        "storage.k8s.io",
        "storageclasses",
        vec![(
            "default class",
            json!({"metadata": {"name": "standard", "creationTimestamp": ago(Duration::minutes(17)),
                                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                   "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}),
            json!([
                "standard (default)",
                "rancher.io/local-path",
                "Delete",
                "WaitForFirstConsumer",
                false,
                "17m"
            ]),
        )],
    );
    check(
        "apps",
        "controllerrevisions",
        vec![(
            "owned by a daemon set",
            json!({"metadata": {"name": "ds-1", "creationTimestamp": ago(Duration::minutes(17)),
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                                     "name": "ds", "controller": true}]},
                   "revision": 3}),
            json!(["ds-1", "daemonset.apps/ds", 3, "17m"]),
        )],
    );
}

#[test]
fn storage_driver_objects() {
    let created = || ago(Duration::minutes(5));
    check(
        "storage.k8s.io",
        "csidrivers",
        vec![
            (
                "unset fields read as the defaults",
                json!({"metadata": {"name": "hostpath.csi.k8s.io", "creationTimestamp": created()},
                       "spec": {}}),
                json!([
                    "hostpath.csi.k8s.io",
                    true,
                    false,
                    false,
                    "<unset>",
                    false,
                    "<none>",
                    "5m"
                ]),
            ),
            (
                "token audiences and modes joined",
                json!({"metadata": {"name": "d", "creationTimestamp": created()},
                       "spec": {"attachRequired": false, "podInfoOnMount": true,
                                "tokenRequests": [{"audience": "vault"}, {"audience": "sts"}],
                                "volumeLifecycleModes": ["Persistent", "Ephemeral"]}}),
                json!([
                    "d",
                    false,
                    true,
                    false,
                    "vault,sts",
                    false,
                    "Persistent,Ephemeral",
                    "5m"
                ]),
            ),
        ],
    );
    check(
        "storage.k8s.io",
        "csinodes",
        vec![(
            "drivers counted",
            json!({"metadata": {"name": "n1", "creationTimestamp": created()},
                   "spec": {"drivers": [{"name": "a"}, {"name": "b"}]}}),
            json!(["n1", 2, "5m"]),
        )],
    );
    check(
        "storage.k8s.io",
        "csistoragecapacities",
        vec![
            (
                "capacity as given",
                json!({"metadata": {"name": "c1"}, "storageClassName": "fast", "capacity": "10Gi"}),
                json!(["c1", "fast", "10Gi"]),
            ),
            (
                "no capacity",
                json!({"metadata": {"name": "c2"}, "storageClassName": "fast"}),
                json!(["c2", "fast", "<unset>"]),
            ),
        ],
    );
    check(
        "storage.k8s.io",
        "volumeattachments",
        vec![(
            "attached",
            json!({"metadata": {"name": "csi-1", "creationTimestamp": created()},
                   "spec": {"attacher": "hostpath.csi.k8s.io", "nodeName": "n1",
                            "source": {"persistentVolumeName": "pv-1"}},
                   "status": {"attached": true}}),
            json!(["csi-1", "hostpath.csi.k8s.io", "pv-1", "n1", true, "5m"]),
        )],
    );
    check(
        "storage.k8s.io",
        "volumeattributesclasses",
        vec![(
            "driver",
            json!({"metadata": {"name": "gold", "creationTimestamp": created()},
                   "driverName": "hostpath.csi.k8s.io"}),
            json!(["gold", "hostpath.csi.k8s.io", "5m"]),
        )],
    );
}

#[test]
fn default_table_for_resources_without_printer() {
    for (group, resource) in [
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("", "limitranges"),
        ("example.com", "widgets"),
    ] {
        let cols: Vec<_> = columns(group, resource).iter().map(|c| c.name).collect();
        assert_eq!(cols, ["Name", "Created At"], "{resource}");
        assert_eq!(columns(group, resource)[1].type_, "date");
    }
    let role = json!({"metadata": {"name": "r", "creationTimestamp": "2024-05-01T10:00:00Z"}});
    assert_eq!(
        cells("rbac.authorization.k8s.io", "roles", &role, now()),
        vec![json!("r"), json!("2024-05-01T10:00:00Z")]
    );
    assert_eq!(
        cells("", "limitranges", &json!({}), now()),
        vec![json!(""), json!("0001-01-01T00:00:00Z")]
    );
}

/// Every printer copes with sparse and odd objects, and gives one cell per column.
#[test]
fn every_printer_survives_sparse_objects() {
    let resources = [
        ("", "pods"),
        ("", "podtemplates"),
        ("", "services"),
        ("", "endpoints"),
        ("", "namespaces"),
        ("", "configmaps"),
        ("", "secrets"),
        ("", "serviceaccounts"),
        ("", "nodes"),
        ("", "events"),
        ("events.k8s.io", "events"),
        ("", "persistentvolumes"),
        ("", "persistentvolumeclaims"),
        ("", "resourcequotas"),
        ("", "replicationcontrollers"),
        ("", "componentstatuses"),
        ("", "limitranges"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("apps", "controllerrevisions"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("rbac.authorization.k8s.io", "clusterrolebindings"),
        ("coordination.k8s.io", "leases"),
        ("discovery.k8s.io", "endpointslices"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "ingressclasses"),
        ("networking.k8s.io", "networkpolicies"),
        ("policy", "poddisruptionbudgets"),
        ("storage.k8s.io", "storageclasses"),
        ("certificates.k8s.io", "certificatesigningrequests"),
        ("scheduling.k8s.io", "priorityclasses"),
        ("flowcontrol.apiserver.k8s.io", "flowschemas"),
        (
            "flowcontrol.apiserver.k8s.io",
            "prioritylevelconfigurations",
        ),
        (
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
        ),
        ("node.k8s.io", "runtimeclasses"),
        ("networking.k8s.io", "servicecidrs"),
        ("networking.k8s.io", "ipaddresses"),
        ("apiregistration.k8s.io", "apiservices"),
        ("storage.k8s.io", "csidrivers"),
        ("storage.k8s.io", "csinodes"),
        ("storage.k8s.io", "csistoragecapacities"),
        ("storage.k8s.io", "volumeattachments"),
        ("storage.k8s.io", "volumeattributesclasses"),
    ];
    let odd = [
        json!({}),
        json!(null),
        json!([1, 2]),
        json!({"metadata": null, "spec": "x", "status": 7}),
        json!({"metadata": {"name": 5, "creationTimestamp": "yesterday",
                            "deletionTimestamp": true, "labels": [], "ownerReferences": {}},
               "spec": {"containers": "no", "ports": [null, 1], "selector": {"matchExpressions": [null]},
                        "rules": [7], "subjects": [[]], "replicas": "3"},
               "status": {"containerStatuses": [null, {"state": null}], "conditions": {},
                          "initContainerStatuses": [{"state": {"terminated": "x"}}],
                          "hard": {"cpu": 1}, "capacity": {"storage": true}},
               "subsets": [{"addresses": [null], "ports": [{"port": "80"}]}],
               "series": {}, "endpoints": [{"addresses": [1]}], "ports": [{}]}),
    ];
    for (group, resource) in resources {
        let width = columns(group, resource).len();
        assert!(columns(group, resource)[..]
            .iter()
            .any(|c| c.format == "name"));
        for obj in &odd {
            let got = cells(group, resource, obj, now());
            assert_eq!(got.len(), width, "{group}/{resource} {obj}");
        }
    }
}

#[test]
fn wide_columns_and_types_match_upstream() {
    let names =
        |g, r| -> Vec<(&str, i32)> { columns(g, r).iter().map(|c| (c.name, c.priority)).collect() };
    assert_eq!(
        names("", "pods"),
        [
            ("Name", 0),
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1),
            ("Nominated Node", 1),
            ("Readiness Gates", 1)
        ]
    );
    assert_eq!(
        names("", "events"),
        [
            ("Last Seen", 0),
            ("Type", 0),
            ("Reason", 0),
            ("Object", 0),
            ("Subobject", 1),
            ("Source", 1),
            ("Message", 0),
            ("First Seen", 1),
            ("Count", 1),
            ("Name", 1)
        ]
    );
    assert_eq!(
        names("", "nodes"),
        [
            ("Name", 0),
            ("Status", 0),
            ("Roles", 0),
            ("Age", 0),
            ("Version", 0),
            ("Internal-IP", 1),
            ("External-IP", 1),
            ("OS-Image", 1),
            ("Kernel-Version", 1),
            ("Container-Runtime", 1)
        ]
    );
    let age = columns("", "configmaps")[2];
    assert_eq!(age.type_, "string");
    assert!(age
        .description
        .starts_with("CreationTimestamp is a timestamp"));
    assert!(age
        .description
        .contains("in UTC.\n\nPopulated by the system."));
    assert_eq!(columns("", "pods")[0].format, "name");
    assert_eq!(columns("", "pods")[1].format, "");
}

#[test]
fn column_json_shape() {
    let c = columns("", "pods")[5].to_json();
    let keys: Vec<&String> = c
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["name", "type", "format", "description", "priority"]);
    assert_eq!(c["name"], "IP");
    assert_eq!(c["priority"], 1);
}

#[test]
fn include_object_parses() {
    assert_eq!(IncludeObject::parse(""), Ok(IncludeObject::Metadata));
    assert_eq!(
        IncludeObject::parse("Metadata"),
        Ok(IncludeObject::Metadata)
    );
    assert_eq!(IncludeObject::parse("None"), Ok(IncludeObject::None));
    assert_eq!(IncludeObject::parse("Object"), Ok(IncludeObject::Object));
    let err = IncludeObject::parse("metadata").err();
    assert_eq!(
        err.map(|e| e.to_string()).as_deref(),
        Some("includeObject: Invalid value: \"metadata\": must be 'Metadata', 'Object', 'None', or empty")
    );
}

#[test]
fn table_envelope() {
    let a = json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "a", "namespace": "ns", "labels": {"x": "y"}}, "data": {"k": "v"}});
    let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}});
    let t = table(
        "",
        "configmaps",
        &[&a, &b],
        now(),
        IncludeObject::Metadata,
        "17",
        Some("tok"),
    );
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        t["metadata"],
        json!({"resourceVersion": "17", "continue": "tok"})
    );
    let keys: Vec<&String> = t
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "kind",
            "apiVersion",
            "metadata",
            "columnDefinitions",
            "rows"
        ]
    );
    assert_eq!(t["columnDefinitions"].as_array().map(Vec::len), Some(3));
    assert_eq!(t["rows"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        t["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
               "metadata": {"name": "a", "namespace": "ns", "labels": {"x": "y"}}})
    );
    assert_eq!(t["rows"][0]["cells"], json!(["a", 1, "<unknown>"]));

    let t = table(
        "",
        "configmaps",
        &[&a],
        now(),
        IncludeObject::Object,
        "",
        None,
    );
    assert_eq!(t["metadata"], json!({}));
    assert_eq!(t["rows"][0]["object"], a);

    let row = table_row("", "configmaps", &b, now(), IncludeObject::None);
    assert_eq!(row, json!({"cells": ["b", 0, "<unknown>"], "object": null}));

    let t = table(
        "",
        "configmaps",
        &[],
        now(),
        IncludeObject::Metadata,
        "5",
        Some(""),
    );
    assert_eq!(t["metadata"], json!({"resourceVersion": "5"}));
    assert_eq!(t["rows"], json!([]));
}

#[test]
fn service_cidr_and_ip_address_cells() {
    check(
        "networking.k8s.io",
        "servicecidrs",
        vec![(
            "dual stack",
            json!({"metadata": meta("kubernetes", Duration::days(17)),
                "spec": {"cidrs": ["10.96.0.0/28", "fd00::/120"]}}),
            json!(["kubernetes", "10.96.0.0/28,fd00::/120", "17d"]),
        )],
    );
    check(
        "networking.k8s.io",
        "ipaddresses",
        vec![
            (
                "a Service's",
                json!({"metadata": meta("10.96.0.1", Duration::days(1)),
                    "spec": {"parentRef": {"group": "", "resource": "services", "namespace": "default", "name": "kubernetes"}}}),
                json!(["10.96.0.1", "services/default/kubernetes"]),
            ),
            (
                "a gateway's",
                json!({"metadata": meta("10.0.0.9", Duration::days(1)),
                    "spec": {"parentRef": {"group": "gateway.networking.k8s.io", "resource": "Gateways", "namespace": "ns", "name": "gw"}}}),
                json!(["10.0.0.9", "gateways.gateway.networking.k8s.io/ns/gw"]),
            ),
            (
                "none",
                json!({"metadata": meta("10.0.0.8", Duration::days(1))}),
                json!(["10.0.0.8", "<none>"]),
            ),
        ],
    );
}

#[test]
fn api_service_cells() {
    check(
        "apiregistration.k8s.io",
        "apiservices",
        vec![
            (
                "local",
                json!({"metadata": meta("v1.apps", Duration::days(2)), "spec": {"group": "apps"},
                    "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}}),
                json!(["v1.apps", "Local", "True", "2d"]),
            ),
            (
                "aggregated, down",
                json!({"metadata": meta("v1beta1.metrics.k8s.io", Duration::days(2)),
                    "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
                    "status": {"conditions": [{"type": "Available", "status": "False", "reason": "ServiceNotFound"}]}}),
                json!([
                    "v1beta1.metrics.k8s.io",
                    "kube-system/metrics-server",
                    "False (ServiceNotFound)",
                    "2d"
                ]),
            ),
            (
                "not judged",
                json!({"metadata": meta("v1.example.com", Duration::days(2))}),
                json!(["v1.example.com", "Local", "Unknown", "2d"]),
            ),
        ],
    );
}

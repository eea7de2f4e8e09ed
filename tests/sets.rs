//! StatefulSets and DaemonSets, driven with kubectl as a user drives them. Most clusters here
//! run without a node (`--disable-node`): those tests play the kubelet, marking pods Running
//! and Ready through `pods/status` as admin (and, for pods bound to the fake nodes the
//! DaemonSet tests create, finishing their deletion as a kubelet would). One test runs a real
//! node (containerd, root) with a DaemonSet and a StatefulSet of real pods.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::support::{eventually, Cluster};

fn get(c: &Cluster, path: &str) -> Option<Value> {
    let (code, body) = c.curl_json(&[path]);
    (code == 200).then_some(body)
}

fn items(c: &Cluster, path: &str) -> Vec<Value> {
    get(c, path)
        .and_then(|l| l["items"].as_array().cloned())
        .unwrap_or_default()
}

fn pods(c: &Cluster) -> Vec<Value> {
    items(c, "/api/v1/namespaces/default/pods")
}

/// The live pods by name.
fn live_pods(c: &Cluster) -> BTreeMap<String, Value> {
    pods(c)
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| (name(&p).to_string(), p))
        .collect()
}

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or_default()
}

fn sts(c: &Cluster, name: &str) -> Value {
    get(
        c,
        &format!("/apis/apps/v1/namespaces/default/statefulsets/{name}"),
    )
    .expect("statefulset")
}

fn ds(c: &Cluster, name: &str) -> Value {
    get(
        c,
        &format!("/apis/apps/v1/namespaces/default/daemonsets/{name}"),
    )
    .expect("daemonset")
}

fn revisions(c: &Cluster) -> Vec<Value> {
    items(c, "/apis/apps/v1/namespaces/default/controllerrevisions")
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn apply(c: &Cluster, yaml: &str) {
    let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(yaml));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn patch_status(c: &Cluster, path: &str, body: &Value) {
    let out = c.curl_json(&[
        path,
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/merge-patch+json",
        "-d",
        &body.to_string(),
    ]);
    assert_eq!(out.0, 200, "{path}: {}", out.1);
}

fn k8s_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The kubelet's part for one pod: Running and Ready now.
fn make_ready(c: &Cluster, pod: &str) {
    let now = k8s_now();
    patch_status(
        c,
        &format!("/api/v1/namespaces/default/pods/{pod}/status"),
        &json!({"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now}]}}),
    );
}

/// The kubelet's part for every pod: pods not yet Ready become Running and Ready; pods being
/// deleted from a (fake) node are removed, as the node would once they stopped.
fn play_kubelet(c: &Cluster) {
    for pod in pods(c) {
        if !pod["metadata"]["deletionTimestamp"].is_null() {
            c.curl(&[
                &format!("/api/v1/namespaces/default/pods/{}", name(&pod)),
                "-X",
                "DELETE",
                "-H",
                "Content-Type: application/json",
                "-d",
                r#"{"gracePeriodSeconds":0}"#,
            ]);
        } else if !is_ready(&pod) {
            make_ready(c, name(&pod));
        }
    }
}

fn image(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
}

fn statefulset(replicas: u32, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web, namespace: default}}
spec:
  replicas: {replicas}
  serviceName: nginx
  selector: {{matchLabels: {{app: web}}}}
{extra_spec}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: registry.example/web:1
"#
    )
}

/// Whether the StatefulSet's status answers its current generation and counts `ready`
/// ready members.
fn sts_caught_up(s: &Value, replicas: i64, ready: i64) -> bool {
    s["status"]["observedGeneration"] == s["metadata"]["generation"]
        && s["status"]["replicas"] == replicas
        && s["status"]["readyReplicas"] == ready
}

/// Plays the kubelet until the StatefulSet `web` has `n` ready members.
fn web_ready(c: &Cluster, n: i64) {
    eventually(&format!("{n} ready members of web"), 60, || {
        play_kubelet(c);
        sts_caught_up(&sts(c, "web"), n, n).then_some(())
    });
}

#[test]
fn ordered_ready_creates_web_0_and_waits_for_it_to_be_ready_before_web_1() {
    let c = Cluster::start();
    apply(&c, &statefulset(3, ""));
    // The controller has seen web-0 (status counts it) and, web-0 not being Ready, made
    // nothing more.
    eventually("web-0 counted and not ready", 20, || {
        sts_caught_up(&sts(&c, "web"), 1, 0).then_some(())
    });
    let names: Vec<String> = live_pods(&c).into_keys().collect();
    assert_eq!(names, ["web-0"]);
    let web0 = &live_pods(&c)["web-0"];
    assert_eq!(web0["spec"]["hostname"], "web-0");
    assert_eq!(web0["spec"]["subdomain"], "nginx");
    let labels = &web0["metadata"]["labels"];
    assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "web-0");
    assert_eq!(labels["apps.kubernetes.io/pod-index"], "0");
    let set = sts(&c, "web");
    assert_eq!(
        labels["controller-revision-hash"],
        set["status"]["updateRevision"]
    );
    assert_eq!(
        web0["metadata"]["ownerReferences"][0]["kind"],
        "StatefulSet"
    );
    assert_eq!(
        web0["metadata"]["ownerReferences"][0]["uid"],
        set["metadata"]["uid"]
    );

    make_ready(&c, "web-0");
    eventually("web-1 after web-0 is ready", 20, || {
        sts_caught_up(&sts(&c, "web"), 2, 1).then_some(())
    });
    let names: Vec<String> = live_pods(&c).into_keys().collect();
    assert_eq!(names, ["web-0", "web-1"]);
    web_ready(&c, 3);
    let out = c.kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=30s"]);
    // The default `rollingUpdate: {partition: 0}` makes kubectl report it as a partition.
    assert!(out.contains("3 new pods have been updated"), "{out}");
    // `kubectl describe` tells the story in upstream's words.
    eventually("the controller's events", 10, || {
        let events = c.kubectl_ok(&["get", "events", "-o", "json"]);
        (events.contains("create Pod web-0 in StatefulSet web successful")
            && events.contains("create Pod web-2 in StatefulSet web successful"))
        .then_some(())
    });
    let set = sts(&c, "web");
    assert_eq!(set["status"]["availableReplicas"], 3);
    assert_eq!(set["status"]["currentReplicas"], 3);
    assert_eq!(set["status"]["updatedReplicas"], 3);
    assert_eq!(
        set["status"]["currentRevision"],
        set["status"]["updateRevision"]
    );
}

#[test]
fn scale_down_removes_the_highest_ordinal_first() {
    let c = Cluster::start();
    apply(&c, &statefulset(3, ""));
    web_ready(&c, 3);
    c.kubectl_ok(&["scale", "statefulset/web", "--replicas=1"]);
    let mut seen = Vec::new();
    eventually("web scaled down to web-0", 30, || {
        let names: Vec<String> = live_pods(&c).into_keys().collect();
        assert!(
            names.contains(&"web-1".to_string()) || !names.contains(&"web-2".to_string()),
            "web-1 went before web-2: {names:?}"
        );
        if seen.last() != Some(&names) {
            seen.push(names.clone());
        }
        (sts_caught_up(&sts(&c, "web"), 1, 1) && names == ["web-0"]).then_some(())
    });
    eprintln!("member sets observed: {seen:?}");
    c.kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=30s"]);
}

#[test]
fn volume_claim_templates_give_each_member_its_own_claim() {
    let c = Cluster::start();
    apply(
        &c,
        &statefulset(
            2,
            r#"  podManagementPolicy: Parallel
  volumeClaimTemplates:
  - metadata: {name: www, labels: {tier: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}"#,
        ),
    );
    // Parallel: both members at once, without waiting for web-0 to be Ready.
    let members = eventually("both members", 20, || {
        let p = live_pods(&c);
        (p.len() == 2).then_some(p)
    });
    for ord in 0..2 {
        let claim = format!("www-web-{ord}");
        let pvc = get(
            &c,
            &format!("/api/v1/namespaces/default/persistentvolumeclaims/{claim}"),
        )
        .unwrap_or_else(|| panic!("claim {claim}"));
        assert_eq!(pvc["metadata"]["labels"]["app"], "web");
        assert_eq!(pvc["metadata"]["labels"]["tier"], "data");
        assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "1Gi");
        // Retain (the default): the claims do not go with the set.
        assert!(pvc["metadata"]["ownerReferences"].is_null(), "{pvc}");
        let pod = &members[&format!("web-{ord}")];
        let volumes = pod["spec"]["volumes"].as_array().expect("volumes");
        assert!(
            volumes
                .iter()
                .any(|v| v["name"] == "www" && v["persistentVolumeClaim"]["claimName"] == claim),
            "{volumes:?}"
        );
    }
    let set = sts(&c, "web");
    assert_eq!(
        set["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
}

#[test]
fn claims_of_removed_members_go_with_them_when_scaled_is_delete() {
    let c = Cluster::start();
    apply(
        &c,
        &statefulset(
            2,
            r#"  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy: {whenScaled: Delete}
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}"#,
        ),
    );
    let claim = |n: u32| {
        get(
            &c,
            &format!("/api/v1/namespaces/default/persistentvolumeclaims/www-web-{n}"),
        )
    };
    eventually("both claims", 20, || {
        (claim(0).is_some() && claim(1).is_some()).then_some(())
    });
    web_ready(&c, 2);
    c.kubectl_ok(&["scale", "statefulset/web", "--replicas=1"]);
    eventually("www-web-1 gone with web-1", 30, || {
        play_kubelet(&c);
        (claim(1).is_none() && sts_caught_up(&sts(&c, "web"), 1, 1)).then_some(())
    });
    assert!(claim(0).is_some());
}

#[test]
fn a_recreated_statefulset_adopts_the_revisions_and_pods_an_orphaning_delete_left_and_repairs_their_labels(
) {
    let c = Cluster::start();
    apply(&c, &statefulset(1, ""));
    web_ready(&c, 1);
    let old_pod_uid = live_pods(&c)["web-0"]["metadata"]["uid"].clone();
    c.kubectl_ok(&["delete", "statefulset/web", "--cascade=orphan"]);
    eventually("the orphans", 20, || {
        let revs = revisions(&c);
        (revs.len() == 1 && revs[0]["metadata"]["ownerReferences"].is_null()).then_some(())
    });
    c.kubectl_ok(&["label", "pod/web-0", "apps.kubernetes.io/pod-index-"]);
    apply(&c, &statefulset(1, ""));
    let uid = sts(&c, "web")["metadata"]["uid"].clone();
    eventually("the new set caught up", 20, || {
        sts_caught_up(&sts(&c, "web"), 1, 1).then_some(())
    });
    let revs = revisions(&c);
    assert_eq!(revs.len(), 1, "{revs:?}");
    assert_eq!(revs[0]["metadata"]["ownerReferences"][0]["uid"], uid);
    let pod = &live_pods(&c)["web-0"];
    assert_eq!(pod["metadata"]["uid"], old_pod_uid);
    assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], uid);
    assert_eq!(sts(&c, "web")["status"]["collisionCount"], 0);
    // Its identity label, taken away while it was an orphan, is back.
    assert_eq!(
        pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"],
        "0"
    );
}

#[test]
fn members_are_numbered_from_spec_ordinals_start() {
    let c = Cluster::start();
    apply(
        &c,
        &statefulset(2, "  podManagementPolicy: Parallel\n  ordinals: {start: 3}"),
    );
    let names = |c: &Cluster| live_pods(c).into_keys().collect::<Vec<_>>();
    eventually("web-3 and web-4", 20, || {
        (names(&c) == ["web-3", "web-4"]).then_some(())
    });
    assert_eq!(
        live_pods(&c)["web-3"]["metadata"]["labels"]["apps.kubernetes.io/pod-index"],
        "3"
    );
    c.kubectl_ok(&[
        "patch",
        "statefulset/web",
        "--type=merge",
        "-p",
        r#"{"spec":{"ordinals":{"start":4}}}"#,
    ]);
    eventually("web-4 and web-5", 20, || {
        (names(&c) == ["web-4", "web-5"]).then_some(())
    });
}

#[test]
fn a_partitioned_rolling_update_replaces_only_ordinals_at_or_above_the_partition() {
    let c = Cluster::start();
    apply(&c, &statefulset(3, ""));
    web_ready(&c, 3);
    let old_revision = sts(&c, "web")["status"]["updateRevision"].clone();
    c.kubectl_ok(&[
        "patch",
        "statefulset/web",
        "--type=merge",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":1}}}}"#,
    ]);
    c.kubectl_ok(&[
        "set",
        "image",
        "statefulset/web",
        "web=registry.example/web:2",
    ]);
    eventually("ordinals 1 and 2 updated", 60, || {
        play_kubelet(&c);
        let p = live_pods(&c);
        let updated = |n: &str| {
            p.get(n)
                .is_some_and(|p| image(p) == "registry.example/web:2")
        };
        assert!(
            updated("web-2") || !updated("web-1"),
            "web-1 was updated before web-2"
        );
        let s = sts(&c, "web");
        (sts_caught_up(&s, 3, 3) && s["status"]["updatedReplicas"] == 2).then_some(())
    });
    let p = live_pods(&c);
    assert_eq!(image(&p["web-0"]), "registry.example/web:1");
    assert_eq!(
        p["web-0"]["metadata"]["labels"]["controller-revision-hash"],
        old_revision
    );
    let s = sts(&c, "web");
    assert_ne!(s["status"]["updateRevision"], old_revision);
    assert_eq!(s["status"]["currentRevision"], old_revision);
    for n in ["web-1", "web-2"] {
        assert_eq!(image(&p[n]), "registry.example/web:2");
        assert_eq!(
            p[n]["metadata"]["labels"]["controller-revision-hash"],
            s["status"]["updateRevision"]
        );
    }
    let out = c.kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=30s"]);
    assert!(out.contains("partitioned roll out complete"), "{out}");

    c.kubectl_ok(&[
        "patch",
        "statefulset/web",
        "--type=merge",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#,
    ]);
    eventually("web-0 updated too", 60, || {
        play_kubelet(&c);
        let s = sts(&c, "web");
        (sts_caught_up(&s, 3, 3)
            && s["status"]["updatedReplicas"] == 3
            && s["status"]["currentRevision"] == s["status"]["updateRevision"])
            .then_some(())
    });
    assert_eq!(image(&live_pods(&c)["web-0"]), "registry.example/web:2");
}

#[test]
fn kubectl_rollout_history_and_undo_bring_back_the_previous_statefulset_template() {
    let c = Cluster::start();
    apply(&c, &statefulset(2, ""));
    web_ready(&c, 2);
    c.kubectl_ok(&[
        "set",
        "image",
        "statefulset/web",
        "web=registry.example/web:2",
    ]);
    let updated = |c: &Cluster, img: &str| {
        let s = sts(c, "web");
        sts_caught_up(&s, 2, 2)
            && s["status"]["updatedReplicas"] == 2
            && s["status"]["currentRevision"] == s["status"]["updateRevision"]
            && live_pods(c).values().all(|p| image(p) == img)
    };
    eventually("web rolled to v2", 60, || {
        play_kubelet(&c);
        updated(&c, "registry.example/web:2").then_some(())
    });
    c.kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=30s"]);
    let revs = revisions(&c);
    assert_eq!(revs.len(), 2, "{revs:?}");
    for r in &revs {
        let hash = r["metadata"]["labels"]["controller.kubernetes.io/hash"]
            .as_str()
            .expect("hash label");
        assert_eq!(name(r), format!("web-{hash}"));
        assert_eq!(r["data"]["spec"]["template"]["$patch"], "replace");
        assert_eq!(r["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
    }
    let history = c.kubectl_ok(&["rollout", "history", "statefulset/web"]);
    let numbers: Vec<&str> = history
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(numbers, ["1", "2"], "{history}");
    let first = c.kubectl_ok(&["rollout", "history", "statefulset/web", "--revision=1"]);
    assert!(first.contains("registry.example/web:1"), "{first}");

    let out = c.kubectl_ok(&["rollout", "undo", "statefulset/web"]);
    assert!(out.contains("rolled back"), "{out}");
    assert_eq!(
        sts(&c, "web")["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/web:1"
    );
    eventually("web rolled back to v1", 60, || {
        play_kubelet(&c);
        updated(&c, "registry.example/web:1").then_some(())
    });
    // The old revision came back as the newest instead of being copied.
    let revs = revisions(&c);
    assert_eq!(revs.len(), 2, "{revs:?}");
    let v1 = revs
        .iter()
        .find(|r| {
            r["data"]["spec"]["template"]["spec"]["containers"][0]["image"]
                == "registry.example/web:1"
        })
        .expect("v1 revision");
    assert_eq!(v1["revision"], 3);
    assert_eq!(sts(&c, "web")["status"]["updateRevision"], name(v1));
}

#[test]
fn revisions_beyond_the_history_limit_are_deleted() {
    let c = Cluster::start();
    apply(&c, &statefulset(1, "  revisionHistoryLimit: 0"));
    web_ready(&c, 1);
    for v in 2..=3 {
        c.kubectl_ok(&[
            "set",
            "image",
            "statefulset/web",
            &format!("web=registry.example/web:{v}"),
        ]);
        eventually(&format!("web at v{v}"), 30, || {
            play_kubelet(&c);
            let s = sts(&c, "web");
            (sts_caught_up(&s, 1, 1)
                && s["status"]["updatedReplicas"] == 1
                && s["status"]["currentRevision"] == s["status"]["updateRevision"])
                .then_some(())
        });
    }
    let update = sts(&c, "web")["status"]["updateRevision"].clone();
    // The sync that made the last revision current trims the others.
    let revs = eventually("only the current revision", 20, || {
        let r = revisions(&c);
        (r.len() == 1).then_some(r)
    });
    assert_eq!(name(&revs[0]), update);
    assert_eq!(revs[0]["revision"], 3);
}

#[test]
fn set_strategies_are_defaulted_field_by_field() {
    let c = Cluster::start();
    apply(
        &c,
        &statefulset(
            0,
            "  updateStrategy: {type: RollingUpdate, rollingUpdate: {}}",
        ),
    );
    let s = sts(&c, "web");
    assert_eq!(
        s["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(s["spec"]["revisionHistoryLimit"], 10);
    c.kubectl_ok(&["delete", "statefulset/web"]);
    apply(&c, &statefulset(0, ""));
    assert_eq!(
        sts(&c, "web")["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    apply(
        &c,
        &daemonset("agent", "registry.example/agent:1", "  updateStrategy: {}"),
    );
    let d = ds(&c, "agent");
    assert_eq!(
        d["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    apply(
        &c,
        &daemonset(
            "partial",
            "registry.example/agent:1",
            "  updateStrategy: {rollingUpdate: {maxUnavailable: 2}}",
        ),
    );
    assert_eq!(
        ds(&c, "partial")["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2, "maxSurge": 0}})
    );
}

fn daemonset(name: &str, image: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: {name}, namespace: default}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
{extra_spec}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: agent
        image: {image}
"#
    )
}

/// A Node object without a kubelet, Ready, with room for pods; `taint` as `key=value:Effect`.
fn add_node(c: &Cluster, node: &str, taint: Option<(&str, &str, &str)>) {
    let taints = taint
        .map(|(k, v, e)| format!("  taints: [{{key: {k}, value: {v}, effect: {e}}}]\n"))
        .unwrap_or_default();
    apply(
        c,
        &format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {node}\n  labels: {{kubernetes.io/hostname: {node}}}\nspec:\n{taints}"),
    );
    let now = k8s_now();
    let room = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
    patch_status(
        c,
        &format!("/api/v1/nodes/{node}/status"),
        &json!({"status": {
            "capacity": room, "allocatable": room,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "played by the test", "lastHeartbeatTime": now, "lastTransitionTime": now}]
        }}),
    );
}

/// Whether the DaemonSet's status answers its generation with `desired` nodes all scheduled,
/// updated and available.
fn ds_rolled_out(d: &Value, desired: i64) -> bool {
    let s = &d["status"];
    s["observedGeneration"] == d["metadata"]["generation"]
        && s["desiredNumberScheduled"] == desired
        && s["currentNumberScheduled"] == desired
        && s["updatedNumberScheduled"] == desired
        && s["numberAvailable"] == desired
        && s["numberReady"] == desired
}

/// A cluster without a node of its own and three fake nodes: n1 and n2 plain, n3 tainted
/// `dedicated=db:NoSchedule`. Silent nodes are left alone for the test's length.
fn three_nodes() -> Cluster {
    let c = Cluster::start_with(&["--node-monitor-grace-period=10m"]);
    add_node(&c, "n1", None);
    add_node(&c, "n2", None);
    add_node(&c, "n3", Some(("dedicated", "db", "NoSchedule")));
    c
}

#[test]
fn a_daemonset_runs_one_pod_per_node_and_none_on_a_node_whose_taint_it_does_not_tolerate() {
    let c = three_nodes();
    apply(&c, &daemonset("agent", "registry.example/agent:1", ""));
    eventually("agent on n1 and n2, ready", 60, || {
        play_kubelet(&c);
        ds_rolled_out(&ds(&c, "agent"), 2).then_some(())
    });
    let d = ds(&c, "agent");
    assert_eq!(d["status"]["numberMisscheduled"], 0);
    let p = live_pods(&c);
    assert_eq!(p.len(), 2, "{:?}", p.keys());
    let mut nodes: Vec<&str> = p
        .values()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap_or_default())
        .collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["n1", "n2"]);
    for pod in p.values() {
        // Pinned by affinity, bound by the scheduler to the node the affinity names.
        let term = &pod["spec"]["affinity"]["nodeAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0];
        assert_eq!(term["matchFields"][0]["key"], "metadata.name");
        assert_eq!(term["matchFields"][0]["values"][0], pod["spec"]["nodeName"]);
        let tolerations = pod["spec"]["tolerations"].as_array().expect("tolerations");
        for (key, effect) in [
            ("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/unschedulable", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ] {
            assert!(
                tolerations
                    .iter()
                    .any(|t| t["key"] == key && t["effect"] == effect && t["operator"] == "Exists"),
                "{key}: {tolerations:?}"
            );
        }
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
        assert!(pod["metadata"]["labels"]["controller-revision-hash"].is_string());
    }
    let out = c.kubectl_ok(&["rollout", "status", "daemonset/agent", "--timeout=30s"]);
    assert!(out.contains("successfully rolled out"), "{out}");

    // A fourth node joins: it gets its daemon too.
    add_node(&c, "n4", None);
    eventually("agent on n4", 30, || {
        play_kubelet(&c);
        ds_rolled_out(&ds(&c, "agent"), 3).then_some(())
    });
    assert!(live_pods(&c)
        .values()
        .any(|p| p["spec"]["nodeName"] == "n4"));
}

#[test]
fn a_pending_daemon_pod_goes_with_its_deleted_node() {
    let c = three_nodes();
    // Asking for more CPU than any node has: pinned to their nodes, the pods stay Pending.
    apply(
        &c,
        &daemonset("big", "registry.example/agent:1", "").replace(
            "        image: registry.example/agent:1",
            "        image: registry.example/agent:1\n        resources: {requests: {cpu: \"64\"}}",
        ),
    );
    let target = |p: &Value| {
        p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0]["matchFields"][0]["values"][0]
            .clone()
    };
    eventually("pending daemons for n1 and n2", 30, || {
        let p = live_pods(&c);
        (p.len() == 2 && p.values().all(|p| p["spec"]["nodeName"].is_null())).then_some(())
    });
    c.kubectl_ok(&["delete", "node", "n1"]);
    eventually("n1's pending daemon gone", 30, || {
        let d = ds(&c, "big");
        let p = live_pods(&c);
        (d["status"]["desiredNumberScheduled"] == 1
            && p.len() == 1
            && p.values().all(|p| target(p) == "n2"))
        .then_some(())
    });
}

#[test]
fn a_daemonset_rolling_update_replaces_pods_one_node_at_a_time_and_can_be_undone() {
    let c = three_nodes();
    apply(
        &c,
        &daemonset("agent", "registry.example/agent:1", "").replace(
            "      containers:",
            "      tolerations: [{key: dedicated, operator: Exists}]\n      containers:",
        ),
    );
    // Tolerating the taint, it runs on all three.
    eventually("agent on all three nodes", 60, || {
        play_kubelet(&c);
        ds_rolled_out(&ds(&c, "agent"), 3).then_some(())
    });
    c.kubectl_ok(&[
        "set",
        "image",
        "daemonset/agent",
        "agent=registry.example/agent:2",
    ]);
    eventually("agent rolled to v2", 60, || {
        let ready = live_pods(&c).values().filter(|p| is_ready(p)).count();
        // maxUnavailable 1 of 3: at least two daemons ready whenever we look.
        assert!(ready >= 2, "only {ready} ready daemons");
        play_kubelet(&c);
        let d = ds(&c, "agent");
        (ds_rolled_out(&d, 3)
            && live_pods(&c)
                .values()
                .all(|p| image(p) == "registry.example/agent:2"))
        .then_some(())
    });
    let out = c.kubectl_ok(&["rollout", "status", "daemonset/agent", "--timeout=30s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let history = c.kubectl_ok(&["rollout", "history", "daemonset/agent"]);
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );

    c.kubectl_ok(&["rollout", "undo", "daemonset/agent"]);
    eventually("agent back on v1", 60, || {
        play_kubelet(&c);
        (ds_rolled_out(&ds(&c, "agent"), 3)
            && live_pods(&c)
                .values()
                .all(|p| image(p) == "registry.example/agent:1"))
        .then_some(())
    });
    c.kubectl_ok(&["rollout", "status", "daemonset/agent", "--timeout=30s"]);
}

#[test]
fn a_daemonset_with_max_surge_starts_the_new_pod_before_stopping_the_old_one() {
    let c = three_nodes();
    apply(
        &c,
        &daemonset(
            "agent",
            "registry.example/agent:1",
            "  updateStrategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}",
        )
        .replace(
            "      containers:",
            "      tolerations: [{key: dedicated, operator: Exists}]\n      containers:",
        ),
    );
    eventually("agent on all three nodes", 60, || {
        play_kubelet(&c);
        ds_rolled_out(&ds(&c, "agent"), 3).then_some(())
    });
    c.kubectl_ok(&[
        "set",
        "image",
        "daemonset/agent",
        "agent=registry.example/agent:2",
    ]);
    let mut peak = 0;
    eventually("agent surged to v2", 60, || {
        let live = live_pods(&c);
        peak = peak.max(live.len());
        assert!(
            live.len() <= 4,
            "more than one surge pod: {:?}",
            live.keys()
        );
        for node in ["n1", "n2", "n3"] {
            assert!(
                live.values()
                    .any(|p| p["spec"]["nodeName"] == node && is_ready(p)),
                "{node} had no ready daemon"
            );
        }
        play_kubelet(&c);
        (ds_rolled_out(&ds(&c, "agent"), 3)
            && live_pods(&c)
                .values()
                .all(|p| image(p) == "registry.example/agent:2"))
        .then_some(())
    });
    assert_eq!(peak, 4, "the update never surged");
    c.kubectl_ok(&["rollout", "status", "daemonset/agent", "--timeout=30s"]);
}

#[test]
fn on_a_real_node_a_daemonset_and_a_statefulset_become_available() {
    let c = Cluster::start_with_node(&[]);
    eventually("the node to be Ready", 60, || {
        let nodes = get(&c, "/api/v1/nodes")?;
        nodes["items"][0]["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
            .then_some(())
    });
    let spec = format!(
        r#"    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {}
        command: [sleep, "3600"]
"#,
        crate::support::netns::BUSYBOX
    );
    apply(
        &c,
        &format!(
            r#"apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: sleeper, namespace: default}}
spec:
  selector: {{matchLabels: {{app: sleeper}}}}
  template:
    metadata: {{labels: {{app: sleeper}}}}
{spec}---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db, namespace: default}}
spec:
  replicas: 2
  serviceName: db
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
{spec}"#
        ),
    );
    // Here the kubelet is real: pods start from the image and report Ready themselves.
    c.kubectl_ok(&["rollout", "status", "daemonset/sleeper", "--timeout=120s"]);
    c.kubectl_ok(&["rollout", "status", "statefulset/db", "--timeout=120s"]);
    let d = ds(&c, "sleeper");
    assert_eq!(d["status"]["desiredNumberScheduled"], 1);
    assert_eq!(d["status"]["numberAvailable"], 1);
    let s = sts(&c, "db");
    assert_eq!(s["status"]["readyReplicas"], 2);
    assert_eq!(s["status"]["availableReplicas"], 2);
    let p = live_pods(&c);
    for n in ["db-0", "db-1"] {
        assert!(is_ready(&p[n]), "{n}: {}", p[n]["status"]);
    }
}

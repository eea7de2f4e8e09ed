//! Deployments, ReplicaSets and the garbage collector, driven with kubectl as a user drives
//! them. Most clusters here run without a node (`--disable-node`), so pods stay Pending: those
//! tests play the kubelet by marking pods Running and Ready through `pods/status` as admin.
//! One test runs a real node (containerd, root) to see the same rollout with real pods.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{eventually, Cluster};

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.example/web:1
"#;

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

fn replica_sets(c: &Cluster) -> Vec<Value> {
    items(c, "/apis/apps/v1/namespaces/default/replicasets")
}

fn deployment(c: &Cluster, name: &str) -> Value {
    get(
        c,
        &format!("/apis/apps/v1/namespaces/default/deployments/{name}"),
    )
    .expect("deployment")
}

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or_default()
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

/// The kubelet's part: every pod not yet Ready becomes Running and Ready now.
fn play_kubelet(c: &Cluster) {
    for pod in pods(c) {
        if is_ready(&pod) || !pod["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        let now = k8s_now();
        let body = format!(
            r#"{{"status":{{"phase":"Running","conditions":[{{"type":"Ready","status":"True","lastTransitionTime":"{now}"}}]}}}}"#
        );
        let path = format!("/api/v1/namespaces/default/pods/{}/status", name(&pod));
        c.curl(&[
            &path,
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/merge-patch+json",
            "-d",
            &body,
        ]);
    }
}

fn k8s_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether the Deployment's status says the rollout of its current generation is done.
fn rolled_out(d: &Value, replicas: i64) -> bool {
    d["status"]["observedGeneration"] == d["metadata"]["generation"]
        && d["status"]["updatedReplicas"] == replicas
        && d["status"]["replicas"] == replicas
        && d["status"]["availableReplicas"] == replicas
}

/// Plays the kubelet until the Deployment is rolled out, checking at every observation that
/// the pods never exceed `max_pods` and that at least `min_ready` of them are ready.
fn roll_out(c: &Cluster, deploy: &str, replicas: i64, max_pods: usize, min_ready: usize) {
    let mut peak = 0;
    eventually(&format!("{deploy} rolled out to {replicas}"), 60, || {
        play_kubelet(c);
        let live: Vec<Value> = pods(c)
            .into_iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect();
        peak = peak.max(live.len());
        assert!(
            live.len() <= max_pods,
            "{} pods, more than {max_pods}",
            live.len()
        );
        let ready = live.iter().filter(|p| is_ready(p)).count();
        assert!(
            ready >= min_ready,
            "only {ready} ready pods, fewer than {min_ready}"
        );
        rolled_out(&deployment(c, deploy), replicas).then_some(())
    });
    eprintln!("{deploy}: at most {peak} pods during the rollout");
}

fn rs_with_image<'a>(sets: &'a [Value], image: &str) -> Option<&'a Value> {
    sets.iter()
        .find(|rs| rs["spec"]["template"]["spec"]["containers"][0]["image"] == image)
}

fn revision(v: &Value) -> &str {
    v["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .unwrap_or_default()
}

#[test]
fn deployment_rolls_out_under_surge_limits_and_rolls_back_to_the_old_replica_set() {
    let c = Cluster::start();
    apply(&c, DEPLOYMENT);
    let pods_now = eventually("3 pods of the first replica set", 20, || {
        let p = pods(&c);
        (p.len() == 3).then_some(p)
    });
    let sets = replica_sets(&c);
    assert_eq!(sets.len(), 1);
    let first = &sets[0];
    let hash = first["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .expect("hash label");
    assert_eq!(name(first), format!("web-{hash}"));
    assert_eq!(
        first["spec"]["selector"]["matchLabels"]["pod-template-hash"],
        hash
    );
    assert_eq!(revision(first), "1");
    assert_eq!(
        first["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
        "3"
    );
    assert_eq!(
        first["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"],
        "4"
    );
    for p in &pods_now {
        assert!(name(p).starts_with(&format!("web-{hash}-")), "{}", name(p));
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], hash);
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicaSet");
        assert_eq!(owner["uid"], first["metadata"]["uid"]);
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["blockOwnerDeletion"], true);
    }
    roll_out(&c, "web", 3, 3, 0);
    c.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    // `kubectl describe` tells the story in events, as upstream's controllers record it.
    let scaled = format!("Scaled up replica set web-{hash} from 0 to 3");
    eventually("the controllers' events", 10, || {
        let events = c.kubectl_ok(&["get", "events", "-o", "json"]);
        (events.contains(&scaled) && events.contains("\"reason\": \"SuccessfulCreate\""))
            .then_some(())
    });
    let d = deployment(&c, "web");
    assert_eq!(revision(&d), "1");
    let conditions = d["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .clone();
    let reason = |t: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == t)
            .map(|c| c["reason"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(reason("Available"), "MinimumReplicasAvailable");
    assert_eq!(reason("Progressing"), "NewReplicaSetAvailable");

    // A new image: one pod over (maxSurge 1), never fewer than 3 ready (maxUnavailable 0).
    c.kubectl_ok(&[
        "set",
        "image",
        "deployment/web",
        "web=registry.example/web:2",
    ]);
    roll_out(&c, "web", 3, 4, 3);
    c.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    let sets = replica_sets(&c);
    assert_eq!(sets.len(), 2);
    let old = rs_with_image(&sets, "registry.example/web:1").expect("old replica set");
    let new = rs_with_image(&sets, "registry.example/web:2").expect("new replica set");
    assert_eq!(old["spec"]["replicas"], 0);
    assert_eq!(new["spec"]["replicas"], 3);
    assert_eq!(revision(new), "2");
    assert_eq!(revision(&deployment(&c, "web")), "2");
    let history = c.kubectl_ok(&["rollout", "history", "deployment/web"]);
    assert!(history.contains('1') && history.contains('2'), "{history}");

    // Undo: kubectl puts the old template back; the old ReplicaSet becomes revision 3.
    let old_name = name(old).to_string();
    c.kubectl_ok(&["rollout", "undo", "deployment/web"]);
    roll_out(&c, "web", 3, 4, 3);
    let sets = replica_sets(&c);
    assert_eq!(sets.len(), 2, "undo must reuse the old replica set");
    let reused = sets
        .iter()
        .find(|rs| name(rs) == old_name)
        .expect("old replica set");
    assert_eq!(reused["spec"]["replicas"], 3);
    assert_eq!(revision(reused), "3");
    assert_eq!(
        reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    assert_eq!(revision(&deployment(&c, "web")), "3");
    c.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=30s"]);

    // Scale through the scale subresource.
    c.kubectl_ok(&["scale", "deployment/web", "--replicas=5"]);
    roll_out(&c, "web", 5, 5, 3);
    let live = pods(&c);
    let owners: BTreeSet<&str> = live
        .iter()
        .map(|p| {
            p["metadata"]["ownerReferences"][0]["name"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(owners, BTreeSet::from([old_name.as_str()]));
    let reused = replica_sets(&c)
        .into_iter()
        .find(|rs| name(rs) == old_name)
        .expect("rs");
    assert_eq!(
        reused["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
        "5"
    );
}

fn labelled(c: &Cluster, selector: &str) -> Vec<Value> {
    items(
        c,
        &format!("/api/v1/namespaces/default/pods?labelSelector={selector}"),
    )
}

fn owner_uids(v: &Value) -> Vec<String> {
    v["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r["uid"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A Deployment of `replicas` pods, rolled out and ready.
fn rolled_out_web(c: &Cluster, replicas: i64) {
    apply(
        c,
        &DEPLOYMENT.replace("replicas: 3", &format!("replicas: {replicas}")),
    );
    roll_out(c, "web", replicas, replicas as usize, 0);
}

#[test]
fn deleting_a_deployment_removes_its_replica_sets_and_pods_in_the_background() {
    let c = Cluster::start();
    rolled_out_web(&c, 2);
    assert_eq!(replica_sets(&c).len(), 1);
    c.kubectl_ok(&["delete", "deployment", "web"]);
    eventually("the replica set and its pods to be collected", 30, || {
        (replica_sets(&c).is_empty() && pods(&c).is_empty()).then_some(())
    });
}

#[test]
fn cascade_orphan_keeps_dependents_without_their_owner_reference() {
    let c = Cluster::start();
    rolled_out_web(&c, 2);
    let rs = replica_sets(&c).remove(0);
    let rs_name = name(&rs).to_string();
    let deploy_uid = deployment(&c, "web")["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();
    assert_eq!(owner_uids(&rs), [deploy_uid]);

    c.kubectl_ok(&["delete", "deployment", "web", "--cascade=orphan"]);
    eventually("the deployment to be gone", 30, || {
        get(&c, "/apis/apps/v1/namespaces/default/deployments/web")
            .is_none()
            .then_some(())
    });
    let rs = get(
        &c,
        &format!("/apis/apps/v1/namespaces/default/replicasets/{rs_name}"),
    )
    .expect("the replica set survives");
    assert!(owner_uids(&rs).is_empty(), "{rs}");
    assert_eq!(pods(&c).len(), 2);

    let pod_names: BTreeSet<String> = pods(&c).iter().map(|p| name(p).to_string()).collect();
    c.kubectl_ok(&["delete", "replicaset", &rs_name, "--cascade=orphan"]);
    eventually("the replica set to be gone", 30, || {
        replica_sets(&c).is_empty().then_some(())
    });
    let left = pods(&c);
    let left_names: BTreeSet<String> = left.iter().map(|p| name(p).to_string()).collect();
    assert_eq!(left_names, pod_names, "the same pods stay");
    for p in &left {
        assert!(owner_uids(p).is_empty(), "{p}");
    }
}

#[test]
fn cascade_foreground_deletes_dependents_before_the_owner() {
    let c = Cluster::start();
    rolled_out_web(&c, 2);
    // A pod finalizer holds one dependent, so the owner's wait is observable.
    let held = pods(&c).remove(0);
    let held_name = name(&held).to_string();
    c.kubectl_ok(&[
        "patch",
        "pod",
        &held_name,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);
    let out = c.kubectl(&[
        "delete",
        "deployment",
        "web",
        "--cascade=foreground",
        "--wait=false",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The Deployment and its ReplicaSet wait, marked, while the held pod is still there.
    let d = eventually("the held pod to be the last pod left", 30, || {
        let d = get(&c, "/apis/apps/v1/namespaces/default/deployments/web")?;
        let p = pods(&c);
        (p.len() == 1 && !p[0]["metadata"]["deletionTimestamp"].is_null()).then_some(d)
    });
    assert!(!d["metadata"]["deletionTimestamp"].is_null(), "{d}");
    assert_eq!(
        d["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );
    let rs = replica_sets(&c);
    assert_eq!(rs.len(), 1, "the replica set waits for its pod");
    assert_eq!(
        rs[0]["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );

    c.kubectl_ok(&[
        "patch",
        "pod",
        &held_name,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    eventually("everything to be gone", 30, || {
        (get(&c, "/apis/apps/v1/namespaces/default/deployments/web").is_none()
            && replica_sets(&c).is_empty()
            && pods(&c).is_empty())
        .then_some(())
    });
}

#[test]
fn a_restart_mid_rollout_creates_no_extra_pods() {
    let c = Cluster::start();
    apply(&c, &DEPLOYMENT.replace("replicas: 3", "replicas: 4"));
    roll_out(&c, "web", 4, 4, 0);
    c.kubectl_ok(&[
        "set",
        "image",
        "deployment/web",
        "web=registry.example/web:2",
    ]);
    // Mid-rollout: the surge pod of the new ReplicaSet exists and is not ready.
    eventually("the surge pod", 30, || {
        (labelled(&c, "app=web").len() == 5).then_some(())
    });
    let before: BTreeSet<String> = labelled(&c, "app=web")
        .iter()
        .map(|p| name(p).to_string())
        .collect();

    let mut c = c;
    c.restart();
    // Proof that both restarted controllers have synced this Deployment: pause it (the
    // Deployment controller must report the new generation as paused), and make the surge pod
    // ready (the ReplicaSet controller must count it, the Deployment controller sum it up).
    // Paused, nothing may create or delete pods, and with 5 pods and 1 surge nothing needs to.
    c.kubectl_ok(&["rollout", "pause", "deployment/web"]);
    play_kubelet(&c);
    eventually("both controllers to catch up after the restart", 30, || {
        let d = deployment(&c, "web");
        let new_rs = rs_with_image(&replica_sets(&c), "registry.example/web:2")?.clone();
        (d["status"]["observedGeneration"] == d["metadata"]["generation"]
            && condition(&d, "Progressing")["reason"] == "DeploymentPaused"
            && new_rs["status"]["readyReplicas"] == 1
            && d["status"]["readyReplicas"] == 5)
            .then_some(())
    });
    let after: BTreeSet<String> = labelled(&c, "app=web")
        .iter()
        .map(|p| name(p).to_string())
        .collect();
    assert_eq!(
        after, before,
        "the restarted controllers created or deleted web pods"
    );
    c.kubectl_ok(&["rollout", "resume", "deployment/web"]);

    // And the rollout finishes within the surge limit.
    let mut peak = 0;
    eventually("the rollout to finish after the restart", 60, || {
        play_kubelet(&c);
        let live = labelled(&c, "app=web");
        peak = peak.max(live.len());
        assert!(
            live.len() <= 5,
            "{} web pods, more than replicas + maxSurge",
            live.len()
        );
        rolled_out(&deployment(&c, "web"), 4).then_some(())
    });
    assert!(peak <= 5);
}

fn condition(d: &Value, type_: &str) -> Value {
    d["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or(Value::Null)
}

#[test]
fn pause_resume_and_restart_drive_new_replica_sets() {
    let c = Cluster::start();
    rolled_out_web(&c, 2);
    c.kubectl_ok(&["rollout", "pause", "deployment/web"]);
    c.kubectl_ok(&[
        "set",
        "image",
        "deployment/web",
        "web=registry.example/web:2",
    ]);
    // The controller has seen the paused template change once it reports this generation.
    let d = eventually("the paused deployment to be observed", 30, || {
        let d = deployment(&c, "web");
        (d["status"]["observedGeneration"] == d["metadata"]["generation"]
            && condition(&d, "Progressing")["reason"] == "DeploymentPaused")
            .then_some(d)
    });
    assert_eq!(condition(&d, "Progressing")["status"], "Unknown");
    assert_eq!(
        replica_sets(&c).len(),
        1,
        "a paused deployment rolls nothing out"
    );

    c.kubectl_ok(&["rollout", "resume", "deployment/web"]);
    roll_out(&c, "web", 2, 3, 2);
    let sets = replica_sets(&c);
    assert_eq!(sets.len(), 2);
    assert!(rs_with_image(&sets, "registry.example/web:2").is_some());

    c.kubectl_ok(&["rollout", "restart", "deployment/web"]);
    roll_out(&c, "web", 2, 3, 2);
    let sets = replica_sets(&c);
    assert_eq!(sets.len(), 3, "restart rolls out a new replica set");
    let newest = sets
        .iter()
        .find(|rs| revision(rs) == "3")
        .expect("revision 3");
    assert!(newest["spec"]["template"]["metadata"]["annotations"]
        ["kubectl.kubernetes.io/restartedAt"]
        .is_string());
    assert_eq!(newest["spec"]["replicas"], 2);
}

#[test]
fn recreate_stops_old_pods_before_starting_new_ones() {
    let c = Cluster::start();
    apply(
        &c,
        &DEPLOYMENT
            .replace("type: RollingUpdate", "type: Recreate")
            .replace("    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}\n", ""),
    );
    roll_out(&c, "web", 3, 3, 0);
    c.kubectl_ok(&[
        "set",
        "image",
        "deployment/web",
        "web=registry.example/web:2",
    ]);
    eventually("the recreate rollout", 60, || {
        play_kubelet(&c);
        let images: BTreeSet<String> = pods(&c)
            .iter()
            .map(|p| {
                p["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert!(images.len() <= 1, "old and new pods at once: {images:?}");
        rolled_out(&deployment(&c, "web"), 3).then_some(())
    });
    c.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=30s"]);
}

#[test]
fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let c = Cluster::start();
    apply(
        &c,
        &DEPLOYMENT.replace(
            "  replicas: 3\n",
            "  replicas: 1\n  progressDeadlineSeconds: 2\n",
        ),
    );
    // Nobody makes the pod ready: after 2 s the rollout is declared stuck.
    let d = eventually("ProgressDeadlineExceeded", 30, || {
        let d = deployment(&c, "web");
        (condition(&d, "Progressing")["reason"] == "ProgressDeadlineExceeded").then_some(d)
    });
    assert_eq!(condition(&d, "Progressing")["status"], "False");
    assert_eq!(
        condition(&d, "Available")["reason"],
        "MinimumReplicasUnavailable"
    );
    let err = c.kubectl_err(&["rollout", "status", "deployment/web", "--timeout=10s"]);
    assert!(err.contains("exceeded its progress deadline"), "{err}");
}

#[test]
fn a_replica_set_adopts_orphans_releases_strays_and_drops_unready_pods_first() {
    let c = Cluster::start();
    // An orphan pod the selector takes is adopted instead of a new pod being created.
    apply(
        &c,
        r#"apiVersion: v1
kind: Pod
metadata: {name: stray, namespace: default, labels: {app: db}}
spec:
  containers: [{name: c, image: registry.example/db:1}]
"#,
    );
    apply(
        &c,
        r#"apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: db, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: c, image: registry.example/db:1}]
"#,
    );
    let rs_uid = get(&c, "/apis/apps/v1/namespaces/default/replicasets/db").expect("rs")
        ["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();
    eventually("3 ready replicas", 30, || {
        play_kubelet(&c);
        let rs = get(&c, "/apis/apps/v1/namespaces/default/replicasets/db")?;
        (rs["status"]["readyReplicas"] == 3 && rs["status"]["replicas"] == 3).then_some(())
    });
    let db = labelled(&c, "app=db");
    assert_eq!(db.len(), 3);
    let stray = db
        .iter()
        .find(|p| name(p) == "stray")
        .expect("the orphan was kept");
    assert_eq!(owner_uids(stray), [rs_uid]);

    // A pod relabelled out of the selector is released and replaced.
    c.kubectl_ok(&["label", "pod", "stray", "app=other", "--overwrite"]);
    eventually("the stray to be released and replaced", 30, || {
        let stray = get(&c, "/api/v1/namespaces/default/pods/stray")?;
        (owner_uids(&stray).is_empty() && labelled(&c, "app=db").len() == 3).then_some(())
    });

    // Scale down by one: the pod that is not ready goes first.
    let unready = labelled(&c, "app=db")
        .into_iter()
        .find(|p| !is_ready(p))
        .expect("the replacement is not ready yet");
    c.kubectl_ok(&["scale", "replicaset/db", "--replicas=2"]);
    eventually("2 pods", 30, || {
        (labelled(&c, "app=db").len() == 2).then_some(())
    });
    assert!(
        labelled(&c, "app=db")
            .iter()
            .all(|p| name(p) != name(&unready)),
        "the unready pod should have been deleted"
    );
    let rs = eventually("status to follow", 30, || {
        let rs = get(&c, "/apis/apps/v1/namespaces/default/replicasets/db")?;
        (rs["status"]["observedGeneration"] == rs["metadata"]["generation"]
            && rs["status"]["replicas"] == 2)
            .then_some(rs)
    });
    assert_eq!(rs["status"]["availableReplicas"], 2);
    assert_eq!(rs["status"]["fullyLabeledReplicas"], 2);
}

#[test]
fn a_replication_controller_keeps_its_pods_and_takes_them_along_when_deleted() {
    let c = Cluster::start();
    apply(
        &c,
        r#"apiVersion: v1
kind: ReplicationController
metadata: {name: legacy, namespace: default}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: c, image: registry.example/legacy:1}]
"#,
    );
    let rc = eventually("2 ready replicas", 30, || {
        play_kubelet(&c);
        let rc = get(
            &c,
            "/api/v1/namespaces/default/replicationcontrollers/legacy",
        )?;
        (rc["status"]["readyReplicas"] == 2 && rc["status"]["replicas"] == 2).then_some(rc)
    });
    for p in labelled(&c, "app=legacy") {
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicationController");
        assert_eq!(owner["apiVersion"], "v1");
        assert_eq!(owner["uid"], rc["metadata"]["uid"]);
    }
    c.kubectl_ok(&["scale", "rc/legacy", "--replicas=3"]);
    eventually("3 pods", 30, || {
        (labelled(&c, "app=legacy").len() == 3).then_some(())
    });
    c.kubectl_ok(&["delete", "rc", "legacy"]);
    eventually("the pods to be collected", 30, || {
        labelled(&c, "app=legacy").is_empty().then_some(())
    });
}

#[test]
fn a_replication_controller_deleted_without_a_policy_orphans_its_pods() {
    let c = Cluster::start();
    apply(
        &c,
        r#"apiVersion: v1
kind: ReplicationController
metadata: {name: legacy, namespace: default}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: c, image: registry.example/legacy:1}]
"#,
    );
    eventually("2 pods", 30, || {
        (labelled(&c, "app=legacy").len() == 2).then_some(())
    });
    // core/v1 keeps its pre-garbage-collector default: Orphan (kubectl always names a policy).
    let (code, body) = c.curl_json(&[
        "/api/v1/namespaces/default/replicationcontrollers/legacy",
        "-X",
        "DELETE",
    ]);
    assert_eq!(code, 200, "{body}");
    eventually("the controller to be gone", 30, || {
        get(
            &c,
            "/api/v1/namespaces/default/replicationcontrollers/legacy",
        )
        .is_none()
        .then_some(())
    });
    let left = labelled(&c, "app=legacy");
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|p| owner_uids(p).is_empty()), "{left:?}");
}

fn configmap(c: &Cluster, name: &str, owners: &[&Value]) -> Value {
    let refs: Vec<Value> = owners
        .iter()
        .map(|o| {
            serde_json::json!({
                "apiVersion": o["apiVersion"], "kind": o["kind"],
                "name": o["metadata"]["name"], "uid": o["metadata"]["uid"],
            })
        })
        .collect();
    let body = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "ownerReferences": refs},
    });
    let (code, created) = c.curl_json(&[
        "/api/v1/namespaces/default/configmaps",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        &body.to_string(),
    ]);
    assert_eq!(code, 201, "{created}");
    created
}

#[test]
fn any_kind_is_collected_and_only_dangling_references_are_dropped() {
    let c = Cluster::start();
    let a = configmap(&c, "owner-a", &[]);
    let b = configmap(&c, "owner-b", &[]);
    let both = configmap(&c, "two-owners", &[&a, &b]);
    configmap(&c, "only-a", &[&a]);
    let mut ghost = a.clone();
    ghost["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000".into();
    configmap(&c, "dangling", &[&ghost]);

    // An owner that never existed: collected.
    eventually("the dependent of a missing owner to go", 30, || {
        get(&c, "/api/v1/namespaces/default/configmaps/dangling")
            .is_none()
            .then_some(())
    });
    c.kubectl_ok(&["delete", "configmap", "owner-a"]);
    eventually(
        "only-a to go and two-owners to lose one reference",
        30,
        || {
            let kept = get(&c, "/api/v1/namespaces/default/configmaps/two-owners")?;
            (get(&c, "/api/v1/namespaces/default/configmaps/only-a").is_none()
                && owner_uids(&kept) == [b["metadata"]["uid"].as_str().unwrap_or_default()])
            .then_some(())
        },
    );
    assert_eq!(
        get(&c, "/api/v1/namespaces/default/configmaps/two-owners").expect("kept")["metadata"]
            ["uid"],
        both["metadata"]["uid"],
        "the dependent with a remaining owner is the same object"
    );
    // The other owner stays untouched.
    assert!(get(&c, "/api/v1/namespaces/default/configmaps/owner-b").is_some());
}

#[test]
fn scaling_mid_rollout_spreads_the_change_over_both_replica_sets() {
    let c = Cluster::start();
    apply(&c, &DEPLOYMENT.replace("replicas: 3", "replicas: 4"));
    roll_out(&c, "web", 4, 4, 0);
    c.kubectl_ok(&[
        "set",
        "image",
        "deployment/web",
        "web=registry.example/web:2",
    ]);
    eventually("the surge pod", 30, || {
        (labelled(&c, "app=web").len() == 5).then_some(())
    });
    // 4 → 8 with maxSurge 1: room for 9 pods, 4 more than the 5 there are, shared out by the
    // sizes the sets were given for (max-replicas 5): old 4·9/5 ≈ 7, new 1·9/5 ≈ 2.
    c.kubectl_ok(&["scale", "deployment/web", "--replicas=8"]);
    let sizes = eventually("proportional sizes", 30, || {
        let sets = replica_sets(&c);
        let old = rs_with_image(&sets, "registry.example/web:1")?;
        let new = rs_with_image(&sets, "registry.example/web:2")?;
        let desired = |rs: &Value| {
            rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"].clone()
        };
        (desired(old) == "8" && desired(new) == "8").then(|| {
            (
                old["spec"]["replicas"].clone(),
                new["spec"]["replicas"].clone(),
            )
        })
    });
    assert_eq!(sizes, (Value::from(7), Value::from(2)));
    roll_out(&c, "web", 8, 9, 0);
}

#[test]
fn refused_pods_show_as_replica_failure_until_they_can_be_created() {
    let c = Cluster::start();
    // The service-account admission refuses pods of an account that does not exist.
    apply(
        &c,
        &DEPLOYMENT.replace(
            "      containers:\n",
            "      serviceAccountName: ghost\n      containers:\n",
        ),
    );
    let d = eventually("ReplicaFailure on the deployment", 30, || {
        let d = deployment(&c, "web");
        (condition(&d, "ReplicaFailure")["reason"] == "FailedCreate").then_some(d)
    });
    let message = condition(&d, "ReplicaFailure")["message"].clone();
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("serviceaccount \"ghost\" not found")),
        "{message}"
    );
    let rs = replica_sets(&c).remove(0);
    assert_eq!(condition(&rs, "ReplicaFailure")["status"], "True");
    assert!(pods(&c).is_empty());
    eventually("a FailedCreate event", 10, || {
        let events = c.kubectl_ok(&["get", "events", "-o", "json"]);
        events
            .contains("\"reason\": \"FailedCreate\"")
            .then_some(())
    });

    c.kubectl_ok(&["create", "serviceaccount", "ghost"]);
    roll_out(&c, "web", 3, 3, 0);
    eventually("the failure conditions to clear", 30, || {
        let d = deployment(&c, "web");
        let rs = replica_sets(&c).remove(0);
        (condition(&d, "ReplicaFailure").is_null() && condition(&rs, "ReplicaFailure").is_null())
            .then_some(())
    });
}

#[test]
fn a_name_taken_by_another_replica_set_bumps_the_collision_count() {
    use kapi_controllers::deployment::hash;
    let c = Cluster::start();
    // Paused from the start, the Deployment gets no ReplicaSet yet.
    apply(
        &c,
        &DEPLOYMENT.replace(
            "spec:\n  replicas: 3",
            "spec:\n  paused: true\n  replicas: 3",
        ),
    );
    let d = eventually("the paused deployment to be observed", 30, || {
        let d = deployment(&c, "web");
        (d["status"]["observedGeneration"] == d["metadata"]["generation"]).then_some(d)
    });
    assert!(replica_sets(&c).is_empty());
    let template: k8s_openapi::api::core::v1::PodTemplateSpec =
        serde_json::from_value(d["spec"]["template"].clone()).expect("template");
    let taken = format!("web-{}", hash::compute(&template, None));
    // Someone else's ReplicaSet holds the name the controller would pick.
    apply(
        &c,
        &format!(
            r#"apiVersion: apps/v1
kind: ReplicaSet
metadata: {{name: {taken}, namespace: default}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: squatter}}}}
  template:
    metadata: {{labels: {{app: squatter}}}}
    spec:
      containers: [{{name: c, image: registry.example/squatter:1}}]
"#
        ),
    );
    c.kubectl_ok(&["rollout", "resume", "deployment/web"]);
    roll_out(&c, "web", 3, 3, 0);
    let d = deployment(&c, "web");
    assert_eq!(d["status"]["collisionCount"], 1);
    let expected = format!("web-{}", hash::compute(&template, Some(1)));
    let sets = replica_sets(&c);
    let ours = sets
        .iter()
        .find(|rs| name(rs) == expected)
        .expect("the next name");
    assert_eq!(
        owner_uids(ours),
        [d["metadata"]["uid"].as_str().unwrap_or_default()]
    );
    let squatter = sets.iter().find(|rs| name(rs) == taken).expect("squatter");
    assert!(owner_uids(squatter).is_empty(), "{squatter}");
    assert_eq!(
        squatter["spec"]["template"]["metadata"]["labels"]["app"],
        "squatter"
    );
}

#[test]
fn a_recreated_deployment_adopts_the_orphaned_replica_set_and_its_pods() {
    let c = Cluster::start();
    rolled_out_web(&c, 2);
    let rs_name = name(&replica_sets(&c)[0]).to_string();
    let pod_names: BTreeSet<String> = pods(&c).iter().map(|p| name(p).to_string()).collect();
    c.kubectl_ok(&["delete", "deployment", "web", "--cascade=orphan"]);
    eventually("the replica set to be orphaned", 30, || {
        let rs = get(
            &c,
            &format!("/apis/apps/v1/namespaces/default/replicasets/{rs_name}"),
        )?;
        (get(&c, "/apis/apps/v1/namespaces/default/deployments/web").is_none()
            && owner_uids(&rs).is_empty())
        .then_some(())
    });
    apply(&c, &DEPLOYMENT.replace("replicas: 3", "replicas: 2"));
    let uid = deployment(&c, "web")["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();
    eventually(
        "the new deployment to adopt it and report it rolled out",
        30,
        || {
            let rs = get(
                &c,
                &format!("/apis/apps/v1/namespaces/default/replicasets/{rs_name}"),
            )?;
            (owner_uids(&rs) == [uid.clone()] && rolled_out(&deployment(&c, "web"), 2))
                .then_some(())
        },
    );
    assert_eq!(
        replica_sets(&c).len(),
        1,
        "the same template needs no new replica set"
    );
    let now: BTreeSet<String> = pods(&c).iter().map(|p| name(p).to_string()).collect();
    assert_eq!(now, pod_names, "the pods were kept");
}

#[test]
fn kubectl_create_deployment_gets_upstreams_rolling_update_defaults() {
    let c = Cluster::start();
    // kubectl sends `strategy: {}`; the server fills it in field by field.
    c.kubectl_ok(&[
        "create",
        "deployment",
        "hello",
        "--image=registry.example/hello:1",
    ]);
    let d = deployment(&c, "hello");
    assert_eq!(
        d["spec"]["strategy"],
        serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    eventually("its pod", 30, || {
        (labelled(&c, "app=hello").len() == 1).then_some(())
    });
}

#[test]
fn on_a_real_node_a_deployment_rolls_out_and_goes_away_with_its_pods() {
    let c = Cluster::start_with_node(&[]);
    eventually("the node to be Ready", 60, || {
        let nodes = get(&c, "/api/v1/nodes")?;
        nodes["items"][0]["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
            .then_some(())
    });
    apply(
        &c,
        &format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: sleeper, namespace: default}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: sleeper}}}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {{labels: {{app: sleeper}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {}
        command: [sleep, "3600"]
"#,
            crate::support::netns::BUSYBOX
        ),
    );
    // Here the kubelet is real: pods start from the image and report Ready themselves.
    c.kubectl_ok(&["rollout", "status", "deployment/sleeper", "--timeout=120s"]);
    c.kubectl_ok(&["set", "env", "deployment/sleeper", "ROUND=2"]);
    c.kubectl_ok(&["rollout", "status", "deployment/sleeper", "--timeout=120s"]);
    let sets = replica_sets(&c);
    assert_eq!(sets.len(), 2);
    assert!(sets.iter().any(|rs| rs["spec"]["replicas"] == 0));
    let running = eventually("two running pods of the new template", 60, || {
        let p: Vec<Value> = labelled(&c, "app=sleeper")
            .into_iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect();
        (p.len() == 2
            && p.iter()
                .all(|p| is_ready(p) && p["spec"]["containers"][0]["env"][0]["value"] == "2"))
        .then_some(p)
    });
    assert_eq!(running.len(), 2);
    c.kubectl_ok(&["delete", "deployment", "sleeper", "--timeout=60s"]);
    eventually("the pods to be stopped and gone", 60, || {
        (labelled(&c, "app=sleeper").is_empty() && replica_sets(&c).is_empty()).then_some(())
    });
}

#[test]
fn a_selector_that_misses_its_template_is_refused_and_a_bare_replication_controller_selects_its_template(
) {
    let c = Cluster::start();
    let mismatch = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec:\n  selector: {matchLabels: {app: xx}}\n  template:\n    metadata: {labels: {app: yy}}\n    spec: {containers: [{name: c, image: busybox}]}\n";
    let out = c.kubectl_stdin(&["create", "-f", "-"], Some(mismatch));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"yy"}: `selector` does not match template `labels`"#),
        "{err}"
    );
    let empty = mismatch
        .replace("{matchLabels: {app: xx}}", "{}")
        .replace("Deployment", "ReplicaSet");
    let out = c.kubectl_stdin(&["create", "-f", "-"], Some(&empty));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("empty selector is invalid for replicaset"),
        "{err}"
    );

    // Without the default, the controller would create pods it never counts, without end.
    let rc = "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: rc}\nspec:\n  replicas: 2\n  template:\n    metadata: {labels: {app: rc}}\n    spec: {containers: [{name: c, image: busybox}]}\n";
    apply(&c, rc);
    assert_eq!(
        c.kubectl_ok(&["get", "rc", "rc", "-o", "jsonpath={.spec.selector.app}"]),
        "rc"
    );
    eventually("the controller counts its 2 pods", 30, || {
        let rc = get(&c, "/api/v1/namespaces/default/replicationcontrollers/rc")?;
        (rc["status"]["replicas"] == 2 && rc["status"]["observedGeneration"] == 1).then_some(())
    });
    assert_eq!(pods(&c).len(), 2);
}

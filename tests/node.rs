//! The node: pods from real images through the node's own containerd, in a network namespace
//! of the test's own (see support/netns.rs). Status, logs, exec, cp, events, volumes,
//! deletion, failures as a user meets them, scheduling, and adoption after a restart.

use serde_json::Value;

use crate::support::{eventually, netns, Cluster};

fn json(c: &Cluster, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["-o", "json"]);
    serde_json::from_str(&c.kubectl_ok(&full)).expect("kubectl JSON")
}

fn pod(c: &Cluster, name: &str) -> Value {
    json(c, &["get", "pod", name])
}

fn apply(c: &Cluster, manifest: &str) {
    let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(manifest));
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_phase(c: &Cluster, name: &str, phase: &str, secs: u64) -> Value {
    eventually(&format!("pod {name} {phase}"), secs, || {
        let p = pod(c, name);
        (p["status"]["phase"] == phase).then_some(p)
    })
}

fn busybox_pod(name: &str, command: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{extra_spec}  containers:\n  - name: main\n    image: {}\n    command: [sh, -c, {}]\n",
        netns::BUSYBOX,
        serde_json::to_string(command).unwrap()
    )
}

#[test]
fn a_pod_runs_from_a_real_image_with_logs_exec_volumes_and_graceful_deletion() {
    let c = Cluster::start_with_node(&[]);
    let node = eventually("the node to be Ready", 60, || {
        let nodes = json(&c, &["get", "nodes"]);
        let n = nodes["items"][0].clone();
        let ready = n["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        ready.then_some(n)
    });
    assert_eq!(node["status"]["addresses"][0]["type"], "InternalIP");
    assert_eq!(node["status"]["addresses"][0]["address"], netns::NODE_IP);
    let runtime = node["status"]["nodeInfo"]["containerRuntimeVersion"]
        .as_str()
        .unwrap_or("");
    assert!(runtime.starts_with("containerd://"), "{runtime}");
    assert_eq!(node["metadata"]["labels"]["kubernetes.io/os"], "linux");
    let name = node["metadata"]["name"].as_str().unwrap().to_string();
    // The server labels its own node, as kubeadm does (a kubelet may not give itself a role).
    eventually("the control-plane label", 10, || {
        let labels = c.kubectl_ok(&["get", "node", &name, "-o", "jsonpath={.metadata.labels}"]);
        labels
            .contains("node-role.kubernetes.io/control-plane")
            .then_some(())
    });
    assert_eq!(node["status"]["capacity"]["pods"], "110");
    assert_eq!(node["spec"]["podCIDR"], "10.244.0.0/24");
    c.kubectl_ok(&["get", "lease", &name, "-n", "kube-node-lease"]);

    c.kubectl_ok(&[
        "create",
        "configmap",
        "cfg",
        "--from-literal=greeting=hello",
    ]);
    let spec = "  volumes:\n  - name: cfg\n    configMap: {name: cfg}\n";
    let mut manifest = busybox_pod(
        "web",
        "echo started; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done # e2e-node-marker",
        spec,
    );
    manifest.push_str("    env: [{name: FOO, value: bar}]\n    volumeMounts: [{name: cfg, mountPath: /etc/cfg}]\n");
    apply(&c, &manifest);
    let p = wait_phase(&c, "web", "Running", 90);
    let ip = p["status"]["podIP"].as_str().unwrap_or("");
    assert!(ip.starts_with("10.244.0."), "pod IP {ip}");
    assert_eq!(p["status"]["hostIP"], netns::NODE_IP);
    let cs = &p["status"]["containerStatuses"][0];
    assert!(
        cs["containerID"]
            .as_str()
            .unwrap_or("")
            .starts_with("containerd://"),
        "{cs}"
    );
    assert!(
        cs["imageID"].as_str().unwrap_or("").contains("sha256:"),
        "{cs}"
    );
    assert_eq!(p["status"]["qosClass"], "BestEffort");
    eventually("the pod to be Ready", 30, || {
        let p = pod(&c, "web");
        p["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
            .then_some(())
    });

    eventually("the first log line", 30, || {
        c.kubectl_ok(&["logs", "web"])
            .starts_with("started\n")
            .then_some(())
    });
    let tail = eventually("two ticks", 30, || {
        let t = c.kubectl_ok(&["logs", "web", "--tail=1"]);
        (t.starts_with("tick ") && !t.contains("tick 0")).then_some(t)
    });
    assert_eq!(tail.lines().count(), 1, "{tail}");
    assert_eq!(
        c.kubectl_ok(&["exec", "web", "--", "sh", "-c", "echo $FOO"])
            .trim(),
        "bar"
    );
    assert_eq!(
        c.kubectl_ok(&["exec", "web", "--", "cat", "/etc/cfg/greeting"]),
        "hello"
    );
    let shell = c.kubectl_stdin(
        &["exec", "-i", "web", "--", "sh"],
        Some("echo $((6*7)); exit\n"),
    );
    assert_eq!(String::from_utf8_lossy(&shell.stdout).trim(), "42");
    let failing = c.kubectl(&["exec", "web", "--", "sh", "-c", "exit 3"]);
    assert_eq!(
        failing.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&failing.stderr)
    );
    let env = c.kubectl_ok(&[
        "exec",
        "web",
        "--",
        "sh",
        "-c",
        "echo $KUBERNETES_SERVICE_HOST",
    ]);
    assert_eq!(env.trim(), "10.96.0.1");
    let token = c.kubectl_ok(&[
        "exec",
        "web",
        "--",
        "ls",
        "/var/run/secrets/kubernetes.io/serviceaccount",
    ]);
    assert_eq!(
        token.split_whitespace().collect::<Vec<_>>(),
        ["ca.crt", "namespace", "token"]
    );
    let copied = c.dir.path().join("hostname");
    c.kubectl_ok(&["cp", "web:/etc/hostname", copied.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&copied).unwrap().trim(), "web");
    let described = c.kubectl_ok(&["describe", "pod", "web"]);
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(
            described.contains(reason),
            "no {reason} event in:\n{described}"
        );
    }

    // The Node authorizer: the node reads what its pods use, and nothing else.
    c.kubectl_ok(&["create", "configmap", "unused", "--from-literal=x=1"]);
    c.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "unused",
        "--from-literal=x=1",
    ]);
    let node_kubeconfig = c.data().join("kubelet.kubeconfig");
    let as_node = |args: &[&str]| {
        let mut full = vec!["--kubeconfig", node_kubeconfig.to_str().unwrap()];
        full.extend_from_slice(args);
        c.kubectl(&full)
    };
    assert!(
        as_node(&["get", "configmap", "cfg"]).status.success(),
        "the node may read what its pod mounts"
    );
    for args in [
        &["get", "configmap", "unused"][..],
        &["get", "secret", "unused"][..],
        &["get", "secrets"][..],
    ] {
        let out = as_node(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("Forbidden"),
            "{args:?}: {err}"
        );
    }

    // A mounted ConfigMap follows its updates (kubelet's atomic ..data swap).
    let token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token";
    let token_before = c.kubectl_ok(&["exec", "web", "--", "cat", token_path]);
    let updated =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {greeting: bonjour}\n";
    apply(&c, updated);
    eventually("the mounted ConfigMap to change", 90, || {
        (c.kubectl_ok(&["exec", "web", "--", "cat", "/etc/cfg/greeting"]) == "bonjour")
            .then_some(())
    });
    // The refresh that brought the ConfigMap reused the projected token (renewed at 80% of its
    // hour, not at every resync).
    assert_eq!(
        c.kubectl_ok(&["exec", "web", "--", "cat", token_path]),
        token_before
    );

    // Graceful deletion: the node stops the container, then the pod goes.
    c.kubectl_ok(&[
        "delete",
        "pod",
        "web",
        "--grace-period=5",
        "--wait=true",
        "--timeout=60s",
    ]);
    assert!(!c.kubectl(&["get", "pod", "web"]).status.success());
    eventually("the pod's processes to end", 30, || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", "e2e-node-marker"])
            .output()
            .ok()?;
        (!out.status.success()).then_some(())
    });
}

#[test]
fn failures_read_as_on_a_real_cluster() {
    let c = Cluster::start_with_node(&[]);
    apply(
        &c,
        &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: missing}}\nspec:\n  containers: [{{name: main, image: \"{}/kapi-test/does-not-exist:1\"}}]\n", netns::REGISTRY),
    );
    apply(&c, &busybox_pod("crash", "echo bye; exit 1", ""));
    apply(
        &c,
        &busybox_pod("once", "echo done", "  restartPolicy: Never\n"),
    );
    apply(
        &c,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: greedy}\nspec:\n  containers: [{name: main, image: busybox, resources: {requests: {cpu: \"1000\"}}}]\n",
    );
    apply(
        &c,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: picky}\nspec:\n  nodeSelector: {disk: nvme}\n  containers: [{name: main, image: busybox}]\n",
    );

    let waiting = eventually("an image pull error", 90, || {
        let p = pod(&c, "missing");
        let w = p["status"]["containerStatuses"][0]["state"]["waiting"].clone();
        matches!(
            w["reason"].as_str(),
            Some("ErrImagePull" | "ImagePullBackOff")
        )
        .then_some(w)
    });
    assert!(
        waiting["message"]
            .as_str()
            .unwrap_or("")
            .contains("does-not-exist"),
        "{waiting}"
    );

    let crashed = eventually("CrashLoopBackOff", 90, || {
        let p = pod(&c, "crash");
        let cs = p["status"]["containerStatuses"][0].clone();
        (cs["state"]["waiting"]["reason"] == "CrashLoopBackOff").then_some(cs)
    });
    assert!(
        crashed["restartCount"].as_u64().unwrap_or(0) >= 1,
        "{crashed}"
    );
    assert_eq!(crashed["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(crashed["lastState"]["terminated"]["reason"], "Error");
    assert!(
        crashed["state"]["waiting"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("back-off "),
        "{crashed}"
    );
    assert_eq!(c.kubectl_ok(&["logs", "crash", "--previous"]), "bye\n");

    let done = wait_phase(&c, "once", "Succeeded", 90);
    assert_eq!(
        done["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
    assert_eq!(c.kubectl_ok(&["logs", "once"]), "done\n");

    let unschedulable = |name: &str| {
        eventually(&format!("{name} to be unschedulable"), 30, || {
            let p = pod(&c, name);
            p["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")
                .cloned()
        })
    };
    assert_eq!(
        unschedulable("greedy")["message"],
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    );
    assert_eq!(
        unschedulable("picky")["message"],
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
    let err = c.kubectl_err(&["logs", "greedy"]);
    assert!(
        err.contains("pod greedy does not have a host assigned"),
        "{err}"
    );
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=greedy",
    ]);
    assert!(events.contains("FailedScheduling"), "{events}");

    // Labelling the node makes room for the picky pod: the scheduler retries on change.
    let node = json(&c, &["get", "nodes"])["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    c.kubectl_ok(&["label", "node", &node, "disk=nvme"]);
    wait_phase(&c, "picky", "Running", 90);
}

#[test]
fn pods_bound_by_hand_run_and_a_restarted_server_adopts_them() {
    let mut c = Cluster::start_with_node(&[]);
    // A pod for another scheduler stays pending until bound through the bindings resource.
    apply(
        &c,
        &busybox_pod("manual", "sleep 3600", "  schedulerName: my-scheduler\n"),
    );
    let node = eventually("a node", 60, || {
        json(&c, &["get", "nodes"])["items"][0]["metadata"]["name"]
            .as_str()
            .map(str::to_string)
    });
    // kubectl create -f of a Binding posts to the legacy `bindings` resource.
    let binding = format!(
        r#"{{"apiVersion":"v1","kind":"Binding","metadata":{{"name":"manual"}},"target":{{"apiVersion":"v1","kind":"Node","name":"{node}"}}}}"#
    );
    let post = |body: &str| {
        c.curl_json(&[
            "/api/v1/namespaces/default/bindings",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ])
    };
    let (code, status) = post(&binding);
    assert_eq!(
        (code, &status["status"]),
        (201, &Value::from("Success")),
        "{status}"
    );
    let (code, status) = post(&binding);
    assert_eq!(code, 409, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or("")
            .contains("is already assigned to node"),
        "{status}"
    );
    let before = wait_phase(&c, "manual", "Running", 90);
    let id = before["status"]["containerStatuses"][0]["containerID"].clone();
    let uid = before["metadata"]["uid"].as_str().unwrap().to_string();

    // A runtime that dies is started again, and the pod's container survives it.
    let config = c.data().join("containerd/config.toml");
    let killed = std::process::Command::new("pkill")
        .args([
            "-KILL",
            "-f",
            &format!("containerd --config {}", config.display()),
        ])
        .status()
        .expect("pkill");
    assert!(killed.success(), "no containerd to kill");
    apply(&c, &busybox_pod("fresh", "sleep 3600", ""));
    wait_phase(&c, "fresh", "Running", 90);
    assert_eq!(
        pod(&c, "manual")["status"]["containerStatuses"][0]["containerID"],
        id
    );

    c.restart();
    // The restarted node works (a new pod runs), and the old pod kept its container.
    apply(&c, &busybox_pod("after", "sleep 3600", ""));
    wait_phase(&c, "after", "Running", 90);
    let now = pod(&c, "manual");
    assert_eq!(now["status"]["containerStatuses"][0]["containerID"], id);
    assert_eq!(now["status"]["containerStatuses"][0]["restartCount"], 0);
    let socket = c.data().join("containerd/containerd.sock");
    let listed = std::process::Command::new("ctr")
        .arg("-a")
        .arg(&socket)
        .args(["-n", "k8s.io", "containers", "ls", "-q"])
        .arg(format!("labels.\"io.kubernetes.pod.uid\"=={uid}"))
        .output()
        .expect("ctr");
    let ids = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(
        ids.lines().count(),
        2,
        "one sandbox and one container, not duplicates: {ids}"
    );
}

#[test]
fn probes_gate_readiness_and_restart_failing_containers() {
    let c = Cluster::start_with_node(&[]);
    let probed = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: probed}}\nspec:\n  containers:\n  - name: main\n    image: {}\n    command: [sh, -c, 'sleep 3600']\n    readinessProbe: {{exec: {{command: [cat, /tmp/ready]}}, periodSeconds: 1}}\n    livenessProbe: {{exec: {{command: [sh, -c, 'test ! -e /tmp/die']}}, periodSeconds: 1, failureThreshold: 1}}\n",
        netns::BUSYBOX
    );
    apply(&c, &probed);
    let http = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: http}}\nspec:\n  containers:\n  - name: main\n    image: {}\n    command: [sh, -c, 'mkdir -p /www && echo ok > /www/index.html && httpd -f -p 8080 -h /www']\n    ports: [{{name: web, containerPort: 8080}}]\n    readinessProbe: {{httpGet: {{path: /index.html, port: web}}, periodSeconds: 1}}\n    livenessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}\n",
        netns::BUSYBOX
    );
    apply(&c, &http);
    let ready = |name: &str| {
        let p = pod(&c, name);
        p["status"]["containerStatuses"][0]["ready"] == true
            && p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    };
    wait_phase(&c, "probed", "Running", 90);
    eventually("a failed readiness probe to be reported", 30, || {
        let events = c.kubectl_ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=probed,reason=Unhealthy",
        ]);
        events.contains("Readiness probe failed").then_some(())
    });
    assert!(!ready("probed"), "Ready before its readiness probe passed");
    c.kubectl_ok(&["exec", "probed", "--", "touch", "/tmp/ready"]);
    eventually("the probed pod to become Ready", 30, || {
        ready("probed").then_some(())
    });
    eventually("the HTTP-probed pod to become Ready", 60, || {
        ready("http").then_some(())
    });

    c.kubectl_ok(&["exec", "probed", "--", "touch", "/tmp/die"]);
    let restarted = eventually("a restart after the liveness probe failed", 60, || {
        let p = pod(&c, "probed");
        let cs = p["status"]["containerStatuses"][0].clone();
        (cs["restartCount"].as_u64().unwrap_or(0) >= 1).then_some(cs)
    });
    assert!(
        restarted["lastState"]["terminated"].is_object(),
        "{restarted}"
    );
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=probed,reason=Killing",
    ]);
    assert!(
        events.contains("failed liveness probe, will be restarted"),
        "{events}"
    );
    // The new instance starts unready again: /tmp/ready went with the old one.
    eventually("the restarted container to be unready", 30, || {
        (!ready("probed")).then_some(())
    });
}

#[test]
fn a_silent_node_is_marked_unknown_tainted_and_its_pods_evicted() {
    // A Node whose kubelet never posts: no node agent is needed to play it.
    let c = Cluster::start_with(&["--node-monitor-grace-period=3s"]);
    apply(&c, "apiVersion: v1\nkind: Node\nmetadata: {name: ghost}\n");
    apply(
        &c,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: short}\nspec:\n  nodeName: ghost\n  tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1}]\n  containers: [{name: main, image: busybox}]\n",
    );
    apply(&c, "apiVersion: v1\nkind: Pod\nmetadata: {name: patient}\nspec:\n  nodeName: ghost\n  containers: [{name: main, image: busybox}]\n");
    let tolerations = pod(&c, "patient")["spec"]["tolerations"].clone();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        assert!(
            tolerations
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["key"] == key && t["tolerationSeconds"] == 300),
            "DefaultTolerationSeconds: {tolerations}"
        );
    }
    let node = eventually("the node to be tainted unreachable", 30, || {
        let n = json(&c, &["get", "node", "ghost"]);
        let taints = n["spec"]["taints"].as_array()?.clone();
        let keys: Vec<_> = taints
            .iter()
            .map(|t| (t["key"].clone(), t["effect"].clone()))
            .collect();
        (keys.contains(&("node.kubernetes.io/unreachable".into(), "NoExecute".into()))
            && keys.contains(&("node.kubernetes.io/unreachable".into(), "NoSchedule".into())))
        .then_some(n)
    });
    let _ = node;
    eventually("the node's conditions to be Unknown", 30, || {
        let n = json(&c, &["get", "node", "ghost"]);
        let ready = n["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready")?
            .clone();
        (ready["status"] == "Unknown" && ready["message"] == "Kubelet never posted node status.")
            .then_some(())
    });
    eventually("the pod with a 1 s toleration to be evicted", 30, || {
        pod(&c, "short")["metadata"]["deletionTimestamp"]
            .is_string()
            .then_some(())
    });
    assert!(pod(&c, "patient")["metadata"]["deletionTimestamp"].is_null());
}

#[test]
fn a_machine_joins_with_a_bootstrap_token_and_runs_pods() {
    // The server alone (no node of its own), and a `kapi node` beside it that joins with a token.
    let c = Cluster::start_with_node(&["--disable-node"]);
    let kapi = env!("CARGO_BIN_EXE_kapi");
    let out = c
        .command(kapi)
        .args(["token", "create", "--ttl", "1h", "--data-dir"])
        .arg(c.data())
        .output()
        .expect("kapi token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(kapi_token_shape(&token), "{token}");
    let secret = json(
        &c,
        &[
            "get",
            "secret",
            "-n",
            "kube-system",
            &format!("bootstrap-token-{}", &token[..6]),
        ],
    );
    assert_eq!(secret["type"], "bootstrap.kubernetes.io/token");
    // A bootstrap token authenticates as a bootstrapper, and may not do more.
    let (code, who) = c.curl_token(
        &token,
        &[
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
        ],
    );
    assert_eq!(code, 201, "{who}");
    assert_eq!(
        who["status"]["userInfo"]["username"],
        format!("system:bootstrap:{}", &token[..6])
    );
    let (code, _) = c.curl_token(&token, &["/api/v1/namespaces/default/secrets"]);
    assert_eq!(code, 403);

    let node_dir = c.dir.path().join("node");
    std::fs::create_dir_all(&node_dir).unwrap();
    std::fs::write(
        node_dir.join("registries.yaml"),
        netns::NetNs::registries_yaml(),
    )
    .unwrap();
    let mut node = c
        .command(kapi)
        .args([
            "node",
            "--server",
            &c.url,
            "--token",
            &token,
            "--certificate-authority",
        ])
        .arg(c.data().join("ca.crt"))
        .arg("--data-dir")
        .arg(&node_dir)
        .args(["--node-name", "joiner", "--node-ip", netns::NODE_IP])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kapi node");
    let ready = eventually("the joined node to be Ready", 90, || {
        let out = c.kubectl(&["get", "node", "joiner", "-o", "json"]);
        let n: Value = serde_json::from_slice(&out.stdout).ok()?;
        n["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
            .then_some(n)
    });
    assert!(ready["metadata"]["labels"]
        .get("node-role.kubernetes.io/control-plane")
        .is_none());
    let csrs = json(&c, &["get", "csr"]);
    let signers: Vec<&str> = csrs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["spec"]["signerName"].as_str())
        .collect();
    assert!(
        signers.contains(&"kubernetes.io/kube-apiserver-client-kubelet"),
        "{signers:?}"
    );
    assert!(
        signers.contains(&"kubernetes.io/kubelet-serving"),
        "{signers:?}"
    );
    for item in csrs["items"].as_array().unwrap() {
        let approved = item["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Approved" && c["reason"] == "AutoApproved")
        });
        assert!(
            approved && item["status"]["certificate"].is_string(),
            "{item}"
        );
    }
    let kubeconfig = std::fs::read_to_string(node_dir.join("kubelet.kubeconfig")).unwrap();
    assert!(kubeconfig.contains("system:node:joiner"));

    apply(
        &c,
        &busybox_pod("hello", "echo hello from joiner; sleep 3600", ""),
    );
    let p = wait_phase(&c, "hello", "Running", 90);
    assert_eq!(p["spec"]["nodeName"], "joiner");
    eventually("the joined node's logs", 30, || {
        (c.kubectl_ok(&["logs", "hello"]) == "hello from joiner\n").then_some(())
    });
    assert_eq!(
        c.kubectl_ok(&["exec", "hello", "--", "hostname"]).trim(),
        "hello"
    );
    c.kubectl_ok(&[
        "delete",
        "pod",
        "hello",
        "--grace-period=1",
        "--wait=true",
        "--timeout=60s",
    ]);
    let _ = node.kill();
    let _ = node.wait();
}

fn kapi_token_shape(t: &str) -> bool {
    let (id, secret) = t.split_once('.').unwrap_or(("", ""));
    id.len() == 6 && secret.len() == 16
}

#[test]
fn pods_get_the_cluster_search_path_and_the_node_answers_cluster_names() {
    let c = Cluster::start_with_node(&[]);
    apply(&c, &busybox_pod("dns", "sleep 3600", ""));
    wait_phase(&c, "dns", "Running", 120);
    let resolv = c.kubectl_ok(&["exec", "dns", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 10.96.0.10"), "{resolv}");
    assert!(
        resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{resolv}"
    );
    assert!(resolv.contains("options ndots:5"), "{resolv}");

    let cluster_ip = c.kubectl_ok(&[
        "get",
        "service",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    // Asked of the node's address: the kube-dns Service's rules are not this test's subject.
    let answer = eventually("the node's DNS server to answer", 30, || {
        let out = c.kubectl(&[
            "exec",
            "dns",
            "--",
            "nslookup",
            "-type=A",
            "kubernetes.default.svc.cluster.local.",
            netns::NODE_IP,
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains(&format!("Address: {cluster_ip}"))
            .then_some(text)
    });
    assert!(
        answer.contains("kubernetes.default.svc.cluster.local"),
        "{answer}"
    );
    let missing = c.kubectl(&[
        "exec",
        "dns",
        "--",
        "nslookup",
        "-type=A",
        "nothing-here.default.svc.cluster.local.",
        netns::NODE_IP,
    ]);
    let text = String::from_utf8_lossy(&missing.stdout).into_owned()
        + &String::from_utf8_lossy(&missing.stderr);
    assert!(text.contains("NXDOMAIN"), "{text}");

    // A headless Service answers its endpoints, each also under its hostname.
    apply(
        &c,
        "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  clusterIP: None\n  ports: [{name: pg, port: 5432}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: db-1\n  labels: {kubernetes.io/service-name: db}\naddressType: IPv4\nports: [{name: pg, port: 5432, protocol: TCP}]\nendpoints:\n- addresses: [10.244.0.99]\n  hostname: db-0\n  conditions: {ready: true}\n",
    );
    for name in [
        "db.default.svc.cluster.local.",
        "db-0.db.default.svc.cluster.local.",
    ] {
        eventually(&format!("{name} to resolve"), 30, || {
            let out = c.kubectl(&[
                "exec",
                "dns",
                "--",
                "nslookup",
                "-type=A",
                name,
                netns::NODE_IP,
            ]);
            String::from_utf8_lossy(&out.stdout)
                .contains("Address: 10.244.0.99")
                .then_some(())
        });
    }
}

//! `kapi node --runtime=simulated`: kwok-style nodes beside a pure API server
//! (`--disable-node`), run as a separate process with the admin kubeconfig as a user runs
//! them. The nodes must look like kubelet's to kubectl and the controllers, their pods must go
//! Running and Ready with addresses from each node's podCIDR, a Job's pods must complete, and
//! deletions (of a Deployment, of a namespace with 1,000 pods) must complete because the nodes
//! finish their pods' deletion.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::{eventually, Cluster};

/// A `kapi node --runtime=simulated` process, stopped when dropped.
struct SimulatedNodes(Child);

impl SimulatedNodes {
    fn start(c: &Cluster, count: usize, prefix: &str) -> SimulatedNodes {
        let child = Command::new(env!("CARGO_BIN_EXE_kapi"))
            .args(["node", "--runtime=simulated", "--count"])
            .arg(count.to_string())
            .args(["--name-prefix", prefix, "--kubeconfig"])
            .arg(c.kubeconfig())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kapi node --runtime=simulated");
        SimulatedNodes(child)
    }
}

impl Drop for SimulatedNodes {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get_json(c: &Cluster, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&c.kubectl_ok(&all)).expect("kubectl JSON")
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

fn ready(node: &Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Waits until `count` nodes named `prefix-*` are Ready with a podCIDR; returns them by name.
fn ready_nodes(c: &Cluster, prefix: &str, count: usize) -> BTreeMap<String, Value> {
    eventually("the simulated nodes to be Ready", 60, || {
        let nodes: BTreeMap<String, Value> = items(&get_json(c, &["get", "nodes"]))
            .into_iter()
            .filter(|n| {
                n["metadata"]["name"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(&format!("{prefix}-")))
            })
            .map(|n| (n["metadata"]["name"].as_str().unwrap_or("").to_string(), n))
            .collect();
        (nodes.len() == count
            && nodes
                .values()
                .all(|n| ready(n) && n["spec"]["podCIDR"].is_string()))
        .then_some(nodes)
    })
}

/// Whether `ip` lies in `cidr` (`a.b.c.d/len`).
fn in_cidr(ip: &str, cidr: &str) -> bool {
    let (Ok(ip), Some((base, len))) = (ip.parse::<Ipv4Addr>(), cidr.split_once('/')) else {
        return false;
    };
    let (Ok(base), Ok(len)) = (base.parse::<Ipv4Addr>(), len.parse::<u32>()) else {
        return false;
    };
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(ip) & mask == u32::from(base) & mask
}

const WEB: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      initContainers:
      - name: setup
        image: registry.example/setup:1
      containers:
      - name: web
        image: registry.example/web:1
        ports: [{containerPort: 80}]
      - name: sidecar
        image: registry.example/sidecar:1
"#;

const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: NS
spec:
  selector: {app: web}
  ports: [{port: 80}]
"#;

fn web(namespace: &str, replicas: usize) -> String {
    WEB.replace("NS", namespace)
        .replace("REPLICAS", &replicas.to_string())
}

fn service(namespace: &str) -> String {
    SERVICE.replace("NS", namespace)
}

fn apply(c: &Cluster, manifest: &str) {
    let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(manifest));
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn simulated_nodes_register_ready_with_kubelet_labels_capacity_and_leases() {
    let c = Cluster::start();
    let _nodes = SimulatedNodes::start(&c, 3, "sim");
    let nodes = ready_nodes(&c, "sim", 3);
    let table = c.kubectl_ok(&["get", "nodes", "-l", "kapi.dev/simulated=true"]);
    for name in ["sim-0", "sim-1", "sim-2"] {
        let row = table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {table}"));
        assert!(row.contains(" Ready "), "{row}");
    }
    let n = &nodes["sim-1"];
    let labels = &n["metadata"]["labels"];
    assert_eq!(labels["kubernetes.io/hostname"], "sim-1");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert!(labels["kubernetes.io/arch"].is_string(), "{labels}");
    assert_eq!(n["status"]["allocatable"]["cpu"], "32");
    assert_eq!(n["status"]["allocatable"]["pods"], "110");
    assert_eq!(n["status"]["nodeInfo"]["operatingSystem"], "linux");
    let kinds: BTreeSet<&str> = n["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .filter_map(|c| c["type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["DiskPressure", "MemoryPressure", "PIDPressure", "Ready"])
    );
    let addresses: BTreeSet<&str> = n["status"]["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .filter_map(|a| a["type"].as_str())
        .collect();
    assert!(addresses.contains("InternalIP"), "{addresses:?}");
    let leases = eventually("a Lease per simulated node", 30, || {
        let names: BTreeSet<String> =
            items(&get_json(&c, &["get", "leases", "-n", "kube-node-lease"]))
                .iter()
                .filter(|l| l["spec"]["renewTime"].is_string())
                .filter_map(|l| l["metadata"]["name"].as_str().map(String::from))
                .collect();
        ["sim-0", "sim-1", "sim-2"]
            .iter()
            .all(|n| names.contains(*n))
            .then_some(names)
    });
    assert!(leases.contains("sim-0"));
    // Every node serves cluster DNS: the kube-dns Service's slice lists them all.
    let dns = eventually("the kube-dns slice listing the nodes", 30, || {
        let slices = items(&get_json(
            &c,
            &[
                "get",
                "endpointslices",
                "-n",
                "kube-system",
                "-l",
                "kubernetes.io/service-name=kube-dns",
            ],
        ));
        let slice = slices.first()?.clone();
        let names: BTreeSet<String> = slice["endpoints"]
            .as_array()?
            .iter()
            .filter_map(|e| e["nodeName"].as_str().map(String::from))
            .collect();
        ["sim-0", "sim-1", "sim-2"]
            .iter()
            .all(|n| names.contains(*n))
            .then_some(slice)
    });
    assert_eq!(
        dns["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "cluster-dns.kapi.dev"
    );
}

#[test]
fn a_deployment_on_simulated_nodes_becomes_available_and_goes_with_its_pods() {
    let c = Cluster::start();
    let _nodes = SimulatedNodes::start(&c, 3, "sim");
    let nodes = ready_nodes(&c, "sim", 3);
    apply(
        &c,
        &format!("{}---\n{}", web("default", 30), service("default")),
    );
    c.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    let d = get_json(&c, &["get", "deployment", "web"]);
    assert_eq!(d["status"]["availableReplicas"], 30, "{}", d["status"]);
    let pods = items(&get_json(&c, &["get", "pods", "-l", "app=web"]));
    assert_eq!(pods.len(), 30);
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    let mut ips = BTreeSet::new();
    for p in &pods {
        let node_name = p["spec"]["nodeName"].as_str().expect("bound");
        let node = nodes.get(node_name).expect("on a simulated node");
        *per_node.entry(node_name.to_string()).or_default() += 1;
        let status = &p["status"];
        assert_eq!(status["phase"], "Running");
        let ip = status["podIP"].as_str().expect("podIP");
        let cidr = node["spec"]["podCIDR"].as_str().expect("podCIDR");
        assert!(in_cidr(ip, cidr), "{ip} not in {node_name}'s {cidr}");
        assert!(ips.insert(ip.to_string()), "{ip} given twice");
        assert_eq!(
            status["hostIP"], node["status"]["addresses"][0]["address"],
            "hostIP is the node's InternalIP"
        );
        let containers = status["containerStatuses"].as_array().expect("statuses");
        assert_eq!(containers.len(), 2);
        assert!(containers.iter().all(|s| s["ready"] == true
            && s["started"] == true
            && s["state"]["running"].is_object()
            && s["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("registry.example/"))));
        assert_eq!(
            status["initContainerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
        for kind in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
            assert!(
                status["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == kind && c["status"] == "True"),
                "{kind} in {}",
                status["conditions"]
            );
        }
    }
    assert_eq!(per_node.len(), 3, "spread over every node: {per_node:?}");
    // The pods' addresses reach the Service's endpoints as on a real node.
    eventually("30 ready endpoints", 60, || {
        let slices = items(&get_json(
            &c,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
            ],
        ));
        let ready: BTreeSet<String> = slices
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["conditions"]["ready"] == true)
            .filter_map(|e| e["addresses"][0].as_str().map(String::from))
            .collect();
        (ready == ips).then_some(())
    });

    c.kubectl_ok(&["delete", "deployment", "web", "--wait=false"]);
    eventually("the Deployment's pods to be gone", 120, || {
        items(&get_json(&c, &["get", "pods", "-l", "app=web"]))
            .is_empty()
            .then_some(())
    });
}

#[test]
fn deleting_a_namespace_with_1000_pods_on_simulated_nodes_completes() {
    let c = Cluster::start();
    // 10 nodes of 110 pods each hold the 1,000.
    let _nodes = SimulatedNodes::start(&c, 10, "big");
    ready_nodes(&c, "big", 10);
    c.kubectl_ok(&["create", "namespace", "crowd"]);
    apply(&c, &web("crowd", 1000));
    eventually("1,000 pods available", 600, || {
        let (_, d) = c.curl_json(&["/apis/apps/v1/namespaces/crowd/deployments/web"]);
        (d["status"]["availableReplicas"] == 1000).then_some(())
    });
    // The Service comes once the pods run: its slices are then computed once rather than
    // after every one of the 1,000 pods' status changes (which a debug build pays dearly for).
    apply(&c, &service("crowd"));
    eventually(
        "1,000 endpoints in the Service's EndpointSlices",
        300,
        || {
            let (_, slices) =
                c.curl_json(&["/apis/discovery.k8s.io/v1/namespaces/crowd/endpointslices"]);
            let endpoints: usize = slices["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["endpoints"].as_array().map_or(0, Vec::len))
                .sum();
            (endpoints == 1000).then_some(())
        },
    );

    c.kubectl_ok(&["delete", "namespace", "crowd", "--wait=false"]);
    eventually("the namespace to be gone", 600, || {
        let (code, _) = c.curl_json(&["/api/v1/namespaces/crowd"]);
        (code == 404).then_some(())
    });
    let (_, pods) = c.curl_json(&["/api/v1/namespaces/crowd/pods"]);
    assert_eq!(pods["items"].as_array().map(Vec::len), Some(0), "{pods}");
    let (_, slices) = c.curl_json(&["/apis/discovery.k8s.io/v1/namespaces/crowd/endpointslices"]);
    assert_eq!(
        slices["items"].as_array().map(Vec::len),
        Some(0),
        "{slices}"
    );
}

#[test]
fn simulated_nodes_refuse_to_start_without_a_kubeconfig() {
    let out = Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args(["node", "--runtime=simulated", "--count", "2"])
        .output()
        .expect("run kapi node");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs --kubeconfig"), "{stderr}");
}

#[test]
fn a_jobs_pods_on_simulated_nodes_complete_and_the_job_with_them() {
    let c = Cluster::start();
    let _nodes = SimulatedNodes::start(&c, 2, "sim");
    let nodes = ready_nodes(&c, "sim", 2);
    apply(
        &c,
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: batch
  namespace: default
spec:
  completions: 4
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: registry.example/work:1
"#,
    );
    c.kubectl_ok(&[
        "wait",
        "--for=condition=Complete",
        "job/batch",
        "--timeout=120s",
    ]);
    let job = get_json(&c, &["get", "job", "batch"]);
    assert_eq!(job["status"]["succeeded"], 4, "{}", job["status"]);
    let pods = items(&get_json(&c, &["get", "pods", "-l", "job-name=batch"]));
    assert_eq!(pods.len(), 4);
    for p in &pods {
        assert!(nodes.contains_key(p["spec"]["nodeName"].as_str().unwrap_or("")));
        assert_eq!(p["status"]["phase"], "Succeeded");
        let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(t["exitCode"], 0, "{}", p["status"]);
        assert_eq!(t["reason"], "Completed");
    }
}

//! Services: EndpointSlices from pod readiness, and the service proxy serving cluster IPs, node
//! ports, LoadBalancer addresses and session affinity to real pods in the test's own network
//! namespace; the API server's service and pod proxy; the allocator releasing what a Service
//! gives up.

use std::process::Output;

use serde_json::Value;

use crate::support::{eventually, netns, Cluster};

fn json(c: &Cluster, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["-o", "json"]);
    serde_json::from_str(&c.kubectl_ok(&full)).expect("kubectl JSON")
}

fn apply(c: &Cluster, manifest: &str) {
    let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(manifest));
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A busybox pod serving `NAME` over HTTP on 8080, Ready once it listens.
fn web_pod(c: &Cluster, name: &str, app: &str) {
    apply(
        c,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: {app}}}}}\nspec:\n  containers:\n  - name: web\n    image: {}\n    command: [sh, -c, 'mkdir -p /www && echo {name} > /www/index.html && exec httpd -f -p 8080 -h /www']\n    ports: [{{name: http, containerPort: 8080}}]\n    readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}\n",
            netns::BUSYBOX
        ),
    );
}

fn ready(c: &Cluster, name: &str) {
    eventually(&format!("pod {name} Ready"), 90, || {
        let p = json(c, &["get", "pod", name]);
        p["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
            .then_some(())
    });
}

/// curl from inside the namespace (where node, service and pod addresses live).
fn curl(c: &Cluster, url: &str) -> Output {
    c.command("curl")
        .args(["-sS", "-m", "5", url])
        .output()
        .expect("curl")
}

fn body(c: &Cluster, url: &str) -> Option<String> {
    let out = curl(c, url);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn svc_field(c: &Cluster, name: &str, path: &str) -> String {
    c.kubectl_ok(&["get", "service", name, "-o", &format!("jsonpath={path}")])
}

#[test]
fn services_reach_pods_by_cluster_ip_node_port_load_balancer_and_the_api_server_proxy() {
    let c = Cluster::start_with_node(&[]);
    web_pod(&c, "web", "web");
    ready(&c, "web");
    let pod_ip = json(&c, &["get", "pod", "web"])["status"]["podIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // A named target port resolves to the container's port; the slice lists the pod as
    // upstream's controller would.
    c.kubectl_ok(&[
        "expose",
        "pod",
        "web",
        "--name",
        "web-np",
        "--type=NodePort",
        "--port=80",
        "--target-port=http",
    ]);
    let slice = eventually("the slice lists the ready pod", 20, || {
        let list = json(
            &c,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web-np",
            ],
        );
        let slice = list["items"][0].clone();
        (slice["endpoints"][0]["conditions"]["ready"] == true).then_some(slice)
    });
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slice["endpoints"][0]["addresses"][0], pod_ip.as_str());
    assert_eq!(slice["endpoints"][0]["targetRef"]["name"], "web");
    assert!(slice["endpoints"][0]["nodeName"].is_string(), "{slice}");
    assert_eq!(slice["ports"][0]["port"], 8080);
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");

    let node_port = svc_field(&c, "web-np", "{.spec.ports[0].nodePort}");
    let cluster_ip = svc_field(&c, "web-np", "{.spec.clusterIP}");
    let by_node_port = format!("http://{}:{node_port}/", netns::NODE_IP);
    assert_eq!(
        eventually("NodeIP:NodePort answers", 20, || body(&c, &by_node_port)),
        "web"
    );
    assert_eq!(
        eventually("ClusterIP answers", 20, || body(
            &c,
            &format!("http://{cluster_ip}/")
        )),
        "web"
    );

    // LoadBalancer: the node's address as ingress, serving the Service port there.
    c.kubectl_ok(&[
        "expose",
        "pod",
        "web",
        "--name",
        "web-lb",
        "--type=LoadBalancer",
        "--port=8081",
        "--target-port=8080",
    ]);
    let ingress = eventually("the load balancer address", 20, || {
        let ip = svc_field(&c, "web-lb", "{.status.loadBalancer.ingress[0].ip}");
        (!ip.is_empty()).then_some(ip)
    });
    assert_eq!(ingress, netns::NODE_IP);
    assert!(!svc_field(&c, "web-lb", "{.spec.ports[0].nodePort}").is_empty());
    assert_eq!(
        eventually("the load balancer answers", 20, || body(
            &c,
            &format!("http://{ingress}:8081/")
        )),
        "web"
    );

    // Through the API server: the Service by port number and the pod by its port.
    let via_service = c.kubectl_ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/services/web-np:80/proxy/",
    ]);
    assert_eq!(via_service.trim(), "web");
    let via_pod = c.kubectl_ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/pods/web:8080/proxy/index.html",
    ]);
    assert_eq!(via_pod.trim(), "web");
    let err = c.kubectl_err(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/services/nothing-here:80/proxy/",
    ]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );

    // From another pod: by ClusterIP, across the bridge (the reply must come back through the
    // node, which masquerade ensures), and to a pod by its address.
    apply(
        &c,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: client}}\nspec:\n  containers:\n  - name: c\n    image: {}\n    command: [sleep, '3600']\n",
            netns::BUSYBOX
        ),
    );
    eventually("the client pod runs", 90, || {
        (json(&c, &["get", "pod", "client"])["status"]["phase"] == "Running").then_some(())
    });
    for url in [
        format!("http://{cluster_ip}/"),
        format!("http://{pod_ip}:8080/"),
    ] {
        let got = eventually(&format!("{url} from a pod"), 20, || {
            let out = c.kubectl(&["exec", "client", "--", "wget", "-qO-", &url]);
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        });
        assert_eq!(got, "web", "{url}");
    }
    // A pod reaching itself through its own Service (hairpin).
    let hairpin = eventually("the pod through its own Service", 20, || {
        let out = c.kubectl(&[
            "exec",
            "web",
            "--",
            "wget",
            "-qO-",
            &format!("http://{cluster_ip}/"),
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    assert_eq!(hairpin, "web");

    // No ready endpoints: refused at once (curl exit 7), not a timeout (28).
    c.kubectl_ok(&["create", "service", "nodeport", "nothing", "--tcp=80:9"]);
    let empty_port = svc_field(&c, "nothing", "{.spec.ports[0].nodePort}");
    let empty_ip = svc_field(&c, "nothing", "{.spec.clusterIP}");
    for url in [
        format!("http://{}:{empty_port}/", netns::NODE_IP),
        format!("http://{empty_ip}/"),
    ] {
        eventually(&format!("{url} refuses"), 20, || {
            (curl(&c, &url).status.code() == Some(7)).then_some(())
        });
    }

    // The pod gone, its Service has no endpoints and refuses.
    c.kubectl_ok(&["delete", "pod", "web", "--wait=false"]);
    eventually("the NodePort refuses once the pod is gone", 60, || {
        (curl(&c, &by_node_port).status.code() == Some(7)).then_some(())
    });

    // Deleting the Service removes its rules: the refusal for its empty endpoints goes too,
    // so the port is simply closed (curl still fails, now because nothing listens).
    c.kubectl_ok(&["delete", "service", "web-lb"]);
    eventually("the load balancer's rules are gone", 20, || {
        let rules = c
            .command("nft")
            .args(["list", "table", "ip", "kapi-proxy"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&rules.stdout);
        (rules.status.success() && !text.contains(":8081") && !text.contains(". 8081"))
            .then_some(())
    });
}

#[test]
fn a_load_balancer_pool_gives_each_service_its_own_address_held_by_the_node_and_reused_when_freed()
{
    let c = Cluster::start_with_node(&["--service-lb-pool", "10.250.0.200-10.250.0.201"]);
    web_pod(&c, "web", "web");
    ready(&c, "web");
    let lb = |name: &str| {
        apply(
            &c,
            &format!("apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: LoadBalancer\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"),
        );
    };
    let ingress = |name: &str| svc_field(&c, name, "{.status.loadBalancer.ingress[*].ip}");
    // Both on port 80: with addresses of their own, Services do not compete for ports.
    lb("lb-a");
    eventually("lb-a's address", 20, || {
        (ingress("lb-a") == "10.250.0.200").then_some(())
    });
    lb("lb-b");
    eventually("lb-b's address", 20, || {
        (ingress("lb-b") == "10.250.0.201").then_some(())
    });
    for ip in ["10.250.0.200", "10.250.0.201"] {
        assert_eq!(
            eventually(&format!("{ip}:80 answers"), 20, || body(
                &c,
                &format!("http://{ip}/")
            )),
            "web"
        );
    }
    let held = || {
        let out = c
            .command("ip")
            .args([
                "-4",
                "-o",
                "addr",
                "show",
                "dev",
                "lo",
                "label",
                "lo:kapi-lb",
            ])
            .output()
            .expect("ip");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    eventually("the node holds both addresses", 20, || {
        let addrs = held();
        (addrs.contains("10.250.0.200/32") && addrs.contains("10.250.0.201/32")).then_some(())
    });

    // The pool is spent: a third Service gets lb-a's address once lb-a is gone, and lb-b keeps
    // its own.
    lb("lb-c");
    c.kubectl_ok(&["delete", "service", "lb-a"]);
    eventually("lb-c gets the freed address", 20, || {
        (ingress("lb-c") == "10.250.0.200").then_some(())
    });
    assert_eq!(ingress("lb-b"), "10.250.0.201");
    assert_eq!(
        eventually("lb-c answers", 20, || body(&c, "http://10.250.0.200/")),
        "web"
    );

    // Without LoadBalancer Services the node lets go of the addresses.
    c.kubectl_ok(&["delete", "service", "lb-b", "lb-c"]);
    eventually("the node lets go of the pool addresses", 20, || {
        (!held().contains("10.250.0.20")).then_some(())
    });
}

#[test]
fn client_ip_affinity_keeps_a_client_on_one_endpoint() {
    let c = Cluster::start_with_node(&[]);
    web_pod(&c, "a", "aff");
    web_pod(&c, "b", "aff");
    ready(&c, "a");
    ready(&c, "b");
    apply(
        &c,
        "apiVersion: v1\nkind: Service\nmetadata: {name: sticky}\nspec:\n  selector: {app: aff}\n  sessionAffinity: ClientIP\n  ports: [{port: 80, targetPort: 8080}]\n",
    );
    let ip = svc_field(&c, "sticky", "{.spec.clusterIP}");
    eventually("both endpoints listed", 20, || {
        let list = json(
            &c,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=sticky",
            ],
        );
        let ready = list["items"]
            .as_array()?
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["conditions"]["ready"] == true)
            .count();
        (ready == 2).then_some(())
    });
    let first = eventually("the sticky Service answers", 20, || {
        body(&c, &format!("http://{ip}/"))
    });
    for _ in 0..10 {
        assert_eq!(
            body(&c, &format!("http://{ip}/")).as_deref(),
            Some(first.as_str())
        );
    }
}

#[test]
fn node_ports_and_cluster_ips_are_released_and_dry_runs_allocate_nothing() {
    let c = Cluster::start();
    let svc = |name: &str, node_port: u16, dry: bool| {
        let manifest = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: NodePort\n  selector: {{app: x}}\n  ports: [{{port: 80, nodePort: {node_port}}}]\n"
        );
        let mut args = vec!["create", "-f", "-"];
        if dry {
            args.push("--dry-run=server");
        }
        c.kubectl_stdin(&args, Some(&manifest))
    };
    assert!(svc("dry", 30500, true).status.success());
    let real = svc("real", 30500, false);
    assert!(
        real.status.success(),
        "{}",
        String::from_utf8_lossy(&real.stderr)
    );
    let taken = svc("second", 30500, false);
    let err = String::from_utf8_lossy(&taken.stderr).into_owned();
    assert!(
        err.contains(
            "spec.ports[0].nodePort: Invalid value: 30500: provided port is already allocated"
        ),
        "{err}"
    );
    c.kubectl_ok(&["delete", "service", "real"]);
    assert!(
        svc("again", 30500, false).status.success(),
        "a deleted Service's port is free"
    );

    // Turning a NodePort Service into a ClusterIP one gives its node port back.
    c.kubectl_ok(&[
        "patch",
        "service",
        "again",
        "-p",
        r#"{"spec":{"type":"ClusterIP"}}"#,
    ]);
    assert_eq!(svc_field(&c, "again", "{.spec.ports[0].nodePort}"), "");
    assert!(svc("third", 30500, false).status.success());
    // And back: a fresh node port, outside the static band.
    c.kubectl_ok(&[
        "patch",
        "service",
        "again",
        "-p",
        r#"{"spec":{"type":"NodePort"}}"#,
    ]);
    let port: u16 = svc_field(&c, "again", "{.spec.ports[0].nodePort}")
        .parse()
        .expect("a node port");
    assert!((30086..=32767).contains(&port), "{port}");
    let ip = svc_field(&c, "again", "{.spec.clusterIP}");
    assert!(ip.starts_with("10.96.") && ip != "10.96.0.10", "{ip}");
    let err = c.kubectl_err(&[
        "patch",
        "service",
        "again",
        "-p",
        r#"{"spec":{"clusterIP":"10.96.5.5","clusterIPs":["10.96.5.5"]}}"#,
    ]);
    assert!(
        err.contains("spec.clusterIPs[0]: Invalid value: \"10.96.5.5\": may not change once set"),
        "{err}"
    );
    assert_eq!(
        c.kubectl_ok(&[
            "get",
            "service",
            "kube-dns",
            "-n",
            "kube-system",
            "-o",
            "jsonpath={.spec.clusterIP}"
        ]),
        "10.96.0.10"
    );
}

#[test]
fn the_api_server_proxy_refuses_loopback_and_link_local_endpoints() {
    let c = Cluster::start();
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: v1\nkind: Service\nmetadata: {name: sneaky}\nspec:\n  ports: [{port: 80}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: sneaky-1, labels: {kubernetes.io/service-name: sneaky}}\naddressType: IPv4\nendpoints: [{addresses: [127.0.0.1]}]\nports: [{name: '', port: 6443, protocol: TCP}]\n",
        ),
    );
    for (slice_ip, what) in [("127.0.0.1", "loopback"), ("169.254.169.254", "link-local")] {
        c.kubectl_ok(&[
            "patch",
            "endpointslice",
            "sneaky-1",
            "--type=json",
            "-p",
            &format!(
                r#"[{{"op":"replace","path":"/endpoints/0/addresses/0","value":"{slice_ip}"}}]"#
            ),
        ]);
        let (code, body) = c.curl_json(&["/api/v1/namespaces/default/services/sneaky:80/proxy/"]);
        assert_eq!(code, 400, "{what}: {body}");
        assert_eq!(body["message"], "address not allowed", "{what}");
    }
}

fn ready_condition(c: &Cluster, cidr: &str) -> Option<(String, String, String)> {
    let out = c.kubectl(&["get", "servicecidr", cidr, "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let cond = v["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    let field = |k: &str| cond[k].as_str().unwrap_or_default().to_string();
    Some((field("status"), field("reason"), field("message")))
}

/// ServiceCIDRs as upstream 1.33: the server's range as the `kubernetes` ServiceCIDR, more
/// ranges added by creating one, addresses outside all refused, and a range being deleted
/// kept (Ready=False, Terminating) until no Service address depends on it alone.
#[test]
fn service_cidrs_extend_the_service_range_and_one_in_use_is_kept_until_its_services_go() {
    let c = Cluster::start();
    let table = c.kubectl_ok(&["get", "servicecidrs"]);
    assert!(
        table.contains("kubernetes") && table.contains("10.96.0.0/12"),
        "{table}"
    );
    let ready = eventually(
        "the default ServiceCIDR Ready with its finalizer",
        30,
        || {
            let finalizers = c.kubectl_ok(&[
                "get",
                "servicecidr",
                "kubernetes",
                "-o",
                "jsonpath={.metadata.finalizers}",
            ]);
            ready_condition(&c, "kubernetes")
                .filter(|(s, _, m)| s == "True" && m == "Kubernetes Service CIDR is ready")
                .filter(|_| finalizers.contains("networking.k8s.io/service-cidr-finalizer"))
        },
    );
    assert_eq!(ready.1, "");
    let ip = c.kubectl_ok(&["get", "ipaddress", "10.96.0.1"]);
    assert!(
        ip.contains("PARENTREF") && ip.contains("services/default/kubernetes"),
        "{ip}"
    );

    let far = [
        "create",
        "service",
        "clusterip",
        "far",
        "--tcp=80",
        "--clusterip=10.200.0.5",
    ];
    // Outside every range: refused as upstream words it.
    let outside = c.kubectl(&far);
    assert!(!outside.status.success());
    let err = String::from_utf8_lossy(&outside.stderr);
    assert!(
        err.contains(r#"spec.clusterIPs: Invalid value: []string{"10.200.0.5"}: failed to allocate IP 10.200.0.5: the provided network does not match the current range"#),
        "{err}"
    );
    // Bad ranges are refused with upstream's messages.
    let bad = c.kubectl_stdin(
        &["create", "-f", "-"],
        Some("apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: bad}\nspec: {cidrs: [10.200.0.1/24]}\n"),
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("must not have bits set beyond the prefix length"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    apply(
        &c,
        "apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: extra}\nspec: {cidrs: [10.200.0.0/24]}\n",
    );
    eventually("the new ServiceCIDR Ready", 30, || {
        ready_condition(&c, "extra").filter(|(s, _, _)| s == "True")
    });
    c.kubectl_ok(&far);
    let claim = c.kubectl_ok(&[
        "get",
        "ipaddress",
        "10.200.0.5",
        "-o",
        "jsonpath={.spec.parentRef.name}",
    ]);
    assert_eq!(claim, "far");
    // Its block cannot be changed, only another family's added.
    let changed = c.kubectl(&[
        "patch",
        "servicecidr",
        "extra",
        "--type=merge",
        "-p",
        r#"{"spec":{"cidrs":["10.201.0.0/24"]}}"#,
    ]);
    assert!(
        String::from_utf8_lossy(&changed.stderr)
            .contains("spec.cidrs[0]: Invalid value: \"10.201.0.0/24\": field is immutable"),
        "{}",
        String::from_utf8_lossy(&changed.stderr)
    );

    // Deleting the range while a Service holds an address only it covers: kept, and says why.
    c.kubectl_ok(&["delete", "servicecidr", "extra", "--wait=false"]);
    let (status, reason, message) = eventually("the ServiceCIDR held by its address", 30, || {
        ready_condition(&c, "extra").filter(|(s, _, _)| s == "False")
    });
    assert_eq!((status.as_str(), reason.as_str()), ("False", "Terminating"));
    assert_eq!(
        message,
        "There are still IPAddresses referencing the ServiceCIDR, please remove them or create a new ServiceCIDR"
    );
    assert!(c.kubectl(&["get", "servicecidr", "extra"]).status.success());
    // New Services get no address from a range being deleted.
    let refused = c.kubectl(&[
        "create",
        "service",
        "clusterip",
        "near",
        "--tcp=80",
        "--clusterip=10.200.0.6",
    ]);
    assert!(!refused.status.success());
    c.kubectl_ok(&["delete", "service", "far"]);
    eventually("the ServiceCIDR gone once its address is", 40, || {
        let out = c.kubectl(&["get", "servicecidr", "extra"]);
        (!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound"))
            .then_some(())
    });
}

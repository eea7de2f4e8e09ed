//! Resource metrics: kubelets' `/metrics/resource` scraped by the server into
//! `metrics.k8s.io/v1beta1`, read by an unmodified `kubectl top`.

use serde_json::Value;

use crate::support::{eventually, netns, Cluster};

#[test]
fn kubectl_top_shows_a_busy_pod_and_the_node() {
    let c = Cluster::start_with_node(&[]);
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: burner, labels: {{app: burn}}}}\nspec:\n  containers:\n  - name: main\n    image: {}\n    command: [sh, -c, 'while :; do :; done']\n",
        netns::BUSYBOX
    );
    let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(&manifest));
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Two scrapes 15 s apart are needed before a rate exists.
    let line = eventually("burner in kubectl top pod with CPU", 90, || {
        let out = c.kubectl(&["top", "pod", "-l", "app=burn", "--no-headers"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let line = text.lines().find(|l| l.starts_with("burner "))?.to_string();
        let cpu = line.split_whitespace().nth(1)?;
        let millis: u64 = cpu.trim_end_matches('m').parse().ok()?;
        (millis > 0).then_some(line)
    });
    assert!(
        line.split_whitespace().nth(2).unwrap_or("").ends_with("Mi"),
        "{line}"
    );

    let top = c.kubectl_ok(&["top", "node"]);
    let mut lines = top.lines();
    let header = lines.next().unwrap_or("");
    // kubectl 1.30 prints CPU% and MEMORY%, newer releases CPU(%) and MEMORY(%).
    assert!(header.contains("CPU") && header.contains("MEMORY"), "{top}");
    let row: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(row.len(), 5, "{top}");
    assert!(row[2].ends_with('%') && row[4].ends_with('%'), "{top}");

    let raw: Value = serde_json::from_str(&c.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/nodes",
    ]))
    .expect("NodeMetricsList JSON");
    assert_eq!(raw["kind"], "NodeMetricsList");
    assert_eq!(raw["apiVersion"], "metrics.k8s.io/v1beta1");
    let item = &raw["items"][0];
    assert!(
        item["usage"]["cpu"].is_string() && item["usage"]["memory"].is_string(),
        "{raw}"
    );
    assert!(
        item["window"].as_str().unwrap_or("").ends_with('s'),
        "{raw}"
    );

    let pods = |query: &str| -> Value {
        let path = format!("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?{query}");
        serde_json::from_str(&c.kubectl_ok(&["get", "--raw", &path])).expect("PodMetricsList")
    };
    let by_field = pods("fieldSelector=metadata.name%3Dburner");
    assert_eq!(by_field["kind"], "PodMetricsList");
    assert_eq!(
        by_field["items"][0]["containers"][0]["name"], "main",
        "{by_field}"
    );
    assert_eq!(
        pods("labelSelector=app%3Dnone")["items"],
        serde_json::json!([])
    );

    // `view` reads metrics through the aggregated system:aggregated-metrics-reader role.
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        "viewer",
        "--clusterrole=view",
        "--user=viewer",
    ]);
    eventually("view to grant pods.metrics.k8s.io", 30, || {
        let out = c.kubectl(&["top", "pod", "burner", "--as=viewer"]);
        out.status.success().then_some(())
    });
    let denied = c.kubectl_err(&["top", "node", "--as=viewer"]);
    assert!(denied.contains("forbidden"), "{denied}");

    let missing = c.kubectl_err(&["top", "pod", "nosuchpod"]);
    assert!(missing.contains("not found"), "{missing}");
}

//! HorizontalPodAutoscalers: `kubectl autoscale` (which writes autoscaling/v1) read back in
//! both versions, `kubectl get hpa` targets, and the controller scaling on CPU utilization
//! from metrics.k8s.io, or saying why it cannot.

use serde_json::Value;

use crate::support::{eventually, netns, Cluster};

fn deployment(name: &str, image: &str, command: &str, cpu_request: Option<&str>) -> String {
    let resources = cpu_request
        .map(|r| format!("\n        resources: {{requests: {{cpu: {r}}}}}"))
        .unwrap_or_default();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n        command: [sh, -c, '{command}']{resources}\n"
    )
}

fn apply(c: &Cluster, manifest: &str) {
    let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(manifest));
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The HPA's condition `type_` as (status, reason, message).
fn condition(c: &Cluster, hpa: &str, type_: &str) -> Option<(String, String, String)> {
    let out = c.kubectl(&[
        "get",
        "horizontalpodautoscalers.v2.autoscaling",
        hpa,
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let cond = v
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?
        .clone();
    let s = |k: &str| cond[k].as_str().unwrap_or_default().to_string();
    Some((s("status"), s("reason"), s("message")))
}

#[test]
fn kubectl_autoscale_is_served_in_v1_and_v2_and_reports_missing_metrics() {
    let c = Cluster::start();
    apply(
        &c,
        &deployment("web", "registry.invalid/web:1", "sleep 3600", None),
    );
    let out = c.kubectl_ok(&["autoscale", "deployment", "web", "--max=3"]);
    assert!(
        out.contains("horizontalpodautoscaler.autoscaling/web autoscaled"),
        "{out}"
    );

    // Stored as v2 with v2's default metric; v1 shows it as its single CPU target.
    let v2: Value = serde_json::from_str(&c.kubectl_ok(&[
        "get",
        "horizontalpodautoscalers.v2.autoscaling",
        "web",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(v2["apiVersion"], "autoscaling/v2");
    assert_eq!(v2["spec"]["minReplicas"], 1);
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        80
    );
    assert_eq!(v2["spec"]["behavior"]["scaleUp"]["policies"][0]["value"], 4);
    let v1: Value = serde_json::from_str(&c.kubectl_ok(&[
        "get",
        "horizontalpodautoscalers.v1.autoscaling",
        "web",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 80);
    assert_eq!(v1["spec"]["scaleTargetRef"]["name"], "web");

    // No node, so no pod metrics: upstream's reason for a resource metric it cannot read.
    let (status, reason, message) = eventually("ScalingActive False", 60, || {
        condition(&c, "web", "ScalingActive").filter(|(s, _, _)| s == "False")
    });
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "FailedGetResourceMetric")
    );
    assert!(
        message.starts_with("the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu"),
        "{message}"
    );
    let able = condition(&c, "web", "AbleToScale").expect("AbleToScale");
    assert_eq!(
        (able.0.as_str(), able.1.as_str()),
        ("True", "SucceededGetScale")
    );

    let table = c.kubectl_ok(&["get", "hpa"]);
    assert!(
        table.contains("REFERENCE") && table.contains("TARGETS"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("web "))
        .unwrap_or_default()
        .to_string();
    assert!(
        row.contains("Deployment/web") && row.contains("cpu: <unknown>/80%"),
        "{table}"
    );

    let events = c.kubectl_ok(&["get", "events", "-o", "jsonpath={.items[*].reason}"]);
    assert!(events.contains("FailedGetResourceMetric"), "{events}");

    // Lists and watches in v1 convert every object.
    let list: Value = serde_json::from_str(&c.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers",
    ]))
    .unwrap();
    assert_eq!(list["items"][0]["apiVersion"], "autoscaling/v1");
    assert_eq!(
        list["items"][0]["spec"]["targetCPUUtilizationPercentage"],
        80
    );
    let watch = c.kubectl_ok(&["get", "--raw", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers?watch=true&timeoutSeconds=1"]);
    let first: Value = serde_json::from_str(watch.lines().next().unwrap_or_default()).unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["apiVersion"], "autoscaling/v1");
    assert_eq!(
        first["object"]["spec"]["targetCPUUtilizationPercentage"],
        80
    );

    // A v1 edit lands in the stored v2 object.
    c.kubectl_ok(&[
        "patch",
        "horizontalpodautoscalers.v1.autoscaling",
        "web",
        "--type=merge",
        "-p",
        "{\"spec\":{\"targetCPUUtilizationPercentage\":60}}",
    ]);
    let v2: Value = serde_json::from_str(&c.kubectl_ok(&[
        "get",
        "horizontalpodautoscalers.v2.autoscaling",
        "web",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        60
    );
    assert_eq!(v2["spec"]["metrics"].as_array().map(Vec::len), Some(1));

    // Server-side apply of a v1 manifest, and a second apply that changes the target.
    let manifest = |cpu: u32| {
        format!("apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {{name: api}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  maxReplicas: 2\n  targetCPUUtilizationPercentage: {cpu}\n")
    };
    for cpu in [70, 75] {
        let out = c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(&manifest(cpu)));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v2: Value = serde_json::from_str(&c.kubectl_ok(&[
        "get",
        "horizontalpodautoscalers.v2.autoscaling",
        "api",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        75
    );
    assert_eq!(v2["spec"]["metrics"].as_array().map(Vec::len), Some(1));

    // Validation runs on the stored version, whichever version was written.
    let err = c.kubectl_err(&[
        "patch",
        "horizontalpodautoscalers.v1.autoscaling",
        "web",
        "--type=merge",
        "-p",
        "{\"spec\":{\"maxReplicas\":0}}",
    ]);
    assert!(
        err.contains("spec.maxReplicas: Invalid value: 0: must be greater than 0"),
        "{err}"
    );
}

#[test]
fn a_busy_deployment_scales_up_and_one_without_cpu_requests_is_flagged() {
    let c = Cluster::start_with_node(&["--horizontal-pod-autoscaler-sync-period=5s"]);
    apply(
        &c,
        &deployment("burn", netns::BUSYBOX, "while :; do :; done", Some("20m")),
    );
    apply(&c, &deployment("idle", netns::BUSYBOX, "sleep 3600", None));
    c.kubectl_ok(&[
        "autoscale",
        "deploy",
        "burn",
        "--cpu-percent=50",
        "--min=1",
        "--max=3",
    ]);
    c.kubectl_ok(&["autoscale", "deploy", "idle", "--cpu-percent=50", "--max=2"]);

    // A loop on one core is far above 50% of 20m: the next size is the maximum.
    eventually("burn scaled to 3", 240, || {
        let out = c.kubectl(&["get", "deploy", "burn", "-o", "jsonpath={.spec.replicas}"]);
        (String::from_utf8_lossy(&out.stdout) == "3").then_some(())
    });
    let row = eventually("TARGETS with a measured percentage", 60, || {
        let out = c.kubectl(&["get", "hpa", "burn", "--no-headers"]);
        let row = String::from_utf8_lossy(&out.stdout).to_string();
        let targets = row
            .split_whitespace()
            .skip(2)
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let pct = targets.strip_prefix("cpu: ")?.strip_suffix("%/50%")?;
        pct.parse::<u32>().ok().filter(|p| *p > 50).map(|_| row)
    });
    assert!(row.contains("Deployment/burn"), "{row}");
    let events = c.kubectl_ok(&["get", "events", "-o", "jsonpath={.items[*].message}"]);
    assert!(
        events.contains(
            "New size: 3; reason: cpu resource utilization (percentage of request) above target"
        ),
        "{events}"
    );
    let status: Value = serde_json::from_str(&c.kubectl_ok(&[
        "get",
        "horizontalpodautoscalers.v2.autoscaling",
        "burn",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(status["status"]["desiredReplicas"], 3, "{status}");
    assert!(status["status"]["lastScaleTime"].is_string(), "{status}");

    // The idle pod is measured, but utilization has no denominator without a request.
    let (_, reason, message) = eventually("idle: missing request", 120, || {
        condition(&c, "idle", "ScalingActive").filter(|(_, _, m)| m.contains("missing request"))
    });
    assert_eq!(reason, "FailedGetResourceMetric");
    assert!(
        message.contains("missing request for cpu in container main of Pod idle-"),
        "{message}"
    );
}

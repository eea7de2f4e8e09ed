//! Jobs, CronJobs and the TTL-after-finished controller, driven with kubectl. Most clusters
//! here run without a node (`--disable-node`): those tests play the kubelet by patching
//! `pods/status` to Succeeded or Failed as admin. One test runs a real node (containerd, root)
//! and reads a finished Job's logs.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{eventually, Cluster};

fn get(c: &Cluster, path: &str) -> Option<Value> {
    let (code, body) = c.curl_json(&[path]);
    (code == 200).then_some(body)
}

fn code(c: &Cluster, path: &str) -> u16 {
    c.curl_json(&[path]).0
}

fn items(c: &Cluster, path: &str) -> Vec<Value> {
    get(c, path)
        .and_then(|l| l["items"].as_array().cloned())
        .unwrap_or_default()
}

/// The Job's pods, found by the label the server adds to its template.
fn pods_of(c: &Cluster, job: &str) -> Vec<Value> {
    items(
        c,
        &format!(
            "/api/v1/namespaces/default/pods?labelSelector=batch.kubernetes.io/job-name%3D{job}"
        ),
    )
}

fn job(c: &Cluster, name: &str) -> Value {
    get(c, &format!("/apis/batch/v1/namespaces/default/jobs/{name}")).expect("job")
}

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or_default()
}

fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or_default()
}

fn is_live(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null() && !matches!(phase(pod), "Succeeded" | "Failed")
}

fn condition<'a>(job: &'a Value, type_: &str) -> Option<&'a Value> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_ && c["status"] == "True")
}

fn apply(c: &Cluster, yaml: &str) {
    let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(yaml));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The kubelet's part: the pod ends in `phase` with its container's `exit_code`.
fn finish(c: &Cluster, pod: &Value, phase: &str, exit_code: i32) {
    let body = serde_json::json!({"status": {
        "phase": phase,
        "containerStatuses": [{
            "name": pod["spec"]["containers"][0]["name"],
            "image": pod["spec"]["containers"][0]["image"],
            "imageID": "",
            "ready": false,
            "restartCount": 0,
            "state": {"terminated": {"exitCode": exit_code, "reason": "Completed"}},
        }],
    }})
    .to_string();
    let path = format!("/api/v1/namespaces/default/pods/{}/status", name(pod));
    let (code, out) = c.curl_json(&[
        &path,
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/merge-patch+json",
        "-d",
        &body,
    ]);
    assert_eq!(code, 200, "{out}");
}

fn job_yaml(name: &str, spec: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: default}}
spec:
{spec}
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: registry.example/worker:1
"#
    )
}

#[test]
fn a_job_of_three_completions_two_at_a_time_completes_and_kubectl_wait_sees_it() {
    let c = Cluster::start();
    apply(&c, &job_yaml("pi", "  completions: 3\n  parallelism: 2"));
    let mut seen = BTreeSet::new();
    eventually("three pods to succeed", 60, || {
        let pods = pods_of(&c, "pi");
        let live: Vec<&Value> = pods.iter().filter(|p| is_live(p)).collect();
        assert!(
            live.len() <= 2,
            "more than parallelism pods at once: {}",
            live.len()
        );
        for p in live {
            seen.insert(name(p).to_string());
            finish(&c, p, "Succeeded", 0);
        }
        (job(&c, "pi")["status"]["succeeded"] == 3).then_some(())
    });
    c.kubectl_ok(&[
        "wait",
        "--for=condition=complete",
        "job/pi",
        "--timeout=30s",
    ]);
    let j = job(&c, "pi");
    assert!(condition(&j, "SuccessCriteriaMet").is_some(), "{j}");
    assert!(!j["status"]["completionTime"].is_null(), "{j}");
    assert!(!j["status"]["startTime"].is_null(), "{j}");
    assert_eq!(j["status"]["active"], 0, "{j}");
    assert_eq!(seen.len(), 3, "pods created: {seen:?}");
    let uid = j["metadata"]["uid"].as_str().expect("uid");
    assert_eq!(
        j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid
    );
    let pods = pods_of(&c, "pi");
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let labels = &p["metadata"]["labels"];
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid);
        assert_eq!(labels["controller-uid"], uid);
        assert_eq!(labels["job-name"], "pi");
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "Job");
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["blockOwnerDeletion"], true);
        assert!(
            p["metadata"]["finalizers"].is_null(),
            "tracking finalizer left on a counted pod: {p}"
        );
    }
    let table = c.kubectl_ok(&["get", "jobs"]);
    assert!(table.contains("3/3"), "{table}");
}

#[test]
fn backoff_limit_one_fails_the_job_at_the_second_failed_pod() {
    let c = Cluster::start();
    apply(&c, &job_yaml("flaky", "  backoffLimit: 1"));
    // Each pod fails; the replacement of the first comes after upstream's 10s backoff.
    let j = eventually("the Job to fail", 60, || {
        for p in pods_of(&c, "flaky").iter().filter(|p| is_live(p)) {
            finish(&c, p, "Failed", 1);
        }
        let j = job(&c, "flaky");
        condition(&j, "Failed").is_some().then_some(j)
    });
    let failed = condition(&j, "Failed").expect("Failed");
    assert_eq!(failed["reason"], "BackoffLimitExceeded", "{j}");
    assert_eq!(
        condition(&j, "FailureTarget").map(|c| &c["reason"]),
        Some(&failed["reason"])
    );
    assert_eq!(j["status"]["failed"], 2, "{j}");
    assert_eq!(
        pods_of(&c, "flaky").len(),
        2,
        "a pod beyond the backoff limit"
    );
    let out = c.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/flaky",
        "--timeout=1s",
    ]);
    assert!(!out.status.success(), "a failed Job waited as complete");
}

#[test]
fn active_deadline_fails_the_job_and_deletes_its_running_pod() {
    let c = Cluster::start();
    apply(&c, &job_yaml("slow", "  activeDeadlineSeconds: 2"));
    eventually("the Job's pod", 30, || {
        (!pods_of(&c, "slow").is_empty()).then_some(())
    });
    let j = eventually("the deadline to fail the Job", 30, || {
        let j = job(&c, "slow");
        condition(&j, "Failed").is_some().then_some(j)
    });
    assert_eq!(
        condition(&j, "Failed").expect("Failed")["reason"],
        "DeadlineExceeded"
    );
    assert_eq!(j["status"]["active"], 0, "{j}");
    eventually("the running pod to be deleted", 30, || {
        pods_of(&c, "slow").is_empty().then_some(())
    });
}

#[test]
fn an_indexed_job_runs_one_pod_per_index_and_reports_completed_indexes() {
    let c = Cluster::start();
    apply(
        &c,
        &job_yaml(
            "idx",
            "  completions: 3\n  parallelism: 3\n  completionMode: Indexed",
        ),
    );
    let pods = eventually("three indexed pods", 30, || {
        let p = pods_of(&c, "idx");
        (p.len() == 3).then_some(p)
    });
    let key = "batch.kubernetes.io/job-completion-index";
    let mut indexes = BTreeSet::new();
    for p in &pods {
        let i = p["metadata"]["annotations"][key]
            .as_str()
            .expect("index annotation");
        assert_eq!(p["metadata"]["labels"][key], i);
        assert_eq!(p["spec"]["hostname"], format!("idx-{i}"));
        assert!(name(p).starts_with(&format!("idx-{i}-")), "{}", name(p));
        let env = &p["spec"]["containers"][0]["env"][0];
        assert_eq!(env["name"], "JOB_COMPLETION_INDEX");
        indexes.insert(i.to_string());
    }
    assert_eq!(
        indexes,
        BTreeSet::from(["0".into(), "1".into(), "2".into()])
    );
    let index_of = |p: &Value| {
        p["metadata"]["annotations"][key]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let one = pods.iter().find(|p| index_of(p) == "1").expect("index 1");
    finish(&c, one, "Succeeded", 0);
    eventually("index 1 completed", 30, || {
        (job(&c, "idx")["status"]["completedIndexes"] == "1").then_some(())
    });
    for p in pods.iter().filter(|p| index_of(p) != "1") {
        finish(&c, p, "Succeeded", 0);
    }
    let j = eventually("the indexed Job to complete", 30, || {
        let j = job(&c, "idx");
        condition(&j, "Complete").is_some().then_some(j)
    });
    assert_eq!(j["status"]["completedIndexes"], "0-2", "{j}");
    assert_eq!(j["status"]["succeeded"], 3, "{j}");
}

#[test]
fn ttl_after_finished_deletes_the_job_and_its_pods() {
    let c = Cluster::start();
    apply(&c, &job_yaml("brief", "  ttlSecondsAfterFinished: 1"));
    eventually("the Job to complete", 30, || {
        for p in pods_of(&c, "brief").iter().filter(|p| is_live(p)) {
            finish(&c, p, "Succeeded", 0);
        }
        condition(&job(&c, "brief"), "Complete").map(|_| ())
    });
    eventually("the Job to be deleted", 30, || {
        (code(&c, "/apis/batch/v1/namespaces/default/jobs/brief") == 404).then_some(())
    });
    eventually("its pod to be collected", 30, || {
        pods_of(&c, "brief").is_empty().then_some(())
    });
}

/// A real node runs the pod: `kubectl create job` completes and `kubectl logs job/pi` prints
/// what the container wrote.
#[test]
fn kubectl_create_job_runs_on_a_real_node_and_its_logs_are_readable() {
    let c = Cluster::start_with_node(&[]);
    c.kubectl_ok(&[
        "create",
        "job",
        "pi",
        &format!("--image={}", crate::support::netns::BUSYBOX),
        "--",
        "sh",
        "-c",
        "echo 3.14",
    ]);
    c.kubectl_ok(&[
        "wait",
        "--for=condition=complete",
        "job/pi",
        "--timeout=120s",
    ]);
    let logs = c.kubectl_ok(&["logs", "job/pi"]);
    assert_eq!(logs.trim(), "3.14");
}

fn cronjob_yaml(name: &str, policy: &str) -> String {
    cronjob_yaml_with(name, policy, "")
}

fn cronjob_yaml_with(name: &str, policy: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: CronJob
metadata: {{name: {name}, namespace: default}}
spec:
  schedule: "* * * * *"
  suspend: true
  concurrencyPolicy: {policy}
{extra}
  jobTemplate:
    metadata:
      labels: {{from: {name}}}
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: main
            image: registry.example/cron:1
"#
    )
}

fn jobs_of(c: &Cluster, cronjob: &str) -> Vec<Value> {
    items(c, "/apis/batch/v1/namespaces/default/jobs")
        .into_iter()
        .filter(|j| j["metadata"]["ownerReferences"][0]["name"] == cronjob)
        .collect()
}

fn cronjob(c: &Cluster, name: &str) -> Value {
    get(
        c,
        &format!("/apis/batch/v1/namespaces/default/cronjobs/{name}"),
    )
    .expect("cronjob")
}

fn epoch(rfc3339: &str) -> i64 {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", rfc3339, "+%s"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("epoch")
}

fn k8s_time(epoch: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Creates the CronJob suspended, says its last start was three minutes ago, and resumes it:
/// the controller then owes the most recent missed start time at once, without waiting for a
/// minute to turn.
fn start_with_a_missed_minute(c: &Cluster, name: &str, policy: &str) -> i64 {
    start_with_a_missed_minute_yaml(c, name, &cronjob_yaml(name, policy))
}

fn start_with_a_missed_minute_yaml(c: &Cluster, name: &str, yaml: &str) -> i64 {
    apply(c, yaml);
    let last = (now_epoch() / 60 - 3) * 60;
    let body = format!(
        r#"{{"status":{{"lastScheduleTime":"{}"}}}}"#,
        k8s_time(last)
    );
    let path = format!("/apis/batch/v1/namespaces/default/cronjobs/{name}/status");
    let (code, out) = c.curl_json(&[
        &path,
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/merge-patch+json",
        "-d",
        &body,
    ]);
    assert_eq!(code, 200, "{out}");
    c.kubectl_ok(&[
        "patch",
        "cronjob",
        name,
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    last
}

#[test]
fn a_cronjob_starts_the_job_of_its_latest_start_time_named_in_minutes_then_the_next_minutes() {
    let c = Cluster::start();
    let last = start_with_a_missed_minute(&c, "hello", "Allow");
    let first = eventually("the Job of the missed start time", 30, || {
        jobs_of(&c, "hello").into_iter().next()
    });
    let scheduled = first["metadata"]["annotations"]
        ["batch.kubernetes.io/cronjob-scheduled-timestamp"]
        .as_str()
        .expect("scheduled-timestamp annotation")
        .to_string();
    let at = epoch(&scheduled);
    assert!(
        at > last && at <= now_epoch() && at % 60 == 0,
        "{scheduled}"
    );
    assert_eq!(name(&first), format!("hello-{}", at / 60));
    assert_eq!(first["metadata"]["labels"]["from"], "hello");
    assert_eq!(first["metadata"]["ownerReferences"][0]["controller"], true);
    let cj = eventually("the CronJob's status", 30, || {
        let cj = cronjob(&c, "hello");
        (cj["status"]["active"][0]["name"] == name(&first)).then_some(cj)
    });
    assert_eq!(
        epoch(cj["status"]["lastScheduleTime"].as_str().unwrap_or("")),
        at
    );
    // The kubelet's part: the Job's pod succeeds; the CronJob notes the success.
    eventually("the first Job to complete", 30, || {
        for p in pods_of(&c, name(&first)).iter().filter(|p| is_live(p)) {
            finish(&c, p, "Succeeded", 0);
        }
        condition(&job(&c, name(&first)), "Complete").map(|_| ())
    });
    let cj = eventually("lastSuccessfulTime", 30, || {
        let cj = cronjob(&c, "hello");
        (!cj["status"]["lastSuccessfulTime"].is_null() && cj["status"]["active"].is_null())
            .then_some(cj)
    });
    assert!(cj["status"]["active"].is_null(), "{cj}");
    // A real minute turns: the next start time brings the next Job.
    let second = eventually("the Job of the next minute", 75, || {
        jobs_of(&c, "hello")
            .into_iter()
            .find(|j| name(j) != name(&first))
    });
    let next: i64 = name(&second)
        .strip_prefix("hello-")
        .and_then(|m| m.parse().ok())
        .expect("minutes in the name");
    assert!(next > at / 60, "{}", name(&second));
}

#[test]
fn forbid_skips_a_start_time_while_the_previous_job_runs() {
    let c = Cluster::start();
    start_with_a_missed_minute(&c, "once", "Forbid");
    let first = eventually("the first Job", 30, || {
        jobs_of(&c, "once").into_iter().next()
    });
    // Its pod never finishes. At the next minute the controller must decide, and says so.
    eventually("the Forbid decision at the next minute", 75, || {
        items(&c, "/api/v1/namespaces/default/events")
            .into_iter()
            .find(|e| e["involvedObject"]["name"] == "once" && e["reason"] == "JobAlreadyActive")
    });
    let jobs = jobs_of(&c, "once");
    assert_eq!(jobs.len(), 1, "a second Job despite Forbid: {jobs:?}");
    assert_eq!(name(&jobs[0]), name(&first));
}

#[test]
fn kubectl_create_job_from_a_cronjob_makes_a_job_of_its_template() {
    let c = Cluster::start();
    apply(&c, &cronjob_yaml("tmpl", "Allow"));
    c.kubectl_ok(&["create", "job", "manual", "--from=cronjob/tmpl"]);
    let j = job(&c, "manual");
    assert_eq!(
        j["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    assert_eq!(j["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(
        j["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/cron:1"
    );
    let pod = eventually("the Job's pod", 30, || {
        pods_of(&c, "manual").into_iter().next()
    });
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "registry.example/cron:1"
    );
}

#[test]
fn replace_deletes_the_running_job_at_the_next_start_time() {
    let c = Cluster::start();
    start_with_a_missed_minute(&c, "swap", "Replace");
    let first = eventually("the first Job", 30, || {
        jobs_of(&c, "swap").into_iter().next()
    });
    let second = eventually("the Job of the next minute", 75, || {
        jobs_of(&c, "swap")
            .into_iter()
            .find(|j| name(j) != name(&first))
    });
    let path = format!("/apis/batch/v1/namespaces/default/jobs/{}", name(&first));
    eventually("the replaced Job to go", 30, || {
        let gone = code(&c, &path) == 404
            || get(&c, &path).is_some_and(|j| !j["metadata"]["deletionTimestamp"].is_null());
        gone.then_some(())
    });
    let cj = eventually("the new Job as the only active one", 30, || {
        let cj = cronjob(&c, "swap");
        let active = cj["status"]["active"].as_array()?.clone();
        (active.len() == 1 && active[0]["name"] == name(&second)).then_some(cj)
    });
    assert!(!cj["status"]["lastScheduleTime"].is_null());
}

#[test]
fn a_successful_history_limit_of_zero_deletes_the_completed_job() {
    let c = Cluster::start();
    let yaml = cronjob_yaml_with("nohist", "Allow", "  successfulJobsHistoryLimit: 0");
    start_with_a_missed_minute_yaml(&c, "nohist", &yaml);
    let first = eventually("the first Job", 30, || {
        jobs_of(&c, "nohist").into_iter().next()
    });
    let path = format!("/apis/batch/v1/namespaces/default/jobs/{}", name(&first));
    let mut completed = false;
    eventually("the completed Job to be deleted", 30, || {
        for p in pods_of(&c, name(&first)).iter().filter(|p| is_live(p)) {
            finish(&c, p, "Succeeded", 0);
        }
        match get(&c, &path) {
            Some(j) => {
                completed |= condition(&j, "Complete").is_some();
                None
            }
            None => Some(()),
        }
    });
    let cj = cronjob(&c, "nohist");
    assert!(
        completed || !cj["status"]["lastSuccessfulTime"].is_null(),
        "the Job went before it completed: {cj}"
    );
}

#[test]
fn a_suspended_job_starts_no_pod_until_resumed() {
    let c = Cluster::start();
    apply(&c, &job_yaml("later", "  suspend: true"));
    let j = eventually("the Suspended condition", 30, || {
        let j = job(&c, "later");
        condition(&j, "Suspended").is_some().then_some(j)
    });
    assert!(j["status"]["startTime"].is_null(), "{j}");
    assert!(pods_of(&c, "later").is_empty(), "a pod of a suspended Job");
    c.kubectl_ok(&[
        "patch",
        "job",
        "later",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    eventually("a pod once resumed", 30, || {
        (!pods_of(&c, "later").is_empty()).then_some(())
    });
    let j = eventually("Suspended False", 30, || {
        let j = job(&c, "later");
        j["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| {
                c["type"] == "Suspended" && c["status"] == "False" && c["reason"] == "JobResumed"
            })
            .then_some(j)
    });
    assert!(!j["status"]["startTime"].is_null(), "{j}");
}

#[test]
fn a_pod_failure_policy_fails_the_job_on_a_matching_exit_code() {
    let c = Cluster::start();
    let spec = "  backoffLimit: 6
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes: {containerName: main, operator: In, values: [42]}";
    apply(&c, &job_yaml("strict", spec));
    let pod = eventually("the Job's pod", 30, || {
        pods_of(&c, "strict").into_iter().next()
    });
    finish(&c, &pod, "Failed", 42);
    let j = eventually("the Job to fail", 30, || {
        let j = job(&c, "strict");
        condition(&j, "Failed").is_some().then_some(j)
    });
    let failed = condition(&j, "Failed").expect("Failed");
    assert_eq!(failed["reason"], "PodFailurePolicy", "{j}");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("exit code 42") && message.contains("FailJob rule at index 0"),
        "{message}"
    );
    assert_eq!(j["status"]["failed"], 1, "{j}");
}

#[test]
fn deleting_a_running_job_frees_its_pods_from_the_tracking_finalizer() {
    let c = Cluster::start();
    apply(
        &c,
        &job_yaml("doomed", "  parallelism: 2\n  completions: 2"),
    );
    let pods = eventually("two running pods", 30, || {
        let p = pods_of(&c, "doomed");
        (p.len() == 2).then_some(p)
    });
    for p in &pods {
        let finalizers = p["metadata"]["finalizers"].to_string();
        assert!(
            finalizers.contains("batch.kubernetes.io/job-tracking"),
            "{p}"
        );
    }
    // kubectl deletes with background propagation: the Job goes at once, the garbage
    // collector deletes the pods, and the finalizer must not hold them.
    c.kubectl_ok(&["delete", "job", "doomed", "--wait=false"]);
    eventually("the pods to be gone", 30, || {
        pods_of(&c, "doomed").is_empty().then_some(())
    });
}

//! The client libraries users bring: kube-rs (what kapi's controllers use too) and the official
//! Python `kubernetes` package, unmodified, against a real server.

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;

use crate::support::Cluster;

pub(crate) async fn client(c: &Cluster) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(c.kubeconfig()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

#[tokio::test]
async fn kube_rs_lists_creates_applies_and_streams() {
    let c = Cluster::start();
    let client = client(&c).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"kube-system".to_string()), "{names:?}");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("from-kube-rs".into());
    cm.data = Some([("a".to_string(), "1".to_string())].into());
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(created.metadata.uid.is_some());
    // Server-side apply, as kube-rs controllers write.
    let applied = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-kube-rs"}, "data": {"a": "2"}});
    let patched = cms
        .patch(
            "from-kube-rs",
            &PatchParams::apply("kube-rs-test").force(),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["a"], "2");
    // A streaming list (sendInitialEvents) then a live event, through kube-runtime's watcher.
    let config = watcher::Config::default()
        .streaming_lists()
        .fields("metadata.name=from-kube-rs");
    let mut stream = watcher::watcher(cms.clone(), config).boxed();
    let mut saw_init_done = false;
    while let Some(event) =
        tokio::time::timeout(std::time::Duration::from_secs(10), stream.try_next())
            .await
            .unwrap()
            .unwrap()
    {
        if let watcher::Event::InitDone = event {
            saw_init_done = true;
            break;
        }
    }
    assert!(
        saw_init_done,
        "the initial-events-end bookmark ends the streaming list"
    );
    cms.delete("from-kube-rs", &Default::default())
        .await
        .unwrap();
    let deleted = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(event) = stream.try_next().await.unwrap() {
            if let watcher::Event::Delete(cm) = event {
                return cm.metadata.name;
            }
        }
        None
    })
    .await
    .unwrap();
    assert_eq!(deleted.as_deref(), Some("from-kube-rs"));
}

const PYTHON: &str = r#"
import os, sys
from kubernetes import client, config, watch
config.load_kube_config(config_file=os.environ["KUBECONFIG"])
v1 = client.CoreV1Api()
names = [n.metadata.name for n in v1.list_namespace().items]
assert "default" in names, names
v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="from-python", labels={"via": "py"}), data={"k": "v"}))
cm = v1.read_namespaced_config_map("from-python", "default")
assert cm.data["k"] == "v"
v1.patch_namespaced_config_map("from-python", "default", {"data": {"k": "patched"}})
assert v1.read_namespaced_config_map("from-python", "default").data["k"] == "patched"
seen = []
for event in watch.Watch().stream(v1.list_namespaced_config_map, "default", label_selector="via=py", timeout_seconds=1):
    seen.append((event["type"], event["object"].metadata.name))
assert seen == [("ADDED", "from-python")], seen
try:
    v1.read_namespaced_config_map("nope", "default")
    sys.exit("expected 404")
except client.exceptions.ApiException as e:
    assert e.status == 404, e.status
auth = client.AuthenticationV1Api()
who = auth.create_self_subject_review(client.V1SelfSubjectReview())
assert who.status.user_info.username == "kubernetes-admin", who
print("ok")
"#;

#[test]
fn python_client_reads_writes_watches() {
    let c = Cluster::start();
    let out = c.python(PYTHON, &[]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Python client's apiregistration API and discovery: an APIService per group-version
/// served, Local and Available, with kube-apiserver's priorities; `kubectl get apiservices`.
#[test]
fn every_served_group_version_has_a_local_available_apiservice() {
    let c = Cluster::start();
    let script = r#"
import os
from kubernetes import client, config
config.load_kube_config(config_file=os.environ["KUBECONFIG"])
groups = [g.name for g in client.ApisApi().get_api_versions().groups]
assert "apiregistration.k8s.io" in groups, groups
api = client.ApiregistrationV1Api()
names = {s.metadata.name for s in api.list_api_service().items}
for want in ["v1.", "v1.apps", "v2.autoscaling", "v1.autoscaling", "v1.events.k8s.io", "v1beta1.metrics.k8s.io"]:
    assert want in names, (want, sorted(names))
apps = api.read_api_service("v1.apps")
assert (apps.spec.group, apps.spec.version, apps.spec.group_priority_minimum, apps.spec.version_priority) == ("apps", "v1", 17800, 15), apps.spec
assert apps.spec.service is None
cond = [c for c in apps.status.conditions if c.type == "Available"][0]
assert (cond.status, cond.reason, cond.message) == ("True", "Local", "Local APIServices are always available"), cond
assert apps.metadata.labels["kube-aggregator.kubernetes.io/automanaged"] == "onstart"
print("ok")
"#;
    let out = c.python(script, &[]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let table = c.kubectl_ok(&["get", "apiservices"]);
    let row = table
        .lines()
        .find(|l| l.starts_with("v1.apps "))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..3], ["v1.apps", "Local", "True"], "{table}");
}

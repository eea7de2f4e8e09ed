//! CustomResourceDefinitions as an operator's user meets them: the definition is applied with
//! kubectl, its resource is served at once (discovery, kubectl get with its printer columns,
//! short names), objects are pruned, defaulted and validated by the schema with upstream's
//! messages, status is its own subresource, and deleting the definition deletes its objects.

use crate::support::{eventually, write_file, Cluster};

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [cronSpec]
            properties:
              cronSpec: {type: string, pattern: '^(\\S+ ){4}\\S+$'}
              image: {type: string}
              replicas: {type: integer, minimum: 1, maximum: 10, default: 1}
              mode: {type: string, enum: [Fast, Slow]}
          status:
            type: object
            properties:
              phase: {type: string}
";

const CRONTAB: &str = "apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: nightly
spec:
  cronSpec: '0 3 * * *'
  image: backup:1
  stray: dropped
";

/// Applies the CronTab definition and waits until it is established.
fn install(c: &Cluster) {
    install_definition(c, CRD);
}

/// `kubectl apply ARGS -f` a manifest; the output, for the caller to judge.
fn apply_manifest(c: &Cluster, yaml: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(dir.path(), "manifest.yaml", yaml);
    let mut full = vec!["apply"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-f", path.to_str().unwrap_or_default()]);
    c.kubectl(&full)
}

/// Applies a variant of the definition and waits until it is served.
fn install_definition(c: &Cluster, yaml: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let crd = write_file(dir.path(), "crd.yaml", yaml);
    c.kubectl_ok(&["apply", "-f", crd.to_str().unwrap_or_default()]);
    c.kubectl_ok(&[
        "wait",
        "--for=condition=established",
        "--timeout=10s",
        "crd/crontabs.stable.example.com",
    ]);
}

fn create_crontab(c: &Cluster) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(dir.path(), "ct.yaml", CRONTAB);
    let out = c.kubectl(&[
        "apply",
        "--validate=warn",
        "-f",
        path.to_str().unwrap_or_default(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_definition_serves_its_resource_to_kubectl() {
    let c = Cluster::start();
    install(&c);
    let crd = c.kubectl_ok(&["get", "crd", "crontabs.stable.example.com", "-o", "json"]);
    let crd: serde_json::Value = serde_json::from_str(&crd).expect("json");
    let conditions = crd["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (kind, reason) in [
        ("NamesAccepted", "NoConflicts"),
        ("Established", "InitialNamesAccepted"),
    ] {
        assert!(
            conditions
                .iter()
                .any(|c| c["type"] == kind && c["status"] == "True" && c["reason"] == reason),
            "{kind}: {conditions:?}"
        );
    }
    assert_eq!(crd["status"]["acceptedNames"]["listKind"], "CronTabList");
    assert_eq!(crd["status"]["storedVersions"], serde_json::json!(["v1"]));
    let resources = c.kubectl_ok(&["api-resources", "--api-group=stable.example.com"]);
    assert!(
        resources.contains("crontabs") && resources.contains("ct") && resources.contains("CronTab"),
        "{resources}"
    );

    // kubectl's default strict validation is the server's: the unknown field is refused...
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(dir.path(), "ct.yaml", CRONTAB);
    let refused = c.kubectl_err(&["apply", "-f", path.to_str().unwrap_or_default()]);
    assert!(
        refused.contains(r#"CronTab in version "v1" cannot be handled as a CronTab: strict decoding error: unknown field "spec.stray""#),
        "{refused}"
    );
    // ...and with `--validate=warn` dropped with a warning, the default filled in.
    let warned = create_crontab(&c);
    assert!(warned.contains("unknown field \"spec.stray\""), "{warned}");
    let stored = c.kubectl_ok(&["get", "ct", "nightly", "-o", "json"]);
    let stored: serde_json::Value = serde_json::from_str(&stored).expect("json");
    assert_eq!(stored["spec"]["replicas"], 1, "{stored}");
    assert!(stored["spec"].get("stray").is_none(), "{stored}");
    assert_eq!(stored["metadata"]["generation"], 1);

    let table = c.kubectl_ok(&["get", "crontabs"]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "SPEC", "REPLICAS", "AGE"], "{table}");
    assert!(
        table.contains("nightly") && table.contains("0 3 * * *"),
        "{table}"
    );
    let all = c.kubectl_ok(&["get", "all"]);
    assert!(all.contains("crontab.stable.example.com/nightly"), "{all}");

    c.kubectl_ok(&[
        "patch",
        "ct",
        "nightly",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ]);
    let patched = c.kubectl_ok(&[
        "get",
        "ct",
        "nightly",
        "-o",
        "jsonpath={.spec.replicas} {.metadata.generation}",
    ]);
    assert_eq!(patched, "3 2");
    c.kubectl_ok(&["delete", "ct", "nightly"]);
    let gone = c.kubectl_err(&["get", "ct", "nightly"]);
    assert!(
        gone.contains(r#"crontabs.stable.example.com "nightly" not found"#),
        "{gone}"
    );
}

#[test]
fn custom_objects_break_their_schema_with_upstreams_messages() {
    let c = Cluster::start();
    install(&c);
    let path = "/apis/stable.example.com/v1/namespaces/default/crontabs";
    let post = |body: &str, query: &str| {
        c.curl_json(&[
            &format!("{path}{query}"),
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ])
    };
    let (code, status) = post(
        r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"bad"},"spec":{"cronSpec":"* * * * *","replicas":"three","mode":"Medium"}}"#,
        "",
    );
    assert_eq!(code, 422, "{status}");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(r#"CronTab.stable.example.com "bad" is invalid: ["#),
        "{message}"
    );
    assert!(
        message.contains(r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#),
        "{message}"
    );
    assert!(
        message.contains(
            r#"spec.mode: Unsupported value: "Medium": supported values: "Fast", "Slow""#
        ),
        "{message}"
    );
    let (code, status) = post(
        r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"bad"},"spec":{"replicas":11}}"#,
        "",
    );
    assert_eq!(code, 422, "{status}");
    let causes = status["details"]["causes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        causes
            .iter()
            .any(|c| c["field"] == "spec.cronSpec" && c["reason"] == "FieldValueRequired"),
        "{status}"
    );
    assert!(
        causes.iter().any(|c| c["field"] == "spec.replicas"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.contains("should be less than or equal to 10"))),
        "{status}"
    );
    let (code, status) = post(
        r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"strict"},"spec":{"cronSpec":"* * * * *","stray":1}}"#,
        "?fieldValidation=Strict",
    );
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        r#"CronTab in version "v1" cannot be handled as a CronTab: strict decoding error: unknown field "spec.stray""#
    );
    let (code, _) = post(
        r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"good"},"spec":{"cronSpec":"* * * * *"}}"#,
        "",
    );
    assert_eq!(code, 201);
    let (code, status) = c.curl_json(&[
        &format!("{path}/good"),
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/strategic-merge-patch+json",
        "-d",
        r#"{"spec":{"image":"x"}}"#,
    ]);
    assert_eq!(code, 415, "{status}");
    assert_eq!(
        status["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
}

#[test]
fn status_is_written_only_through_its_subresource() {
    let c = Cluster::start();
    install(&c);
    create_crontab(&c);
    let path = "/apis/stable.example.com/v1/namespaces/default/crontabs/nightly";
    let patch = |sub: &str, body: &str| {
        c.curl_json(&[
            &format!("{path}{sub}"),
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/merge-patch+json",
            "-d",
            body,
        ])
    };
    let (code, obj) = patch("", r#"{"status":{"phase":"Ignored"}}"#);
    assert_eq!(code, 200, "{obj}");
    assert!(obj.get("status").is_none(), "{obj}");
    assert_eq!(obj["metadata"]["generation"], 1);
    let (code, obj) = patch(
        "/status",
        r#"{"status":{"phase":"Running"},"spec":{"image":"ignored"}}"#,
    );
    assert_eq!(code, 200, "{obj}");
    assert_eq!(obj["status"]["phase"], "Running");
    assert_eq!(obj["spec"]["image"], "backup:1");
    assert_eq!(obj["metadata"]["generation"], 1);
    let (code, obj) = patch("/status", r#"{"status":{"phase":7}}"#);
    assert_eq!(code, 422, "{obj}");
    assert!(
        obj["message"]
            .as_str()
            .is_some_and(|m| m.contains("status.phase in body must be of type string")),
        "{obj}"
    );
}

#[test]
fn deleting_a_definition_deletes_its_objects_and_its_api() {
    let c = Cluster::start();
    install(&c);
    create_crontab(&c);
    c.kubectl_ok(&["create", "namespace", "other"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(dir.path(), "ct.yaml", CRONTAB);
    c.kubectl_ok(&[
        "apply",
        "--validate=warn",
        "-n",
        "other",
        "-f",
        path.to_str().unwrap_or_default(),
    ]);
    c.kubectl_ok(&[
        "delete",
        "crd",
        "crontabs.stable.example.com",
        "--timeout=20s",
    ]);
    let (code, _) = c.curl_json(&["/apis/stable.example.com/v1/namespaces/other/crontabs/nightly"]);
    assert_eq!(code, 404);
    let (code, _) = c.curl_json(&["/apis/stable.example.com"]);
    assert_eq!(code, 404);
    // Defined again, the resource starts empty: the objects were deleted, not hidden.
    install(&c);
    let listed = c.kubectl_ok(&["get", "crontabs", "-A", "-o", "name"]);
    assert_eq!(listed.trim(), "", "{listed}");
}

#[test]
fn custom_resources_survive_a_restart() {
    let mut c = Cluster::start();
    install(&c);
    create_crontab(&c);
    c.restart();
    // Served from the first request after the restart, without waiting for a sync.
    let got = c.kubectl_ok(&["get", "ct", "nightly", "-o", "jsonpath={.spec.cronSpec}"]);
    assert_eq!(got, "0 3 * * *");
}

#[test]
fn bad_definitions_are_refused_with_upstreams_messages() {
    let c = Cluster::start();
    let bad = CRD
        .replace(
            "name: crontabs.stable.example.com",
            "name: crontab.stable.example.com",
        )
        .replace("scope: Namespaced", "scope: Global")
        .replace("    singular: crontab\n", "    singular: Cron_Tab\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(dir.path(), "bad.yaml", &bad);
    let err = c.kubectl_err(&["create", "-f", path.to_str().unwrap_or_default()]);
    for expected in [
        r#"The CustomResourceDefinition "crontab.stable.example.com" is invalid"#,
        r#"metadata.name: Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group"#,
        r#"spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced""#,
        r#"spec.names.singular: Invalid value: "Cron_Tab": a DNS-1035 label must consist of lower case alphanumeric characters"#,
    ] {
        assert!(err.contains(expected), "{expected} missing: {err}");
    }
    let untyped = CRD.replace(
        "              image: {type: string}\n",
        "              image: {}\n",
    );
    let path = write_file(dir.path(), "untyped.yaml", &untyped);
    let err = c.kubectl_err(&["create", "-f", path.to_str().unwrap_or_default()]);
    assert!(
        err.contains("spec.validation.openAPIV3Schema.properties[spec].properties[image].type: Required value: must not be empty for specified object fields"),
        "{err}"
    );
}

#[test]
fn a_second_definition_may_not_take_names_in_use() {
    let c = Cluster::start();
    install(&c);
    let rival = CRD
        .replace(
            "crontabs.stable.example.com",
            "crontasks.stable.example.com",
        )
        .replace("plural: crontabs", "plural: crontasks")
        .replace("singular: crontab", "singular: crontask")
        .replace("shortNames: [ct]", "shortNames: [ctk]");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(dir.path(), "rival.yaml", &rival);
    c.kubectl_ok(&["create", "-f", path.to_str().unwrap_or_default()]);
    let condition = eventually("the rival's NamesAccepted condition", 10, || {
        let out = c.kubectl_ok(&[
            "get",
            "crd",
            "crontasks.stable.example.com",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="NamesAccepted")].reason}: {.status.conditions[?(@.type=="NamesAccepted")].message}"#,
        ]);
        (!out.trim().starts_with(':')).then_some(out)
    });
    // Upstream checks every name and reports the last conflict: the list kind comes after the kind.
    assert_eq!(
        condition,
        r#"ListKindConflict: "CronTabList" is already in use"#
    );
    let (code, _) = c.curl_json(&["/apis/stable.example.com/v1/namespaces/default/crontasks"]);
    assert_eq!(code, 404);
}

#[test]
fn python_client_custom_objects_api_round_trip() {
    let c = Cluster::start();
    install(&c);
    let out = c.python(
        r#"
from kubernetes import client, config
config.load_kube_config()
api = client.CustomObjectsApi()
body = {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "py"}, "spec": {"cronSpec": "*/5 * * * *"}}
made = api.create_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs", body)
assert made["spec"]["replicas"] == 1, made
got = api.get_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs", "py")
assert got["metadata"]["uid"] == made["metadata"]["uid"]
api.patch_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs", "py",
                                   {"spec": {"image": "new:2"}})
items = api.list_cluster_custom_object("stable.example.com", "v1", "crontabs")["items"]
assert [i["spec"].get("image") for i in items] == ["new:2"], items
api.patch_namespaced_custom_object_status("stable.example.com", "v1", "default", "crontabs", "py",
                                          {"status": {"phase": "Done"}})
got = api.get_namespaced_custom_object_status("stable.example.com", "v1", "default", "crontabs", "py")
assert got["status"]["phase"] == "Done", got
api.delete_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs", "py")
print("ok")
"#,
        &[],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_dynamic_client_discovers_and_serves_the_resource() {
    let c = Cluster::start();
    install(&c);
    let out = c.python(
        r#"
from kubernetes import config, dynamic
from kubernetes.client import api_client
client = dynamic.DynamicClient(api_client.ApiClient(configuration=config.load_kube_config()))
crontabs = client.resources.get(api_version="stable.example.com/v1", kind="CronTab")
assert crontabs.namespaced and crontabs.name == "crontabs", crontabs
made = crontabs.create(namespace="default", body={"apiVersion": "stable.example.com/v1",
    "kind": "CronTab", "metadata": {"name": "dyn"}, "spec": {"cronSpec": "0 * * * *"}})
assert made.spec.replicas == 1, made
listed = crontabs.get(namespace="default")
assert [i.metadata.name for i in listed.items] == ["dyn"], listed
crontabs.patch(namespace="default", name="dyn", body={"spec": {"mode": "Slow"}},
               content_type="application/merge-patch+json")
assert crontabs.get(namespace="default", name="dyn").spec.mode == "Slow"
crontabs.delete(namespace="default", name="dyn")
print("ok")
"#,
        &[],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kubectl_explain_reads_the_definitions_schema() {
    let c = Cluster::start();
    install(&c);
    let explained = c.kubectl_ok(&["explain", "crontabs.spec"]);
    assert!(
        explained.contains("KIND:") && explained.contains("CronTab"),
        "{explained}"
    );
    for field in ["cronSpec", "replicas", "mode"] {
        assert!(explained.contains(field), "{field} missing: {explained}");
    }
    let (code, index) = c.curl_json(&["/openapi/v3"]);
    assert_eq!(code, 200);
    assert!(
        index["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"].is_string(),
        "{index}"
    );
    let (code, doc) = c.curl_json(&["/openapi/v3/apis/stable.example.com/v1"]);
    assert_eq!(code, 200);
    let schema = &doc["components"]["schemas"]["com.example.stable.v1.CronTab"];
    assert_eq!(
        schema["properties"]["spec"]["properties"]["replicas"]["maximum"], 10,
        "{schema}"
    );
    assert_eq!(
        schema["x-kubernetes-group-version-kind"][0]["kind"],
        "CronTab"
    );

    // Gone with its definition.
    c.kubectl_ok(&[
        "delete",
        "crd",
        "crontabs.stable.example.com",
        "--timeout=20s",
    ]);
    let (_, index) = c.curl_json(&["/openapi/v3"]);
    assert!(
        index["paths"].get("apis/stable.example.com/v1").is_none(),
        "{index}"
    );
}

#[test]
fn kubectl_scale_writes_the_replicas_path_of_the_definition() {
    let c = Cluster::start();
    let scaled = CRD
        .replace(
            "      status: {}\n",
            "      status: {}\n      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas, labelSelectorPath: .status.selector}\n",
        )
        .replace(
            "              phase: {type: string}\n",
            "              phase: {type: string}\n              replicas: {type: integer}\n              selector: {type: string}\n",
        );
    install_definition(&c, &scaled);
    create_crontab(&c);
    let base = "/apis/stable.example.com/v1/namespaces/default/crontabs/nightly";
    let (code, _) = c.curl_json(&[
        &format!("{base}/status"),
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/merge-patch+json",
        "-d",
        r#"{"status": {"replicas": 1, "selector": "app=nightly"}}"#,
    ]);
    assert_eq!(code, 200);

    c.kubectl_ok(&["scale", "ct/nightly", "--replicas=3"]);
    let replicas = c.kubectl_ok(&["get", "ct", "nightly", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(replicas, "3");
    let (code, scale) = c.curl_json(&[&format!("{base}/scale")]);
    assert_eq!(code, 200, "{scale}");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(
        scale["status"],
        serde_json::json!({"replicas": 1, "selector": "app=nightly"})
    );
    // The schema still holds: 11 is above the definition's maximum.
    let refused = c.kubectl_err(&["scale", "ct/nightly", "--replicas=11"]);
    assert!(
        refused.contains("spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"),
        "{refused}"
    );
}

#[path = "../examples/crd_derive.rs"]
mod crd_derive;

#[tokio::test]
async fn a_kube_rs_derived_resource_works_unchanged() {
    let c = Cluster::start();
    let client = crate::clients::client(&c).await;
    let status = crd_derive::run(client, "default", "hello")
        .await
        .expect("the example runs");
    assert_eq!(status.words, 6, "\"custom resources from a Rust type\"");
    let table = c.kubectl_ok(&["get", "doc", "hello"]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "TITLE", "WORDS"], "{table}");
    assert!(table.contains("Hello") && table.contains('6'), "{table}");
}

#[test]
fn validation_rules_refuse_objects_and_changes_with_their_messages() {
    let c = Cluster::start();
    let ruled = CRD.replace(
        "            required: [cronSpec]\n",
        "            required: [cronSpec]\n            x-kubernetes-validations:\n            - {rule: \"!has(self.mode) || self.mode != 'Fast' || self.replicas <= 3\", message: \"Fast runs at most 3 replicas\", fieldPath: .replicas}\n            - {rule: \"!has(oldSelf.image) || self.image == oldSelf.image\", message: image is immutable}\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    install_definition(&c, &ruled);
    let object = |replicas: u32, image: &str| {
        format!(
            "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: fast\nspec:\n  cronSpec: '* * * * *'\n  mode: Fast\n  replicas: {replicas}\n  image: {image}\n"
        )
    };
    let path = write_file(dir.path(), "fast.yaml", &object(5, "a:1"));
    let refused = c.kubectl_err(&["apply", "-f", path.to_str().unwrap_or_default()]);
    assert!(
        refused.contains(r#"The CronTab "fast" is invalid: spec.replicas: Invalid value: Fast runs at most 3 replicas"#),
        "{refused}"
    );
    let path = write_file(dir.path(), "fast.yaml", &object(2, "a:1"));
    c.kubectl_ok(&["apply", "-f", path.to_str().unwrap_or_default()]);
    // A transition rule: the image may not change once set.
    let path = write_file(dir.path(), "fast.yaml", &object(2, "a:2"));
    let refused = c.kubectl_err(&["apply", "-f", path.to_str().unwrap_or_default()]);
    assert!(
        refused.contains("spec: Invalid value: image is immutable"),
        "{refused}"
    );
    let image = c.kubectl_ok(&["get", "ct", "fast", "-o", "jsonpath={.spec.image}"]);
    assert_eq!(image, "a:1");

    // A rule that does not compile refuses the definition.
    let broken = ruled.replace("self.replicas <= 3", "self.replicas <=");
    let path = write_file(dir.path(), "broken.yaml", &broken);
    let refused = c.kubectl_err(&["apply", "-f", path.to_str().unwrap_or_default()]);
    assert!(
        refused.contains("x-kubernetes-validations[0].rule: Invalid value: ")
            && refused.contains("compilation failed"),
        "{refused}"
    );
}

#[test]
fn selectable_fields_serve_field_selectors() {
    let c = Cluster::start();
    let selectable = CRD.replace(
        "    subresources:\n      status: {}\n",
        "    selectableFields:\n    - jsonPath: .spec.mode\n    subresources:\n      status: {}\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    install_definition(&c, &selectable);
    for (name, mode) in [("fast", "Fast"), ("slow", "Slow")] {
        let obj = format!(
            "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: {name}\nspec:\n  cronSpec: '* * * * *'\n  mode: {mode}\n"
        );
        let out = apply_manifest(&c, &obj, &[]);
        assert!(out.status.success(), "{out:?}");
    }
    let picked = c.kubectl_ok(&[
        "get",
        "ct",
        "--field-selector",
        "spec.mode=Fast",
        "-o",
        "name",
    ]);
    assert_eq!(picked.trim(), "crontab.stable.example.com/fast");
    let refused = c.kubectl_err(&["get", "ct", "--field-selector", "spec.image=x"]);
    assert!(
        refused.contains("field label not supported: spec.image"),
        "{refused}"
    );

    let bad = selectable.replace("jsonPath: .spec.mode", "jsonPath: .spec.nope");
    let path = write_file(dir.path(), "bad.yaml", &bad);
    let refused = c.kubectl_err(&["apply", "-f", path.to_str().unwrap_or_default()]);
    assert!(
        refused.contains(r#"spec.versions[0].selectableFields[0].jsonPath: Invalid value: ".spec.nope": is an invalid path: does not refer to a valid field"#),
        "{refused}"
    );
}

#[test]
fn server_side_apply_merges_map_lists_by_their_keys() {
    let c = Cluster::start();
    let listed = CRD.replace(
        "              mode: {type: string, enum: [Fast, Slow]}\n",
        "              mode: {type: string, enum: [Fast, Slow]}\n              ports:\n                type: array\n                x-kubernetes-list-type: map\n                x-kubernetes-list-map-keys: [name]\n                items: {type: object, required: [name], properties: {name: {type: string}, port: {type: integer}}}\n",
    );
    install_definition(&c, &listed);
    for (manager, port, number) in [("alice", "a", 1), ("bob", "b", 2)] {
        let obj = format!(
            "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: shared\nspec:\n  cronSpec: '* * * * *'\n  ports:\n  - name: {port}\n    port: {number}\n"
        );
        let out = apply_manifest(&c, &obj, &["--server-side", "--field-manager", manager]);
        assert!(out.status.success(), "{out:?}");
    }
    let ports = c.kubectl_ok(&[
        "get",
        "ct",
        "shared",
        "-o",
        "jsonpath={.spec.ports[*].name}",
    ]);
    assert_eq!(ports, "a b", "each manager's item is kept");
    let managed = c.kubectl_ok(&[
        "get",
        "ct",
        "shared",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[?(@.manager==\"bob\")].fieldsV1}",
    ]);
    assert!(managed.contains(r#"k:{\"name\":\"b\"}"#), "{managed}");
    assert!(!managed.contains(r#"k:{\"name\":\"a\"}"#), "{managed}");
}

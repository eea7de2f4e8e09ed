//! Round trips against an independent encoder (prost types from the `k8s-pb` crate), plus
//! hand-built wire bytes for what prost does not produce, and hostile input.

use std::collections::BTreeMap;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::authentication::v1 as authn;
use k8s_pb::api::authorization::v1 as authz;
use k8s_pb::api::coordination::v1 as coordination;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::policy::v1 as policy;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message as _;
use serde_json::{json, Value};

use super::decode::{decode_message, go_duration};
use super::schema::{KINDS, MESSAGES};
use super::table::Ty;
use super::*;

/// Wraps an encoded message in the `k8s\0` + runtime.Unknown envelope, as client-go does.
fn envelope_raw(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

fn envelope<M: prost::Message + k8s_pb::Resource>(msg: &M) -> Vec<u8> {
    envelope_raw(M::API_VERSION, M::KIND, msg.encode_to_vec())
}

fn decode<M: prost::Message + k8s_pb::Resource>(msg: &M) -> Value {
    decode_request(&envelope(msg)).expect("decodes")
}

/// For subresource kinds, which k8s-pb does not mark as resources.
fn decode_as(api_version: &str, kind: &str, msg: &impl prost::Message) -> Value {
    decode_request(&envelope_raw(api_version, kind, msg.encode_to_vec())).expect("decodes")
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn meta(name: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: s(name),
        ..Default::default()
    })
}

/// ObjectMeta as go-to-protobuf writes it: every non-pointer field present, even when zero.
fn go_meta(name: &str, namespace: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: s(name),
        generate_name: s(""),
        namespace: s(namespace),
        self_link: s(""),
        uid: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    })
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn qty(v: &str) -> Quantity {
    Quantity { string: s(v) }
}

#[test]
fn config_map_with_data_labels_and_binary_data() {
    let cm = core::ConfigMap {
        metadata: Some(meta::ObjectMeta {
            labels: labels(&[("app", "web"), ("tier", "front")]),
            ..go_meta("settings", "default").unwrap_or_default()
        }),
        data: labels(&[("a.conf", "x=1\n"), ("empty", "")]),
        binary_data: [("blob".to_owned(), vec![0u8, 0xff, 0x10])]
            .into_iter()
            .collect(),
        immutable: None,
    };
    let got = decode(&cm);
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "default", "labels": {"app": "web", "tier": "front"}},
            "data": {"a.conf": "x=1\n", "empty": ""},
            "binaryData": {"blob": "AP8Q"},
        })
    );
    // apiVersion and kind first, then the API's field order (immutable=4 comes before data=2).
    assert_eq!(
        serde_json::to_string(&got).unwrap_or_default(),
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"default","labels":{"app":"web","tier":"front"}},"data":{"a.conf":"x=1\n","empty":""},"binaryData":{"blob":"AP8Q"}}"#
    );
}

#[test]
fn secret_bytes_become_base64() {
    let secret = core::Secret {
        metadata: go_meta("creds", ""),
        immutable: Some(false),
        data: [
            ("password".to_owned(), b"hunter2".to_vec()),
            ("raw".to_owned(), vec![0x80, 0x00, 0xfe]),
            ("empty".to_owned(), Vec::new()),
        ]
        .into_iter()
        .collect(),
        string_data: BTreeMap::new(),
        r#type: s("Opaque"),
    };
    assert_eq!(
        decode(&secret),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            // immutable is a *bool: a present false is kept.
            "metadata": {"name": "creds"},
            "immutable": false,
            "data": {"empty": "", "password": "aHVudGVyMg==", "raw": "gAD+"},
            "type": "Opaque",
        })
    );
}

#[test]
fn namespace_with_go_zero_values_matches_json_client() {
    let ns = core::Namespace {
        metadata: go_meta("team-a", ""),
        spec: Some(core::NamespaceSpec::default()),
        status: Some(core::NamespaceStatus {
            phase: s(""),
            conditions: Vec::new(),
        }),
    };
    // What `kubectl create namespace team-a -o json --dry-run=client` prints.
    assert_eq!(
        decode(&ns),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}, "spec": {}, "status": {}})
    );
}

#[test]
fn deployment_with_containers_resources_and_int_or_string() {
    let container = core::Container {
        name: s("nginx"),
        image: s("nginx:1.27"),
        ports: vec![core::ContainerPort {
            container_port: Some(80),
            protocol: s("TCP"),
            host_port: Some(0),
            name: s(""),
            host_ip: s(""),
        }],
        resources: Some(core::ResourceRequirements {
            limits: [
                ("cpu".to_owned(), qty("500m")),
                ("memory".to_owned(), qty("128Mi")),
            ]
            .into_iter()
            .collect(),
            requests: [("cpu".to_owned(), qty("250m"))].into_iter().collect(),
            claims: Vec::new(),
        }),
        termination_message_path: s(""),
        image_pull_policy: s(""),
        stdin: Some(false),
        tty: Some(false),
        ..Default::default()
    };
    let deploy = apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            labels: labels(&[("app", "web")]),
            ..go_meta("web", "prod").unwrap_or_default()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            selector: Some(meta::LabelSelector {
                match_labels: labels(&[("app", "web")]),
                match_expressions: vec![meta::LabelSelectorRequirement {
                    key: s("tier"),
                    operator: s("In"),
                    values: vec!["a".to_owned(), "b".to_owned()],
                }],
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: labels(&[("app", "web")]),
                    creation_timestamp: Some(meta::Time::default()),
                    ..Default::default()
                }),
                spec: Some(core::PodSpec {
                    containers: vec![container],
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_surge: Some(IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: s("25%"),
                    }),
                    max_unavailable: Some(IntOrString {
                        r#type: Some(0),
                        int_val: Some(0),
                        str_val: s(""),
                    }),
                }),
            }),
            min_ready_seconds: Some(0),
            paused: Some(false),
            ..Default::default()
        }),
        status: Some(apps::DeploymentStatus::default()),
    };
    assert_eq!(
        decode(&deploy),
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
            "spec": {
                "replicas": 0,
                "selector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
                },
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {
                            "limits": {"cpu": "500m", "memory": "128Mi"},
                            "requests": {"cpu": "250m"},
                        },
                    }]},
                },
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            },
            "status": {},
        })
    );
}

#[test]
fn token_request_with_expiration_and_bound_object() {
    let tr = authn::TokenRequest {
        metadata: go_meta("builder", "ci"),
        spec: Some(authn::TokenRequestSpec {
            audiences: vec![
                "https://kubernetes.default.svc".to_owned(),
                "vault".to_owned(),
            ],
            expiration_seconds: Some(3600),
            bound_object_ref: Some(authn::BoundObjectReference {
                kind: s("Pod"),
                api_version: s("v1"),
                name: s("runner-1"),
                u_id: s("0b6d7c1e-0000-4000-8000-000000000001"),
            }),
        }),
        status: Some(authn::TokenRequestStatus {
            token: s(""),
            expiration_timestamp: Some(meta::Time::default()),
        }),
    };
    assert_eq!(
        decode_as("authentication.k8s.io/v1", "TokenRequest", &tr),
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {"name": "builder", "namespace": "ci"},
            "spec": {
                "audiences": ["https://kubernetes.default.svc", "vault"],
                "expirationSeconds": 3600,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "runner-1", "uid": "0b6d7c1e-0000-4000-8000-000000000001"},
            },
            // token is required (no omitempty); expirationTimestamp is a zero Time: null.
            "status": {"token": "", "expirationTimestamp": null},
        })
    );
}

#[test]
fn self_subject_access_review_with_resource_attributes() {
    let ssar = authz::SelfSubjectAccessReview {
        metadata: go_meta("", ""),
        spec: Some(authz::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(authz::ResourceAttributes {
                namespace: s("default"),
                verb: s("create"),
                group: s(""),
                version: s(""),
                resource: s("pods"),
                subresource: s(""),
                name: s(""),
                ..Default::default()
            }),
            non_resource_attributes: None,
        }),
        status: Some(authz::SubjectAccessReviewStatus {
            allowed: Some(false),
            denied: Some(false),
            reason: s(""),
            evaluation_error: s(""),
        }),
    };
    assert_eq!(
        decode(&ssar),
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}},
            // allowed is required (no omitempty), denied is omitempty.
            "status": {"allowed": false},
        })
    );
}

#[test]
fn self_subject_rules_review_and_self_subject_review() {
    let ssrr = authz::SelfSubjectRulesReview {
        metadata: go_meta("", ""),
        spec: Some(authz::SelfSubjectRulesReviewSpec {
            namespace: s("kube-system"),
        }),
        status: None,
    };
    assert_eq!(
        decode(&ssrr),
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "metadata": {}, "spec": {"namespace": "kube-system"}})
    );
    let ssr = authn::SelfSubjectReview {
        metadata: go_meta("", ""),
        status: Some(authn::SelfSubjectReviewStatus::default()),
    };
    assert_eq!(
        decode(&ssr),
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}, "status": {}})
    );
}

#[test]
fn subject_access_review_extra_is_a_map_of_arrays() {
    let sar = authz::SubjectAccessReview {
        metadata: meta(""),
        spec: Some(authz::SubjectAccessReviewSpec {
            user: s("alice"),
            groups: vec!["dev".to_owned()],
            extra: [(
                "scopes".to_owned(),
                authz::ExtraValue {
                    items: vec!["a".to_owned(), "b".to_owned()],
                },
            )]
            .into_iter()
            .collect(),
            uid: s("42"),
            non_resource_attributes: Some(authz::NonResourceAttributes {
                path: s("/healthz"),
                verb: s("get"),
            }),
            ..Default::default()
        }),
        status: None,
    };
    assert_eq!(
        decode(&sar)["spec"],
        json!({"nonResourceAttributes": {"path": "/healthz", "verb": "get"}, "user": "alice", "groups": ["dev"], "extra": {"scopes": ["a", "b"]}, "uid": "42"})
    );
}

#[test]
fn inline_volume_source_and_local_object_reference_are_flattened() {
    let pod = core::Pod {
        metadata: meta("p"),
        spec: Some(core::PodSpec {
            volumes: vec![core::Volume {
                name: s("cfg"),
                volume_source: Some(core::VolumeSource {
                    config_map: Some(core::ConfigMapVolumeSource {
                        local_object_reference: Some(core::LocalObjectReference {
                            name: s("settings"),
                        }),
                        default_mode: Some(0o644),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }],
            containers: vec![core::Container {
                name: s("c"),
                readiness_probe: Some(core::Probe {
                    handler: Some(core::ProbeHandler {
                        http_get: Some(core::HttpGetAction {
                            path: s("/ready"),
                            port: Some(IntOrString {
                                r#type: Some(1),
                                int_val: Some(0),
                                str_val: s("http"),
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    period_seconds: Some(5),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            host_ipc: Some(true),
            security_context: Some(core::PodSecurityContext {
                run_as_user: Some(0),
                supplemental_groups: vec![1000, 2000],
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    };
    assert_eq!(
        decode(&pod)["spec"],
        json!({
            "volumes": [{"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420}}],
            "containers": [{"name": "c", "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5}}],
            "hostIPC": true,
            "securityContext": {"runAsUser": 0, "supplementalGroups": [1000, 2000]},
        })
    );
}

#[test]
fn times_and_micro_times() {
    let lease = coordination::Lease {
        metadata: Some(meta::ObjectMeta {
            deletion_timestamp: Some(meta::Time {
                seconds: Some(1_704_164_645),
                nanos: Some(999_999_999),
            }),
            ..meta("leader").unwrap_or_default()
        }),
        spec: Some(coordination::LeaseSpec {
            holder_identity: s("node-1"),
            lease_duration_seconds: Some(15),
            acquire_time: Some(meta::MicroTime {
                seconds: Some(1_704_164_645),
                nanos: Some(123_456_789),
            }),
            renew_time: Some(meta::MicroTime {
                seconds: Some(0),
                nanos: Some(0),
            }),
            ..Default::default()
        }),
    };
    let got = decode(&lease);
    // Go keeps whole seconds of a Time and microseconds of a MicroTime.
    assert_eq!(
        got["metadata"]["deletionTimestamp"],
        json!("2024-01-02T03:04:05Z")
    );
    assert_eq!(
        got["spec"]["acquireTime"],
        json!("2024-01-02T03:04:05.123456Z")
    );
    assert_eq!(
        got["spec"]["renewTime"],
        json!("1970-01-01T00:00:00.000000Z")
    );
    assert_eq!(got["spec"]["leaseDurationSeconds"], json!(15));
}

#[test]
fn delete_options_under_any_group_version_and_in_evictions() {
    let opts = meta::DeleteOptions {
        grace_period_seconds: Some(0),
        propagation_policy: s("Background"),
        dry_run: vec!["All".to_owned()],
        preconditions: Some(meta::Preconditions {
            uid: s("u-1"),
            resource_version: None,
        }),
        ..Default::default()
    };
    for api_version in ["v1", "meta.k8s.io/v1", "apps/v1"] {
        let body = envelope_raw(api_version, "DeleteOptions", opts.encode_to_vec());
        assert_eq!(
            decode_request(&body),
            Ok(json!({
                "apiVersion": api_version,
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "u-1"},
                "propagationPolicy": "Background",
                "dryRun": ["All"],
            }))
        );
    }
    let eviction = policy::Eviction {
        metadata: go_meta("web-0", "prod"),
        delete_options: Some(meta::DeleteOptions {
            grace_period_seconds: Some(30),
            ..Default::default()
        }),
    };
    assert_eq!(
        decode_as("policy/v1", "Eviction", &eviction),
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-0", "namespace": "prod"}, "deleteOptions": {"gracePeriodSeconds": 30}})
    );
}

#[test]
fn raw_extension_holds_json_or_a_nested_envelope() {
    let inner = core::ConfigMap {
        metadata: meta("inner"),
        ..Default::default()
    };
    for (raw, expected) in [
        (br#"{"a":[1,2]}"#.to_vec(), json!({"a": [1, 2]})),
        (
            envelope(&inner),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inner"}}),
        ),
        (Vec::new(), Value::Null),
    ] {
        let rev = apps::ControllerRevision {
            metadata: meta("rev"),
            data: Some(RawExtension { raw: Some(raw) }),
            revision: Some(3),
        };
        assert_eq!(decode(&rev)["data"], expected);
    }
    let bad = apps::ControllerRevision {
        data: Some(RawExtension {
            raw: Some(b"{not json".to_vec()),
        }),
        ..Default::default()
    };
    assert!(matches!(
        decode_request(&envelope(&bad)),
        Err(ProtobufError::InvalidValue { .. })
    ));
}

#[test]
fn hand_encoded_packed_repeated_and_unknown_fields() {
    // PodSecurityContext.supplementalGroups (4, int64) packed, plus unknown fields of every wire type.
    let mut psc = vec![0x22, 0x03, 0x01, 0x02, 0x03]; // field 4, packed [1,2,3]
    psc.extend([0x20, 0x04]); // field 4, unpacked 4
    psc.extend([0xf8, 0x3e, 0x01]); // field 1000 varint (unknown)
    psc.extend([0xf9, 0x3e, 1, 2, 3, 4, 5, 6, 7, 8]); // field 1000 fixed64
    psc.extend([0xfd, 0x3e, 1, 2, 3, 4]); // field 1000 fixed32
    psc.extend([0xfa, 0x3e, 0x01, 0x00]); // field 1000 bytes
    let mut spec = vec![0x72, psc.len() as u8]; // PodSpec.securityContext = 14
    spec.extend(&psc);
    let mut pod = vec![0x12, spec.len() as u8]; // Pod.spec = 2
    pod.extend(&spec);
    let body = envelope_raw("v1", "Pod", pod);
    assert_eq!(
        decode_request(&body),
        Ok(
            json!({"apiVersion": "v1", "kind": "Pod", "spec": {"securityContext": {"supplementalGroups": [1, 2, 3, 4]}}})
        )
    );
}

/// A length-delimited field, for hand-built messages.
fn ld(field: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for mut v in [u64::from(field << 3 | 2), payload.len() as u64] {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    out.extend_from_slice(payload);
    out
}

#[test]
fn negative_int32_values() {
    // ContainerPort {name "p", containerPort (3) = -1 as the ten-byte varint Go writes}.
    let mut port = ld(1, b"p");
    port.extend([
        0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
    // Pod.spec (2) > PodSpec.containers (2) > Container.ports (6).
    let raw = ld(2, &ld(2, &ld(6, &port)));
    let got = decode_request(&envelope_raw("v1", "Pod", raw));
    assert_eq!(
        got.map(|v| v["spec"]["containers"][0]["ports"][0].clone()),
        Ok(json!({"name": "p", "containerPort": -1}))
    );
}

#[test]
fn errors_for_bad_magic_unknown_kind_and_encoding() {
    assert_eq!(decode_request(b""), Err(ProtobufError::BadMagic));
    assert_eq!(decode_request(b"k8s"), Err(ProtobufError::BadMagic));
    assert_eq!(
        decode_request(b"{\"kind\":\"Pod\"}"),
        Err(ProtobufError::BadMagic)
    );

    let err = decode_request(&envelope_raw("example.com/v1", "Widget", Vec::new())).unwrap_err();
    assert!(err.is_unsupported());
    assert_eq!(
        err.to_string(),
        "protobuf request bodies of kind \"Widget\" in \"example.com/v1\" are not supported; send JSON instead"
    );
    assert!(!supported("example.com/v1", "Widget"));
    assert!(supported("v1", "ConfigMap"));
    assert!(supported("autoscaling/v1", "Scale"));
    assert!(supported("batch/v1", "DeleteOptions"));

    let mut gz = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s("v1"),
            kind: s("ConfigMap"),
        }),
        raw: Some(Vec::new()),
        content_encoding: s("gzip"),
        content_type: None,
    }
    .encode_to_vec();
    gz.splice(0..0, MAGIC.iter().copied());
    assert_eq!(
        decode_request(&gz),
        Err(ProtobufError::UnsupportedEncoding("gzip".to_owned()))
    );

    // No kind at all.
    let err = decode_request(b"k8s\0\x0a\x04\x0a\x02v1").unwrap_err();
    assert!(!err.is_unsupported());
    assert!(err.to_string().contains("no kind"), "{err}");

    assert!(is_media_type("application/vnd.kubernetes.protobuf"));
    assert!(is_media_type(
        "Application/vnd.kubernetes.protobuf; charset=binary"
    ));
    assert!(!is_media_type("application/json"));
}

#[test]
fn wrong_wire_types_are_errors() {
    // ConfigMap.metadata (1) as a varint.
    let err = decode_request(&envelope_raw("v1", "ConfigMap", vec![0x08, 0x01])).unwrap_err();
    assert!(err.to_string().contains("wire type 0"), "{err}");
    // Groups are not used by Kubernetes.
    let err = decode_request(&envelope_raw("v1", "ConfigMap", vec![0x0b, 0x0c])).unwrap_err();
    assert!(matches!(err, ProtobufError::Malformed { .. }), "{err}");
    // IntOrString type 7 at spec (2) > strategy (4) > rollingUpdate (2) > maxUnavailable (1).
    let raw = ld(2, &ld(4, &ld(2, &ld(1, &[0x08, 0x07, 0x10, 0x01]))));
    let err = decode_request(&envelope_raw("apps/v1", "Deployment", raw)).unwrap_err();
    assert!(matches!(err, ProtobufError::InvalidValue { .. }), "{err}");
}

#[test]
fn truncated_input_never_panics() {
    let secret = core::Secret {
        metadata: go_meta("creds", "default"),
        data: [("k".to_owned(), b"v".to_vec())].into_iter().collect(),
        r#type: s("Opaque"),
        ..Default::default()
    };
    let body = envelope(&secret);
    assert!(decode_request(&body).is_ok());
    for len in 0..body.len() {
        let _ = decode_request(body.get(..len).unwrap_or_default());
    }
    // Cutting inside the envelope's length-delimited fields must be reported.
    assert!(decode_request(body.get(..body.len() - 1).unwrap_or_default()).is_err());
}

#[test]
fn garbage_and_bit_flips_never_panic() {
    let deploy = apps::Deployment {
        metadata: go_meta("web", "prod"),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(2),
            template: Some(core::PodTemplateSpec {
                spec: Some(core::PodSpec {
                    containers: vec![core::Container {
                        name: s("c"),
                        image: s("busybox"),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    };
    let body = envelope(&deploy);
    // A small deterministic generator (xorshift) instead of a fuzzing dependency.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut mutated = body.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() as usize) % mutated.len();
            if let Some(b) = mutated.get_mut(i) {
                *b ^= 1 << (next() % 8);
            }
        }
        let _ = decode_request(&mutated);
    }
    for len in 0..64 {
        let mut garbage = MAGIC.to_vec();
        garbage.extend((0..len).map(|_| next() as u8));
        let _ = decode_request(&garbage);
    }
}

#[test]
fn nesting_depth_is_bounded() {
    // ControllerRevisions whose data holds another envelope, 100 levels deep.
    let mut body = envelope(&apps::ControllerRevision::default());
    for _ in 0..100 {
        let rev = apps::ControllerRevision {
            data: Some(RawExtension { raw: Some(body) }),
            ..Default::default()
        };
        body = envelope(&rev);
    }
    assert_eq!(decode_request(&body), Err(ProtobufError::TooDeep));
    // Deeply nested unknown fields are skipped without recursing.
    let mut raw = Vec::new();
    for _ in 0..10_000 {
        raw = ld(1000, &raw);
    }
    assert!(decode_request(&envelope_raw("apps/v1", "ControllerRevision", raw)).is_ok());
}

#[test]
fn go_duration_strings() {
    for (ns, text) in [
        (0, "0s"),
        (1, "1ns"),
        (1_100, "1.1µs"),
        (2_200_000, "2.2ms"),
        (1_000_000_000, "1s"),
        (1_500_000_000, "1.5s"),
        (61_000_000_000, "1m1s"),
        (3_600_000_000_000, "1h0m0s"),
        (-90_000_000_000, "-1m30s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
    ] {
        assert_eq!(go_duration(ns), text);
    }
}

#[test]
fn schema_table_is_consistent() {
    // KINDS must be sorted for binary search, and every index must resolve.
    assert!(KINDS
        .windows(2)
        .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
    for (api_version, kind, index) in KINDS.iter() {
        assert!(usize::from(*index) < MESSAGES.len());
        // Every kind decodes from an empty message.
        let body = envelope_raw(api_version, kind, Vec::new());
        assert_eq!(
            decode_request(&body),
            Ok(json!({"apiVersion": api_version, "kind": kind})),
            "{api_version} {kind}"
        );
    }
    for msg in MESSAGES.iter() {
        for field in msg.fields {
            if let Ty::Msg(i) | Ty::MapMsg(i) = field.ty {
                assert!(usize::from(i) < MESSAGES.len(), "{}", msg.name);
            }
        }
        // Every message decodes from empty input without error.
        let index = MESSAGES
            .iter()
            .position(|m| std::ptr::eq(m, msg))
            .unwrap_or_default();
        assert!(decode_message(index as u16, &[], 1).is_ok(), "{}", msg.name);
    }
    for (api_version, kind) in [
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Namespace"),
        ("v1", "ServiceAccount"),
        ("v1", "Service"),
        ("v1", "Pod"),
        ("v1", "Endpoints"),
        ("v1", "Event"),
        ("v1", "LimitRange"),
        ("v1", "ResourceQuota"),
        ("v1", "PersistentVolumeClaim"),
        ("v1", "PersistentVolume"),
        ("v1", "ReplicationController"),
        ("v1", "Node"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("authentication.k8s.io/v1", "TokenReview"),
        ("authentication.k8s.io/v1", "SelfSubjectReview"),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
        ("authorization.k8s.io/v1", "SubjectAccessReview"),
        ("authorization.k8s.io/v1", "LocalSubjectAccessReview"),
        ("policy/v1", "Eviction"),
        ("policy/v1", "PodDisruptionBudget"),
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("networking.k8s.io/v1", "IngressClass"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("coordination.k8s.io/v1", "Lease"),
        ("certificates.k8s.io/v1", "CertificateSigningRequest"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("events.k8s.io/v1", "Event"),
        ("meta.k8s.io/v1", "DeleteOptions"),
        ("autoscaling/v1", "Scale"),
    ] {
        assert!(supported(api_version, kind), "{api_version} {kind}");
    }
}

#[test]
fn rbac_and_service_and_events() {
    let role = k8s_pb::api::rbac::v1::Role {
        metadata: go_meta("reader", "dev"),
        rules: vec![k8s_pb::api::rbac::v1::PolicyRule {
            verbs: vec!["get".to_owned(), "list".to_owned()],
            api_groups: vec![String::new()],
            resources: vec!["pods".to_owned()],
            resource_names: Vec::new(),
            non_resource_ur_ls: Vec::new(),
        }],
    };
    assert_eq!(
        decode(&role)["rules"],
        json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}])
    );
    let svc = core::Service {
        metadata: go_meta("web", "prod"),
        spec: Some(core::ServiceSpec {
            ports: vec![core::ServicePort {
                name: s("http"),
                protocol: s("TCP"),
                port: Some(80),
                target_port: Some(IntOrString {
                    r#type: Some(0),
                    int_val: Some(8080),
                    str_val: s(""),
                }),
                node_port: Some(0),
                app_protocol: None,
            }],
            cluster_ip: s(""),
            cluster_ips: vec!["10.96.0.10".to_owned()],
            r#type: s("ClusterIP"),
            external_ips: Vec::new(),
            session_affinity: s(""),
            ..Default::default()
        }),
        status: Some(core::ServiceStatus {
            load_balancer: Some(core::LoadBalancerStatus::default()),
            conditions: Vec::new(),
        }),
    };
    assert_eq!(
        decode(&svc)["spec"],
        json!({"ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}], "clusterIPs": ["10.96.0.10"], "type": "ClusterIP"})
    );
    let event = k8s_pb::api::events::v1::Event {
        metadata: go_meta("e1", "default"),
        event_time: Some(meta::MicroTime {
            seconds: Some(1_704_164_645),
            nanos: Some(5_000),
        }),
        reporting_controller: s("kapi"),
        deprecated_first_timestamp: Some(meta::Time::default()),
        deprecated_count: Some(0),
        ..Default::default()
    };
    assert_eq!(
        decode(&event),
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "e1", "namespace": "default"},
            "eventTime": "2024-01-02T03:04:05.000005Z",
            "reportingController": "kapi",
            "deprecatedFirstTimestamp": null,
        })
    );
}

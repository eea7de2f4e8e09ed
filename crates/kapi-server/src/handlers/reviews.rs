//! Requests that are answered and never stored: TokenReview, SelfSubjectReview, the access
//! reviews (kubectl `auth can-i`, `auth can-i --list`, `auth whoami`) and TokenRequest
//! (`kubectl create token`). Replies always carry apiVersion and kind: kubectl needs them.

use std::time::{SystemTime, UNIX_EPOCH};

use kapi_api::resources::{self, ResourceDef};
use kapi_api::status::{invalid_value, ApiError};
use kapi_auth::rbac::{Attributes, PolicyRule};
use kapi_auth::serviceaccount::{self, BoundKind, BoundObject, BoundRequest};
use kapi_auth::UserInfo;
use serde_json::{json, Map, Value};

use crate::Server;

fn user_json(user: &UserInfo) -> Value {
    let mut v = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        v["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        v["extra"] = json!(user.extra);
    }
    v
}

fn user_from_spec(spec: &Value) -> UserInfo {
    let strings = kapi_api::meta::string_list;
    let extra = spec
        .get("extra")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), strings(Some(v))))
                .collect()
        })
        .unwrap_or_default();
    UserInfo {
        name: spec
            .get("user")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        uid: spec
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        groups: strings(spec.get("groups")),
        extra,
    }
}

fn reply(def: &ResourceDef, body: &Value, status: Value) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), json!(def.kind));
    out.insert("apiVersion".into(), json!(def.api_version()));
    let mut meta = body.get("metadata").cloned().unwrap_or(json!({}));
    if let Some(m) = meta.as_object_mut() {
        m.insert("creationTimestamp".into(), Value::Null);
    }
    out.insert("metadata".into(), meta);
    out.insert(
        "spec".into(),
        body.get("spec").cloned().unwrap_or(json!({})),
    );
    out.insert("status".into(), status);
    Value::Object(out)
}

fn access(server: &Server, user: &UserInfo, spec: &Value, forced_namespace: Option<&str>) -> Value {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (allowed, reason) = if let Some(ra) = spec.get("resourceAttributes") {
        let ns = forced_namespace
            .map(str::to_string)
            .unwrap_or_else(|| s(ra, "namespace"));
        let (verb, group, resource, sub, name) = (
            s(ra, "verb"),
            s(ra, "group"),
            s(ra, "resource"),
            s(ra, "subresource"),
            s(ra, "name"),
        );
        server.authz.decide(&Attributes::resource(
            user, &verb, &group, &resource, &sub, &ns, &name,
        ))
    } else if let Some(nra) = spec.get("nonResourceAttributes") {
        let (path, verb) = (s(nra, "path"), s(nra, "verb"));
        server
            .authz
            .decide(&Attributes::non_resource(user, &verb, &path))
    } else {
        (false, String::new())
    };
    let mut status = json!({"allowed": allowed});
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    status
}

fn rules_review(server: &Server, user: &UserInfo, namespace: &str) -> Value {
    let (rules, errors) = server.authz.rules_for(user, namespace);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for r in rules {
        if !r.non_resource_urls.is_empty() {
            non_resource_rules
                .push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
        if !r.resources.is_empty() {
            let mut v =
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
            if !r.resource_names.is_empty() {
                v["resourceNames"] = json!(r.resource_names);
            }
            resource_rules.push(v);
        }
    }
    if user.in_group(kapi_auth::authz::SYSTEM_MASTERS) {
        let all = PolicyRule::resource(&["*"], &["*"], &["*"]);
        resource_rules.insert(
            0,
            json!({"verbs": all.verbs, "apiGroups": all.api_groups, "resources": all.resources}),
        );
        non_resource_rules.insert(0, json!({"verbs": ["*"], "nonResourceURLs": ["*"]}));
    }
    let mut status = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false});
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    status
}

/// Answers a create of a review resource.
pub fn review(
    server: &Server,
    user: &UserInfo,
    def: &ResourceDef,
    namespace: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    let spec = body.get("spec").cloned().unwrap_or(json!({}));
    let status = match (def.group, def.resource) {
        ("authentication.k8s.io", "selfsubjectreviews") => json!({"userInfo": user_json(user)}),
        ("authentication.k8s.io", "tokenreviews") => {
            let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
            let audiences: Vec<String> = spec
                .get("audiences")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            match server.authn.authenticate_token(token) {
                Some(u) => {
                    let auds = if audiences.is_empty() {
                        server.authn.issuer.api_audiences.clone()
                    } else {
                        audiences
                    };
                    json!({"authenticated": true, "user": user_json(&u), "audiences": auds})
                }
                None => {
                    json!({"authenticated": false, "user": {}, "error": "[invalid bearer token, token lookup failed]"})
                }
            }
        }
        ("authorization.k8s.io", "selfsubjectaccessreviews") => access(server, user, &spec, None),
        ("authorization.k8s.io", "subjectaccessreviews") => {
            access(server, &user_from_spec(&spec), &spec, None)
        }
        ("authorization.k8s.io", "localsubjectaccessreviews") => {
            let ns_in_spec = spec
                .pointer("/resourceAttributes/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !ns_in_spec.is_empty() && ns_in_spec != namespace {
                return Err(ApiError::invalid(
                    def.group,
                    def.kind,
                    "",
                    vec![invalid_value(
                        "spec.resourceAttributes.namespace",
                        ns_in_spec,
                        &format!("must match metadata.namespace {namespace:?}"),
                    )],
                ));
            }
            access(server, &user_from_spec(&spec), &spec, Some(namespace))
        }
        ("authorization.k8s.io", "selfsubjectrulesreviews") => {
            let ns = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
            rules_review(server, user, ns)
        }
        _ => {
            return Err(ApiError::method_not_supported(
                def.group,
                def.resource,
                "create",
            ))
        }
    };
    Ok(reply(def, body, status))
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `POST .../serviceaccounts/NAME/token`: a bound token for the account.
pub fn token_request(
    server: &Server,
    namespace: &str,
    sa_name: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    let sa_def = resources::find("", "v1", "serviceaccounts").ok_or_else(ApiError::no_route)?;
    let (sa, _) = server
        .registry
        .get_value(sa_def, Some(namespace), sa_name)?;
    let sa_uid = sa
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let spec = body.get("spec").cloned().unwrap_or(json!({}));
    let expiration = spec
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(serviceaccount::DEFAULT_EXPIRATION_SECONDS);
    let invalid = |field: &str, value: &str, msg: &str| {
        let mut e = ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            sa_name,
            vec![invalid_value(field, value, msg)],
        );
        e.message = format!("TokenRequest.authentication.k8s.io \"{sa_name}\" is invalid: {field}: Invalid value: {value}: {msg}");
        e
    };
    if let Err(e) = serviceaccount::validate_expiration(expiration) {
        let msg = match &e {
            kapi_auth::serviceaccount::TokenError::InvalidExpiration { message, .. } => {
                message.to_string()
            }
            other => other.to_string(),
        };
        return Err(invalid(
            "spec.expirationSeconds",
            &expiration.to_string(),
            &msg,
        ));
    }
    let audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut request = BoundRequest::new(namespace, sa_name, &sa_uid, expiration);
    request.audiences = audiences.clone();
    if let Some(bound) = spec.get("boundObjectRef").filter(|b| b.is_object()) {
        let kind = bound.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = bound.get("name").and_then(Value::as_str).unwrap_or("");
        let want_uid = bound.get("uid").and_then(Value::as_str).unwrap_or("");
        let bound_kind = BoundKind::from_kind(kind).ok_or_else(|| {
            invalid(
                "spec.boundObjectRef.kind",
                &format!("\"{kind}\""),
                "supported values: \"Pod\", \"Secret\", \"Node\"",
            )
        })?;
        let (resource, ns) = match bound_kind {
            BoundKind::Pod => ("pods", Some(namespace)),
            BoundKind::Secret => ("secrets", Some(namespace)),
            BoundKind::Node => ("nodes", None),
        };
        let def = resources::find("", "v1", resource).ok_or_else(ApiError::no_route)?;
        let (obj, _) = server.registry.get_value(def, ns, name)?;
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !want_uid.is_empty() && want_uid != uid {
            return Err(ApiError::conflict_with("", resource, name, &format!("the UID in the bound object reference ({want_uid}) does not match the UID in record. The object might have been deleted and then recreated")));
        }
        if bound_kind == BoundKind::Pod {
            if let Some(node) = obj
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                request.node_for_pod = Some((node.to_string(), String::new()));
            }
        }
        request.bound = Some(BoundObject {
            kind: bound_kind,
            name: name.to_string(),
            uid,
        });
    }
    let (token, exp) = server
        .authn
        .issuer
        .issue_bound(&server.authn.keys, request, SystemTime::now())
        .map_err(ApiError::internal)?;
    let mut spec_out = spec.clone();
    spec_out["expirationSeconds"] = json!(expiration);
    spec_out["audiences"] = json!(if audiences.is_empty() {
        server.authn.issuer.api_audiences.clone()
    } else {
        audiences
    });
    if spec_out.get("boundObjectRef").is_none() {
        spec_out["boundObjectRef"] = Value::Null;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": sa_name, "namespace": namespace, "creationTimestamp": rfc3339(now)},
        "spec": spec_out,
        "status": {"token": token, "expirationTimestamp": rfc3339(exp)},
    }))
}

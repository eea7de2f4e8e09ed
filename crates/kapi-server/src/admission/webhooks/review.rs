//! `admission.k8s.io/v1` AdmissionReview: the request a webhook is sent and what its answer
//! means, with kube-apiserver's checks of the answer and its wording of a denial.

use base64::Engine;
use kapi_api::status::ApiError;
use kapi_auth::UserInfo;
use serde_json::{json, Value};

use super::rules::Target;

/// Everything the review's request names.
pub struct Request<'a> {
    /// One per admission pass, the same for every webhook of it.
    pub uid: &'a str,
    /// What the rules matched.
    pub target: Target<'a>,
    /// The object's kind.
    pub kind: &'a str,
    /// The object's namespace.
    pub namespace: Option<&'a str>,
    /// The object's name.
    pub name: &'a str,
    /// Who asks.
    pub user: &'a UserInfo,
    /// Whether the write is a dry run.
    pub dry_run: bool,
    /// The object as it would be stored.
    pub object: &'a Value,
    /// The stored object, on update.
    pub old_object: Option<&'a Value>,
}

impl Request<'_> {
    /// The AdmissionReview sent to a webhook.
    pub fn review(&self) -> Value {
        let t = &self.target;
        let kind = json!({"group": t.group, "version": t.version, "kind": self.kind});
        let resource = json!({"group": t.group, "version": t.version, "resource": t.resource});
        let options_kind = match t.operation {
            super::rules::Operation::Create => "CreateOptions",
            super::rules::Operation::Update => "UpdateOptions",
            super::rules::Operation::Delete => "DeleteOptions",
        };
        let mut request = json!({
            "uid": self.uid,
            "kind": kind,
            "resource": resource,
            "requestKind": kind,
            "requestResource": resource,
            "name": self.name,
            "operation": t.operation.as_str(),
            "userInfo": user_info(self.user),
            "object": self.object,
            "oldObject": self.old_object,
            "dryRun": self.dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": options_kind},
        });
        if !t.subresource.is_empty() {
            request["subResource"] = json!(t.subresource);
            request["requestSubResource"] = json!(t.subresource);
        }
        if let Some(ns) = self.namespace {
            request["namespace"] = json!(ns);
        }
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
    }
}

fn user_info(user: &UserInfo) -> Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    info
}

/// What a webhook answered.
#[derive(Debug, PartialEq)]
pub struct Answer {
    /// Whether the webhook lets the request through.
    pub allowed: bool,
    /// `response.status`, for a denial.
    pub status: Option<Value>,
    /// The decoded JSON patch of a mutating webhook.
    pub patch: Option<Vec<u8>>,
    /// Warnings for the client.
    pub warnings: Vec<String>,
}

/// Reads a webhook's answer to the review with `uid`; `Err` says why it is not one (the
/// call then counts as failed).
pub fn answer(body: &[u8], uid: &str) -> Result<Answer, String> {
    let review: Value =
        serde_json::from_slice(body).map_err(|e| format!("failed to decode response: {e}"))?;
    if review.get("apiVersion").and_then(Value::as_str) != Some("admission.k8s.io/v1")
        || review.get("kind").and_then(Value::as_str) != Some("AdmissionReview")
    {
        return Err(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview".into(),
        );
    }
    let response = review
        .get("response")
        .filter(|r| r.is_object())
        .ok_or("webhook response was absent")?;
    let got_uid = response
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if got_uid != uid {
        return Err(format!(
            "expected response.uid=\"{uid}\", got \"{got_uid}\""
        ));
    }
    let allowed = response
        .get("allowed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let patch = match response.get("patch").and_then(Value::as_str) {
        None => None,
        Some(encoded) => {
            let kind = response.get("patchType").and_then(Value::as_str);
            if kind != Some("JSONPatch") {
                return Err(format!(
                    "expected patchType JSONPatch, got {}",
                    kind.unwrap_or("")
                ));
            }
            Some(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| format!("patch is not base64: {e}"))?,
            )
        }
    };
    let warnings = response
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    Ok(Answer {
        allowed,
        status: response.get("status").cloned(),
        patch,
        warnings,
    })
}

/// The error of a denial: the webhook's code (400 when it gave none below 400) and message,
/// as upstream words it.
pub fn denial(webhook: &str, status: Option<&Value>) -> ApiError {
    let field = |k: &str| {
        status
            .and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let code = status
        .and_then(|s| s.get("code"))
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| *c >= 400)
        .unwrap_or(400);
    let denied = format!("admission webhook \"{webhook}\" denied the request");
    let message = match (field("message"), field("reason")) {
        ("", "") => format!("{denied} without explanation"),
        ("", reason) => format!("{denied}: {reason}"),
        (message, _) => format!("{denied}: {message}"),
    };
    ApiError::with_code(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_must_be_a_review_for_the_same_request() {
        let ok = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "u1", "allowed": true, "warnings": ["careful"]}});
        let got = answer(ok.to_string().as_bytes(), "u1").unwrap();
        assert!(got.allowed);
        assert_eq!(got.warnings, ["careful"]);
        assert!(answer(ok.to_string().as_bytes(), "u2")
            .unwrap_err()
            .contains("expected response.uid=\"u2\""));
        assert!(answer(b"{}", "u1").is_err());
        assert!(answer(b"not json", "u1").is_err());
    }

    #[test]
    fn a_patch_is_base64_json_patch() {
        let patch = base64::engine::general_purpose::STANDARD
            .encode(br#"[{"op":"add","path":"/a","value":1}]"#);
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "u", "allowed": true, "patch": patch, "patchType": "JSONPatch"}});
        let got = answer(review.to_string().as_bytes(), "u").unwrap();
        assert_eq!(
            got.patch.as_deref(),
            Some(&br#"[{"op":"add","path":"/a","value":1}]"#[..])
        );
        let untyped = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "u", "allowed": true, "patch": "W10="}});
        assert!(answer(untyped.to_string().as_bytes(), "u").is_err());
    }

    #[test]
    fn denials_carry_the_webhooks_code_and_message() {
        let e = denial(
            "deny.example.com",
            Some(&json!({"code": 403, "message": "no"})),
        );
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "admission webhook \"deny.example.com\" denied the request: no"
        );
        let e = denial("d", Some(&json!({"code": 200})));
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "admission webhook \"d\" denied the request without explanation"
        );
    }
}

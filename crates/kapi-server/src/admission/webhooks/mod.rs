//! Admission webhooks: MutatingWebhookConfigurations and ValidatingWebhookConfigurations,
//! called as kube-apiserver calls them on creates and updates made through the API.
//!
//! Mutating webhooks run first, one after another in the order of their configurations'
//! names and then of `webhooks`, each seeing the object as the ones before left it (JSON
//! patches applied); then the object is defaulted and validated as usual; then validating
//! webhooks run on the final object. A webhook is called when one of its `rules` covers the
//! request and its `namespaceSelector` and `objectSelector` select it; a call that fails is
//! an error under `failurePolicy: Fail` (the default) and ignored under `Ignore`; a denial
//! carries the webhook's code and message; warnings reach the client.
//!
//! `matchConditions` are CEL over `object`, `oldObject` and `request` (kapi-schema's
//! expressions); a false one skips the webhook, one that fails to evaluate counts as a failed
//! call.
//!
//! Deletes through the API go to validating webhooks (the stored object as `oldObject`, no
//! `object`).
//!
//! Not yet: CONNECT, mutating webhooks on DELETE, `reinvocationPolicy: IfNeeded`, `matchPolicy: Equivalent`
//! across versions, `authorizer` and `namespaceObject` in match conditions.
//! Configurations themselves are never sent to webhooks, as upstream exempts them.

mod client;
pub mod configurations;
mod review;
pub mod rules;

use std::time::Duration;

use kapi_api::resources::{self, ResourceDef};
use kapi_api::status::ApiError;
use kapi_auth::UserInfo;
use kapi_schema::expression::Expression;
use serde_json::Value;

use crate::registry::Registry;
pub use rules::Operation;
use rules::{labels_of, object_selected, rules_match, selects, Target};

const GROUP: &str = "admissionregistration.k8s.io";

/// A write as the webhooks see it.
pub struct Call<'a> {
    /// The resource written, in the version of the request.
    pub def: &'static ResourceDef,
    /// `status`, `scale`, ... or empty for the resource itself.
    pub subresource: &'a str,
    /// Create or update.
    pub operation: Operation,
    /// The object's namespace, for namespaced resources.
    pub namespace: Option<&'a str>,
    /// The object's name; empty on a create with `generateName`.
    pub name: &'a str,
    /// Who asks.
    pub user: &'a UserInfo,
    /// `dryRun=All`: only webhooks without side effects may be called.
    pub dry_run: bool,
}

impl Call<'_> {
    fn target(&self) -> Target<'_> {
        Target {
            operation: self.operation,
            group: self.def.group,
            version: self.def.version,
            resource: self.def.resource,
            subresource: self.subresource,
            namespaced: self.def.namespaced,
        }
    }
}

/// The webhooks of every configuration of `resource`, in calling order.
fn webhooks(registry: &Registry, resource: &str) -> Vec<Value> {
    let Some(def) = resources::find(GROUP, "v1", resource) else {
        return Vec::new();
    };
    let mut configs = registry.list_values(def);
    configs.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    configs
        .iter()
        .flat_map(|c| {
            c.get("webhooks")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn name_of(v: &Value) -> &str {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether `webhook` is to be called for `call` on `obj`.
fn applies(
    registry: &Registry,
    webhook: &Value,
    call: &Call<'_>,
    obj: &Value,
    old: Option<&Value>,
) -> bool {
    if !rules_match(webhook, &call.target()) || !object_selected(webhook, obj, old) {
        return false;
    }
    let selector = webhook.get("namespaceSelector");
    if call.def.group.is_empty() && call.def.resource == "namespaces" {
        return selects(selector, &labels_of(obj));
    }
    let Some(ns) = call.namespace.filter(|_| call.def.namespaced) else {
        return true;
    };
    let labels = resources::find("", "v1", "namespaces")
        .and_then(|d| registry.get_value(d, None, ns).ok())
        .map(|(n, _)| labels_of(&n))
        .unwrap_or_default();
    selects(selector, &labels)
}

/// What one call of one webhook came to.
enum Outcome {
    Answered(review::Answer),
    /// Not called (a match condition is false), or the call failed and
    /// `failurePolicy: Ignore` lets the request through.
    Ignored,
}

async fn call_one(
    registry: &Registry,
    webhook: &Value,
    call: &Call<'_>,
    uid: &str,
    obj: &Value,
    old: Option<&Value>,
) -> Result<Outcome, ApiError> {
    let name = name_of_webhook(webhook);
    if call.dry_run
        && !matches!(
            webhook.get("sideEffects").and_then(Value::as_str),
            Some("None" | "NoneOnDryRun")
        )
    {
        return Err(ApiError::bad_request(format!(
            "admission webhook \"{name}\" does not support dry run"
        )));
    }
    let timeout = Duration::from_secs(
        webhook
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(10)
            .clamp(1, 30),
    );
    let ignore = webhook.get("failurePolicy").and_then(Value::as_str) == Some("Ignore");
    let request = review::Request {
        uid,
        target: call.target(),
        kind: call.def.kind,
        namespace: call.namespace,
        name: call.name,
        user: call.user,
        dry_run: call.dry_run,
        object: obj,
        old_object: old,
    };
    let review = request.review();
    match conditions_hold(webhook, obj, old, &review["request"]) {
        Ok(true) => {}
        Ok(false) => return Ok(Outcome::Ignored),
        Err(why) if ignore => {
            tracing::warn!(webhook = %name, error = %why, "match condition failed; failurePolicy Ignore");
            return Ok(Outcome::Ignored);
        }
        Err(why) => {
            return Err(ApiError::internal(format!(
                "failed calling webhook \"{name}\": {why}"
            )))
        }
    }
    let config = webhook.get("clientConfig").cloned().unwrap_or(Value::Null);
    let result = match client::endpoint(registry, &config, timeout) {
        Err(why) => Err(format!("failed to call webhook: {why}")),
        Ok(endpoint) => match client::post(&endpoint, &review, timeout).await {
            Err(why) => Err(format!(
                "failed to call webhook: Post \"{}\": {why}",
                endpoint.url
            )),
            Ok(body) => review::answer(&body, uid)
                .map_err(|why| format!("received invalid webhook response: {why}")),
        },
    };
    match result {
        Ok(answer) => Ok(Outcome::Answered(answer)),
        Err(why) if ignore => {
            tracing::warn!(webhook = %name, error = %why, "webhook failed; failurePolicy Ignore");
            Ok(Outcome::Ignored)
        }
        Err(why) => Err(ApiError::internal(format!(
            "failed calling webhook \"{name}\": {why}"
        ))),
    }
}

/// Whether every `matchConditions` expression holds for the request (none: true); `Err`
/// when one cannot be evaluated.
fn conditions_hold(
    webhook: &Value,
    obj: &Value,
    old: Option<&Value>,
    request: &Value,
) -> Result<bool, String> {
    let null = Value::Null;
    for condition in webhook
        .get("matchConditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = condition.get("name").and_then(Value::as_str).unwrap_or("");
        let source = condition
            .get("expression")
            .and_then(Value::as_str)
            .unwrap_or("");
        let fail = |why: String| format!("failed to evaluate match condition {name:?}: {why}");
        let expression = Expression::compile(source).map_err(fail)?;
        let vars = [
            ("object", obj),
            ("oldObject", old.unwrap_or(&null)),
            ("request", request),
        ];
        if !expression.eval_bool(&vars).map_err(fail)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn name_of_webhook(webhook: &Value) -> &str {
    webhook
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn exempt(call: &Call<'_>) -> bool {
    call.def.group == GROUP
}

/// Runs the mutating webhooks over `obj`; answers the object they leave.
pub async fn mutate(
    registry: &Registry,
    call: &Call<'_>,
    mut obj: Value,
    old: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    if exempt(call) {
        return Ok(obj);
    }
    let hooks = webhooks(registry, "mutatingwebhookconfigurations");
    if hooks.is_empty() {
        return Ok(obj);
    }
    // Webhooks see the request's namespace in the object, as upstream sets it from the URL
    // before admission (the object is stored with it in any case).
    if let (Some(ns), true, Some(meta)) = (
        call.namespace,
        call.def.namespaced,
        obj.get_mut("metadata").and_then(Value::as_object_mut),
    ) {
        meta.entry("namespace").or_insert_with(|| Value::from(ns));
    }
    let uid = uuid::Uuid::new_v4().to_string();
    for webhook in &hooks {
        if !applies(registry, webhook, call, &obj, old) {
            continue;
        }
        let Outcome::Answered(answer) = call_one(registry, webhook, call, &uid, &obj, old).await?
        else {
            continue;
        };
        warnings.extend(answer.warnings);
        let name = name_of_webhook(webhook);
        if !answer.allowed {
            return Err(review::denial(name, answer.status.as_ref()));
        }
        if let Some(patch) = answer.patch {
            obj = kapi_api::patch::apply_json_patch(&obj, &patch).map_err(|e| {
                ApiError::internal(format!(
                    "admission webhook \"{name}\" returned a patch that does not apply: {e}"
                ))
            })?;
        }
    }
    Ok(obj)
}

/// Runs the validating webhooks on the final `obj`.
pub async fn validate(
    registry: &Registry,
    call: &Call<'_>,
    obj: &Value,
    old: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    if exempt(call) {
        return Ok(());
    }
    let hooks = webhooks(registry, "validatingwebhookconfigurations");
    if hooks.is_empty() {
        return Ok(());
    }
    let uid = uuid::Uuid::new_v4().to_string();
    for webhook in &hooks {
        if !applies(registry, webhook, call, obj, old) {
            continue;
        }
        let Outcome::Answered(answer) = call_one(registry, webhook, call, &uid, obj, old).await?
        else {
            continue;
        };
        warnings.extend(answer.warnings);
        if !answer.allowed {
            return Err(review::denial(
                name_of_webhook(webhook),
                answer.status.as_ref(),
            ));
        }
    }
    Ok(())
}

//! The webhook configurations as objects: upstream's defaults, and the checks without which a
//! configuration could not be called (where to call, side effects, review versions).

use kapi_api::status::{invalid_value, required, Cause};
use serde_json::{json, Value};

/// Fills in what upstream defaults in `admissionregistration.k8s.io/v1`.
pub fn defaults(obj: &mut Value, mutating: bool) {
    let Some(hooks) = obj.get_mut("webhooks").and_then(Value::as_array_mut) else {
        return;
    };
    for hook in hooks.iter_mut().filter_map(Value::as_object_mut) {
        let mut default = |k: &str, v: Value| {
            hook.entry(k).or_insert(v);
        };
        default("failurePolicy", json!("Fail"));
        default("matchPolicy", json!("Equivalent"));
        default("namespaceSelector", json!({}));
        default("objectSelector", json!({}));
        default("timeoutSeconds", json!(10));
        if mutating {
            default("reinvocationPolicy", json!("Never"));
        }
        if let Some(rules) = hook.get_mut("rules").and_then(Value::as_array_mut) {
            for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
                rule.entry("scope").or_insert(json!("*"));
            }
        }
        if let Some(service) = hook
            .get_mut("clientConfig")
            .and_then(|c| c.get_mut("service"))
            .and_then(Value::as_object_mut)
        {
            service.entry("port").or_insert(json!(443));
        }
    }
}

/// The checks of each webhook, with upstream's field paths.
pub fn validate(obj: &Value, causes: &mut Vec<Cause>) {
    let hooks = obj
        .get("webhooks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut names: Vec<&str> = Vec::new();
    for (i, hook) in hooks.iter().enumerate() {
        let at = |f: &str| format!("webhooks[{i}].{f}");
        let text = |k: &str| hook.get(k).and_then(Value::as_str).unwrap_or("");
        let name = text("name");
        if name.is_empty() {
            causes.push(required(at("name")));
        } else if names.contains(&name) {
            causes.push(Cause {
                reason: "FieldValueDuplicate".into(),
                message: format!("Duplicate value: {}", kapi_api::status::go_quote(name)),
                field: at("name"),
            });
        } else if name.split('.').count() < 3 {
            causes.push(invalid_value(
                at("name"),
                name,
                "should be a domain with at least three segments separated by dots",
            ));
        }
        names.push(name);
        match text("sideEffects") {
            "" => causes.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: must specify one of None, NoneOnDryRun".into(),
                field: at("sideEffects"),
            }),
            "None" | "NoneOnDryRun" => {}
            other => causes.push(Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: {}: supported values: \"None\", \"NoneOnDryRun\"",
                    kapi_api::status::go_quote(other)
                ),
                field: at("sideEffects"),
            }),
        }
        let versions: Vec<&str> = hook
            .get("admissionReviewVersions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if versions.is_empty() {
            causes.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: must specify one of v1, v1beta1".into(),
                field: at("admissionReviewVersions"),
            });
        } else if !versions.contains(&"v1") {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!(
                    "Invalid value: {}: must include at least one of v1",
                    serde_json::to_string(&versions).unwrap_or_default()
                ),
                field: at("admissionReviewVersions"),
            });
        }
        let config = hook.get("clientConfig");
        let url = config.and_then(|c| c.get("url")).and_then(Value::as_str);
        let service = config
            .and_then(|c| c.get("service"))
            .filter(|s| !s.is_null());
        match (url, service) {
            (Some(_), Some(_)) => causes.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: exactly one of url or service is required".into(),
                field: at("clientConfig"),
            }),
            (None, None) => causes.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: exactly one of url or service is required".into(),
                field: at("clientConfig"),
            }),
            (Some(u), None) if !u.starts_with("https://") => causes.push(invalid_value(
                at("clientConfig.url"),
                u,
                "'https' is the only allowed URL scheme",
            )),
            _ => {}
        }
        for (j, condition) in hook
            .get("matchConditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = |f: &str| format!("webhooks[{i}].matchConditions[{j}].{f}");
            let text = |k: &str| condition.get(k).and_then(Value::as_str).unwrap_or("");
            if text("name").is_empty() {
                causes.push(required(at("name")));
            }
            match text("expression") {
                "" => causes.push(required(at("expression"))),
                source => {
                    if let Err(why) = kapi_schema::expression::Expression::compile(source) {
                        causes.push(invalid_value(
                            at("expression"),
                            source,
                            &format!("compilation failed: {why}"),
                        ));
                    }
                }
            }
        }
        if let Some(t) = hook.get("timeoutSeconds").and_then(Value::as_i64) {
            if !(1..=30).contains(&t) {
                causes.push(kapi_api::status::invalid_number(
                    at("timeoutSeconds"),
                    t,
                    "the timeout value must be between 1 and 30 seconds",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_upstreams() {
        let mut obj = json!({"webhooks": [{"name": "a.b.c", "rules": [{}], "clientConfig": {"service": {"name": "s", "namespace": "n"}}}]});
        defaults(&mut obj, true);
        let hook = &obj["webhooks"][0];
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["timeoutSeconds"], 10);
        assert_eq!(hook["reinvocationPolicy"], "Never");
        assert_eq!(hook["rules"][0]["scope"], "*");
        assert_eq!(hook["clientConfig"]["service"]["port"], 443);
    }

    #[test]
    fn a_webhook_needs_somewhere_to_call_and_declared_side_effects() {
        let mut causes = Vec::new();
        validate(
            &json!({"webhooks": [{"name": "deny", "clientConfig": {"url": "http://x"}, "admissionReviewVersions": ["v1beta1"]}]}),
            &mut causes,
        );
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "webhooks[0].name",
                "webhooks[0].sideEffects",
                "webhooks[0].admissionReviewVersions",
                "webhooks[0].clientConfig.url"
            ]
        );
    }
}

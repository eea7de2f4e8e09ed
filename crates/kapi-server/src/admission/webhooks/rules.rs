//! Which webhooks a request goes to: a webhook's `rules` (operations, groups, versions,
//! resources with subresources, scope), its `namespaceSelector` and its `objectSelector`, read
//! as kube-apiserver reads them.

use std::collections::BTreeMap;

use kapi_api::selectors::LabelSelector;
use serde_json::Value;

/// What is being done, as the rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `CREATE`.
    Create,
    /// `UPDATE`.
    Update,
    /// `DELETE`: validating webhooks only, with the stored object as `oldObject`.
    Delete,
}

impl Operation {
    /// The name rules and AdmissionReviews use.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// The request as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Create or update.
    pub operation: Operation,
    /// API group (`""` for core).
    pub group: &'a str,
    /// API version.
    pub version: &'a str,
    /// Resource (plural).
    pub resource: &'a str,
    /// Subresource, or empty.
    pub subresource: &'a str,
    /// Whether the resource is namespaced (rules' `scope`).
    pub namespaced: bool,
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn listed(list: &[&str], want: &str) -> bool {
    list.iter().any(|x| *x == "*" || *x == want)
}

/// `resources` entries: `pods` (the resource), `pods/status`, `pods/*` (pods and every
/// subresource of them), `*` (every resource, no subresource), `*/status`, `*/*`
/// (everything).
fn resource_listed(list: &[&str], resource: &str, subresource: &str) -> bool {
    list.iter().any(|entry| {
        let (res, sub) = entry.split_once('/').unwrap_or((entry, ""));
        let res_ok = res == "*" || res == resource;
        let sub_ok = sub == "*" || sub == subresource;
        res_ok && sub_ok
    })
}

/// Whether one of the webhook's `rules` covers `target`.
pub fn rules_match(webhook: &Value, target: &Target<'_>) -> bool {
    webhook
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|rule| {
            let scope = rule.get("scope").and_then(Value::as_str).unwrap_or("*");
            let scope_ok = match scope {
                "Cluster" => !target.namespaced,
                "Namespaced" => target.namespaced,
                _ => true,
            };
            scope_ok
                && listed(&strings(rule.get("operations")), target.operation.as_str())
                && listed(&strings(rule.get("apiGroups")), target.group)
                && listed(&strings(rule.get("apiVersions")), target.version)
                && resource_listed(
                    &strings(rule.get("resources")),
                    target.resource,
                    target.subresource,
                )
        })
}

/// The labels of an object.
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect()
}

/// Whether `selector` (a LabelSelector as JSON; absent selects everything) selects `labels`.
/// A selector that does not parse selects nothing, as it would fail upstream's validation.
pub fn selects(selector: Option<&Value>, labels: &BTreeMap<String, String>) -> bool {
    match selector {
        None | Some(Value::Null) => true,
        Some(s) => LabelSelector::from_label_selector_json(s).is_ok_and(|s| s.matches(labels)),
    }
}

/// `objectSelector`: the new object or, on update, the old one is selected.
pub fn object_selected(webhook: &Value, obj: &Value, old: Option<&Value>) -> bool {
    let selector = webhook.get("objectSelector");
    selects(selector, &labels_of(obj)) || old.is_some_and(|o| selects(selector, &labels_of(o)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(operation: Operation, resource: &str, subresource: &str) -> Target<'static> {
        let (resource, subresource): (&'static str, &'static str) = (
            Box::leak(resource.to_string().into_boxed_str()),
            Box::leak(subresource.to_string().into_boxed_str()),
        );
        Target {
            operation,
            group: "",
            version: "v1",
            resource,
            subresource,
            namespaced: true,
        }
    }

    #[test]
    fn rules_match_operations_groups_versions_and_resources() {
        let hook = json!({"rules": [{"operations": ["CREATE"], "apiGroups": [""],
            "apiVersions": ["v1"], "resources": ["configmaps"]}]});
        assert!(rules_match(
            &hook,
            &target(Operation::Create, "configmaps", "")
        ));
        assert!(!rules_match(
            &hook,
            &target(Operation::Update, "configmaps", "")
        ));
        assert!(!rules_match(
            &hook,
            &target(Operation::Create, "secrets", "")
        ));
        assert!(!rules_match(
            &hook,
            &target(Operation::Create, "configmaps", "status")
        ));
        let everything = json!({"rules": [{"operations": ["*"], "apiGroups": ["*"],
            "apiVersions": ["*"], "resources": ["*/*"]}]});
        assert!(rules_match(
            &everything,
            &target(Operation::Update, "pods", "status")
        ));
    }

    #[test]
    fn subresources_and_scope_are_rules_too() {
        let status = json!({"rules": [{"operations": ["UPDATE"], "apiGroups": [""],
            "apiVersions": ["v1"], "resources": ["*/status"]}]});
        assert!(rules_match(
            &status,
            &target(Operation::Update, "pods", "status")
        ));
        assert!(!rules_match(
            &status,
            &target(Operation::Update, "pods", "")
        ));
        let pods_all = json!({"rules": [{"operations": ["UPDATE"], "apiGroups": [""],
            "apiVersions": ["v1"], "resources": ["pods/*"]}]});
        assert!(rules_match(
            &pods_all,
            &target(Operation::Update, "pods", "status")
        ));
        // As upstream splits it: `pods/*` is pods with any subresource, none included.
        assert!(rules_match(
            &pods_all,
            &target(Operation::Update, "pods", "")
        ));
        let cluster = json!({"rules": [{"operations": ["*"], "apiGroups": ["*"],
            "apiVersions": ["*"], "resources": ["*"], "scope": "Cluster"}]});
        assert!(!rules_match(
            &cluster,
            &target(Operation::Create, "pods", "")
        ));
    }

    #[test]
    fn object_selectors_look_at_old_and_new() {
        let hook = json!({"objectSelector": {"matchLabels": {"watched": "yes"}}});
        let watched = json!({"metadata": {"labels": {"watched": "yes"}}});
        let plain = json!({"metadata": {}});
        assert!(object_selected(&hook, &watched, None));
        assert!(!object_selected(&hook, &plain, None));
        assert!(object_selected(&hook, &plain, Some(&watched)));
        assert!(object_selected(&json!({}), &plain, None));
    }
}

//! One RBAC `PolicyRule`: its JSON form, how it matches a request, and how upstream prints it.

use std::fmt;

use serde_json::{Map, Value};

use super::Attributes;

/// Go's `%q`, which upstream's RBAC messages use for names.
pub(crate) use kapi_api::status::go_quote;

/// The wildcard that matches every verb, group, resource or non-resource URL.
pub const ALL: &str = "*";

/// One rule of a Role or ClusterRole (`rbac.authorization.k8s.io/v1` `PolicyRule`).
///
/// Fields are kept as written; matching follows upstream's `RuleAllows`, so a rule that names
/// both resources and non-resource URLs (which validation forbids) still behaves as upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyRule {
    /// Verbs (`get`, `list`, ..., or `*`).
    pub verbs: Vec<String>,
    /// API groups (`""` is core, `*` is every group).
    pub api_groups: Vec<String>,
    /// Resources: `pods`, `pods/log`, `*/scale` or `*`.
    pub resources: Vec<String>,
    /// Object names the rule is limited to; empty means every name.
    pub resource_names: Vec<String>,
    /// Non-resource paths: exact, `*`, or a prefix ending in `*`.
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    /// A resource rule; the short constructor the bootstrap policy and tests are written with.
    pub fn resource(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Self {
        Self {
            verbs: strings(verbs),
            api_groups: strings(groups),
            resources: strings(resources),
            ..Self::default()
        }
    }

    /// A non-resource rule (`nonResourceURLs` plus verbs).
    pub fn urls(verbs: &[&str], urls: &[&str]) -> Self {
        Self {
            verbs: strings(verbs),
            non_resource_urls: strings(urls),
            ..Self::default()
        }
    }

    /// The same rule limited to `names`.
    pub fn with_names(mut self, names: &[&str]) -> Self {
        self.resource_names = strings(names);
        self
    }

    /// Reads a rule from its Kubernetes JSON form. Lenient: a field that is missing or not an
    /// array of strings reads as empty (validation is the registry's job, and an empty field
    /// only makes the rule match less).
    pub fn from_json(value: &Value) -> Self {
        Self {
            verbs: string_list(value.get("verbs")),
            api_groups: string_list(value.get("apiGroups")),
            resources: string_list(value.get("resources")),
            resource_names: string_list(value.get("resourceNames")),
            non_resource_urls: string_list(value.get("nonResourceURLs")),
        }
    }

    /// The Kubernetes JSON form, in upstream's field order, empty optional lists left out.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("verbs".into(), list_value(&self.verbs));
        for (key, list) in [
            ("apiGroups", &self.api_groups),
            ("resources", &self.resources),
            ("resourceNames", &self.resource_names),
            ("nonResourceURLs", &self.non_resource_urls),
        ] {
            if !list.is_empty() {
                map.insert(key.into(), list_value(list));
            }
        }
        Value::Object(map)
    }

    /// Upstream's compact form used in escalation errors, e.g.
    /// `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`.
    pub fn compact_string(&self) -> String {
        let mut parts = Vec::with_capacity(5);
        for (label, list) in [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ] {
            if !list.is_empty() {
                parts.push(format!("{label}:{}", go_quote_list(list)));
            }
        }
        format!("{{{}}}", parts.join(", "))
    }

    /// Whether this rule allows the request (upstream's `RuleAllows`).
    pub fn allows(&self, attrs: &Attributes<'_>) -> bool {
        rule_allows(self, attrs)
    }
}

/// Upstream's `String()`: `PolicyRule` followed by the compact form.
impl fmt::Display for PolicyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PolicyRule{}", self.compact_string())
    }
}

/// Whether `rule` allows the request described by `attrs`.
///
/// Resource requests need the verb, the API group, the resource (`*`, the exact
/// `resource/subresource`, or `*/subresource`; `pods` does not cover `pods/log` and `pods/*` is
/// no wildcard) and the name (`resourceNames` empty, or listing it: a request without a name,
/// such as list or create, never matches a rule with names). Non-resource requests need the verb
/// and the path (exact, `*`, or a prefix ending in `*`).
pub fn rule_allows(rule: &PolicyRule, attrs: &Attributes<'_>) -> bool {
    if !verb_matches(rule, attrs.verb) {
        return false;
    }
    if attrs.is_resource {
        group_matches(rule, attrs.api_group)
            && resource_matches(rule, attrs.resource, attrs.subresource)
            && name_matches(rule, attrs.name)
    } else {
        url_matches(rule, attrs.path)
    }
}

fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == ALL || v == verb)
}

fn group_matches(rule: &PolicyRule, group: &str) -> bool {
    rule.api_groups.iter().any(|g| g == ALL || g == group)
}

/// `resource` plus `subresource` against the rule's resources, without building the combined
/// `resource/subresource` string (this is the hot path of every decision).
fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        if r == ALL {
            return true;
        }
        if subresource.is_empty() {
            return r == resource;
        }
        // exact `resource/subresource`
        let exact = r.len() == resource.len() + 1 + subresource.len()
            && r.starts_with(resource)
            && r.as_bytes().get(resource.len()) == Some(&b'/')
            && r.ends_with(subresource);
        // `*/subresource`
        exact
            || (r.len() == subresource.len() + 2 && r.starts_with("*/") && r.ends_with(subresource))
    })
}

fn name_matches(rule: &PolicyRule, name: &str) -> bool {
    rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == name)
}

fn url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls.iter().any(|u| {
        u == ALL || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
    })
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn list_value(list: &[String]) -> Value {
    Value::Array(list.iter().map(|s| Value::String(s.clone())).collect())
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub(crate) fn go_quote_list(list: &[String]) -> String {
    let quoted: Vec<String> = list.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserInfo;
    use serde_json::json;

    fn res<'a>(
        user: &'a UserInfo,
        verb: &'a str,
        group: &'a str,
        resource: &'a str,
        sub: &'a str,
        name: &'a str,
    ) -> Attributes<'a> {
        Attributes {
            user,
            verb,
            is_resource: true,
            api_group: group,
            resource,
            subresource: sub,
            namespace: "ns",
            name,
            path: "",
        }
    }

    fn url<'a>(user: &'a UserInfo, verb: &'a str, path: &'a str) -> Attributes<'a> {
        Attributes::non_resource(user, verb, path)
    }

    #[test]
    #[rustfmt::skip]
    fn resource_rule_matching_table() {
        let u = UserInfo::default();
        let pods = PolicyRule::resource(&["get", "list"], &[""], &["pods"]);
        let star = PolicyRule::resource(&["*"], &["*"], &["*"]);
        let any_status = PolicyRule::resource(&["get"], &["apps"], &["*/status"]);
        let pods_slash_star = PolicyRule::resource(&["get"], &[""], &["pods/*"]);
        let pod_log = PolicyRule::resource(&["get"], &[""], &["pods/log"]);
        let named = PolicyRule::resource(&["get", "list", "update"], &[""], &["configmaps"])
            .with_names(&["cfg"]);
        let cases: &[(&str, &PolicyRule, Attributes<'_>, bool)] = &[
            ("exact", &pods, res(&u, "get", "", "pods", "", "p"), true),
            ("collection", &pods, res(&u, "list", "", "pods", "", ""), true),
            ("wrong verb", &pods, res(&u, "delete", "", "pods", "", "p"), false),
            ("wrong group", &pods, res(&u, "get", "apps", "pods", "", "p"), false),
            ("wrong resource", &pods, res(&u, "get", "", "secrets", "", "s"), false),
            ("pods does not cover pods/log", &pods, res(&u, "get", "", "pods", "log", "p"), false),
            ("exact subresource", &pod_log, res(&u, "get", "", "pods", "log", "p"), true),
            ("subresource rule needs it", &pod_log, res(&u, "get", "", "pods", "", "p"), false),
            ("other subresource", &pod_log, res(&u, "get", "", "pods", "exec", "p"), false),
            ("star", &star, res(&u, "escalate", "rbac.authorization.k8s.io", "roles", "", ""), true),
            ("star covers subresources", &star, res(&u, "create", "", "pods", "exec", "p"), true),
            ("*/status", &any_status, res(&u, "get", "apps", "deployments", "status", "d"), true),
            ("*/status not scale", &any_status, res(&u, "get", "apps", "deployments", "scale", "d"), false),
            ("*/status not the parent", &any_status, res(&u, "get", "apps", "deployments", "", "d"), false),
            ("pods/* is no wildcard", &pods_slash_star, res(&u, "get", "", "pods", "log", "p"), false),
            ("name listed", &named, res(&u, "get", "", "configmaps", "", "cfg"), true),
            ("name not listed", &named, res(&u, "get", "", "configmaps", "", "other"), false),
            ("names never match list", &named, res(&u, "list", "", "configmaps", "", ""), false),
            ("names match update of it", &named, res(&u, "update", "", "configmaps", "", "cfg"), true),
            ("resource rule vs path", &pods, url(&u, "get", "/api"), false),
        ];
        for (what, rule, attrs, want) in cases {
            assert_eq!(rule_allows(rule, attrs), *want, "{what}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn non_resource_url_matching_table() {
        let u = UserInfo::default();
        let discovery = PolicyRule::urls(&["get"], &["/api", "/api/*", "/version/"]);
        let all = PolicyRule::urls(&["*"], &["*"]);
        let cases: &[(&str, &PolicyRule, Attributes<'_>, bool)] = &[
            ("exact", &discovery, url(&u, "get", "/api"), true),
            ("prefix", &discovery, url(&u, "get", "/api/v1"), true),
            ("prefix needs the slash", &discovery, url(&u, "get", "/apis"), false),
            ("trailing slash exact", &discovery, url(&u, "get", "/version/"), true),
            ("no prefix without star", &discovery, url(&u, "get", "/version"), false),
            ("verb", &discovery, url(&u, "post", "/api"), false),
            ("star", &all, url(&u, "delete", "/anything/at/all"), true),
            ("url rule vs resource", &all, res(&u, "get", "", "pods", "", "p"), false),
        ];
        for (what, rule, attrs, want) in cases {
            assert_eq!(rule_allows(rule, attrs), *want, "{what}");
        }
    }

    #[test]
    fn json_round_trip_keeps_upstream_shape() {
        let v = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]});
        let rule = PolicyRule::from_json(&v);
        assert_eq!(
            rule,
            PolicyRule::resource(&["get"], &[""], &["pods"]).with_names(&["a"])
        );
        assert_eq!(rule.to_json(), v);
        let urls = json!({"verbs": ["get"], "nonResourceURLs": ["/healthz"]});
        assert_eq!(PolicyRule::from_json(&urls).to_json(), urls);
        // malformed fields read as empty, never panic
        let bad = PolicyRule::from_json(&json!({"verbs": "get", "apiGroups": [1, ""]}));
        assert!(bad.verbs.is_empty());
        assert_eq!(bad.api_groups, vec![String::new()]);
        assert_eq!(PolicyRule::from_json(&json!(null)), PolicyRule::default());
    }

    #[test]
    fn compact_string_is_upstreams() {
        let rule = PolicyRule::resource(&["get", "list"], &[""], &["pods"]);
        assert_eq!(
            rule.compact_string(),
            r#"{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}"#
        );
        let named =
            PolicyRule::resource(&["get"], &["apps"], &["deployments"]).with_names(&["web"]);
        assert_eq!(
            named.to_string(),
            r#"PolicyRule{APIGroups:["apps"], Resources:["deployments"], ResourceNames:["web"], Verbs:["get"]}"#
        );
        let urls = PolicyRule::urls(&["get"], &["/healthz"]);
        assert_eq!(
            urls.compact_string(),
            r#"{NonResourceURLs:["/healthz"], Verbs:["get"]}"#
        );
        assert_eq!(go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
    }
}

//! ClusterRole aggregation: `aggregationRule.clusterRoleSelectors` and the label selectors it
//! needs (the `metav1.LabelSelector` subset: `matchLabels` and `matchExpressions`).

use serde_json::Value;

use super::rule::PolicyRule;

/// For every ClusterRole with an `aggregationRule`, the rules it should carry: the union of the
/// rules of the other ClusterRoles whose labels match any of its selectors, in upstream's order
/// (selectors in order, matching roles by name, rules deduplicated keeping the first).
///
/// Aggregated roles may select each other (upstream's `view` is labelled aggregate-to-edit and
/// `edit` aggregate-to-admin); the aggregation controller converges on that by rewriting roles
/// one after another, and this does the same until nothing changes, so `admin` already holds
/// what `edit` and `view` aggregate. A role whose selectors do not parse is left out, as the
/// upstream controller leaves such a role untouched.
pub fn aggregate(cluster_roles: &[Value]) -> Vec<(String, Vec<PolicyRule>)> {
    let mut roles: Vec<Role> = cluster_roles.iter().filter_map(Role::from_json).collect();
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    let aggregated: Vec<usize> = roles
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.selectors, Some(Ok(_))))
        .map(|(i, _)| i)
        .collect();
    // Each pass can only push rules one aggregation level further, so there are at most as many
    // useful passes as aggregated roles; the bound also ends selection cycles.
    for _ in 0..=aggregated.len() {
        let mut changed = false;
        for &i in &aggregated {
            let rules = union_for(&roles, i);
            if rules != roles[i].rules {
                roles[i].rules = rules;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut out = Vec::new();
    for value in cluster_roles {
        let Some(name) = value.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        if let Ok(pos) = roles.binary_search_by(|r| r.name.as_str().cmp(name)) {
            if matches!(roles[pos].selectors, Some(Ok(_))) {
                out.push((name.to_owned(), roles[pos].rules.clone()));
            }
        }
    }
    out
}

fn union_for(roles: &[Role], target: usize) -> Vec<PolicyRule> {
    let mut rules: Vec<PolicyRule> = Vec::new();
    let Some(Ok(selectors)) = &roles[target].selectors else {
        return rules;
    };
    for selector in selectors {
        for (i, role) in roles.iter().enumerate() {
            if i == target || !selector.matches(&role.labels) {
                continue;
            }
            for rule in &role.rules {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
    }
    rules
}

struct Role {
    name: String,
    labels: Vec<(String, String)>,
    rules: Vec<PolicyRule>,
    /// `None`: no aggregationRule; `Some(Err)`: a selector does not parse.
    selectors: Option<Result<Vec<LabelSelector>, String>>,
}

impl Role {
    fn from_json(value: &Value) -> Option<Self> {
        let name = value.pointer("/metadata/name")?.as_str()?.to_owned();
        let labels = value
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let rules = value
            .get("rules")
            .and_then(Value::as_array)
            .map(|rs| rs.iter().map(PolicyRule::from_json).collect())
            .unwrap_or_default();
        let selectors = value
            .get("aggregationRule")
            .filter(|v| !v.is_null())
            .map(|rule| {
                rule.get("clusterRoleSelectors")
                    .and_then(Value::as_array)
                    .map(|list| list.iter().map(LabelSelector::from_json).collect())
                    .unwrap_or_else(|| Ok(Vec::new()))
            });
        Some(Self {
            name,
            labels,
            rules,
            selectors,
        })
    }
}

/// A parsed `metav1.LabelSelector`: every requirement must hold; an empty selector matches
/// everything (as `LabelSelectorAsSelector` makes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl LabelSelector {
    /// Parses `{matchLabels, matchExpressions}`; an unknown operator, or values where the
    /// operator takes none (or none where it needs some), is an error, as upstream.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let mut requirements = Vec::new();
        if let Some(labels) = value.get("matchLabels").filter(|v| !v.is_null()) {
            let labels = labels.as_object().ok_or("matchLabels must be an object")?;
            for (k, v) in labels {
                let v = v
                    .as_str()
                    .ok_or_else(|| format!("matchLabels[{k}] must be a string"))?;
                requirements.push(Requirement::In(k.clone(), vec![v.to_owned()]));
            }
        }
        if let Some(exprs) = value.get("matchExpressions").filter(|v| !v.is_null()) {
            let exprs = exprs.as_array().ok_or("matchExpressions must be a list")?;
            for expr in exprs {
                let key = expr
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or("matchExpressions key must be a string")?
                    .to_owned();
                let values: Vec<String> = expr
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|vs| {
                        vs.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = expr.get("operator").and_then(Value::as_str).unwrap_or("");
                let req = match op {
                    "In" | "NotIn" if values.is_empty() => {
                        return Err(format!(
                            "values: must be specified when `operator` is '{op}'"
                        ))
                    }
                    "Exists" | "DoesNotExist" if !values.is_empty() => {
                        return Err(format!(
                            "values: may not be specified when `operator` is '{op}'"
                        ))
                    }
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::DoesNotExist(key),
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"))
                    }
                };
                requirements.push(req);
            }
        }
        Ok(Self { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &[(String, String)]) -> bool {
        let get = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        self.requirements.iter().all(|req| match req {
            Requirement::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|v| vs.iter().all(|x| x != v)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(name: &str, labels: Value, rules: Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "rules": rules})
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn selector_operators() {
        let sel = LabelSelector::from_json(&json!({
            "matchLabels": {"a": "1"},
            "matchExpressions": [
                {"key": "b", "operator": "In", "values": ["x", "y"]},
                {"key": "c", "operator": "NotIn", "values": ["bad"]},
                {"key": "d", "operator": "Exists"},
                {"key": "e", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert!(sel.matches(&labels(&[("a", "1"), ("b", "y"), ("d", "")])));
        assert!(sel.matches(&labels(&[("a", "1"), ("b", "x"), ("c", "ok"), ("d", "z")])));
        assert!(!sel.matches(&labels(&[("a", "2"), ("b", "y"), ("d", "")])));
        assert!(!sel.matches(&labels(&[("a", "1"), ("b", "z"), ("d", "")])));
        assert!(!sel.matches(&labels(&[("a", "1"), ("b", "y"), ("c", "bad"), ("d", "")])));
        assert!(!sel.matches(&labels(&[("a", "1"), ("b", "y")])));
        assert!(!sel.matches(&labels(&[("a", "1"), ("b", "y"), ("d", ""), ("e", "")])));
        assert!(LabelSelector::from_json(&json!({})).unwrap().matches(&[]));
        assert!(LabelSelector::from_json(
            &json!({"matchExpressions": [{"key": "a", "operator": "Is"}]})
        )
        .is_err());
        assert!(LabelSelector::from_json(
            &json!({"matchExpressions": [{"key": "a", "operator": "In"}]})
        )
        .is_err());
        assert!(LabelSelector::from_json(
            &json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})
        )
        .is_err());
    }

    #[test]
    fn aggregates_union_dedup_in_name_order_and_chains() {
        let get_pods = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]});
        let list_pods = json!({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]});
        let roles = vec![
            json!({"metadata": {"name": "admin"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-admin": "true"}}]}}),
            json!({"metadata": {"name": "edit", "labels": {"to-admin": "true"}}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-edit": "true"}}]}, "rules": [{"verbs": ["stale"], "apiGroups": [""], "resources": ["x"]}]}),
            role(
                "z-extra",
                json!({"to-edit": "true"}),
                json!([list_pods.clone(), get_pods.clone()]),
            ),
            role(
                "a-extra",
                json!({"to-edit": "true"}),
                json!([get_pods.clone()]),
            ),
            role(
                "unrelated",
                json!({"other": "true"}),
                json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]),
            ),
            json!({"metadata": {"name": "broken"}, "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "k", "operator": "Nope"}]}]}}),
        ];
        let got = aggregate(&roles);
        let want_edit = vec![
            PolicyRule::from_json(&get_pods),
            PolicyRule::from_json(&list_pods),
        ];
        assert_eq!(
            got,
            vec![
                ("admin".to_owned(), want_edit.clone()),
                ("edit".to_owned(), want_edit)
            ]
        );
    }

    #[test]
    fn empty_selector_matches_all_but_itself() {
        let roles = vec![
            json!({"metadata": {"name": "everything"}, "aggregationRule": {"clusterRoleSelectors": [{}]}, "rules": []}),
            role(
                "one",
                json!({}),
                json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]),
            ),
        ];
        let got = aggregate(&roles);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].1,
            vec![PolicyRule::resource(&["get"], &[""], &["pods"])]
        );
    }
}

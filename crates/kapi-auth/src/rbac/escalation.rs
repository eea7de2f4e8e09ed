//! Escalation prevention: nobody grants, through a Role or a binding, what they do not hold.

use std::collections::BTreeSet;

use super::rule::{go_quote, go_quote_list, PolicyRule, ALL};
use crate::UserInfo;

/// The message upstream refuses an `aggregationRule` with when its author lacks full authority.
pub const AGGREGATION_RULE_FORBIDDEN: &str =
    "must have cluster-admin privileges to use the aggregationRule";

/// Whether the `owner` rules cover every permission the `requested` rules grant (upstream's
/// `Covers`).
///
/// Each requested rule is broken into atomic pieces — one (group, resource, verb[, name]) or one
/// (non-resource URL, verb) each — and every piece must be allowed by a single owner rule, with
/// upstream's wildcards: `*` verbs, groups and resources, `*/subresource`, non-resource prefixes
/// ending in `*`, and an owner rule without resourceNames covering any name (one with names
/// covers only those, and never an unnamed piece). The error lists the uncovered pieces.
pub fn covers(owner: &[PolicyRule], requested: &[PolicyRule]) -> Result<(), Vec<PolicyRule>> {
    let uncovered: Vec<PolicyRule> = requested
        .iter()
        .flat_map(breakdown)
        .filter(|piece| !owner.iter().any(|o| rule_covers(o, piece)))
        .collect();
    if uncovered.is_empty() {
        Ok(())
    } else {
        Err(uncovered)
    }
}

/// The text upstream's `ConfirmNoEscalation` fails with:
///
/// ```text
/// user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
/// {APIGroups:[""], Resources:["pods"], Verbs:["get"]}
/// ```
///
/// Missing pieces that differ only by verb are merged back into one rule (upstream's
/// `CompactRules`), then the lines are deduplicated and sorted. The registry wraps it with
/// [`forbidden_message`], e.g. `roles.rbac.authorization.k8s.io "name" is forbidden: user ...`.
pub fn escalation_message(user: &UserInfo, missing: &[PolicyRule]) -> String {
    let lines: BTreeSet<String> = compact_rules(missing)
        .iter()
        .map(PolicyRule::compact_string)
        .collect();
    format!(
        "user {} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        go_quote(&user.name),
        go_quote_list(&user.groups),
        lines.into_iter().collect::<Vec<_>>().join("\n")
    )
}

/// Upstream's `NewForbidden` message: `<group_resource> "<name>" is forbidden: <detail>`, the
/// name part left out when empty, and just `forbidden: <detail>` without a resource.
/// `group_resource` is the qualified plural, e.g. `roles.rbac.authorization.k8s.io`.
pub fn forbidden_message(group_resource: &str, name: &str, detail: &str) -> String {
    if group_resource.is_empty() {
        format!("forbidden: {detail}")
    } else if name.is_empty() {
        format!("{group_resource} is forbidden: {detail}")
    } else {
        format!("{group_resource} {} is forbidden: {detail}", go_quote(name))
    }
}

/// The rules that amount to every permission (cluster-admin's); holding them is what upstream
/// requires of whoever sets an `aggregationRule`.
pub fn full_authority() -> Vec<PolicyRule> {
    vec![
        PolicyRule::resource(&[ALL], &[ALL], &[ALL]),
        PolicyRule::urls(&[ALL], &[ALL]),
    ]
}

/// Upstream's `BreakdownRule`: one rule per group × resource × verb (× name), then one per
/// non-resource URL × verb.
fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let mut pieces = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let piece = PolicyRule {
                    verbs: vec![verb.clone()],
                    api_groups: vec![group.clone()],
                    resources: vec![resource.clone()],
                    ..PolicyRule::default()
                };
                if rule.resource_names.is_empty() {
                    pieces.push(piece);
                } else {
                    for name in &rule.resource_names {
                        pieces.push(PolicyRule {
                            resource_names: vec![name.clone()],
                            ..piece.clone()
                        });
                    }
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            pieces.push(PolicyRule {
                verbs: vec![verb.clone()],
                non_resource_urls: vec![url.clone()],
                ..PolicyRule::default()
            });
        }
    }
    pieces
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|i| has(set, i))
}

fn resources_cover(owner: &[String], pieces: &[String]) -> bool {
    if has(owner, ALL) {
        return true;
    }
    pieces.iter().all(|piece| {
        has(owner, piece)
            || piece
                .split_once('/')
                .is_some_and(|(_, sub)| owner.iter().any(|o| o.strip_prefix("*/") == Some(sub)))
    })
}

fn url_covers(owner: &str, path: &str) -> bool {
    owner == path || (owner.ends_with('*') && path.starts_with(owner.trim_end_matches('*')))
}

/// Whether one owner rule covers one atomic piece (upstream's `ruleCovers`).
fn rule_covers(owner: &PolicyRule, piece: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, ALL) || has_all(&owner.verbs, &piece.verbs);
    let groups = has(&owner.api_groups, ALL) || has_all(&owner.api_groups, &piece.api_groups);
    let resources = resources_cover(&owner.resources, &piece.resources);
    let urls = piece
        .non_resource_urls
        .iter()
        .all(|p| owner.non_resource_urls.iter().any(|o| url_covers(o, p)));
    let names = if piece.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &piece.resource_names)
    };
    verbs && groups && resources && urls && names
}

/// Upstream's `CompactRules`: rules with exactly one group and one resource and nothing but
/// verbs besides are merged per (group, resource), verbs in the order met.
fn compact_rules(rules: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut compacted = Vec::with_capacity(rules.len());
    let mut simple: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let is_simple = rule.api_groups.len() == 1
            && rule.resources.len() == 1
            && rule.resource_names.is_empty()
            && rule.non_resource_urls.is_empty();
        if !is_simple {
            compacted.push(rule.clone());
            continue;
        }
        match simple
            .iter_mut()
            .find(|s| s.api_groups == rule.api_groups && s.resources == rule.resources)
        {
            Some(existing) => existing.verbs.extend(rule.verbs.iter().cloned()),
            None => simple.push(rule.clone()),
        }
    }
    compacted.extend(simple);
    compacted
}

/// Upstream's `utilerrors.NewAggregate(errs).Error()`: one message as it is, several
/// deduplicated, comma-separated and bracketed.
pub(crate) fn aggregate_errors(errors: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for e in errors {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    match seen.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        many => format!("[{}]", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        PolicyRule::resource(verbs, groups, resources)
    }

    #[test]
    #[rustfmt::skip]
    fn covers_table() {
        let pods_rw = rule(&["get", "list", "create"], &[""], &["pods"]);
        let cases: &[(&str, Vec<PolicyRule>, Vec<PolicyRule>, bool)] = &[
            ("exact", vec![pods_rw.clone()], vec![rule(&["get"], &[""], &["pods"])], true),
            ("subset of verbs", vec![pods_rw.clone()], vec![rule(&["get", "list"], &[""], &["pods"])], true),
            ("extra verb", vec![pods_rw.clone()], vec![rule(&["delete"], &[""], &["pods"])], false),
            ("split over owner rules", vec![rule(&["get"], &[""], &["pods"]), rule(&["list"], &[""], &["pods"])], vec![rule(&["get", "list"], &[""], &["pods"])], true),
            ("star verbs", vec![rule(&["*"], &[""], &["pods"])], vec![rule(&["escalate"], &[""], &["pods"])], true),
            ("star groups", vec![rule(&["get"], &["*"], &["pods"])], vec![rule(&["get"], &["apps", ""], &["pods"])], true),
            ("star resources", vec![rule(&["get"], &[""], &["*"])], vec![rule(&["get"], &[""], &["pods", "pods/log"])], true),
            ("cluster-admin covers all", full_authority(), vec![rule(&["*"], &["*"], &["*"]), PolicyRule::urls(&["get"], &["/healthz"])], true),
            ("star request needs star", vec![pods_rw.clone()], vec![rule(&["*"], &[""], &["pods"])], false),
            ("*/sub covers any sub", vec![rule(&["get"], &["apps"], &["*/scale"])], vec![rule(&["get"], &["apps"], &["deployments/scale"])], true),
            ("*/sub not the parent", vec![rule(&["get"], &["apps"], &["*/scale"])], vec![rule(&["get"], &["apps"], &["deployments"])], false),
            ("parent does not cover sub", vec![rule(&["get"], &[""], &["pods"])], vec![rule(&["get"], &[""], &["pods/log"])], false),
            ("unnamed owner covers names", vec![pods_rw.clone()], vec![rule(&["get"], &[""], &["pods"]).with_names(&["a", "b"])], true),
            ("named owner covers its names", vec![rule(&["get"], &[""], &["pods"]).with_names(&["a", "b"])], vec![rule(&["get"], &[""], &["pods"]).with_names(&["a"])], true),
            ("named owner, other name", vec![rule(&["get"], &[""], &["pods"]).with_names(&["a"])], vec![rule(&["get"], &[""], &["pods"]).with_names(&["c"])], false),
            ("named owner, unnamed request", vec![rule(&["get"], &[""], &["pods"]).with_names(&["a"])], vec![rule(&["get"], &[""], &["pods"])], false),
            ("url prefix", vec![PolicyRule::urls(&["get"], &["/api/*"])], vec![PolicyRule::urls(&["get"], &["/api/v1", "/api/*"])], true),
            ("url star", vec![PolicyRule::urls(&["get"], &["*"])], vec![PolicyRule::urls(&["get"], &["/metrics"])], true),
            ("url outside prefix", vec![PolicyRule::urls(&["get"], &["/api/*"])], vec![PolicyRule::urls(&["get"], &["/apis"])], false),
            ("resource rules do not cover urls", vec![rule(&["*"], &["*"], &["*"])], vec![PolicyRule::urls(&["get"], &["/healthz"])], false),
            ("url rules do not cover resources", vec![PolicyRule::urls(&["*"], &["*"])], vec![rule(&["get"], &[""], &["pods"])], false),
            ("nothing requested", vec![], vec![], true),
        ];
        for (what, owner, requested, want) in cases {
            assert_eq!(covers(owner, requested).is_ok(), *want, "{what}");
        }
    }

    #[test]
    fn covers_lists_atomic_uncovered_pieces() {
        let owner = vec![rule(&["get"], &[""], &["pods"])];
        let requested = vec![rule(&["get", "list"], &["", "apps"], &["pods"])];
        let missing = covers(&owner, &requested).unwrap_err();
        assert_eq!(
            missing,
            vec![
                rule(&["list"], &[""], &["pods"]),
                rule(&["get"], &["apps"], &["pods"]),
                rule(&["list"], &["apps"], &["pods"]),
            ]
        );
    }

    #[test]
    fn message_matches_upstream_shape() {
        let bob = UserInfo {
            name: "bob".into(),
            groups: vec!["system:authenticated".into()],
            ..Default::default()
        };
        let missing = covers(&[], &[rule(&["get"], &[""], &["pods"])]).unwrap_err();
        let detail = escalation_message(&bob, &missing);
        assert_eq!(
            forbidden_message("roles.rbac.authorization.k8s.io", "name", &detail),
            "roles.rbac.authorization.k8s.io \"name\" is forbidden: user \"bob\" \
             (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not \
             currently held:\n{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\"]}"
        );
    }

    #[test]
    fn message_compacts_sorts_and_dedups() {
        let alice = UserInfo {
            name: "alice".into(),
            groups: vec!["dev".into(), "system:authenticated".into()],
            ..Default::default()
        };
        let requested = vec![
            rule(&["get", "list"], &[""], &["secrets"]),
            rule(&["get"], &[""], &["configmaps"]).with_names(&["x"]),
            PolicyRule::urls(&["get"], &["/metrics"]),
            rule(&["delete"], &[""], &["secrets"]),
        ];
        let missing = covers(&[], &requested).unwrap_err();
        assert_eq!(
            escalation_message(&alice, &missing),
            "user \"alice\" (groups=[\"dev\" \"system:authenticated\"]) is attempting to grant \
             RBAC permissions not currently held:\n\
             {APIGroups:[\"\"], Resources:[\"configmaps\"], ResourceNames:[\"x\"], Verbs:[\"get\"]}\n\
             {APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\" \"list\" \"delete\"]}\n\
             {NonResourceURLs:[\"/metrics\"], Verbs:[\"get\"]}"
        );
        assert_eq!(forbidden_message("", "", "x"), "forbidden: x");
        assert_eq!(
            forbidden_message("roles.rbac.authorization.k8s.io", "", "x"),
            "roles.rbac.authorization.k8s.io is forbidden: x"
        );
    }

    #[test]
    fn aggregate_errors_like_upstream() {
        assert_eq!(aggregate_errors(&[]), "");
        assert_eq!(aggregate_errors(&["a".into()]), "a");
        assert_eq!(aggregate_errors(&["a".into(), "a".into()]), "a");
        assert_eq!(
            aggregate_errors(&["a".into(), "b".into(), "a".into()]),
            "[a, b]"
        );
    }
}

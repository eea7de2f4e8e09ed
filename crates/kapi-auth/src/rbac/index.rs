//! The RBAC authorizer: bindings indexed by subject, role references resolved ahead of time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use serde_json::Value;

use super::aggregate::aggregate;
use super::escalation::{aggregate_errors, covers, escalation_message};
use super::rule::{go_quote, rule_allows, PolicyRule};
use super::Attributes;
use crate::authz::{Decision, SYSTEM_MASTERS};
use crate::UserInfo;

/// Every Role, ClusterRole and binding, arranged so a decision looks at only the bindings whose
/// subjects name the caller (its user name or one of its groups), never at all bindings.
///
/// Build a new index whenever an RBAC object changes (building 2,000 objects takes about 8
/// milliseconds) and swap it in; the index itself is immutable and `Send + Sync`.
#[derive(Debug, Default)]
pub struct RbacIndex {
    cluster: Subjects,
    namespaces: FastMap<Subjects>,
}

type FastMap<V> = HashMap<String, V, BuildHasherDefault<FxHasher>>;

/// The bindings reachable from each subject name, in one scope (cluster or one namespace).
#[derive(Debug, Default)]
struct Subjects {
    users: FastMap<Vec<Grant>>,
    groups: FastMap<Vec<Grant>>,
    /// Whether any grant here has an unresolved role (else a denial skips looking for errors).
    has_errors: bool,
}

/// One (binding, subject) pair: what it grants and how an allow through it is explained.
#[derive(Debug, Clone)]
struct Grant {
    /// Upstream's visiting order: binding position, then subject position within it.
    order: u64,
    /// The referenced role's rules; empty when the reference does not resolve.
    rules: Arc<[PolicyRule]>,
    /// `RBAC: allowed by ...`, ready to hand out.
    reason: Arc<str>,
    /// Why the role reference did not resolve (reported on a denial, as upstream).
    error: Option<Arc<str>>,
}

impl Grant {
    fn binding(&self) -> u64 {
        self.order >> 32
    }
}

impl RbacIndex {
    /// Builds the index from the four RBAC lists (Kubernetes JSON objects).
    ///
    /// ClusterRoles that carry an `aggregationRule` take their aggregated rules (see
    /// [`aggregate`]) so that the index is right before the aggregation controller has written
    /// them. Objects without a name (or a namespaced object without a namespace) are skipped.
    pub fn build(
        roles: &[Value],
        cluster_roles: &[Value],
        role_bindings: &[Value],
        cluster_role_bindings: &[Value],
    ) -> RbacIndex {
        let mut cluster_rules: HashMap<&str, Arc<[PolicyRule]>> = HashMap::new();
        for role in cluster_roles {
            if let Some(name) = str_at(role, &["metadata", "name"]) {
                cluster_rules.insert(name, rules_of(role).into());
            }
        }
        let aggregated = aggregate(cluster_roles);
        for (name, rules) in &aggregated {
            cluster_rules.insert(name.as_str(), rules.clone().into());
        }
        let mut role_rules: HashMap<(&str, &str), Arc<[PolicyRule]>> = HashMap::new();
        for role in roles {
            if let (Some(ns), Some(name)) = (
                str_at(role, &["metadata", "namespace"]),
                str_at(role, &["metadata", "name"]),
            ) {
                role_rules.insert((ns, name), rules_of(role).into());
            }
        }
        let resolve = |binding: &Value, namespace: &str| -> (Arc<[PolicyRule]>, Option<Arc<str>>) {
            let kind = str_at(binding, &["roleRef", "kind"]).unwrap_or("");
            let name = str_at(binding, &["roleRef", "name"]).unwrap_or("");
            let found = match kind {
                "ClusterRole" => cluster_rules.get(name).ok_or("clusterrole"),
                // A ClusterRoleBinding naming a Role looks in no namespace and finds nothing.
                "Role" => role_rules.get(&(namespace, name)).ok_or("role"),
                _ => {
                    let err = format!("unsupported role reference kind: {}", go_quote(kind));
                    return (Arc::from([]), Some(err.into()));
                }
            };
            match found {
                Ok(rules) => (rules.clone(), None),
                Err(resource) => {
                    let err = format!(
                        "{resource}.rbac.authorization.k8s.io {} not found",
                        go_quote(name)
                    );
                    (Arc::from([]), Some(err.into()))
                }
            }
        };

        let mut index = RbacIndex::default();
        for (position, binding) in cluster_role_bindings.iter().enumerate() {
            let Some(name) = str_at(binding, &["metadata", "name"]) else {
                continue;
            };
            let (rules, error) = resolve(binding, "");
            let source = format!("ClusterRoleBinding {}", go_quote(name));
            index
                .cluster
                .add(binding, position, "", &source, &rules, &error);
        }
        for (position, binding) in role_bindings.iter().enumerate() {
            let (Some(ns), Some(name)) = (
                str_at(binding, &["metadata", "namespace"]),
                str_at(binding, &["metadata", "name"]),
            ) else {
                continue;
            };
            let (rules, error) = resolve(binding, ns);
            let source = format!("RoleBinding {}", go_quote(&format!("{name}/{ns}")));
            let scope = index.namespaces.entry(ns.to_owned()).or_default();
            scope.add(binding, position, ns, &source, &rules, &error);
        }
        index
    }

    /// Decides a request as upstream's RBAC authorizer does.
    ///
    /// Members of `system:masters` are allowed everything (upstream decides that before RBAC,
    /// with no reason). Otherwise ClusterRoleBindings are consulted, then the RoleBindings of
    /// the request's namespace; the first rule that allows wins, and the reason names its
    /// binding, role and subject, e.g. `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole
    /// "y" to User "z"`. Nothing allowing gives `NoOpinion` (the server answers 403), with
    /// reason `RBAC: <errors>` when role references did not resolve, else an empty reason.
    pub fn authorize(&self, attrs: &Attributes<'_>) -> (Decision, String) {
        let user = attrs.user;
        if user.in_group(SYSTEM_MASTERS) {
            return (Decision::Allow, String::new());
        }
        let scope = if attrs.namespace.is_empty() {
            None
        } else {
            self.namespaces.get(attrs.namespace)
        };
        if let Some(grant) = self.cluster.first_allowing(attrs) {
            return (Decision::Allow, grant.reason.to_string());
        }
        if let Some(grant) = scope.and_then(|s| s.first_allowing(attrs)) {
            return (Decision::Allow, grant.reason.to_string());
        }
        let mut errors = self.cluster.errors_for(user);
        if let Some(scope) = scope {
            errors.extend(scope.errors_for(user));
        }
        if errors.is_empty() {
            (Decision::NoOpinion, String::new())
        } else {
            (
                Decision::NoOpinion,
                format!("RBAC: {}", aggregate_errors(&errors)),
            )
        }
    }

    /// Every rule that applies to `user` in `namespace` (cluster-wide ones first, then the
    /// namespace's), as `SelfSubjectRulesReview` reports them. An empty namespace gives the
    /// cluster-wide rules only.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
        self.resolve(user, namespace).0
    }

    /// Rules as [`rules_for`](Self::rules_for), plus the role references that did not
    /// resolve (for `SelfSubjectRulesReview`'s `evaluationError`).
    pub fn resolve(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        let scopes = [
            Some(&self.cluster),
            (!namespace.is_empty())
                .then(|| self.namespaces.get(namespace))
                .flatten(),
        ];
        for scope in scopes.into_iter().flatten() {
            for grant in scope.applying(user) {
                rules.extend(grant.rules.iter().cloned());
                if let Some(err) = &grant.error {
                    errors.push(err.to_string());
                }
            }
        }
        (rules, errors)
    }

    /// Upstream's `ConfirmNoEscalation`: whether `user` already holds, in `namespace`, every
    /// permission `rules` grant. The error is the message upstream puts after
    /// `<resource> "<name>" is forbidden: ` (see [`super::forbidden_message`]).
    ///
    /// The callers decide first whether the check applies at all: `escalate` on the role, or
    /// `bind` on the referenced role for a binding, skips it (ask [`authorize`](Self::authorize)).
    pub fn confirm_no_escalation(
        &self,
        user: &UserInfo,
        namespace: &str,
        rules: &[PolicyRule],
    ) -> Result<(), String> {
        if user.in_group(SYSTEM_MASTERS) {
            return Ok(());
        }
        let (owner, errors) = self.resolve(user, namespace);
        match covers(&owner, rules) {
            Ok(()) => Ok(()),
            Err(missing) => {
                let mut msg = escalation_message(user, &missing);
                if !errors.is_empty() {
                    // upstream prints a []error holding one aggregate error
                    msg.push_str(&format!(
                        "; resolution errors: [{}]",
                        aggregate_errors(&errors)
                    ));
                }
                Err(msg)
            }
        }
    }
}

impl Subjects {
    /// Files every subject of `binding` under its user or group name.
    fn add(
        &mut self,
        binding: &Value,
        position: usize,
        binding_namespace: &str,
        source: &str,
        rules: &Arc<[PolicyRule]>,
        error: &Option<Arc<str>>,
    ) {
        let role_kind = str_at(binding, &["roleRef", "kind"]).unwrap_or("");
        let role_name = str_at(binding, &["roleRef", "name"]).unwrap_or("");
        let Some(subjects) = binding.get("subjects").and_then(Value::as_array) else {
            return;
        };
        for (i, subject) in subjects.iter().enumerate() {
            let kind = str_at(subject, &["kind"]).unwrap_or("");
            let name = str_at(subject, &["name"]).unwrap_or("");
            let (map, key, described) = match kind {
                "User" => (&mut self.users, name.to_owned(), go_quote(name)),
                "Group" => (&mut self.groups, name.to_owned(), go_quote(name)),
                "ServiceAccount" => {
                    let ns = str_at(subject, &["namespace"])
                        .filter(|ns| !ns.is_empty())
                        .unwrap_or(binding_namespace);
                    if ns.is_empty() {
                        continue;
                    }
                    let user = format!("system:serviceaccount:{ns}:{name}");
                    (&mut self.users, user, go_quote(&format!("{name}/{ns}")))
                }
                _ => continue,
            };
            let reason = format!(
                "RBAC: allowed by {source} of {role_kind} {} to {kind} {described}",
                go_quote(role_name)
            );
            self.has_errors |= error.is_some();
            map.entry(key).or_default().push(Grant {
                order: ((position as u64) << 32) | (i as u64 & 0xffff_ffff),
                rules: rules.clone(),
                reason: reason.into(),
                error: error.clone(),
            });
        }
    }

    /// The first grant, in upstream's visiting order, with a rule allowing the request.
    ///
    /// Each subject's list is already in that order, so each list is scanned only until its
    /// first allowing grant, or until it passes the best grant found so far.
    fn first_allowing(&self, attrs: &Attributes<'_>) -> Option<&Grant> {
        let mut best = None;
        if let Some(list) = self.users.get(attrs.user.name.as_str()) {
            best = first_in(list, attrs, best);
        }
        for group in &attrs.user.groups {
            if let Some(list) = self.groups.get(group.as_str()) {
                best = first_in(list, attrs, best);
            }
        }
        best
    }

    /// The grants that apply to `user`, one per binding, in upstream's visiting order.
    fn applying(&self, user: &UserInfo) -> Vec<&Grant> {
        let mut grants: Vec<&Grant> = Vec::new();
        if let Some(list) = self.users.get(user.name.as_str()) {
            grants.extend(list);
        }
        for group in &user.groups {
            if let Some(list) = self.groups.get(group.as_str()) {
                grants.extend(list);
            }
        }
        grants.sort_by_key(|g| g.order);
        grants.dedup_by_key(|g| g.binding());
        grants
    }

    fn errors_for(&self, user: &UserInfo) -> Vec<String> {
        if !self.has_errors {
            return Vec::new();
        }
        self.applying(user)
            .into_iter()
            .filter_map(|g| g.error.as_deref().map(str::to_owned))
            .collect()
    }
}

fn first_in<'a>(
    list: &'a [Grant],
    attrs: &Attributes<'_>,
    best: Option<&'a Grant>,
) -> Option<&'a Grant> {
    for grant in list {
        if best.is_some_and(|b: &Grant| grant.order >= b.order) {
            break;
        }
        if grant.rules.iter().any(|r| rule_allows(r, attrs)) {
            return Some(grant);
        }
    }
    best
}

/// The string at `path` (object keys), if there is one. (`Value::pointer` would unescape each
/// token, a sixth of building the index.)
fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
}

fn rules_of(role: &Value) -> Vec<PolicyRule> {
    role.get("rules")
        .and_then(Value::as_array)
        .map(|rules| rules.iter().map(PolicyRule::from_json).collect())
        .unwrap_or_default()
}

/// The multiply-rotate hash rustc uses (FxHash), because SipHash would be a third of a
/// decision's time. It resists no crafted collisions, which is acceptable here: the keys come
/// from bindings, which only users allowed to write bindings create, and a namespace's bindings
/// live in their own map, so crafted names slow only that namespace's decisions.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

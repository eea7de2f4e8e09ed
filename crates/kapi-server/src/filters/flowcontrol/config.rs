//! The flow-control configuration: FlowSchemas and PriorityLevelConfigurations
//! (flowcontrol.apiserver.k8s.io/v1) as stored, compiled into what classification needs.
//!
//! Pure: objects in, [`Config`] out. Matching follows kube-apiserver: schemas in order of
//! `matchingPrecedence` then name, the first whose rules match wins; a rule matches when one of
//! its subjects and one of its resource (or non-resource) rules match; `*` is a wildcard only
//! as a list's sole element.

use kapi_api::meta::string_list as strings;
use kapi_auth::UserInfo;
use serde_json::Value;

use crate::request_info::RequestInfo;

/// How a schema splits its requests into flows for fair queuing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distinguisher {
    /// One flow for everything the schema matches.
    None,
    /// A flow per user name.
    ByUser,
    /// A flow per namespace (cluster-scoped requests share one).
    ByNamespace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    User(String),
    Group(String),
    ServiceAccount { namespace: String, name: String },
}

#[derive(Debug, Clone, Default)]
struct ResourceRule {
    verbs: Vec<String>,
    api_groups: Vec<String>,
    resources: Vec<String>,
    namespaces: Vec<String>,
    cluster_scope: bool,
}

#[derive(Debug, Clone, Default)]
struct NonResourceRule {
    verbs: Vec<String>,
    urls: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct Rule {
    subjects: Vec<Subject>,
    resource_rules: Vec<ResourceRule>,
    non_resource_rules: Vec<NonResourceRule>,
}

/// One FlowSchema, compiled.
#[derive(Debug, Clone)]
pub struct FlowSchema {
    /// Its name.
    pub name: String,
    /// Its UID, sent in `X-Kubernetes-PF-FlowSchema-UID`.
    pub uid: String,
    /// Lower matches first.
    pub precedence: i64,
    /// The priority level it sends requests to.
    pub level: String,
    /// How its requests are split into flows.
    pub distinguisher: Distinguisher,
    rules: Vec<Rule>,
}

/// How a priority level queues requests it cannot run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queuing {
    /// Number of queues.
    pub queues: usize,
    /// Queues dealt to each flow (shuffle sharding).
    pub hand_size: usize,
    /// Requests a queue may hold.
    pub queue_length_limit: usize,
}

/// What a priority level does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelKind {
    /// Never limited.
    Exempt,
    /// Limited to a share of the server's concurrency; without queuing, excess is refused.
    Limited {
        /// `nominalConcurrencyShares`.
        shares: u32,
        /// `None` for `limitResponse.type: Reject`.
        queuing: Option<Queuing>,
    },
}

/// One PriorityLevelConfiguration, compiled.
#[derive(Debug, Clone)]
pub struct PriorityLevel {
    /// Its name.
    pub name: String,
    /// Its UID, sent in `X-Kubernetes-PF-PriorityLevel-UID`.
    pub uid: String,
    /// Exempt or limited.
    pub kind: LevelKind,
}

/// Every schema and level, ready for classification.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Sorted by precedence, then name; dangling schemas left out.
    pub schemas: Vec<FlowSchema>,
    /// The levels by name.
    pub levels: Vec<PriorityLevel>,
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// `*` alone matches anything; otherwise the value must be listed.
fn listed(list: &[String], value: &str) -> bool {
    (list.len() == 1 && list[0] == "*") || list.iter().any(|s| s == value)
}

impl PriorityLevel {
    /// Compiles a stored PriorityLevelConfiguration; `None` when its spec is unusable (the
    /// level is then ignored, and schemas naming it are dangling).
    pub fn from_object(obj: &Value) -> Option<Self> {
        let name = str_at(obj, "/metadata/name").to_string();
        let uid = str_at(obj, "/metadata/uid").to_string();
        let kind = match str_at(obj, "/spec/type") {
            // Only the level named `exempt` may be Exempt, and it must be.
            "Exempt" if name == "exempt" => LevelKind::Exempt,
            "Limited" if name != "exempt" => {
                let limited = obj.pointer("/spec/limited")?;
                let shares = limited
                    .get("nominalConcurrencyShares")
                    .and_then(Value::as_u64)
                    .unwrap_or(30);
                let response = limited.get("limitResponse");
                let queuing = match response.map(|r| str_at(r, "/type")) {
                    Some("Queue") => {
                        let q = response.and_then(|r| r.get("queuing"));
                        let num = |k: &str, default: u64| {
                            q.and_then(|q| q.get(k))
                                .and_then(Value::as_u64)
                                .filter(|n| *n > 0)
                                .unwrap_or(default) as usize
                        };
                        let queues = num("queues", 64);
                        let hand_size = num("handSize", 8).min(queues);
                        Some(Queuing {
                            queues,
                            hand_size,
                            queue_length_limit: num("queueLengthLimit", 50),
                        })
                    }
                    _ => None,
                };
                LevelKind::Limited {
                    shares: u32::try_from(shares).ok()?,
                    queuing,
                }
            }
            _ => return None,
        };
        Some(Self { name, uid, kind })
    }
}

fn subject(v: &Value) -> Option<Subject> {
    Some(match str_at(v, "/kind") {
        "User" => Subject::User(str_at(v, "/user/name").to_string()),
        "Group" => Subject::Group(str_at(v, "/group/name").to_string()),
        "ServiceAccount" => Subject::ServiceAccount {
            namespace: str_at(v, "/serviceAccount/namespace").to_string(),
            name: str_at(v, "/serviceAccount/name").to_string(),
        },
        _ => return None,
    })
}

impl FlowSchema {
    /// Compiles a stored FlowSchema.
    pub fn from_object(obj: &Value) -> Self {
        let rules = obj
            .pointer("/spec/rules")
            .and_then(Value::as_array)
            .map(|rules| {
                rules
                    .iter()
                    .map(|r| Rule {
                        subjects: r
                            .get("subjects")
                            .and_then(Value::as_array)
                            .map(|s| s.iter().filter_map(subject).collect())
                            .unwrap_or_default(),
                        resource_rules: r
                            .get("resourceRules")
                            .and_then(Value::as_array)
                            .map(|rr| {
                                rr.iter()
                                    .map(|rr| ResourceRule {
                                        verbs: strings(rr.get("verbs")),
                                        api_groups: strings(rr.get("apiGroups")),
                                        resources: strings(rr.get("resources")),
                                        namespaces: strings(rr.get("namespaces")),
                                        cluster_scope: rr
                                            .get("clusterScope")
                                            .and_then(Value::as_bool)
                                            .unwrap_or(false),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        non_resource_rules: r
                            .get("nonResourceRules")
                            .and_then(Value::as_array)
                            .map(|nr| {
                                nr.iter()
                                    .map(|nr| NonResourceRule {
                                        verbs: strings(nr.get("verbs")),
                                        urls: strings(nr.get("nonResourceURLs")),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let distinguisher = match str_at(obj, "/spec/distinguisherMethod/type") {
            "ByUser" => Distinguisher::ByUser,
            "ByNamespace" => Distinguisher::ByNamespace,
            _ => Distinguisher::None,
        };
        Self {
            name: str_at(obj, "/metadata/name").to_string(),
            uid: str_at(obj, "/metadata/uid").to_string(),
            precedence: obj
                .pointer("/spec/matchingPrecedence")
                .and_then(Value::as_i64)
                .unwrap_or(1000),
            level: str_at(obj, "/spec/priorityLevelConfiguration/name").to_string(),
            distinguisher,
            rules,
        }
    }

    /// Whether this schema takes the request.
    pub fn matches(&self, user: &UserInfo, info: &RequestInfo) -> bool {
        self.rules.iter().any(|rule| {
            rule.subjects.iter().any(|s| subject_matches(s, user))
                && if info.is_resource {
                    rule.resource_rules
                        .iter()
                        .any(|r| resource_rule_matches(r, info))
                } else {
                    rule.non_resource_rules
                        .iter()
                        .any(|r| non_resource_rule_matches(r, info))
                }
        })
    }

    /// The flow this request belongs to within the schema.
    pub fn flow_distinguisher<'a>(&self, user: &'a UserInfo, info: &'a RequestInfo) -> &'a str {
        match self.distinguisher {
            Distinguisher::None => "",
            Distinguisher::ByUser => &user.name,
            Distinguisher::ByNamespace => &info.namespace,
        }
    }
}

fn subject_matches(subject: &Subject, user: &UserInfo) -> bool {
    match subject {
        Subject::User(name) => name == "*" || *name == user.name,
        Subject::Group(group) => group == "*" || user.groups.iter().any(|g| g == group),
        Subject::ServiceAccount { namespace, name } => {
            let Some(rest) = user.name.strip_prefix("system:serviceaccount:") else {
                return false;
            };
            let Some((ns, sa)) = rest.split_once(':') else {
                return false;
            };
            ns == namespace && (name == "*" || sa == name)
        }
    }
}

fn resource_rule_matches(rule: &ResourceRule, info: &RequestInfo) -> bool {
    if !listed(&rule.verbs, &info.verb) || !listed(&rule.api_groups, &info.group) {
        return false;
    }
    // `resource/subresource`, compared without building it.
    let resource_ok = if info.subresource.is_empty() {
        listed(&rule.resources, &info.resource)
    } else {
        (rule.resources.len() == 1 && rule.resources[0] == "*")
            || rule.resources.iter().any(|r| {
                r.strip_prefix(info.resource.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                    == Some(info.subresource.as_str())
            })
    };
    if !resource_ok {
        return false;
    }
    if info.namespace.is_empty() {
        rule.cluster_scope
    } else {
        listed(&rule.namespaces, &info.namespace)
    }
}

fn non_resource_rule_matches(rule: &NonResourceRule, info: &RequestInfo) -> bool {
    if !listed(&rule.verbs, &info.verb) {
        return false;
    }
    let path = info.path.as_str();
    rule.urls.iter().any(|url| {
        if url == "*" || url == path {
            return true;
        }
        // `/healthz` also covers `/healthz/etcd`; `/apis/*` covers `/apis/x`.
        let base = url.trim_end_matches('*');
        path.strip_prefix(base)
            .is_some_and(|rest| base.ends_with('/') || rest.starts_with('/'))
    })
}

impl Config {
    /// Compiles stored objects. The mandatory `exempt` and `catch-all` objects are assumed when
    /// missing (with empty UIDs), as kube-apiserver does while it recreates them.
    pub fn build(schemas: &[Value], levels: &[Value]) -> Self {
        let mut levels: Vec<PriorityLevel> = levels
            .iter()
            .filter_map(PriorityLevel::from_object)
            .collect();
        let mut schemas: Vec<FlowSchema> = schemas.iter().map(FlowSchema::from_object).collect();
        for mandatory in super::bootstrap::mandatory() {
            let name = str_at(&mandatory, "/metadata/name");
            match str_at(&mandatory, "/kind") {
                "PriorityLevelConfiguration" if !levels.iter().any(|l| l.name == name) => {
                    levels.extend(PriorityLevel::from_object(&mandatory));
                }
                "FlowSchema" if !schemas.iter().any(|s| s.name == name) => {
                    schemas.push(FlowSchema::from_object(&mandatory));
                }
                _ => {}
            }
        }
        schemas.retain(|s| levels.iter().any(|l| l.name == s.level));
        schemas.sort_by(|a, b| (a.precedence, &a.name).cmp(&(b.precedence, &b.name)));
        Self { schemas, levels }
    }

    /// The schema and level of a request: the first schema that matches, else `catch-all`.
    #[cfg(test)]
    pub fn classify(
        &self,
        user: &UserInfo,
        info: &RequestInfo,
    ) -> Option<(&FlowSchema, &PriorityLevel)> {
        let schema = &self.schemas[self.classify_index(user, info)?];
        let level = self.levels.iter().find(|l| l.name == schema.level)?;
        Some((schema, level))
    }

    /// The index in [`Config::schemas`] of the schema that takes the request.
    pub fn classify_index(&self, user: &UserInfo, info: &RequestInfo) -> Option<usize> {
        self.schemas
            .iter()
            .position(|s| s.matches(user, info))
            .or_else(|| self.schemas.iter().position(|s| s.name == "catch-all"))
    }

    /// Each limited level's nominal concurrency limit: `ceil(server_limit × shares / Σshares)`.
    pub fn nominal_limits(&self, server_limit: usize) -> Vec<(String, usize)> {
        let total: u64 = self
            .levels
            .iter()
            .map(|l| match l.kind {
                LevelKind::Limited { shares, .. } => u64::from(shares),
                LevelKind::Exempt => 0,
            })
            .sum();
        self.levels
            .iter()
            .filter_map(|l| match l.kind {
                LevelKind::Limited { shares, .. } if total > 0 => {
                    let limit = (server_limit as u64 * u64::from(shares)).div_ceil(total);
                    Some((l.name.clone(), limit as usize))
                }
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bootstrap() -> Config {
        let all = super::super::bootstrap::objects();
        let schemas: Vec<Value> = all
            .iter()
            .filter(|o| o["kind"] == "FlowSchema")
            .cloned()
            .collect();
        let levels: Vec<Value> = all
            .iter()
            .filter(|o| o["kind"] == "PriorityLevelConfiguration")
            .cloned()
            .collect();
        Config::build(&schemas, &levels)
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            extra: Default::default(),
        }
    }

    fn req(method: &str, path: &str) -> RequestInfo {
        crate::request_info::parse(method, path, false)
    }

    #[test]
    fn bootstrap_classification_follows_upstream() {
        let c = bootstrap();
        let cases = [
            (
                user("admin", &["system:masters", "system:authenticated"]),
                req("GET", "/api/v1/pods"),
                "exempt",
                "exempt",
            ),
            (
                user("jane", &["system:authenticated"]),
                req("GET", "/readyz"),
                "probes",
                "exempt",
            ),
            (
                user("system:anonymous", &["system:unauthenticated"]),
                req("GET", "/livez/ping"),
                "probes",
                "exempt",
            ),
            (
                user("jane", &["system:authenticated"]),
                req("GET", "/api/v1/namespaces/a/pods"),
                "global-default",
                "global-default",
            ),
            (
                user("jane", &["system:authenticated"]),
                req("GET", "/version"),
                "global-default",
                "global-default",
            ),
            (
                user(
                    "system:serviceaccount:app:web",
                    &["system:serviceaccounts", "system:authenticated"],
                ),
                req("GET", "/api/v1/namespaces/app/pods"),
                "service-accounts",
                "workload-low",
            ),
            (
                user(
                    "system:serviceaccount:kube-system:x",
                    &["system:serviceaccounts", "system:authenticated"],
                ),
                req("GET", "/api/v1/nodes"),
                "kube-system-service-accounts",
                "workload-high",
            ),
            (
                user(
                    "system:serviceaccount:kube-system:x",
                    &["system:serviceaccounts", "system:authenticated"],
                ),
                req(
                    "PUT",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l",
                ),
                "system-leader-election",
                "leader-election",
            ),
            (
                user("system:node:n1", &["system:nodes", "system:authenticated"]),
                req("PATCH", "/api/v1/nodes/n1/status"),
                "system-node-high",
                "node-high",
            ),
            (
                user("system:node:n1", &["system:nodes", "system:authenticated"]),
                req("GET", "/api/v1/namespaces/a/pods"),
                "system-nodes",
                "system",
            ),
            (
                user("system:kube-controller-manager", &["system:authenticated"]),
                req("GET", "/api/v1/pods"),
                "kube-controller-manager",
                "workload-high",
            ),
            (
                user("weird", &[]),
                req("GET", "/api/v1/pods"),
                "catch-all",
                "catch-all",
            ),
        ];
        for (u, info, schema, level) in cases {
            let (s, l) = c.classify(&u, &info).expect("classified");
            assert_eq!(
                (s.name.as_str(), l.name.as_str()),
                (schema, level),
                "{} {}",
                u.name,
                info.path
            );
        }
    }

    #[test]
    fn nominal_limits_are_upstreams_defaults() {
        let c = bootstrap();
        let limits: std::collections::HashMap<_, _> = c.nominal_limits(600).into_iter().collect();
        for (name, want) in [
            ("catch-all", 13),
            ("system", 74),
            ("node-high", 98),
            ("leader-election", 25),
            ("workload-high", 98),
            ("workload-low", 245),
            ("global-default", 49),
        ] {
            assert_eq!(limits[name], want, "{name}");
        }
        assert!(!limits.contains_key("exempt"));
    }

    #[test]
    fn wildcards_count_only_alone_and_dangling_schemas_are_dropped() {
        let fs = serde_json::json!({
            "metadata": {"name": "odd", "uid": "u"},
            "spec": {"matchingPrecedence": 5, "priorityLevelConfiguration": {"name": "global-default"},
                     "rules": [{"subjects": [{"kind": "User", "user": {"name": "jane"}}],
                                "resourceRules": [{"verbs": ["get", "*"], "apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"]}]}]}
        });
        let dangling = serde_json::json!({
            "metadata": {"name": "dangling"},
            "spec": {"matchingPrecedence": 3, "priorityLevelConfiguration": {"name": "nope"},
                     "rules": [{"subjects": [{"kind": "Group", "group": {"name": "*"}}],
                                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}
        });
        let levels: Vec<Value> = super::super::bootstrap::objects()
            .into_iter()
            .filter(|o| o["kind"] == "PriorityLevelConfiguration")
            .collect();
        let c = Config::build(&[fs, dangling], &levels);
        assert!(c.schemas.iter().all(|s| s.name != "dangling"));
        let jane = user("jane", &["system:authenticated"]);
        // `get` is listed, so `*` beside it is not a wildcard: a list is refused by `odd`.
        let (s, _) = c
            .classify(&jane, &req("GET", "/api/v1/namespaces/a/pods/p"))
            .unwrap();
        assert_eq!(s.name, "odd");
        let (s, _) = c
            .classify(&jane, &req("GET", "/api/v1/namespaces/a/pods"))
            .unwrap();
        assert_eq!(
            s.name, "catch-all",
            "only the mandatory schemas and `odd` exist here"
        );
        // Cluster-scoped requests need clusterScope.
        let (s, _) = c.classify(&jane, &req("GET", "/api/v1/nodes/n")).unwrap();
        assert_eq!(s.name, "catch-all");
    }
}

//! The audit log: one `audit.k8s.io/v1` Event per request, as JSON lines, at the level the
//! policy file chooses (None, Metadata, Request, RequestResponse): who did what, and whether it
//! was allowed.
//!
//! Events are written by a thread of their own, so a slow disk never holds up a request; the
//! file is flushed whenever the queue runs dry.

use kapi_api::meta::string_list as strings;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::mpsc;

use kapi_auth::UserInfo;
use serde_json::{json, Map, Value};

use crate::request_info::RequestInfo;

/// How much of a request is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing.
    None,
    /// Who, what, when, the verdict and the response code.
    Metadata,
    /// Metadata and the request body.
    Request,
    /// Request and the response body.
    RequestResponse,
}

impl Level {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "None" => Level::None,
            "Metadata" => Level::Metadata,
            "Request" => Level::Request,
            "RequestResponse" => Level::RequestResponse,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

/// Why the audit configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file could not be read or created.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The policy file is not a valid audit.k8s.io/v1 Policy.
    #[error("audit policy {path}: {message}")]
    Policy {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Default)]
struct Rule {
    level: Option<Level>,
    users: Vec<String>,
    groups: Vec<String>,
    verbs: Vec<String>,
    /// (group, resources, resourceNames)
    resources: Vec<(String, Vec<String>, Vec<String>)>,
    namespaces: Vec<String>,
    non_resource_urls: Vec<String>,
}

impl Rule {
    fn from_json(v: &Value) -> Option<Self> {
        Some(Rule {
            level: Level::parse(v.get("level")?.as_str()?),
            users: strings(v.get("users")),
            groups: strings(v.get("userGroups")),
            verbs: strings(v.get("verbs")),
            resources: v
                .get("resources")
                .and_then(Value::as_array)
                .map(|rs| {
                    rs.iter()
                        .map(|r| {
                            (
                                r.get("group")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_string(),
                                strings(r.get("resources")),
                                strings(r.get("resourceNames")),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            namespaces: strings(v.get("namespaces")),
            non_resource_urls: strings(v.get("nonResourceURLs")),
        })
    }

    fn matches(&self, user: &UserInfo, info: &RequestInfo) -> bool {
        let any = |list: &[String], value: &str| list.is_empty() || list.iter().any(|x| x == value);
        if !any(&self.users, &user.name) {
            return false;
        }
        if !self.groups.is_empty() && !user.groups.iter().any(|g| self.groups.contains(g)) {
            return false;
        }
        if !any(&self.verbs, &info.verb) {
            return false;
        }
        if info.is_resource {
            if !self.non_resource_urls.is_empty() && self.resources.is_empty() {
                return false;
            }
            if !self.namespaces.is_empty() && !self.namespaces.contains(&info.namespace) {
                return false;
            }
            if !self.resources.is_empty() {
                let full = if info.subresource.is_empty() {
                    info.resource.clone()
                } else {
                    format!("{}/{}", info.resource, info.subresource)
                };
                return self.resources.iter().any(|(g, rs, names)| {
                    g == &info.group
                        && (rs.is_empty()
                            || rs.iter().any(|r| {
                                r == &full
                                    || r == "*"
                                    || r == &info.resource && info.subresource.is_empty()
                                    || r.strip_prefix("*/") == Some(&info.subresource)
                            }))
                        && (names.is_empty() || names.contains(&info.name))
                });
            }
            true
        } else {
            if !self.resources.is_empty() || !self.namespaces.is_empty() {
                return false;
            }
            self.non_resource_urls.is_empty()
                || self
                    .non_resource_urls
                    .iter()
                    .any(|u| match u.strip_suffix('*') {
                        Some(prefix) => info.path.starts_with(prefix),
                        None => u == &info.path,
                    })
        }
    }
}

/// Writes audit events.
pub struct Auditor {
    rules: Vec<Rule>,
    tx: std::sync::Mutex<mpsc::Sender<Vec<u8>>>,
}

impl Auditor {
    /// Opens (appending) `log_path`; with no policy file every request is logged at Metadata.
    pub fn open(log_path: &Path, policy_path: Option<&Path>) -> Result<Self, AuditError> {
        let rules = match policy_path {
            None => vec![Rule {
                level: Some(Level::Metadata),
                ..Default::default()
            }],
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| AuditError::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                let policy: Value =
                    serde_yaml::from_str(&text).map_err(|e| AuditError::Policy {
                        path: p.display().to_string(),
                        message: e.to_string(),
                    })?;
                if policy.get("kind").and_then(Value::as_str) != Some("Policy") {
                    return Err(AuditError::Policy {
                        path: p.display().to_string(),
                        message: "kind must be Policy".into(),
                    });
                }
                let mut rules = Vec::new();
                for (i, r) in policy
                    .get("rules")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    rules.push(Rule::from_json(r).ok_or_else(|| AuditError::Policy {
                        path: p.display().to_string(),
                        message: format!(
                            "rules[{i}].level must be None, Metadata, Request or RequestResponse"
                        ),
                    })?);
                }
                rules
            }
        };
        // Audit events carry request bodies (Secrets among them) at RequestResponse level.
        let io = |source| AuditError::Io {
            path: log_path.display().to_string(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(log_path)
            .map_err(io)?;
        if file.metadata().map_err(io)?.is_file() {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io)?;
        }
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        std::thread::Builder::new()
            .name("kapi-audit".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(&mut file);
                while let Ok(line) = rx.recv() {
                    let _ = out.write_all(&line);
                    while let Ok(more) = rx.try_recv() {
                        let _ = out.write_all(&more);
                    }
                    let _ = out.flush();
                }
            })
            .map_err(|source| AuditError::Io {
                path: log_path.display().to_string(),
                source,
            })?;
        Ok(Self {
            rules,
            tx: std::sync::Mutex::new(tx),
        })
    }

    /// The level the policy gives this request: the first matching rule's, else None.
    pub fn level(&self, user: &UserInfo, info: &RequestInfo) -> Level {
        self.rules
            .iter()
            .find(|r| r.matches(user, info))
            .and_then(|r| r.level)
            .unwrap_or(Level::None)
    }

    fn write(&self, event: &Value) {
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(line);
        }
    }
}

fn micro_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// One request's audit event, filled in as the request goes through the filters.
pub struct Record {
    level: Level,
    event: Map<String, Value>,
}

impl Record {
    /// Starts an event when the request arrives.
    pub fn start(info: &RequestInfo, uri: &str, source_ip: &str, user_agent: &str) -> Self {
        let mut event = Map::new();
        event.insert("kind".into(), json!("Event"));
        event.insert("apiVersion".into(), json!("audit.k8s.io/v1"));
        event.insert("auditID".into(), json!(uuid::Uuid::new_v4().to_string()));
        event.insert("stage".into(), json!("ResponseComplete"));
        event.insert("requestURI".into(), json!(uri));
        event.insert("verb".into(), json!(info.verb));
        event.insert("user".into(), json!({}));
        event.insert("sourceIPs".into(), json!([source_ip]));
        if !user_agent.is_empty() {
            event.insert("userAgent".into(), json!(user_agent));
        }
        if info.is_resource {
            let mut obj = json!({"resource": info.resource, "apiVersion": info.version});
            for (k, v) in [
                ("namespace", &info.namespace),
                ("name", &info.name),
                ("apiGroup", &info.group),
                ("subresource", &info.subresource),
            ] {
                if !v.is_empty() {
                    obj[k] = json!(v);
                }
            }
            event.insert("objectRef".into(), obj);
        }
        event.insert("requestReceivedTimestamp".into(), json!(micro_now()));
        Self {
            level: Level::Metadata,
            event,
        }
    }

    /// Records who the request is from, and the level the policy gives it.
    pub fn user(
        &mut self,
        auditor: &Auditor,
        user: &UserInfo,
        info: &RequestInfo,
        impersonator: Option<&UserInfo>,
    ) {
        self.level = auditor.level(impersonator.unwrap_or(user), info);
        let as_json = |u: &UserInfo| {
            let mut v = json!({"username": u.name, "groups": u.groups});
            if !u.uid.is_empty() {
                v["uid"] = json!(u.uid);
            }
            if !u.extra.is_empty() {
                v["extra"] = json!(u.extra);
            }
            v
        };
        match impersonator {
            Some(real) => {
                self.event.insert("user".into(), as_json(real));
                self.event.insert("impersonatedUser".into(), as_json(user));
            }
            None => {
                self.event.insert("user".into(), as_json(user));
            }
        }
    }

    /// Whether the request body should be kept for this event.
    pub fn wants_request(&self) -> bool {
        self.level >= Level::Request
    }

    /// Whether the response body should be kept for this event.
    pub fn wants_response(&self) -> bool {
        self.level >= Level::RequestResponse
    }

    /// Records the authorization verdict.
    pub fn decision(&mut self, allowed: bool, reason: &str) {
        let mut ann =
            json!({"authorization.k8s.io/decision": if allowed { "allow" } else { "forbid" }});
        if !reason.is_empty() {
            ann["authorization.k8s.io/reason"] = json!(reason);
        }
        self.event.insert("annotations".into(), ann);
    }

    /// Records the request body, decoded (protobuf bodies are logged as their JSON form).
    pub fn request_object(&mut self, obj: Value) {
        self.event.insert("requestObject".into(), obj);
    }

    /// Records the response body (JSON bodies only).
    pub fn response_object(&mut self, body: &[u8]) {
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            self.event.insert("responseObject".into(), v);
        }
    }

    /// Completes and writes the event.
    pub fn finish(mut self, auditor: &Auditor, code: u16, status: Option<&Value>) {
        if self.level == Level::None {
            return;
        }
        let mut rs = json!({"metadata": {}, "code": code});
        if let Some(s) = status {
            for k in ["status", "message", "reason"] {
                if let Some(v) = s.get(k) {
                    rs[k] = v.clone();
                }
            }
        }
        self.event.insert("responseStatus".into(), rs);
        self.event.insert("level".into(), json!(self.level.name()));
        self.event
            .insert("stageTimestamp".into(), json!(micro_now()));
        if self.level < Level::Request {
            self.event.remove("requestObject");
        }
        if self.level < Level::RequestResponse {
            self.event.remove("responseObject");
        }
        auditor.write(&Value::Object(self.event));
    }
}

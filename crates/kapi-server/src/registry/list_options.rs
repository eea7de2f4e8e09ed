//! Query parameters of list and watch requests, parsed and checked once.

use base64::Engine;
use kapi_api::resources::ResourceDef;
use kapi_api::selectors::{field_value, FieldSelector, LabelSelector};
use kapi_api::status::ApiError;
use kapi_store::Revision;
use serde_json::Value;

/// How `resourceVersion` on a list is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RvMatch {
    /// Unset: the most recent state.
    Unset,
    /// At least as new as the given revision.
    NotOlderThan,
    /// Exactly the given revision.
    Exact,
}

/// Parsed list/watch options.
pub struct ListOptions {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0 = all).
    pub limit: usize,
    /// The key to continue after, from a `continue` token.
    pub continue_after: Option<String>,
    /// The revision the list a `continue` token goes on was read at (0: the current state,
    /// as in the token a 410 hands out).
    pub continue_revision: Option<Revision>,
    /// `resourceVersion`, parsed; `None` when unset or empty.
    pub resource_version: Option<Revision>,
    /// `resourceVersionMatch`.
    pub rv_match: RvMatch,
    /// `timeoutSeconds` for watches.
    pub timeout_seconds: Option<u64>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
    /// Whether the resource is namespaced: its keys end in `<namespace>/<name>`, else `<name>`.
    pub namespaced: bool,
    /// How the resource's selectable fields read from its stored form ([`field_reading`]).
    pub fields_read: &'static [FieldReading],
}

/// Where a selectable field is read in the stored object and what it is when unset, as
/// upstream's per-type field sets give it (a pod's `spec.hostNetwork` is `false` when unset,
/// `events.k8s.io`'s `regarding.name` is the stored core Event's `involvedObject.name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldReading {
    /// The field as selected.
    pub field: &'static str,
    /// Its path in the stored object.
    pub path: &'static str,
    /// Its value when unset.
    pub unset: &'static str,
}

const fn reading(field: &'static str, path: &'static str, unset: &'static str) -> FieldReading {
    FieldReading { field, path, unset }
}

const POD_FIELDS: &[FieldReading] = &[reading("spec.hostNetwork", "spec.hostNetwork", "false")];
const EVENT_FIELDS: &[FieldReading] = &[
    reading("source", "source.component", ""),
    reading("regarding.kind", "involvedObject.kind", ""),
    reading("regarding.namespace", "involvedObject.namespace", ""),
    reading("regarding.name", "involvedObject.name", ""),
    reading("regarding.uid", "involvedObject.uid", ""),
];

/// The fields of `def` that read other than as their own path with "" when unset.
fn field_reading(def: &ResourceDef) -> &'static [FieldReading] {
    match (def.group, def.resource) {
        ("", "pods") => POD_FIELDS,
        ("", "events") | ("events.k8s.io", "events") => EVENT_FIELDS,
        _ => &[],
    }
}

/// Parses the query string of a list or watch of `def`.
pub fn parse(query: &[(String, String)], def: &ResourceDef) -> Result<ListOptions, ApiError> {
    let get = |k: &str| {
        query
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let labels = LabelSelector::parse(get("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(get("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    for req in fields.requirements() {
        if !field_supported(def, &req.field) {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {}",
                req.field
            )));
        }
    }
    let limit = match get("limit") {
        None | Some("") => 0,
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?
            .max(0) as usize,
    };
    let (continue_after, continue_revision) = match get("continue") {
        None | Some("") => (None, None),
        Some(token) => {
            let (start, rv) = decode_continue(token)?;
            (Some(start), Some(rv))
        }
    };
    let resource_version = match get("resourceVersion") {
        None | Some("") => None,
        Some(rv) => Some(resource_version(rv)?),
    };
    let rv_match = match get("resourceVersionMatch") {
        None | Some("") => RvMatch::Unset,
        Some("NotOlderThan") => RvMatch::NotOlderThan,
        Some("Exact") => RvMatch::Exact,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
            )))
        }
    };
    if rv_match != RvMatch::Unset
        && resource_version.is_none()
        && get("sendInitialEvents").is_none()
    {
        return Err(ApiError::bad_request(
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    let timeout_seconds = match get("timeoutSeconds") {
        None | Some("") => None,
        Some(t) => Some(timeout_seconds(t)?),
    };
    let flag = |k: &str| parse_bool(k, get(k));
    // `watch` itself was read from the URL already; a value that is not a boolean is refused
    // here rather than taken as false.
    flag("watch")?;
    Ok(ListOptions {
        labels,
        fields,
        limit,
        continue_after,
        continue_revision,
        resource_version,
        rv_match,
        timeout_seconds,
        bookmarks: flag("allowWatchBookmarks")?.unwrap_or(false),
        send_initial_events: flag("sendInitialEvents")?,
        namespaced: def.namespaced,
        fields_read: field_reading(def),
    })
}

/// The longest timeout that still fits a duration in nanoseconds, as upstream converts it.
pub const MAX_TIMEOUT_SECONDS: i64 = i64::MAX / 1_000_000_000;

/// Parses `timeoutSeconds`: an integer from 0 to [`MAX_TIMEOUT_SECONDS`].
fn timeout_seconds(raw: &str) -> Result<u64, ApiError> {
    let invalid = |why: String| {
        ApiError::bad_request(format!("timeoutSeconds: Invalid value: {raw:?}: {why}"))
    };
    let n = raw.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        invalid(format!("strconv.ParseInt: parsing {raw:?}: {why}"))
    })?;
    if n < 0 {
        return Err(invalid("must be greater than or equal to 0".into()));
    }
    if n > MAX_TIMEOUT_SECONDS {
        return Err(invalid(format!(
            "must be no more than {MAX_TIMEOUT_SECONDS}"
        )));
    }
    Ok(n as u64)
}

/// A boolean query parameter, with the spellings Go's `strconv.ParseBool` accepts (clients
/// send `true`, `True` or `1`); anything else is refused rather than read as false.
pub fn parse_bool(key: &str, raw: Option<&str>) -> Result<Option<bool>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(format!(
            "{key}: Invalid value: {other:?}: strconv.ParseBool: parsing {other:?}: invalid syntax"
        ))),
    }
}

/// Parses a `resourceVersion` parameter: a store revision.
pub fn resource_version(raw: &str) -> Result<Revision, ApiError> {
    raw.parse::<Revision>().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid resource version: resourceVersion: Invalid value: {raw:?}: strconv.ParseUint: parsing {raw:?}: invalid syntax"
        ))
    })
}

/// The 422 upstream answers for a list or watch option used where it may not be.
fn forbidden_option(field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        "meta.k8s.io",
        "ListOptions",
        "",
        vec![kapi_api::status::Cause {
            reason: "FieldValueForbidden".into(),
            message: format!("Forbidden: {message}"),
            field: field.into(),
        }],
    )
}

impl ListOptions {
    /// `sendInitialEvents` as upstream allows it: only on a watch, with
    /// `resourceVersionMatch=NotOlderThan` and bookmarks (the end of the initial events is one).
    pub fn check_initial_events(&self, watch: bool) -> Result<(), ApiError> {
        let Some(send) = self.send_initial_events else {
            return Ok(());
        };
        if !watch {
            return Err(forbidden_option(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            ));
        }
        if self.rv_match != RvMatch::NotOlderThan {
            return Err(forbidden_option(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if send && !self.bookmarks {
            return Err(forbidden_option(
                "allowWatchBookmarks",
                "sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
        Ok(())
    }

    /// Whether an object passes both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        if !self.labels.is_empty() {
            let labels = obj.pointer("/metadata/labels");
            let ok = self
                .labels
                .matches_with(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str));
            if !ok {
                return false;
            }
        }
        self.fields.is_empty()
            || self
                .fields
                .matches(|f| match self.fields_read.iter().find(|r| r.field == f) {
                    Some(r) => field_value(obj, r.path).or_else(|| Some(r.unset.to_string())),
                    None => field_value(obj, f),
                })
    }

    /// Decides from the storage key alone when the selectors look only at the name and
    /// namespace (as controllers' `metadata.name=` watches do), so that objects need not be
    /// decoded; `None` when the object itself is needed.
    pub fn matches_key(&self, key: &str) -> Option<bool> {
        if !self.labels.is_empty() {
            return None;
        }
        // Keys end in `[<namespace>/]<name>`, whatever comes before (`services/specs/...`).
        let mut tail = key.rsplit('/');
        let name = tail.next()?;
        let namespace = if self.namespaced { tail.next()? } else { "" };
        let mut all = true;
        for req in self.fields.requirements() {
            let actual = match req.field.as_str() {
                "metadata.name" => name,
                "metadata.namespace" => namespace,
                _ => return None,
            };
            all &= req.matches_value(actual);
        }
        Some(all)
    }

    /// Whether a stored object passes the selectors: by key when that decides, decoding the
    /// bytes only when a selector needs the object.
    pub fn matches_stored(&self, key: &str, bytes: &[u8]) -> bool {
        !self.filters()
            || self.matches_key(key).unwrap_or_else(|| {
                serde_json::from_slice::<Value>(bytes).is_ok_and(|v| self.matches(&v))
            })
    }

    /// Whether any selector is set (so objects must be decoded to filter).
    pub fn filters(&self) -> bool {
        !self.labels.is_empty() || !self.fields.is_empty()
    }
}

/// The fields upstream lets each resource be selected by.
fn field_supported(def: &ResourceDef, field: &str) -> bool {
    if field == "metadata.name" || (def.namespaced && field == "metadata.namespace") {
        return true;
    }
    if def.custom {
        return crate::crd::served(def)
            .is_some_and(|s| s.selectable_fields.iter().any(|f| f == field));
    }
    let extra: &[&str] = match (def.group, def.resource) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "events") | ("events.k8s.io", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
        ],
        ("", "secrets") => &["type"],
        ("", "services") => &["spec.clusterIP", "spec.type"],
        ("", "namespaces") => &["status.phase"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "replicationcontrollers") => &["status.replicas"],
        ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        ("certificates.k8s.io", "certificatesigningrequests") => &["spec.signerName"],
        _ => &[],
    };
    extra.contains(&field)
}

/// Encodes the position after `key` at `revision` as an opaque continue token.
pub fn encode_continue(key: &str, revision: Revision) -> String {
    let token = serde_json::json!({"v": "meta.k8s.io/v1", "rv": revision, "start": key});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(String, Revision), ApiError> {
    let bad = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(bad)?;
    let rv = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    Ok((start, rv))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(group: &str, resource: &str, selector: &str) -> ListOptions {
        let def = kapi_api::resources::find(group, "v1", resource).unwrap();
        parse(&[("fieldSelector".into(), selector.into())], def).unwrap()
    }

    #[test]
    fn names_and_namespaces_are_read_from_the_end_of_any_key() {
        let pods = opts("", "pods", "metadata.name=web,metadata.namespace=shop");
        assert_eq!(pods.matches_key("/registry/pods/shop/web"), Some(true));
        assert_eq!(pods.matches_key("/registry/pods/other/web"), Some(false));
        let services = opts("", "services", "metadata.namespace=shop");
        assert_eq!(
            services.matches_key("/registry/services/specs/shop/web"),
            Some(true)
        );
        let nodes = opts("", "nodes", "metadata.name=n1");
        assert_eq!(nodes.matches_key("/registry/minions/n1"), Some(true));
        assert_eq!(nodes.matches_key("/registry/minions/n2"), Some(false));
        let by_phase = opts("", "pods", "status.phase=Running");
        assert_eq!(by_phase.matches_key("/registry/pods/shop/web"), None);
    }

    #[test]
    fn fields_read_as_upstreams_field_sets_give_them() {
        use serde_json::json;
        let unset = json!({"metadata": {"name": "p"}, "spec": {}});
        assert!(opts("", "pods", "spec.hostNetwork=false").matches(&unset));
        assert!(!opts("", "pods", "spec.hostNetwork=true").matches(&unset));
        assert!(opts("", "pods", "spec.nodeName=").matches(&unset));
        let svc = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.7"}});
        assert!(opts(
            "",
            "services",
            "spec.type=NodePort,spec.clusterIP=10.96.0.7"
        )
        .matches(&svc));
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "web"}, "source": {"component": "kubelet"}});
        assert!(opts("events.k8s.io", "events", "regarding.name=web").matches(&ev));
        assert!(opts("", "events", "source=kubelet").matches(&ev));
    }
}

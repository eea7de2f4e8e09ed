//! Server-side apply and field ownership (`metadata.managedFields`), as kube-apiserver does it
//! with structured-merge-diff, for built-in kinds.
//!
//! Every write records who owns which fields:
//!
//! - [`apply`] (`PATCH` with `application/apply-patch+yaml`) merges an applied configuration
//!   into the live object (objects key by key, list-type maps item by item, sets by value,
//!   atomic fields replaced), removes the fields the manager applied last time, no longer
//!   applies, and nobody else owns, and refuses to change fields other managers own unless
//!   forced ([`ApplyError::Conflicts`], a 409 with one cause per field). The manager's `Apply`
//!   entry becomes exactly the configuration's field set.
//! - [`update_managed_fields`] / [`track_update`] (create, update, non-apply patch): the fields
//!   a write added or changed become the writer's (`Update` entry, merged per manager, version
//!   and subresource); other managers lose them.
//!
//! Fields the server owns (`apiVersion`, `kind`, `metadata.name`, `uid`, `resourceVersion`,
//! ...) are never recorded. On the status subresource only `.status` counts; on the main
//! resource of a kind with a status subresource `.status` does not. `kubectl`'s migration from
//! client-side apply works as upstream: an apply by manager `kubectl` may take fields that
//! still match the `last-applied-configuration` annotation, and keeps that annotation current.
//!
//! ```
//! use kapi_api::apply::{apply, Scope};
//! use serde_json::json;
//!
//! let scope = Scope::new("", "ConfigMap", "v1");
//! let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
//! let (obj, entries) = apply(&scope, &json!({}), &[], "kubectl", &cm, false, "2025-01-01T00:00:00Z").unwrap();
//! assert_eq!(obj["data"]["a"], "1");
//! assert_eq!(entries[0].fields.to_fields_v1(), json!({"f:data": {"f:a": {}}}));
//! ```

mod custom;
mod fieldset;
mod managed;
mod schema;
mod typed;

use serde_json::{json, Map, Value};

pub use fieldset::{path_string, FieldSet, FieldsError, Path, PathElement};
pub use managed::{ManagedFieldsEntry, Operation};

pub use custom::{set_custom_shapes, CustomListType, CustomShape};
use managed::{cap_update_managers, entries_from, managers_from, Identity, Managers, Owned};
use schema::Schema;
use typed::{Comparison, ShapeError, Walker};

use crate::status::ApiError;

/// The annotation client-side `kubectl apply` keeps its configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manager `kubectl apply --server-side` uses; it alone migrates client-side apply.
const KUBECTL_MANAGER: &str = "kubectl";

/// What is being written: the kind, the version it is served in, and through which
/// subresource.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// API group, `""` for core.
    pub group: &'a str,
    /// Kind, as in `kind:`.
    pub kind: &'a str,
    /// `v1`, `apps/v1`, ...
    pub api_version: &'a str,
    /// `status` for the status subresource, empty for the main resource.
    pub subresource: &'a str,
    /// The kind has a status subresource, so the main resource does not own `.status`.
    pub status_subresource: bool,
}

impl<'a> Scope<'a> {
    /// The main resource of a kind without a status subresource.
    pub fn new(group: &'a str, kind: &'a str, api_version: &'a str) -> Self {
        Scope {
            group,
            kind,
            api_version,
            subresource: "",
            status_subresource: false,
        }
    }

    /// Fields a write through this scope may own: the status subresource owns only
    /// `.status`, the main resource everything else when the kind has a status subresource.
    fn filter(&self, set: &FieldSet) -> FieldSet {
        let status = PathElement::Field("status".into());
        if self.subresource == "status" {
            set.keep_subtree(&status)
        } else if self.status_subresource {
            let mut out = set.clone();
            out.remove_subtree(&status);
            out
        } else {
            set.clone()
        }
    }

    fn filter_comparison(&self, c: Comparison) -> Comparison {
        Comparison {
            removed: self.filter(&c.removed),
            modified: self.filter(&c.modified),
            added: self.filter(&c.added),
        }
    }
}

/// A field another manager owns and an apply would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    /// How it owns the field.
    pub operation: Operation,
    /// The version it wrote in (empty for appliers, which upstream does not print).
    pub api_version: String,
    /// The subresource it wrote through.
    pub subresource: String,
    /// The field, as upstream prints it: `.spec.replicas`, `.data.a`.
    pub field_path: String,
    path: Path,
    identity: String,
}

impl Conflict {
    fn new(id: &Identity, path: Path) -> Self {
        Conflict {
            manager: id.manager.clone(),
            operation: id.operation,
            api_version: id.api_version.clone(),
            subresource: id.subresource.clone(),
            field_path: path_string(&path),
            path,
            identity: id.json(),
        }
    }

    /// The manager as conflict messages name it: `"kubectl"`, `"ctl" using apps/v1`,
    /// `"ctl" with subresource "status" using v1`.
    pub fn manager_display(&self) -> String {
        let mut s = json!(self.manager).to_string();
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {}", json!(self.subresource)));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The configuration changes fields other managers own (409 unless forced).
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// `apiVersion` / `kind` of the configuration are not those of the URL (400).
    #[error("invalid object type: {0}")]
    InvalidObjectType(String),
    /// The configuration sets `metadata.managedFields` (400).
    #[error("metadata.managedFields must be nil")]
    ManagedFieldsNotNil,
    /// A list in the configuration has items without usable keys, or duplicates (500, as
    /// upstream answers it).
    #[error("failed to create typed patch object ({object}; {gvk}): {errors}")]
    InvalidConfiguration {
        /// `namespace/name` of the configuration.
        object: String,
        /// `group/version, Kind=kind`.
        gvk: String,
        /// What is wrong, path by path.
        errors: String,
    },
}

fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager_display(),
            one.field_path
        );
    }
    let mut groups: Vec<(&str, Vec<&Conflict>)> = Vec::new();
    for c in conflicts {
        match groups.iter_mut().find(|(id, _)| *id == c.identity) {
            Some((_, cs)) => cs.push(c),
            None => groups.push((&c.identity, vec![c])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(b.0));
    let mut lines = Vec::new();
    for (_, cs) in groups {
        lines.push(format!("conflicts with {}:", cs[0].manager_display()));
        lines.extend(cs.iter().map(|c| format!("- {}", c.field_path)));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

impl ApplyError {
    /// The Status message kubectl prints.
    pub fn to_status_message(&self) -> String {
        self.to_string()
    }

    /// `details.causes` of the Status: one `FieldManagerConflict` per conflicting field.
    pub fn causes(&self) -> Vec<crate::status::Cause> {
        match self {
            ApplyError::Conflicts(cs) => cs
                .iter()
                .map(|c| crate::status::Cause {
                    reason: "FieldManagerConflict".into(),
                    message: format!("conflict with {}", c.manager_display()),
                    field: c.field_path.clone(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        match &e {
            ApplyError::Conflicts(_) => {
                let causes: Vec<Value> = e
                    .causes()
                    .into_iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                ApiError {
                    code: 409,
                    reason: "Conflict",
                    message: e.to_status_message(),
                    details: Some(Box::new(json!({ "causes": causes }))),
                    continue_token: None,
                }
            }
            ApplyError::InvalidObjectType(_) | ApplyError::ManagedFieldsNotNil => {
                ApiError::bad_request(e.to_status_message())
            }
            // Upstream answers these as an unclassified 500.
            ApplyError::InvalidConfiguration { .. } => ApiError {
                code: 500,
                reason: "",
                message: e.to_status_message(),
                details: None,
                continue_token: None,
            },
        }
    }
}

impl FieldSet {
    /// The fields an applied configuration of `group`/`kind` specifies: its leaf values, the
    /// items of its list-type maps and sets, atomic values, and empty or `null` values.
    /// (An applier's entry is this set without the fields the server owns.)
    pub fn from_object(group: &str, kind: &str, obj: &Value) -> FieldSet {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let schema = Schema::of(group, kind, api_version);
        Walker::new(&schema).field_set(obj)
    }
}

/// Fields the server owns; no manager ever records them.
fn strip_server_fields(set: &FieldSet) -> FieldSet {
    set.difference(&server_fields())
}

fn server_fields() -> FieldSet {
    let mut s = FieldSet::new();
    for top in ["apiVersion", "kind", "metadata"] {
        s.insert(&[PathElement::Field(top.into())]);
    }
    for f in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        s.insert(&[
            PathElement::Field("metadata".into()),
            PathElement::Field(f.into()),
        ]);
    }
    s
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    obj
}

/// `group/version, Kind=kind` of an object, as upstream prints a GVK.
fn gvk_of(obj: &Value) -> String {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    format!("{group}/{version}, Kind={kind}")
}

/// The Update bookkeeping shared by non-apply writes and `before-first-apply`: fields `new`
/// added or changed move to `id`; fields it removed leave every manager.
fn record_update(
    scope: &Scope,
    walker: &Walker,
    old: &Value,
    new: &Value,
    managers: &mut Managers,
    id: Identity,
    now: &str,
) {
    let cmp = scope.filter_comparison(walker.compare(old, new));
    let changed = cmp.modified.union(&cmp.added);
    for owned in managers.values_mut() {
        owned.set = owned.set.difference(&changed).difference(&cmp.removed);
    }
    managers.retain(|_, o| !o.set.is_empty());
    let mine = strip_server_fields(&changed);
    if mine.is_empty() {
        return;
    }
    let set = match managers.get(&id) {
        Some(prev) => prev.set.union(&mine),
        None => mine,
    };
    managers.insert(
        id,
        Owned {
            set,
            api_version: scope.api_version.to_string(),
            time: Some(now.to_string()),
        },
    );
}

/// The managedFields after a non-apply write of `new` over `old` (`{}` for a create) by
/// `manager`, starting from `managed`.
pub fn update_managed_fields(
    scope: &Scope,
    old: &Value,
    new: &Value,
    managed: &[ManagedFieldsEntry],
    manager: &str,
    now: &str,
) -> Vec<ManagedFieldsEntry> {
    let schema = Schema::of(scope.group, scope.kind, scope.api_version);
    let walker = Walker::new(&schema);
    let mut managers = managers_from(managed);
    let id = Identity::update(manager, scope.api_version, scope.subresource);
    record_update(
        scope,
        &walker,
        &without_managed_fields(old),
        &without_managed_fields(new),
        &mut managers,
        id,
        now,
    );
    cap_update_managers(&mut managers);
    entries_from(&managers)
}

/// Whether a request's managedFields ask for a reset: `[]` or `[{}]`.
fn is_reset(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Array(items)) => match items.as_slice() {
            [] => true,
            [Value::Object(m)] => m.is_empty(),
            _ => false,
        },
        _ => false,
    }
}

/// Records a non-apply write in `new`'s `metadata.managedFields`, as the API server does
/// after a create (`old` is `None`), update or patch.
///
/// The starting point is `new`'s own managedFields when the client sent usable ones (so
/// clients can edit them; `[]` or `[{}]` clear them), else `old`'s; subresource writes
/// always start from `old`'s. An existing object without managedFields stays untracked
/// until its first apply, as upstream does.
pub fn track_update(scope: &Scope, old: Option<&Value>, new: &mut Value, manager: &str, now: &str) {
    let from_old = || {
        old.and_then(|o| ManagedFieldsEntry::list_from_object(o).ok())
            .unwrap_or_default()
    };
    let requested = new.pointer("/metadata/managedFields");
    let base = if !scope.subresource.is_empty() {
        from_old()
    } else if is_reset(requested) {
        Vec::new()
    } else {
        match ManagedFieldsEntry::list_from_object(new) {
            Ok(entries) if !entries.is_empty() => entries,
            _ => from_old(),
        }
    };
    let existing = old.is_some_and(|o| o.pointer("/metadata/uid").is_some());
    let entries = if base.is_empty() && existing {
        Vec::new()
    } else {
        let empty = json!({});
        update_managed_fields(scope, old.unwrap_or(&empty), new, &base, manager, now)
    };
    ManagedFieldsEntry::set_on_object(new, &entries);
}

/// Applies `applied` (a configuration owned by `manager`) to `live` (`{}` when the object
/// does not exist yet), whose managedFields are `managed`. Returns the new object, with its
/// `metadata.managedFields` set, and those entries.
///
/// `now` is the RFC 3339 time recorded for managers whose fields changed.
pub fn apply(
    scope: &Scope,
    live: &Value,
    managed: &[ManagedFieldsEntry],
    manager: &str,
    applied: &Value,
    force: bool,
    now: &str,
) -> Result<(Value, Vec<ManagedFieldsEntry>), ApplyError> {
    let api_version = applied.get("apiVersion").and_then(Value::as_str);
    let kind = applied.get("kind").and_then(Value::as_str);
    if !applied.is_object() || api_version != Some(scope.api_version) || kind != Some(scope.kind) {
        return Err(ApplyError::InvalidObjectType(gvk_of(applied)));
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::ManagedFieldsNotNil);
    }
    let schema = Schema::of(scope.group, scope.kind, scope.api_version);
    let walker = Walker::new(&schema);
    let errors = walker.check(applied);
    if !errors.is_empty() {
        let text = |e: &ShapeError| format!("{}: {}", e.path, e.message);
        let errors = match errors.as_slice() {
            [one] => text(one),
            many => format!(
                "errors:\n{}",
                many.iter()
                    .map(|e| format!("  {}", text(e)))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        };
        let meta = |k: &str| {
            applied
                .pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        return Err(ApplyError::InvalidConfiguration {
            object: format!("{}/{}", meta("namespace"), meta("name")),
            gvk: gvk_of(applied),
            errors,
        });
    }

    let live = without_managed_fields(live);
    let mut managers = managers_from(managed);
    if managers.is_empty() && live.pointer("/metadata/uid").is_some() {
        // Fields of an object nobody tracked belong to a stand-in manager, so that the
        // first apply cannot silently take them over.
        let id = Identity::update("before-first-apply", scope.api_version, scope.subresource);
        record_update(scope, &walker, &json!({}), &live, &mut managers, id, now);
    }
    let ctx = ApplyContext {
        scope,
        walker: &walker,
        live: &live,
        applied,
        applier: Identity::apply(manager, scope.subresource),
        now,
    };
    let (mut obj, managers) = match ctx.run(managers.clone(), force) {
        Err(conflicts) if manager == KUBECTL_MANAGER => {
            match allowed_by_last_applied(scope, &walker, &live) {
                Some(allowed) => {
                    let rest: Vec<Conflict> = conflicts
                        .into_iter()
                        .filter(|c| !allowed.has(&c.path))
                        .collect();
                    if rest.is_empty() {
                        ctx.run(managers, true)
                    } else {
                        Err(rest)
                    }
                }
                None => Err(conflicts),
            }
        }
        other => other,
    }
    .map_err(ApplyError::Conflicts)?;
    strip_nulls(&mut obj);
    if manager == KUBECTL_MANAGER && has_last_applied(&obj) {
        set_last_applied(&mut obj, &build_last_applied(applied));
    }
    let entries = entries_from(&managers);
    ManagedFieldsEntry::set_on_object(&mut obj, &entries);
    Ok((obj, entries))
}

/// One apply attempt's inputs.
struct ApplyContext<'a> {
    scope: &'a Scope<'a>,
    walker: &'a Walker<'a>,
    live: &'a Value,
    applied: &'a Value,
    applier: Identity,
    now: &'a str,
}

impl ApplyContext<'_> {
    fn run(&self, mut managers: Managers, force: bool) -> Result<(Value, Managers), Vec<Conflict>> {
        let merged = self.walker.merge(self.live, self.applied);
        let config = self.scope.filter(&self.walker.field_set(self.applied));
        let last = managers.get(&self.applier).cloned();
        managers.insert(
            self.applier.clone(),
            Owned {
                set: config.clone(),
                api_version: self.scope.api_version.to_string(),
                time: last.as_ref().and_then(|o| o.time.clone()),
            },
        );
        let merged = match &last {
            Some(last) if !last.set.is_empty() => self.prune(merged, &managers, &last.set),
            _ => merged,
        };
        let cmp = self
            .scope
            .filter_comparison(self.walker.compare(self.live, &merged));
        let changed = cmp.modified.union(&cmp.added);
        let mut conflicts = Vec::new();
        let mut taken = Vec::new();
        let mut others: Vec<(&Identity, &Owned)> = managers
            .iter()
            .filter(|(id, _)| **id != self.applier)
            .collect();
        others.sort_by_cached_key(|(id, _)| id.json());
        for (id, owned) in others {
            let clash = owned.set.intersection(&changed);
            if !clash.is_empty() {
                conflicts.extend(clash.paths().into_iter().map(|p| Conflict::new(id, p)));
                taken.push((id.clone(), clash));
            }
        }
        if !force && !conflicts.is_empty() {
            return Err(conflicts);
        }
        for (id, clash) in taken {
            if let Some(o) = managers.get_mut(&id) {
                o.set = o.set.difference(&clash);
            }
        }
        for (id, owned) in managers.iter_mut() {
            if *id != self.applier {
                owned.set = owned.set.difference(&cmp.removed);
            }
        }
        if let Some(mine) = managers.get_mut(&self.applier) {
            mine.set = strip_server_fields(&config);
            if merged != *self.live {
                mine.time = Some(self.now.to_string());
            }
        }
        managers.retain(|_, o| !o.set.is_empty());
        Ok((merged, managers))
    }

    /// Removes what the applier applied last time (`last`), no longer applies, and nobody
    /// else owns. Owning a field below a struct field counts as owning the struct field;
    /// fields the server owns are never removed.
    fn prune(&self, merged: Value, managers: &Managers, last: &FieldSet) -> Value {
        let named = |p: &[PathElement]| self.walker.is_named(p);
        let mut owned = server_fields();
        for o in managers.values() {
            owned = owned.union(&o.set);
        }
        let removable = last
            .with_named_prefixes(&named)
            .difference(&owned.with_named_prefixes(&named));
        if removable.is_empty() {
            return merged;
        }
        self.walker.remove(&merged, &removable)
    }
}

/// Drops `null` values from objects: a typed object has no place for them.
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, c| !c.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn last_applied(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn has_last_applied(obj: &Value) -> bool {
    last_applied(obj).is_some()
}

/// The fields of the last-applied configuration whose values the live object still has:
/// client-side apply owned them, so `kubectl` may take them over without a conflict.
fn allowed_by_last_applied(scope: &Scope, walker: &Walker, live: &Value) -> Option<FieldSet> {
    let last: Value = serde_json::from_str(last_applied(live)?).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(scope.api_version) {
        return None;
    }
    if !walker.check(&last).is_empty() {
        return None;
    }
    let cmp = walker.compare(&last, live);
    Some(
        walker
            .field_set(&last)
            .difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

/// The annotation value kubectl would write for `applied`: compact JSON with sorted keys
/// (and Go's HTML escaping), without the annotation itself, ending in a newline.
fn build_last_applied(applied: &Value) -> String {
    let mut obj = applied.clone();
    if let Some(a) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(LAST_APPLIED_ANNOTATION);
    }
    let text = sorted(&obj).to_string();
    let mut out = String::with_capacity(text.len() + 1);
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Sets the last-applied annotation, unless that would make the annotations too large.
fn set_last_applied(obj: &mut Value, value: &str) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(a) = annotations.as_object_mut() else {
        return;
    };
    a.insert(LAST_APPLIED_ANNOTATION.into(), json!(value));
    if crate::meta::annotations_size(a) > crate::meta::MAX_ANNOTATIONS_BYTES {
        a.remove(LAST_APPLIED_ANNOTATION);
    }
}

#[cfg(test)]
mod tests;

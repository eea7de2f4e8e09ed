//! Writes: create, update, patch and delete, with optimistic concurrency.
//!
//! Every write is a read of the current object and revision, a pure transformation
//! (strategy, patch), and a conditional store write at that revision; a conflict caused by a
//! concurrent writer is retried when the client did not pin a resourceVersion itself.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kapi_api::apply::{self, ManagedFieldsEntry};
use kapi_api::resources::ResourceDef;
use kapi_api::status::ApiError;
use kapi_store::{Revision, StoreError};
use serde_json::{json, Map, Value};

use super::claims;
use super::stored::encode;
use super::{decode, store_error, strategy, Registry};
use crate::admission::webhooks::{self, Operation};
use crate::crd::Served;

/// How many times a write retries a conflict it did not ask for.
const RETRIES: usize = 8;

/// How many names a create with `generateName` tries before answering 409, as upstream's
/// apiserver does since RetryGenerateName (1.32): one in 14 million names is taken at random
/// from five characters, which a busy namespace does meet.
const GENERATE_NAME_ATTEMPTS: usize = 8;

/// Runs `create` with `obj`, and when the object asks for a generated name and the one drawn
/// is taken, again with a new one.
async fn with_generated_names<F, Fut>(
    obj: Value,
    mut suffix: impl FnMut() -> String,
    mut create: F,
) -> Result<Bytes, ApiError>
where
    F: FnMut(Value) -> Fut,
    Fut: std::future::Future<Output = Result<Bytes, ApiError>>,
{
    let Some(meta) = obj.get("metadata") else {
        return create(obj).await;
    };
    if strategy::generated_name(meta, String::new).is_none() {
        return create(obj).await;
    }
    let mut attempt = 1;
    loop {
        let mut named = obj.clone();
        if let Some(name) = strategy::generated_name(meta, &mut suffix) {
            named["metadata"]["name"] = json!(name);
        }
        match create(named).await {
            Err(e) if e.reason == "AlreadyExists" && attempt < GENERATE_NAME_ATTEMPTS => {
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// A check on the final object, run just before it is stored (validating admission that needs
/// the caller, such as RBAC escalation prevention).
pub type Admit = std::sync::Arc<dyn Fn(&Value) -> Result<(), ApiError> + Send + Sync>;

/// Options every write takes.
#[derive(Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: do everything but persist.
    pub dry_run: bool,
    /// The field manager recorded in managedFields.
    pub field_manager: String,
    /// Validating admission for this write, if any.
    pub admit: Option<Admit>,
    /// `fieldValidation`: what unknown fields in the request do.
    pub field_validation: FieldValidation,
    /// Warnings for the response, one `Warning: 299` header each; the write fills it.
    pub warnings: Arc<Mutex<Vec<String>>>,
    /// Who asks, for admission webhooks; writes kapi makes itself (not through the API)
    /// have nobody and are not sent to webhooks.
    pub user: Option<Arc<kapi_auth::UserInfo>>,
}

/// `fieldValidation`: unknown fields are always dropped from built-in kinds (upstream decodes
/// into Go structs); this says whether they are also reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and warn, one warning each: upstream's default when the parameter is unset.
    #[default]
    Warn,
    /// Fail the request with 400 (422 for patches) naming them.
    Strict,
}

impl WriteOptions {
    /// Parses the `fieldValidation` query parameter; unset or empty is Warn, as upstream.
    pub fn parse_field_validation(value: Option<&str>) -> Result<FieldValidation, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }

    /// The warnings the write produced, for `Warning` response headers.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Replaces the warnings (a retried transformation reports its last run only).
    fn set_warnings(&self, warnings: Vec<String>) {
        if let Ok(mut w) = self.warnings.lock() {
            *w = warnings;
        }
    }

    fn add_warnings(&self, more: Vec<String>) {
        if let (Ok(mut w), false) = (self.warnings.lock(), more.is_empty()) {
            w.extend(more);
        }
    }

    fn admit(&self, obj: &Value) -> Result<(), ApiError> {
        match &self.admit {
            Some(check) => check(obj),
            None => Ok(()),
        }
    }
}

/// The patch formats of `PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902.
    Json,
    /// RFC 7386.
    Merge,
    /// Kubernetes strategic merge patch.
    Strategic,
    /// Server-side apply.
    Apply {
        /// `force=true`.
        force: bool,
    },
}

/// What a delete did.
pub enum DeleteOutcome {
    /// The object is gone; these were its final bytes.
    Deleted(Bytes),
    /// Deletion is pending (finalizers); the object as it now stands.
    Pending(Bytes),
    /// A pod is terminating gracefully: its node stops it, then finishes the deletion.
    Terminating(Bytes),
}

fn dry_run_bytes(obj: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(obj).unwrap_or_default())
}

/// The current time as Kubernetes writes timestamps.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(super) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

fn rv_of(obj: &Value) -> Result<Option<Revision>, ApiError> {
    match obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<Revision>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion: {s}"))),
    }
}

/// What field ownership is tracked against: the kind, its served version and the
/// subresource written.
fn apply_scope<'a>(
    def: &'a ResourceDef,
    api_version: &'a str,
    subresource: &'a str,
) -> apply::Scope<'a> {
    apply::Scope {
        group: def.group,
        kind: def.kind,
        api_version,
        subresource,
        status_subresource: def.has_status(),
    }
}

/// The object a write produced must keep the name and namespace of the URL.
fn check_name(obj: &Value, name: &str, ns: Option<&str>) -> Result<(), ApiError> {
    let field = |k: &str| {
        obj.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    if field("name") != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            field("name")
        )));
    }
    match ns {
        Some(ns)
            if !ns.is_empty() && !field("namespace").is_empty() && field("namespace") != ns =>
        {
            Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ))
        }
        _ => Ok(()),
    }
}

/// A patch may not rename an object, move it to another namespace or change its UID:
/// upstream's 400 for the first two, 422 "field is immutable" for the UID.
fn check_identity_kept(
    def: &ResourceDef,
    current: &Value,
    patched: &Value,
    name: &str,
    ns: Option<&str>,
) -> Result<(), ApiError> {
    check_name(patched, name, ns)?;
    let uid = |v: &Value| v.pointer("/metadata/uid").cloned();
    if !def.namespaced
        && patched
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let (old, new) = (uid(current), uid(patched));
    if new.is_some() && new != old {
        let shown = match new {
            Some(Value::String(s)) => s,
            other => other.map(|v| v.to_string()).unwrap_or_default(),
        };
        return Err(ApiError::invalid(
            def.group,
            def.kind,
            name,
            vec![kapi_api::status::invalid_value(
                "metadata.uid",
                &shown,
                "field is immutable",
            )],
        ));
    }
    Ok(())
}

/// Whether two objects differ in anything but their resourceVersion. managedFields count:
/// they change only with content (times included), except when an apply takes co-ownership
/// of values it leaves as they were, which upstream stores too.
fn same_content(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        v
    };
    strip(a) == strip(b)
}

impl Registry {
    /// Creates an object in `ns` (ignored for cluster-scoped resources).
    pub async fn create(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Bytes, ApiError> {
        with_generated_names(
            obj,
            || kapi_api::meta::generate_suffix(rand::random::<u32>),
            |obj| self.create_with(def, ns, obj, opts, None),
        )
        .await
    }

    /// Creates an object; its managedFields are `applied` (a server-side apply's) or else
    /// the creator's Update entry.
    async fn create_with(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
        applied: Option<Vec<ManagedFieldsEntry>>,
    ) -> Result<Bytes, ApiError> {
        let custom = crate::crd::served(def);
        check_body(def, custom.as_deref(), &mut obj, opts)?;
        obj = self
            .webhooks_mutate(def, "", Operation::Create, ns, obj, None, opts)
            .await?;
        let requested = obj.pointer("/metadata/managedFields").cloned();
        strategy::prepare_create(def, ns, &mut obj)?;
        if let Some(served) = &custom {
            crate::crd::admit_create(def, served, &obj)?;
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if def.namespaced {
            self.check_namespace_open(def, ns.unwrap_or_default(), &name)?;
        }
        // Ownership covers what the client sent and the defaults; fields the server
        // allocates below (cluster IPs, node ports) belong to nobody, as upstream.
        match applied {
            Some(entries) => ManagedFieldsEntry::set_on_object(&mut obj, &entries),
            None if !opts.field_manager.is_empty() => {
                if let Some(mf) = requested {
                    meta_mut(&mut obj).insert("managedFields".into(), mf);
                }
                let api_version = def.api_version();
                let scope = apply_scope(def, &api_version, "");
                apply::track_update(&scope, None, &mut obj, &opts.field_manager, &now());
            }
            None => {}
        }
        // Held until the write lands (or fails, or is a dry run): then the stored Service
        // holds the addresses, or they are free again.
        let mut reservation = if claims::holds_addresses(def) {
            Some(self.allocator.allocate_service(self, &mut obj)?)
        } else {
            None
        };
        opts.admit(&obj)?;
        self.webhooks_validate(def, "", Operation::Create, ns, &obj, None, opts)
            .await?;
        if opts.dry_run {
            if self.store.get(&def.key(ns, &name)).is_some() {
                return Err(ApiError::already_exists(def.group, def.resource, &name));
            }
            return Ok(dry_run_bytes(&obj));
        }
        let owner = claims::Owner::new(ns, &name);
        if let Some(reservation) = reservation.as_mut() {
            reservation.claim(self, &mut obj, &owner).await?;
        }
        let claimed = reservation.as_ref().map(|_| claims::given_up(&obj, None));
        match self.store.create(&def.key(ns, &name), encode(obj)?).await {
            Ok(written) => Ok(written.value),
            Err(e) => {
                if let Some((ips, ports)) = claimed {
                    claims::release(self, &ips, &ports, &owner).await;
                }
                Err(store_error(def, &name, e))
            }
        }
    }

    /// The mutating admission webhooks, for writes made through the API.
    #[allow(clippy::too_many_arguments)]
    async fn webhooks_mutate(
        &self,
        def: &'static ResourceDef,
        subresource: &str,
        operation: Operation,
        ns: Option<&str>,
        obj: Value,
        old: Option<&Value>,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let Some(user) = opts.user.as_deref() else {
            return Ok(obj);
        };
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let call = webhooks::Call {
            def,
            subresource,
            operation,
            namespace: ns,
            name: &name,
            user,
            dry_run: opts.dry_run,
        };
        let mut warnings = Vec::new();
        let result = webhooks::mutate(self, &call, obj, old, &mut warnings).await;
        opts.add_warnings(warnings);
        result
    }

    /// The validating admission webhooks, for writes made through the API.
    #[allow(clippy::too_many_arguments)]
    async fn webhooks_validate(
        &self,
        def: &'static ResourceDef,
        subresource: &str,
        operation: Operation,
        ns: Option<&str>,
        obj: &Value,
        old: Option<&Value>,
        opts: &WriteOptions,
    ) -> Result<(), ApiError> {
        let Some(user) = opts.user.as_deref() else {
            return Ok(());
        };
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let call = webhooks::Call {
            def,
            subresource,
            operation,
            namespace: ns,
            name,
            user,
            dry_run: opts.dry_run,
        };
        let mut warnings = Vec::new();
        let result = webhooks::validate(self, &call, obj, old, &mut warnings).await;
        opts.add_warnings(warnings);
        result
    }

    fn check_namespace_open(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        let ns_def = kapi_api::resources::find("", "v1", "namespaces")
            .ok_or_else(|| ApiError::internal("namespaces are not served"))?;
        let (nsobj, _) = self
            .get_value(ns_def, None, ns)
            .map_err(|_| ApiError::not_found("", "namespaces", ns))?;
        if nsobj.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::namespace_terminating(
                def.group,
                def.resource,
                name,
                ns,
            ));
        }
        Ok(())
    }

    /// Replaces an object (PUT), or its status or other subresource.
    pub async fn update(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
        subresource: &str,
        mut new: Value,
        opts: &WriteOptions,
    ) -> Result<Bytes, ApiError> {
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        let body_name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if body_name.is_empty() {
            return Err(ApiError::invalid(
                def.group,
                def.kind,
                name,
                vec![kapi_api::status::required("metadata.name")],
            ));
        }
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        check_body(def, crate::crd::served(def).as_deref(), &mut new, opts)?;
        let pinned = rv_of(&new)?;
        self.guaranteed_update(def, ns, name, subresource, pinned, opts, false, |_| {
            Ok(new.clone())
        })
        .await
    }

    /// Applies a patch of `patch_type` to an object (PATCH).
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
        subresource: &str,
        patch_type: PatchType,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<(Bytes, bool), ApiError> {
        let patch_value: Option<Value> = match patch_type {
            PatchType::Json => None,
            _ => Some(parse_patch_body(body)?),
        };
        let custom = crate::crd::served(def);
        if custom.is_some() && patch_type == PatchType::Strategic {
            return Err(ApiError::unsupported_media_type(
                "application/strategic-merge-patch+json",
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/apply-patch+yaml",
                ],
            ));
        }
        if let (PatchType::Apply { force }, Some(applied)) = (patch_type, &patch_value) {
            check_applied(def, custom.as_deref(), applied)?;
            return self
                .server_side_apply(def, ns, name, subresource, applied, force, opts)
                .await;
        }
        let pinned = patch_value.as_ref().map(rv_of).transpose()?.flatten();
        let bytes = self
            .guaranteed_update(def, ns, name, subresource, pinned, opts, false, |current| {
                let mut patched =
                    apply_patch(def, current, patch_type, body, patch_value.as_ref())?;
                check_identity_kept(def, current, &patched, name, ns)?;
                check_patched(def, custom.as_deref(), &mut patched, opts, body)?;
                Ok(patched)
            })
            .await?;
        Ok((bytes, false))
    }

    /// Server-side apply: merges `applied` into the object (creating it when missing) and
    /// makes it `opts.field_manager`'s configuration; fields other managers own are a 409
    /// conflict unless `force`. Returns the object and whether it was created.
    #[allow(clippy::too_many_arguments)]
    async fn server_side_apply(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
        subresource: &str,
        applied: &Value,
        force: bool,
        opts: &WriteOptions,
    ) -> Result<(Bytes, bool), ApiError> {
        let api_version = def.api_version();
        let scope = apply_scope(def, &api_version, subresource);
        let manager = opts.field_manager.as_str();
        let now = now();
        if self.store.get(&def.key(ns, name)).is_none() {
            if !subresource.is_empty() {
                return Err(ApiError::not_found(def.group, def.resource, name));
            }
            let (obj, entries) =
                apply::apply(&scope, &json!({}), &[], manager, applied, force, &now)?;
            check_name(&obj, name, ns)?;
            match self.create_with(def, ns, obj, opts, Some(entries)).await {
                Ok(created) => return Ok((created, true)),
                // Created meanwhile by someone else: apply to theirs.
                Err(e) if e.reason == "AlreadyExists" && !opts.dry_run => {}
                Err(e) => return Err(e),
            }
        }
        let bytes = self
            .guaranteed_update(def, ns, name, subresource, None, opts, true, |current| {
                let managed = ManagedFieldsEntry::list_from_object(current).unwrap_or_default();
                let (obj, _) =
                    apply::apply(&scope, current, &managed, manager, applied, force, &now)?;
                check_name(&obj, name, ns)?;
                Ok(obj)
            })
            .await?;
        Ok((bytes, false))
    }

    /// Reads, transforms and writes until the write lands without a conflict (or the
    /// client's pinned resourceVersion is stale). `applied`: the transformation is a
    /// server-side apply and set managedFields itself; otherwise the write is recorded as
    /// `opts.field_manager`'s Update.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn guaranteed_update(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
        subresource: &str,
        pinned: Option<Revision>,
        opts: &WriteOptions,
        applied: bool,
        transform: impl Fn(&Value) -> Result<Value, ApiError>,
    ) -> Result<Bytes, ApiError> {
        let key = def.key(ns, name);
        let api_version = def.api_version();
        let scope = apply_scope(def, &api_version, subresource);
        for _ in 0..RETRIES {
            let kv = self
                .store
                .get(&key)
                .ok_or_else(|| ApiError::not_found(def.group, def.resource, name))?;
            if pinned.is_some_and(|rv| rv != kv.mod_revision) {
                return Err(ApiError::conflict(def.group, def.resource, name));
            }
            let old = decode(&kv.value)?;
            let proposed = transform(&old)?;
            let proposed = self
                .webhooks_mutate(
                    def,
                    subresource,
                    Operation::Update,
                    ns,
                    proposed,
                    Some(&old),
                    opts,
                )
                .await?;
            // A resourceVersion the transformation put in (a JSON patch, an applied
            // configuration) is a precondition too.
            if rv_of(&proposed)?.is_some_and(|rv| rv != kv.mod_revision) {
                return Err(ApiError::conflict(def.group, def.resource, name));
            }
            let applied_fields =
                applied.then(|| proposed.pointer("/metadata/managedFields").cloned());
            // A scale write is a write of the main resource, recorded as `scale`'s.
            let written = if subresource == "scale" {
                ""
            } else {
                subresource
            };
            let mut new = strategy::prepare_update(def, written, &old, proposed)?;
            if let Some(served) = crate::crd::served(def) {
                crate::crd::validate_object(def, &served, &new, Some(&old))?;
            }
            let mut reservation = if claims::holds_addresses(def) && written.is_empty() {
                Some(self.allocator.update_service(self, &old, &mut new)?)
            } else {
                None
            };
            match applied_fields {
                Some(Some(fields)) => {
                    meta_mut(&mut new).insert("managedFields".into(), fields);
                }
                Some(None) => {
                    meta_mut(&mut new).remove("managedFields");
                }
                None if !opts.field_manager.is_empty() => {
                    apply::track_update(&scope, Some(&old), &mut new, &opts.field_manager, &now());
                }
                None => {}
            }
            if same_content(&old, &new) {
                return Ok(kv.value);
            }
            opts.admit(&new)?;
            self.webhooks_validate(
                def,
                subresource,
                Operation::Update,
                ns,
                &new,
                Some(&old),
                opts,
            )
            .await?;
            if opts.dry_run {
                return Ok(dry_run_bytes(&new));
            }
            let finished = new.pointer("/metadata/deletionTimestamp").is_some()
                && new
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .is_none_or(|f| f.is_empty());
            let owner = claims::Owner::new(ns, name);
            if let Some(reservation) = reservation.as_mut() {
                reservation.claim(self, &mut new, &owner).await?;
            }
            // Released once the write lands: what the Service no longer holds (all of it when
            // this write deletes it); if it does not: what was claimed for it.
            let claims_after = reservation.as_ref().map(|_| {
                let kept = (!finished).then_some(&new);
                (
                    claims::given_up(&old, kept),
                    claims::given_up(&new, Some(&old)),
                )
            });
            let value = encode(new)?;
            let result = if finished {
                self.store.delete(&key, Some(kv.mod_revision), value).await
            } else {
                self.store.update(&key, Some(kv.mod_revision), value).await
            };
            if let Some((given_up, claimed)) = claims_after {
                let (ips, ports) = if result.is_ok() { given_up } else { claimed };
                claims::release(self, &ips, &ports, &owner).await;
            }
            match result {
                Ok(written) => return Ok(written.value),
                Err(StoreError::Conflict { .. }) if pinned.is_none() => continue,
                Err(e) => return Err(store_error(def, name, e)),
            }
        }
        Err(ApiError::conflict(def.group, def.resource, name))
    }

    /// Deletes an object, honouring preconditions and finalizers.
    pub async fn delete(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
        options: &Value,
        dry_run: bool,
        user: Option<&kapi_auth::UserInfo>,
    ) -> Result<DeleteOutcome, ApiError> {
        let key = def.key(ns, name);
        super::propagation::validate(options)?;
        if let Some(why) = self.store.corruption(&key) {
            return Err(ApiError::corrupt_object(&key, &why));
        }
        for _ in 0..RETRIES {
            let kv = self
                .store
                .get(&key)
                .ok_or_else(|| ApiError::not_found(def.group, def.resource, name))?;
            let mut obj = decode(&kv.value)?;
            check_preconditions(def, name, &obj, options)?;
            if let Some(user) = user {
                let call = webhooks::Call {
                    def,
                    subresource: "",
                    operation: Operation::Delete,
                    namespace: ns,
                    name,
                    user,
                    dry_run,
                };
                // Warnings of a delete have nowhere to go: the handler answers the object.
                webhooks::validate(self, &call, &Value::Null, Some(&obj), &mut Vec::new()).await?;
            }
            let is_namespace = def.group.is_empty() && def.resource == "namespaces";
            // A definition's objects go before it does (upstream adds the finalizer on delete).
            if def.group == "apiextensions.k8s.io"
                && obj.pointer("/metadata/deletionTimestamp").is_none()
            {
                crate::crd::mark_deleting(&mut obj);
            }
            // Namespaces keep their own deletion (the namespace controller empties them).
            let orphan_by_default =
                def.group.is_empty() && def.resource == "replicationcontrollers";
            let gc_changed =
                !is_namespace && super::propagation::apply(&mut obj, options, orphan_by_default);
            let is_pod = def.group.is_empty() && def.resource == "pods";
            if let Some(grace) = is_pod
                .then(|| super::pods::graceful_delete_seconds(&obj, options))
                .flatten()
            {
                if super::pods::mark_terminating(&mut obj, grace).is_none() && !gc_changed {
                    return Ok(DeleteOutcome::Terminating(kv.value));
                }
                if dry_run {
                    return Ok(DeleteOutcome::Terminating(dry_run_bytes(&obj)));
                }
                match self
                    .store
                    .update(&key, Some(kv.mod_revision), encode(obj)?)
                    .await
                {
                    Ok(written) => return Ok(DeleteOutcome::Terminating(written.value)),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(store_error(def, name, e)),
                }
            }
            let has_finalizers = obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            if has_finalizers || is_namespace {
                let already = obj.pointer("/metadata/deletionTimestamp").is_some();
                if already && !gc_changed {
                    return Ok(DeleteOutcome::Pending(kv.value));
                }
                if !already {
                    let meta = meta_mut(&mut obj);
                    meta.insert("deletionTimestamp".into(), json!(now()));
                    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
                    if is_namespace {
                        obj["status"]["phase"] = json!("Terminating");
                    }
                }
                if dry_run {
                    return Ok(DeleteOutcome::Pending(dry_run_bytes(&obj)));
                }
                match self
                    .store
                    .update(&key, Some(kv.mod_revision), encode(obj)?)
                    .await
                {
                    Ok(written) => return Ok(DeleteOutcome::Pending(written.value)),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(store_error(def, name, e)),
                }
            }
            if dry_run {
                return Ok(DeleteOutcome::Deleted(kv.value));
            }
            let held = claims::holds_addresses(def).then(|| claims::given_up(&obj, None));
            match self
                .store
                .delete(&key, Some(kv.mod_revision), encode(obj)?)
                .await
            {
                Ok(written) => {
                    if let Some((ips, ports)) = held {
                        let owner = claims::Owner::new(ns, name);
                        claims::release(self, &ips, &ports, &owner).await;
                    }
                    return Ok(DeleteOutcome::Deleted(written.value));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(store_error(def, name, e)),
            }
        }
        Err(ApiError::conflict(def.group, def.resource, name))
    }

    /// Deletes an object whose stored value cannot be read, skipping everything that would
    /// need it (preconditions, finalizers, garbage collection). Watchers see it DELETED as an
    /// object of its kind with only its name, namespace and the deletion's version, which is
    /// all a client cache needs to drop it.
    pub async fn delete_corrupt(
        &self,
        def: &'static ResourceDef,
        ns: Option<&str>,
        name: &str,
    ) -> Result<(), ApiError> {
        let mut meta = json!({"name": name});
        if let Some(ns) = ns.filter(|_| def.namespaced) {
            meta["namespace"] = json!(ns);
        }
        let stub = json!({"apiVersion": def.api_version(), "kind": def.kind, "metadata": meta});
        let last = encode(stub)?;
        tracing::warn!(key = %def.key(ns, name), "a corrupt object is deleted without being read");
        self.store
            .delete(&def.key(ns, name), None, last)
            .await
            .map(|_| ())
            .map_err(|e| store_error(def, name, e))
    }

    /// Removes an object whatever its finalizers say (namespace cleanup). The DELETED event
    /// carries the deletion's revision as resourceVersion, as every other delete's does, so a
    /// client resuming from it does not see the deletion again.
    pub async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let Some(kv) = self.store.get(key) else {
            return Ok(());
        };
        let obj = serde_json::from_slice::<Value>(&kv.value).ok();
        // A Service's addresses are free again once it is gone, as after any other delete.
        let released = obj
            .as_ref()
            .filter(|_| key.starts_with(claims::SERVICES_PREFIX))
            .and_then(|svc| {
                let owner = claims::owner_of_service(svc)?;
                Some((claims::given_up(svc, None), owner))
            });
        // Bytes that no longer parse go as they are.
        let last = obj
            .and_then(|obj| encode(obj).ok())
            .unwrap_or_else(|| kv.value.clone());
        match self.store.delete(key, Some(kv.mod_revision), last).await {
            Ok(_) => {
                if let Some(((ips, ports), owner)) = released {
                    claims::release(self, &ips, &ports, &owner).await;
                }
                Ok(())
            }
            Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn check_preconditions(
    def: &ResourceDef,
    name: &str,
    obj: &Value,
    options: &Value,
) -> Result<(), ApiError> {
    let Some(pre) = options.get("preconditions") else {
        return Ok(());
    };
    if let Some(uid) = pre.get("uid").and_then(Value::as_str) {
        let actual = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("");
        if uid != actual {
            return Err(ApiError::conflict_with(
                def.group,
                def.resource,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    if let Some(rv) = pre.get("resourceVersion").and_then(Value::as_str) {
        let actual = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if rv != actual {
            return Err(ApiError::conflict_with(
                def.group,
                def.resource,
                name,
                &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"),
            ));
        }
    }
    Ok(())
}

/// Decodes a request body as upstream decodes it into the kind's Go type: a value of the wrong
/// type fails, unknown fields are dropped and reported as `fieldValidation` says, in
/// upstream's words (`Deployment in version "v1" cannot be handled as a Deployment: strict
/// decoding error: unknown field "spec.foo"`).
fn check_body(
    def: &ResourceDef,
    custom: Option<&Served>,
    obj: &mut Value,
    opts: &WriteOptions,
) -> Result<(), ApiError> {
    let problems = prune(def, custom, obj);
    let fail = |why: String| {
        ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {kind}: {why}",
            def.version,
            kind = def.kind
        ))
    };
    if let Some(e) = problems.type_error {
        return Err(fail(e));
    }
    report_unknown(opts, problems.unknown, fail)
}

/// The object a patch produced, decoded as upstream does: failures are 422 Invalid on the
/// field `patch`, quoting the patch (upstream quotes the patched object for JSON and merge
/// patches, the patch map for strategic ones; the patch alone is the more useful of the two).
fn check_patched(
    def: &ResourceDef,
    custom: Option<&Served>,
    obj: &mut Value,
    opts: &WriteOptions,
    body: &[u8],
) -> Result<(), ApiError> {
    let problems = prune(def, custom, obj);
    let fail = |why: String| {
        let value = String::from_utf8_lossy(body);
        // Upstream's message: ` "" is invalid: patch: Invalid value: "<patch>": <why>`.
        ApiError::invalid(
            "",
            "",
            "",
            vec![kapi_api::status::Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {:?}: {why}", value.trim_end()),
                field: "patch".into(),
            }],
        )
    };
    if let Some(e) = problems.type_error {
        return Err(fail(e));
    }
    report_unknown(opts, problems.unknown, fail)
}

/// A server-side apply body names only fields the kind has, whatever `fieldValidation` says:
/// upstream converts it to a typed value first (and answers 500 where kapi answers 400).
fn check_applied(
    def: &ResourceDef,
    custom: Option<&Served>,
    applied: &Value,
) -> Result<(), ApiError> {
    let problems = match custom {
        Some(served) => crate::crd::check_unknown(served, &mut applied.clone()),
        None => kapi_schema::validate_fields(def.group, def.version, def.kind, applied),
    };
    let Some(first) = problems.first() else {
        return Ok(());
    };
    let field = first
        .strip_prefix("unknown field \"")
        .and_then(|f| f.strip_suffix('"'))
        .map(|f| format!(".{f}: field not declared in schema"))
        .unwrap_or_else(|| first.clone());
    let meta = |k: &str| {
        applied
            .pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Err(ApiError::bad_request(format!(
        "failed to create typed patch object ({}/{}; {}, Kind={}): {field}",
        meta("namespace"),
        meta("name"),
        if def.group.is_empty() {
            format!("/{}", def.version)
        } else {
            format!("{}/{}", def.group, def.version)
        },
        def.kind
    )))
}

/// Drops the fields `def`'s objects do not have (by the kind's Go type, or a custom resource's
/// schema, which also fills in its defaults), reporting them.
fn prune(def: &ResourceDef, custom: Option<&Served>, obj: &mut Value) -> kapi_schema::Problems {
    match custom {
        Some(served) => kapi_schema::Problems {
            unknown: crate::crd::check_unknown(served, obj),
            type_error: None,
        },
        None => kapi_schema::prune_unknown_fields(def.group, def.version, def.kind, obj),
    }
}

fn report_unknown(
    opts: &WriteOptions,
    unknown: Vec<String>,
    fail: impl FnOnce(String) -> ApiError,
) -> Result<(), ApiError> {
    match opts.field_validation {
        FieldValidation::Strict if !unknown.is_empty() => Err(fail(format!(
            "strict decoding error: {}",
            unknown.join(", ")
        ))),
        FieldValidation::Warn => {
            opts.set_warnings(unknown);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Parses a JSON or YAML patch body.
fn parse_patch_body(body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => super::decode_yaml(body, "error decoding patch")?,
    };
    if !v.is_object() {
        return Err(ApiError::bad_request("the patch must be a JSON object"));
    }
    Ok(v)
}

fn apply_patch(
    def: &ResourceDef,
    current: &Value,
    patch_type: PatchType,
    body: &[u8],
    parsed: Option<&Value>,
) -> Result<Value, ApiError> {
    use kapi_api::patch;
    let bad = |e: patch::PatchError| {
        let mut err = ApiError::invalid(def.group, def.kind, "", vec![]);
        err.message = e.to_string();
        err
    };
    let result = match (patch_type, parsed) {
        (PatchType::Json, _) => patch::apply_json_patch(current, body).map_err(bad)?,
        (PatchType::Merge, _) => patch::apply_merge_patch(current, body).map_err(bad)?,
        (PatchType::Strategic, Some(p)) | (PatchType::Apply { .. }, Some(p)) => {
            patch::apply_strategic_merge_patch(current, p, def.group, def.kind).map_err(bad)?
        }
        _ => return Err(ApiError::bad_request("empty patch")),
    };
    if !result.is_object() {
        return Err(ApiError::bad_request(
            "the patched object is not a JSON object",
        ));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn run(obj: Value, fail_first: usize) -> (Result<Bytes, ApiError>, Vec<String>) {
        let tried = RefCell::new(Vec::new());
        let mut n = 0;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = runtime.block_on(with_generated_names(
            obj,
            || {
                n += 1;
                format!("{n:05}")
            },
            |obj| {
                let name = obj["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                tried.borrow_mut().push(name.clone());
                let taken = tried.borrow().len() <= fail_first;
                async move {
                    if taken {
                        Err(ApiError::already_exists("", "configmaps", &name))
                    } else {
                        Ok(Bytes::from(name))
                    }
                }
            },
        ));
        (result, tried.into_inner())
    }

    #[test]
    fn a_taken_generated_name_is_drawn_again() {
        let obj = json!({"metadata": {"generateName": "job-"}});
        let (result, tried) = run(obj, 2);
        assert_eq!(tried, ["job-00001", "job-00002", "job-00003"]);
        assert_eq!(result.unwrap(), Bytes::from("job-00003"));
    }

    #[test]
    fn after_eight_taken_names_the_conflict_is_answered() {
        let (result, tried) = run(json!({"metadata": {"generateName": "job-"}}), usize::MAX);
        assert_eq!(tried.len(), GENERATE_NAME_ATTEMPTS);
        assert_eq!(result.unwrap_err().code, 409);
    }

    #[test]
    fn a_named_object_is_tried_once() {
        let obj = json!({"metadata": {"name": "fixed", "generateName": "job-"}});
        let (result, tried) = run(obj, 1);
        assert_eq!(tried, ["fixed"]);
        assert_eq!(result.unwrap_err().reason, "AlreadyExists");
    }
}

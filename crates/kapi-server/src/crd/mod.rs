//! CustomResourceDefinitions: what apiextensions-apiserver does inside kube-apiserver.
//!
//! A definition is an object like any other (stored, validated by [`validation`]); what makes it
//! special is [`sync`], which every server runs: it reads the stored definitions, registers their
//! resources in kapi-api's resource catalog (so routing, discovery, storage keys, watch and
//! RBAC treat them as built-in ones) and keeps, per served version, what the request path needs
//! of the definition ([`Served`]: its schema, printer columns, scale paths). It also plays the
//! definition's own controllers: names accepted, established, and on deletion every object of
//! the resource removed before the definition goes.

mod definition;
mod objects;
pub mod scale;
pub mod sync;
pub mod validation;
mod versions;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use kapi_api::printers::custom::PrinterColumn;
use kapi_api::printers::{self, IncludeObject};
use kapi_api::resources::ResourceDef;
use kapi_schema::structural::CustomSchema;

pub use definition::{Definition, ScalePaths};
pub use objects::{admit_create, check_unknown, validate_object};

/// The definition's finalizer: its objects are removed before it is.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Marks a definition deleted for the first time: its objects go first (upstream adds the
/// finalizer and the `Terminating` condition in the same write as the deletion timestamp).
pub fn mark_deleting(crd: &mut serde_json::Value) {
    use serde_json::json;
    if !crd
        .get("metadata")
        .is_some_and(serde_json::Value::is_object)
    {
        crd["metadata"] = json!({});
    }
    let finalizers = &mut crd["metadata"]["finalizers"];
    if !finalizers.is_array() {
        *finalizers = json!([]);
    }
    if let Some(items) = finalizers.as_array_mut() {
        if !items.iter().any(|f| f == CLEANUP_FINALIZER) {
            items.push(json!(CLEANUP_FINALIZER));
        }
    }
    if !crd.get("status").is_some_and(serde_json::Value::is_object) {
        crd["status"] = json!({});
    }
    sync::set_condition(
        &mut crd["status"],
        "Terminating",
        "True",
        "InstanceDeletionPending",
        "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
    );
}

/// What serving one version of a custom resource needs from its definition.
#[derive(Debug)]
pub struct Served {
    /// The definition's name.
    pub crd: String,
    /// The kind (`spec.names.kind`).
    pub kind: String,
    /// The kind of lists (`spec.names.listKind`).
    pub list_kind: String,
    /// The version's compiled schema, shared with server-side apply.
    pub schema: Arc<CustomSchema>,
    /// The version's `openAPIV3Schema` as written, for the OpenAPI documents.
    pub openapi_schema: Option<serde_json::Value>,
    /// The version's Table columns.
    pub columns: Vec<PrinterColumn>,
    /// The version's scale subresource.
    pub scale: Option<ScalePaths>,
    /// The definition is being deleted: its objects can be read and deleted, not created.
    pub terminating: bool,
    /// The field labels its objects may be selected by beyond `metadata.name` and
    /// `metadata.namespace` (`spec.color` for `selectableFields: [{jsonPath: .spec.color}]`).
    pub selectable_fields: Vec<String>,
}

type Key = (&'static str, &'static str, &'static str);

/// The served versions of every custom resource, by group, resource and version. One per
/// process, beside kapi-api's catalog of their rows, and replaced together with it.
static CATALOG: RwLock<Option<HashMap<Key, Arc<Served>>>> = RwLock::new(None);

/// What serving `def` needs, if it is a custom resource's served version.
pub fn served(def: &ResourceDef) -> Option<Arc<Served>> {
    if !def.custom {
        return None;
    }
    CATALOG
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()?
        .get(&(def.group, def.resource, def.version))
        .cloned()
}

/// Counts replacements of [`CATALOG`], so that what is derived from it (the OpenAPI documents)
/// is rebuilt only when it changed.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Replaces the catalog; answers whether what it publishes changed, for [`published`] once
/// kapi-api's rows are replaced too.
fn replace(versions: HashMap<Key, Arc<Served>>) -> bool {
    let mut catalog = CATALOG.write().unwrap_or_else(PoisonError::into_inner);
    let unchanged = catalog.as_ref().is_some_and(|old| {
        old.len() == versions.len()
            && old
                .iter()
                .all(|(k, v)| versions.get(k).is_some_and(|n| same_served(v, n)))
    });
    *catalog = Some(versions);
    !unchanged
}

/// A new generation of the catalog is complete: what is derived from it is stale.
fn published() {
    GENERATION.fetch_add(1, Ordering::Release);
}

/// Whether two servings of a version publish the same API (status-only changes of a definition
/// do not).
fn same_served(a: &Served, b: &Served) -> bool {
    a.crd == b.crd
        && a.list_kind == b.list_kind
        && a.openapi_schema == b.openapi_schema
        && a.terminating == b.terminating
}

/// The catalog's generation and every served version of a custom resource with its row.
pub fn served_versions() -> (u64, Vec<(&'static ResourceDef, Arc<Served>)>) {
    let catalog = CATALOG.read().unwrap_or_else(PoisonError::into_inner);
    let generation = GENERATION.load(Ordering::Acquire);
    let versions = catalog
        .iter()
        .flatten()
        .filter_map(|((group, resource, version), served)| {
            kapi_api::resources::find(group, version, resource).map(|def| (def, served.clone()))
        })
        .collect();
    (generation, versions)
}

/// The catalog's generation alone, cheap enough for every OpenAPI request.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// A `meta.k8s.io/v1` Table of `objs`: a custom resource's printer columns, or the built-in
/// printer of `def`.
pub fn table(
    def: &ResourceDef,
    objs: &[&serde_json::Value],
    now: chrono::DateTime<chrono::Utc>,
    include: IncludeObject,
    resource_version: &str,
    continue_token: Option<&str>,
) -> serde_json::Value {
    match served(def) {
        Some(s) => printers::custom::custom_table(
            &s.columns,
            objs,
            now,
            include,
            resource_version,
            continue_token,
        ),
        None => printers::table(
            def.group,
            def.resource,
            objs,
            now,
            include,
            resource_version,
            continue_token,
        ),
    }
}

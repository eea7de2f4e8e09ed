//! Serving what the stored CustomResourceDefinitions define, and their controllers' part:
//! accepting names, establishing, and emptying a definition being deleted.
//!
//! Every server runs this over its own watch of the definitions, so each serves a definition
//! as soon as its store shows it; the status writes are idempotent, so two servers doing them
//! agree.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kapi_api::apply::CustomShape;
use kapi_api::printers::custom::{PrinterColumn, PrinterColumnError};
use kapi_api::resources::custom::{self, CustomResource, Entry};
use kapi_api::resources::{self, ResourceDef};
use kapi_api::status::ApiError;
use kapi_schema::structural::CustomSchema;
use serde_json::{json, Value};

use super::definition::{Definition, Names};
use super::{versions, Served, CLEANUP_FINALIZER};
use crate::registry::{Registry, WriteOptions};

/// The definitions' own resource.
pub fn crd_def() -> Option<&'static ResourceDef> {
    resources::find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
}

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..Default::default()
    }
}

/// Serves what is stored now; called once before the server takes requests.
pub fn load(registry: &Registry) {
    if let Some(def) = crd_def() {
        serve(&registry.list_values(def));
    }
}

/// Runs until the store closes: on every change of a definition, serve the definitions anew and
/// bring their status along.
pub async fn run(registry: Arc<Registry>) {
    let Some(def) = crd_def() else { return };
    loop {
        let rev = registry.store().revision();
        let crds = registry.list_values(def);
        let refused = serve(&crds);
        let mut pending = false;
        for crd in &crds {
            let conflict = refused.get(&name_of(crd));
            match reconcile(&registry, def, crd, conflict).await {
                Ok(done) => pending |= !done,
                Err(e) => {
                    pending = true;
                    tracing::warn!(crd = %name_of(crd), error = %e, "reconciling failed");
                }
            }
        }
        if pending {
            // Objects held by their finalizers, or a write that failed: look again soon, or
            // sooner when a definition changes.
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                crate::registry::next_change(&registry, &[def], rev),
            )
            .await;
        } else {
            crate::registry::next_change(&registry, &[def], rev).await;
        }
    }
}

fn name_of(crd: &Value) -> String {
    crd.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The names a definition holds: `status.acceptedNames` once accepted, else what it asks for.
fn held_names(crd: &Value, definition: &Definition) -> Names {
    match crd
        .pointer("/status/acceptedNames/plural")
        .and_then(Value::as_str)
    {
        Some(p) if !p.is_empty() => Names::read(crd.pointer("/status/acceptedNames")),
        _ => definition.names.clone(),
    }
}

/// Registers the resources of every definition whose names do not collide with an earlier one
/// in the same group, in kapi-api's catalog and in the registry's.
fn serve(crds: &[Value]) -> HashMap<String, (&'static str, String)> {
    let mut refused = HashMap::new();
    let mut entries: Vec<(String, Entry)> = Vec::new();
    let mut behaviour = HashMap::new();
    let mut taken: Vec<(String, Names)> = Vec::new();
    for crd in crds {
        let definition = Definition::read(crd);
        let names = held_names(crd, &definition);
        if names.plural.is_empty() {
            continue;
        }
        if let Some(why) = conflict(&taken, &definition.group, &names) {
            refused.insert(definition.name.clone(), why);
            continue;
        }
        taken.push((definition.group.clone(), names.clone()));
        let terminating = crd.pointer("/metadata/deletionTimestamp").is_some();
        let mut versions: Vec<_> = definition.versions.iter().collect();
        versions.sort_by(|a, b| versions::by_priority(&a.name, &b.name));
        for version in versions {
            let schema = match CustomSchema::compile(
                version
                    .schema
                    .as_ref()
                    .unwrap_or(&json!({"type": "object"})),
                "openAPIV3Schema",
            ) {
                Ok(s) => Arc::new(s),
                Err(causes) => {
                    tracing::warn!(crd = %definition.name, version = %version.name,
                        ?causes, "schema does not compile; version not served");
                    continue;
                }
            };
            let def = custom::intern(&CustomResource {
                group: definition.group.clone(),
                version: version.name.clone(),
                plural: names.plural.clone(),
                singular: names.singular.clone(),
                kind: names.kind.clone(),
                namespaced: definition.namespaced,
                short_names: names.short_names.clone(),
                categories: names.categories.clone(),
                status: version.status,
                scale: version.scale.is_some(),
            });
            entries.push((
                definition.group.clone(),
                Entry {
                    def,
                    served: version.served,
                    storage: version.storage,
                },
            ));
            behaviour.insert(
                (def.group, def.resource, def.version),
                Arc::new(Served {
                    crd: definition.name.clone(),
                    kind: names.kind.clone(),
                    list_kind: names.list_kind.clone(),
                    schema,
                    openapi_schema: version.schema.clone(),
                    columns: PrinterColumn::from_crd_version(&version.raw)
                        .unwrap_or_else(PrinterColumnError::into_served_columns),
                    scale: version.scale.clone(),
                    terminating,
                    selectable_fields: version
                        .selectable_fields
                        .iter()
                        .map(|p| p.trim_start_matches('.').to_string())
                        .collect(),
                }),
            );
        }
    }
    // Groups alphabetically; within a group versions by priority (the sort is stable).
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    // Server-side apply merges each version's lists as its schema says.
    let shapes = behaviour
        .iter()
        .map(|((group, _, version), served)| {
            let api_version = format!("{group}/{version}");
            let shape: Arc<dyn CustomShape> = served.schema.clone();
            ((api_version, served.kind.clone()), shape)
        })
        .collect();
    let changed = super::replace(behaviour);
    custom::set(entries.into_iter().map(|(_, e)| e).collect());
    kapi_api::apply::set_custom_shapes(shapes);
    if changed {
        super::published();
    }
    refused
}

/// Why `names` cannot be served in `group` beside the definitions already taken: the
/// condition reason and message upstream's naming controller gives (the last conflict found,
/// checked plural, singular, short names, kind, list kind).
fn conflict(
    taken: &[(String, Names)],
    group: &str,
    names: &Names,
) -> Option<(&'static str, String)> {
    let others: Vec<&Names> = taken
        .iter()
        .filter(|(g, _)| g == group)
        .map(|(_, n)| n)
        .collect();
    let resource_taken = |n: &str| {
        others
            .iter()
            .any(|o| o.plural == n || o.singular == n || o.short_names.iter().any(|s| s == n))
    };
    let kind_taken = |n: &str| others.iter().any(|o| o.kind == n || o.list_kind == n);
    let in_use = |n: &str| format!("{} is already in use", kapi_api::status::go_quote(n));
    let mut found = None;
    if resource_taken(&names.plural) {
        found = Some(("PluralConflict", in_use(&names.plural)));
    }
    if resource_taken(&names.singular) {
        found = Some(("SingularConflict", in_use(&names.singular)));
    }
    let shorts: Vec<String> = names
        .short_names
        .iter()
        .filter(|n| resource_taken(n))
        .map(|n| in_use(n))
        .collect();
    match shorts.as_slice() {
        [] => {}
        [one] => found = Some(("ShortNamesConflict", one.clone())),
        many => found = Some(("ShortNamesConflict", format!("[{}]", many.join(", ")))),
    }
    if kind_taken(&names.kind) {
        found = Some(("KindConflict", in_use(&names.kind)));
    }
    if kind_taken(&names.list_kind) {
        found = Some(("ListKindConflict", in_use(&names.list_kind)));
    }
    found
}

/// Brings one definition's status along; `Ok(false)` while its deletion still waits on objects.
async fn reconcile(
    registry: &Registry,
    def: &'static ResourceDef,
    crd: &Value,
    conflict: Option<&(&'static str, String)>,
) -> Result<bool, ApiError> {
    if crd.pointer("/metadata/deletionTimestamp").is_some() {
        return finalize(registry, def, crd).await;
    }
    let definition = Definition::read(crd);
    let mut status = crd.get("status").cloned().unwrap_or_else(|| json!({}));
    match conflict {
        Some((reason, message)) => {
            set_condition(&mut status, "NamesAccepted", "False", reason, message);
            let established = status
                .get("conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                });
            if !established {
                set_condition(
                    &mut status,
                    "Established",
                    "False",
                    "NotAccepted",
                    "not all names are accepted",
                );
            }
        }
        None => {
            status["acceptedNames"] = accepted_names(&definition);
            set_condition(
                &mut status,
                "NamesAccepted",
                "True",
                "NoConflicts",
                "no conflicts found",
            );
            set_condition(
                &mut status,
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
            );
        }
    }
    write_status(registry, def, crd, status).await.map(|_| true)
}

/// `spec.names` as `status.acceptedNames` shows them, defaults filled in.
fn accepted_names(definition: &Definition) -> Value {
    let n = &definition.names;
    let mut v = json!({"plural": n.plural, "singular": n.singular, "kind": n.kind, "listKind": n.list_kind});
    if !n.short_names.is_empty() {
        v["shortNames"] = json!(n.short_names);
    }
    if !n.categories.is_empty() {
        v["categories"] = json!(n.categories);
    }
    v
}

/// Sets condition `kind` in `status.conditions`, keeping its transition time when the status
/// does not change.
pub(super) fn set_condition(
    status: &mut Value,
    kind: &str,
    state: &str,
    reason: &str,
    message: &str,
) {
    let now = crate::registry::now();
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    let Some(conditions) = status.get_mut("conditions").and_then(Value::as_array_mut) else {
        return;
    };
    let fresh = json!({"type": kind, "status": state, "lastTransitionTime": now,
        "reason": reason, "message": message});
    match conditions.iter_mut().find(|c| c["type"] == kind) {
        Some(c) if c["status"] == state => {
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        Some(c) => *c = fresh,
        None => conditions.push(fresh),
    }
}

async fn write_status(
    registry: &Registry,
    def: &'static ResourceDef,
    crd: &Value,
    status: Value,
) -> Result<(), ApiError> {
    if crd.get("status") == Some(&status) {
        return Ok(());
    }
    let mut next = crd.clone();
    next["status"] = status;
    registry
        .update(def, None, &name_of(crd), "status", next, &opts())
        .await
        .map(|_| ())
}

/// Deletes the definition's objects; once none is left, lets the definition go.
async fn finalize(
    registry: &Registry,
    def: &'static ResourceDef,
    crd: &Value,
) -> Result<bool, ApiError> {
    let holds = crd
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x == CLEANUP_FINALIZER));
    if !holds {
        return Ok(true);
    }
    let definition = Definition::read(crd);
    let mut status = crd.get("status").cloned().unwrap_or_else(|| json!({}));
    let remaining = match storage_def(&definition) {
        Some(stored) => delete_objects(registry, stored).await?,
        None => 0,
    };
    if remaining > 0 {
        set_condition(
            &mut status,
            "Terminating",
            "True",
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress",
        );
        write_status(registry, def, crd, status).await?;
        return Ok(false);
    }
    set_condition(
        &mut status,
        "Terminating",
        "False",
        "InstanceDeletionCompleted",
        "removed all instances",
    );
    write_status(registry, def, crd, status).await?;
    // Re-read: the status write changed the resourceVersion.
    let name = name_of(crd);
    let Ok((current, _)) = registry.get_value(def, None, &name) else {
        return Ok(true);
    };
    let mut next = current.clone();
    if let Some(f) = next
        .pointer_mut("/metadata/finalizers")
        .and_then(Value::as_array_mut)
    {
        f.retain(|x| x != CLEANUP_FINALIZER);
    }
    registry
        .update(def, None, &name, "", next, &opts())
        .await
        .map(|_| true)
}

/// The row the definition's objects are stored under (its storage version).
fn storage_def(definition: &Definition) -> Option<&'static ResourceDef> {
    let names = &definition.names;
    custom::entries()
        .iter()
        .find(|e| e.storage && e.def.group == definition.group && e.def.resource == names.plural)
        .map(|e| e.def)
}

/// Deletes every object of `def` (finalizers honoured); how many are still there.
async fn delete_objects(registry: &Registry, def: &'static ResourceDef) -> Result<usize, ApiError> {
    let objects = registry.list_values(def);
    let mut remaining = 0;
    for obj in &objects {
        let meta = |k: &str| {
            obj.pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let (Some(name), ns) = (meta("name"), meta("namespace")) else {
            continue;
        };
        match registry
            .delete(def, ns.as_deref(), &name, &json!({}), false, None)
            .await
        {
            Ok(crate::registry::DeleteOutcome::Deleted(_)) => {}
            Ok(_) => remaining += 1,
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(remaining)
}

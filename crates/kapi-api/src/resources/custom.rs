//! Resources served for CustomResourceDefinitions, next to the built-in table.
//!
//! The rest of kapi handles resources as `&'static ResourceDef` (the built-in table is a
//! static), and custom resources come and go at run time. Rather than thread reference counts
//! through every handler, a custom resource's row is made once and kept for the life of the
//! process: rows are interned by content, so re-registering the same CustomResourceDefinition
//! (every server does at start, and again on every change of an unrelated field) reuses the row
//! it made before. What is kept is bounded by the distinct names ever served (a few hundred
//! bytes each, and only cluster administrators create CustomResourceDefinitions); the schemas,
//! which are large and change often, are held elsewhere and dropped with their definition.
//!
//! The catalog is one per process, as one process serves one cluster.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::{ResourceDef, Subresource};

/// The verbs of a custom resource, in the order upstream lists them.
const VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];

/// One version of a custom resource, as its CustomResourceDefinition asks it to be served.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomResource {
    /// The API group (`stable.example.com`).
    pub group: String,
    /// The version's name.
    pub version: String,
    /// The plural used in URLs.
    pub plural: String,
    /// The singular name.
    pub singular: String,
    /// The kind.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names (`ct`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether the version has the `status` subresource.
    pub status: bool,
    /// Whether the version has the `scale` subresource.
    pub scale: bool,
}

/// A registered version: its row, whether requests may use it, whether objects are stored in it.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The row.
    pub def: &'static ResourceDef,
    /// `served`: requests to it are answered; an unserved version only names the storage form.
    pub served: bool,
    /// `storage`: objects of every version are stored in this one.
    pub storage: bool,
}

static INTERNED: Mutex<Option<HashMap<CustomResource, &'static ResourceDef>>> = Mutex::new(None);
static CATALOG: RwLock<Option<Arc<Vec<Entry>>>> = RwLock::new(None);

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn leak_all(items: &[String]) -> &'static [&'static str] {
    Box::leak(
        items
            .iter()
            .map(|s| leak(s))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

/// The row serving `resource`, made on first use and shared after.
pub fn intern(resource: &CustomResource) -> &'static ResourceDef {
    let mut interned = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    let rows = interned.get_or_insert_with(HashMap::new);
    if let Some(def) = rows.get(resource) {
        return def;
    }
    let (group, version, kind) = (
        leak(&resource.group),
        leak(&resource.version),
        leak(&resource.kind),
    );
    let mut subresources = Vec::new();
    if resource.status {
        subresources.push(super::status(kind, group, version));
    }
    if resource.scale {
        subresources.push(super::scale());
    }
    let subresources: &'static [Subresource] = Box::leak(subresources.into_boxed_slice());
    let def: &'static ResourceDef = Box::leak(Box::new(ResourceDef {
        group,
        version,
        resource: leak(&resource.plural),
        singular: leak(&resource.singular),
        kind,
        namespaced: resource.namespaced,
        verbs: VERBS,
        short_names: leak_all(&resource.short_names),
        categories: leak_all(&resource.categories),
        subresources,
        // Custom resources count spec changes whether or not status is split off, as upstream.
        generation: true,
        custom: true,
    }));
    rows.insert(resource.clone(), def);
    def
}

/// Replaces the registered custom resources with `entries` (within a group, versions in the
/// order discovery lists them).
pub fn set(entries: Vec<Entry>) {
    let mut catalog = CATALOG.write().unwrap_or_else(PoisonError::into_inner);
    *catalog = Some(Arc::new(entries));
}

/// The registered custom resources, served or not.
pub fn entries() -> Arc<Vec<Entry>> {
    CATALOG
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crontab(version: &str) -> CustomResource {
        CustomResource {
            group: "stable.example.com".into(),
            version: version.into(),
            plural: "crontabs".into(),
            singular: "crontab".into(),
            kind: "CronTab".into(),
            namespaced: true,
            short_names: vec!["ct".into()],
            categories: vec!["all".into()],
            status: true,
            scale: false,
        }
    }

    #[test]
    fn the_same_resource_is_one_row() {
        let a = intern(&crontab("v1"));
        let b = intern(&crontab("v1"));
        assert!(std::ptr::eq(a, b));
        let c = intern(&crontab("v2"));
        assert!(!std::ptr::eq(a, c));
        assert_eq!(a.key_prefix(), "/registry/stable.example.com/crontabs/");
        assert_eq!(a.key_prefix(), c.key_prefix());
        assert_eq!(a.subresource("status").map(|s| s.kind), Some("CronTab"));
        assert!(a.subresource("scale").is_none());
        assert_eq!(a.short_names, &["ct"]);
    }
}

//! The shapes of custom resources for server-side apply.
//!
//! A built-in kind's list types and atomic maps are facts about its Go types, tabled in
//! `schema.rs`; a custom resource's are in its definition's schema
//! (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`), which
//! kapi-api cannot read itself. Whoever serves the definitions registers a [`CustomShape`]
//! per served version here, and apply consults it for that kind.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

/// How a list of a custom resource merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomListType {
    /// `atomic`, or unspecified: replaced as a whole.
    Atomic,
    /// `set`: scalars owned one by one.
    Set,
    /// `map`: items identified by these key fields.
    Map(Vec<String>),
}

/// What apply asks of a custom resource's schema, by field path (list levels transparent:
/// `["spec", "ports", "name"]` is the `name` of an item of `spec.ports`).
pub trait CustomShape: Send + Sync + fmt::Debug {
    /// The list type of the list at `path`.
    fn list_type(&self, path: &[&str]) -> CustomListType;
    /// Whether the object at `path` is `x-kubernetes-map-type: atomic`.
    fn map_is_atomic(&self, path: &[&str]) -> bool;
}

type Shapes = HashMap<(String, String), Arc<dyn CustomShape>>;

/// The registered shapes, by `apiVersion` and kind.
static SHAPES: RwLock<Option<Shapes>> = RwLock::new(None);

/// Replaces every registered shape with `shapes`, keyed by (`apiVersion`, kind):
/// (`stable.example.com/v1`, `CronTab`).
pub fn set_custom_shapes(shapes: HashMap<(String, String), Arc<dyn CustomShape>>) {
    *SHAPES.write().unwrap_or_else(PoisonError::into_inner) = Some(shapes);
}

/// The shape registered for `api_version`/`kind`, if it is a custom resource's.
pub(crate) fn custom_shape(api_version: &str, kind: &str) -> Option<Arc<dyn CustomShape>> {
    SHAPES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()?
        .get(&(api_version.to_string(), kind.to_string()))
        .cloned()
}

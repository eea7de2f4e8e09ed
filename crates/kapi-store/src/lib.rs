//! Revisioned key-value storage for kapi.
//!
//! The store knows keys, bytes and revisions, never Kubernetes types: the registry above it
//! decides what the bytes mean. One global revision counter orders every write, as etcd's does,
//! so a Kubernetes `resourceVersion` is simply the revision of the write that produced an object.
//!
//! [`Store`] is the watch cache: current values and a ring of recent events in memory, in front
//! of a durable [`sqlite::SqliteBackend`]. A single writer task commits concurrent writes in one
//! transaction and one fsync (group commit) and only then applies them to memory and wakes
//! watchers, so every read sees exactly the acknowledged writes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kapi_store::StoreError> {
//! let store = kapi_store::Store::open(std::path::Path::new("/tmp/kapi.db"), Default::default())?;
//! let rev = store.create("/registry/configmaps/default/a", |_rev| b"{}".to_vec().into()).await?;
//! assert!(store.get("/registry/configmaps/default/a").is_some_and(|kv| kv.mod_revision == rev));
//! # Ok(()) }
//! ```

mod error;
mod events;
mod high_water;
mod reserve;
mod sqlite;
mod store;
mod writer;

pub use error::StoreError;
pub use events::{Event, EventKind, WatchStream};
pub use store::{KeyValue, Store, StoreOptions, Validator};

/// A store revision: one global, strictly increasing counter; 0 means "no revision yet".
pub type Revision = i64;

#[cfg(test)]
mod tests;

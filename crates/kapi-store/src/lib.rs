//! Revisioned key-value storage for kapi.
//!
//! The store knows keys, bytes and revisions, never Kubernetes types: the registry above it
//! decides what the bytes mean. One global revision counter orders every write, as etcd's does,
//! so a Kubernetes `resourceVersion` is simply the revision of the write that produced an object.
//!
//! [`Store`] reads from the watch cache: current values and a ring of recent events in memory,
//! filled from the stream of committed changes a [`Backend`] delivers (the seam is shaped like
//! etcd's API; see [`backend`]). Writes go through the backend and return once the cache has
//! them, so a caller reads its own writes. The embedded backend, [`SqliteBackend`], is one
//! SQLite file written by one thread that commits concurrent writes in one transaction and one
//! fsync (group commit) and hands each batch to the cache before it answers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kapi_store::StoreError> {
//! let store = kapi_store::Store::open(std::path::Path::new("/tmp/kapi.db"), Default::default())?;
//! let written = store.create("/registry/configmaps/default/a", b"{}".to_vec().into()).await?;
//! assert!(store.get("/registry/configmaps/default/a").is_some_and(|kv| kv.mod_revision == written.revision));
//! # Ok(()) }
//! ```

pub mod backend;
mod cache;
mod error;
pub mod etcd;
mod events;
mod sqlite;
mod store;
pub mod testing;

pub use backend::Backend;
pub use error::StoreError;
pub use events::{Event, EventKind, WatchStream};
pub use sqlite::{snapshot, SqliteBackend};
pub use store::{KeyValue, Store, StoreOptions, Validator, Written};

/// A store revision: one global, strictly increasing counter; 0 means "no revision yet".
pub type Revision = i64;

#[cfg(test)]
mod tests;

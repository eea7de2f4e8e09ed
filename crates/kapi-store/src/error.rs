use crate::Revision;

/// Why a storage operation failed. The registry maps each variant to a Kubernetes Status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A create found the key already present.
    #[error("key {0} already exists")]
    AlreadyExists(String),
    /// An update or delete found no such key.
    #[error("key {0} not found")]
    NotFound(String),
    /// An update or delete expected another revision of the key (optimistic concurrency).
    #[error("key {key} is at revision {actual}, not {expected}")]
    Conflict {
        /// The key that changed.
        key: String,
        /// The revision the caller read.
        expected: Revision,
        /// The revision the key has now.
        actual: Revision,
    },
    /// A watch asked to start before the oldest event still kept.
    #[error("too old resource version: {requested} ({oldest})")]
    Compacted {
        /// The revision the watch asked for.
        requested: Revision,
        /// The oldest revision a watch can still start from.
        oldest: Revision,
    },
    /// The embedded database failed; the write was not acknowledged.
    #[error("storage failure: {0}")]
    Backend(#[from] rusqlite::Error),
    /// A batch could not be made durable; none of its writes happened.
    #[error("storage commit failed: {0}")]
    CommitFailed(String),
    /// The database file could not be created or its mode fixed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store is behind the revision it once acknowledged: committed writes were lost.
    #[error("{db} is at revision {revision}, but writes up to revision {acknowledged} were acknowledged from it: committed data was lost (was the database or its -wal file deleted, truncated or replaced by an older copy?). Restore it from a backup; to start on purpose with what is left, delete {mark}")]
    Behind {
        /// The database.
        db: std::path::PathBuf,
        /// Its revision now.
        revision: Revision,
        /// The revision recorded as acknowledged.
        acknowledged: Revision,
        /// The mark's file.
        mark: std::path::PathBuf,
    },
    /// The disk is full: only deletes are accepted until space is freed.
    #[error("the store's disk is full: only deletes are accepted until space is freed")]
    NoSpace,
    /// The backend did not answer, or answered with an error (etcd unreachable, no leader).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The writer task has stopped (the server is shutting down).
    #[error("storage is shutting down")]
    Closed,
}

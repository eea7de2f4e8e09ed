//! The seam between the watch cache and durable storage, shaped like etcd's API so that etcd
//! fits it as well as the embedded SQLite file: a range of everything at start, transactions
//! with one precondition, a stream of every committed change in revision order (own writes
//! and other servers' alike), and compaction of the history.
//!
//! Values cross the seam as the layer above encoded them. Where the revision of a write is
//! known before it is stored (the embedded backend assigns it), the backend stores the value
//! stamped with it; where it is not (etcd assigns it), the value is stored as given and
//! stamped when it is read back. Either way [`crate::StoreOptions::stamp`] does it, so the
//! cache and every reader see the same bytes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::events::EventKind;
use crate::store::KeyValue;
use crate::{Revision, StoreError};

/// A future a backend answers with; boxed so that the trait stays object-safe.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What must hold for a transaction to apply (etcd's `Compare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The key does not exist (a create).
    Absent,
    /// The key exists, at this modification revision if one is given.
    Present(Option<Revision>),
}

/// What a transaction writes when its condition holds.
#[derive(Debug, Clone)]
pub enum Write {
    /// Store this value.
    Put(Bytes),
    /// Delete the key; the bytes are its final state, which watchers receive in the event.
    Delete(Bytes),
}

/// One conditional write.
#[derive(Debug, Clone)]
pub struct Txn {
    /// The key written.
    pub key: String,
    /// When it may be written.
    pub condition: Condition,
    /// What is written.
    pub write: Write,
}

/// How a transaction ended, when the backend could run it.
#[derive(Debug, Clone)]
pub enum TxnOutcome {
    /// It applied at this revision; `value` is what readers will see for it (for a delete,
    /// what the event carries).
    Applied {
        /// The write's revision.
        revision: Revision,
        /// The stored value, stamped with the revision.
        value: Bytes,
    },
    /// The condition did not hold; the key's modification revision, if it exists.
    Failed {
        /// The key's revision now (None: it does not exist).
        current: Option<Revision>,
    },
}

/// One committed change, as a backend reports it to the cache.
#[derive(Debug, Clone)]
pub struct Change {
    /// Added, modified or deleted.
    pub kind: EventKind,
    /// The key.
    pub key: String,
    /// The value after the change, stamped (for a delete, the final state).
    pub value: Bytes,
    /// The value before, when the backend knows it (the cache fills it in otherwise).
    pub prev_value: Option<Bytes>,
    /// The revision that created the key.
    pub create_revision: Revision,
    /// The revision of this change.
    pub revision: Revision,
}

/// What a backend holds when it is opened: every key, the history it kept, the revision.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every current key, in key order, values stamped.
    pub kvs: Vec<(String, KeyValue)>,
    /// The retained changes, oldest first (without previous values).
    pub events: Vec<Change>,
    /// The backend's current revision.
    pub revision: Revision,
    /// The oldest revision a watch may start after.
    pub oldest: Revision,
}

/// Where a backend delivers committed changes: the watch cache.
pub trait Feed: Send + Sync + 'static {
    /// Takes committed changes, in revision order, each exactly once. Returns the oldest
    /// revision the consumer still keeps history from, which a backend may compact up to.
    fn apply(&self, changes: Vec<Change>) -> Revision;

    /// The history up to `revision` is gone (compacted): watches from before it must relist.
    fn compacted(&self, revision: Revision);

    /// Every change up to `revision` has been delivered, though none of them was under the
    /// consumer's keys (etcd's progress report): readers waiting for it may go on.
    fn progress(&self, revision: Revision);

    /// Starts over from a fresh range, when the changes since the last one delivered are no
    /// longer available (the backend compacted them): every watch must relist.
    fn replace(&self, loaded: Loaded);

    /// The creation and modification revisions the consumer holds for `key`. A backend whose
    /// every write passes through [`Feed::apply`] before the next is checked (the embedded
    /// one: one writer, delivering synchronously) takes its preconditions from here instead of
    /// keeping a second index of every key.
    fn revisions(&self, key: &str) -> Option<(Revision, Revision)>;
}

/// Durable, revisioned storage under the watch cache.
pub trait Backend: Send + Sync + 'static {
    /// Starts delivering every change after the loaded state to `feed`.
    fn start(&self, feed: Arc<dyn Feed>) -> Result<(), StoreError>;

    /// Runs one conditional write. When it answers [`TxnOutcome::Applied`], the change has
    /// been made durable; whether the feed has seen it yet depends on the backend (the
    /// caller waits for its revision).
    fn txn(&self, txn: Txn) -> BoxFuture<Result<TxnOutcome, StoreError>>;

    /// The backend's current revision (for a consistent read: the cache waits for it).
    fn current_revision(&self) -> BoxFuture<Result<Revision, StoreError>>;

    /// Asks the stream for a report of the revision it has delivered everything up to, for a
    /// cache behind the current revision with nothing under its keys to deliver (etcd's
    /// progress request). Nothing to do for a backend that feeds synchronously.
    fn request_progress(&self) {}

    /// Whether every change reaches the feed before the write that made it is answered, and
    /// nothing else writes: then the cache is never behind and a read needs no round trip.
    fn feeds_synchronously(&self) -> bool {
        false
    }

    /// Whether the backend is out of space, so that only deletes can succeed (etcd's NOSPACE
    /// alarm; the embedded file's full disk).
    fn out_of_space(&self) -> bool;

    /// A health check of a backend outside this process, by name, and whether it passes now
    /// (etcd: whether its members answer). None for the embedded backend.
    fn reachable(&self) -> Option<(&'static str, bool)> {
        None
    }
}

/// Sets the revision into an encoded value (see [`crate::StoreOptions::stamp`]).
pub type Stamp = fn(&Bytes, Revision) -> Bytes;

/// The stamp for values the store does not interpret: they stay as they are.
pub fn unstamped(value: &Bytes, _revision: Revision) -> Bytes {
    value.clone()
}

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::Revision;

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created.
    Added,
    /// The key was updated.
    Modified,
    /// The key was deleted; `value` is its final state.
    Deleted,
}

/// One committed change. The value is the full object as stored (or, for a delete, its last
/// state as encoded at the delete's revision), so fan-out copies bytes and never re-encodes.
#[derive(Debug, Clone)]
pub struct Event {
    /// Added, modified or deleted.
    pub kind: EventKind,
    /// The key changed.
    pub key: Arc<str>,
    /// The revision of this change.
    pub revision: Revision,
    /// The object bytes after the change (for a delete, the deleted object).
    pub value: Bytes,
    /// The bytes before the change, for selector-based watches that must see objects leave.
    pub prev_value: Option<Bytes>,
    /// The event as the layer above sends it to every watcher that sees it unchanged (for the
    /// server: one framed JSON line), encoded by the first such watcher and shared by the rest,
    /// so a fan-out to many watchers copies no bytes. The store never reads it.
    pub wire: std::sync::OnceLock<Bytes>,
    /// When the event entered the in-memory history (its load, for events read at open), for
    /// [`crate::StoreOptions::event_max_age`].
    pub(crate) committed: std::time::Instant,
}

/// A stream of events for one key prefix, starting after a revision.
///
/// First the backlog from the in-memory ring, then live events. A watcher that falls behind
/// the live channel catches up from the ring, as a new watch from its revision would; only
/// when the ring no longer holds what it missed does it end with
/// [`crate::StoreError::Compacted`], like an etcd watch that was compacted; the client
/// re-lists, as every Kubernetes client does.
pub struct WatchStream {
    pub(crate) prefix: String,
    pub(crate) backlog: std::collections::VecDeque<Arc<Event>>,
    pub(crate) live: broadcast::Receiver<Arc<Event>>,
    pub(crate) after: Revision,
    pub(crate) store: Arc<crate::cache::Cache>,
    /// The cache's generation when the stream started (see `Cache::generation`).
    pub(crate) generation: u64,
}

impl WatchStream {
    /// The next event under the prefix, or an error when the stream cannot go on.
    pub async fn next(&mut self) -> Result<Arc<Event>, crate::StoreError> {
        loop {
            while let Some(ev) = self.backlog.pop_front() {
                if ev.revision > self.after {
                    self.after = ev.revision;
                    if ev.key.starts_with(&self.prefix) {
                        return Ok(ev);
                    }
                }
            }
            let received = self.live.recv().await;
            if self
                .store
                .generation
                .load(std::sync::atomic::Ordering::Acquire)
                != self.generation
            {
                return Err(crate::StoreError::Compacted {
                    requested: self.after,
                    oldest: self.store.read().oldest,
                });
            }
            match received {
                Ok(ev) => {
                    if ev.revision <= self.after {
                        continue;
                    }
                    // Seen, whether it is under the prefix or not: the stream is complete up
                    // to here, so a bookmark may carry this revision and a watch resumed from
                    // it stays inside the history while the prefix itself is quiet.
                    self.after = ev.revision;
                    if ev.key.starts_with(&self.prefix) {
                        return Ok(ev);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up()?,
                Err(broadcast::error::RecvError::Closed) => return Err(crate::StoreError::Closed),
            }
        }
    }

    /// Refills the backlog from the ring and subscribes anew, under the lock the writer holds
    /// while it appends and sends, so nothing falls between the two.
    fn catch_up(&mut self) -> Result<(), crate::StoreError> {
        let state = self.store.read();
        if self.after < state.oldest {
            return Err(crate::StoreError::Compacted {
                requested: self.after,
                oldest: state.oldest,
            });
        }
        self.live = self.store.subscribe(&self.prefix);
        self.backlog = state
            .ring
            .iter()
            .filter(|e| e.revision > self.after)
            .cloned()
            .collect();
        Ok(())
    }

    /// The revision up to which the stream has seen every event under its prefix (or the
    /// start revision): what a bookmark may carry. With nothing of its own waiting, that is
    /// the cache's latest change, whatever resource it was, so a watch resumed from a
    /// bookmark stays inside the history while its resource is quiet.
    pub fn revision(&self) -> Revision {
        let state = self.store.read();
        // Events are sent while the cache holds its state for writing, so under the read
        // lock every change up to `applied` is either consumed or waiting here.
        if self.backlog.is_empty() && self.live.is_empty() {
            self.after.max(state.applied)
        } else {
            self.after
        }
    }
}

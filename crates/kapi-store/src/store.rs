//! The store: reads from the watch cache, writes through the backend.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::backend::{Backend, Condition, Loaded, Stamp, Txn, TxnOutcome, Write};
use crate::cache::Cache;
use crate::events::WatchStream;
use crate::sqlite::SqliteBackend;
use crate::{Revision, StoreError};

/// A stored value with the revisions etcd would report for it.
#[derive(Debug, Clone)]
pub struct KeyValue {
    /// The bytes as written.
    pub value: Bytes,
    /// The revision that created the key.
    pub create_revision: Revision,
    /// The revision of the last write to the key (the object's resourceVersion).
    pub mod_revision: Revision,
}

/// A check of one stored value: why it is unusable, if it is.
pub type Validator = fn(&[u8]) -> Result<(), String>;

/// Tuning knobs; the defaults suit a single-node server.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How many recent events stay in memory and in the durable log for watches to resume from.
    pub event_history: usize,
    /// The most bytes of object values those events may hold: a few updates of large objects
    /// must not keep gigabytes of superseded versions (etcd bounds its history by its space
    /// quota and compaction for the same reason).
    pub event_history_bytes: usize,
    /// How long an event stays in the in-memory history at most (dropped at the next write
    /// after that): an idle cluster's Lease renewals would otherwise fill `event_history`, at
    /// about 1 KiB an event. Upstream compacts etcd every 5 minutes by default.
    pub event_max_age: std::time::Duration,
    /// The most writes one commit may carry.
    pub max_batch: usize,
    /// Capacity of the live event channel; a watcher further behind than this catches up
    /// from the history. Its slots are allocated up front (32 bytes each, resident from the
    /// start: 65,536 of them were 2 MiB of an idle server).
    pub watch_buffer: usize,
    /// Checks each stored value when the store is opened; values it refuses are reported
    /// as corrupt (see [`Store::corruption`]) until they are deleted. The store itself never
    /// reads values, so what "corrupt" means is the caller's.
    pub validate: Option<Validator>,
    /// Sets a write's revision into its value (the layer above knows where it goes: for kapi,
    /// `metadata.resourceVersion`); values are stored, cached and served stamped. The default
    /// leaves values as they are.
    pub stamp: Stamp,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            event_history: 10_000,
            event_history_bytes: 64 << 20,
            event_max_age: std::time::Duration::from_secs(5 * 60),
            max_batch: 2_048,
            watch_buffer: 8_192,
            validate: None,
            stamp: crate::backend::unstamped,
        }
    }
}

/// How long a reader waits for the cache to reach the backend's revision.
const CACHE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a write did: its revision and the value as stored (stamped with it).
#[derive(Debug, Clone)]
pub struct Written {
    /// The write's revision (the object's new resourceVersion).
    pub revision: Revision,
    /// What readers see for the key now (for a delete, its final state).
    pub value: Bytes,
}

/// The store: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Cache>,
    backend: Arc<dyn Backend>,
}

impl Store {
    /// Opens the embedded database at `path`, loads it into memory and starts its writer.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let (backend, loaded) = SqliteBackend::open(
            path,
            options.event_history,
            options.max_batch,
            options.stamp,
        )?;
        Self::start(Arc::new(backend), loaded, options)
    }

    /// A store over `backend`, whose contents at open are `loaded`: the cache is filled from
    /// them and then from the backend's feed.
    pub fn start(
        backend: Arc<dyn Backend>,
        loaded: Loaded,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let inner = Arc::new(Cache::new(loaded, options));
        backend.start(inner.clone())?;
        Ok(Self { inner, backend })
    }

    /// Whether the disk is full, so that only deletes are accepted.
    pub fn out_of_space(&self) -> bool {
        self.backend.out_of_space()
    }

    /// The health check of the backend, when it is a service of its own (etcd).
    pub fn backend_check(&self) -> Option<(&'static str, bool)> {
        self.backend.reachable()
    }

    /// The current revision: every acknowledged write has a revision at or below it.
    pub fn revision(&self) -> Revision {
        self.inner.read().revision
    }

    /// Waits until the store has reached `revision`, for at most `timeout`; on timeout, the
    /// revision it is at.
    pub async fn wait_for_revision(
        &self,
        revision: Revision,
        timeout: std::time::Duration,
    ) -> Result<(), Revision> {
        let mut rx = self.inner.revision.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            _ => Err(self.revision()),
        }
    }

    /// Why the value of `key` is corrupt, if it is.
    pub fn corruption(&self, key: &str) -> Option<String> {
        let state = self.inner.read();
        if state.corrupt.is_empty() {
            return None;
        }
        state.corrupt.get(key).cloned()
    }

    /// Up to `at_most` corrupt keys under `prefix`, with why.
    pub fn corrupt_under(&self, prefix: &str, at_most: usize) -> Vec<(String, String)> {
        let state = self.inner.read();
        if state.corrupt.is_empty() {
            return Vec::new();
        }
        state
            .corrupt
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(at_most)
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect()
    }

    /// The value of one key as of the current revision.
    pub fn get(&self, key: &str) -> Option<KeyValue> {
        self.inner.read().kvs.get(key).cloned()
    }

    /// Up to `limit` keys under `prefix` (0 = no limit), in key order, strictly after `start_after`
    /// when given, with the revision the list is consistent at and whether more keys remain.
    ///
    /// `filter` runs under the read lock on each candidate so that selector-filtered pages count
    /// only matching objects.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        mut filter: impl FnMut(&str, &KeyValue) -> bool,
    ) -> (Vec<(String, KeyValue)>, Revision, bool) {
        let state = self.inner.read();
        let lower = match start_after {
            Some(k) if k >= prefix => Bound::Excluded(k.to_string()),
            _ => Bound::Included(prefix.to_string()),
        };
        let mut out = Vec::new();
        let mut more = false;
        for (k, kv) in state.kvs.range((lower, Bound::Unbounded)) {
            if !k.starts_with(prefix) {
                break;
            }
            if !filter(k, kv) {
                continue;
            }
            if limit > 0 && out.len() == limit {
                more = true;
                break;
            }
            out.push((k.clone(), kv.clone()));
        }
        (out, state.revision, more)
    }

    /// Like [`Store::list`], but as of the past revision `at` (a page of a list that started
    /// then, or a read at an exact version): the current keys with the changes after `at`
    /// undone from the event history. Fails with [`StoreError::Compacted`] when the history no
    /// longer reaches back to `at` (or does not hold what a change replaced, as for changes
    /// replayed from disk at start).
    pub fn list_at(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        at: Revision,
        mut filter: impl FnMut(&str, &KeyValue) -> bool,
    ) -> Result<(Vec<(String, KeyValue)>, bool), StoreError> {
        let state = self.inner.read();
        if at < state.oldest {
            return Err(StoreError::Compacted {
                requested: at,
                oldest: state.oldest,
            });
        }
        let after = |k: &str| k.starts_with(prefix) && start_after.is_none_or(|s| k > s);
        // The value each key changed since `at` had then (None: it did not exist), from the
        // first change after `at`.
        let mut then: BTreeMap<&str, Option<KeyValue>> = BTreeMap::new();
        for ev in state.ring.iter().filter(|e| e.revision > at) {
            if !after(&ev.key) || then.contains_key(&*ev.key) {
                continue;
            }
            let before = match (ev.kind, &ev.prev_value) {
                (crate::EventKind::Added, _) => None,
                (_, Some(prev)) => Some(KeyValue {
                    value: prev.clone(),
                    create_revision: 0,
                    mod_revision: 0,
                }),
                (_, None) => {
                    return Err(StoreError::Compacted {
                        requested: at,
                        oldest: ev.revision,
                    })
                }
            };
            then.insert(&ev.key, before);
        }
        let lower = match start_after {
            Some(k) if k >= prefix => Bound::Excluded(k.to_string()),
            _ => Bound::Included(prefix.to_string()),
        };
        // Both sides are in key order: merge them lazily, so a page costs its own length.
        let mut now = state
            .kvs
            .range((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| !then.contains_key(k.as_str()))
            .map(|(k, kv)| (k.as_str(), kv))
            .peekable();
        let mut restored = then
            .iter()
            .filter_map(|(k, kv)| kv.as_ref().map(|kv| (*k, kv)))
            .peekable();
        let merged = std::iter::from_fn(|| match (now.peek(), restored.peek()) {
            (Some(a), Some(b)) if b.0 < a.0 => restored.next(),
            (Some(_), _) => now.next(),
            (None, _) => restored.next(),
        });
        let mut out = Vec::new();
        let mut more = false;
        for (k, kv) in merged {
            if !filter(k, kv) {
                continue;
            }
            if limit > 0 && out.len() == limit {
                more = true;
                break;
            }
            out.push((k.to_string(), kv.clone()));
        }
        Ok((out, more))
    }

    /// How many keys are under `prefix` now, counting no further than `at_most` (callers that
    /// only need to know "at least this many" pay for no more).
    pub fn count(&self, prefix: &str, at_most: usize) -> usize {
        let state = self.inner.read();
        state
            .kvs
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(at_most)
            .count()
    }

    /// Watches keys under `prefix` for changes after revision `after`.
    ///
    /// Fails with [`StoreError::Compacted`] when `after` is older than the retained history.
    pub fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        let state = self.inner.read();
        if after < state.oldest {
            return Err(StoreError::Compacted {
                requested: after,
                oldest: state.oldest,
            });
        }
        let live = self.inner.subscribe(prefix);
        let backlog = state
            .ring
            .iter()
            .filter(|e| e.revision > after)
            .cloned()
            .collect();
        Ok(WatchStream {
            generation: self
                .inner
                .generation
                .load(std::sync::atomic::Ordering::Acquire),
            prefix: prefix.to_string(),
            backlog,
            live,
            after,
            store: self.inner.clone(),
        })
    }

    /// Creates `key` with `value`, stamped with the write's revision.
    pub async fn create(&self, key: &str, value: Bytes) -> Result<Written, StoreError> {
        self.write(key, Condition::Absent, Write::Put(value)).await
    }

    /// Replaces `key`, which must exist and, if `expected` is given, be at that revision.
    pub async fn update(
        &self,
        key: &str,
        expected: Option<Revision>,
        value: Bytes,
    ) -> Result<Written, StoreError> {
        self.write(key, Condition::Present(expected), Write::Put(value))
            .await
    }

    /// Deletes `key`, which must exist and, if `expected` is given, be at that revision.
    /// `last` is the object's final state, sent to watchers in the DELETED event.
    pub async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
        last: Bytes,
    ) -> Result<Written, StoreError> {
        self.write(key, Condition::Present(expected), Write::Delete(last))
            .await
    }

    /// Waits until the cache holds everything the backend had committed when this was called:
    /// a read after it is consistent (upstream's consistent read from the watch cache). With
    /// the embedded backend the cache is never behind, and this costs nothing.
    pub async fn sync(&self) -> Result<(), StoreError> {
        if self.backend.feeds_synchronously() {
            return Ok(());
        }
        let revision = self.backend.current_revision().await?;
        if *self.inner.revision.borrow() < revision {
            self.backend.request_progress();
        }
        self.caught_up(revision).await
    }

    async fn caught_up(&self, revision: Revision) -> Result<(), StoreError> {
        if *self.inner.revision.borrow() >= revision {
            return Ok(());
        }
        let mut rx = self.inner.revision.subscribe();
        let reached = tokio::time::timeout(CACHE_WAIT, rx.wait_for(|r| *r >= revision))
            .await
            .map(|r| r.is_ok());
        match reached {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::Closed),
            Err(_) => Err(StoreError::Unavailable(format!(
                "the watch cache has not reached revision {revision} within {}s",
                CACHE_WAIT.as_secs()
            ))),
        }
    }

    /// Runs one transaction and returns once the cache has its revision, so that the caller
    /// (and every reader after it) sees the write.
    async fn write(
        &self,
        key: &str,
        condition: Condition,
        write: Write,
    ) -> Result<Written, StoreError> {
        let txn = Txn {
            key: key.to_string(),
            condition,
            write,
        };
        match self.backend.txn(txn).await? {
            TxnOutcome::Applied { revision, value } => {
                self.caught_up(revision).await?;
                Ok(Written { revision, value })
            }
            TxnOutcome::Failed { current } => Err(match (condition, current) {
                (Condition::Absent, _) => StoreError::AlreadyExists(key.to_string()),
                (Condition::Present(_), None) => StoreError::NotFound(key.to_string()),
                (Condition::Present(expected), Some(actual)) => StoreError::Conflict {
                    key: key.to_string(),
                    expected: expected.unwrap_or_default(),
                    actual,
                },
            }),
        }
    }

    /// How many keys are stored (for metrics and benchmarks).
    pub fn len(&self) -> usize {
        self.inner.read().kvs.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

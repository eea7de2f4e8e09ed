//! The watch cache: every key and a ring of recent events in memory, over the durable backend.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::events::{Event, WatchStream};
use crate::sqlite::SqliteBackend;
use crate::writer::{Op, Request, Writer};
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
        }
    }
}

/// In-memory state. Lock order: this is the only lock; the writer takes it for writing only
/// after its batch is durable, so readers never see unacknowledged data.
pub(crate) struct State {
    pub kvs: BTreeMap<String, KeyValue>,
    pub ring: VecDeque<Arc<Event>>,
    /// The bytes of the values in `ring`.
    pub ring_bytes: usize,
    /// Keys whose values the validator refused at open, with why; a write to one removes it.
    pub corrupt: BTreeMap<String, String>,
    pub revision: Revision,
    /// The oldest revision a watch may start after; older starts are compacted away.
    pub oldest: Revision,
}

impl State {
    /// Appends an event to the history.
    pub fn remember(&mut self, event: Arc<Event>, options: &StoreOptions) {
        self.ring_bytes += event.value.len();
        self.ring.push_back(event);
        self.trim(options);
    }

    /// Drops the oldest events beyond the count, byte or age bound (always keeping the
    /// newest, whose commit time is "now" for the age), and moves `oldest` past them: watches
    /// from before it are compacted.
    pub fn trim(&mut self, options: &StoreOptions) {
        let count = options.event_history.max(1);
        let Some(now) = self.ring.back().map(|e| e.committed) else {
            return;
        };
        let too_old =
            |e: &Event| now.saturating_duration_since(e.committed) > options.event_max_age;
        while self.ring.len() > 1
            && (self.ring.len() > count
                || self.ring_bytes > options.event_history_bytes
                || self.ring.front().is_some_and(|e| too_old(e)))
        {
            if let Some(old) = self.ring.pop_front() {
                self.ring_bytes -= old.value.len();
                self.oldest = old.revision;
            }
        }
    }
}

pub(crate) struct Inner {
    pub state: RwLock<State>,
    pub events: broadcast::Sender<Arc<Event>>,
    /// The current revision, for callers waiting for one (sent after each applied batch).
    pub revision: tokio::sync::watch::Sender<Revision>,
    /// The disk is full: only deletes are accepted.
    pub no_space: std::sync::atomic::AtomicBool,
    pub options: StoreOptions,
}

impl Inner {
    pub fn out_of_space(&self) -> bool {
        self.no_space.load(std::sync::atomic::Ordering::Acquire)
    }
    pub fn set_out_of_space(&self, full: bool) {
        self.no_space
            .store(full, std::sync::atomic::Ordering::Release);
    }
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }
    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// The store: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    writes: mpsc::Sender<Request>,
}

impl Store {
    /// Opens the database at `path`, loads it into memory and starts the writer thread.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let mut backend = SqliteBackend::open(path, options.event_history)?;
        let loaded = backend.load()?;
        crate::high_water::check(path, loaded.revision)?;
        let mark = crate::high_water::HighWater::new(path, loaded.revision);
        let kvs: BTreeMap<String, KeyValue> = loaded.kvs.into_iter().collect();
        let loaded_at = std::time::Instant::now();
        let ring: VecDeque<Arc<Event>> = loaded
            .events
            .into_iter()
            .map(|(kind, key, revision, value)| {
                Arc::new(Event {
                    kind,
                    key: key.into(),
                    revision,
                    value,
                    prev_value: None,
                    wire: Default::default(),
                    committed: loaded_at,
                })
            })
            .collect();
        let ring_bytes = ring.iter().map(|e| e.value.len()).sum();
        let corrupt: BTreeMap<String, String> = match options.validate {
            Some(validate) => kvs
                .iter()
                .filter_map(|(k, kv)| validate(&kv.value).err().map(|e| (k.clone(), e)))
                .collect(),
            None => BTreeMap::new(),
        };
        for key in corrupt.keys() {
            tracing::error!(key = %key, "a stored object is corrupt; it can only be deleted");
        }
        let mut state = State {
            corrupt,
            kvs,
            ring,
            ring_bytes,
            revision: loaded.revision,
            oldest: loaded.oldest,
        };
        state.trim(&options);
        let (events, _) = broadcast::channel(options.watch_buffer.max(16));
        let (revision, _) = tokio::sync::watch::channel(state.revision);
        let inner = Arc::new(Inner {
            revision,
            no_space: std::sync::atomic::AtomicBool::new(false),
            state: RwLock::new(state),
            events,
            options: options.clone(),
        });
        let (writes, rx) = mpsc::channel(options.max_batch * 4);
        let reserve = crate::reserve::Reserve::new(path);
        Writer::spawn(backend, inner.clone(), rx, mark, reserve)?;
        Ok(Self { inner, writes })
    }

    /// Whether the disk is full, so that only deletes are accepted.
    pub fn out_of_space(&self) -> bool {
        self.inner.out_of_space()
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
        let live = self.inner.events.subscribe();
        let backlog = state
            .ring
            .iter()
            .filter(|e| e.revision > after)
            .cloned()
            .collect();
        Ok(WatchStream {
            prefix: prefix.to_string(),
            backlog,
            live,
            after,
            store: self.inner.clone(),
        })
    }

    /// Creates `key`; `encode` receives the revision the write will get and returns the bytes.
    pub async fn create(
        &self,
        key: &str,
        encode: impl FnOnce(Revision) -> Bytes + Send + 'static,
    ) -> Result<Revision, StoreError> {
        self.submit(key, Op::Create, Box::new(encode)).await
    }

    /// Replaces `key`, which must exist and, if `expected` is given, be at that revision.
    pub async fn update(
        &self,
        key: &str,
        expected: Option<Revision>,
        encode: impl FnOnce(Revision) -> Bytes + Send + 'static,
    ) -> Result<Revision, StoreError> {
        self.submit(key, Op::Update(expected), Box::new(encode))
            .await
    }

    /// Deletes `key`, which must exist and, if `expected` is given, be at that revision.
    /// `encode` gives the object's final bytes, sent to watchers in the DELETED event.
    pub async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
        encode: impl FnOnce(Revision) -> Bytes + Send + 'static,
    ) -> Result<Revision, StoreError> {
        self.submit(key, Op::Delete(expected), Box::new(encode))
            .await
    }

    async fn submit(
        &self,
        key: &str,
        op: Op,
        encode: Box<dyn FnOnce(Revision) -> Bytes + Send>,
    ) -> Result<Revision, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writes
            .send(Request {
                key: key.to_string(),
                op,
                encode,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
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

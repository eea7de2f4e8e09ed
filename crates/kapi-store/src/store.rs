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

/// Tuning knobs; the defaults suit a single-node server.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How many recent events stay in memory and in the durable log for watches to resume from.
    pub event_history: usize,
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
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            event_history: 10_000,
            event_max_age: std::time::Duration::from_secs(5 * 60),
            max_batch: 2_048,
            watch_buffer: 8_192,
        }
    }
}

/// In-memory state. Lock order: this is the only lock; the writer takes it for writing only
/// after its batch is durable, so readers never see unacknowledged data.
pub(crate) struct State {
    pub kvs: BTreeMap<String, KeyValue>,
    pub ring: VecDeque<Arc<Event>>,
    pub revision: Revision,
    /// The oldest revision a watch may start after; older starts are compacted away.
    pub oldest: Revision,
}

pub(crate) struct Inner {
    pub state: RwLock<State>,
    pub events: broadcast::Sender<Arc<Event>>,
    pub options: StoreOptions,
}

impl Inner {
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
        let oldest = loaded.oldest;
        let (events, _) = broadcast::channel(options.watch_buffer.max(16));
        let inner = Arc::new(Inner {
            state: RwLock::new(State {
                kvs,
                ring,
                revision: loaded.revision,
                oldest,
            }),
            events,
            options: options.clone(),
        });
        let (writes, rx) = mpsc::channel(options.max_batch * 4);
        Writer::spawn(backend, inner.clone(), rx)?;
        Ok(Self { inner, writes })
    }

    /// The current revision: every acknowledged write has a revision at or below it.
    pub fn revision(&self) -> Revision {
        self.inner.read().revision
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

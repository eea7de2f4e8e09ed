//! The watch cache's state: every key and a ring of recent events in memory, filled from the
//! backend's stream of committed changes (the [`Feed`] it implements), own writes included.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::broadcast;

use crate::backend::{Change, Feed, Loaded};
use crate::events::{Event, EventKind};
use crate::store::{KeyValue, StoreOptions};
use crate::Revision;

/// In-memory state. Lock order: this is the only lock; it is taken for writing only to apply
/// changes the backend has made durable, so readers never see unacknowledged data.
pub(crate) struct State {
    pub kvs: BTreeMap<String, KeyValue>,
    pub ring: VecDeque<Arc<Event>>,
    /// The bytes of the values in `ring`.
    pub ring_bytes: usize,
    /// Keys whose values the validator refused at open, with why; a write to one removes it.
    pub corrupt: BTreeMap<String, String>,
    pub revision: Revision,
    /// The revision of the last change applied (`revision` may be ahead of it when the backend
    /// reported progress without a change under the cache's keys).
    pub applied: Revision,
    /// The oldest revision a watch may start after; older starts are compacted away.
    pub oldest: Revision,
}

impl State {
    /// Appends an event to the history.
    fn remember(&mut self, event: Arc<Event>, options: &StoreOptions) {
        self.ring_bytes += event.value.len();
        self.ring.push_back(event);
        self.trim(options);
    }

    /// Drops the oldest events beyond the count, byte or age bound (always keeping the
    /// newest, whose commit time is "now" for the age), and moves `oldest` past them: watches
    /// from before it are compacted.
    fn trim(&mut self, options: &StoreOptions) {
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

/// The part of a key that names its resource, for the per-resource channels:
/// `/registry/pods/` of `/registry/pods/default/web` (everything up to the third `/`); keys
/// with fewer levels have none. Grouping is by shape alone: where two resources share a
/// first level (`services/specs`, `services/endpoints`), they share a channel, and each
/// watcher still filters by its own prefix.
pub(crate) fn resource_of(key: &str) -> Option<&str> {
    let third = key.match_indices('/').nth(2)?.0;
    Some(&key[..=third])
}

/// The cache: state, the live event channels and the revision it has reached.
pub(crate) struct Cache {
    state: RwLock<State>,
    /// Every event, for watchers whose prefix spans resources.
    pub events: broadcast::Sender<Arc<Event>>,
    /// One channel per resource ([`resource_of`]), made when first watched: a write wakes only
    /// the watchers of its own resource, as upstream's cache per resource does. Taken after
    /// `state` when both are.
    resources: RwLock<std::collections::HashMap<String, broadcast::Sender<Arc<Event>>>>,
    /// The revision the cache has reached, for callers waiting for one.
    pub revision: tokio::sync::watch::Sender<Revision>,
    pub options: StoreOptions,
    /// Bumped when the cache starts over from a fresh range: watches from before end with
    /// Compacted, so their clients relist.
    pub generation: std::sync::atomic::AtomicU64,
}

impl Cache {
    /// A cache holding what the backend loaded; values the validator refuses are recorded as
    /// corrupt.
    pub fn new(loaded: Loaded, options: StoreOptions) -> Cache {
        let kvs: BTreeMap<String, KeyValue> = loaded.kvs.into_iter().collect();
        let loaded_at = std::time::Instant::now();
        let ring: VecDeque<Arc<Event>> = loaded
            .events
            .into_iter()
            .map(|c| Arc::new(event(c, loaded_at)))
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
            applied: loaded.revision,
            oldest: loaded.oldest,
        };
        state.trim(&options);
        let (events, _) = broadcast::channel(options.watch_buffer.max(16));
        let (revision, _) = tokio::sync::watch::channel(state.revision);
        Cache {
            state: RwLock::new(state),
            events,
            resources: Default::default(),
            revision,
            options,
            generation: Default::default(),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// A receiver of the live events under `prefix`: its resource's channel, or every event
    /// when the prefix spans resources. Call it holding the state's read lock, so that no
    /// event falls between the history the caller copies and the subscription.
    pub fn subscribe(&self, prefix: &str) -> broadcast::Receiver<Arc<Event>> {
        let Some(resource) = resource_of(prefix) else {
            return self.events.subscribe();
        };
        if let Some(tx) = self
            .resources
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(resource)
        {
            return tx.subscribe();
        }
        let mut channels = self.resources.write().unwrap_or_else(|p| p.into_inner());
        let capacity = (self.options.watch_buffer / 8).max(16);
        channels
            .entry(resource.to_string())
            .or_insert_with(|| broadcast::channel(capacity).0)
            .subscribe()
    }

    /// Sends a live event to the watchers of its resource and to those of every event.
    fn publish(&self, event: Arc<Event>) {
        if let Some(resource) = resource_of(&event.key) {
            let channels = self.resources.read().unwrap_or_else(|p| p.into_inner());
            if let Some(tx) = channels.get(resource) {
                let _ = tx.send(event.clone());
            }
        }
        let _ = self.events.send(event);
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

fn event(c: Change, committed: std::time::Instant) -> Event {
    Event {
        kind: c.kind,
        key: c.key.into(),
        revision: c.revision,
        value: c.value,
        prev_value: c.prev_value,
        wire: Default::default(),
        committed,
    }
}

impl Feed for Cache {
    fn apply(&self, changes: Vec<Change>) -> Revision {
        let now = std::time::Instant::now();
        let mut last = None;
        let oldest = {
            let mut state = self.write();
            for mut change in changes {
                if change.revision <= state.applied {
                    // Delivered before (a backend resuming its stream): applied once only.
                    continue;
                }
                if !state.corrupt.is_empty() {
                    state.corrupt.remove(&change.key);
                }
                let prev = match change.kind {
                    EventKind::Deleted => state.kvs.remove(&change.key),
                    _ => state.kvs.insert(
                        change.key.clone(),
                        KeyValue {
                            value: change.value.clone(),
                            create_revision: change.create_revision,
                            mod_revision: change.revision,
                        },
                    ),
                };
                if change.prev_value.is_none() {
                    change.prev_value = prev.map(|kv| kv.value);
                }
                state.applied = change.revision;
                state.revision = state.revision.max(change.revision);
                last = Some(state.revision);
                let event = Arc::new(event(change, now));
                state.remember(event.clone(), &self.options);
                self.publish(event);
            }
            state.oldest
        };
        if let Some(last) = last {
            self.revision.send_replace(last);
        }
        oldest
    }

    fn compacted(&self, revision: Revision) {
        let mut state = self.write();
        if revision >= state.revision {
            state.ring.clear();
            state.ring_bytes = 0;
        } else {
            while state.ring.front().is_some_and(|e| e.revision <= revision) {
                if let Some(old) = state.ring.pop_front() {
                    state.ring_bytes -= old.value.len();
                }
            }
        }
        state.oldest = state.oldest.max(revision);
    }

    fn progress(&self, revision: Revision) {
        {
            let mut state = self.write();
            if revision <= state.revision {
                return;
            }
            state.revision = revision;
        }
        self.revision.send_replace(revision);
    }

    fn replace(&self, loaded: Loaded) {
        {
            let mut state = self.write();
            state.kvs = loaded.kvs.into_iter().collect();
            state.ring.clear();
            state.ring_bytes = 0;
            state.corrupt.clear();
            state.revision = state.revision.max(loaded.revision);
            state.applied = loaded.revision;
            state.oldest = loaded.revision;
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        self.revision.send_replace(loaded.revision);
    }

    fn revisions(&self, key: &str) -> Option<(Revision, Revision)> {
        self.read()
            .kvs
            .get(key)
            .map(|kv| (kv.create_revision, kv.mod_revision))
    }
}

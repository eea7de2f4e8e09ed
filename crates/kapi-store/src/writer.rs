//! The single writer: group commit.
//!
//! Requests queue on a channel. The writer takes every request waiting (up to `max_batch`),
//! checks each against the current state plus the batch so far, assigns revisions, commits
//! the batch in one SQLite transaction, and only then applies it to memory, publishes the
//! events and answers the callers. Concurrent writers therefore share one fsync, and a caller
//! is answered only once its write is durable.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::events::{Event, EventKind};
use crate::high_water::HighWater;
use crate::reserve::Reserve;
use crate::sqlite::{Change, SqliteBackend};
use crate::store::{Inner, KeyValue};
use crate::{Revision, StoreError};

pub(crate) enum Op {
    Create,
    Update(Option<Revision>),
    Delete(Option<Revision>),
}

/// Where a writer answers: the revision of the write, or why it failed.
type Reply = oneshot::Sender<Result<Revision, StoreError>>;

pub(crate) struct Request {
    pub key: String,
    pub op: Op,
    pub encode: Box<dyn FnOnce(Revision) -> Bytes + Send>,
    pub reply: Reply,
}

pub(crate) struct Writer {
    backend: SqliteBackend,
    inner: Arc<Inner>,
    rx: mpsc::Receiver<Request>,
    mark: HighWater,
    reserve: Reserve,
    last_restore: std::time::Instant,
}

/// How often a full store tries to take its reserve back while writes are refused.
const RESTORE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What one key looks like within the batch being built.
#[derive(Clone)]
struct Slot {
    current: Option<KeyValue>,
}

impl Writer {
    pub fn spawn(
        backend: SqliteBackend,
        inner: Arc<Inner>,
        rx: mpsc::Receiver<Request>,
        mark: HighWater,
        reserve: Reserve,
    ) -> Result<(), StoreError> {
        let mut writer = Writer {
            backend,
            inner,
            rx,
            mark,
            reserve,
            last_restore: std::time::Instant::now(),
        };
        std::thread::Builder::new()
            .name("kapi-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|_| StoreError::Closed)?;
        Ok(())
    }

    fn run(&mut self) {
        let max_batch = self.inner.options.max_batch.max(1);
        let mut batch = Vec::with_capacity(max_batch);
        while let Some(first) = self.rx.blocking_recv() {
            batch.push(first);
            while batch.len() < max_batch {
                match self.rx.try_recv() {
                    Ok(req) => batch.push(req),
                    Err(_) => break,
                }
            }
            self.commit_batch(&mut batch);
        }
        let revision = self.inner.read().revision;
        self.mark.flush(revision);
    }

    /// After deletes on a full disk: compact the history to now (watches from before it get
    /// 410 and list again, as after an etcd compaction), so the rows of deleted and replaced
    /// objects can go, give their pages back to the filesystem, and accept every write again
    /// once the reserve could be taken back.
    fn recover_space(&mut self) {
        let revision = {
            let mut state = self.inner.write();
            state.ring.clear();
            state.ring_bytes = 0;
            state.oldest = state.revision;
            state.revision
        };
        if let Err(e) = self.backend.collect(revision) {
            tracing::warn!(error = %e, "could not compact the history on a full disk");
        }
        if let Err(e) = self.backend.reclaim() {
            tracing::warn!(error = %e, "could not return freed pages to the filesystem");
        }
        if self.reserve.restore() {
            tracing::info!("the store has disk space again; writes are accepted");
            self.inner.set_out_of_space(false);
        }
    }

    fn commit_batch(&mut self, batch: &mut Vec<Request>) {
        let mut next = self.inner.read().revision;
        let mut slots: HashMap<String, Slot> = HashMap::new();
        let mut changes = Vec::with_capacity(batch.len());
        let mut prevs = Vec::with_capacity(batch.len());
        // (reply, outcome index into changes or error)
        let mut outcomes: Vec<(Reply, Result<usize, StoreError>)> = Vec::with_capacity(batch.len());
        // Space freed outside kapi counts too: try to take the reserve back now and then.
        if self.inner.out_of_space() && self.last_restore.elapsed() >= RESTORE_EVERY {
            self.last_restore = std::time::Instant::now();
            if self.reserve.restore() {
                tracing::info!("the store has disk space again; writes are accepted");
                self.inner.set_out_of_space(false);
            }
        }
        let no_space = self.inner.out_of_space();
        for req in batch.drain(..) {
            if no_space && !matches!(req.op, Op::Delete(_)) {
                outcomes.push((req.reply, Err(StoreError::NoSpace)));
                continue;
            }
            let slot = slots.entry(req.key.clone()).or_insert_with(|| Slot {
                current: self.inner.read().kvs.get(&req.key).cloned(),
            });
            let checked = match (&req.op, &slot.current) {
                (Op::Create, Some(_)) => Err(StoreError::AlreadyExists(req.key.clone())),
                (Op::Create, None) => Ok(EventKind::Added),
                (Op::Update(_) | Op::Delete(_), None) => Err(StoreError::NotFound(req.key.clone())),
                (Op::Update(Some(want)) | Op::Delete(Some(want)), Some(kv))
                    if *want != kv.mod_revision =>
                {
                    Err(StoreError::Conflict {
                        key: req.key.clone(),
                        expected: *want,
                        actual: kv.mod_revision,
                    })
                }
                (Op::Update(_), Some(_)) => Ok(EventKind::Modified),
                (Op::Delete(_), Some(_)) => Ok(EventKind::Deleted),
            };
            match checked {
                Err(e) => outcomes.push((req.reply, Err(e))),
                Ok(kind) => {
                    next += 1;
                    let value = (req.encode)(next);
                    let create_revision = slot
                        .current
                        .as_ref()
                        .map(|kv| kv.create_revision)
                        .unwrap_or(next);
                    prevs.push(slot.current.as_ref().map(|kv| kv.value.clone()));
                    let superseded = slot.current.as_ref().map(|kv| kv.mod_revision);
                    slot.current = match kind {
                        EventKind::Deleted => None,
                        _ => Some(KeyValue {
                            value: value.clone(),
                            create_revision,
                            mod_revision: next,
                        }),
                    };
                    outcomes.push((req.reply, Ok(changes.len())));
                    changes.push(Change {
                        kind,
                        key: req.key,
                        value,
                        create_revision,
                        revision: next,
                        superseded,
                    });
                }
            }
        }
        let commit_started = std::time::Instant::now();
        let oldest = self.inner.read().oldest;
        let mut committed = self.backend.commit(&changes, oldest);
        if matches!(committed, Err(StoreError::NoSpace)) {
            let released = self.reserve.release();
            if !no_space {
                tracing::error!(
                    "the store's disk is full: only deletes are accepted until space is freed"
                );
                self.inner.set_out_of_space(true);
            }
            // The reserve is for deletes: a batch of deletes only goes again on it.
            if released && changes.iter().all(|c| c.kind == EventKind::Deleted) {
                committed = self.backend.commit(&changes, oldest);
            }
        } else if committed.is_ok() && no_space {
            self.recover_space();
        }
        tracing::debug!(
            writes = changes.len(),
            micros = commit_started.elapsed().as_micros() as u64,
            "batch committed"
        );
        if let Err(e) = committed {
            tracing::error!(error = %e, "commit failed; the batch is refused");
            let msg = e.to_string();
            for (reply, _) in outcomes {
                let _ = reply.send(Err(StoreError::CommitFailed(msg.clone())));
            }
            return;
        }
        let now = std::time::Instant::now();
        {
            let mut state = self.inner.write();
            for (change, prev) in changes.iter().zip(prevs) {
                if !state.corrupt.is_empty() {
                    state.corrupt.remove(&change.key);
                }
                match change.kind {
                    EventKind::Deleted => {
                        state.kvs.remove(&change.key);
                    }
                    _ => {
                        state.kvs.insert(
                            change.key.clone(),
                            KeyValue {
                                value: change.value.clone(),
                                create_revision: change.create_revision,
                                mod_revision: change.revision,
                            },
                        );
                    }
                }
                let event = Arc::new(Event {
                    kind: change.kind,
                    key: change.key.as_str().into(),
                    revision: change.revision,
                    value: change.value.clone(),
                    prev_value: prev,
                    wire: Default::default(),
                    committed: now,
                });
                state.remember(event.clone(), &self.inner.options);
                state.revision = change.revision;
                let _ = self.inner.events.send(event);
            }
        }
        if let Some(last) = changes.last() {
            self.inner.revision.send_replace(last.revision);
            self.mark.committed(last.revision);
        }
        for (reply, outcome) in outcomes {
            let _ = reply.send(outcome.map(|i| changes[i].revision));
        }
    }
}

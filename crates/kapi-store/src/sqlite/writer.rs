//! The single writer: group commit.
//!
//! Requests queue on a channel. The writer takes every request waiting (up to `max_batch`),
//! checks each against the current state plus the batch so far, assigns revisions, commits
//! the batch in one SQLite transaction, and only then hands it to the feed (the cache, which
//! publishes the events) and answers the callers. Concurrent writers therefore share one fsync, and a caller
//! is answered only once its write is durable.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::high_water::HighWater;
use super::reserve::Reserve;
use super::{Row, Shared, SqliteLog};
use crate::backend::{Change, Condition, Feed, Stamp, Txn, TxnOutcome, Write};
use crate::events::EventKind;
use crate::{Revision, StoreError};

/// Where a writer answers: how the transaction ended, or why it could not run.
type Reply = oneshot::Sender<Result<TxnOutcome, StoreError>>;

pub(crate) struct Request {
    pub txn: Txn,
    pub reply: Reply,
}

/// Everything the writer thread owns.
pub(crate) struct Setup {
    pub log: SqliteLog,
    pub mark: HighWater,
    pub reserve: Reserve,
    pub revision: Revision,
    pub oldest: Revision,
    pub shared: Arc<Shared>,
    pub feed: Arc<dyn Feed>,
    pub rx: mpsc::Receiver<Request>,
    pub stamp: Stamp,
    pub max_batch: usize,
}

pub(crate) struct Writer {
    log: SqliteLog,
    mark: HighWater,
    reserve: Reserve,
    /// The revision of the last committed write.
    revision: Revision,
    /// The oldest revision the cache keeps history from: rows superseded before it may go.
    oldest: Revision,
    shared: Arc<Shared>,
    feed: Arc<dyn Feed>,
    rx: mpsc::Receiver<Request>,
    stamp: Stamp,
    max_batch: usize,
    last_restore: std::time::Instant,
}

/// How often a full store tries to take its reserve back while writes are refused.
const RESTORE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What one key looks like within the batch being built: its (create, mod) revisions.
type Slot = Option<(Revision, Revision)>;

impl Writer {
    pub fn spawn(setup: Setup) -> Result<(), StoreError> {
        let mut writer = Writer {
            log: setup.log,
            mark: setup.mark,
            reserve: setup.reserve,
            revision: setup.revision,
            oldest: setup.oldest,
            shared: setup.shared,
            feed: setup.feed,
            rx: setup.rx,
            stamp: setup.stamp,
            max_batch: setup.max_batch,
            last_restore: std::time::Instant::now(),
        };
        std::thread::Builder::new()
            .name("kapi-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|_| StoreError::Closed)?;
        Ok(())
    }

    fn run(&mut self) {
        let max_batch = self.max_batch;
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
        self.mark.flush(self.revision);
    }

    /// After deletes on a full disk: compact the history to now (watches from before it get
    /// 410 and list again, as after an etcd compaction), so the rows of deleted and replaced
    /// objects can go, give their pages back to the filesystem, and accept every write again
    /// once the reserve could be taken back.
    fn recover_space(&mut self) {
        let revision = self.revision;
        self.feed.compacted(revision);
        self.oldest = revision;
        if let Err(e) = self.log.collect(revision) {
            tracing::warn!(error = %e, "could not compact the history on a full disk");
        }
        if let Err(e) = self.log.reclaim() {
            tracing::warn!(error = %e, "could not return freed pages to the filesystem");
        }
        if self.reserve.restore() {
            tracing::info!("the store has disk space again; writes are accepted");
            self.shared.set_out_of_space(false);
        }
    }

    fn commit_batch(&mut self, batch: &mut Vec<Request>) {
        let mut next = self.revision;
        let mut slots: HashMap<String, Slot> = HashMap::new();
        let mut rows = Vec::with_capacity(batch.len());
        // (reply, index into rows, or how it ended without a write)
        let mut outcomes: Vec<(Reply, Result<usize, TxnOutcome>)> = Vec::with_capacity(batch.len());
        // Space freed outside kapi counts too: try to take the reserve back now and then.
        if self.shared.out_of_space() && self.last_restore.elapsed() >= RESTORE_EVERY {
            self.last_restore = std::time::Instant::now();
            if self.reserve.restore() {
                tracing::info!("the store has disk space again; writes are accepted");
                self.shared.set_out_of_space(false);
            }
        }
        let no_space = self.shared.out_of_space();
        for req in batch.drain(..) {
            let Txn {
                key,
                condition,
                write,
            } = req.txn;
            if no_space && !matches!(write, Write::Delete(_)) {
                let _ = req.reply.send(Err(StoreError::NoSpace));
                continue;
            }
            let feed = &self.feed;
            let slot = slots
                .entry(key.clone())
                .or_insert_with(|| feed.revisions(&key));
            let holds = match (condition, *slot) {
                (Condition::Absent, current) => current.is_none(),
                (Condition::Present(_), None) => false,
                (Condition::Present(None), Some(_)) => true,
                (Condition::Present(Some(want)), Some((_, actual))) => want == actual,
            };
            if !holds {
                let current = slot.map(|(_, m)| m);
                outcomes.push((req.reply, Err(TxnOutcome::Failed { current })));
                continue;
            }
            next += 1;
            let (kind, value) = match (&write, slot.is_some()) {
                (Write::Delete(v), _) => (EventKind::Deleted, v),
                (Write::Put(v), true) => (EventKind::Modified, v),
                (Write::Put(v), false) => (EventKind::Added, v),
            };
            let value: Bytes = (self.stamp)(value, next);
            let create_revision = slot.map(|(c, _)| c).unwrap_or(next);
            let superseded = slot.map(|(_, m)| m);
            *slot = match kind {
                EventKind::Deleted => None,
                _ => Some((create_revision, next)),
            };
            outcomes.push((req.reply, Ok(rows.len())));
            rows.push(Row {
                kind,
                key,
                value,
                create_revision,
                revision: next,
                superseded,
            });
        }
        let commit_started = std::time::Instant::now();
        let mut committed = self.log.commit(&rows, self.oldest);
        if matches!(committed, Err(StoreError::NoSpace)) {
            let released = self.reserve.release();
            if !no_space {
                tracing::error!(
                    "the store's disk is full: only deletes are accepted until space is freed"
                );
                self.shared.set_out_of_space(true);
            }
            // The reserve is for deletes: a batch of deletes only goes again on it.
            if released && rows.iter().all(|c| c.kind == EventKind::Deleted) {
                committed = self.log.commit(&rows, self.oldest);
            }
        } else if committed.is_ok() && no_space {
            self.recover_space();
        }
        tracing::debug!(
            writes = rows.len(),
            micros = commit_started.elapsed().as_micros() as u64,
            "batch committed"
        );
        if let Err(e) = committed {
            tracing::error!(error = %e, "commit failed; the batch is refused");
            let msg = e.to_string();
            for (reply, outcome) in outcomes {
                let _ = reply.send(match outcome {
                    Ok(_) => Err(StoreError::CommitFailed(msg.clone())),
                    Err(failed) => Ok(failed),
                });
            }
            return;
        }
        let answers: Vec<(Revision, Bytes)> =
            rows.iter().map(|r| (r.revision, r.value.clone())).collect();
        let Some(last) = rows.last().map(|r| r.revision) else {
            for (reply, outcome) in outcomes {
                if let Err(failed) = outcome {
                    let _ = reply.send(Ok(failed));
                }
            }
            return;
        };
        let changes = rows
            .into_iter()
            .map(|r| Change {
                kind: r.kind,
                key: r.key,
                value: r.value,
                prev_value: None,
                create_revision: r.create_revision,
                revision: r.revision,
            })
            .collect();
        self.oldest = self.feed.apply(changes);
        self.revision = last;
        self.shared
            .revision
            .store(last, std::sync::atomic::Ordering::Release);
        self.mark.committed(last);
        for (reply, outcome) in outcomes {
            let _ = reply.send(Ok(match outcome {
                Ok(i) => {
                    let (revision, value) = answers[i].clone();
                    TxnOutcome::Applied { revision, value }
                }
                Err(failed) => failed,
            }));
        }
    }
}

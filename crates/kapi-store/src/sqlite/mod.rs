//! The embedded backend: one SQLite file, written by one thread that commits concurrent
//! transactions together (group commit) and assigns their revisions itself.
//!
//! Because it is the only writer and hands each batch to the feed before it answers, the
//! cache in front of it is exact at every batch boundary: a caller reads its own write at
//! once, and preconditions are checked against the cache instead of a second index.

mod high_water;
mod log;
mod reserve;
pub mod snapshot;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::backend::{Backend, BoxFuture, Feed, Loaded, Stamp, Txn, TxnOutcome};
use crate::{Revision, StoreError};

pub(crate) use log::{Row, SqliteLog};

/// What the writer thread needs, from open until it is started.
struct Parts {
    log: SqliteLog,
    mark: high_water::HighWater,
    reserve: reserve::Reserve,
    revision: Revision,
    oldest: Revision,
}

/// Shared between the backend's handle and its writer thread.
pub(crate) struct Shared {
    /// The disk is full: only deletes are accepted.
    no_space: AtomicBool,
    /// The revision of the last committed batch.
    revision: AtomicI64,
}

impl Shared {
    fn out_of_space(&self) -> bool {
        self.no_space.load(Ordering::Acquire)
    }
    fn set_out_of_space(&self, full: bool) {
        self.no_space.store(full, Ordering::Release);
    }
}

/// The embedded backend's handle.
pub struct SqliteBackend {
    shared: Arc<Shared>,
    writes: mpsc::Sender<writer::Request>,
    /// Taken by `start`.
    parts: Mutex<Option<(Parts, mpsc::Receiver<writer::Request>)>>,
    stamp: Stamp,
    max_batch: usize,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path` and reads it, refusing one that lost
    /// acknowledged writes. `history` bounds the retained changes by count; `stamp` sets a
    /// write's revision into its value before it is stored.
    pub fn open(
        path: &Path,
        history: usize,
        max_batch: usize,
        stamp: Stamp,
    ) -> Result<(Self, Loaded), StoreError> {
        let mut log = SqliteLog::open(path, history)?;
        let loaded = log.load()?;
        high_water::check(path, loaded.revision)?;
        let parts = Parts {
            log,
            mark: high_water::HighWater::new(path, loaded.revision),
            reserve: reserve::Reserve::new(path),
            revision: loaded.revision,
            oldest: loaded.oldest,
        };
        let max_batch = max_batch.max(1);
        let (writes, rx) = mpsc::channel(max_batch * 4);
        let backend = SqliteBackend {
            shared: Arc::new(Shared {
                no_space: AtomicBool::new(false),
                revision: AtomicI64::new(loaded.revision),
            }),
            writes,
            parts: Mutex::new(Some((parts, rx))),
            stamp,
            max_batch,
        };
        Ok((backend, loaded))
    }
}

impl Backend for SqliteBackend {
    fn start(&self, feed: Arc<dyn Feed>) -> Result<(), StoreError> {
        let taken = self
            .parts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        let Some((parts, rx)) = taken else {
            return Ok(());
        };
        writer::Writer::spawn(writer::Setup {
            log: parts.log,
            mark: parts.mark,
            reserve: parts.reserve,
            revision: parts.revision,
            oldest: parts.oldest,
            shared: self.shared.clone(),
            feed,
            rx,
            stamp: self.stamp,
            max_batch: self.max_batch,
        })
    }

    fn txn(&self, txn: Txn) -> BoxFuture<Result<TxnOutcome, StoreError>> {
        let writes = self.writes.clone();
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            writes
                .send(writer::Request { txn, reply })
                .await
                .map_err(|_| StoreError::Closed)?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn current_revision(&self) -> BoxFuture<Result<Revision, StoreError>> {
        let revision = self.shared.revision.load(Ordering::Acquire);
        Box::pin(async move { Ok(revision) })
    }

    fn feeds_synchronously(&self) -> bool {
        true
    }

    fn out_of_space(&self) -> bool {
        self.shared.out_of_space()
    }
}

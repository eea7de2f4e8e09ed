//! The embedded backend's file: one SQLite database in WAL mode, holding an append-only log.
//!
//! Every write appends one row `(rev, kind, key, value, create_rev)` to `log`; nothing is
//! updated in place. A commit therefore writes a few sequential pages instead of dirtying a
//! random page per key, which is what bounds throughput when every commit is fsynced
//! (`synchronous=FULL`). The current state is the newest row per key, rebuilt by one scan at
//! start. Rows that a newer write has superseded (and the rows of deleted keys) are garbage
//! once they fall out of the event history a watch may resume from; the backend remembers them
//! and deletes them in later commits, so the file stays the size of the live data plus the
//! history. `meta` keeps the current revision, which must survive a trailing delete.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};

use crate::backend::{Change, Loaded};
use crate::events::EventKind;
use crate::store::KeyValue;
use crate::{Revision, StoreError};

/// One change ready to commit: its revision is final.
pub(crate) struct Row {
    pub kind: EventKind,
    pub key: String,
    pub value: Bytes,
    pub create_revision: Revision,
    pub revision: Revision,
    /// The revision this change supersedes, if the key existed.
    pub superseded: Option<Revision>,
}

/// The SQLite file, owned by the writer task alone.
pub(crate) struct SqliteLog {
    conn: Connection,
    history: i64,
    /// Rows no longer current, deleted once older than the history window.
    garbage: BinaryHeap<Reverse<Revision>>,
}

/// Makes the database, its WAL and shared-memory index readable by their owner alone (they
/// hold every Secret): a new database is created 0600, which SQLite gives its WAL and index
/// too, and existing files are tightened.
fn owner_only(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = std::path::PathBuf::from(file);
        match std::fs::metadata(&file) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn kind_code(kind: EventKind) -> i64 {
    match kind {
        EventKind::Added => 0,
        EventKind::Modified => 1,
        EventKind::Deleted => 2,
    }
}

fn kind_from(code: i64) -> EventKind {
    match code {
        0 => EventKind::Added,
        1 => EventKind::Modified,
        _ => EventKind::Deleted,
    }
}

impl SqliteLog {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path, history: usize) -> Result<Self, StoreError> {
        owner_only(path)?;
        let conn = Connection::open(path)?;
        // Freed pages go back to the filesystem on request (see `reclaim`); this only takes
        // effect for a database that has no tables yet.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // The WAL shrinks back after a checkpoint instead of keeping its largest size.
        conn.pragma_update(None, "journal_size_limit", 8 << 20)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS log (rev INTEGER PRIMARY KEY, kind INTEGER NOT NULL,
                 key TEXT NOT NULL, value BLOB NOT NULL, create_rev INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )?;
        Ok(Self {
            conn,
            history: i64::try_from(history).unwrap_or(i64::MAX),
            garbage: BinaryHeap::new(),
        })
    }

    /// Replays the log into the current state, the retained history, and the garbage list.
    pub fn load(&mut self) -> Result<Loaded, StoreError> {
        let revision: Revision = self
            .conn
            .query_row("SELECT value FROM meta WHERE name = 'revision'", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0);
        // The history may have been cut shorter than the count (by its byte bound): rows
        // before `oldest` may be gone, so no event before it is replayed.
        let oldest: Revision = self
            .conn
            .query_row("SELECT value FROM meta WHERE name = 'oldest'", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0);
        let window_start = (revision - self.history).max(oldest).max(0);
        let mut current: HashMap<String, (KeyValue, EventKind)> = HashMap::new();
        let mut events = Vec::new();
        let mut garbage = Vec::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT rev, kind, key, value, create_rev FROM log ORDER BY rev")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let rev: Revision = row.get(0)?;
                let kind = kind_from(row.get(1)?);
                let key: String = row.get(2)?;
                let value = Bytes::from(row.get::<_, Vec<u8>>(3)?);
                let create_revision: Revision = row.get(4)?;
                if rev > window_start {
                    events.push(Change {
                        kind,
                        key: key.clone(),
                        value: value.clone(),
                        prev_value: None,
                        create_revision,
                        revision: rev,
                    });
                }
                let kv = KeyValue {
                    value,
                    create_revision,
                    mod_revision: rev,
                };
                if let Some((old, _)) = current.insert(key, (kv, kind)) {
                    garbage.push(old.mod_revision);
                }
            }
        }
        let mut kvs = Vec::with_capacity(current.len());
        for (key, (kv, kind)) in current {
            if kind == EventKind::Deleted {
                garbage.push(kv.mod_revision);
            } else {
                kvs.push((key, kv));
            }
        }
        kvs.sort_by(|a, b| a.0.cmp(&b.0));
        self.garbage = garbage.into_iter().map(Reverse).collect();
        Ok(Loaded {
            kvs,
            events,
            revision,
            oldest: window_start,
        })
    }

    /// Deletes every superseded row up to `cutoff` now, and starts the history after it (a
    /// compaction, as etcd's, for when the disk is full).
    pub fn collect(&mut self, cutoff: Revision) -> Result<(), StoreError> {
        let mut removed = Vec::new();
        let result = (|| {
            let tx = self.conn.transaction()?;
            {
                let mut remove = tx.prepare_cached("DELETE FROM log WHERE rev = ?1")?;
                while let Some(Reverse(rev)) = self.garbage.peek().copied() {
                    if rev > cutoff {
                        break;
                    }
                    self.garbage.pop();
                    removed.push(rev);
                    remove.execute(params![rev])?;
                }
                tx.execute(
                    "INSERT INTO meta (name, value) VALUES ('oldest', ?1)
                     ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    params![cutoff],
                )?;
            }
            tx.commit()?;
            Ok::<(), StoreError>(())
        })();
        if result.is_err() {
            self.garbage.extend(removed.into_iter().map(Reverse));
        }
        result
    }

    /// Returns the pages of deleted rows to the filesystem and empties the WAL, so that space
    /// freed by deletes is space on disk again.
    pub fn reclaim(&mut self) -> Result<(), StoreError> {
        // The pragma frees one page per step (a result row each): step it to the end.
        let mut vacuum = self.conn.prepare("PRAGMA incremental_vacuum")?;
        let mut freed = vacuum.raw_query();
        while freed.next()?.is_some() {}
        drop(freed);
        drop(vacuum);
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Commits a batch in one transaction (one fsync), collecting garbage that has aged out of
    /// the history, which starts after `oldest` (or the count bound, if that is later).
    pub fn commit(&mut self, rows: &[Row], oldest: Revision) -> Result<(), StoreError> {
        self.try_commit(rows, oldest).map_err(|e| match e {
            StoreError::Backend(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::DiskFull =>
            {
                StoreError::NoSpace
            }
            other => other,
        })
    }

    fn try_commit(&mut self, rows: &[Row], oldest: Revision) -> Result<(), StoreError> {
        let Some(last) = rows.last() else {
            return Ok(());
        };
        let mut removed = Vec::new();
        let result = self.write_batch(rows, oldest, last.revision, &mut removed);
        if result.is_err() {
            // Those rows are still there: collect them at a later commit.
            self.garbage.extend(removed.into_iter().map(Reverse));
            return result;
        }
        for c in rows {
            if let Some(old) = c.superseded {
                self.garbage.push(Reverse(old));
            }
            if c.kind == EventKind::Deleted {
                self.garbage.push(Reverse(c.revision));
            }
        }
        Ok(())
    }

    fn write_batch(
        &mut self,
        rows: &[Row],
        oldest: Revision,
        last: Revision,
        removed: &mut Vec<Revision>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut append = tx.prepare_cached(
                "INSERT INTO log (rev, kind, key, value, create_rev) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for c in rows {
                append.execute(params![
                    c.revision,
                    kind_code(c.kind),
                    c.key,
                    c.value.as_ref(),
                    c.create_revision
                ])?;
            }
            tx.execute(
                "INSERT INTO meta (name, value) VALUES ('revision', ?1)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                params![last],
            )?;
            let cutoff = (last - self.history).max(oldest);
            tx.execute(
                "INSERT INTO meta (name, value) VALUES ('oldest', ?1)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                params![cutoff.max(0)],
            )?;
            let mut remove = tx.prepare_cached("DELETE FROM log WHERE rev = ?1")?;
            while let Some(Reverse(rev)) = self.garbage.peek().copied() {
                if rev > cutoff {
                    break;
                }
                self.garbage.pop();
                removed.push(rev);
                remove.execute(params![rev])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

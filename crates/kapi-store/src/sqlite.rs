//! The embedded backend: one SQLite file in WAL mode.
//!
//! Three tables: `kv` (current value, create and mod revision per key), `events` (a bounded log
//! of recent changes, so a watch can resume from a revision across a restart) and `meta`
//! (the current revision, which must survive even when the newest change was a delete).
//! `synchronous=FULL` makes every commit durable before it returns; the writer task batches
//! concurrent writes into one commit, so the fsync is shared.

use std::path::Path;

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};

use crate::events::EventKind;
use crate::store::KeyValue;
use crate::{Revision, StoreError};

/// One change ready to commit: its revision is final.
pub(crate) struct Change {
    pub kind: EventKind,
    pub key: String,
    pub value: Bytes,
    pub create_revision: Revision,
    pub revision: Revision,
}

/// What the backend holds at start: every key, the retained event log and the revision.
pub(crate) struct Loaded {
    pub kvs: Vec<(String, KeyValue)>,
    pub events: Vec<(EventKind, String, Revision, Bytes)>,
    pub revision: Revision,
}

/// The SQLite file, owned by the writer task alone.
pub(crate) struct SqliteBackend {
    conn: Connection,
    event_log_len: i64,
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

impl SqliteBackend {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path, event_log_len: usize) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL,
                 create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS events (rev INTEGER PRIMARY KEY, kind INTEGER NOT NULL,
                 key TEXT NOT NULL, value BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )?;
        Ok(Self {
            conn,
            event_log_len: i64::try_from(event_log_len).unwrap_or(i64::MAX),
        })
    }

    /// Reads everything needed to rebuild the in-memory cache.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let mut kvs = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT key, value, create_rev, mod_rev FROM kv ORDER BY key")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                KeyValue {
                    value: Bytes::from(r.get::<_, Vec<u8>>(1)?),
                    create_revision: r.get(2)?,
                    mod_revision: r.get(3)?,
                },
            ))
        })?;
        for row in rows {
            kvs.push(row?);
        }
        let mut events = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT kind, key, rev, value FROM events ORDER BY rev")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                kind_from(r.get(0)?),
                r.get::<_, String>(1)?,
                r.get::<_, Revision>(2)?,
                Bytes::from(r.get::<_, Vec<u8>>(3)?),
            ))
        })?;
        for row in rows {
            events.push(row?);
        }
        let revision: Revision = self
            .conn
            .query_row("SELECT value FROM meta WHERE name = 'revision'", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0);
        Ok(Loaded {
            kvs,
            events,
            revision,
        })
    }

    /// Commits a batch in one transaction (one fsync), trimming the event log.
    pub fn commit(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        let Some(last) = changes.last() else {
            return Ok(());
        };
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO kv (key, value, create_rev, mod_rev) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev",
            )?;
            let mut del = tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?;
            let mut log = tx.prepare_cached(
                "INSERT INTO events (rev, kind, key, value) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for c in changes {
                match c.kind {
                    EventKind::Deleted => {
                        del.execute(params![c.key])?;
                    }
                    _ => {
                        put.execute(params![
                            c.key,
                            c.value.as_ref(),
                            c.create_revision,
                            c.revision
                        ])?;
                    }
                }
                log.execute(params![
                    c.revision,
                    kind_code(c.kind),
                    c.key,
                    c.value.as_ref()
                ])?;
            }
            tx.execute(
                "INSERT INTO meta (name, value) VALUES ('revision', ?1)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                params![last.revision],
            )?;
            tx.execute(
                "DELETE FROM events WHERE rev <= ?1",
                params![last.revision - self.event_log_len],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

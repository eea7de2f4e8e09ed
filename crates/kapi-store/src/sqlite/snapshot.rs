//! Backups of the embedded store: a consistent copy taken while the server runs, and a new
//! data dir's store made from one (etcd's `snapshot save` and `snapshot restore`).
//!
//! The copy is SQLite's `VACUUM INTO` on a second connection: it reads one transaction's view
//! of the WAL-mode database, so it holds exactly the writes committed before it started and
//! never blocks the server's writer.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::log::SqliteLog;
use crate::{Revision, StoreError};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `path` empty and readable by its owner alone (a snapshot holds every Secret),
/// refusing to overwrite anything.
fn create_private(path: &Path) -> Result<(), StoreError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(|_| ())
        .map_err(io(path))
}

/// Writes a consistent copy of the store at `db` to `to` (a new file), and returns the
/// revision it holds.
pub fn save(db: &Path, to: &Path) -> Result<Revision, StoreError> {
    if !db.exists() {
        return Err(io(db)(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no store here (is this the server's data dir?)",
        )));
    }
    create_private(to)?;
    let copied = (|| {
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let target = to.to_string_lossy().into_owned();
        conn.execute("VACUUM INTO ?1", [target])?;
        let copy = Connection::open_with_flags(to, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let revision: Option<Revision> = copy
            .query_row("SELECT value FROM meta WHERE name = 'revision'", [], |r| {
                r.get(0)
            })
            .ok();
        Ok(revision.unwrap_or(0))
    })();
    if copied.is_err() {
        let _ = std::fs::remove_file(to);
    }
    copied
}

/// The revision a store file holds, read by loading it as the server would.
fn revision_of(file: &Path) -> Result<Revision, StoreError> {
    let mut log = SqliteLog::open(file, usize::MAX)?;
    Ok(log.load()?.revision)
}

/// Makes `db` (which must not exist yet) a copy of the snapshot `from`, after checking that
/// it loads; returns its revision.
pub fn restore(from: &Path, db: &Path) -> Result<Revision, StoreError> {
    if db.exists() {
        return Err(io(db)(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a store is already there; restore into a new data dir",
        )));
    }
    // Checked on a copy, so that a snapshot that does not load leaves nothing behind and the
    // snapshot file itself is never written to.
    create_private(db)?;
    let restored = std::fs::copy(from, db)
        .map_err(io(from))
        .and_then(|_| revision_of(db));
    if restored.is_err() {
        let _ = std::fs::remove_file(db);
    }
    restored
}

//! The highest revision the store has acknowledged, recorded beside it (`<db>.rev`), so that a
//! store that lost committed writes — its WAL truncated or deleted, or the database deleted
//! beside the rest of a data dir — is refused at start instead of serving old data as if
//! nothing had happened (etcd refuses a WAL that fails its checksum for the same reason).
//!
//! The mark is written after the commit it names is durable, so it never runs ahead of the
//! store; it is rewritten at most every [`INTERVAL`] and when the store closes, so it costs the
//! write path nothing measurable, at the price of not noticing the loss of only the last
//! fraction of a second before a crash.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Revision, StoreError};

/// How often the mark is rewritten while writes go on.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// The mark's file for a database at `db`.
pub fn path_for(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".rev");
    PathBuf::from(p)
}

/// Refuses a store at `revision` that is behind the mark recorded for `db`.
pub fn check(db: &Path, revision: Revision) -> Result<(), StoreError> {
    let mark = path_for(db);
    let Ok(text) = std::fs::read_to_string(&mark) else {
        return Ok(());
    };
    let Ok(acknowledged) = text.trim().parse::<Revision>() else {
        tracing::warn!(path = %mark.display(), "the high-water mark is unreadable; it is rewritten");
        return Ok(());
    };
    if revision < acknowledged {
        return Err(StoreError::Behind {
            db: db.to_path_buf(),
            revision,
            acknowledged,
            mark,
        });
    }
    Ok(())
}

/// Keeps the mark in step with commits.
pub struct HighWater {
    path: PathBuf,
    written: Revision,
    at: Instant,
}

impl HighWater {
    /// A mark for the database at `db`, now at `revision`.
    pub fn new(db: &Path, revision: Revision) -> Self {
        let mut mark = HighWater {
            path: path_for(db),
            written: -1,
            at: Instant::now(),
        };
        mark.write(revision);
        mark
    }

    /// Records a durable `revision`, unless the mark was written less than [`INTERVAL`] ago.
    pub fn committed(&mut self, revision: Revision) {
        if revision > self.written && self.at.elapsed() >= INTERVAL {
            self.write(revision);
        }
    }

    /// Records `revision` now (the store is closing).
    pub fn flush(&mut self, revision: Revision) {
        if revision > self.written {
            self.write(revision);
        }
    }

    fn write(&mut self, revision: Revision) {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = self.path.with_extension("rev.tmp");
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{revision}\n").as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        match written {
            Ok(()) => {
                self.written = revision;
                self.at = Instant::now();
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "could not record the high-water revision");
            }
        }
    }
}

//! Space kept back for deletes. Every write appends to the log, deletes too, so on a full disk
//! nothing could be deleted to make room, the one way out an operator has through the API.
//! The store keeps a file of [`SIZE`] bytes beside the database; when a commit finds the disk
//! full it gives the file up, and from then on accepts only deletes (etcd's NOSPACE alarm is the
//! model) until the space is back: deleted rows are returned to the filesystem by incremental
//! vacuum, and once the file can be written again, writes are accepted again.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The space held back: room for the final states of a few of the largest objects.
pub const SIZE: usize = 8 << 20;

/// The reserve file beside a database.
pub struct Reserve {
    path: PathBuf,
    held: bool,
}

impl Reserve {
    /// The reserve of the database at `db`, written now if it is missing and the space is there.
    pub fn new(db: &Path) -> Reserve {
        let mut p = db.as_os_str().to_owned();
        p.push(".reserve");
        let path = PathBuf::from(p);
        let held = std::fs::metadata(&path).is_ok_and(|m| m.len() >= SIZE as u64);
        let mut reserve = Reserve { path, held };
        if !reserve.held {
            reserve.restore();
        }
        reserve
    }

    /// Gives the space up; false when there was none to give.
    pub fn release(&mut self) -> bool {
        let had = self.held;
        self.held = false;
        let _ = std::fs::remove_file(&self.path);
        had
    }

    /// Takes the space back; false when the disk does not have it yet, with as much again
    /// to spare for writes (else the first write would fill the disk once more).
    pub fn restore(&mut self) -> bool {
        if self.held {
            return true;
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let free = rustix::fs::statvfs(dir)
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .unwrap_or(0);
        if free < 2 * SIZE as u64 {
            return false;
        }
        let written = (|| {
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&self.path)?;
            let chunk = vec![0u8; 1 << 20];
            for _ in 0..SIZE / chunk.len() {
                file.write_all(&chunk)?;
            }
            file.sync_all()
        })();
        self.held = written.is_ok();
        if !self.held {
            let _ = std::fs::remove_file(&self.path);
        }
        self.held
    }
}

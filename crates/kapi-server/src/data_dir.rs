//! The data dir holds the cluster's keys and every stored object, Secrets included, so only
//! its owner may enter it (0700, as etcd insists for its own), and only one server may use it
//! at a time: a second one writing the same store would fail the first one's writes and
//! serve stale reads. The lock is an advisory lock on `kapi.lock`, released by the kernel when
//! the process ends however it ends, so a crash never leaves the dir locked.

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why the data dir cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Creating it, fixing its mode or opening the lock failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or dir.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process holds the lock.
    #[error("the data dir {dir} is in use by another kapi server{holder}; stop it first, or give this one another --data-dir")]
    InUse {
        /// The data dir.
        dir: PathBuf,
        /// ` (pid N)` when the holder wrote its pid.
        holder: String,
    },
}

/// Holds the data dir for as long as it lives.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Creates `dir` (or tightens an existing one) to 0700 and takes its lock.
pub fn prepare(dir: &Path) -> Result<DataDirLock, DataDirError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataDirError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mode = std::fs::metadata(dir)
        .map_err(io(dir))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, Permissions::from_mode(0o700)).map_err(io(dir))?;
        tracing::warn!(dir = %dir.display(), "the data dir was open to other users ({:o}); it is 0700 now", mode & 0o777);
    }
    let path = dir.join("kapi.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            let pid = pid.trim();
            return Err(DataDirError::InUse {
                dir: dir.to_path_buf(),
                holder: if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                },
            });
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(io(&path)(source)),
    }
    file.set_len(0).map_err(io(&path))?;
    writeln!(file, "{}", std::process::id()).map_err(io(&path))?;
    Ok(DataDirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let first = prepare(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let err = prepare(&dir).unwrap_err().to_string();
        assert!(
            err.contains("in use by another kapi server")
                && err.contains(&format!("(pid {})", std::process::id())),
            "{err}"
        );
        drop(first);
        prepare(&dir).unwrap();
    }

    #[test]
    fn an_open_data_dir_is_closed() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), Permissions::from_mode(0o755)).unwrap();
        let _lock = prepare(tmp.path()).unwrap();
        let mode = std::fs::metadata(tmp.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

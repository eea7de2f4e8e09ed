//! Writes a volume's files the way kubelet's atomic writer does, so that a running container
//! sees every update at once: the files live in a timestamped directory, `..data` is a symlink
//! to it, and each top-level name is a symlink through `..data`. An update writes a new
//! directory and swaps `..data` with one rename.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// Relative path → (contents, mode).
pub type Files = BTreeMap<String, (Vec<u8>, u32)>;

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// Makes `dir` hold exactly `files`. Returns whether anything changed.
pub fn write(dir: &Path, files: &Files) -> io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    if current(dir)?.as_ref() == Some(files) {
        return Ok(false);
    }
    for path in files.keys() {
        if path
            .split('/')
            .any(|part| part.is_empty() || part == ".." || part == ".")
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid path {path:?}: must be relative and may not contain '..'"),
            ));
        }
    }
    let stamp = chrono::Utc::now()
        .format("..%Y_%m_%d_%H_%M_%S.%9f")
        .to_string();
    let new_dir = dir.join(&stamp);
    std::fs::create_dir(&new_dir)?;
    for (path, (bytes, mode)) in files {
        let target = new_dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*mode))?;
    }
    let old = std::fs::read_link(dir.join(DATA)).ok();
    let tmp = dir.join(DATA_TMP);
    let _ = std::fs::remove_file(&tmp);
    symlink(&stamp, &tmp)?;
    std::fs::rename(&tmp, dir.join(DATA))?;
    let tops: std::collections::BTreeSet<&str> = files
        .keys()
        .map(|p| p.split('/').next().unwrap_or(p))
        .collect();
    for top in &tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("{DATA}/{top}"), &link)?;
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") {
            if name != DATA && name != stamp && name.starts_with("..20") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        } else if !tops.contains(name.as_str()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != stamp.as_str()) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(true)
}

/// The files under the current `..data`, if any.
fn current(dir: &Path) -> io::Result<Option<Files>> {
    let data = dir.join(DATA);
    if std::fs::symlink_metadata(&data).is_err() {
        return Ok(None);
    }
    let mut files = Files::new();
    collect(&data, "", &mut files)?;
    Ok(Some(files))
}

fn collect(dir: &Path, prefix: &str, files: &mut Files) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let meta = entry.metadata()?;
        if meta.is_dir() {
            collect(&entry.path(), &format!("{name}/"), files)?;
        } else {
            let mode = meta.permissions().mode() & 0o7777;
            files.insert(name, (std::fs::read(entry.path())?, mode));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> Files {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), (v.as_bytes().to_vec(), 0o644)))
            .collect()
    }

    #[test]
    fn layout_is_kubelets_and_updates_swap_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(write(
            d,
            &files(&[("token", "t1"), ("ca.crt", "CA"), ("sub/x", "1")])
        )
        .unwrap());
        assert_eq!(
            std::fs::read_link(d.join("token")).unwrap(),
            Path::new("..data/token")
        );
        assert_eq!(std::fs::read_to_string(d.join("token")).unwrap(), "t1");
        assert_eq!(std::fs::read_to_string(d.join("sub/x")).unwrap(), "1");
        let first = std::fs::read_link(d.join("..data")).unwrap();
        assert!(!write(
            d,
            &files(&[("token", "t1"), ("ca.crt", "CA"), ("sub/x", "1")])
        )
        .unwrap());
        assert!(write(d, &files(&[("token", "t2"), ("ca.crt", "CA")])).unwrap());
        assert_eq!(std::fs::read_to_string(d.join("token")).unwrap(), "t2");
        assert!(!d.join(&first).exists(), "the old generation is removed");
        assert!(
            std::fs::symlink_metadata(d.join("sub")).is_err(),
            "stale names go"
        );
        let names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".."))
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn paths_may_not_escape() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(dir.path(), &files(&[("../x", "1")])).is_err());
        assert!(write(dir.path(), &files(&[("/x", "1")])).is_err());
    }
}

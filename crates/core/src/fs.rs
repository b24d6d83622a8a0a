//! Durable state files: every checkpoint, blocklist and isolation record is replaced with
//! [`write_durable`], so a power loss leaves either the old file or the new one, never a torn or
//! empty one.
//!
//! The sequence is the one ext4/xfs need for a crash-safe replace: write a temporary file beside
//! the target, `fsync` it, `rename` it over the target, then `fsync` the directory so the rename
//! itself is on disk. Without the first fsync a crash after the rename can leave a zero-length
//! file (the data was still in the page cache); without the last one the old file can come back.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Which step of a durable replace failed, and on which file.
#[derive(Debug, thiserror::Error)]
#[error("cannot {step} {}", path.display())]
pub struct DurableWriteError {
    pub step: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Replaces `path` with `bytes` durably (write a sibling `.<name>.tmp`, fsync, rename, fsync the
/// directory). The temporary file is removed when a step before the rename fails.
pub fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), DurableWriteError> {
    let err = |step: &'static str, p: &Path| {
        let p = p.to_owned();
        move |source| DurableWriteError {
            step,
            path: p,
            source,
        }
    };
    let tmp = temp_path(path);
    let written = File::create(&tmp)
        .map_err(err("create", &tmp))
        .and_then(|mut f| {
            f.write_all(bytes).map_err(err("write", &tmp))?;
            f.sync_all().map_err(err("fsync", &tmp))
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err("rename over", path)(e));
    }
    sync_parent(path)
}

/// Makes a rename or a new directory entry in `path`'s directory durable.
pub fn sync_parent(path: &Path) -> Result<(), DurableWriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| DurableWriteError {
            step: "fsync directory",
            path: dir.to_owned(),
            source,
        })
}

/// `dir/.name.tmp`: hidden, in the same directory (a rename across filesystems is not atomic).
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_durable(&p, b"one").unwrap();
        write_durable(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn a_missing_directory_names_the_step_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("absent").join("state.json");
        let e = write_durable(&p, b"x").unwrap_err();
        assert_eq!(e.step, "create");
        assert!(e.path.ends_with("absent/.state.json.tmp"), "{e}");
        assert!(
            !e.to_string().contains("No such file"),
            "cause is the source, not the message: {e}"
        );
    }

    #[test]
    fn a_failed_rename_keeps_the_old_file_and_removes_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory at the target: rename(2) refuses to replace it.
        let p = dir.path().join("state");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("keep"), b"k").unwrap();
        let e = write_durable(&p, b"x").unwrap_err();
        assert_eq!(e.step, "rename over");
        assert!(p.join("keep").exists());
        assert!(!dir.path().join(".state.tmp").exists());
    }
}

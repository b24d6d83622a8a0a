//! PID file with an exclusive lock: a second daemon with the same file fails with a clear error;
//! a file left by a daemon that died (nobody holds the lock) is taken over.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why the PID file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error("another ironpost-daemon (pid {pid}) is already running with PID file {}; stop it first or use another pid_file", path.display())]
    AlreadyRunning { path: PathBuf, pid: String },
    #[error("cannot use PID file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for the daemon's lifetime; removes the file on drop.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: File,
    /// The pid that was in the file when it was taken over from a dead daemon.
    pub stale_pid: Option<String>,
}

impl PidFile {
    pub fn acquire(path: &Path) -> Result<PidFile, PidFileError> {
        let io = |source| PidFileError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let mut previous = String::new();
        // A non-UTF-8 leftover is just stale content.
        let _ = file.read_to_string(&mut previous);
        let previous = previous.trim().to_owned();
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(PidFileError::AlreadyRunning {
                    path: path.to_owned(),
                    pid: if previous.is_empty() {
                        "unknown".into()
                    } else {
                        previous
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(PidFile {
            path: path.to_owned(),
            file,
            stale_pid: (!previous.is_empty()).then_some(previous),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Remove while still holding the lock, so no second daemon sees a half-state.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_and_stale_file_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/ironpost.pid");
        let first = PidFile::acquire(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            std::process::id().to_string()
        );
        let err = PidFile::acquire(&path).unwrap_err();
        assert!(matches!(err, PidFileError::AlreadyRunning { .. }), "{err}");
        assert!(
            err.to_string().contains(&std::process::id().to_string()),
            "{err}"
        );
        drop(first);
        assert!(!path.exists(), "released PID file is removed");

        std::fs::write(&path, "999999\n").unwrap();
        let taken = PidFile::acquire(&path).unwrap();
        assert_eq!(taken.stale_pid.as_deref(), Some("999999"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            std::process::id().to_string()
        );
    }
}

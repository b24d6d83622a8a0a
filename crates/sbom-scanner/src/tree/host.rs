//! A host directory as a [`Tree`]: every open is relative to the root's file descriptor.
//!
//! With `openat2` (Linux 5.6+) paths resolve with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`: an
//! absolute symlink or `../..` inside the tree lands inside the root, as it would for a process
//! chrooted there, and `/proc/self/...`-style magic links are refused. Without it, the path is
//! opened one component at a time with `O_NOFOLLOW`, and a symlink anywhere is left unfollowed.
//! A file is first opened `O_PATH` (no side effect even on a device or FIFO), checked with
//! `fstat` to be regular and within the size limit, and only then reopened for reading through
//! its descriptor, so what is read is exactly what was checked.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{DirEntry, Kind, OpenError, Opened, SkipReason, Tree};

/// `openat2` answered ENOSYS once: use the component-wise fallback from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// A directory of the host opened as the root of a [`Tree`].
#[derive(Debug)]
pub struct HostTree {
    root: PathBuf,
    fd: OwnedFd,
    /// Tests force the fallback to check it on kernels that have `openat2`.
    fallback: bool,
}

impl HostTree {
    /// Opens `root` (itself resolved as the caller gives it, e.g. `/proc/<pid>/root`).
    pub fn open(root: &Path) -> io::Result<HostTree> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(root)?;
        Ok(HostTree {
            root: root.to_owned(),
            fd: OwnedFd::from(file),
            fallback: NO_OPENAT2.load(Ordering::Relaxed),
        })
    }

    /// The same tree resolving without `openat2` (component-wise, no symlink followed).
    #[doc(hidden)]
    pub fn without_openat2(mut self) -> HostTree {
        self.fallback = true;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// An `O_PATH` descriptor for `rel`, resolved inside the root.
    fn resolve(&self, rel: &Path, follow_last: bool) -> io::Result<OwnedFd> {
        let flags = libc::O_PATH | libc::O_CLOEXEC | if follow_last { 0 } else { libc::O_NOFOLLOW };
        if rel.as_os_str().is_empty() {
            return openat(self.fd.as_fd(), c".", flags);
        }
        if !self.fallback {
            match openat2(
                self.fd.as_fd(),
                &cstring(rel)?,
                flags,
                libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
            ) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                r => return r,
            }
        }
        // Component-wise: every step `O_NOFOLLOW`, `..` refused.
        let mut cur: Option<OwnedFd> = None;
        let comps: Vec<_> = rel.components().collect();
        for (i, c) in comps.iter().enumerate() {
            let name = match c {
                Component::Normal(n) => n,
                Component::CurDir | Component::RootDir => continue,
                _ => return Err(io::Error::from_raw_os_error(libc::EXDEV)),
            };
            let last = i + 1 == comps.len();
            let f = libc::O_PATH
                | libc::O_CLOEXEC
                | libc::O_NOFOLLOW
                | if last { 0 } else { libc::O_DIRECTORY };
            let dir = cur.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd);
            let name = CString::new(name.as_bytes())
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            cur = Some(openat(dir, &name, f)?);
        }
        match cur {
            Some(fd) => {
                // A symlink opened with O_PATH|O_NOFOLLOW: the fallback does not follow it.
                if follow_last
                    && std::fs::File::from(fd.try_clone()?)
                        .metadata()?
                        .is_symlink()
                {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                Ok(fd)
            }
            None => openat(self.fd.as_fd(), c".", flags),
        }
    }
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn openat(dir: BorrowedFd<'_>, path: &std::ffi::CStr, flags: i32) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: `dir` is an open descriptor and `path` a NUL-terminated string, both alive for
        // the call; a non-negative result is a new descriptor this function alone owns.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::openat(dir.as_raw_fd(), path.as_ptr(), flags, 0) };
        if rc >= 0 {
            // SAFETY: see above: `rc` is a fresh descriptor.
            #[allow(unsafe_code)]
            return Ok(unsafe { OwnedFd::from_raw_fd(rc) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

fn openat2(
    dir: BorrowedFd<'_>,
    path: &std::ffi::CStr,
    flags: i32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    // `struct open_how` of linux/openat2.h (libc's is non-exhaustive).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: flags as u64,
        mode: 0,
        resolve,
    };
    // RESOLVE_IN_ROOT answers EAGAIN when a rename raced the lookup: retry a few times.
    for _ in 0..8 {
        // SAFETY: `dir` is open, `path` NUL-terminated and `how` a valid `open_how` whose size is
        // passed; all outlive the call. A non-negative result is a new descriptor.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &raw const how,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if rc >= 0 {
            // SAFETY: see above: `rc` is a fresh descriptor (it fits an int).
            #[allow(unsafe_code)]
            return Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) });
        }
        let e = io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) {
            return Err(e);
        }
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

/// The path through which a descriptor of this process is reopened.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn kind_of(ft: std::fs::FileType) -> Kind {
    if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_symlink() {
        Kind::Symlink
    } else {
        // FIFOs, sockets, block and character devices.
        Kind::Other
    }
}

impl Tree for HostTree {
    fn display(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    fn read_dir(&self, rel: &Path) -> io::Result<Vec<DirEntry>> {
        let fd = self.resolve(rel, false)?;
        // The descriptor's own directory, not a path looked up again (see the module doc).
        let mut out = Vec::new();
        for e in std::fs::read_dir(fd_path(&fd))? {
            let e = e?;
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let Ok(ft) = e.file_type() else { continue };
            out.push(DirEntry {
                name,
                kind: kind_of(ft),
            });
        }
        Ok(out)
    }

    fn open(&self, rel: &Path, limit: u64) -> Result<Opened, OpenError> {
        let fd = match self.resolve(rel, true) {
            Ok(fd) => fd,
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(libc::ENOENT) => {
                        // Nothing there, or a link whose target is not inside the root.
                        match self.resolve(rel, false) {
                            Ok(_) => OpenError::Skipped(SkipReason::Unresolved),
                            Err(_) => OpenError::Missing,
                        }
                    }
                    Some(libc::ELOOP | libc::EXDEV | libc::ENOTDIR) => {
                        OpenError::Skipped(SkipReason::Unresolved)
                    }
                    _ => OpenError::Io(e),
                });
            }
        };
        let meta = std::fs::File::from(fd.try_clone().map_err(OpenError::Io)?)
            .metadata()
            .map_err(OpenError::Io)?;
        if meta.is_dir() {
            return Err(OpenError::Missing);
        }
        if !meta.is_file() {
            return Err(OpenError::Skipped(SkipReason::NotRegular));
        }
        if meta.len() > limit {
            return Err(OpenError::TooLarge(meta.len()));
        }
        // Reopened for reading through the checked descriptor: O_NONBLOCK so that nothing can
        // block even if the inode changed kind (it cannot: the descriptor pins it).
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(fd_path(&fd))
            .map_err(OpenError::Io)?;
        Ok(Opened::File {
            file,
            size: meta.len(),
            id: (meta.dev(), meta.ino()),
        })
    }

    fn kind(&self, rel: &Path) -> Option<Kind> {
        let fd = self.resolve(rel, true).ok()?;
        let meta = std::fs::File::from(fd).metadata().ok()?;
        Some(kind_of(meta.file_type()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(fallback: bool) -> (tempfile::TempDir, HostTree) {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        std::fs::create_dir_all(r.join("app/etc")).unwrap();
        std::fs::write(r.join("app/Cargo.lock"), "x").unwrap();
        std::fs::write(r.join("app/etc/inside"), "inside").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", r.join("app/abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/hostname", r.join("app/rel")).unwrap();
        std::os::unix::fs::symlink("/app/etc/inside", r.join("app/abs_in")).unwrap();
        std::os::unix::fs::symlink("/proc/self/root/etc/hostname", r.join("app/magic")).unwrap();
        let fifo = cstring(&r.join("app/fifo")).unwrap();
        // SAFETY: a NUL-terminated path; mkfifo only creates a file.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) };
        assert_eq!(rc, 0);
        let t = HostTree::open(r).unwrap();
        let t = if fallback { t.without_openat2() } else { t };
        (tmp, t)
    }

    fn open(t: &HostTree, p: &str, limit: u64) -> Result<Vec<u8>, String> {
        match t.open(Path::new(p), limit) {
            Ok(o) => Ok(o.read_all(limit).unwrap()),
            Err(OpenError::Skipped(r)) => Err(r.as_str().to_owned()),
            Err(OpenError::TooLarge(_)) => Err("too_large".into()),
            Err(OpenError::Missing) => Err("missing".into()),
            Err(OpenError::Io(e)) => Err(format!("io {e}")),
        }
    }

    #[test]
    fn links_resolve_inside_the_root_and_fifos_are_never_opened() {
        let (_tmp, t) = tree(false);
        assert_eq!(open(&t, "app/Cargo.lock", 10).unwrap(), b"x");
        assert_eq!(open(&t, "app/Cargo.lock", 0).unwrap_err(), "too_large");
        // Absolute and ../ links land inside the root, where there is no etc/hostname.
        assert_eq!(open(&t, "app/abs", 100).unwrap_err(), "unresolved_link");
        assert_eq!(open(&t, "app/rel", 100).unwrap_err(), "unresolved_link");
        assert_eq!(open(&t, "app/magic", 100).unwrap_err(), "unresolved_link");
        assert_eq!(open(&t, "app/abs_in", 100).unwrap(), b"inside");
        assert_eq!(open(&t, "app/fifo", 100).unwrap_err(), "not_regular");
        assert_eq!(open(&t, "app/none", 100).unwrap_err(), "missing");
        assert_eq!(t.kind(Path::new("app")), Some(Kind::Dir));
        assert_eq!(t.kind(Path::new("app/abs")), None);
        let mut names: Vec<_> = t
            .read_dir(Path::new("app"))
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(names[0], ("Cargo.lock".to_owned(), Kind::File));
        assert!(names.contains(&("fifo".to_owned(), Kind::Other)));
        assert!(names.contains(&("abs".to_owned(), Kind::Symlink)));
    }

    #[test]
    fn the_fallback_follows_no_symlink() {
        let (_tmp, t) = tree(true);
        assert_eq!(open(&t, "app/Cargo.lock", 10).unwrap(), b"x");
        assert_eq!(open(&t, "app/abs", 100).unwrap_err(), "unresolved_link");
        assert_eq!(open(&t, "app/rel", 100).unwrap_err(), "unresolved_link");
        assert_eq!(open(&t, "app/abs_in", 100).unwrap_err(), "unresolved_link");
        assert_eq!(open(&t, "app/fifo", 100).unwrap_err(), "not_regular");
        assert_eq!(
            open(&t, "app/../app/Cargo.lock", 10).unwrap_err(),
            "unresolved_link"
        );
    }
}

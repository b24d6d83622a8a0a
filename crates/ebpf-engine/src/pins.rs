//! The bpffs side of pinning, without the kernel loader: is a path on bpffs
//! ([`on_bpffs`]), and removing an interface's pins ([`remove_pins`], what
//! `detach_on_stop = true` and `ironpost-cli ebpf detach` do). Removing the link's pin while no
//! process holds the link detaches the program; removing the maps' pins frees them once the
//! program is gone.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::maps::{LINK_PIN, PINNED_MAPS};

/// `f_type` of a bpffs mount (`BPF_FS_MAGIC` in linux/magic.h).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// True when `path`, or its nearest existing ancestor, is on a bpffs mount (where pins can be
/// created: below it the directories are made on demand).
pub fn on_bpffs(path: &Path) -> bool {
    let mut cur = Some(path);
    while let Some(p) = cur {
        if p.exists() {
            return statfs_type(p) == Some(BPF_FS_MAGIC);
        }
        cur = p.parent();
    }
    false
}

fn statfs_type(path: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statfs is a valid value of this plain C struct.
    #[allow(unsafe_code)]
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `buf` a writable statfs; the call writes only it.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut buf) };
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures
    (rc == 0).then_some(buf.f_type as i64)
}

/// Removes the pins of one interface under `dir` (`<pin_path>/<interface>`): the link first
/// (so the program stops when nothing else holds it), then the maps, then the directory if it
/// is empty. Returns the paths removed; a missing pin is not an error.
pub fn remove_pins(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for name in std::iter::once(LINK_PIN).chain(PINNED_MAPS) {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Unpin { path, source }),
        }
    }
    // Absent, or something else lives there: leave it.
    if std::fs::remove_dir(dir).is_ok() {
        removed.push(dir.to_owned());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_is_not_bpffs_and_its_pins_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!on_bpffs(dir.path()));
        assert!(!on_bpffs(&dir.path().join("not/yet/made")));
        let iface = dir.path().join("veth0");
        std::fs::create_dir(&iface).unwrap();
        for name in [LINK_PIN, "block_hosts_v4"] {
            std::fs::write(iface.join(name), b"").unwrap();
        }
        let removed = remove_pins(&iface).unwrap();
        assert_eq!(removed.len(), 3, "{removed:?}");
        assert!(!iface.exists());
        assert_eq!(remove_pins(&iface).unwrap(), Vec::<PathBuf>::new());
    }
}

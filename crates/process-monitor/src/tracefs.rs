//! Mounting tracefs when nothing has: the syscall tracepoints (the file hook's fallback) are
//! attached by id, which aya reads from `<tracefs>/events/<category>/<name>/id`. Hosts with
//! systemd mount it at boot; minimal VMs and containers may not.

use std::path::Path;

use crate::error::{Error, Result};

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACEFS: &str = "/sys/kernel/debug/tracing";

/// Mounts tracefs on `/sys/kernel/tracing` unless a tracefs is mounted there or under debugfs.
pub(crate) fn ensure_mounted() -> Result<()> {
    if [TRACEFS, DEBUGFS_TRACEFS]
        .iter()
        .any(|p| Path::new(p).join("events").is_dir())
    {
        return Ok(());
    }
    mount_tracefs().map_err(|source| Error::Tracefs {
        path: TRACEFS.into(),
        source,
    })
}

#[allow(unsafe_code)]
fn mount_tracefs() -> std::io::Result<()> {
    let c = |s: &str| std::ffi::CString::new(s).map_err(std::io::Error::other);
    let (src, target, fstype) = (c("tracefs")?, c(TRACEFS)?, c("tracefs")?);
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call; `data` is
    // null, which mount(2) accepts.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

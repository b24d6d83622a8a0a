//! A tmpfs of a few MiB mounted for a test (a database that runs out of space), unmounted
//! (lazily, should a file stay open) at the end.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::text;

pub struct SmallFs(pub PathBuf);

impl SmallFs {
    /// Mounts a tmpfs of `size` (mount's syntax: "4m") at `at`, created if missing.
    pub fn mount(at: &Path, size: &str) -> SmallFs {
        std::fs::create_dir_all(at).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(o.status.success(), "mount tmpfs: {}", text(&o.stderr));
        SmallFs(at.to_owned())
    }

    /// Writes a file until the filesystem is full (ENOSPC), then whatever partial block fits.
    pub fn fill(&self) {
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = f.write_all(&block) {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
                break;
            }
        }
        let _ = f.write_all(&block[..4096]);
        let _ = f.write_all(&block[..512]);
        let _ = f.sync_all();
    }

    /// Frees the space `fill` took.
    pub fn empty(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

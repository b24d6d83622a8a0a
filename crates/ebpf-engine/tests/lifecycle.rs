//! Loading, pinning and attaching against the real kernel: blocks survive a reload through maps
//! pinned on a bpffs mounted for the test; attach/detach are observed through the kernel
//! refusing a second XDP program on the same interface. Attach tests run in a private network
//! namespace (per thread), so the host's interfaces are never touched.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ironpost_ebpf_engine::{Error, LoadOptions, RuleAction, XdpAction, XdpMode};

/// A bpffs mounted on a temporary directory, unmounted on drop.
struct BpfFs {
    dir: tempfile::TempDir,
}

impl BpfFs {
    fn mount() -> BpfFs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(dir.path())
            .output()
            .expect("run mount (util-linux)");
        assert!(
            out.status.success(),
            "mounting a bpffs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        BpfFs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        // Unmounting discards the pins (and so the maps, once no program holds them).
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn pinned(pin_path: PathBuf) -> LoadOptions {
    LoadOptions {
        pin_path: Some(pin_path),
        ..LoadOptions::default()
    }
}

#[test]
fn pinned_blocks_and_hits_survive_a_reload() {
    let fs = BpfFs::mount();
    let pin = fs.path().join("ironpost");
    let blocked = tcp("203.0.113.9", "192.0.2.1", 80, ACK).bytes();
    {
        let mut f = load_with(pinned(pin.clone()));
        f.insert_block("203.0.113.0/24".parse().unwrap(), 3, RuleAction::Drop)
            .unwrap();
        f.insert_allow("2001:db8::/32".parse().unwrap(), 4).unwrap();
        assert_eq!(f.test_run(&blocked, 1).unwrap(), XdpAction::Drop);
    }
    for map in [
        "blocklist_v4",
        "blocklist_v6",
        "allowlist_v4",
        "allowlist_v6",
        "hits",
    ] {
        assert!(pin.join(map).exists(), "{map} not pinned");
    }
    assert!(
        !pin.join("stats").exists(),
        "stats are per program run, not pinned"
    );

    let mut f = load_with(pinned(pin.clone()));
    let blocks = f.list_blocks().unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(
        (blocks[0].cidr.to_string().as_str(), blocks[0].rule_id),
        ("203.0.113.0/24", 3)
    );
    assert_eq!(f.list_allows().unwrap().len(), 1);
    assert_eq!(f.test_run(&blocked, 1).unwrap(), XdpAction::Drop);
    assert_eq!(f.read_hits().unwrap()[&3].packets, 2);
    assert_eq!(f.read_stats().unwrap().total.packets, 1);

    // An unpinned load shares nothing with the pinned one.
    let mut fresh = load();
    assert!(fresh.list_blocks().unwrap().is_empty());
    assert_eq!(fresh.test_run(&blocked, 1).unwrap(), XdpAction::Pass);
}

#[test]
fn pinning_outside_bpffs_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = ironpost_ebpf_engine::XdpFilter::load(&pinned(dir.path().join("maps"))).unwrap_err();
    assert!(
        matches!(&err, Error::Pin { path, .. } if path.ends_with("maps")),
        "{err:?}"
    );
    assert!(err.to_string().contains("bpffs"), "{err}");
}

/// Moves the calling test thread into a new, empty network namespace (only `lo`, down).
#[allow(unsafe_code)]
fn private_netns() {
    // SAFETY: unshare takes no pointers; CLONE_NEWNET only changes this thread's namespace,
    // and the test thread ends with the test.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET) needs root: {}",
        std::io::Error::last_os_error()
    );
}

#[test]
fn attach_and_detach_on_an_interface() {
    private_netns();
    let mut first = load();
    let mut second = load();

    first
        .attach("lo", XdpMode::Skb)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(first.attached_to(), Some("lo"));
    assert!(matches!(
        first.attach("lo", XdpMode::Skb),
        Err(Error::AlreadyAttached { .. })
    ));
    // The kernel holds our program on `lo`: a second one is refused.
    let busy = second.attach("lo", XdpMode::Skb).unwrap_err();
    assert!(
        matches!(&busy, Error::Attach { iface, mode: XdpMode::Skb, .. } if iface == "lo"),
        "{busy:?}"
    );

    first.detach().unwrap();
    assert_eq!(first.attached_to(), None);
    first.detach().unwrap();
    second
        .attach("lo", XdpMode::Skb)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));

    // Dropping the filter detaches it.
    drop(second);
    first
        .attach("lo", XdpMode::Skb)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    first.detach().unwrap();
}

#[test]
fn attach_errors_name_the_interface() {
    private_netns();
    let mut f = load();
    let err = f.attach("ironpost-nope0", XdpMode::Skb).unwrap_err();
    assert!(err.to_string().contains("ironpost-nope0"), "{err}");
    // `lo` has no driver-mode XDP.
    let err = f.attach("lo", XdpMode::Native).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Attach {
                mode: XdpMode::Native,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(f.attached_to(), None);
}

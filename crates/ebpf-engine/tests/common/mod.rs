//! Shared by the kernel tests: a hand-rolled frame builder (Ethernet, 802.1Q/802.1ad, IPv4 with
//! options, IPv6, TCP, UDP, ICMP/ICMPv6) and a loader with test-friendly map sizes.
//!
//! Every test file uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use ironpost_ebpf_engine::{LoadOptions, XdpFilter};

pub(crate) const FIN: u8 = 0x01;
pub(crate) const SYN: u8 = 0x02;
pub(crate) const RST: u8 = 0x04;
pub(crate) const ACK: u8 = 0x10;

pub(crate) const TPID_8021Q: u16 = 0x8100;
pub(crate) const TPID_8021AD: u16 = 0x88a8;

/// The transport part of a crafted packet.
#[derive(Debug, Clone, Copy)]
pub(crate) enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        flags: u8,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    /// ICMP echo request over IPv4, ICMPv6 echo request over IPv6.
    Icmp,
    /// Another IP protocol with 8 bytes of opaque payload.
    Proto(u8),
}

/// A packet to craft: addresses decide the IP version.
#[derive(Debug, Clone)]
pub(crate) struct Pkt {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) l4: L4,
    /// TPIDs of the VLAN tags, outermost first.
    pub(crate) vlans: Vec<u16>,
    /// 32-bit words of IPv4 options (NOPs).
    pub(crate) ip_option_words: u8,
    /// Writes this IHL instead of the true one (IPv4 only).
    pub(crate) ihl_override: Option<u8>,
    pub(crate) payload: usize,
    /// IPv4 fragment offset in 8-byte units (non-zero: a non-first fragment).
    pub(crate) frag_offset: u16,
}

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("bad test address {s}: {e}"))
}

pub(crate) fn tcp(src: &str, dst: &str, dport: u16, flags: u8) -> Pkt {
    Pkt::new(
        src,
        dst,
        L4::Tcp {
            sport: 40000,
            dport,
            flags,
        },
    )
}

pub(crate) fn udp(src: &str, dst: &str, dport: u16) -> Pkt {
    Pkt::new(
        src,
        dst,
        L4::Udp {
            sport: 40001,
            dport,
        },
    )
}

pub(crate) fn icmp(src: &str, dst: &str) -> Pkt {
    Pkt::new(src, dst, L4::Icmp)
}

/// An ARP request: not IP.
pub(crate) fn arp() -> Vec<u8> {
    let mut f = eth_header(&[], 0x0806);
    f.extend([0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend([
        2, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2,
    ]);
    f
}

fn eth_header(vlans: &[u16], ethertype: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
    for (i, tpid) in vlans.iter().enumerate() {
        f.extend(tpid.to_be_bytes());
        f.extend((100 + i as u16).to_be_bytes());
    }
    f.extend(ethertype.to_be_bytes());
    f
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Pkt {
    pub(crate) fn new(src: &str, dst: &str, l4: L4) -> Pkt {
        Pkt {
            src: ip(src),
            dst: ip(dst),
            l4,
            vlans: Vec::new(),
            ip_option_words: 0,
            ihl_override: None,
            payload: 0,
            frag_offset: 0,
        }
    }

    pub(crate) fn vlan(mut self, tpid: u16) -> Pkt {
        self.vlans.push(tpid);
        self
    }

    pub(crate) fn ip_options(mut self, words: u8) -> Pkt {
        self.ip_option_words = words;
        self
    }

    pub(crate) fn ihl(mut self, ihl: u8) -> Pkt {
        self.ihl_override = Some(ihl);
        self
    }

    /// Makes this IPv4 packet a non-first fragment (its transport bytes are then payload).
    pub(crate) fn fragment(mut self) -> Pkt {
        self.frag_offset = 185;
        self
    }

    pub(crate) fn payload(mut self, len: usize) -> Pkt {
        self.payload = len;
        self
    }

    fn l4_bytes(&self, v6: bool) -> (u8, Vec<u8>) {
        let (proto, mut b) = match self.l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
            } => {
                let mut b = Vec::new();
                b.extend(sport.to_be_bytes());
                b.extend(dport.to_be_bytes());
                b.extend(1u32.to_be_bytes());
                b.extend(if flags & ACK != 0 { 7u32 } else { 0 }.to_be_bytes());
                b.extend([0x50, flags]);
                b.extend(64240u16.to_be_bytes());
                b.extend([0, 0, 0, 0]);
                (6, b)
            }
            L4::Udp { sport, dport } => {
                let mut b = Vec::new();
                b.extend(sport.to_be_bytes());
                b.extend(dport.to_be_bytes());
                b.extend((8 + self.payload as u16).to_be_bytes());
                b.extend([0, 0]);
                (17, b)
            }
            L4::Icmp if v6 => (58, vec![128, 0, 0, 0, 0, 1, 0, 1]),
            L4::Icmp => (1, vec![8, 0, 0, 0, 0, 1, 0, 1]),
            L4::Proto(p) => (p, vec![0xab; 8]),
        };
        b.extend(std::iter::repeat_n(0x5a, self.payload));
        (proto, b)
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let (proto, l4) = self.l4_bytes(false);
                let opts = usize::from(self.ip_option_words) * 4;
                let mut h = vec![
                    0x40 | self.ihl_override.unwrap_or(5 + self.ip_option_words),
                    0,
                ];
                h.extend(((20 + opts + l4.len()) as u16).to_be_bytes());
                h.extend([0x12, 0x34]);
                let flags_frag = if self.frag_offset == 0 {
                    0x4000
                } else {
                    self.frag_offset
                };
                h.extend(flags_frag.to_be_bytes());
                h.extend([64, proto, 0, 0]);
                h.extend(s.octets());
                h.extend(d.octets());
                h.extend(std::iter::repeat_n(0x01, opts));
                let c = checksum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                let mut f = eth_header(&self.vlans, 0x0800);
                f.extend(h);
                f.extend(l4);
                f
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let (proto, l4) = self.l4_bytes(true);
                let mut f = eth_header(&self.vlans, 0x86dd);
                f.extend([0x60, 0, 0, 0]);
                f.extend((l4.len() as u16).to_be_bytes());
                f.extend([proto, 64]);
                f.extend(s.octets());
                f.extend(d.octets());
                f.extend(l4);
                f
            }
            _ => panic!("test packet mixes IPv4 and IPv6"),
        }
    }
}

/// Loads a fresh filter (its own maps) with small maps and an event budget no test exhausts
/// unless it means to.
pub(crate) fn load() -> XdpFilter {
    load_with(LoadOptions {
        blocklist_max_entries: 256,
        ring_buffer_size: 64 * 1024,
        pin_path: None,
        events_per_second: 1_000_000,
        events_burst: 1_000_000,
    })
}

pub(crate) fn load_with(opts: LoadOptions) -> XdpFilter {
    match XdpFilter::load(&opts) {
        Ok(f) => f,
        // Print the whole chain: a verifier rejection carries the kernel's log.
        Err(e) => panic!(
            "loading the XDP program failed (root/CAP_BPF needed): {}",
            chain(&e)
        ),
    }
}

pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A bpffs mounted on a temporary directory, unmounted on drop.
pub(crate) struct BpfFs {
    dir: tempfile::TempDir,
}

impl BpfFs {
    pub(crate) fn mount() -> BpfFs {
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

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        // Unmounting discards the pins (and so the maps, once no program holds them).
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Moves the calling test thread into a new, empty network namespace (only `lo`, down).
#[allow(unsafe_code)]
pub(crate) fn private_netns() {
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

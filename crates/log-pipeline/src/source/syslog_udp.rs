//! `syslog_udp`: one syslog message per datagram. The socket's receive buffer is configurable
//! (`SO_RCVBUF`); what the kernel drops when it overflows is read from `/proc/net/udp{,6}` (the
//! socket's `drops` column, matched by inode) every second and added to
//! `ironpost_log_source_dropped_total{source="syslog_udp"}`. Each message keeps its datagram's
//! source address (`sender_ip`), which `trusted_senders` is checked against.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::{Batch, MAX_LINE, SourceMetrics};

const NAME: &str = "syslog_udp";
/// Datagrams gathered into one batch at most (after the first, without waiting).
const BATCH_DATAGRAMS: usize = 512;

/// A bound UDP syslog receiver.
#[derive(Debug)]
pub struct SyslogUdp {
    socket: UdpSocket,
    local: SocketAddr,
    inode: Option<u64>,
}

impl SyslogUdp {
    /// Binds `addr` (port 0 picks one; see [`SyslogUdp::local_addr`]) with an optional receive
    /// buffer size in bytes. Must be called inside a tokio runtime.
    pub fn bind(addr: SocketAddr, rcvbuf: Option<usize>) -> std::io::Result<Self> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if let Some(size) = rcvbuf {
            socket.set_recv_buffer_size(size)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        let std_socket: std::net::UdpSocket = socket.into();
        let inode = socket_inode(&std_socket);
        let socket = UdpSocket::from_std(std_socket)?;
        let local = socket.local_addr()?;
        Ok(SyslogUdp {
            socket,
            local,
            inode,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Receives until `stop` turns true, sending batches to `out`.
    pub async fn run(
        self,
        out: mpsc::Sender<Batch>,
        metrics: SourceMetrics,
        mut stop: watch::Receiver<bool>,
    ) {
        let origin: Arc<str> = Arc::from(format!("udp:{}", self.local));
        let mut buf = vec![0u8; MAX_LINE + 1];
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_drops = self.inode.and_then(kernel_drops).unwrap_or(0);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => {
                    if let Some(d) = self.inode.and_then(kernel_drops) {
                        metrics.dropped.with_label_values(&[NAME]).inc_by(d.saturating_sub(last_drops));
                        last_drops = d;
                    }
                }
                r = self.socket.recv_from(&mut buf) => {
                    let mut batch = Batch::new(NAME, origin.clone());
                    match r {
                        Ok((n, from)) => push(&mut batch, &buf[..n], from, &metrics),
                        Err(_) => {
                            metrics.errors.with_label_values(&[NAME]).inc();
                            continue;
                        }
                    }
                    while batch.len() < BATCH_DATAGRAMS {
                        match self.socket.try_recv_from(&mut buf) {
                            Ok((n, from)) => push(&mut batch, &buf[..n], from, &metrics),
                            Err(_) => break,
                        }
                    }
                    if batch.is_empty() {
                        continue;
                    }
                    metrics.count(&batch);
                    if out.send(batch).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn push(batch: &mut Batch, datagram: &[u8], from: SocketAddr, metrics: &SourceMetrics) {
    let mut d = datagram;
    if d.len() > MAX_LINE {
        metrics.truncated.with_label_values(&[NAME]).inc();
        d = &d[..MAX_LINE];
    }
    while let [rest @ .., b'\n' | b'\r' | 0] = d {
        d = rest;
    }
    if !d.is_empty() {
        batch.push_from(d, from.ip());
    }
}

/// The socket's inode, which `/proc/net/udp` lists it by.
fn socket_inode(s: &std::net::UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{}", s.as_raw_fd()))
        .ok()
        .map(|m| m.ino())
}

/// The kernel's drop counter for the socket with `inode`, from `/proc/net/udp` or `udp6`.
pub fn kernel_drops(inode: u64) -> Option<u64> {
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        if let Some(d) = drops_in(&text, inode) {
            return Some(d);
        }
    }
    None
}

/// Parses a `/proc/net/udp` table: column 10 is the inode, the last column the drops.
fn drops_in(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        (cols.get(9)?.parse::<u64>().ok()? == inode).then(|| cols.last()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_drops_column_by_inode() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  1: 0100007F:14B2 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
  2: 0100007F:14B3 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 999 2 0000000000000000 0\n";
        assert_eq!(drops_in(table, 4242), Some(17));
        assert_eq!(drops_in(table, 999), Some(0));
        assert_eq!(drops_in(table, 1), None);
    }

    #[tokio::test]
    async fn own_socket_is_found_in_proc() {
        let s = SyslogUdp::bind("127.0.0.1:0".parse().unwrap(), Some(1 << 20)).unwrap();
        assert_eq!(s.inode.and_then(kernel_drops), Some(0));
    }
}

//! Slot limits of the TCP syslog listener on real loopback sockets, under tokio's paused clock:
//! the per-peer cap, the header timeout against a silent and a trickling peer, the idle timeout.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ironpost_core::metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};

use super::*;

const HEADER: Duration = Duration::from_secs(10);
const IDLE: Duration = Duration::from_secs(300);

struct Harness {
    addr: SocketAddr,
    closed: ClosedCounts,
    registry: prometheus::Registry,
    rx: mpsc::Receiver<Batch>,
    _stop: watch::Sender<bool>,
}

async fn start(max: usize, per_peer: usize) -> Harness {
    let registry = metrics::new_registry();
    let src = SyslogTcp::bind("127.0.0.1:0".parse().unwrap(), max, IDLE)
        .await
        .unwrap()
        .with_limits(per_peer, HEADER, Some(TcpLimitMetrics::new(&registry)));
    let addr = src.local_addr().unwrap();
    let closed = src.closed();
    let (tx, rx) = mpsc::channel(64);
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(src.run(tx, SourceMetrics::new(&registry), stop));
    Harness {
        addr,
        closed,
        registry,
        rx,
        _stop: stop_tx,
    }
}

/// A connection from `from` (any loopback address) to the listener.
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    s.connect(to).await.unwrap()
}

/// True when the server closed `s`: EOF or reset. Waits at most `within` of (paused) time.
async fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    let mut b = [0u8; 16];
    match tokio::time::timeout(within, s.read(&mut b)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

async fn next_line(rx: &mut mpsc::Receiver<Batch>) -> String {
    let b = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("a batch")
        .expect("the source runs");
    String::from_utf8_lossy(b.lines().next().unwrap()).into_owned()
}

fn closed_metric(h: &Harness, reason: &str) -> u64 {
    let text = metrics::render(&h.registry);
    let needle = format!("ironpost_log_syslog_tcp_closed_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(needle.as_str()))
        .unwrap_or_else(|| panic!("{needle} not in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_peer_over_its_cap_is_closed_and_counted_while_others_are_served() {
    let mut h = start(8, 2).await;
    let local = Ipv4Addr::new(127, 0, 0, 1);
    let mut kept = Vec::new();
    for _ in 0..2 {
        kept.push(connect_from(local, h.addr).await);
    }
    // Let the listener account for both before the extra ones arrive.
    tokio::task::yield_now().await;
    let mut extra = Vec::new();
    for _ in 0..3 {
        extra.push(connect_from(local, h.addr).await);
    }
    for s in &mut extra {
        assert!(closed_by_server(s, Duration::from_secs(5)).await);
    }
    assert_eq!(h.closed.get(CloseReason::PeerLimit), 3);
    assert_eq!(closed_metric(&h, "peer_limit"), 3);
    // The two within the cap still work.
    for (i, s) in kept.iter_mut().enumerate() {
        s.write_all(format!("<13>kept {i}\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(next_line(&mut h.rx).await, format!("<13>kept {i}"));
    }
    // Another address is not affected by this one's cap.
    let mut other = connect_from(Ipv4Addr::new(127, 0, 0, 2), h.addr).await;
    other.write_all(b"<13>other\n").await.unwrap();
    assert_eq!(next_line(&mut h.rx).await, "<13>other");
    // A slot given back is usable again by the same peer.
    drop(kept.pop());
    let mut again = None;
    for _ in 0..50 {
        let mut s = connect_from(local, h.addr).await;
        s.write_all(b"<13>again\n").await.unwrap();
        if !closed_by_server(&mut s, Duration::from_millis(100)).await {
            again = Some(s);
            break;
        }
    }
    assert!(again.is_some(), "the freed slot was never given back");
    assert_eq!(next_line(&mut h.rx).await, "<13>again");
    assert_eq!(h.closed.get(CloseReason::MaxConnections), 0);
}

#[tokio::test(start_paused = true)]
async fn silent_and_trickling_peers_are_closed_at_the_header_timeout() {
    let mut h = start(8, 4).await;
    let local = Ipv4Addr::new(127, 0, 0, 1);
    let mut silent = connect_from(local, h.addr).await;
    let mut trickle = connect_from(local, h.addr).await;
    let mut good = connect_from(Ipv4Addr::new(127, 0, 0, 3), h.addr).await;
    // One byte a second, never a complete line: the deadline does not move.
    let trickler = tokio::spawn(async move {
        let mut sent = 0;
        for b in b"<13>slowloris that never ends".iter().cycle() {
            if trickle.write_all(&[*b]).await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
            if sent > 60 {
                break;
            }
        }
        (trickle, sent)
    });
    good.write_all(b"<13>served\n").await.unwrap();
    assert_eq!(next_line(&mut h.rx).await, "<13>served");
    assert!(closed_by_server(&mut silent, HEADER + Duration::from_secs(2)).await);
    let (mut trickle, sent) = trickler.await.unwrap();
    assert!(
        sent <= HEADER.as_secs() + 2,
        "the trickling peer kept writing {sent} bytes"
    );
    assert!(closed_by_server(&mut trickle, Duration::from_secs(1)).await);
    assert_eq!(h.closed.get(CloseReason::HeaderTimeout), 2);
    assert_eq!(closed_metric(&h, "header_timeout"), 2);
    // The peer that sent a message is held to the idle timeout, not the header one.
    tokio::time::sleep(HEADER * 3).await;
    good.write_all(b"<13>still here\n").await.unwrap();
    assert_eq!(next_line(&mut h.rx).await, "<13>still here");
    assert!(closed_by_server(&mut good, IDLE + Duration::from_secs(2)).await);
    assert_eq!(h.closed.get(CloseReason::IdleTimeout), 1);
}

#[tokio::test(start_paused = true)]
async fn the_global_cap_still_applies() {
    let h = start(2, 2).await;
    let mut conns = Vec::new();
    for i in 0..2 {
        conns.push(connect_from(Ipv4Addr::new(127, 0, 0, 10 + i), h.addr).await);
    }
    tokio::task::yield_now().await;
    let mut third = connect_from(Ipv4Addr::new(127, 0, 0, 20), h.addr).await;
    assert!(closed_by_server(&mut third, Duration::from_secs(5)).await);
    assert_eq!(h.closed.get(CloseReason::MaxConnections), 1);
    assert_eq!(h.closed.get(CloseReason::PeerLimit), 0);
    assert_eq!(closed_metric(&h, "max_connections"), 1);
}

//! Protected peers: the socket table format (IPv4, IPv6, v4-mapped, against samples and the
//! running kernel), resolv.conf and NTP configuration parsing, hostile lines, the TTL and the
//! decision-time refresh.

use std::io::Write;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const TCP4: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 19418 1 0000000000000000 100 0 0 10 0
   1: 020712C6:0016 010712C6:D431 01 00000000:00000000 02:0009A3C5 00000000     0        0 42424 2 0000000000000000 20 4 30 10 -1
   2: 020712C6:0016 090712C6:D432 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   3: 020712C6:0050 0A0B0C0D:8000 01 00000000:00000000 02:0009A3C5 00000000     0        0 42425 2 0000000000000000 20 4 30 10 -1
";

const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 19420 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF0000020712C6:0016 0000000000000000FFFF0000050712C6:C350 01 00000000:00000000 02:00000000 00000000     0        0 5 1 0000000000000000 20 4 30 10 -1
   2: B80D0120000000000000000002000000:0016 B80D0120000000000000000001000000:E000 01 00000000:00000000 02:00000000 00000000     0        0 6 1 0000000000000000 20 4 30 10 -1
";

#[test]
fn proc_addresses_are_little_endian_per_word() {
    let cases = [
        ("0100007F:0016", Some(("127.0.0.1", 22))),
        ("020712C6:D431", Some(("198.18.7.2", 0xD431))),
        ("0A0B0C0D:0050", Some(("13.12.11.10", 80))),
        (
            "B80D0120000000000000000001000000:E000",
            Some(("2001:db8::1", 0xE000)),
        ),
        // IPv4-mapped IPv6 comes back as IPv4, the form alerts carry.
        (
            "0000000000000000FFFF0000050712C6:C350",
            Some(("198.18.7.5", 50_000)),
        ),
        ("00000000000000000000000001000000:0001", Some(("::1", 1))),
        ("0100007F", None),
        ("0100007:0016", None),
        ("0100007G:0016", None),
        ("+100007F:0016", None),
        ("0100007F:10000", None),
        ("B80D012000000000000000000100000:E000", None),
        ("", None),
    ];
    for (field, want) in cases {
        let got = parse_proc_addr(field);
        let want = want.map(|(a, p)| (ip(a), p));
        assert_eq!(got, want, "{field}");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn files(dir: &Path) -> PeerFiles {
    PeerFiles {
        tcp: vec![dir.join("tcp"), dir.join("tcp6")],
        udp: vec![dir.join("udp")],
        resolv_conf: dir.join("resolv.conf"),
        ntp: vec![
            (dir.join("chrony.conf"), NtpSyntax::ServerLines),
            (dir.join("timesyncd.conf"), NtpSyntax::Timesyncd),
        ],
        ntp_dirs: vec![dir.join("sources.d")],
    }
}

#[test]
fn established_peers_from_both_tables_only_in_state_established() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tcp", TCP4);
    write(dir.path(), "tcp6", TCP6);
    let mut p = Peers::new(files(dir.path()), Duration::from_secs(60), Vec::new());
    let t0 = Instant::now();
    p.refresh_sockets(t0);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    for (addr, want) in [
        ("198.18.7.1", true),
        ("13.12.11.10", true),
        ("198.18.7.5", true),
        ("::ffff:198.18.7.5", true),
        ("2001:db8::1", true),
        // TIME_WAIT, listeners, loopback and unknown addresses are not peers.
        ("198.18.7.9", false),
        ("127.0.0.1", false),
        ("0.0.0.0", false),
        ("198.18.7.3", false),
    ] {
        assert_eq!(p.protects(&ip(addr), t0).is_some(), want, "{addr}");
    }
    assert_eq!(p.learned_len(), 4);
}

#[test]
fn peers_are_remembered_for_the_ttl_after_the_connection_ends() {
    let dir = tempfile::tempdir().unwrap();
    let tcp = write(dir.path(), "tcp", TCP4);
    let mut p = Peers::new(files(dir.path()), Duration::from_secs(60), Vec::new());
    let t0 = Instant::now();
    p.refresh_sockets(t0);
    // The connection closes: the header alone remains.
    std::fs::write(&tcp, TCP4.lines().next().unwrap()).unwrap();
    let peer = ip("198.18.7.1");
    p.refresh_sockets(t0 + Duration::from_secs(30));
    assert_eq!(
        p.protects(&peer, t0 + Duration::from_secs(59)),
        Some("established TCP peer")
    );
    p.refresh_sockets(t0 + Duration::from_secs(61));
    assert_eq!(p.protects(&peer, t0 + Duration::from_secs(61)), None);
}

#[test]
fn an_unknown_address_triggers_a_fresh_read_at_decision_time() {
    let dir = tempfile::tempdir().unwrap();
    let tcp = write(dir.path(), "tcp", TCP4.lines().next().unwrap());
    let mut p = Peers::new(files(dir.path()), Duration::from_secs(60), Vec::new());
    let t0 = Instant::now();
    p.refresh_sockets(t0);
    // A connection opens after the last poll.
    std::fs::write(&tcp, TCP4).unwrap();
    let peer = ip("198.18.7.1");
    // Within MIN_REFRESH of the last read: not re-read yet.
    assert_eq!(p.protects(&peer, t0 + MIN_REFRESH / 2), None);
    assert_eq!(
        p.protects(&peer, t0 + MIN_REFRESH),
        Some("established TCP peer")
    );
}

#[test]
fn connected_udp_sockets_to_dns_and_ntp_ports_are_servers_in_use() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "udp",
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 020712C6:A001 0B0712C6:007B 01 00000000:00000000 00:00000000 00000000   104        0 1 2 0000000000000000 0
  101: 020712C6:A002 0C0712C6:0035 01 00000000:00000000 00:00000000 00000000   104        0 2 2 0000000000000000 0
  102: 020712C6:A003 0D0712C6:1F90 01 00000000:00000000 00:00000000 00000000   104        0 3 2 0000000000000000 0
  103: 00000000:007B 00000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 4 2 0000000000000000 0
",
    );
    let mut p = Peers::new(files(dir.path()), Duration::from_secs(60), Vec::new());
    let t0 = Instant::now();
    p.refresh_sockets(t0);
    assert!(p.protects(&ip("198.18.7.11"), t0).is_some(), "NTP");
    assert!(p.protects(&ip("198.18.7.12"), t0).is_some(), "DNS");
    assert!(
        p.protects(&ip("198.18.7.13"), t0).is_none(),
        "other UDP port"
    );
}

#[test]
fn hostile_socket_table_lines_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let long = "9".repeat(100_000);
    write(
        dir.path(),
        "tcp",
        &format!(
            "{TCP4}garbage line\n   9: 020712C6:0016\n{long}\n\u{fffd}\u{0}\n   4: 020712C6:0016 030712C6:0001 01 0\n"
        ),
    );
    let mut p = Peers::new(files(dir.path()), Duration::from_secs(60), Vec::new());
    let t0 = Instant::now();
    p.refresh_sockets(t0);
    assert_eq!(p.errors.len(), 4, "{:?}", p.errors);
    assert!(p.errors.iter().all(|e| e.source == "proc_net"));
    assert_eq!(p.errors[0].line, 6);
    assert!(p.errors[0].to_string().contains("tcp:6"), "{}", p.errors[0]);
    // Lines after the damage still count.
    assert!(p.protects(&ip("198.18.7.3"), t0).is_some());
    assert!(p.protects(&ip("198.18.7.1"), t0).is_some());
}

#[test]
fn the_running_kernels_table_shows_a_real_connection() {
    // Loopback is never a learned peer (it is never blocked at all), so this reads the table
    // itself: the connection's remote address and port, as the kernel prints them.
    for (bind, path) in [
        ("127.0.0.1:0", "/proc/net/tcp"),
        ("[::1]:0", "/proc/net/tcp6"),
    ] {
        let Ok(listener) = std::net::TcpListener::bind(bind) else {
            assert!(bind.contains("::1"), "cannot bind {bind}");
            continue; // no IPv6 loopback in this namespace
        };
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let mut errors = Vec::new();
        let found = lines(Path::new(path), MAX_PROC_BYTES, "proc_net", &mut errors)
            .iter()
            .skip(1)
            .filter_map(|l| parse_proc_line(l))
            .any(|(ip, port, st)| ip == addr.ip() && port == addr.port() && st == TCP_ESTABLISHED);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(
            found,
            "{path} has the client's ESTABLISHED socket to {addr}"
        );
        drop(client);
    }
}

#[test]
fn resolvers_ntp_servers_and_names_from_the_host_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "resolv.conf",
        "# generated\nsearch example.org\nnameserver 198.18.53.1\nnameserver fe80::53%eth0\n; nameserver 198.18.53.9\nnameserver not-an-ip\noptions edns0\n",
    );
    write(
        dir.path(),
        "chrony.conf",
        "pool 2.debian.pool.ntp.org iburst\nserver 198.18.123.1 iburst # lan\n#server 198.18.123.9\npeer [2001:db8::123]\nserver\nsourcedir /run/chrony-dhcp\nserver bad_name!\n",
    );
    std::fs::create_dir(dir.path().join("sources.d")).unwrap();
    write(
        &dir.path().join("sources.d"),
        "local.sources",
        "server 198.18.123.2 iburst\n",
    );
    write(
        &dir.path().join("sources.d"),
        "ignored.txt",
        "server 198.18.123.3\n",
    );
    write(
        dir.path(),
        "timesyncd.conf",
        "[Time]\nNTP=198.18.123.4 time.example.org\nFallbackNTP=198.18.123.5\n#NTP=198.18.123.6\n",
    );
    let mut errors = Vec::new();
    let hs = read_host_servers(&files(dir.path()), &mut errors);
    assert_eq!(hs.resolvers, [ip("198.18.53.1"), ip("fe80::53")]);
    let mut ntp = hs.ntp.clone();
    ntp.sort();
    let mut want: Vec<IpAddr> = [
        "198.18.123.1",
        "198.18.123.2",
        "198.18.123.4",
        "198.18.123.5",
        "2001:db8::123",
    ]
    .iter()
    .map(|s| ip(s))
    .collect();
    want.sort();
    assert_eq!(ntp, want);
    assert_eq!(hs.ntp_names, ["2.debian.pool.ntp.org", "time.example.org"]);
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{lines:?}");
    assert!(lines[0].ends_with("resolv.conf:6: nameserver without a valid IP address"));
    assert!(lines[1].ends_with("chrony.conf:5: server line without an address"));
    assert!(lines[2].contains("chrony.conf:7: `bad_name!`"));

    let mut p = Peers::new(
        files(dir.path()),
        Duration::from_secs(60),
        vec!["198.18.200.0/24".parse().unwrap()],
    );
    let names = p.refresh_servers();
    assert_eq!(names.len(), 2);
    let now = Instant::now();
    assert_eq!(p.protects(&ip("198.18.53.1"), now), Some("DNS resolver"));
    assert_eq!(p.protects(&ip("198.18.123.5"), now), Some("NTP server"));
    assert_eq!(p.protects(&ip("198.18.200.7"), now), Some("infrastructure"));
    assert_eq!(p.protects(&ip("198.18.201.7"), now), None);
    p.set_resolved(vec![ip("198.18.124.1")]);
    assert!(p.protects(&ip("198.18.124.1"), now).is_some());
}

#[test]
fn missing_files_are_empty_and_unreadable_ones_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut errors = Vec::new();
    let hs = read_host_servers(&files(dir.path()), &mut errors);
    assert_eq!(hs, HostServers::default());
    assert!(errors.is_empty());
    // A directory where a file should be.
    std::fs::create_dir(dir.path().join("resolv.conf")).unwrap();
    read_host_servers(&files(dir.path()), &mut errors);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].source, "resolv_conf");
}

#[test]
fn file_reads_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resolv.conf");
    let mut f = std::fs::File::create(&path).unwrap();
    // Past MAX_FILE_BYTES: the nameserver at the end is not read.
    let filler = "# x\n".repeat(usize::try_from(MAX_FILE_BYTES).unwrap() / 4 + 1);
    f.write_all(filler.as_bytes()).unwrap();
    f.write_all(b"nameserver 198.18.53.2\n").unwrap();
    drop(f);
    let mut errors = Vec::new();
    let hs = read_host_servers(&files(dir.path()), &mut errors);
    assert!(hs.resolvers.is_empty());
}

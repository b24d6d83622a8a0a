//! RFC 3164 table: auth.log lines as on disk, with PRI, without hostname, with a year, the ISO
//! timestamps rsyslog writes, tags of every shape, impossible dates and lines that are not
//! syslog at all. Received 2026-12-01T00:00:00Z in UTC, so `Nov 10` is 2026 and `Jan 2` 2026.

use ironpost_log_pipeline::parse::{Format, ParseContext, parse};

use super::{check_table, iso};

#[test]
fn rfc3164_table() {
    check_table(
        "rfc3164",
        &[
            // /var/log/auth.log (no PRI) and the same with the wire PRI.
            (
                b"Nov 10 06:55:46 sshgw sshd[24200]: Failed password for root from 1.2.3.4 port 4242 ssh2",
                r#"rfc3164 ts=2026-11-10T06:55:46Z host=sshgw app=sshd pid=24200 msg="Failed password for root from 1.2.3.4 port 4242 ssh2" auth{ip=1.2.3.4 port=4242 user="root" out=failure}"#,
            ),
            (
                b"<38>Nov 10 06:55:46 sshgw sshd[24200]: Connection closed by 1.2.3.4 [preauth]",
                r#"rfc3164 ts=2026-11-10T06:55:46Z fac=auth sev=info host=sshgw app=sshd pid=24200 msg="Connection closed by 1.2.3.4 [preauth]" auth{ip=1.2.3.4 out=disconnect}"#,
            ),
            // RFC 3164 §5.4 examples: without hostname, with an IP as hostname and no tag.
            (
                b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
                r#"rfc3164 ts=2026-10-11T22:14:15Z fac=auth sev=crit host=mymachine app=su msg="'su root' failed for lonvick on /dev/pts/8""#,
            ),
            (
                b"<34>Oct 11 22:14:15 su: 'su root' failed for lonvick on /dev/pts/8",
                r#"rfc3164 ts=2026-10-11T22:14:15Z fac=auth sev=crit app=su msg="'su root' failed for lonvick on /dev/pts/8""#,
            ),
            (
                b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
                r#"rfc3164 ts=2026-02-05T17:32:18Z fac=user sev=notice host=10.0.0.99 msg="Use the BFG!""#,
            ),
            (
                b"<34>Oct 11 22:14:15 sshd[7]: Invalid user admin from 2001:db8::2",
                r#"rfc3164 ts=2026-10-11T22:14:15Z fac=auth sev=crit app=sshd pid=7 msg="Invalid user admin from 2001:db8::2" auth{ip=2001:db8::2 user="admin" out=invalid_user}"#,
            ),
            // Day padding: space, zero, none; lowercase month; fraction.
            (b"Nov  3 01:02:03 h a: m", r#"rfc3164 ts=2026-11-03T01:02:03Z host=h app=a msg="m""#),
            (b"Nov 03 01:02:03 h a: m", r#"rfc3164 ts=2026-11-03T01:02:03Z host=h app=a msg="m""#),
            (b"Nov 3 01:02:03 h a: m", r#"rfc3164 ts=2026-11-03T01:02:03Z host=h app=a msg="m""#),
            (b"nov 10 06:55:46 h a: m", r#"rfc3164 ts=2026-11-10T06:55:46Z host=h app=a msg="m""#),
            (b"Nov 10 06:55:46.250 h a: m", r#"rfc3164 ts=2026-11-10T06:55:46.250Z host=h app=a msg="m""#),
            // With a year, and the ISO forms rsyslog and journald write.
            (b"Nov 23 2025 00:28:48 h a: m", r#"rfc3164 ts=2025-11-23T00:28:48Z host=h app=a msg="m""#),
            (
                b"2026-11-23T00:28:48.123456+00:00 host sshd[1]: msg",
                r#"rfc3164 ts=2026-11-23T00:28:48.123456Z host=host app=sshd pid=1 msg="msg""#,
            ),
            (
                b"2026-11-23T01:28:48+0100 host sshd[1]: msg",
                r#"rfc3164 ts=2026-11-23T00:28:48Z host=host app=sshd pid=1 msg="msg""#,
            ),
            (
                b"<86>2026-11-23T00:28:48Z host sudo: m",
                r#"rfc3164 ts=2026-11-23T00:28:48Z fac=authpriv sev=info host=host app=sudo msg="m""#,
            ),
            // Year inference at the edges: at most 31 days in the future.
            (b"Dec 31 23:59:59 h a: m", r#"rfc3164 ts=2026-12-31T23:59:59Z host=h app=a msg="m""#),
            (b"Jan  1 00:00:00 h a: m", r#"rfc3164 ts=2027-01-01T00:00:00Z host=h app=a msg="m""#),
            (b"Jan  2 00:00:00 h a: m", r#"rfc3164 ts=2026-01-02T00:00:00Z host=h app=a msg="m""#),
            (b"Feb 29 00:00:00 h a: m", r#"rfc3164 host=h app=a msg="m" !ts"#),
            (b"Feb 29 2028 00:00:00 h a: m", r#"rfc3164 ts=2028-02-29T00:00:00Z host=h app=a msg="m""#),
            // Impossible values: the header is still read.
            (b"Feb 30 10:00:00 h a: m", r#"rfc3164 host=h app=a msg="m" !ts"#),
            (b"Nov 10 25:00:00 h a: m", r#"rfc3164 host=h app=a msg="m" !ts"#),
            (b"Nov 40 10:00:00 h a: m", r#"rfc3164 host=h app=a msg="m" !ts"#),
            // Tags: dots, dashes, slashes, no PID, a PID that is not a number, too long.
            (
                b"Nov 10 06:55:46 mx postfix/smtpd[123]: connect from unknown[1.2.3.4]",
                r#"rfc3164 ts=2026-11-10T06:55:46Z host=mx app=postfix/smtpd pid=123 msg="connect from unknown[1.2.3.4]""#,
            ),
            (
                b"Nov 10 06:55:46 ws org.gnome.Shell.desktop[2]: x",
                r#"rfc3164 ts=2026-11-10T06:55:46Z host=ws app=org.gnome.Shell.desktop pid=2 msg="x""#,
            ),
            (
                b"Nov 10 06:55:46 h systemd-logind[1]: New session 3 of user alice.",
                r#"rfc3164 ts=2026-11-10T06:55:46Z host=h app=systemd-logind pid=1 msg="New session 3 of user alice.""#,
            ),
            (
                b"Nov 10 06:55:46 h kernel: [ 1.23] eth0: link up",
                r#"rfc3164 ts=2026-11-10T06:55:46Z host=h app=kernel msg="[ 1.23] eth0: link up""#,
            ),
            (b"Nov 10 06:55:46 h app[abc]: m", r#"rfc3164 ts=2026-11-10T06:55:46Z host=h app=app msg="m""#),
            (
                b"Nov 10 06:55:46 h aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: m",
                r#"rfc3164 ts=2026-11-10T06:55:46Z host=h msg="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: m""#,
            ),
            // Missing parts: no message, no tag, only a host, only a timestamp.
            (b"Nov 10 06:55:46 h sshd[1]:", r#"rfc3164 ts=2026-11-10T06:55:46Z host=h app=sshd pid=1 msg="""#),
            (b"Nov 10 06:55:46 host just text", r#"rfc3164 ts=2026-11-10T06:55:46Z host=host msg="just text""#),
            (b"Nov 10 06:55:46 host", r#"rfc3164 ts=2026-11-10T06:55:46Z host=host msg="""#),
            (b"Nov 10 06:55:46", r#"rfc3164 ts=2026-11-10T06:55:46Z msg="""#),
            // PRI without a timestamp: RFC 3164 §4.3.3, the rest is tag and content.
            (b"<13>", r#"rfc3164 fac=user sev=notice msg="""#),
            (b"<13>hello world", r#"rfc3164 fac=user sev=notice msg="hello world""#),
            (b"<13>sshd[12]: hi", r#"rfc3164 fac=user sev=notice app=sshd pid=12 msg="hi""#),
            // Line endings, leading blanks, NUL terminators.
            (b"Nov 10 06:55:46 h a: m\r\n", r#"rfc3164 ts=2026-11-10T06:55:46Z host=h app=a msg="m""#),
            (b"  Nov 10 06:55:46 h a: m\0", r#"rfc3164 ts=2026-11-10T06:55:46Z host=h app=a msg="m""#),
            // Invalid UTF-8 in the message, and in the host position (then not a host).
            (
                b"Nov 10 06:55:46 h a: caf\xE9",
                "rfc3164 ts=2026-11-10T06:55:46Z host=h app=a msg=\"caf\u{fffd}\" !utf8",
            ),
            (
                b"Nov 10 06:55:46 h\xFF a: m",
                "rfc3164 ts=2026-11-10T06:55:46Z msg=\"h\u{fffd} a: m\" !utf8",
            ),
            // Not syslog.
            (b"Foo 10 06:55:46 h a: m", r#"raw msg="Foo 10 06:55:46 h a: m""#),
            (b"Nov 10 06:55", r#"raw msg="Nov 10 06:55""#),
            (b"Nov 10 06:55:46x h a: m", r#"raw msg="Nov 10 06:55:46x h a: m""#),
            (b"2026-11-23 host app: m", r#"raw msg="2026-11-23 host app: m""#),
            (b"just a line", r#"raw msg="just a line""#),
            (b"", r#"raw msg="""#),
            (b"\xFF\xFE", "raw msg=\"\u{fffd}\u{fffd}\" !utf8"),
        ],
    );
}

#[test]
fn local_offset_applies_to_timestamps_without_one() {
    // UTC+2: 06:55:46 local is 04:55:46Z; an ISO timestamp with its own offset ignores ours.
    let ctx = ParseContext::new(super::RECEIVED, 7200);
    let rec = parse(b"Nov 10 06:55:46 h a: m", &ctx);
    assert_eq!(
        rec.timestamp_micros.map(iso).as_deref(),
        Some("2026-11-10T04:55:46Z")
    );
    let rec = parse(b"2026-11-10T06:55:46Z h a: m", &ctx);
    assert_eq!(
        rec.timestamp_micros.map(iso).as_deref(),
        Some("2026-11-10T06:55:46Z")
    );
    let rec = parse(b"2026-11-10T06:55:46 h a: m", &ctx);
    assert_eq!(
        rec.timestamp_micros.map(iso).as_deref(),
        Some("2026-11-10T04:55:46Z")
    );
}

#[test]
fn year_is_chosen_relative_to_the_receive_time() {
    // (received, line timestamp, expected year)
    let cases = [
        // A December line read in early January belongs to the previous year.
        (
            1_798_848_000_000_000,
            "Dec 31 23:59:59",
            "2026-12-31T23:59:59Z",
        ), // received 2027-01-02
        // A January line received late December (sender clock ahead) belongs to the next year.
        (
            1_798_761_600_000_000,
            "Jan  1 00:00:05",
            "2027-01-01T00:00:05Z",
        ), // received 2027-01-01
        (
            1_798_675_200_000_000,
            "Jan  1 00:00:05",
            "2027-01-01T00:00:05Z",
        ), // received 2026-12-31
        // Mid-year: anything more than a month ahead is last year's.
        (
            1_782_864_000_000_000,
            "Jul 30 00:00:00",
            "2026-07-30T00:00:00Z",
        ), // received 2026-07-01
        (
            1_782_864_000_000_000,
            "Aug  2 00:00:00",
            "2025-08-02T00:00:00Z",
        ),
    ];
    for (received, stamp, expected) in cases {
        let ctx = ParseContext::new(received, 0);
        let line = format!("{stamp} h a: m");
        let rec = parse(line.as_bytes(), &ctx);
        assert_eq!(rec.format, Format::Rfc3164);
        assert_eq!(
            rec.timestamp_micros.map(iso).as_deref(),
            Some(expected),
            "{stamp} received {}",
            iso(received)
        );
    }
}

#[test]
fn records_without_timestamp_fall_back_to_the_receive_time() {
    let ctx = super::ctx();
    let rec = parse(b"<13>hello", &ctx);
    assert_eq!(rec.timestamp_micros, None);
    assert_eq!(rec.time_micros(), super::RECEIVED);
    let rec = parse(b"Nov 10 06:55:46 h a: m", &ctx);
    assert_ne!(rec.time_micros(), super::RECEIVED);
}

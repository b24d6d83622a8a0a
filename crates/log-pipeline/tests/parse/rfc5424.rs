//! RFC 5424 table: the RFC's own examples, the generator's lines, NILVALUEs, escapes, BOM, and
//! malformed headers and structured data.

use ironpost_log_pipeline::parse::{Format, MAX_STRUCTURED, parse};

use super::{check_table, ctx};

#[test]
fn rfc5424_table() {
    check_table(
        "rfc5424",
        &[
            // RFC 5424 §6.5 examples 1-4.
            (
                b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8",
                r#"rfc5424 ts=2003-10-11T22:14:15.003Z fac=auth sev=crit host=mymachine.example.com app=su msgid=ID47 msg="'su root' failed for lonvick on /dev/pts/8""#,
            ),
            (
                b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
                r#"rfc5424 ts=2003-08-24T12:14:15.000003Z fac=local4 sev=notice host=192.0.2.1 app=myproc pid=8710 msg="%% It's time to make the do-nuts.""#,
            ),
            (
                b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \xEF\xBB\xBFAn application event log entry...",
                r#"rfc5424 ts=2003-10-11T22:14:15.003Z fac=local4 sev=notice host=mymachine.example.com app=evntslog msgid=ID47 msg="An application event log entry..." sd[exampleSDID@32473.iut="3" exampleSDID@32473.eventSource="Application" exampleSDID@32473.eventID="1011"]"#,
            ),
            (
                b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]",
                r#"rfc5424 ts=2003-10-11T22:14:15.003Z fac=local4 sev=notice host=mymachine.example.com app=evntslog msgid=ID47 msg="" sd[exampleSDID@32473.iut="3" exampleSDID@32473.eventSource="Application" exampleSDID@32473.eventID="1011" examplePriority@32473.class="high"]"#,
            ),
            // The generator's rendering, with and without the SD element.
            (
                b"<38>1 2026-11-10T06:55:46Z sshgw sshd 24200 - [meta source_ip=\"1.2.3.4\"] Failed password for root from 1.2.3.4 port 4242 ssh2",
                r#"rfc5424 ts=2026-11-10T06:55:46Z fac=auth sev=info host=sshgw app=sshd pid=24200 msg="Failed password for root from 1.2.3.4 port 4242 ssh2" sd[meta.source_ip="1.2.3.4"] auth{ip=1.2.3.4 port=4242 user="root" out=failure}"#,
            ),
            (
                b"<86>1 2026-11-10T06:55:47Z sshgw sshd 24200 - - pam_unix(sshd:auth): check pass; user unknown",
                r#"rfc5424 ts=2026-11-10T06:55:47Z fac=authpriv sev=info host=sshgw app=sshd pid=24200 msg="pam_unix(sshd:auth): check pass; user unknown""#,
            ),
            // NILVALUE everywhere.
            (b"<14>1 - - - - - -", r#"rfc5424 fac=user sev=info msg="""#),
            (b"<14>1 - - - - - - hello", r#"rfc5424 fac=user sev=info msg="hello""#),
            // A header that ends before STRUCTURED-DATA is accepted without it.
            (b"<14>1 - h a p m", r#"rfc5424 fac=user sev=info host=h app=a msgid=m msg="""#),
            // Escapes in param values: \" \\ \] stand for the second character, others are kept.
            (
                br#"<14>1 - h a - - [x@1 q="say \"hi\"" b="back\\slash" r="a\]b" o="keep\n"] m"#,
                r#"rfc5424 fac=user sev=info host=h app=a msg="m" sd[x@1.q="say \"hi\"" x@1.b="back\\slash" x@1.r="a]b" x@1.o="keep\\n"]"#,
            ),
            (
                br#"<14>1 - h a - - [x@1 p="a]b" e=""] m"#,
                r#"rfc5424 fac=user sev=info host=h app=a msg="m" sd[x@1.p="a]b" x@1.e=""]"#,
            ),
            (b"<14>1 - h a - - [origin] m", r#"rfc5424 fac=user sev=info host=h app=a msg="m""#),
            // BOM alone, BOM not at the start (kept).
            (b"<14>1 - h a - - - \xEF\xBB\xBF", r#"rfc5424 fac=user sev=info host=h app=a msg="""#),
            (
                b"<14>1 - h a - - - x\xEF\xBB\xBF",
                r#"rfc5424 fac=user sev=info host=h app=a msg="x\u{feff}""#,
            ),
            // Timestamps: offsets, fractions past microseconds, lowercase, leap second, no offset
            // (local time, here UTC), impossible values.
            (
                b"<14>1 2026-11-10T12:25:46.5+05:30 h a - - - m",
                r#"rfc5424 ts=2026-11-10T06:55:46.500Z fac=user sev=info host=h app=a msg="m""#,
            ),
            (
                b"<14>1 2026-11-10t06:55:46.123456789z h a - - - m",
                r#"rfc5424 ts=2026-11-10T06:55:46.123456Z fac=user sev=info host=h app=a msg="m""#,
            ),
            (
                b"<14>1 2026-12-31T23:59:60Z h a - - - m",
                r#"rfc5424 ts=2027-01-01T00:00:00Z fac=user sev=info host=h app=a msg="m""#,
            ),
            (
                b"<14>1 2026-11-10T06:55:46 h a - - - m",
                r#"rfc5424 ts=2026-11-10T06:55:46Z fac=user sev=info host=h app=a msg="m""#,
            ),
            (b"<14>1 2026-02-30T00:00:00Z h a - - - m", r#"rfc5424 fac=user sev=info host=h app=a msg="m" !ts"#),
            (b"<14>1 2026-11-10T24:00:00Z h a - - - m", r#"rfc5424 fac=user sev=info host=h app=a msg="m" !ts"#),
            (b"<14>1 yesterday h a - - - m", r#"rfc5424 fac=user sev=info host=h app=a msg="m" !ts"#),
            (b"<14>1 2026-11-10T06:55:46+25:00 h a - - - m", r#"rfc5424 fac=user sev=info host=h app=a msg="m" !ts"#),
            // PROCID that is not a PID, or too large for one.
            (b"<14>1 - h a worker-1 - - m", r#"rfc5424 fac=user sev=info host=h app=a msg="m""#),
            (b"<14>1 - h a 99999999999 - - m", r#"rfc5424 fac=user sev=info host=h app=a msg="m""#),
            (b"<14>2 - h a 7 - - m", r#"rfc5424 fac=user sev=info host=h app=a pid=7 msg="m""#),
            // Malformed structured data: header kept, message from where SD began.
            (
                br#"<14>1 - h a - - [x@1 a="b] msg"#,
                r#"rfc5424 fac=user sev=info host=h app=a msg="[x@1 a=\"b] msg" !sd"#,
            ),
            (
                b"<14>1 - h a - - [x@1 a=b] msg",
                r#"rfc5424 fac=user sev=info host=h app=a msg="[x@1 a=b] msg" !sd"#,
            ),
            (
                br#"<14>1 - h a - - [x@1 a="b"]msg"#,
                r#"rfc5424 fac=user sev=info host=h app=a msg="[x@1 a=\"b\"]msg" !sd"#,
            ),
            (
                br#"<14>1 - h a - - [ a="b"] msg"#,
                r#"rfc5424 fac=user sev=info host=h app=a msg="[ a=\"b\"] msg" !sd"#,
            ),
            (
                br#"<14>1 - h a - - [x@1 a="b\"] msg"#,
                r#"rfc5424 fac=user sev=info host=h app=a msg="[x@1 a=\"b\\\"] msg" !sd"#,
            ),
            (b"<14>1 - h a - - -msg", r#"rfc5424 fac=user sev=info host=h app=a msg="-msg" !sd"#),
            // Invalid UTF-8 in MSG and in a param value.
            (
                b"<14>1 - h a - - - caf\xC3 x",
                "rfc5424 fac=user sev=info host=h app=a msg=\"caf\u{fffd} x\" !utf8",
            ),
            (
                b"<14>1 - h a - - [x@1 v=\"\xFF\"] m",
                "rfc5424 fac=user sev=info host=h app=a msg=\"m\" sd[x@1.v=\"\u{fffd}\"] !utf8",
            ),
            // Not RFC 5424 after all: RFC 3164 with the PRI, everything after it the message.
            (b"<14>0 - - - - - - x", r#"rfc3164 fac=user sev=info msg="0 - - - - - - x""#),
            (
                b"<14>1 2026-11-10T06:55:46Z host",
                r#"rfc3164 fac=user sev=info msg="1 2026-11-10T06:55:46Z host""#,
            ),
            (b"<14>1  - h a - - - m", r#"rfc3164 fac=user sev=info msg="1  - h a - - - m""#),
            (b"<14>1 - h\tx a - - - m", "rfc3164 fac=user sev=info msg=\"1 - h\\tx a - - - m\""),
            // Broken PRI: nothing recognisable.
            (b"<14", r#"raw msg="<14""#),
            (b"<192>1 - - - - - - x", r#"raw msg="<192>1 - - - - - - x""#),
            (b"<014>1 - - - - - - x", r#"raw msg="<014>1 - - - - - - x""#),
            (b"<>1 - - - - - - x", r#"raw msg="<>1 - - - - - - x""#),
        ],
    );
}

#[test]
fn huge_structured_data_keeps_the_first_params_and_the_message() {
    let mut line = String::from("<14>1 - h a - - [big@1");
    for i in 0..1000 {
        line.push_str(&format!(" p{i}=\"{}\"", "v".repeat(i % 50)));
    }
    line.push_str("][second@1 x=\"y\"] the message");
    let rec = parse(line.as_bytes(), &ctx());
    assert_eq!(rec.format, Format::Rfc5424);
    assert_eq!(rec.message, "the message");
    assert_eq!(rec.structured.len(), MAX_STRUCTURED);
    assert!(rec.issues.structured_truncated);
    assert!(!rec.issues.malformed_structured_data);
    assert_eq!(rec.structured.get("big@1.p3"), Some("vvv"));
    assert_eq!(rec.structured.get("second@1.x"), None);
}

//! JSON lines table: the generator's lines, ECS and journald shapes, epoch timestamps, level
//! mappings, escapes, nesting, and invalid JSON (which is Raw).

use ironpost_log_pipeline::parse::{Format, MAX_JSON_DEPTH, MAX_STRUCTURED, parse};

use super::{check_table, ctx};

#[test]
fn json_table() {
    check_table(
        "json",
        &[
            (
                br#"{"timestamp":"2026-11-10T06:55:46Z","host":"sshgw","process":"sshd","pid":"24200","level":"info","message":"Failed password for invalid user admin from 1.2.3.4 port 4242 ssh2","source_ip":"1.2.3.4"}"#,
                r#"json ts=2026-11-10T06:55:46Z sev=info host=sshgw app=sshd pid=24200 msg="Failed password for invalid user admin from 1.2.3.4 port 4242 ssh2" sd[source_ip="1.2.3.4"] auth{ip=1.2.3.4 port=4242 user="admin" out=failure}"#,
            ),
            // Elastic Common Schema: nested host/process/log.
            (
                br#"{"@timestamp":"2026-11-10T06:55:46.5Z","host":{"name":"web1","ip":["10.0.0.1"]},"process":{"name":"sshd","pid":42},"log":{"level":"warning"},"message":"Accepted publickey for alice from 2001:db8::5 port 22 ssh2"}"#,
                r#"json ts=2026-11-10T06:55:46.500Z sev=warning host=web1 app=sshd pid=42 msg="Accepted publickey for alice from 2001:db8::5 port 22 ssh2" sd[host.ip="[\"10.0.0.1\"]"] auth{ip=2001:db8::5 port=22 user="alice" out=success}"#,
            ),
            // journalctl -o json.
            (
                br#"{"__REALTIME_TIMESTAMP":"1794293746000001","_HOSTNAME":"h","SYSLOG_IDENTIFIER":"sudo","_PID":"77","PRIORITY":"5","SYSLOG_FACILITY":"10","MESSAGE":"alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"}"#,
                r#"json ts=2026-11-10T06:55:46.000001Z fac=authpriv sev=notice host=h app=sudo pid=77 msg="alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id" auth{user="alice" target="root" out=success}"#,
            ),
            // Epoch numbers: seconds, fractional seconds, milliseconds; a space separator.
            (br#"{"time":1794293746,"msg":"x"}"#, r#"json ts=2026-11-10T06:55:46Z msg="x""#),
            (br#"{"ts":1794293746.25,"msg":"x"}"#, r#"json ts=2026-11-10T06:55:46.250Z msg="x""#),
            (br#"{"ts":1794293746250,"msg":"x"}"#, r#"json ts=2026-11-10T06:55:46.250Z msg="x""#),
            (br#"{"time":"2026-11-10 06:55:46","msg":"x"}"#, r#"json ts=2026-11-10T06:55:46Z msg="x""#),
            // A timestamp that is none stays in structured, flagged.
            (
                br#"{"timestamp":"yesterday","msg":"x"}"#,
                r#"json msg="x" sd[timestamp="yesterday"] !ts"#,
            ),
            // Levels: names, syslog numbers, pino numbers, unknown (kept).
            (br#"{"level":"ERROR","msg":"x"}"#, r#"json sev=err msg="x""#),
            (br#"{"level":3,"msg":"x"}"#, r#"json sev=err msg="x""#),
            (br#"{"level":30,"msg":"x"}"#, r#"json sev=info msg="x""#),
            (br#"{"severity":"fatal"}"#, r#"json sev=crit msg="""#),
            (br#"{"level":"loud","msg":"x"}"#, r#"json msg="x" sd[level="loud"]"#),
            (br#"{"facility":"auth","msg":"x"}"#, r#"json fac=auth msg="x""#),
            // Escapes: quotes, backslash, control, BMP, surrogate pair, lone surrogate.
            (
                br#"{"message":"a\"b\\c\nd\u00e9\ud83d\ude00\/"}"#,
                "json msg=\"a\\\"b\\\\c\\nd\u{e9}\u{1f600}/\"",
            ),
            (br#"{"msg":"x\ud800y"}"#, "json msg=\"x\u{fffd}y\""),
            (br#"{"host":"a\u0062c","msg":"x"}"#, r#"json host=abc msg="x""#),
            // Nesting: dotted paths, arrays kept as JSON text, literals.
            (
                br#"{"a":{"b":{"c":1}},"d":[1,{"e":2}],"f":null,"g":true,"h":-0.5e+3}"#,
                r#"json msg="" sd[a.b.c="1" d="[1,{\"e\":2}]" f="null" g="true" h="-0.5e+3"]"#,
            ),
            (br#"{"a\"b":{"c":1}}"#, r#"json msg="" sd[a"b.c="1"]"#),
            // Wrong types and duplicates: the first fitting value wins, the rest is kept.
            (br#"{"host":5,"msg":"x"}"#, r#"json msg="x" sd[host="5"]"#),
            (br#"{"host":"a","host":"b"}"#, r#"json host=a msg="" sd[host="b"]"#),
            (br#"{"pid":"abc","msg":"x"}"#, r#"json msg="x" sd[pid="abc"]"#),
            (br#"{"message":42}"#, r#"json msg="42""#),
            // Whitespace, empty object, leading blanks.
            (br#"{ "msg" : "x" , "pid" : "12" }"#, r#"json pid=12 msg="x""#),
            (b"{}", r#"json msg="""#),
            (b"  {\"msg\":\"x\"}\n", r#"json msg="x""#),
            // Invalid JSON: Raw with the line as message.
            (br#"{"a":1,}"#, r#"raw msg="{\"a\":1,}" !json"#),
            (br#"{"a":"b"#, r#"raw msg="{\"a\":\"b" !json"#),
            (br#"{"a":1} x"#, r#"raw msg="{\"a\":1} x" !json"#),
            (br#"{"a":tru}"#, r#"raw msg="{\"a\":tru}" !json"#),
            (br#"{"a":01}"#, r#"raw msg="{\"a\":01}" !json"#),
            (br#"{"a":1.}"#, r#"raw msg="{\"a\":1.}" !json"#),
            (br#"{"a":.5}"#, r#"raw msg="{\"a\":.5}" !json"#),
            (br#"{"a":"\x"}"#, r#"raw msg="{\"a\":\"\\x\"}" !json"#),
            (b"{\"a\":\"tab\there\"}", r#"raw msg="{\"a\":\"tab\there\"}" !json"#),
            (br#"{a:1}"#, r#"raw msg="{a:1}" !json"#),
            (b"{\"a\":\"\xFF\"}", "raw msg=\"{\\\"a\\\":\\\"\u{fffd}\\\"}\" !utf8 !json"),
            // A top-level array is not a JSON line here (and not syslog either).
            (b"[1,2]", r#"raw msg="[1,2]""#),
        ],
    );
}

#[test]
fn depth_limit_is_32_levels_of_objects_or_arrays() {
    let nested = |depth: usize, open: &str, close: &str| {
        // `depth` containers in all, the top-level object included.
        let mut s = String::from("{\"k\":");
        s.push_str(&open.repeat(depth - 1));
        s.push('1');
        s.push_str(&close.repeat(depth - 1));
        s.push('}');
        s
    };
    let ctx = ctx();
    for (open, close) in [("{\"k\":", "}"), ("[", "]")] {
        let ok = nested(MAX_JSON_DEPTH, open, close);
        let rec = parse(ok.as_bytes(), &ctx);
        assert_eq!(rec.format, Format::Json, "{ok}");
        let deep = nested(MAX_JSON_DEPTH + 1, open, close);
        let rec = parse(deep.as_bytes(), &ctx);
        assert_eq!(rec.format, Format::Raw, "{deep}");
        assert!(rec.issues.json_too_deep && rec.issues.invalid_json);
        assert_eq!(rec.message, deep);
    }
    // Far deeper than the stack would allow if the scanner did not stop early.
    let very = nested(100_000, "[", "]");
    assert_eq!(parse(very.as_bytes(), &ctx).format, Format::Raw);
    let nested_path = nested(3, "{\"k\":", "}");
    let rec = parse(nested_path.as_bytes(), &ctx);
    assert_eq!(rec.structured.get("k.k.k"), Some("1"));
}

#[test]
fn extra_keys_are_bounded() {
    let mut line = String::from("{\"msg\":\"m\"");
    for i in 0..100 {
        line.push_str(&format!(",\"k{i}\":{i}"));
    }
    line.push('}');
    let rec = parse(line.as_bytes(), &ctx());
    assert_eq!(rec.format, Format::Json);
    assert_eq!(rec.message, "m");
    assert_eq!(rec.structured.len(), MAX_STRUCTURED);
    assert!(rec.issues.structured_truncated);
    assert_eq!(rec.structured.get("k0"), Some("0"));
    assert_eq!(rec.structured.get("k31"), Some("31"));
    assert_eq!(rec.structured.get("k32"), None);
}

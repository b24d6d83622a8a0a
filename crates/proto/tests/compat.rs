//! Protocol compatibility: the request and answer lines recorded for protocol version 1
//! (`tests/v1/*.jsonl`) must still parse, and what this build writes for them must still carry
//! every recorded field with the same value — a client or daemon of version 1 reads it. A failure
//! here means a wire change: make it compatible, or bump `PROTOCOL_VERSION` and record the new
//! version's lines beside these.

use ironpost_proto::{Envelope, PROTOCOL_VERSION, Request, Response};
use serde_json::Value;

const REQUESTS: &str = include_str!("v1/requests.jsonl");
const RESPONSES: &str = include_str!("v1/responses.jsonl");

/// Every key of `recorded` is in `written` with the same value (objects compared recursively,
/// arrays element by element); `written` may have more.
fn covers(recorded: &Value, written: &Value, path: &str) -> Result<(), String> {
    match (recorded, written) {
        (Value::Object(r), Value::Object(w)) => {
            for (k, rv) in r {
                let p = format!("{path}.{k}");
                match w.get(k) {
                    Some(wv) => covers(rv, wv, &p)?,
                    // A recorded null is the same as an omitted optional field.
                    None if rv.is_null() => {}
                    None => return Err(format!("{p}: recorded, no longer written")),
                }
            }
            Ok(())
        }
        (Value::Array(r), Value::Array(w)) if r.len() == w.len() => r
            .iter()
            .zip(w)
            .enumerate()
            .try_for_each(|(i, (a, b))| covers(a, b, &format!("{path}[{i}]"))),
        (r, w) if r == w => Ok(()),
        (r, w) => Err(format!("{path}: recorded {r}, written {w}")),
    }
}

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
}

#[test]
fn version_1_requests_still_parse_and_serialize_compatibly() {
    let mut n = 0;
    for (no, line) in lines(REQUESTS) {
        let env: Envelope = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("requests.jsonl:{no}: no longer parses: {e}"));
        assert_eq!(env.protocol, 1, "requests.jsonl:{no}");
        let written = serde_json::to_value(&env).unwrap();
        let recorded: Value = serde_json::from_str(line).unwrap();
        covers(&recorded, &written, "$").unwrap_or_else(|e| panic!("requests.jsonl:{no}: {e}"));
        n += 1;
    }
    assert_eq!(n, 11, "one line per request kind of version 1");
}

#[test]
fn version_1_answers_still_parse_and_serialize_compatibly() {
    let mut n = 0;
    for (no, line) in lines(RESPONSES) {
        let resp: Response = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("responses.jsonl:{no}: no longer parses: {e}"));
        let written = serde_json::to_value(&resp).unwrap();
        let recorded: Value = serde_json::from_str(line).unwrap();
        covers(&recorded, &written, "$").unwrap_or_else(|e| panic!("responses.jsonl:{no}: {e}"));
        n += 1;
    }
    assert_eq!(n, 10, "one line per answer kind of version 1");
}

#[test]
fn a_request_without_version_is_version_1() {
    // What clients sent before the field existed.
    let env: Envelope = serde_json::from_str(r#"{"cmd":"block_list"}"#).unwrap();
    assert_eq!(env.protocol, 1);
    assert!(matches!(env.request, Request::BlockList));
}

#[test]
fn unknown_fields_and_commands_are_refused() {
    for bad in [
        r#"{"protocol":1,"cmd":"block_remove","cidr":"198.18.0.7","extra":1}"#,
        r#"{"protocol":1,"cmd":"format_disk"}"#,
        r#"{"protocol":1,"cmd":"block_add"}"#,
    ] {
        assert!(
            serde_json::from_str::<Envelope>(bad).is_err(),
            "{bad} was accepted"
        );
    }
}

#[test]
fn this_build_writes_its_own_version() {
    let v = serde_json::to_value(Envelope::new(Request::Status)).unwrap();
    assert_eq!(v["protocol"], PROTOCOL_VERSION);
    assert_eq!(v["cmd"], "status");
}

//! Framing tests: every case is fed whole, byte by byte, and in 7-byte chunks; all three must
//! give the same messages.

use std::sync::Arc;

use super::*;

fn frame_all(input: &[u8], chunk: usize) -> (Vec<String>, u64, Result<(), PipelineError>) {
    let mut f = Framer::default();
    let mut b = Batch::new("test", Arc::from("t"));
    let mut res = Ok(());
    for c in input.chunks(chunk.max(1)) {
        res = f.feed(c, &mut b);
        if res.is_err() {
            break;
        }
    }
    if res.is_ok() {
        f.finish(&mut b);
    }
    (
        b.lines()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect(),
        f.truncated,
        res,
    )
}

fn check(input: &[u8], want: &[&str]) {
    for chunk in [input.len(), 1, 7] {
        let (got, _, res) = frame_all(input, chunk);
        assert!(res.is_ok(), "{input:?} chunk {chunk}: {res:?}");
        assert_eq!(
            got,
            want,
            "{:?} in chunks of {chunk}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn lf_and_octet_counting_cases() {
    check(b"<34>1 a\n<34>1 b\n", &["<34>1 a", "<34>1 b"]);
    check(b"one\r\ntwo\r\n", &["one", "two"]);
    check(b"no newline at the end", &["no newline at the end"]);
    check(b"\n\nafter blanks\n\n", &["after blanks"]);
    check(b"7 <34>1 a8 <34>1 bc", &["<34>1 a", "<34>1 bc"]);
    check(b"8 <34>1 a\n8 <34>1 b\n", &["<34>1 a", "<34>1 b"]);
    check(b"11 hello\nworld", &["hello\nworld"]);
    check(b"0 5 hello", &["hello"]);
    check(b"3 abc", &["abc"]);
}

#[test]
fn detection_is_per_stream() {
    let mut f = Framer::default();
    let mut b = Batch::new("test", Arc::from("t"));
    f.feed(b"5 hello", &mut b).unwrap();
    assert_eq!(f.mode(), Mode::OctetCounting);
    let mut g = Framer::default();
    g.feed(b"<13>hello\n", &mut b).unwrap();
    assert_eq!(g.mode(), Mode::Lf);
}

#[test]
fn long_lines_are_truncated_and_counted() {
    let long = "x".repeat(MAX_LINE + 10);
    for input in [
        format!("{long}\nshort\n"),
        format!("{} {long}5 short", long.len()),
    ] {
        for chunk in [input.len(), 1000, 7] {
            let (got, truncated, res) = frame_all(input.as_bytes(), chunk);
            assert!(res.is_ok());
            assert_eq!(truncated, 1, "chunk {chunk}");
            assert_eq!(got.len(), 2, "chunk {chunk}");
            assert_eq!(got[0].len(), MAX_LINE);
            assert_eq!(got[1], "short");
        }
    }
}

#[test]
fn malformed_length_prefixes_end_the_stream() {
    for input in [&b"12x hello"[..], b"1234567890 x", b"5 hello 5 world"] {
        let (_, _, res) = frame_all(input, input.len());
        assert!(res.is_err(), "{:?}", String::from_utf8_lossy(input));
    }
    // Messages before the malformed frame are kept.
    let (got, _, res) = frame_all(b"5 hello5 world5x", 100);
    assert_eq!(got, ["hello", "world"]);
    assert!(res.is_err());
}

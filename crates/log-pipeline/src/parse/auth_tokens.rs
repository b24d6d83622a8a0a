//! The tokens sshd's messages are cut into — addresses, ports, the tails sshd writes after them,
//! key descriptions — and the byte searches the extractor (`auth.rs`) uses. No regex: these run
//! on every auth line.

use std::net::{IpAddr, Ipv4Addr};

/// An address: IPv4 or IPv6, optionally in brackets or with a `%zone`; IPv4-mapped IPv6 is
/// returned as IPv4 so that both spellings of one client group together.
pub(super) fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Some(v4) = parse_ipv4(s.as_bytes()) {
        return Some(IpAddr::V4(v4));
    }
    let s = s
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(s);
    let s = s.split_once('%').map_or(s, |(a, _)| a);
    if s.len() < 2 || !(s.as_bytes()[0].is_ascii_hexdigit() || s.as_bytes()[0] == b':') {
        return None;
    }
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Dotted-quad IPv4 (the common case, about three times faster than the general parser):
/// four decimal octets of 1-3 digits, at most 255, without leading zeros (as `Ipv4Addr`'s
/// parser, which rejects `010.0.0.1` rather than guessing octal).
pub(super) fn parse_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let (mut i, mut v, mut digits) = (0, 0u32, 0);
    for &c in b {
        match c {
            b'0'..=b'9' if digits < 3 && !(digits == 1 && v == 0) => {
                v = v * 10 + u32::from(c - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && i < 3 => {
                octets[i] = u8::try_from(v).ok()?;
                (i, v, digits) = (i + 1, 0, 0);
            }
            _ => return None,
        }
    }
    if i != 3 || digits == 0 {
        return None;
    }
    octets[3] = u8::try_from(v).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// Position of the first `needle` in `h`. `str::find` sets up a Two-Way searcher per call,
/// which costs more than the search itself on a log message; this scans with `memchr` for the
/// needle's first non-space byte (spaces are everywhere) and compares.
pub(super) fn find(h: &str, needle: &str) -> Option<usize> {
    let (hb, nb) = (h.as_bytes(), needle.as_bytes());
    let k = nb.iter().position(|&c| c != b' ')?;
    let mut from = k;
    while let Some(j) = memchr::memchr(nb[k], hb.get(from..)?) {
        let start = from + j - k;
        if same(hb.get(start..)?, nb) {
            return Some(start);
        }
        from += j + 1;
    }
    None
}

/// Whether `h` starts with `needle`: a plain loop, as needles are a few bytes and a `memcmp`
/// call costs more than the comparison.
pub(super) fn same(h: &[u8], needle: &[u8]) -> bool {
    h.len() >= needle.len() && h.iter().zip(needle).all(|(a, b)| a == b)
}

/// Position of the last `needle` in `h` (see [`find`]).
pub(super) fn rfind(h: &str, needle: &str) -> Option<usize> {
    let (hb, nb) = (h.as_bytes(), needle.as_bytes());
    let k = nb.iter().position(|&c| c != b' ')?;
    let mut end = hb.len().checked_sub(nb.len() - k - 1)?;
    while let Some(j) = memchr::memrchr(nb[k], &hb[..end]) {
        if let Some(start) = j.checked_sub(k)
            && same(&hb[start..], nb)
        {
            return Some(start);
        }
        end = j;
    }
    None
}

/// The address at the start of `s` (up to a space; a trailing `:` or `,` is punctuation), and
/// what follows it.
pub(super) fn ip_token(s: &str) -> Option<(IpAddr, &str)> {
    let end = s.bytes().position(|c| c == b' ').unwrap_or(s.len());
    let tok = &s[..end];
    let bare = tok.strip_suffix([':', ',']);
    // IPv4 first, with its punctuation already off: the general parser is slow to fail.
    if let Some(v4) = parse_ipv4(bare.unwrap_or(tok).as_bytes()) {
        return Some((IpAddr::V4(v4), &s[end..]));
    }
    let ip = parse_ip(tok).or_else(|| parse_ip(bare?))?;
    Some((ip, &s[end..]))
}

/// ` port N` at the start of `s`.
pub(super) fn port(s: &str) -> Option<u16> {
    let r = s.strip_prefix(" port ")?;
    let end = r
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(r.len());
    r[..end].parse().ok()
}

/// ` port N` at the start of `s`, and what follows the digits.
pub(super) fn port_prefix(s: &str) -> Option<(u16, &str)> {
    let r = s.strip_prefix(" port ")?;
    let end = r
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(r.len());
    Some((r[..end].parse().ok()?, &r[end..]))
}

/// `[ port N][ ssh2][ [preauth]]` and nothing else (`ssh2` only when `ssh2` is allowed): the
/// port, if any.
pub(super) fn opt_port_tail(t: &str, ssh2: bool) -> Option<Option<u16>> {
    let (port, t) = match port_prefix(t) {
        Some((p, rest)) => (Some(p), rest),
        None => (None, t),
    };
    let t = if ssh2 {
        t.strip_prefix(" ssh2").unwrap_or(t)
    } else {
        t
    };
    let t = t.strip_suffix(" [preauth]").unwrap_or(t);
    t.is_empty().then_some(port)
}

/// The last ` from IP<tail>` of `r` whose tail `tail` accepts: (position of ` from `, address,
/// port).
pub(super) fn last_from(
    r: &str,
    tail: &impl Fn(&str) -> Option<Option<u16>>,
) -> Option<(usize, IpAddr, Option<u16>)> {
    let mut end = r.len();
    while let Some(i) = rfind(&r[..end], " from ") {
        if let Some((ip, rest)) = ip_token(&r[i + 6..])
            && let Some(port) = tail(rest)
        {
            return Some((i, ip, port));
        }
        if i == 0 {
            break;
        }
        end = i;
    }
    None
}

/// What sshd writes after `ssh2: ` for a public or host key (`sshkey_format_oneline` style):
/// `TYPE FINGERPRINT`, or for a certificate `TYPE-CERT FINGERPRINT ID KEYID (serial N) CA
/// TYPE FINGERPRINT`, or for host-based `TYPE FINGERPRINT, client user "…", client host "…"`.
pub(super) fn key_description(s: &str) -> bool {
    let token_ok = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'@' | b'.' | b'_'))
    };
    let fp_ok = |t: &str| {
        let v = t.strip_prefix("SHA256:").or_else(|| t.strip_prefix("MD5:"));
        v.is_some_and(|v| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b':'))
        })
    };
    let Some((ty, rest)) = s.split_once(' ') else {
        return false;
    };
    if !token_ok(ty) {
        return false;
    }
    if ty.contains("-CERT") {
        // The key ID is the certificate signer's free text: only the frame is checked.
        let Some((fp, rest)) = rest.split_once(" ID ") else {
            return false;
        };
        let Some((_, ca)) = rest.rsplit_once(" CA ") else {
            return false;
        };
        let Some((ca_ty, ca_fp)) = ca.split_once(' ') else {
            return false;
        };
        return fp_ok(fp) && rest.contains(" (serial ") && token_ok(ca_ty) && fp_ok(ca_fp);
    }
    match rest.split_once(", client user \"") {
        Some((fp, hb)) => fp_ok(fp) && hb.ends_with('"') && hb.contains("\", client host \""),
        None => fp_ok(rest),
    }
}

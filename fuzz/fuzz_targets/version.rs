//! Fuzz target: version strings of each scheme (SemVer for crates.io, npm and Go; PEP 440 for
//! PyPI; dpkg for Debian and Ubuntu; apk for Alpine; rpm for the rpm distributions). The input is up to three versions, one per line. Parsing must not panic, and the order
//! must be a total order on what parses: reflexive, antisymmetric and transitive (a range check
//! on an inconsistent order would answer "affected" or "not affected" by accident).
//!
//! Run with `make fuzz FUZZ_TARGETS=version` (see docs/fuzzing.md).

#![no_main]

use std::cmp::Ordering;

use ironpost_vulndb::version::{Ecosystem, Scheme};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let (a, b, c) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    for scheme in [
        Scheme::SemVer,
        Scheme::Pep440,
        Scheme::Dpkg,
        Scheme::Apk,
        Scheme::Rpm,
    ] {
        let [va, vb, vc] = [a, b, c].map(|s| scheme.parse(s));
        for v in [&va, &vb, &vc].into_iter().flatten() {
            assert_eq!(v.partial_cmp(v), Some(Ordering::Equal), "{v:?}");
        }
        if let (Some(x), Some(y)) = (&va, &vb) {
            let (xy, yx) = (x.partial_cmp(y), y.partial_cmp(x));
            assert_eq!(xy, yx.map(Ordering::reverse), "{a:?} {b:?}");
        }
        if let (Some(x), Some(y), Some(z)) = (&va, &vb, &vc) {
            if x <= y && y <= z {
                assert!(
                    x <= z,
                    "{scheme:?}: {a:?} <= {b:?} <= {c:?} but not {a:?} <= {c:?}"
                );
            }
        }
    }
    for eco in [
        Ecosystem::CratesIo,
        Ecosystem::Npm,
        Ecosystem::PyPI,
        Ecosystem::Go,
        Ecosystem::Debian,
        Ecosystem::Alpine,
        Ecosystem::RockyLinux,
    ] {
        let _ = ironpost_vulndb::version::compare(eco, a, b);
        let _ = eco.normalize_name(c);
    }
});

//! Version ordering per ecosystem: Cargo and npm SemVer, PEP 440 for PyPI, Go module
//! versions (`v`-prefixed SemVer whose pseudo-versions are pre-releases and whose
//! `+incompatible` suffix is build metadata, so both fall out of SemVer precedence), dpkg
//! versions for Debian and Ubuntu, apk versions for Alpine, rpm versions for the rpm-based
//! distributions (Red Hat, AlmaLinux, Rocky Linux, openSUSE, SUSE).
//!
//! OSV evaluates `SEMVER` ranges with SemVer 2.0 precedence whatever the ecosystem, and
//! `ECOSYSTEM` ranges with the ecosystem's own order; [`Scheme`] names the two.

mod apk;
mod dpkg;
mod pep440;
mod rpm;
mod semver;

pub use apk::Apk;
pub use dpkg::Dpkg;
pub use pep440::Pep440;
pub use rpm::Rpm;
pub use semver::SemVer;

pub(crate) use semver::Ident;

use std::cmp::Ordering;

/// The ecosystems whose versions this crate can order. Others still match through an
/// advisory's explicit `versions` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ecosystem {
    CratesIo,
    Npm,
    PyPI,
    Go,
    /// `Debian` and `Debian:N` (a release: `Debian:12`).
    Debian,
    /// `Ubuntu`, `Ubuntu:22.04:LTS`, `Ubuntu:Pro:18.04:LTS`, …
    Ubuntu,
    /// `Alpine` and `Alpine:vX.Y`.
    Alpine,
    /// `Red Hat` and `Red Hat:enterprise_linux:9::appstream` (a CPE-named product stream).
    RedHat,
    /// `AlmaLinux` and `AlmaLinux:9`.
    AlmaLinux,
    /// `Rocky Linux` and `Rocky Linux:9`.
    RockyLinux,
    /// `openSUSE` and `openSUSE:Leap 15.5`, `openSUSE:Tumbleweed`.
    OpenSuse,
    /// `SUSE` and `SUSE:Linux Enterprise Server 15 SP5`.
    Suse,
}

impl Ecosystem {
    /// The OSV ecosystem names (`crates.io`, `npm`, `PyPI`, `Go`), exact as the schema spells
    /// them; the Linux distributions with or without their `:release` suffix.
    pub fn from_osv(name: &str) -> Option<Ecosystem> {
        let base = name.split_once(':').map_or(name, |(base, _)| base);
        match (name, base) {
            ("crates.io", _) => Some(Ecosystem::CratesIo),
            ("npm", _) => Some(Ecosystem::Npm),
            ("PyPI", _) => Some(Ecosystem::PyPI),
            ("Go", _) => Some(Ecosystem::Go),
            (_, "Debian") => Some(Ecosystem::Debian),
            (_, "Ubuntu") => Some(Ecosystem::Ubuntu),
            (_, "Alpine") => Some(Ecosystem::Alpine),
            (_, "Red Hat") => Some(Ecosystem::RedHat),
            (_, "AlmaLinux") => Some(Ecosystem::AlmaLinux),
            (_, "Rocky Linux") => Some(Ecosystem::RockyLinux),
            (_, "openSUSE") => Some(Ecosystem::OpenSuse),
            (_, "SUSE") => Some(Ecosystem::Suse),
            _ => None,
        }
    }

    pub fn as_osv(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Npm => "npm",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Go => "Go",
            Ecosystem::Debian => "Debian",
            Ecosystem::Ubuntu => "Ubuntu",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::RedHat => "Red Hat",
            Ecosystem::AlmaLinux => "AlmaLinux",
            Ecosystem::RockyLinux => "Rocky Linux",
            Ecosystem::OpenSuse => "openSUSE",
            Ecosystem::Suse => "SUSE",
        }
    }

    /// Package names as the registry compares them: PyPI names are case-insensitive with runs of
    /// `-`, `_` and `.` equivalent (PEP 503); the other registries compare names exactly.
    pub fn normalize_name(self, name: &str) -> std::borrow::Cow<'_, str> {
        match self {
            Ecosystem::PyPI => std::borrow::Cow::Owned(pep503_normalize(name)),
            _ => std::borrow::Cow::Borrowed(name),
        }
    }
}

/// Normalises a PyPI project name per PEP 503.
pub(crate) fn pep503_normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for ch in name.trim().chars() {
        if matches!(ch, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.push(ch.to_ascii_lowercase());
            in_sep = false;
        }
    }
    out
}

/// Which ordering a range uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// SemVer 2.0 precedence (OSV `SEMVER` ranges, and Cargo/npm/Go `ECOSYSTEM` ranges).
    SemVer,
    /// PEP 440 (PyPI `ECOSYSTEM` ranges).
    Pep440,
    /// dpkg (Debian and Ubuntu `ECOSYSTEM` ranges).
    Dpkg,
    /// apk-tools (Alpine `ECOSYSTEM` ranges).
    Apk,
    /// rpm (Red Hat, AlmaLinux, Rocky Linux, openSUSE and SUSE `ECOSYSTEM` ranges).
    Rpm,
}

impl Scheme {
    /// The scheme of an `ECOSYSTEM` range in `eco`.
    pub fn for_ecosystem(eco: Ecosystem) -> Scheme {
        match eco {
            Ecosystem::PyPI => Scheme::Pep440,
            Ecosystem::CratesIo | Ecosystem::Npm | Ecosystem::Go => Scheme::SemVer,
            Ecosystem::Debian | Ecosystem::Ubuntu => Scheme::Dpkg,
            Ecosystem::Alpine => Scheme::Apk,
            Ecosystem::RedHat
            | Ecosystem::AlmaLinux
            | Ecosystem::RockyLinux
            | Ecosystem::OpenSuse
            | Ecosystem::Suse => Scheme::Rpm,
        }
    }

    pub fn parse(self, s: &str) -> Option<Version> {
        match self {
            // A leading `v` is accepted for every SemVer ecosystem: Go spells versions with it,
            // OSV's Go records without it, and npm tolerates it.
            Scheme::SemVer => SemVer::parse_prefixed(s).map(Version::SemVer),
            Scheme::Pep440 => Pep440::parse(s).map(Version::Pep440),
            Scheme::Dpkg => Dpkg::parse(s).map(Version::Dpkg),
            Scheme::Apk => Apk::parse(s).map(Version::Apk),
            Scheme::Rpm => Rpm::parse(s).map(Version::Rpm),
        }
    }
}

/// A parsed version of one scheme. Versions of different schemes are never compared: `cmp`
/// between them returns `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Version {
    SemVer(SemVer),
    Pep440(Pep440),
    Dpkg(Dpkg),
    Apk(Apk),
    Rpm(Rpm),
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Version::SemVer(a), Version::SemVer(b)) => Some(a.cmp(b)),
            (Version::Pep440(a), Version::Pep440(b)) => Some(a.cmp(b)),
            (Version::Dpkg(a), Version::Dpkg(b)) => Some(a.cmp(b)),
            (Version::Apk(a), Version::Apk(b)) => Some(a.cmp(b)),
            (Version::Rpm(a), Version::Rpm(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// Orders two version strings of `eco` (its `ECOSYSTEM` order); `None` if either does not parse.
pub fn compare(eco: Ecosystem, a: &str, b: &str) -> Option<Ordering> {
    let scheme = Scheme::for_ecosystem(eco);
    scheme.parse(a)?.partial_cmp(&scheme.parse(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_versions() {
        use Ordering::*;
        for (a, b, want) in [
            ("v1.2.3", "1.2.3", Equal),
            ("v2.0.0+incompatible", "v2.0.0", Equal),
            // Pseudo-versions are pre-releases of the next patch (vX.Y.(Z+1)-0.yyyymmdd…).
            ("v0.0.0-20191109021931-daa7c04131f5", "v0.0.0", Less),
            (
                "v0.0.0-20191109021931-daa7c04131f5",
                "v0.0.0-20200101000000-000000000000",
                Less,
            ),
            ("v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.3", Greater),
            ("v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.4", Less),
            (
                "v1.2.4-pre.0.20191109021931-daa7c04131f5",
                "v1.2.4-pre",
                Greater,
            ),
            ("v1.10.0", "v1.9.9", Greater),
        ] {
            assert_eq!(compare(Ecosystem::Go, a, b), Some(want), "{a} vs {b}");
        }
    }

    #[test]
    fn npm_and_cargo_prerelease_rules() {
        for eco in [Ecosystem::Npm, Ecosystem::CratesIo] {
            assert_eq!(
                compare(eco, "1.0.0-beta.2", "1.0.0-beta.11"),
                Some(Ordering::Less)
            );
            assert_eq!(compare(eco, "1.0.0-rc.1", "1.0.0"), Some(Ordering::Less));
            assert_eq!(compare(eco, "1.0.0+a", "1.0.0+b"), Some(Ordering::Equal));
        }
        assert_eq!(compare(Ecosystem::CratesIo, "1.0", "1.0.0"), None);
    }

    #[test]
    fn pypi_uses_pep440() {
        assert_eq!(
            compare(Ecosystem::PyPI, "1.0", "1.0.0"),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare(Ecosystem::PyPI, "1.0.post1", "1.0"),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn pep503_names() {
        assert_eq!(
            pep503_normalize("Django_REST.framework"),
            "django-rest-framework"
        );
        assert_eq!(pep503_normalize("a-_.b"), "a-b");
    }

    fn semver_strategy() -> impl Strategy<Value = String> {
        let ident = prop_oneof![
            (0u64..20).prop_map(|n| n.to_string()),
            "[a-z][a-z0-9-]{0,3}".prop_map(|s| s),
        ];
        (
            0u64..4,
            0u64..4,
            0u64..4,
            proptest::collection::vec(ident, 0..3),
            proptest::option::of("[a-z0-9]{1,3}"),
        )
            .prop_map(|(a, b, c, pre, build)| {
                let mut s = format!("{a}.{b}.{c}");
                if !pre.is_empty() {
                    s.push('-');
                    s.push_str(&pre.join("."));
                }
                if let Some(b) = build {
                    s.push('+');
                    s.push_str(&b);
                }
                s
            })
    }

    fn pep440_strategy() -> impl Strategy<Value = String> {
        (
            proptest::option::of(0u64..2),
            proptest::collection::vec(0u64..3, 1..4),
            proptest::option::of((prop_oneof!["a", "b", "rc"], 0u64..3)),
            proptest::option::of(0u64..3),
            proptest::option::of(0u64..3),
            proptest::option::of("[a-z0-9]{1,3}(\\.[a-z0-9]{1,2})?"),
        )
            .prop_map(|(epoch, rel, pre, post, dev, local)| {
                let mut s = String::new();
                if let Some(e) = epoch {
                    s.push_str(&format!("{e}!"));
                }
                let rel: Vec<String> = rel.iter().map(u64::to_string).collect();
                s.push_str(&rel.join("."));
                if let Some((k, n)) = pre {
                    s.push_str(&format!("{k}{n}"));
                }
                if let Some(p) = post {
                    s.push_str(&format!(".post{p}"));
                }
                if let Some(d) = dev {
                    s.push_str(&format!(".dev{d}"));
                }
                if let Some(l) = local {
                    s.push_str(&format!("+{l}"));
                }
                s
            })
    }

    fn check_total_order(scheme: Scheme, a: &str, b: &str, c: &str) -> Result<(), TestCaseError> {
        let pa = scheme.parse(a).expect("generated versions parse");
        let pb = scheme.parse(b).expect("generated versions parse");
        let pc = scheme.parse(c).expect("generated versions parse");
        let ab = pa.partial_cmp(&pb).expect("same scheme");
        // Antisymmetry and consistency with equality.
        prop_assert_eq!(pb.partial_cmp(&pa), Some(ab.reverse()));
        prop_assert_eq!(ab == Ordering::Equal, pa == pb);
        // Transitivity.
        if pa <= pb && pb <= pc {
            prop_assert!(pa <= pc, "{a} <= {b} <= {c}");
        }
        prop_assert_eq!(pa.partial_cmp(&pa), Some(Ordering::Equal));
        Ok(())
    }

    proptest! {
        #[test]
        fn semver_is_a_total_order(a in semver_strategy(), b in semver_strategy(), c in semver_strategy()) {
            check_total_order(Scheme::SemVer, &a, &b, &c)?;
        }

        #[test]
        fn semver_display_round_trips(a in semver_strategy()) {
            let v = SemVer::parse(&a).expect("parses");
            prop_assert_eq!(SemVer::parse(&v.to_string()), Some(v));
        }

        #[test]
        fn pep440_is_a_total_order(a in pep440_strategy(), b in pep440_strategy(), c in pep440_strategy()) {
            check_total_order(Scheme::Pep440, &a, &b, &c)?;
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,24}") {
            let _ = SemVer::parse_prefixed(&s);
            let _ = Pep440::parse(&s);
            let _ = Dpkg::parse(&s);
            let _ = Apk::parse(&s);
            let _ = Rpm::parse(&s);
        }
    }
}

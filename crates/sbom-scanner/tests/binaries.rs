//! Packages recorded inside executables: a Go program built here by the machine's Go toolchain
//! (Debian's `golang-go`, installed by scripts/setup.sh) from the module in
//! `tests/fixtures/binary/go`, whose one dependency is a local directory (`replace`), so nothing
//! is fetched; and Rust `cargo auditable` sections.

use std::path::{Path, PathBuf};
use std::process::Command;

use ironpost_sbom_scanner::binary::{BinaryKind, packages_from_elf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binary")
}

/// Copies the directory tree `from` into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("fixture dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// Runs `cmd`, failing the test with its output if it fails.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not run ({e}); scripts/setup.sh installs it"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Builds the fixture program with `go build` and the extra flags; returns the binary's bytes
/// and the toolchain's version (`go1.19.8`).
fn build_go(extra: &[&str]) -> (Vec<u8>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&fixtures().join("go"), dir.path());
    let go = |args: &[&str]| {
        let mut c = Command::new("go");
        c.args(args)
            .current_dir(dir.path().join("app"))
            // Offline: no proxy, no checksum database, caches of our own.
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .env("GOSUMDB", "off")
            .env("GOTOOLCHAIN", "local")
            .env("CGO_ENABLED", "0")
            .env("GOCACHE", dir.path().join("cache"))
            .env("GOPATH", dir.path().join("gopath"));
        c
    };
    let version = run(&mut go(&["env", "GOVERSION"])).trim().to_owned();
    let out = dir.path().join("app.bin");
    let mut args = vec!["build", "-buildvcs=false", "-o"];
    let out_s = out.to_str().expect("utf-8 path");
    args.push(out_s);
    args.extend_from_slice(extra);
    args.push(".");
    run(&mut go(&args));
    (std::fs::read(&out).expect("built binary"), version)
}

/// `go1.19.8` → `v1.19.8` (the releases this test meets: `goX.Y.Z` or `goX.Y`).
fn stdlib(go: &str) -> String {
    let v = go.trim_start_matches("go");
    if v.matches('.').count() == 1 {
        format!("v{v}.0")
    } else {
        format!("v{v}")
    }
}

fn purls(found: &ironpost_sbom_scanner::binary::BinaryPackages) -> Vec<String> {
    found.packages.iter().map(|p| p.purl()).collect()
}

#[test]
fn go_binary_module_list() {
    let (bytes, go_version) = build_go(&[]);
    let path = Path::new("/usr/local/bin/app");
    let found = packages_from_elf(path, &bytes)
        .expect("build info parses")
        .expect("a Go binary");
    assert_eq!(found.kind, BinaryKind::GoBuildInfo);
    assert_eq!(found.go_version.as_deref(), Some(go_version.as_str()));
    assert_eq!(
        purls(&found),
        [
            "pkg:golang/example.com/ironpost/greet@v1.2.3".to_owned(),
            format!("pkg:golang/stdlib@{}", stdlib(&go_version)),
        ]
    );
    let greet = &found.packages[0];
    assert_eq!(
        greet.source,
        ironpost_sbom_scanner::Source::Path("../greet".into())
    );
    assert_eq!(greet.lockfile.as_ref(), path);
    // The main module is built as `(devel)`: not a package, and said so.
    let skipped: Vec<_> = found
        .skipped
        .iter()
        .map(|s| (s.text.as_str(), s.reason))
        .collect();
    assert_eq!(
        skipped,
        [(
            "example.com/ironpost/app",
            "main module built without a version ((devel))"
        )]
    );
}

#[test]
fn go_binary_stripped_and_without_section_headers() {
    // `-s -w` drops the symbol table and DWARF; the build info stays.
    let (mut bytes, go_version) = build_go(&["-ldflags=-s -w"]);
    let want = [
        "pkg:golang/example.com/ironpost/greet@v1.2.3".to_owned(),
        format!("pkg:golang/stdlib@{}", stdlib(&go_version)),
    ];
    let found = packages_from_elf(Path::new("app"), &bytes)
        .expect("parses")
        .expect("a Go binary");
    assert_eq!(purls(&found), want);
    // Without section headers (as packers leave binaries) the record is found by its magic.
    assert_eq!(&bytes[..5], b"\x7fELF\x02");
    bytes[40..48].fill(0); // e_shoff
    bytes[60..64].fill(0); // e_shnum, e_shstrndx
    let found = packages_from_elf(Path::new("app"), &bytes)
        .expect("parses")
        .expect("still a Go binary");
    assert_eq!(purls(&found), want);
}

#[test]
fn a_non_go_elf_has_no_packages() {
    let bytes = std::fs::read("/bin/sh").expect("/bin/sh");
    assert!(
        packages_from_elf(Path::new("/bin/sh"), &bytes)
            .expect("an ELF without records is not an error")
            .is_none()
    );
}

/// A Rust program compiled here by `rustc`, with a `.dep-v0` section added by `objcopy` holding
/// `json` zlib-compressed, as `cargo auditable` embeds it.
fn rust_binary_with_dep_v0(json: &str) -> Vec<u8> {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("main.rs");
    std::fs::write(&src, "fn main() { println!(\"hello\"); }\n").expect("write");
    let plain = dir.path().join("plain");
    run(Command::new("rustc")
        .args(["-C", "opt-level=0", "-o"])
        .arg(&plain)
        .arg(&src));
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(json.as_bytes()).expect("compress");
    let section = dir.path().join("dep-v0");
    std::fs::write(&section, z.finish().expect("compress")).expect("write");
    let audited = dir.path().join("audited");
    run(Command::new("objcopy")
        .arg(format!("--add-section=.dep-v0={}", section.display()))
        .arg(&plain)
        .arg(&audited));
    std::fs::read(&audited).expect("audited binary")
}

#[test]
fn cargo_auditable_section() {
    let json = r#"{"packages":[
        {"name":"auditable-demo","version":"0.1.0","source":"local","dependencies":[1,3],"root":true},
        {"name":"smallvec","version":"1.6.0","source":"crates.io","dependencies":[2]},
        {"name":"serde","version":"1.0.200","source":"crates.io"},
        {"name":"internal","version":"2.0.0","source":"registry"},
        {"name":"cc","version":"1.0.90","source":"crates.io","kind":"build"}
    ],"format":1}"#;
    let bytes = rust_binary_with_dep_v0(json);
    let found = packages_from_elf(Path::new("demo"), &bytes)
        .expect("section parses")
        .expect("an auditable binary");
    assert_eq!(found.kind, BinaryKind::CargoAuditable);
    let got: Vec<_> = found
        .packages
        .iter()
        .map(|p| (p.purl(), p.dependencies.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        got,
        [
            ("pkg:cargo/cc@1.0.90".to_owned(), vec![]),
            ("pkg:cargo/serde@1.0.200".to_owned(), vec![]),
            (
                "pkg:cargo/smallvec@1.6.0".to_owned(),
                vec!["pkg:cargo/serde@1.0.200".to_owned()]
            ),
        ]
    );
    let skipped: Vec<_> = found.skipped.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        skipped,
        ["auditable-demo 0.1.0 (local)", "internal 2.0.0 (registry)"]
    );
    // A section whose JSON is cut short is an error naming the binary.
    let broken = rust_binary_with_dep_v0("{\"packages\": [");
    let e = packages_from_elf(Path::new("demo"), &broken).expect_err("truncated JSON");
    assert_eq!(e.to_string(), "demo: invalid JSON");
}

/// A Go program in an image layer (a tar made by GNU tar): the image's inventory lists the
/// modules built into it, reported under the executable's path in the image. The executable is
/// read for its records and dropped, so a budget of kept content far smaller than the binary
/// (a few MiB; real Go binaries are tens) does not hide it.
#[test]
fn go_binary_in_an_image_layer_is_inventoried() {
    use ironpost_sbom_scanner::image::{self, ImageTree, Keep, Limits, Loaded};
    let (bytes, go_version) = build_go(&[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("root/usr/local/bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::write(bin.join("app"), &bytes).expect("write");
    run(Command::new("chmod").arg("0755").arg(bin.join("app")));
    let layer = dir.path().join("layer.tar");
    run(Command::new("tar")
        .arg("-cf")
        .arg(&layer)
        .arg("-C")
        .arg(dir.path().join("root"))
        .arg("usr"));
    let keep = Keep {
        elf: true,
        paths: None,
    };
    let limits = Limits {
        file_bytes: 1024,
        total_kept_bytes: 1024,
        ..Limits::default()
    };
    assert!(bytes.len() > 100 * 1024, "{} bytes", bytes.len());
    let mut tree = ImageTree::new(limits, keep);
    tree.apply_layer(std::fs::File::open(&layer).expect("layer"))
        .expect("layer applies");
    let loaded = Loaded {
        tree,
        tag: None,
        layers: 1,
    };
    let inv = image::inventory(&loaded, Path::new("test-image"));
    let purls: Vec<String> = inv.packages.iter().map(|p| p.purl()).collect();
    assert_eq!(
        purls,
        [
            "pkg:golang/example.com/ironpost/greet@v1.2.3".to_owned(),
            format!("pkg:golang/stdlib@{}", stdlib(&go_version)),
        ]
    );
    assert!(
        inv.packages
            .iter()
            .all(|p| p.lockfile.as_ref() == Path::new("/usr/local/bin/app")),
        "{:?}",
        inv.packages
    );
}

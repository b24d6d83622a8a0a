//! The `ironpost` Debian package on this machine: `scripts/package.sh deb` packages this test run's
//! binaries (cargo-deb `--profile dev`: the recipe `make deb` runs on a release build), then
//! `dpkg -i` installs the package and its `-dbgsym` companion, the installed daemon runs as the
//! unit's `ExecStart` would (PID 1 is not systemd here) and the installed CLI's `status` answers,
//! `dpkg -i` of the same binaries packaged as a newer version (the upgrade path: prerm upgrade,
//! postinst configure with the old version) keeps an edited conffile and the store, and
//! `dpkg --purge` leaves
//! nothing behind in /usr, /etc, /var/lib or /run (deploy/debian/README.Debian lists what stays:
//! nothing on these paths). The machine is restored even when an assertion fails (a guard purges).
//!
//! The daemon gets its own control socket, PID file and a free HTTP port through `IRONPOST_*`
//! overrides, so a dev daemon on the packaged defaults is not disturbed; it runs from a temporary
//! working directory, so the IDS model it loads can only come from /usr/share/ironpost.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{bin, repo_root, run, scrub_env, text, wait_for};

const PKG: &str = "ironpost";
const DBGSYM: &str = "ironpost-dbgsym";
const CONFIG: &str = "/etc/ironpost/ironpost.toml";
/// The package version this test builds (a revision no release uses).
const VERSION: &str = "0.1.0-0test1";
/// The upgrade's version: newer than [`VERSION`] for dpkg.
const NEXT_VERSION: &str = "0.1.0-0test2";

/// `dpkg-query`'s version of `pkg`, when installed.
fn installed_version(pkg: &str) -> Option<String> {
    let o = run(Command::new("dpkg-query").args(["-W", "-f=${Status} ${Version}", pkg]));
    let out = text(&o.stdout);
    out.strip_prefix("install ok installed ")
        .map(|v| v.trim().to_owned())
}

fn dpkg(args: &[&str]) {
    let o = run(Command::new("dpkg")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive"));
    assert!(
        o.status.success(),
        "dpkg {args:?}: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// Purges the package on drop (and kills a daemon left running), so a failed assertion does not
/// leave the machine with our package installed.
struct Installed {
    daemon: Option<Child>,
}

impl Installed {
    fn purge() {
        let _ = Command::new("dpkg")
            .args(["--purge", DBGSYM, PKG])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        Self::purge();
    }
}

/// Every path under `roots` whose name mentions ironpost (docker's and PostgreSQL's trees, which
/// other tests change meanwhile, are skipped).
fn ironpost_paths(roots: &[&str]) -> BTreeSet<PathBuf> {
    const SKIP: &[&str] = &[
        "/var/lib/docker",
        "/var/lib/containerd",
        "/var/lib/postgresql",
        "/usr/src",
        "/proc",
    ];
    fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if SKIP.iter().any(|s| p == Path::new(s)) {
                continue;
            }
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("ironpost"))
            {
                out.insert(p.clone());
            }
            // file_type does not follow symlinks: /lib -> usr/lib is walked once, as /usr/lib.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    for r in roots {
        walk(Path::new(r), &mut out);
    }
    out
}

const ROOTS: &[&str] = &["/usr", "/etc", "/var/lib", "/run", "/opt"];

/// Runs scripts/package.sh deb on this build's binaries; returns the .deb and the -dbgsym .ddeb.
fn package(out: &Path, deb_version: &str) -> (PathBuf, PathBuf) {
    let bin_dir = bin("ironpost-daemon").parent().unwrap().to_path_buf();
    let target_dir = bin_dir.parent().unwrap();
    let mut c = Command::new("bash");
    scrub_env(&mut c);
    c.arg(repo_root().join("scripts/package.sh"))
        .args([
            "deb",
            "--profile",
            "dev",
            "--fast",
            "--deb-version",
            deb_version,
        ])
        .arg("--out")
        .arg(out)
        .env("CARGO_TARGET_DIR", target_dir);
    let o = run(&mut c);
    assert!(
        o.status.success(),
        "scripts/package.sh deb: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let find = |suffix: &str| {
        std::fs::read_dir(out)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.contains(deb_version) && n.ends_with(suffix)
            })
            .unwrap_or_else(|| panic!("no *{deb_version}*{suffix} in {}", out.display()))
    };
    let deb = find("_amd64.deb");
    let ddeb = find(".ddeb");
    (deb, ddeb)
}

fn deb_field(deb: &Path, field: &str) -> String {
    let o = run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(field));
    text(&o.stdout).trim().to_owned()
}

fn deb_contents(deb: &Path) -> String {
    let o = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
}

/// `readelf` output for `file` (`-S` sections, `-n` notes).
fn readelf(flag: &str, file: &Path) -> String {
    let o = run(Command::new("readelf").arg(flag).arg("-W").arg(file));
    assert!(o.status.success(), "readelf {flag} {}", file.display());
    text(&o.stdout)
}

fn build_id(file: &Path) -> String {
    readelf("-n", file)
        .lines()
        .find_map(|l| Some(l.split("Build ID: ").nth(1)?.trim().to_owned()))
        .unwrap_or_else(|| panic!("{} has no build id", file.display()))
}

/// The environment that keeps the installed daemon off the packaged socket, PID file and port.
fn daemon_env(run_dir: &Path) -> Vec<(String, String)> {
    vec![
        (
            "IRONPOST_GENERAL_CONTROL_SOCKET".into(),
            run_dir.join("control.sock").display().to_string(),
        ),
        (
            "IRONPOST_GENERAL_PID_FILE".into(),
            run_dir.join("ironpost.pid").display().to_string(),
        ),
        ("IRONPOST_GENERAL_HTTP_LISTEN".into(), "127.0.0.1:0".into()),
        // The IDS loads the relative default model_path: /usr/share/ironpost/models/probe.onnx.
        ("IRONPOST_IDS_ENABLED".into(), "true".into()),
    ]
}

fn installed_cli(env: &[(String, String)]) -> Command {
    let mut c = Command::new("/usr/bin/ironpost-cli");
    scrub_env(&mut c);
    c.args(["--config", CONFIG]).envs(env.iter().cloned());
    c
}

/// Starts /usr/bin/ironpost-daemon as the unit's ExecStart, waits for the installed CLI's
/// `status`, and returns it (JSON).
fn start_installed(guard: &mut Installed, work: &Path, log: &Path) -> serde_json::Value {
    let unit = std::fs::read_to_string("/usr/lib/systemd/system/ironpost.service")
        .expect("the package installs the unit");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart in the unit");
    assert_eq!(exec, format!("/usr/bin/ironpost-daemon --config {CONFIG}"));
    let argv: Vec<&str> = exec.split_whitespace().collect();
    let env = daemon_env(work);
    let mut c = Command::new(argv[0]);
    scrub_env(&mut c);
    c.args(&argv[1..])
        .envs(env.iter().cloned())
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    guard.daemon = Some(c.spawn().expect("spawn /usr/bin/ironpost-daemon"));
    wait_for(30, "the installed daemon to answer `status`", || {
        if let Some(code) = guard
            .daemon
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            panic!(
                "installed daemon exited with {code}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        let o = run(installed_cli(&env).args(["status", "--output", "json"]));
        if !o.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        let healthy = v["status"]["modules"].as_array().is_some_and(|ms| {
            ms.iter()
                .any(|m| m["name"] == "ids" && m["health"]["status"] == "healthy")
        });
        healthy.then_some(v)
    })
}

fn stop_installed(guard: &mut Installed) {
    let mut child = guard.daemon.take().expect("running");
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = wait_for(30, "the installed daemon to exit after SIGTERM", || {
        child.try_wait().ok().flatten()
    });
    assert!(status.success(), "daemon exit: {status}");
}

#[test]
fn deb_installs_runs_upgrades_and_purges_cleanly() {
    // A run killed half-way leaves the package installed: that one is ours to purge. Anything
    // else under our paths is someone's install, which this test must not touch.
    if installed_version(PKG).is_some() {
        Installed::purge();
    }
    for p in ["/etc/ironpost", "/var/lib/ironpost", "/usr/share/ironpost"] {
        assert!(
            !Path::new(p).exists(),
            "{p} exists without the ironpost package: not removing someone's install"
        );
    }
    let before = ironpost_paths(ROOTS);

    let tmp = tempfile::tempdir().unwrap();
    let (deb1, ddeb1) = package(&tmp.path().join("out"), VERSION);

    // What the package declares and holds.
    assert_eq!(deb_field(&deb1, "Package"), PKG);
    assert!(
        deb_field(&deb1, "Depends").contains("libc6"),
        "dpkg-shlibdeps computed no Depends: {}",
        deb_field(&deb1, "Depends")
    );
    let contents = deb_contents(&deb1);
    for path in [
        "./usr/bin/ironpost-daemon",
        "./usr/bin/ironpost-cli",
        "./etc/ironpost/ironpost.toml",
        "./etc/ironpost/rules/ssh_brute_force.yaml",
        "./etc/ironpost/rules/web_path_traversal.yaml",
        "./etc/ironpost/rules/tests/ssh_brute_force.log",
        "./usr/share/ironpost/models/probe.onnx",
        "./usr/share/ironpost/models/dos.onnx",
        "./usr/lib/systemd/system/ironpost.service",
        "./usr/share/bash-completion/completions/ironpost-cli",
        "./usr/share/zsh/vendor-completions/_ironpost-cli",
        "./usr/share/fish/vendor_completions.d/ironpost-cli.fish",
        "./usr/share/man/man1/ironpost-cli.1.gz",
        "./usr/share/man/man1/ironpost-cli-status.1.gz",
        "./usr/share/doc/ironpost/README.Debian",
    ] {
        assert!(
            contents.lines().any(|l| l.ends_with(path)),
            "{path} not in the .deb:\n{contents}"
        );
    }
    assert!(
        !contents.contains("/usr/lib/debug/"),
        "debug info belongs in the -dbgsym package:\n{contents}"
    );
    let o = run(Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb1)
        .arg("conffiles"));
    assert!(
        text(&o.stdout).lines().any(|l| l == CONFIG),
        "conffiles: {}",
        text(&o.stdout)
    );

    let mut guard = Installed { daemon: None };
    dpkg(&["-i", deb1.to_str().unwrap(), ddeb1.to_str().unwrap()]);
    assert_eq!(installed_version(PKG).as_deref(), Some(VERSION));

    // Stripped binaries whose debug info the -dbgsym package holds, found by build id.
    for b in ["ironpost-daemon", "ironpost-cli"] {
        let installed = Path::new("/usr/bin").join(b);
        let sections = readelf("-S", &installed);
        assert!(
            !sections.contains(".debug_info") && !sections.contains(".debug_line"),
            "{b} is not stripped"
        );
        let id = build_id(&installed);
        let debug = PathBuf::from(format!(
            "/usr/lib/debug/.build-id/{}/{}.debug",
            &id[..2],
            &id[2..]
        ));
        assert!(debug.exists(), "no {} for {b}", debug.display());
        assert!(
            readelf("-S", &debug).contains(".debug_line"),
            "{} has no line tables",
            debug.display()
        );
    }
    // postinst: directories, and the unit enabled by deb-systemd-helper (even without systemd).
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata("/var/lib/ironpost")
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o750, "/var/lib/ironpost mode {mode:o}");
    assert!(Path::new("/etc/ironpost/policies").is_dir());
    assert!(
        std::fs::symlink_metadata("/etc/systemd/system/multi-user.target.wants/ironpost.service")
            .is_ok(),
        "postinst did not enable the unit"
    );
    // The completions and man pages are the CLI's own.
    let bash =
        std::fs::read_to_string("/usr/share/bash-completion/completions/ironpost-cli").unwrap();
    assert!(
        bash.contains("ironpost-cli") && bash.contains("status"),
        "{bash}"
    );

    // Run it as the unit would; the installed CLI answers.
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("daemon.log");
    let status = start_installed(&mut guard, work.path(), &log);
    assert_eq!(
        status["status"]["storage"], "sqlite (/var/lib/ironpost/ironpost.db)",
        "{status}"
    );
    let daemon_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        daemon_log.contains("/usr/share/ironpost/models/probe.onnx")
            && daemon_log.contains("model loaded"),
        "the IDS did not load the shipped model:\n{daemon_log}"
    );
    assert!(
        Path::new("/var/lib/ironpost/ironpost.db").exists(),
        "no store in the package's data dir"
    );
    stop_installed(&mut guard);

    // Upgrade to a newer version over an edited conffile, which dpkg keeps.
    let (deb2, ddeb2) = package(&tmp.path().join("out2"), NEXT_VERSION);
    let edited = std::fs::read_to_string(CONFIG).unwrap() + "\n# edited by deb.rs\n";
    std::fs::write(CONFIG, &edited).unwrap();
    dpkg(&[
        "--force-confold",
        "-i",
        deb2.to_str().unwrap(),
        ddeb2.to_str().unwrap(),
    ]);
    assert_eq!(installed_version(PKG).as_deref(), Some(NEXT_VERSION));
    assert_eq!(std::fs::read_to_string(CONFIG).unwrap(), edited);
    assert!(
        Path::new("/var/lib/ironpost/ironpost.db").exists(),
        "the upgrade lost the store"
    );
    let log2 = work.path().join("daemon2.log");
    start_installed(&mut guard, work.path(), &log2);
    stop_installed(&mut guard);

    // Purge: every file of both packages, the config, the state and the unit's enablement go.
    let o = run(Command::new("dpkg").args(["-L", PKG, DBGSYM]));
    let files: Vec<PathBuf> = text(&o.stdout)
        .lines()
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .collect();
    assert!(files.len() > 10, "dpkg -L: {files:?}");
    dpkg(&["--purge", DBGSYM, PKG]);
    assert_eq!(installed_version(PKG), None);
    let left: Vec<_> = files.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "left after purge: {left:?}");
    for p in [
        "/etc/ironpost",
        "/var/lib/ironpost",
        "/usr/share/ironpost",
        "/usr/share/doc/ironpost",
        "/run/ironpost",
    ] {
        assert!(!Path::new(p).exists(), "{p} left after purge");
    }
    let after = ironpost_paths(ROOTS);
    let new: Vec<_> = after.difference(&before).collect();
    assert!(new.is_empty(), "left after purge: {new:?}");
    drop(guard);
}

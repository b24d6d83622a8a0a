//! Docker helpers for the end-to-end tests: the real `docker` CLI against the dockerd that
//! `scripts/services.sh` starts (or a private dockerd a test starts and restarts), a busybox image
//! built locally `FROM scratch` (no registry is reachable), containers removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use super::{text, wait_for};

/// The image every test container runs.
pub const IMAGE: &str = "ironpost-test-bb";

/// `docker` (Debian's, which builds without buildx when `DOCKER_BUILDKIT=0`) against `host`
/// (`None`: the default socket).
pub fn docker_at(host: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new("/usr/bin/docker");
    c.env("DOCKER_BUILDKIT", "0").env_remove("DOCKER_HOST");
    if let Some(h) = host {
        c.env("DOCKER_HOST", h);
    }
    c.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run /usr/bin/docker (install docker.io: scripts/setup.sh)")
}

/// `docker args…` on the default socket; panics with stderr when it fails.
pub fn docker(args: &[&str]) -> String {
    docker_ok(None, args)
}

pub fn docker_ok(host: Option<&str>, args: &[&str]) -> String {
    let o = docker_at(host, args);
    assert!(
        o.status.success(),
        "docker {args:?} failed: {}{}",
        text(&o.stderr),
        if host.is_none() {
            " (is dockerd running? `bash scripts/services.sh start docker`)"
        } else {
            ""
        }
    );
    text(&o.stdout).trim().to_owned()
}

/// Builds the busybox image on `host` (once per process for the default socket).
pub fn ensure_image_at(host: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy("/bin/busybox", dir.path().join("busybox"))
        .expect("copy /bin/busybox (Debian's busybox-static: scripts/setup.sh)");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]\nENV PATH=/bin\n",
    )
    .expect("Dockerfile");
    let ctx = dir.path().display().to_string();
    docker_ok(host, &["build", "-q", "-t", IMAGE, &ctx]);
}

pub fn ensure_image() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| ensure_image_at(None));
}

/// A container removed (with `-f`) when dropped.
pub struct Ctr {
    pub name: String,
    pub host: Option<String>,
}

impl Ctr {
    /// `docker run -d --name NAME EXTRA… IMAGE sleep 3600`, after removing a leftover of the same
    /// name.
    pub fn run(host: Option<&str>, name: &str, extra: &[&str]) -> Ctr {
        Ctr::run_image(host, name, IMAGE, extra)
    }

    /// [`Ctr::run`] of another image (one built on [`IMAGE`], which has `sleep`).
    pub fn run_image(host: Option<&str>, name: &str, image: &str, extra: &[&str]) -> Ctr {
        let _ = docker_at(host, &["rm", "-f", name]);
        // Built first, so that a container created but not started is removed too.
        let c = Ctr {
            name: name.to_owned(),
            host: host.map(str::to_owned),
        };
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[image, "sleep", "3600"]);
        docker_ok(host, &args);
        c
    }

    /// `docker inspect -f FORMAT`.
    pub fn inspect(&self, format: &str) -> String {
        docker_ok(self.host.as_deref(), &["inspect", "-f", format, &self.name])
    }

    /// `running`, `paused`, `exited` …
    pub fn status(&self) -> String {
        self.inspect("{{.State.Status}}")
    }

    pub fn id(&self) -> String {
        self.inspect("{{.Id}}")
    }

    /// Network name → IPv4 address.
    pub fn networks(&self) -> Vec<(String, String)> {
        let out = self.inspect(
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}}\n{{end}}",
        );
        let mut v: Vec<(String, String)> = out
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, ip)| (k.to_owned(), ip.to_owned()))
            .collect();
        v.sort();
        v
    }

    pub fn wait_status(&self, want: &str, secs: u64) {
        wait_for(
            secs,
            &format!("container {} to be {want}", self.name),
            || (self.status() == want).then_some(()),
        );
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = docker_at(self.host.as_deref(), &["rm", "-f", &self.name]);
    }
}

/// A user-defined bridge network removed on drop.
pub struct Net(pub String);

impl Net {
    pub fn create(name: &str, subnet: &str) -> Net {
        let _ = docker_at(None, &["network", "rm", name]);
        docker(&["network", "create", "--subnet", subnet, name]);
        Net(name.to_owned())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = docker_at(None, &["network", "rm", &self.0]);
    }
}

/// A dockerd of the test's own (socket, data root, exec root, and a bridge the test creates), so
/// that a test can stop and restart it without disturbing the shared one. No iptables rules.
///
/// Never `--bridge=none`: dockerd then deletes `docker0`, which belongs to the shared dockerd.
pub struct PrivateDockerd {
    pub dir: PathBuf,
    exec_root: PathBuf,
    bridge: String,
    child: Option<Child>,
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("run ip");
    assert!(o.status.success(), "ip {args:?}: {}", text(&o.stderr));
}

impl PrivateDockerd {
    pub fn start(tag: &str) -> PrivateDockerd {
        let dir = PathBuf::from(format!(
            "/var/tmp/ironpost-dockerd-{tag}-{}",
            std::process::id()
        ));
        // containerd's socket paths must stay short: the exec root lives under /run.
        let exec_root = PathBuf::from(format!("/run/ipd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dockerd dir");
        let pid = std::process::id();
        let bridge = format!("ipdbr{}", pid % 100_000);
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        let addr = format!("198.19.{}.1/24", 200 + pid % 50);
        ip(&["addr", "add", &addr, "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let mut d = PrivateDockerd {
            dir,
            exec_root,
            bridge,
            child: None,
        };
        d.up();
        d
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// Starts dockerd and waits until it answers.
    pub fn up(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dockerd.log"))
            .expect("dockerd log");
        let child = Command::new("dockerd")
            .arg(format!("--host={}", self.host()))
            .arg(format!("--data-root={}", self.dir.join("data").display()))
            .arg(format!("--exec-root={}", self.exec_root.display()))
            .arg(format!(
                "--pidfile={}",
                self.dir.join("docker.pid").display()
            ))
            .arg(format!("--bridge={}", self.bridge))
            .args(["--iptables=false", "--ip6tables=false", "--ip-masq=false"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        self.child = Some(child);
        let host = self.host();
        wait_for(60, "the private dockerd to answer", || {
            docker_at(Some(&host), &["info"])
                .status
                .success()
                .then_some(())
        });
    }

    /// Stops dockerd (SIGTERM) and waits for it to exit.
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            wait_for(60, "the private dockerd to exit", || {
                c.try_wait().ok().flatten()
            });
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            let host = self.host();
            let ids = docker_at(Some(&host), &["ps", "-aq"]);
            for id in text(&ids.stdout).split_whitespace() {
                let _ = docker_at(Some(&host), &["rm", "-f", id]);
            }
        }
        self.down();
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.join("data"))
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.exec_root);
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

/// Writes `body` as `name` under `dir`.
pub fn write_policy(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir).expect("policy dir");
    std::fs::write(dir.join(name), body).expect("policy file");
}

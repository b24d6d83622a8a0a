//! A container built here (FROM scratch + busybox) runs `sh -c` children, writes into its
//! `/etc` and connects out; the events carry the cgroup id that [`ContainerMap`] maps to that
//! container's id. Needs root, the kernel's BTF and dockerd (`bash scripts/services.sh start`).

mod common;

use std::process::{Command, Output, Stdio};

use common::{attached, collect_until};
use ironpost_process_monitor::{ContainerMap, Event};

const IMAGE: &str = "ironpost-pm-test-bb";
const NAME: &str = "ironpost-pm-test-ctr";

fn docker(args: &[&str]) -> Output {
    Command::new("/usr/bin/docker")
        .env("DOCKER_BUILDKIT", "0")
        .env_remove("DOCKER_HOST")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run /usr/bin/docker (install docker.io: scripts/setup.sh)")
}

fn docker_ok(args: &[&str]) -> String {
    let o = docker(args);
    assert!(
        o.status.success(),
        "docker {args:?} failed: {} (is dockerd running? `bash scripts/services.sh start docker`)",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// `FROM scratch` with a static busybox: no registry is needed.
fn build_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy("/bin/busybox", dir.path().join("busybox"))
        .expect("copy /bin/busybox (Debian's busybox-static: scripts/setup.sh)");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]\nENV PATH=/bin\n",
    )
    .expect("Dockerfile");
    docker_ok(&[
        "build",
        "-q",
        "-t",
        IMAGE,
        &dir.path().display().to_string(),
    ]);
}

/// The container, removed on drop.
struct Ctr;

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", NAME]);
    }
}

#[test]
fn container_events_carry_its_cgroup() {
    build_image();
    let _ = docker(&["rm", "-f", NAME]);
    let id = docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        NAME,
        IMAGE,
        "sleep",
        "3600",
    ]);
    let _ctr = Ctr;
    assert_eq!(id.len(), 64, "{id}");
    let (_m, mut r) = attached(common::watched(&[std::path::Path::new("/etc")]));
    // `sleep 0` is not a shell builtin; the nc connects to a closed loopback port (the SYN is
    // sent, a RST answers).
    let out = docker_ok(&[
        "exec",
        NAME,
        "sh",
        "-c",
        "sleep 0; echo pm > /etc/ironpost-pm-test; nc -w 1 127.0.0.1 4242 </dev/null; echo done",
    ]);
    assert!(out.ends_with("done"), "{out}");
    // A host process, for contrast.
    let host = Command::new("/bin/true").spawn().expect("spawn /bin/true");
    let host_pid = host.id();
    assert!(host.wait_with_output().expect("wait").status.success());
    let mut seen = Vec::new();
    let ok = collect_until(&mut r, &mut seen, |s| {
        s.iter()
            .any(|e| matches!(e, Event::Exec(x) if x.task.pid == host_pid))
    });
    let mut map = ContainerMap::new();
    assert!(ok, "no exec event of the host's /bin/true: {seen:#?}");
    let sh = seen
        .iter()
        .find_map(|e| match e {
            Event::Exec(x)
                if x.argv.first().is_some_and(|a| a == "sh")
                    && x.argv.get(1).is_some_and(|a| a == "-c")
                    && x.argv
                        .get(2)
                        .is_some_and(|a| a.contains("ironpost-pm-test")) =>
            {
                Some(x)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("exec of the container's sh: {seen:#?}"));
    assert_eq!(
        map.container_of(sh.task.cgroup_id).as_deref(),
        Some(id.as_str()),
        "cgroup {} of sh (roots {:?})",
        sh.task.cgroup_id,
        map.roots()
    );
    let child = seen
        .iter()
        .find_map(|e| match e {
            Event::Exec(x) if x.task.ppid == sh.task.pid && x.argv == ["sleep", "0"] => Some(x),
            _ => None,
        })
        .unwrap_or_else(|| panic!("exec of `sleep 0` by the container's sh: {seen:#?}"));
    assert_eq!(
        map.container_of(child.task.cgroup_id).as_deref(),
        Some(id.as_str())
    );
    let open = seen
        .iter()
        .find_map(|e| match e {
            Event::FileOpen(f) if f.path == "/etc/ironpost-pm-test" => Some(f),
            _ => None,
        })
        .unwrap_or_else(|| {
            panic!("write-open of the container's /etc/ironpost-pm-test: {seen:#?}")
        });
    assert_eq!(open.task.pid, sh.task.pid);
    assert_eq!(
        map.container_of(open.task.cgroup_id).as_deref(),
        Some(id.as_str())
    );
    let conn = seen
        .iter()
        .find_map(|e| match e {
            Event::Connect(c) if c.dport == 4242 => Some(c),
            _ => None,
        })
        .unwrap_or_else(|| panic!("connect"));
    assert_eq!(conn.task.comm, "nc");
    assert_eq!(conn.task.ppid, sh.task.pid);
    assert_eq!(
        map.container_of(conn.task.cgroup_id).as_deref(),
        Some(id.as_str())
    );
    // A host process is in no container.
    let host = seen
        .iter()
        .find(|e| matches!(e, Event::Exec(x) if x.task.pid == host_pid))
        .map(|e| e.task().cgroup_id)
        .expect("host exec");
    assert_ne!(host, sh.task.cgroup_id);
    assert_eq!(map.container_of(host), None);
}

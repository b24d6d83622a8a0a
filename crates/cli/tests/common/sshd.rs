//! A real sshd in a lab's victim namespace that logs to the real journal, as on a Debian 12 host
//! without rsyslog: its syslog socket `/dev/log` is journald's (`/run/systemd/journal/dev-log`),
//! in a private mount namespace with its own `/dev`, so the host's `/dev` is left alone. The
//! journal then records sshd's trusted fields (`_EXE=/usr/sbin/sshd`, `_COMM=sshd`, `_UID=0`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Lab, Proc, VICTIM_IP, text};

/// Starts systemd-journald the way `scripts/services.sh start journald` does, when none runs.
pub fn ensure_journald() {
    let up = || {
        Path::new("/run/systemd/journal/socket").exists()
            && Command::new("pgrep")
                .args(["-x", "systemd-journal"])
                .output()
                .is_ok_and(|o| o.status.success())
    };
    if up() {
        return;
    }
    let root = super::repo_root();
    let o = Command::new("bash")
        .arg(root.join("scripts/services.sh"))
        .args(["start", "journald"])
        .output()
        .unwrap();
    assert!(o.status.success(), "journald: {}", text(&o.stderr));
    assert!(up(), "journald is not running");
}

pub struct JournalSshd {
    dir: tempfile::TempDir,
    _sshd: Proc,
}

impl JournalSshd {
    /// sshd on `VICTIM_IP:22` in `lab.victim`, password authentication on, no PAM; waits until
    /// the attacker namespace reaches it.
    pub fn start(lab: &Lab) -> JournalSshd {
        ensure_journald();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let o = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(dir.path().join("hostkey"))
            .output()
            .expect("ssh-keygen (package openssh-client)");
        assert!(o.status.success(), "{}", text(&o.stderr));
        // The administrator's key: root may log in with it (and only with a key).
        let o = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(dir.path().join("admin_key"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        std::fs::copy(
            dir.path().join("admin_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sshd_config"),
            format!(
                "ListenAddress {VICTIM_IP}:22\nHostKey {d}/hostkey\nPidFile {d}/sshd.pid\n\
                 PasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 PermitRootLogin prohibit-password\nAuthorizedKeysFile {d}/authorized_keys\n\
                 StrictModes no\nLogLevel INFO\nMaxStartups 100\nMaxAuthTries 6\n"
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::write(
            dir.path().join("run.sh"),
            format!(
                "set -e\nmkdir -p {d}/dev\nmount -t tmpfs tmpfs {d}/dev\n\
                 for x in null zero random urandom tty full; do touch {d}/dev/$x; mount --bind /dev/$x {d}/dev/$x; done\n\
                 ln -s /run/systemd/journal/dev-log {d}/dev/log\nmount --bind {d}/dev /dev\n\
                 exec /usr/sbin/sshd -D -f {d}/sshd_config\n"
            ),
        )
        .unwrap();
        let sshd = Proc(
            lab.victim(&["unshare", "-m", "--propagation", "private", "sh"])
                .arg(dir.path().join("run.sh"))
                .stdin(Stdio::null())
                .spawn()
                .expect("sshd (package openssh-server)"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !lab
            .attacker(&["bash", "-c", &format!("exec 3<>/dev/tcp/{VICTIM_IP}/22")])
            .status
            .success()
        {
            assert!(Instant::now() < deadline, "sshd is not listening");
            std::thread::sleep(Duration::from_millis(100));
        }
        JournalSshd { dir, _sshd: sshd }
    }

    /// An SSH session as root from `from` (an address of the attacker namespace) running
    /// `command` on the server; its stdin is piped.
    pub fn session(&self, lab: &Lab, from: &str, command: &str) -> Proc {
        let key = self.dir.path().join("admin_key");
        Proc(
            Command::new("ip")
                .args(["netns", "exec", &lab.attacker, "ssh", "-T", "-i"])
                .arg(&key)
                .args(["-b", from, "-o", "StrictHostKeyChecking=no"])
                .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"])
                .args(["-o", "ServerAliveInterval=0"])
                .arg(format!("root@{VICTIM_IP}"))
                .arg(command)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("ssh (package openssh-client)"),
        )
    }

    /// hydra from the attacker namespace: `guesses` wrong passwords for a user that does not
    /// exist (one `Failed password` line each). Stops after 30 s at most: once the attacker is
    /// blocked, hydra only waits.
    pub fn hydra(&self, lab: &Lab, guesses: usize) {
        let words = self.dir.path().join("words.txt");
        let list: String = (0..guesses).map(|i| format!("wrong-{i}\n")).collect();
        std::fs::write(&words, list).unwrap();
        let o = lab.attacker(&[
            "timeout",
            "30",
            "hydra",
            "-I",
            "-l",
            "ghost",
            "-P",
            words.to_str().unwrap(),
            "-t",
            "4",
            "-w",
            "10",
            "-W",
            "1",
            &format!("ssh://{VICTIM_IP}"),
        ]);
        // 0: done; 124: stopped by `timeout` after the block; 255: hydra's error exit.
        assert!(
            matches!(o.status.code(), Some(0 | 124 | 255)),
            "hydra: {:?} {}{}",
            o.status,
            text(&o.stdout),
            text(&o.stderr)
        );
    }
}

impl Drop for JournalSshd {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("sshd.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

//! Kernel process telemetry as a source: the process monitor's exec, file-open and connect
//! events (`ironpost-process-monitor`, joined with the process table and the container map by
//! the daemon, `crates/daemon/src/process.rs`) become records with Sigma's field names, so
//! Sigma rules of `category: process_creation`, `file_event` and `network_connection` (and
//! native rules naming the same fields) match them. The log-source mapping is in
//! `rules/sigma.rs`: each category means `format` = that category, and these three formats are
//! kept out of `product: linux` rules without a category, as auditd events are.
//!
//! | field | process_creation | file_event | network_connection |
//! |---|---|---|---|
//! | `Image` (`process`) | the executed file | the opener's executable | the connecting process's executable |
//! | `CommandLine` | argv joined by spaces (bounded by the kernel: 512 bytes, 16 arguments) | the opener's | the connector's |
//! | `ParentImage`, `ParentCommandLine` | the parent's, from the process table | the parent's | the parent's |
//! | `User` (`user`) | the host account name of the uid, else the uid | same | same |
//! | `CurrentDirectory` | `/proc/<pid>/cwd` read at receipt (racy, see docs/process-monitor.md) | — | — |
//! | `ProcessId` (`pid`), `ParentProcessId` | host pids | same | same |
//! | `TargetFilename` | — | the path opened for writing | — |
//! | `DestinationIp`, `DestinationPort`, `Initiated` (`true`), `Protocol` (`tcp`) | — | — | the outbound TCP connect |
//! | `container_id`, `container_name`, `container_image` | the container the process runs in (cgroup → Docker id; name and image from the guard's inventory) | same | same |
//!
//! Evidence: the host kernel's own probes saw these processes, files and connections; nobody
//! writes these records but the kernel, so a record is first-hand host evidence and its class is
//! `verified`. The class is about *who reported* the event, not about the content a process
//! chose: a process picks its own argv and file names, and rules must read them as the
//! actor's words. A record carries no source address (the responder has nothing to block); the
//! container it names is the actor the container guard's policies act on.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::IpAddr;
use std::path::Path;
use std::time::UNIX_EPOCH;

use ironpost_core::{ContainerRef, Evidence};
use ironpost_process_monitor::{ContainerMap, Event, ProcessTable, boot_ns_to_system_time};

use crate::fields::{FieldSource, FieldValue};

/// The Sigma log-source category of a process record (its `format` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessCategory {
    /// A successful execve.
    ProcessCreation,
    /// A file under a watched directory opened for writing or creating.
    FileEvent,
    /// An outbound TCP connection attempt.
    NetworkConnection,
}

impl ProcessCategory {
    pub const ALL: [ProcessCategory; 3] = [
        ProcessCategory::ProcessCreation,
        ProcessCategory::FileEvent,
        ProcessCategory::NetworkConnection,
    ];

    /// The Sigma category name, also the record's `format`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessCategory::ProcessCreation => "process_creation",
            ProcessCategory::FileEvent => "file_event",
            ProcessCategory::NetworkConnection => "network_connection",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One kernel process event, with Sigma's field names. Build it with [`ProcessRecord::new`] and
/// the public fields; the message is derived from them when the pipeline receives it
/// ([`ProcessRecord::describe`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessRecord {
    pub category: ProcessCategory,
    /// When the kernel saw it, microseconds since the Unix epoch.
    pub timestamp_micros: i64,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    /// The uid's account name on the host, when it has one.
    pub user: Option<String>,
    pub image: String,
    pub command_line: String,
    pub parent_image: Option<String>,
    pub parent_command_line: Option<String>,
    pub current_directory: Option<String>,
    pub target_filename: Option<String>,
    pub destination_ip: Option<IpAddr>,
    pub destination_port: Option<u16>,
    /// The container the process runs in (full id; name when the guard knows it).
    pub container: Option<ContainerRef>,
    pub container_image: Option<String>,
    message: String,
    uid_text: String,
}

/// Longest sample line accepted by [`ProcessRecord::from_sample`].
const MAX_SAMPLE_LINE: usize = 16 * 1024;

impl ProcessRecord {
    pub fn new(category: ProcessCategory, timestamp_micros: i64) -> Self {
        ProcessRecord {
            category,
            timestamp_micros,
            pid: 0,
            ppid: 0,
            uid: 0,
            user: None,
            image: String::new(),
            command_line: String::new(),
            parent_image: None,
            parent_command_line: None,
            current_directory: None,
            target_filename: None,
            destination_ip: None,
            destination_port: None,
            container: None,
            container_image: None,
            message: String::new(),
            uid_text: String::new(),
        }
    }

    /// Derives the message (`process_creation /bin/sh: sh -c id (parent /usr/sbin/nginx)
    /// container web`) from the fields; call after setting them.
    pub fn describe(&mut self) {
        let mut m = String::with_capacity(64 + self.command_line.len());
        m.push_str(self.category.as_str());
        m.push(' ');
        m.push_str(&self.image);
        if !self.command_line.is_empty() {
            m.push_str(": ");
            m.push_str(&self.command_line);
        }
        if let Some(t) = &self.target_filename {
            let _ = write!(m, " file {t}");
        }
        if let (Some(ip), Some(port)) = (self.destination_ip, self.destination_port) {
            match ip {
                IpAddr::V6(v6) => {
                    let _ = write!(m, " -> [{v6}]:{port}");
                }
                IpAddr::V4(v4) => {
                    let _ = write!(m, " -> {v4}:{port}");
                }
            }
        }
        if let Some(p) = &self.parent_image {
            let _ = write!(m, " (parent {p})");
        }
        if let Some(c) = &self.container {
            match (&c.name, &c.id) {
                (Some(n), _) => {
                    let _ = write!(m, " container {n}");
                }
                (None, Some(id)) => {
                    let _ = write!(m, " container {}", &id[..id.len().min(12)]);
                }
                (None, None) => {}
            }
        }
        self.message = m;
        self.uid_text = self.uid.to_string();
    }

    /// A record from a sample-file line (`rules/tests/<id>.log`): `@CATEGORY {json}`, the JSON
    /// object's keys Sigma's field names (`Image`, `CommandLine`, `ParentImage`, `User`,
    /// `TargetFilename`, `DestinationIp`, `DestinationPort`, `ProcessId`, `ParentProcessId`,
    /// `CurrentDirectory`, `container_id`, `container_name`, `container_image`). `None` when the
    /// line does not start with `@` and a category; `Some(Err)` names what is wrong.
    pub fn from_sample(line: &str) -> Option<Result<ProcessRecord, String>> {
        let rest = line.strip_prefix('@')?;
        let (cat, json) = rest.split_once(' ').unwrap_or((rest, ""));
        let category = ProcessCategory::from_name(cat)?;
        Some(Self::sample_fields(category, json.trim()))
    }

    fn sample_fields(category: ProcessCategory, json: &str) -> Result<ProcessRecord, String> {
        if json.len() > MAX_SAMPLE_LINE {
            return Err(format!("longer than {MAX_SAMPLE_LINE} bytes"));
        }
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("not a JSON object: {e}"))?;
        let obj = v.as_object().ok_or("not a JSON object")?;
        let mut r = ProcessRecord::new(category, 0);
        let mut container = ContainerRef::default();
        for (k, v) in obj {
            let text = || {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("`{k}` must be a string"))
            };
            let num = || {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("`{k}` must be a number 0-4294967295"))
            };
            match k.as_str() {
                "Image" => r.image = text()?,
                "CommandLine" => r.command_line = text()?,
                "ParentImage" => r.parent_image = Some(text()?),
                "ParentCommandLine" => r.parent_command_line = Some(text()?),
                "User" => r.user = Some(text()?),
                "uid" => r.uid = num()?,
                "CurrentDirectory" => r.current_directory = Some(text()?),
                "TargetFilename" => r.target_filename = Some(text()?),
                "DestinationIp" => {
                    r.destination_ip = Some(
                        text()?
                            .parse()
                            .map_err(|_| format!("`{k}` must be an IP address"))?,
                    );
                }
                "DestinationPort" => {
                    r.destination_port =
                        Some(u16::try_from(num()?).map_err(|_| format!("`{k}` must be a port"))?);
                }
                "ProcessId" => r.pid = num()?,
                "ParentProcessId" => r.ppid = num()?,
                "container_id" => container.id = Some(text()?),
                "container_name" => container.name = Some(text()?),
                "container_image" => r.container_image = Some(text()?),
                other => return Err(format!("unknown field `{other}`")),
            }
        }
        if container != ContainerRef::default() {
            r.container = Some(container);
        }
        r.describe();
        Ok(r)
    }

    /// The message [`ProcessRecord::describe`] derived.
    pub fn text(&self) -> &str {
        &self.message
    }
}

impl FieldSource for ProcessRecord {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        let net = self.category == ProcessCategory::NetworkConnection;
        Some(match name {
            "message" => FieldValue::Str(&self.message),
            "format" => FieldValue::Str(self.category.as_str()),
            "process" | "Image" | "program" | "app" | "app_name" => FieldValue::Str(&self.image),
            "CommandLine" => FieldValue::Str(&self.command_line),
            "ParentImage" => FieldValue::Str(self.parent_image.as_deref()?),
            "ParentCommandLine" => FieldValue::Str(self.parent_command_line.as_deref()?),
            "user" | "User" => FieldValue::Str(self.user.as_deref().unwrap_or(&self.uid_text)),
            "uid" => FieldValue::Num(f64::from(self.uid)),
            "CurrentDirectory" => FieldValue::Str(self.current_directory.as_deref()?),
            "pid" | "ProcessId" => FieldValue::Num(f64::from(self.pid)),
            "ParentProcessId" => FieldValue::Num(f64::from(self.ppid)),
            "TargetFilename" => FieldValue::Str(self.target_filename.as_deref()?),
            "DestinationIp" | "dst_ip" => FieldValue::Ip(self.destination_ip?),
            "DestinationPort" | "dst_port" => FieldValue::Num(f64::from(self.destination_port?)),
            "Initiated" if net => FieldValue::Str("true"),
            "Protocol" | "protocol" if net => FieldValue::Str("tcp"),
            "container_id" => FieldValue::Str(self.container.as_ref()?.id.as_deref()?),
            "container_name" => FieldValue::Str(self.container.as_ref()?.name.as_deref()?),
            "container_image" => FieldValue::Str(self.container_image.as_deref()?),
            "source" => FieldValue::Str("process_monitor"),
            "evidence" => FieldValue::Str(Evidence::Verified.as_str()),
            _ => return None,
        })
    }

    fn message(&self) -> &str {
        &self.message
    }

    fn timestamp_micros(&self) -> Option<i64> {
        Some(self.timestamp_micros)
    }

    /// First-hand host evidence: the kernel's probes reported it (module comment).
    fn evidence(&self) -> Evidence {
        Evidence::Verified
    }

    /// The container's id, or `host`: alerts of one rule dedup per container.
    fn actor(&self) -> Option<&str> {
        Some(
            self.container
                .as_ref()
                .and_then(|c| c.id.as_deref())
                .unwrap_or("host"),
        )
    }
}

/// A container's name and image by its full id: the container guard's inventory in the daemon.
pub trait ContainerNames {
    /// (name, image) of the container `id`, when known.
    fn name_and_image(&mut self, id: &str) -> Option<(String, String)>;
}

/// No inventory: containers are named by id only.
impl ContainerNames for () {
    fn name_and_image(&mut self, _: &str) -> Option<(String, String)> {
        None
    }
}

/// Largest `/etc/passwd` read for account names.
const PASSWD_MAX: u64 = 1 << 20;

/// What the daemon's `process_monitor` module does with each event before the rules see it
/// (`crates/daemon/src/process.rs`): the process table is updated, the cgroup mapped to a
/// container (name and image from [`ContainerNames`]), and exec, file and connect events become a
/// [`ProcessRecord`]. `examples/process_events_bench.rs` times this path with the rules.
pub struct RecordBuilder<N> {
    table: ProcessTable,
    containers: ContainerMap,
    names: N,
    users: HashMap<u32, String>,
}

impl<N> std::fmt::Debug for RecordBuilder<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBuilder")
            .field("processes", &self.table.len())
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl<N: ContainerNames> RecordBuilder<N> {
    /// `passwd`: the host's account names by uid (at most 1 MiB read; unreadable: none).
    pub fn new(table: ProcessTable, containers: ContainerMap, names: N, passwd: &Path) -> Self {
        RecordBuilder {
            table,
            containers,
            names,
            users: read_passwd(passwd),
        }
    }

    pub fn table(&self) -> &ProcessTable {
        &self.table
    }

    pub fn containers(&self) -> &ContainerMap {
        &self.containers
    }

    /// Applies `ev` to the process table only (nobody reads records).
    pub fn apply(&mut self, ev: &Event) {
        self.table.apply(ev);
    }

    /// Applies `ev` to the process table; the record the rules see, for an exec, a file event
    /// or a connect (an exit only updates the table).
    pub fn record(&mut self, ev: &Event) -> Option<ProcessRecord> {
        self.table.apply(ev);
        let category = match ev {
            Event::Exec(_) => ProcessCategory::ProcessCreation,
            Event::FileOpen(_) => ProcessCategory::FileEvent,
            Event::Connect(_) => ProcessCategory::NetworkConnection,
            Event::Exit(_) => return None,
        };
        let t = ev.task();
        let micros = boot_ns_to_system_time(t.boot_ns)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let mut r = ProcessRecord::new(category, micros);
        r.pid = t.pid;
        r.ppid = t.ppid;
        r.uid = t.uid;
        let me = self.table.get(t.pid);
        match ev {
            Event::Exec(e) => {
                // The table's name: a busybox re-exec of /proc/self/exe is named after its applet.
                let exe = me.map_or(e.filename.as_str(), |p| p.exe.as_str());
                r.image = absolute(exe, e.cwd.as_ref().map(|c| c.path.as_str()));
                r.command_line = e.argv.join(" ");
                r.current_directory = e.cwd.as_ref().map(|c| c.path.clone());
            }
            _ => {
                if let Some(p) = me {
                    r.image = p.exe.clone();
                    r.command_line = p.argv.join(" ");
                }
            }
        }
        match ev {
            Event::FileOpen(f) => r.target_filename = Some(f.path.clone()),
            Event::Connect(c) => {
                r.destination_ip = Some(c.daddr);
                r.destination_port = Some(c.dport);
            }
            _ => {}
        }
        if let Some(parent) = self.table.get(t.ppid) {
            r.parent_image = Some(parent.exe.clone());
            r.parent_command_line = Some(parent.argv.join(" "));
        }
        let container = self.containers.container_of(t.cgroup_id);
        r.user = match (&container, t.uid) {
            // A container has its own accounts: only root's name is the same everywhere.
            (Some(_), 0) => Some("root".into()),
            (Some(_), _) => None,
            (None, uid) => self.users.get(&uid).cloned(),
        };
        if let Some(id) = container {
            let known = self.names.name_and_image(&id);
            r.container_image = known.as_ref().map(|(_, image)| image.clone());
            r.container = Some(ContainerRef {
                id: Some(id),
                name: known.map(|(name, _)| name),
            });
        }
        Some(r)
    }
}

/// The host's account names by uid (`/etc/passwd`, at most 1 MiB; malformed lines skipped).
fn read_passwd(path: &Path) -> HashMap<u32, String> {
    use std::io::Read;
    let mut text = String::new();
    let ok = std::fs::File::open(path)
        .and_then(|f| f.take(PASSWD_MAX).read_to_string(&mut text))
        .is_ok();
    if !ok {
        return HashMap::new();
    }
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            (!name.is_empty()).then(|| (uid, name.to_owned()))
        })
        .collect()
}

/// An exec's filename made absolute with the working directory when it is relative (`./x`).
fn absolute(filename: &str, cwd: Option<&str>) -> String {
    match cwd {
        Some(dir) if !filename.starts_with('/') => {
            let f = filename.strip_prefix("./").unwrap_or(filename);
            format!("{}/{f}", dir.trim_end_matches('/'))
        }
        _ => filename.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_lines_become_records_with_sigma_fields() {
        let r = ProcessRecord::from_sample(
            r#"@process_creation {"Image":"/bin/sh","CommandLine":"sh -c id","ParentImage":"/usr/sbin/nginx","ProcessId":42,"container_name":"web","container_id":"abc"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            r.message(),
            "process_creation /bin/sh: sh -c id (parent /usr/sbin/nginx) container web"
        );
        assert_eq!(r.field("format"), Some(FieldValue::Str("process_creation")));
        assert_eq!(r.field("process"), Some(FieldValue::Str("/bin/sh")));
        assert_eq!(r.field("pid"), Some(FieldValue::Num(42.0)));
        assert_eq!(r.field("user"), Some(FieldValue::Str("0")));
        assert_eq!(r.field("Initiated"), None);
        assert_eq!(r.evidence(), Evidence::Verified);
        let c = ProcessRecord::from_sample(
            r#"@network_connection {"Image":"/bin/nc","DestinationIp":"2001:db8::1","DestinationPort":3333}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            c.message(),
            "network_connection /bin/nc -> [2001:db8::1]:3333"
        );
        assert_eq!(c.field("Initiated"), Some(FieldValue::Str("true")));
        assert_eq!(c.field("DestinationPort"), Some(FieldValue::Num(3333.0)));
        assert!(ProcessRecord::from_sample("Nov 20 host sshd[1]: x").is_none());
        assert!(ProcessRecord::from_sample("@other {}").is_none());
        for (bad, why) in [
            ("@file_event [1]", "not a JSON object"),
            ("@file_event {\"Nope\":1}", "unknown field `Nope`"),
            (
                "@file_event {\"ProcessId\":\"1\"}",
                "`ProcessId` must be a number",
            ),
            (
                "@network_connection {\"DestinationPort\":70000}",
                "`DestinationPort` must be a port",
            ),
        ] {
            let e = ProcessRecord::from_sample(bad).unwrap().unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn relative_exec_names_become_absolute() {
        assert_eq!(absolute("/bin/sh", Some("/tmp")), "/bin/sh");
        assert_eq!(absolute("./run.sh", Some("/srv/")), "/srv/run.sh");
        assert_eq!(absolute("x", None), "x");
    }

    #[test]
    fn passwd_names_by_uid() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(
            &p,
            "root:x:0:0:root:/root:/bin/bash\nbroken\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n:x:5:5::/:/bin/sh\n",
        )
        .unwrap();
        let u = read_passwd(&p);
        assert_eq!(u.get(&0).map(String::as_str), Some("root"));
        assert_eq!(u.get(&33).map(String::as_str), Some("www-data"));
        assert_eq!(u.len(), 2);
    }
}

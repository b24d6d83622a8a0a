//! Running the simulation into files: `generate` drives `Sim` until enough lines are written,
//! renders each line in every requested format (`PATH.tmp`, renamed when complete), and computes
//! the ground truth from the events. A child of `sim.rs`, so it sees the simulation's internals.

use super::*;

/// One output file being written (`PATH.tmp`, renamed when complete).
struct Out {
    format: Format,
    path: PathBuf,
    tmp: PathBuf,
    w: BufWriter<File>,
}

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (`Nov  3 21:47:13`, `2026-11-03T21:47:13Z`) of a second since the epoch.
fn stamps(secs: u64) -> (String, String) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = civil((secs / 86_400) as i64);
    let t = secs % 86_400;
    let (hh, mm, ss) = (t / 3600, t / 60 % 60, t % 60);
    (
        format!("{} {d:>2} {hh:02}:{mm:02}:{ss:02}", MONTHS[m as usize - 1]),
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"),
    )
}

/// Simulates until `lines` lines are written to `BASE` + each format's suffix, then writes
/// `BASE.truth.json`. Files are written under a `.tmp` name and renamed when complete, so an
/// interrupted run leaves no partial corpus behind.
pub(crate) fn generate(
    base: &Path,
    lines: usize,
    seed: u64,
    formats: &[Format],
) -> io::Result<Truth> {
    let mut rng = Rng::new(seed);
    let mut seen = HashSet::new();
    let mut sim = Sim {
        rng: Rng::new(seed ^ 0x5EED),
        pid: 1900,
        seq: 0,
        pending: BinaryHeap::new(),
        scanners: Vec::new(),
        user_ips: Vec::new(),
        user_keys: Vec::new(),
    };
    // Addresses first, from their own random stream, so that pool sizes do not shift the
    // behaviour stream and vice versa.
    std::mem::swap(&mut sim.rng, &mut rng);
    let brute: Vec<IpAddr> = (0..10).map(|_| sim.attacker_ip(&mut seen, false)).collect();
    let dictionary: Vec<IpAddr> = (0..6).map(|i| sim.attacker_ip(&mut seen, i == 5)).collect();
    sim.scanners = (0..20_000)
        .map(|i| sim.attacker_ip(&mut seen, i % 20 == 7))
        .collect();
    let nets: [u32; 3] = [0xC000_0200, 0xC633_6400, 0xCB00_7100];
    let mut legit = Vec::new();
    for _ in USERS {
        let n = sim.rng.range(1, 3);
        let ips: Vec<IpAddr> = (0..n)
            .map(|_| {
                let net = *sim.rng.pick(&nets);
                IpAddr::V4(Ipv4Addr::from(net | sim.rng.range(1, 254) as u32))
            })
            .collect();
        for ip in &ips {
            if !legit.contains(ip) {
                legit.push(*ip);
            }
        }
        sim.user_ips.push(ips);
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        sim.user_keys
            .push((0..43).map(|_| char::from(*sim.rng.pick(B64))).collect());
    }
    std::mem::swap(&mut sim.rng, &mut rng);

    let mut actors: Vec<Actor> = Vec::new();
    let mut agenda: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    for (i, &ip) in brute.iter().enumerate() {
        // The first attacker is mid-campaign at the start, so that even a short corpus has a
        // brute force in it; the others start idle.
        let (next, campaign_end) = if i == 0 {
            (START_MS, START_MS + 40 * MIN + sim.rng.exp(150 * MIN))
        } else {
            (START_MS, 0)
        };
        agenda.push(Reverse((next, actors.len())));
        actors.push(Actor::Brute {
            ip,
            campaign_end,
            user: "root",
        });
    }
    for (i, &ip) in dictionary.iter().enumerate() {
        let (next, campaign_end) = if i == 0 {
            (
                START_MS + 5 * MIN,
                START_MS + 5 * MIN + sim.rng.exp(2 * HOUR),
            )
        } else {
            (START_MS, 0)
        };
        agenda.push(Reverse((next, actors.len())));
        actors.push(Actor::Dictionary { ip, campaign_end });
    }
    for actor in [Actor::ScannerLogin, Actor::ScannerNoise, Actor::Users] {
        agenda.push(Reverse((START_MS, actors.len())));
        actors.push(actor);
    }

    let mut outs = Vec::new();
    for &format in formats {
        let path = with_suffix(base, format.suffix());
        let tmp = with_suffix(&path, ".tmp");
        let w = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        outs.push(Out {
            format,
            path,
            tmp,
            w,
        });
    }

    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut by_class: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut ips: HashSet<IpAddr> = HashSet::new();
    let (mut failed_password, mut auth_failures, mut named) = (0u64, 0u64, 0u64);
    let mut windows: HashMap<IpAddr, VecDeque<u64>> = HashMap::new();
    let mut reached: BTreeSet<IpAddr> = BTreeSet::new();
    let (mut first, mut last) = (None, 0u64);
    let mut last_secs = u64::MAX;
    let mut stamp = (String::new(), String::new());
    let mut written = 0usize;
    while written < lines {
        let next_actor = agenda.peek().map_or(u64::MAX, |Reverse((t, _))| *t);
        // A session's lines are never earlier than its start, so every line due before the
        // next actor's turn can go out now.
        let due = sim
            .pending
            .peek()
            .is_some_and(|Reverse(p)| p.at < next_actor);
        if !due {
            let Some(Reverse((at, i))) = agenda.pop() else {
                break;
            };
            let next = sim.act(&mut actors[i], at);
            agenda.push(Reverse((next, i)));
            continue;
        }
        let Some(Reverse(Pending { at, line, .. })) = sim.pending.pop() else {
            break;
        };
        let secs = at / 1000;
        if secs != last_secs {
            stamp = stamps(secs);
            last_secs = secs;
        }
        first.get_or_insert(secs);
        last = secs;
        written += 1;
        *counts.entry(line.kind.name()).or_default() += 1;
        *by_class.entry(line.class.name()).or_default() += 1;
        auth_failures += u64::from(line.kind.is_auth_failure());
        if let Some(ip) = line.ip {
            ips.insert(ip);
            named += 1;
            if line.kind.is_failed_password() {
                failed_password += 1;
                let w = windows.entry(ip).or_default();
                w.push_back(secs);
                while w.front().is_some_and(|&f| secs - f > FIND_TIME_SECS) {
                    w.pop_front();
                }
                if w.len() >= MAX_RETRY {
                    reached.insert(ip);
                }
            }
        }
        let (severity, level) = if line.kind.is_error() {
            (3, "error")
        } else {
            (6, "info")
        };
        let facility = if line.kind.is_authpriv() { 10 } else { 4 };
        let pri = facility * 8 + severity;
        let (s3164, s5424) = (&stamp.0, &stamp.1);
        let (pid, msg) = (line.pid, &line.message);
        for o in &mut outs {
            match o.format {
                Format::Rfc3164 => writeln!(o.w, "{s3164} {HOST} sshd[{pid}]: {msg}")?,
                Format::Rfc3164Pri => writeln!(o.w, "<{pri}>{s3164} {HOST} sshd[{pid}]: {msg}")?,
                Format::Rfc5424 => match line.ip {
                    Some(ip) => writeln!(
                        o.w,
                        "<{pri}>1 {s5424} {HOST} sshd {pid} - [meta source_ip=\"{ip}\"] {msg}"
                    )?,
                    None => writeln!(o.w, "<{pri}>1 {s5424} {HOST} sshd {pid} - - {msg}")?,
                },
                Format::Jsonl => {
                    let m = serde_json::to_string(msg)?;
                    write!(
                        o.w,
                        "{{\"timestamp\":\"{s5424}\",\"host\":\"{HOST}\",\"process\":\"sshd\",\"pid\":{pid},\"level\":\"{level}\",\"message\":{m}"
                    )?;
                    match line.ip {
                        Some(ip) => writeln!(o.w, ",\"source_ip\":\"{ip}\"}}")?,
                        None => writeln!(o.w, "}}")?,
                    }
                }
            }
        }
    }

    let mut files = serde_json::Map::new();
    let mut bytes = serde_json::Map::new();
    for mut o in outs {
        o.w.flush()?;
        drop(o.w);
        std::fs::rename(&o.tmp, &o.path)?;
        let name = o.format.name();
        files.insert(name.into(), o.path.display().to_string().into());
        bytes.insert(name.into(), std::fs::metadata(&o.path)?.len().into());
    }
    let strings = |v: &[IpAddr]| -> Vec<String> { v.iter().map(ToString::to_string).collect() };
    let first = first.unwrap_or(START_MS / 1000);
    let json = serde_json::json!({
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "lines": written,
        "seed": seed,
        "host": HOST,
        "files": files,
        "bytes": bytes,
        "first_timestamp": stamps(first).1,
        "last_timestamp": stamps(last).1,
        "span_seconds": last - first,
        "event_counts": counts,
        "lines_by_actor": by_class,
        "lines_naming_an_address": named,
        "failed_password_lines": failed_password,
        "auth_failure_lines": auth_failures,
        "distinct_ips": ips.len(),
        "bruteforce_ips": strings(&brute),
        "dictionary_attacker_ips": strings(&dictionary),
        "legitimate_ips": strings(&legit),
        "ips_reaching_5_failures_in_600s": reached.len(),
        "ips_reaching_5_failures_in_600s_list": reached.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "notes": "auth_failure_lines = failed password (valid and invalid users) + pam_unix authentication failure + \
                  'not allowed because' lines; the 'PAM N more authentication failures' summaries are not counted. \
                  PRI: auth (4) for sshd, authpriv (10) for PAM lines; severity err for 'error:' lines, else info. \
                  RFC 5424 names the line's address in SD [meta source_ip=...]; JSON in source_ip.",
    });
    let truth_path = with_suffix(base, ".truth.json");
    let tmp = with_suffix(&truth_path, ".tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&json)?)?;
    std::fs::rename(&tmp, &truth_path)?;
    Ok(Truth { json })
}

#!/usr/bin/env python3
"""Writes the seed corpus fuzz/corpus/<target>/ from the repository's fixtures and a few
hand-written inputs. Run from anywhere: `python3 fuzz/seeds.py`. Deterministic: the same
fixtures give the same files (named by content hash), so re-running it changes nothing.

libFuzzer reads these seeds and writes what it finds to a working corpus outside the tree
(see docs/fuzzing.md), so the committed seeds stay small (the whole directory well under 2 MB).
"""

import hashlib
import io
import json
import pathlib
import zipfile
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def files(pattern, limit=None):
    found = sorted(ROOT.glob(pattern))
    return found[:limit] if limit else found


LINES = [
    "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "Nov 10 06:55:46 web1 sshd[4242]: Failed password for invalid user admin from 198.18.7.9 port 52144 ssh2",
    "Nov 10 06:55:47 web1 sshd[4242]: Accepted publickey for deploy from 2001:db8::7 port 22 ssh2: ED25519 SHA256:abc",
    "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
    '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry',
    "<86>1 2026-11-10T06:55:46.123456+01:00 h sshd 77 - - Invalid user oracle from 203.0.113.4 port 4100",
    '{"timestamp":"2026-11-10T06:55:46Z","host":"h","app":"sshd","pid":7,'
    '"message":"Failed password for root from 198.18.7.9 port 22 ssh2","severity":"info"}',
    "Nov 10 06:55:46 h sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/sh",
    "Nov 10 06:55:46 h sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
    "tty=ssh ruser= rhost=198.18.7.9  user=root",
]

AUTH = [
    (0, "Failed password for invalid user admin from 198.18.7.9 port 22 ssh2"),
    (0, "Connection closed by authenticating user root 198.18.7.9 port 40000 [preauth]"),
    (0, "Received disconnect from 198.18.7.9 port 22:11: Bye Bye [preauth]"),
    (2, "alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls"),
    (3, "FAILED SU (to root) alice on pts/0"),
    (4, "FAILED LOGIN (1) on '/dev/tty1' FOR 'root', Authentication failure"),
]

JOURNAL = [
    {"__CURSOR": "s=0123456789abcdef0123456789abcdef;i=1a;b=fedcba9876543210fedcba9876543210;"
     "m=5f5e100;t=5f5e1000;x=0123456789abcdef",
     "__REALTIME_TIMESTAMP": "1796083200000000", "MESSAGE": "Failed password for root from 198.18.7.9 port 22 ssh2",
     "SYSLOG_IDENTIFIER": "sshd", "_EXE": "/usr/sbin/sshd", "_COMM": "sshd", "_UID": "0", "_PID": "4242",
     "PRIORITY": "6", "SYSLOG_FACILITY": "10", "_HOSTNAME": "h"},
    {"MESSAGE": [104, 105], "SYSLOG_IDENTIFIER": ["sshd", "x"], "_UID": "1000"},
    {"__CURSOR": "bad", "MESSAGE": None, "_SYSTEMD_UNIT": "ssh.service"},
]


def log_seeds():
    for line in LINES:
        put("log_parse", line)
    for app, msg in AUTH:
        put("log_auth", bytes([app]) + msg.encode())
    for e in JOURNAL:
        put("log_journal", json.dumps(e, separators=(",", ":")))
    # Framing: a chunk-size byte, then a stream (LF, octet counting, a bad length, CRLF).
    lf = "".join(line + "\n" for line in LINES[:3])
    octets = "".join(f"{len(line.encode())} {line}" for line in LINES[:3])
    for k, stream in [(7, lf), (1, octets), (30, octets), (3, "12 short\n12 x"), (5, "a\r\nb\r\n\nc"),
                      (2, "999999999 x"), (0, "0 3 abc")]:
        put("log_framing", bytes([k]) + stream.encode())


def rules_seeds():
    line = LINES[1].encode()
    natives = files("rules/*.yaml") + files("crates/log-pipeline/tests/fixtures/rules/native/*.yaml") + \
        files("crates/log-pipeline/tests/fixtures/rules/*.yaml")
    for f in natives:
        put("rules_yaml", f.read_bytes() + b"\0" + line)
    for f in files("crates/log-pipeline/tests/fixtures/rules/sigma/*.yml") + \
            files("crates/log-pipeline/tests/fixtures/rules/sigma_unsupported/*.yml"):
        put("rules_sigma", f.read_bytes() + b"\0" + line)
    put("rules_sigma", b"title: t\nlogsource: {product: linux, service: sshd}\ndetection:\n"
        b"  sel:\n    - 'Failed password'\n  filter:\n    message|re: 'for (root|admin)'\n"
        b"  condition: sel and not filter\nlevel: high\n\0" + line)


LOCKFILES = {
    "lockfile_cargo": "crates/sbom-scanner/tests/fixtures/cargo/*/Cargo.lock",
    "lockfile_cargo_fast": "crates/sbom-scanner/tests/fixtures/cargo/*/Cargo.lock",
    "lockfile_npm": "crates/sbom-scanner/tests/fixtures/npm/*/package-lock.json",
    "lockfile_yarn": "crates/sbom-scanner/tests/fixtures/yarn/*/yarn.lock",
    "lockfile_pnpm": "crates/sbom-scanner/tests/fixtures/pnpm/*/pnpm-lock.yaml",
    "lockfile_requirements": "crates/sbom-scanner/tests/fixtures/pip/requirements*.txt",
    "lockfile_poetry": "crates/sbom-scanner/tests/fixtures/poetry/*/poetry.lock",
    "lockfile_uv": "crates/sbom-scanner/tests/fixtures/uv/uv.lock",
    "lockfile_gomod": "crates/sbom-scanner/tests/fixtures/go/*/go.mod",
    "lockfile_gosum": "crates/sbom-scanner/tests/fixtures/go/*/go.sum",
}


def sbom_seeds():
    for target, pattern in LOCKFILES.items():
        for f in files(pattern):
            put(target, f.read_bytes())


def os_seeds():
    # dpkg status: first byte even = a status file, odd = one distroless status.d file.
    status = (ROOT / "crates/sbom-scanner/tests/fixtures/os/debian12/var/lib/dpkg/status").read_bytes()
    stanzas = status.split(b"\n\n")
    put("os_dpkg_status", b"\0" + b"\n\n".join(stanzas[:6]) + b"\n")
    put("os_dpkg_status", b"\0" + b"\n\n".join(stanzas[len(stanzas) // 2: len(stanzas) // 2 + 6]) + b"\n")
    put("os_dpkg_status", b"\1Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n")
    put("os_dpkg_status", b"\0Package: libgcc-s1\nStatus: hold ok installed\nSource: gcc-12 (12.2.0-14)\n"
        b"Version: 12.2.0-14\nDescription: x\n line\n .\n more\n\nPackage: gone\n"
        b"Status: deinstall ok config-files\nVersion: 1\n")
    put("os_apk_installed", (ROOT / "crates/sbom-scanner/tests/fixtures/os/alpine319/lib/apk/db/installed").read_bytes())
    put("os_apk_installed", b"P:a\nV:1.0_rc1-r0\no:b\n\nP:c\n")


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def binary_seeds():
    # Go build info headers (the target also places its input in a minimal ELF at 0x400100).
    start = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
    end = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
    modinfo = start + (b"path\texample.com/app\nmod\texample.com/app\t(devel)\t\n"
                       b"dep\texample.com/ironpost/greet\tv1.2.3\n=>\t../greet\t(devel)\t\n"
                       b"dep\tgolang.org/x/text\tv0.3.7\th1:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk=\n"
                       b"build\t-compiler=gc\nbuild\tCGO_ENABLED=0\n") + end
    header = b"\xff Go buildinf:\x08\x02" + bytes(16)
    put("binary_go_buildinfo", header + uvarint(8) + b"go1.19.8" + uvarint(len(modinfo)) + modinfo)
    # The pre-1.18 pointer format: the header at 0x400100, string headers at +0x40, bytes after.
    base = 0x400100
    version = b"go1.16.15"
    ptr = lambda v: v.to_bytes(8, "little")
    blob = bytearray(b"\xff Go buildinf:\x08\x00")
    blob += ptr(base + 0x40) + ptr(base + 0x50)
    blob += bytes(0x40 - len(blob))
    blob += ptr(base + 0x60) + ptr(len(version)) + ptr(base + 0x60 + len(version)) + ptr(len(modinfo))
    blob += version + modinfo
    put("binary_go_buildinfo", bytes(blob))
    # cargo auditable: first byte even = the JSON, odd = zlib data (also put in an ELF section).
    audit = json.dumps({"packages": [
        {"name": "app", "version": "0.1.0", "source": "local", "dependencies": [1, 2], "root": True},
        {"name": "serde", "version": "1.0.200", "source": "crates.io", "dependencies": [3]},
        {"name": "mine", "version": "0.2.0", "source": "git"},
        {"name": "cc", "version": "1.0.90", "source": "crates.io", "kind": "build"},
    ], "format": 1}).encode()
    put("binary_auditable", b"\0" + audit)
    put("binary_auditable", b"\1" + zlib.compress(audit))


def rpm_header(entries):
    # rpm's stored header: il, dl, 16-byte index entries (tag, type, offset, count), data.
    data, index = bytearray(), bytearray()
    for tag, kind, value in entries:
        if kind == 4:
            while len(data) % 4:
                data.append(0)
        index += tag.to_bytes(4, "big") + kind.to_bytes(4, "big") + len(data).to_bytes(4, "big") + (1).to_bytes(4, "big")
        data += value + (b"\0" if kind == 6 else b"")
    return len(entries).to_bytes(4, "big") + len(data).to_bytes(4, "big") + bytes(index) + bytes(data)


def rpm_seeds():
    # Headers as crates/sbom-scanner/tests/rpm_db.rs has rpm write them (region tag 63 first).
    put("os_rpm_header", rpm_header([
        (63, 7, bytes(16)),
        (1000, 6, b"openssl-libs"), (1001, 6, b"3.0.7"), (1002, 6, b"24.el9"),
        (1003, 4, (1).to_bytes(4, "big")), (1022, 6, b"x86_64"), (1011, 6, b"Rocky Enterprise Software Foundation"),
        (1044, 6, b"openssl-3.0.7-24.el9.src.rpm"), (5096, 6, b"nodejs:18:9030020231120082734:rhel9"),
    ]))
    put("os_rpm_header", rpm_header([
        (1000, 6, b"gpg-pubkey"), (1001, 6, b"350d275d"), (1002, 6, b"6243b4ee"),
    ]))


def vulndb_seeds():
    # A sample of RustSec's OSV export and native advisories (the smallest, then a spread).
    osv = sorted(files("testdata/rustsec/osv/crates/*.json"), key=lambda p: p.stat().st_size)
    picked = osv[:8] + osv[len(osv) // 2: len(osv) // 2 + 8] + osv[-8:-4]
    for f in picked:
        put("vulndb_osv", f.read_bytes())
    native = sorted(files("testdata/rustsec/native/crates/*/*.md"), key=lambda p: p.stat().st_size)
    for f in native[:6] + native[len(native) // 2: len(native) // 2 + 8]:
        put("vulndb_rustsec", f.read_bytes())
    for method in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", method) as z:
            for f in osv[:3]:
                z.writestr(f.name, f.read_bytes())
            z.writestr("README.txt", "not an advisory")
        put("vulndb_zip", buf.getvalue())
    for triple in ["1:1.2.13.dfsg-1\n3.0.11-1~deb12u2\n1.0~rc1+b1", "1.0_alpha1-r0\n1.36.1-r15\n1.2.4_git20230717-r4",
                   "1.2.3\n1.2.4\n2.0.0-rc.1", "v0.4.0\n0.4.0+build.7\n0.4.0-alpha.beta.11",
                   "1.0.post1\n1.0a1.dev3\n2!1.0rc1", "1.0.0-x.7.z.92\n1.0.0-x-y-z.--\n1.0.0-0A.is.legal",
                   "1.0+local.7.abc\n1.0.dev0\n1.0.0.0.0"]:
        put("version", triple)


def config_seeds():
    for f in [ROOT / "ironpost.example.toml"] + files("crates/cli/tests/fixtures/*.toml"):
        put("config_toml", f.read_bytes())
    put("config_toml", "[general]\nlog_level = \"debug\"\n\0IRONPOST_IDS_NATS_URL=nats://127.0.0.1:4222\n"
        "IRONPOST_LOG_PIPELINE_ENABLED=true\n")
    put("config_toml", "[ids]\nenabled = true\n[ids.nats]\nurl = \"nats://u:p@h:4222\"\n")


def proto_seeds():
    for name in ["requests.jsonl", "responses.jsonl"]:
        for line in (ROOT / "crates/proto/tests/v1" / name).read_text().splitlines():
            if line.strip():
                put("control", line)


def ids_seeds():
    flows = [
        '{"ts": 1700000000.5, "pid": 0, "saddr": "10.0.0.5", "daddr": "10.0.0.9", "dport": 80}',
        '{"ts":1700000000.6,"saddr":"10.0.0.5","daddr":"10.0.0.9","dport":81,"proto":"tcp",'
        '"flags":{"syn":true,"ack":false,"rst":true}}',
        '{"ts":1700000001,"saddr":"2001:db8::5","daddr":"2001:db8::9","dport":443,"flags":{"syn":true}}',
    ]
    put("nats_flow", "\n".join(flows))
    put("nats_flow", flows[0])
    hook = {
        "version": "4", "groupKey": "{}:{alertname=\"AnomalyScoreHigh\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "ironpost", "groupLabels": {"alertname": "AnomalyScoreHigh"},
        "commonLabels": {"alertname": "AnomalyScoreHigh"}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": "firing", "labels": {"alertname": "AnomalyScoreHigh", "src": "198.18.7.9"},
                    "annotations": {"summary": "score=0.91", "detail": "rate=12.5, uniq_dports=8"},
                    "startsAt": "2026-11-10T06:55:46Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "", "fingerprint": "c0ffee"}],
    }
    put("notify_body", json.dumps(hook))
    put("notify_body", '{"alerts":[]}')


def fleet_seeds():
    put("fleet_decision", '198.18.7.1/32\n{"cidr":"198.18.7.1","origin":"edge-1","evidence":"verified",'
        '"reason":"manual","decided_at":"2026-12-07T18:00:00Z","expires_at":"2026-12-07T19:00:00Z"}')
    put("fleet_decision", '2001-db8--/32\n{"cidr":"2001:db8::/32","origin":"edge-2",'
        '"alert_id":"0190c0de-0000-7000-8000-000000000001","evidence":"spoofable","reason":"scan",'
        '"decided_at":"2026-12-07T18:00:00Z"}')
    put("fleet_event", 'ironpost.alert.edge-1\n{"id":"0190c0de-0000-7000-8000-000000000002",'
        '"timestamp":"2026-12-07T18:00:00Z","trace_id":"00000000000000000000000000000001",'
        '"severity":"high","source":"external","rule_id":"r","title":"t","evidence":"verified",'
        '"entities":{"src_ip":"198.18.7.1","src_port":22}}')
    put("fleet_event", 'ironpost.action.edge-2\n{"id":"0190c0de-0000-7000-8000-000000000003",'
        '"timestamp":"2026-12-07T18:00:00Z","trace_id":"00000000000000000000000000000001",'
        '"severity":"high","alert_id":"0190c0de-0000-7000-8000-000000000002",'
        '"action_type":"ip_block","target":{"src_ip":"198.18.7.1"},"outcome":"success","attempt":1}')
    put("fleet_event", 'ironpost.heartbeat.edge-1\n{"node":"edge-1","role":"agent","version":"0.1.0",'
        '"at":"2026-12-07T18:00:00Z","blocks":3,"modules":[{"name":"ebpf","health":{"status":"healthy"}}]}')


def auditd_seeds():
    for f in files("crates/log-pipeline/tests/fixtures/auditd/*.log"):
        data = f.read_bytes()
        put("log_auditd", data)
        put("log_auditd", b"\n".join(data.split(b"\n")[:6]))
    put("log_auditd", "\n".join([
        'type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 '
        'a2=55d2 a3=0 items=2 ppid=700 pid=701 auid=1000 uid=0 euid=0 tty=pts0 ses=3 comm="chattr" '
        'exe="/usr/bin/chattr" key=(null)',
        'type=EXECVE msg=audit(1700000000.100:10): argc=3 a0="chattr" a1="-i" a2=2F746D702F612066696C65',
        'type=EXECVE msg=audit(1700000000.100:11): argc=2 a0="echo" a1_len=6 a1[0]=616263 a1[1]="def"',
        'type=CWD msg=audit(1700000000.100:10): cwd="/root"',
        'type=PATH msg=audit(1700000000.100:10): item=0 name="/usr/bin/chattr" inode=1 nametype=NORMAL',
        'type=PROCTITLE msg=audit(1700000000.100:10): proctitle=6368617474720069002F746D702F612066696C65',
        'type=EOE msg=audit(1700000000.100:10): ',
        'node=web1 type=USER_AUTH msg=audit(1700000000.500:88): pid=900 uid=0 auid=4294967295 '
        "msg='op=PAM:authentication acct=\"alice\" exe=\"/usr/sbin/sshd\" addr=203.0.113.9 res=failed'"
        '\x1dUID="root" AUID="unset"',
        'type=ADD_USER msg=audit(1700000003.000:90): pid=1 uid=0 msg=\'op=adding user id=1001 exe="/usr/sbin/useradd" res=success\'',
    ]))


def console_seeds():
    for q in [
        "severity=high&rule=ssh_brute_force&src=198.18.7.9&evidence=verified&container=web-1&node=edge-1&limit=50",
        "severity=&rule=&src=2001%3Adb8%3A%3A7&limit=5000",
        "container=0123456789abcdef&node=edge+a%26b",
        "cidr=198.18.7.0%2F24&ttl_secs=3600&reason=port+scan&csrf=00ff",
        "cidr=198.18.7.1&csrf=abcdef",
        "container=cnsl-web&csrf=abcdef",
        "token=cnsl-test-token-0123456789abcdefghijklmnop&next=%2Fblocks%3Fx%3D1",
        "next=%2F%2Fevil.example%2F",
        "done=unblocked+198.18.7.1&failed=%3Cb%3E",
        "same-origin\nhttps://127.0.0.1:9470\n127.0.0.1:9470\nironpost_session=abcd; a=b",
        "cross-site\nhttp://evil.example\n127.0.0.1:9470",
        "Bearer cnsl-test-token-0123456789abcdefghijklmnop ",
        "ab" * 32,
    ]:
        put("console_request", q)


if __name__ == "__main__":
    log_seeds()
    auditd_seeds()
    rules_seeds()
    sbom_seeds()
    os_seeds()
    binary_seeds()
    rpm_seeds()
    vulndb_seeds()
    config_seeds()
    proto_seeds()
    ids_seeds()
    fleet_seeds()
    console_seeds()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{sum(1 for p in OUT.rglob('*') if p.is_file())} seeds, {total} bytes")

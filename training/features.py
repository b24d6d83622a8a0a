"""NSL-KDD records -> the live extractor's window features (see models/MODEL_CARD.md).

The feature order here is the model's input order and must match
`crates/anomaly-ids/src/features.rs` (`FEATURE_NAMES`).
"""

import csv
import math
from pathlib import Path

import numpy as np

FEATURE_NAMES = ["conn_rate", "uniq_dports", "uniq_daddrs", "syn_only_ratio", "rst_ratio"]
# Features that need TCP outcome flags; the seed telemetry has none, so they are often missing (NaN).
FLAG_FEATURES = [3, 4]
WINDOW_SECONDS = 2.0

# Attack types of the training file (KDDTrain+) and the ones only KDDTest+ has (never trained on).
PROBE = {"ipsweep", "nmap", "portsweep", "satan"}
PROBE_TEST_ONLY = {"mscan", "saint"}
DOS = {"back", "land", "neptune", "pod", "smurf", "teardrop"}
DOS_TEST_ONLY = {"apache2", "processtable", "mailbomb", "udpstorm"}

# Column indices in the NSL-KDD CSV (no header; names in field-names.csv).
COL = {
    "count": 22,
    "srv_count": 23,
    "serror_rate": 24,
    "rerror_rate": 26,
    "same_srv_rate": 28,
    "diff_srv_rate": 29,
    "srv_diff_host_rate": 30,
    "label": 41,
}


def category(label):
    if label == "normal":
        return "normal"
    if label in PROBE or label in PROBE_TEST_ONLY:
        return "probe"
    if label in DOS or label in DOS_TEST_ONLY:
        return "dos"
    return "other"


def record_features(row):
    """One NSL-KDD record -> [conn_rate, uniq_dports, uniq_daddrs, syn_only_ratio, rst_ratio]."""
    count = float(row[COL["count"]])
    srv_count = float(row[COL["srv_count"]])
    diff_srv = float(row[COL["diff_srv_rate"]])
    srv_diff_host = float(row[COL["srv_diff_host_rate"]])
    # count and srv_count are both lower bounds of the connections seen in the 2 s window.
    conn_rate = max(count, srv_count) / WINDOW_SECONDS
    # Connections to this host on another service, plus the current one: an upper bound of distinct services.
    uniq_dports = max(1.0, min(count, 1.0 + math.floor(count * diff_srv + 0.5)))
    # Same-service connections to other hosts, plus this host.
    uniq_daddrs = max(1.0, min(srv_count, 1.0 + math.floor(srv_count * srv_diff_host + 0.5)))
    return [
        conn_rate,
        uniq_dports,
        uniq_daddrs,
        float(row[COL["serror_rate"]]),
        float(row[COL["rerror_rate"]]),
    ]


def load_labelled(path):
    """Returns (X float32 [n, 5], attack types list[str]) in file order ("normal" for benign records)."""
    xs, labels = [], []
    with Path(path).open(newline="") as f:
        for row in csv.reader(f):
            if not row:
                continue
            xs.append(record_features(row))
            labels.append(row[COL["label"]])
    return np.asarray(xs, dtype=np.float32), labels


def load(path):
    """Returns (X float32 [n, 5], categories list[str]) in file order."""
    x, labels = load_labelled(path)
    return x, [category(label) for label in labels]


def without_flags(x):
    """The same rows as the seed telemetry shows them: no outcome flags, so the flag features are missing."""
    y = x.copy()
    y[:, FLAG_FEATURES] = np.nan
    return y


# Lab captures (testdata/lab-flows, training/lab_capture.sh): the tool behind each row, and its family.
LAB_FAMILY = {
    "benign_http": "normal",
    "benign_ssh": "normal",
    "benign_dns": "normal",
    "nmap_sS": "probe",
    "nmap_sT": "probe",
    "nmap_sU": "probe",
    "masscan": "probe",
    "hping3_syn_flood": "dos",
    "hydra_ssh": "other",  # password guessing: r2l-like, a positive of neither model
}
LAB_COLUMNS = ["run", "label", "t", "src"] + FEATURE_NAMES


def load_lab(path):
    """A lab capture's feature rows (crates/anomaly-ids/examples/flow_features) -> (X float32 [n, 5], tools)."""
    xs, tools = [], []
    with Path(path).open(newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header != LAB_COLUMNS:
            raise SystemExit(f"{path}:1: header {header}, want {LAB_COLUMNS}")
        for n, row in enumerate(rows, start=2):
            if len(row) != len(LAB_COLUMNS) or row[1] not in LAB_FAMILY:
                raise SystemExit(f"{path}:{n}: want {len(LAB_COLUMNS)} fields and a label in {sorted(LAB_FAMILY)}")
            try:
                xs.append([float(v) if v != "" else math.nan for v in row[4:]])
            except ValueError as e:
                raise SystemExit(f"{path}:{n}: {e}") from None
            tools.append(row[1])
    return np.asarray(xs, dtype=np.float32).reshape(-1, len(FEATURE_NAMES)), tools

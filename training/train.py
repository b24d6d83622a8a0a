"""Train the anomaly IDS models on NSL-KDD and export them to ONNX.

Two binary XGBoost models over the live extractor's window features (training/features.py):
  models/probe.onnx  normal vs probe (ipsweep, nmap, portsweep, satan)
  models/dos.onnx    normal vs dos (back, land, neptune, pod, smurf, teardrop)
Training rows: NSL-KDD's training file and lab run a (testdata/lab-flows, training/lab_capture.sh). Each model is
fitted on its family's attacks and 70 % of the normals (NSL-KDD and lab benign); the other 30 % of the normals
choose the threshold (FPR <= 1 %). Figures on lab run b (never trained on): alert rate per lab tool. Figures on KDDTest+ (never trained on): FPR on its normals, recall per attack
family and type, go to models/metrics.json; `python train.py` prints the model card's tables.

  python train.py            train, export, write metrics
  python train.py --check    train again in memory and compare with the committed metrics
"""

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
import xgboost
from onnxmltools import convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

from features import (
    DOS,
    DOS_TEST_ONLY,
    FEATURE_NAMES,
    LAB_FAMILY,
    PROBE,
    PROBE_TEST_ONLY,
    category,
    load_lab,
    load_labelled,
    without_flags,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "testdata" / "nsl-kdd" / "KDDTrain+_20Percent.txt"
TEST_DATA = ROOT / "testdata" / "nsl-kdd" / "KDDTest+.txt"
# Lab captures through the XDP telemetry path (training/lab_capture.sh): run a trains, run b is held out.
LAB_TRAIN = ROOT / "testdata" / "lab-flows" / "lab-a.csv"
LAB_TEST = ROOT / "testdata" / "lab-flows" / "lab-b.csv"
MODELS = ROOT / "models"
SEED = 20240611
CAL_SIZE = 0.3  # share of the training file's normals held out of fitting to choose the thresholds
TARGET_FPR = 0.01
OPSET = 15
TOLERANCE = 1e-6
TASKS = {"probe": "probe", "dos": "dos"}
XGB_PARAMS = dict(
    n_estimators=150,
    max_depth=4,
    learning_rate=0.1,
    subsample=1.0,
    colsample_bytree=1.0,
    tree_method="exact",
    base_score=0.5,
    n_jobs=1,
    random_state=SEED,
    eval_metric="logloss",
)


def fit(x_tr, y_tr):
    # Each training row twice: with the flag features and without them (NaN), so one model serves both the
    # seed telemetry (no TCP outcome) and producers that report it; XGBoost learns a default branch for NaN.
    x_aug = np.vstack([x_tr, without_flags(x_tr)])
    y_aug = np.concatenate([y_tr, y_tr])
    model = xgboost.XGBClassifier(**XGB_PARAMS)
    model.fit(x_aug, y_aug)
    return model


def to_onnx(model, name):
    onx = convert_xgboost(
        model,
        initial_types=[("input", FloatTensorType([None, len(FEATURE_NAMES)]))],
        target_opset=OPSET,
    )
    for node in onx.graph.node:
        if node.op_type == "ZipMap":
            raise SystemExit("unexpected ZipMap in the exported graph")
        if node.op_type == "TreeEnsembleClassifier":
            base = next((a for a in node.attribute if a.name == "base_values"), None)
            # base_score=0.5 is a zero margin. ONNX Runtime 1.20 mis-scores a binary classifier given two
            # base values and tract rejects one, so the graph carries none (an all-zero one is dropped).
            if base is not None:
                if any(v != 0.0 for v in base.floats):
                    raise SystemExit(f"non-zero base_values {list(base.floats)}: keep base_score=0.5")
                node.attribute.remove(base)
    if not any(o.domain in ("", "ai.onnx") for o in onx.opset_import):
        onx.opset_import.append(onnx.helper.make_opsetid("", OPSET))
    onx.graph.name = f"ironpost_ids_{name}"  # the converter picks a random one
    onx.doc_string = "Ironpost anomaly IDS; inputs: " + ",".join(FEATURE_NAMES)
    onnx.checker.check_model(onx)
    return onx


def probabilities(onx_bytes, x):
    sess = ort.InferenceSession(onx_bytes, providers=["CPUExecutionProvider"])
    outs = {o.name: i for i, o in enumerate(sess.get_outputs())}
    res = sess.run(None, {"input": x.astype(np.float32)})
    return np.asarray(res[outs["probabilities"]])[:, 1]


def threshold_for_budget(normal_scores, budget):
    """The lowest threshold (alert when score >= threshold) whose false-positive rate on `normal_scores` is within
    `budget`, rounded up to 6 decimals (the value written to metrics.json and configured in `ids.threshold`).
    Returns (threshold, FPR on those normals)."""
    s = np.sort(np.asarray(normal_scores, dtype=np.float32))
    n = len(s)
    for u in np.unique(s):
        # Rows scoring >= u: everything from the first index holding u.
        if (n - np.searchsorted(s, u, side="left")) / n <= budget:
            break
    else:  # only when budget < 0
        u = np.float32(1.0)
    t = math.ceil(float(u) * 1e6) / 1e6
    return t, alert_rate(s, t)


def alert_rate(scores, t):
    """Share of rows the scorer alerts on at threshold `t` (score >= t, compared as f32 like the daemon)."""
    return float(np.mean(np.asarray(scores, dtype=np.float32) >= np.float32(t))) if len(scores) else 0.0


def evaluate_test(scores, labels, family, t):
    """Figures on KDDTest+ (never trained on) at threshold t: FPR on its normals, recall per attack type."""
    labels = np.asarray(labels)
    seen = PROBE if family == "probe" else DOS
    fam_types = seen | (PROBE_TEST_ONLY if family == "probe" else DOS_TEST_ONLY)
    normal = labels == "normal"
    fam = np.isin(labels, sorted(fam_types))
    keep = normal | fam
    y = fam[keep].astype(np.int64)
    per_type = {}
    for typ in sorted(fam_types):
        m = labels == typ
        if m.any():
            per_type[typ] = {
                "rows": int(m.sum()),
                "recall": round(alert_rate(scores[m], t), 6),
                "in_training_data": typ in seen,
            }
    seen_m = np.isin(labels, sorted(seen))
    unseen_m = fam & ~seen_m
    return {
        "normals": int(normal.sum()),
        "fpr": round(alert_rate(scores[normal], t), 6),
        "positives": int(fam.sum()),
        "recall": round(alert_rate(scores[fam], t), 6),
        "recall_types_in_training": round(alert_rate(scores[seen_m], t), 6),
        "recall_types_not_in_training": round(alert_rate(scores[unseen_m], t), 6),
        "roc_auc": round(float(roc_auc_score(y, scores[keep])), 6),
        "pr_auc": round(float(average_precision_score(y, scores[keep])), 6),
        "per_type": per_type,
    }


REGIMES = {
    # The seed telemetry and the XDP SYN telemetry: no TCP outcome flags, syn_only_ratio and rst_ratio missing.
    "without_flags": without_flags,
    "with_flags": lambda x: x,
}


def evaluate_lab(scores, tools, t):
    """Figures on the held-out lab capture at threshold t: alert rate per tool (FPR for the benign ones)."""
    tools = np.asarray(tools)
    out = {}
    for tool in sorted(set(LAB_FAMILY)):
        m = tools == tool
        out[tool] = {"family": LAB_FAMILY[tool], "rows": int(m.sum()), "alert_rate": round(alert_rate(scores[m], t), 6) if m.any() else None}
    benign = np.isin(tools, [k for k, v in LAB_FAMILY.items() if v == "normal"])
    return {"benign_rows": int(benign.sum()), "fpr": round(alert_rate(scores[benign], t), 6), "per_tool": out}


def run(train_data, test_data, lab_train=LAB_TRAIN, lab_test=LAB_TEST):
    x_kdd, labels = load_labelled(train_data)
    x_lab, tools = load_lab(lab_train)
    # One training table: NSL-KDD records, then the lab rows with their family as category.
    x = np.vstack([x_kdd, x_lab])
    cats = [category(label) for label in labels] + [LAB_FAMILY[t] for t in tools]
    source = ["kdd"] * len(labels) + ["lab"] * len(tools)
    normals = [i for i, c in enumerate(cats) if c == "normal"]
    # Normals reserved for calibration (NSL-KDD normals and lab benign rows alike, stratified by source): never
    # used to fit the trees, only to choose the thresholds.
    fit_normals, cal_normals = train_test_split(
        normals, test_size=CAL_SIZE, random_state=SEED, stratify=[source[i] for i in normals]
    )
    fit_normals, cal_normals = sorted(fit_normals), sorted(cal_normals)
    cal_lab = [i for i in cal_normals if source[i] == "lab"]
    x_test, test_labels = load_labelled(test_data)
    x_lab_test, lab_test_tools = load_lab(lab_test)
    results, blobs = {}, {}
    for name, family in TASKS.items():
        attacks = [i for i, c in enumerate(cats) if c == family]
        idx = sorted(fit_normals + attacks)
        y = np.array([1 if cats[i] == family else 0 for i in idx], dtype=np.int64)
        onx = to_onnx(fit(x[idx], y), name)
        blob = onx.SerializeToString()
        blobs[name] = blob
        res = {
            "file": f"{name}.onnx",
            "sha256": hashlib.sha256(blob).hexdigest(),
            "positive_class": family,
            "fit_rows": int(len(idx)),
            "fit_positives": int(y.sum()),
            "fit_lab_rows": int(sum(1 for i in idx if source[i] == "lab")),
            "calibration_normals": len(cal_normals),
            "calibration_lab_benign": len(cal_lab),
        }
        for regime, view in REGIMES.items():
            cal_scores = probabilities(blob, view(x[cal_normals]))
            t, cal_fpr = threshold_for_budget(cal_scores, TARGET_FPR)
            lab_in_cal = np.array([source[i] == "lab" for i in cal_normals])
            res[regime] = {
                "threshold_at_fpr_1pct": t,
                "calibration_fpr": round(cal_fpr, 6),
                "calibration_fpr_lab_benign": round(alert_rate(cal_scores[lab_in_cal], t), 6),
                "kddtest": evaluate_test(probabilities(blob, view(x_test)), test_labels, family, t),
                # The lab rows have no flags (the XDP SYN telemetry): the same view in both regimes.
                "lab_heldout": evaluate_lab(probabilities(blob, view(x_lab_test)), lab_test_tools, t),
            }
        results[name] = res
    meta = {
        "features": FEATURE_NAMES,
        "data": {
            "train": "NSL-KDD KDDTrain+_20Percent.txt + lab capture testdata/lab-flows/lab-a.csv",
            "test": "NSL-KDD KDDTest+.txt (never trained on; has attack types absent from the training file)",
            "lab_heldout": "lab capture testdata/lab-flows/lab-b.csv (a separate run, other rates and ports)",
        },
        "calibration": {
            "what": "normals of the training file held out of fitting; threshold = lowest score with FPR <= budget",
            "size": CAL_SIZE,
            "seed": SEED,
            "fpr_budget": TARGET_FPR,
        },
        "opset": OPSET,
        "versions": {
            "xgboost": xgboost.__version__,
            "scikit-learn": sklearn.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
        },
        "xgboost_params": XGB_PARAMS,
        "models": results,
    }
    return meta, blobs


def summary(meta):
    """The model card's tables (markdown), from the metrics."""
    out = ["| model | input | threshold | FPR calibration normals | FPR KDDTest+ normals | recall KDDTest+ "
           "| types in training | types not in training | ROC-AUC | PR-AUC |", "|---" * 10 + "|"]
    for name, m in meta["models"].items():
        for regime in REGIMES:
            r = m[regime]
            k = r["kddtest"]
            out.append(
                f"| {name} | {regime.replace('_', ' ')} | {r['threshold_at_fpr_1pct']:.6f} | {r['calibration_fpr']:.4f} "
                f"| {k['fpr']:.4f} | {k['recall']:.4f} | {k['recall_types_in_training']:.4f} "
                f"| {k['recall_types_not_in_training']:.4f} | {k['roc_auc']:.4f} | {k['pr_auc']:.4f} |"
            )
    out += ["", "| model | attack type | in training data | KDDTest+ rows | recall without flags | recall with flags |",
            "|---" * 6 + "|"]
    for name, m in meta["models"].items():
        for typ, v in m["without_flags"]["kddtest"]["per_type"].items():
            w = m["with_flags"]["kddtest"]["per_type"][typ]
            out.append(f"| {name} | {typ} | {'yes' if v['in_training_data'] else 'no'} | {v['rows']} "
                       f"| {v['recall']:.4f} | {w['recall']:.4f} |")
    out += ["", "| model | lab tool (run b, held out) | family | rows | alert rate without flags |", "|---" * 5 + "|"]
    for name, m in meta["models"].items():
        lab = m["without_flags"]["lab_heldout"]
        for tool, v in lab["per_tool"].items():
            rate = "no rows" if v["alert_rate"] is None else f"{v['alert_rate']:.4f}"
            out.append(f"| {name} | {tool} | {v['family']} | {v['rows']} | {rate} |")
        out.append(f"| {name} | all benign (FPR) | normal | {lab['benign_rows']} | {lab['fpr']:.4f} |")
    return "\n".join(out)


def compare(want, got, path=""):
    """Differences between two metric trees (numbers within TOLERANCE), as strings."""
    diffs = []
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got)):
            if k == "sha256":
                continue
            if k not in want or k not in got:
                diffs.append(f"{path}/{k}: present on one side only")
            else:
                diffs += compare(want[k], got[k], f"{path}/{k}")
    elif want is None or got is None:
        if want is not got:
            diffs.append(f"{path}: committed {want!r}, now {got!r}")
    elif isinstance(want, float) or isinstance(got, float):
        if abs(float(want) - float(got)) > TOLERANCE:
            diffs.append(f"{path}: committed {want}, now {got}")
    elif want != got:
        diffs.append(f"{path}: committed {want!r}, now {got!r}")
    return diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--test-data", type=Path, default=TEST_DATA)
    ap.add_argument("--check", action="store_true", help="compare with models/metrics.json, write nothing")
    args = ap.parse_args()
    meta, blobs = run(args.data, args.test_data)
    metrics_path = MODELS / "metrics.json"
    if args.check:
        committed = json.loads(metrics_path.read_text())
        diffs = compare(committed, meta)
        for name, blob in blobs.items():
            on_disk = (MODELS / f"{name}.onnx").read_bytes()
            if hashlib.sha256(on_disk).hexdigest() != committed["models"][name]["sha256"]:
                diffs.append(f"models/{name}.onnx does not match the sha256 in metrics.json")
            if blob != on_disk:
                print(f"note: retrained {name}.onnx differs byte-wise from the committed one", file=sys.stderr)
        if diffs:
            print("metrics differ from models/metrics.json:\n  " + "\n  ".join(diffs), file=sys.stderr)
            return 1
        print("check ok: retrained metrics match models/metrics.json")
        return 0
    MODELS.mkdir(exist_ok=True)
    for name, blob in blobs.items():
        (MODELS / f"{name}.onnx").write_bytes(blob)
    metrics_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(summary(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())

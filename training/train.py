"""Train the anomaly IDS models on NSL-KDD and export them to ONNX.

Two binary XGBoost models over the live extractor's window features (training/features.py):
  models/probe.onnx  normal vs probe (ipsweep, nmap, portsweep, satan)
  models/dos.onnx    normal vs dos (back, land, neptune, pod, smurf, teardrop)
Metrics on a fixed held-out split go to models/metrics.json (and into the model card by hand).

  python train.py            train, export, write metrics
  python train.py --check    train again in memory and compare with the committed metrics
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
import xgboost
from onnxmltools import convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split

from features import FEATURE_NAMES, load, without_flags

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "testdata" / "nsl-kdd" / "KDDTrain+_20Percent.txt"
MODELS = ROOT / "models"
SEED = 20240611
TEST_SIZE = 0.3
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


def split(x, cats, attack):
    """Rows of `normal` and `attack` only; stratified fixed split. Returns x_tr, x_te, y_tr, y_te."""
    keep = [i for i, c in enumerate(cats) if c in ("normal", attack)]
    xs = x[keep]
    ys = np.array([1 if cats[i] == attack else 0 for i in keep], dtype=np.int64)
    return train_test_split(xs, ys, test_size=TEST_SIZE, random_state=SEED, stratify=ys)


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


def threshold_at_fpr(y, scores, target):
    """Lowest score threshold whose false-positive rate is <= target (alert when score >= threshold)."""
    fpr, tpr, thr = roc_curve(y, scores, drop_intermediate=False)
    ok = np.where(fpr <= target)[0]
    best = ok[np.argmax(tpr[ok])]
    t = float(min(thr[best], 1.0))
    return t, float(fpr[best]), float(tpr[best])


def evaluate(y, scores):
    t, fpr, tpr = threshold_at_fpr(y, scores, TARGET_FPR)
    return {
        "pr_auc": round(float(average_precision_score(y, scores)), 6),
        "roc_auc": round(float(roc_auc_score(y, scores)), 6),
        "threshold_at_fpr_1pct": round(t, 6),
        "fpr_at_threshold": round(fpr, 6),
        "tpr_at_threshold": round(tpr, 6),
    }


def run(data):
    x, cats = load(data)
    results, blobs = {}, {}
    for name, attack in TASKS.items():
        x_tr, x_te, y_tr, y_te = split(x, cats, attack)
        onx = to_onnx(fit(x_tr, y_tr), name)
        blob = onx.SerializeToString()
        blobs[name] = blob
        results[name] = {
            "file": f"{name}.onnx",
            "sha256": hashlib.sha256(blob).hexdigest(),
            "positive_class": attack,
            "train_rows": int(len(y_tr)),
            "test_rows": int(len(y_te)),
            "test_positives": int(y_te.sum()),
            # The seed telemetry: no TCP outcome flags, syn_only_ratio and rst_ratio missing.
            "without_flags": evaluate(y_te, probabilities(blob, without_flags(x_te))),
            "with_flags": evaluate(y_te, probabilities(blob, x_te)),
        }
    meta = {
        "features": FEATURE_NAMES,
        "data": "NSL-KDD KDDTrain+_20Percent.txt",
        "split": {"test_size": TEST_SIZE, "seed": SEED, "stratified": True},
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
    elif isinstance(want, float) or isinstance(got, float):
        if abs(float(want) - float(got)) > TOLERANCE:
            diffs.append(f"{path}: committed {want}, now {got}")
    elif want != got:
        diffs.append(f"{path}: committed {want!r}, now {got!r}")
    return diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--check", action="store_true", help="compare with models/metrics.json, write nothing")
    args = ap.parse_args()
    meta, blobs = run(args.data)
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
    print(json.dumps({k: {r: v[r] for r in ("without_flags", "with_flags")} for k, v in meta["models"].items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

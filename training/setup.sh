#!/usr/bin/env bash
# Creates (or reuses) the training venv with training/requirements.txt installed.
# Idempotent: a stamp holding the requirements' sha256 skips the install when nothing changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${IRONPOST_TRAIN_VENV:-/var/tmp/ironpost-train-venv}"
python="${PYTHON:-python3}"
req="$here/requirements.txt"
want="$(sha256sum "$req" | cut -d' ' -f1)"
stamp="$venv/.ironpost-requirements.sha256"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
    echo "training venv up to date: $venv"
    exit 0
fi
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
echo "$want" > "$stamp"
echo "training venv ready: $venv"

#!/usr/bin/env bash
# Creates the Python venv with the official SBOM validators (CycloneDX JSON schema validator from
# cyclonedx-python-lib, pyspdxtools from spdx-tools) that the sbom-scanner tests run.
# Idempotent: a stamp file in the venv holds the hash of the requirements it was built from.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${IRONPOST_VENV:-/var/tmp/ironpost-venv}"
req="$here/requirements-validators.txt"
stamp="$venv/.ironpost-requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "python-tools: $venv is up to date"
  exit 0
fi

if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "python-tools: python3 -m venv is unavailable (install python3-venv: scripts/setup.sh)" >&2
  exit 1
fi

echo "python-tools: creating $venv from $req"
rm -f "$stamp"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
# The validators must import and run before the venv is declared ready.
"$venv/bin/python" -c 'from cyclonedx.validation.json import JsonStrictValidator; from cyclonedx.schema import SchemaVersion; SchemaVersion.V1_6'
"$venv/bin/pyspdxtools" --help >/dev/null
echo "$want" >"$stamp"
echo "python-tools: done"

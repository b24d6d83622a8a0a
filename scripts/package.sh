#!/usr/bin/env bash
# Packages the ironpost-daemon and ironpost-cli binaries a build already made:
#
#   scripts/package.sh deb   [--profile P] [--out DIR] [--deb-version V] [--fast]
#       The `ironpost` .deb and its `ironpost-dbgsym` .ddeb (split debug info) with cargo-deb
#       (`[package.metadata.deb]` in crates/daemon/Cargo.toml). Completions (bash, zsh, fish) and
#       man pages are generated here by the ironpost-cli being packaged.
#   scripts/package.sh image [--profile P] [--tag T]
#       The container image deploy/container/Containerfile (FROM scratch) with the local dockerd:
#       the binaries, exactly the shared libraries `ldd` lists, CA certificates, the models.
#
# P is a Cargo profile (default release; the tests package their dev build with the same recipe).
# Binaries come from $CARGO_TARGET_DIR (default ./target); nothing is built here, so `make deb`
# and `make image` build first.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
cargo="${CARGO:-cargo}"
# Debian's client: it builds with the classic builder (a second client on PATH may lack it).
docker="${DOCKER:-$(command -v /usr/bin/docker || command -v docker || echo docker)}"

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 1 ] || usage
what="$1"
shift
profile=release
out=""
deb_version=""
fast=""
tag="ironpost:local"
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --deb-version) deb_version="$2"; shift 2 ;;
    --fast) fast="--fast"; shift ;;
    --tag) tag="$2"; shift 2 ;;
    *) echo "package.sh: unknown option $1" >&2; usage ;;
  esac
done

# Cargo's output directory for the profile (`dev` builds into target/debug).
case "$profile" in
  dev|debug) profile=dev; bin_dir="$target_dir/debug" ;;
  *) bin_dir="$target_dir/$profile" ;;
esac
for b in ironpost-daemon ironpost-cli; do
  if [ ! -x "$bin_dir/$b" ]; then
    echo "package.sh: $bin_dir/$b is missing: build it first (cargo build --locked --profile $profile -p ironpost-daemon -p ironpost-cli)" >&2
    exit 1
  fi
done

deb() {
  if ! "$cargo" deb --version >/dev/null 2>&1; then
    echo "package.sh: cargo-deb is missing: bash scripts/setup.sh installs it" >&2
    exit 1
  fi
  # Generated assets live next to the binaries, where the `target/release/ironpost-pkg/...`
  # asset paths of [package.metadata.deb] point for this profile.
  local gen="$bin_dir/ironpost-pkg"
  rm -rf "$gen"
  mkdir -p "$gen/completions" "$gen/man"
  local cli="$bin_dir/ironpost-cli"
  "$cli" completions bash >"$gen/completions/ironpost-cli.bash"
  "$cli" completions zsh >"$gen/completions/_ironpost-cli"
  "$cli" completions fish >"$gen/completions/ironpost-cli.fish"
  "$cli" man --dir "$gen/man" >/dev/null
  # Debian policy: compressed man pages (-n: no timestamp, so the bytes depend on the text only).
  gzip -9n "$gen"/man/*.1

  out="${out:-$target_dir/debian}"
  mkdir -p "$out"
  local args=(deb -p ironpost-daemon --no-build --locked --profile "$profile" --dbgsym --output "$out")
  [ -n "$deb_version" ] && args+=(--deb-version "$deb_version")
  # --fast: a lower xz level (a quicker package for tests; same contents).
  [ -n "$fast" ] && args+=(--fast)
  (cd "$repo" && "$cargo" "${args[@]}")
}

image() {
  if ! "$docker" info >/dev/null 2>&1; then
    echo "package.sh: dockerd is not answering (bash scripts/services.sh start docker)" >&2
    exit 1
  fi
  local ctx
  ctx="$(mktemp -d "${TMPDIR:-/tmp}/ironpost-image.XXXXXX")"
  trap 'rm -rf "$ctx"' RETURN
  mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/usr/share/ironpost/models" \
    "$ctx/rootfs/etc/ironpost/rules" "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/var/lib/ironpost" \
    "$ctx/rootfs/run/ironpost" "$ctx/rootfs/tmp"
  local b
  for b in ironpost-daemon ironpost-cli; do
    # The image gets no debug info: strip a copy, as the .deb does.
    objcopy --strip-debug --strip-unneeded "$bin_dir/$b" "$ctx/rootfs/usr/bin/$b"
  done
  # Exactly the shared objects the dynamic linker resolves for the two binaries (with the
  # loader), at the paths it resolved them to. (`ldd A B` heads each list with "A:".)
  local lib
  for lib in $(ldd "$bin_dir/ironpost-daemon" "$bin_dir/ironpost-cli" |
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u); do
    mkdir -p "$ctx/rootfs$(dirname "$lib")"
    cp -L "$lib" "$ctx/rootfs$lib"
  done
  cp -L /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/"
  cp "$repo"/models/*.onnx "$repo/models/metrics.json" "$ctx/rootfs/usr/share/ironpost/models/"
  cp "$repo"/rules/*.yaml "$ctx/rootfs/etc/ironpost/rules/"
  mkdir -p "$ctx/rootfs/etc/ironpost/rules/tests"
  cp "$repo"/rules/tests/*.log "$ctx/rootfs/etc/ironpost/rules/tests/"
  cp "$repo/deploy/container/ironpost.toml" "$ctx/rootfs/etc/ironpost/ironpost.toml"
  # Name service files for a non-root user (uid 65532, as distroless's "nonroot").
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/rootfs/etc/group"
  cp "$repo/deploy/container/Containerfile" "$ctx/Containerfile"
  # The classic builder: no buildx needed, and FROM scratch pulls nothing.
  DOCKER_BUILDKIT=0 "$docker" build -q -f "$ctx/Containerfile" -t "$tag" "$ctx"
}

case "$what" in
  deb) deb ;;
  image) image ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# Write a wheelhouse for installing VisionPlug on a machine without network.
#
#   tools/misc/wheelhouse.sh download --python 3.12 --platform manylinux_2_28_x86_64 --out DIR
#
# On a connected machine: downloads wheels of every requirement (build,
# runtime, tests; torch/torchvision replaced by VISIONPLUG_TORCH when set) for
# the target Python and platform, and mmcv 2.1.0 as its source tarball, which
# tools/misc/setup_env.sh compiles on the target. Then on the target:
#
#   VISIONPLUG_WHEELHOUSE=DIR make env
#
# The platform is the target's glibc (`ldd --version`) and machine: glibc 2.28
# on x86-64 is manylinux_2_28_x86_64 (the oldest torch 2.13 accepts).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mmcv_version=2.1.0
usage="usage: $0 download --python 3.10|3.11|3.12 --platform manylinux_2_N_ARCH --out DIR"
die() { printf 'wheelhouse: error: %s\n' "$*" >&2; exit 2; }
log() { printf '[wheelhouse %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

[[ "${1:-}" == download ]] || die "$usage"
shift
target_python='' target_platform='' out=''
while (($#)); do
    [[ $# -ge 2 ]] || die "$1 needs a value; $usage"
    case "$1" in
        --python) target_python=$2 ;;
        --platform) target_platform=$2 ;;
        --out) out=$2 ;;
        *) die "unknown option $1; $usage" ;;
    esac
    shift 2
done
[[ -n "$target_python" && -n "$target_platform" && -n "$out" ]] || die "$usage"
case "$target_python" in
    3.10|3.11|3.12) ;;
    *) die "--python $target_python: expected 3.10, 3.11 or 3.12" ;;
esac
host_python=${VISIONPLUG_HOST_PYTHON:-python3}
platforms=$("$host_python" "$root/tools/misc/env_key.py" platforms "$target_platform") \
    || exit 2
mkdir -p "$out"
out=$(cd "$out" && pwd)

reqs=(-r "$root/requirements/build.txt")
if [[ -n "${VISIONPLUG_TORCH:-}" ]]; then
    grep -Ev '^(torch|torchvision)([^a-z_-]|$)' "$root/requirements/build.txt" \
        > "$out/build-requirements.txt"
    read -ra torch_reqs <<< "$VISIONPLUG_TORCH"
    reqs=(-r "$out/build-requirements.txt" "${torch_reqs[@]}")
fi
reqs+=(-r "$root/requirements/runtime.txt" -r "$root/requirements/tests.txt")

log "wheels for Python $target_python on $target_platform into $out"
platform_args=()
for p in $platforms; do platform_args+=(--platform "$p"); done
"$host_python" -m pip --disable-pip-version-check download --only-binary=:all: \
    --python-version "$target_python" --implementation cp "${platform_args[@]}" \
    -d "$out" "${reqs[@]}"

# pip prepares an sdist's metadata even when only downloading it, and mmcv's
# setup.py needs pkg_resources (setuptools < 82) and wheel for that.
log "mmcv $mmcv_version source"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$host_python" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip --disable-pip-version-check install -q 'setuptools<82' wheel
"$tmp/venv/bin/python" -m pip --disable-pip-version-check download --no-deps \
    --no-binary=:all: --no-build-isolation -d "$out" "mmcv==$mmcv_version"

printf 'python=%s\nplatform=%s\nmmcv=%s\ntorch=%s\n' "$target_python" \
    "$target_platform" "$mmcv_version" "${VISIONPLUG_TORCH:-requirements/build.txt}" \
    > "$out/visionplug-wheelhouse.txt"
log "done: $(ls "$out" | wc -l) files, $(du -sh "$out" | cut -f1); on the target: \
VISIONPLUG_WHEELHOUSE=$out make env"

#!/usr/bin/env bash
# Create or reuse the VisionPlug environment in .venv/ (idempotent).
#
# Steps: venv (Python 3.10-3.12) -> build requirements (torch first) -> mmcv
# 2.1.0 with ops from a wheel cache (built from source once) -> runtime and
# test requirements -> the toolbox itself in editable mode. mmcv is built with
# CUDA ops when nvcc, a CUDA torch and a GPU (or TORCH_CUDA_ARCH_LIST) are
# present; tools/misc/env_key.py decides and names the cache key (mmcv, torch,
# CUDA, arch list, ops flavour, Python, platform). A stamp records the hash of
# the set-up files and the mmcv key, so a second run only checks them.
#
# Environment variables:
#   VISIONPLUG_PYTHON      interpreter for the venv (default: python3.11, or the
#                          wheelhouse's Python)
#   VISIONPLUG_CACHE_DIR   wheel cache (default: ${XDG_CACHE_HOME:-~/.cache}/visionplug)
#   VISIONPLUG_WHEELHOUSE  install offline from this folder (tools/misc/wheelhouse.sh)
#   VISIONPLUG_TORCH       requirements replacing torch/torchvision of
#                          requirements/build.txt, e.g. "torch==2.4.1 torchvision==0.19.1"
#   VISIONPLUG_MMCV_OPS    auto (default), cuda or cpu
#   TORCH_CUDA_ARCH_LIST   CUDA architectures (default: the visible GPUs')
#   MAX_JOBS               parallel compile jobs (default: nproc)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv="$root/.venv"
cache=${VISIONPLUG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/visionplug}
wheelhouse=${VISIONPLUG_WHEELHOUSE:-}
mmcv_version=2.1.0
stamp="$venv/.visionplug-stamp"
mmcv_key_file="$venv/.visionplug-mmcv"

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

python=${VISIONPLUG_PYTHON:-python3.11}
pip_source=()
if [[ -n "$wheelhouse" ]]; then
    manifest="$wheelhouse/visionplug-wheelhouse.txt"
    [[ -f "$manifest" ]] || die "VISIONPLUG_WHEELHOUSE=$wheelhouse has no \
visionplug-wheelhouse.txt; expected a folder written by tools/misc/wheelhouse.sh download"
    wheelhouse=$(cd "$wheelhouse" && pwd)
    house_python=$(sed -n 's/^python=//p' "$manifest")
    python=${VISIONPLUG_PYTHON:-python$house_python}
    pip_source=(--no-index --find-links "$wheelhouse")
    log "installing offline from $wheelhouse (Python $house_python)"
fi

want=$(cat "$root"/requirements/{build,runtime,tests}.txt "$root/setup.py" \
       "$root"/tools/misc/{setup_env.sh,env_key.py} <(echo "${VISIONPLUG_TORCH:-}") \
       | sha256sum | cut -d' ' -f1)

if [[ ! -x "$venv/bin/python" ]]; then
    command -v "$python" >/dev/null || die "no interpreter $python; set \
VISIONPLUG_PYTHON to a Python 3.10, 3.11 or 3.12"
    log "creating virtual environment .venv with $python"
    "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"
pip() { "$vpy" -m pip --disable-pip-version-check "$@"; }
venv_python=$("$vpy" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$venv_python" in
    3.10|3.11|3.12) ;;
    *) die ".venv uses Python $venv_python; VisionPlug needs 3.10, 3.11 or 3.12 \
(remove .venv or set VISIONPLUG_PYTHON)" ;;
esac
if [[ -n "$wheelhouse" && "$venv_python" != "$house_python" ]]; then
    die ".venv uses Python $venv_python but the wheelhouse holds wheels for \
$house_python (remove .venv or set VISIONPLUG_PYTHON=python$house_python)"
fi

mmcv_plan() {
    local out
    out=$("$vpy" "$root/tools/misc/env_key.py" plan "$mmcv_version") || exit 1
    eval "$out"
}

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    mmcv_plan
    if [[ "$(cat "$mmcv_key_file" 2>/dev/null)" == "$key" ]]; then
        log "environment .venv is up to date (mmcv $key)"
        exit 0
    fi
    log "mmcv key changed to $key: updating"
fi

log "installing build requirements (torch first)"
build_reqs=(-r "$root/requirements/build.txt")
if [[ -n "${VISIONPLUG_TORCH:-}" ]]; then
    grep -Ev '^(torch|torchvision)([^a-z_-]|$)' "$root/requirements/build.txt" \
        > "$venv/.visionplug-build.txt"
    read -ra torch_reqs <<< "$VISIONPLUG_TORCH"
    build_reqs=(-r "$venv/.visionplug-build.txt" "${torch_reqs[@]}")
fi
pip install -q "${pip_source[@]}" "${build_reqs[@]}"

mmcv_plan
log "mmcv $mmcv_version: $reason"
wheel_dir="$cache/$key"
installed=$("$vpy" -c "
import mmcv, mmcv.ops
print(mmcv.__version__, 'cpu' if mmcv.ops.get_compiling_cuda_version() == 'not available' else 'cuda')
" 2>/dev/null || true)
if [[ "$installed" == "$mmcv_version $flavour" \
      && "$(cat "$mmcv_key_file" 2>/dev/null || echo "$key")" == "$key" ]]; then
    log "mmcv $mmcv_version with $flavour ops already installed"
else
    if ! compgen -G "$wheel_dir/mmcv-$mmcv_version-*.whl" >/dev/null; then
        log "building mmcv $mmcv_version ($key); about 11 minutes on 2 cores for \
CPU ops, 4 minutes on 16 cores for CUDA ops of one architecture"
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        if [[ "$flavour" == cuda ]]; then
            build_env=(FORCE_CUDA=1 "TORCH_CUDA_ARCH_LIST=$arch_list")
        else  # hide GPUs: mmcv's setup.py builds CUDA ops whenever it sees one
            build_env=(-u TORCH_CUDA_ARCH_LIST FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
        fi
        env "${build_env[@]}" MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            "$vpy" -m pip --disable-pip-version-check wheel --no-build-isolation \
            --no-deps --no-binary mmcv "${pip_source[@]}" -w "$tmp" "mmcv==$mmcv_version"
        mkdir -p "$wheel_dir"
        # Move into place only when complete, so an interrupted build never
        # leaves a broken wheel in the cache.
        for f in "$tmp"/mmcv-*.whl; do mv "$f" "$wheel_dir/.$(basename "$f").part"; \
            mv "$wheel_dir/.$(basename "$f").part" "$wheel_dir/$(basename "$f")"; done
    else
        log "reusing cached mmcv wheel from $wheel_dir"
    fi
    pip install -q --no-deps --force-reinstall "$wheel_dir"/mmcv-$mmcv_version-*.whl
fi
echo "$key" > "$mmcv_key_file"

log "installing runtime and test requirements"
pip install -q "${pip_source[@]}" -r "$root/requirements/runtime.txt" \
    -r "$root/requirements/tests.txt" "mmcv==$mmcv_version"
log "installing visionplug (editable)"
pip install -q "${pip_source[@]}" --no-deps --no-build-isolation -e "$root"

"$vpy" -c "import torch, mmcv, mmcv.ops, mmengine, mmdet, mmseg, mmpretrain; \
cuda = mmcv.ops.get_compiling_cuda_version(); \
print('[setup] torch', torch.__version__, '| mmcv', mmcv.__version__, \
'(CPU ops)' if cuda == 'not available' else f'(CUDA {cuda} ops)', \
'| mmengine', mmengine.__version__, \
'| mmdet', mmdet.__version__, '| mmseg', mmseg.__version__, \
'| mmpretrain', mmpretrain.__version__)"
echo "$want" > "$stamp"
log "environment ready"

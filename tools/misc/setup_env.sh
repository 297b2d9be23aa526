#!/usr/bin/env bash
# Create or reuse the VisionPlug environment in .venv/ (idempotent).
#
# Steps: venv (Python 3.11) -> build requirements (torch first) -> mmcv 2.1.0
# with ops from a wheel cache keyed by torch and Python version (built from
# source once, ~11 min on 2 cores) -> runtime and test requirements -> the
# toolbox itself in editable mode. A stamp file records the hash of the
# requirement files, so a second run only checks it and returns.
#
# Environment variables:
#   VISIONPLUG_PYTHON     interpreter for the venv (default: python3.11)
#   VISIONPLUG_CACHE_DIR  wheel cache (default: ${XDG_CACHE_HOME:-~/.cache}/visionplug)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv="$root/.venv"
python=${VISIONPLUG_PYTHON:-python3.11}
cache=${VISIONPLUG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/visionplug}
mmcv_version=2.1.0
stamp="$venv/.visionplug-stamp"

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

want=$(cat "$root"/requirements/{build,runtime,tests}.txt "$root/setup.py" \
       "$root/tools/misc/setup_env.sh" | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "environment .venv is up to date"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    log "creating virtual environment .venv with $python"
    "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"
pip() { "$vpy" -m pip --disable-pip-version-check "$@"; }
"$vpy" - <<'EOF'
import sys
if sys.version_info[:2] != (3, 11):
    sys.exit(f'.venv uses Python {sys.version.split()[0]}; VisionPlug needs 3.11 '
             '(remove .venv or set VISIONPLUG_PYTHON)')
EOF

log "installing build requirements (torch first)"
pip install -q -r "$root/requirements/build.txt"

tag=$("$vpy" -c 'import sys, torch; print(f"torch{torch.__version__}-cp{sys.version_info[0]}{sys.version_info[1]}")')
wheel_dir="$cache/mmcv-$mmcv_version-$tag"
if "$vpy" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$mmcv_version')" 2>/dev/null; then
    log "mmcv $mmcv_version with ops already installed"
else
    if ! compgen -G "$wheel_dir/mmcv-$mmcv_version-*.whl" >/dev/null; then
        log "building mmcv $mmcv_version with ops for $tag (about 11 minutes on 2 cores)"
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
            pip wheel --no-build-isolation --no-deps --no-binary mmcv \
            -w "$tmp" "mmcv==$mmcv_version"
        mkdir -p "$wheel_dir"
        # Move into place only when complete, so an interrupted build never
        # leaves a broken wheel in the cache.
        for f in "$tmp"/mmcv-*.whl; do mv "$f" "$wheel_dir/.$(basename "$f").part"; \
            mv "$wheel_dir/.$(basename "$f").part" "$wheel_dir/$(basename "$f")"; done
    else
        log "reusing cached mmcv wheel from $wheel_dir"
    fi
    pip install -q --no-deps "$wheel_dir"/mmcv-$mmcv_version-*.whl
fi

log "installing runtime and test requirements"
pip install -q -r "$root/requirements/runtime.txt" -r "$root/requirements/tests.txt" \
    "mmcv==$mmcv_version"
log "installing visionplug (editable)"
pip install -q --no-deps --no-build-isolation -e "$root"

"$vpy" -c "import torch, mmcv, mmcv.ops, mmengine, mmdet, mmseg, mmpretrain; \
print('[setup] torch', torch.__version__, '| mmcv', mmcv.__version__, '| mmengine', \
mmengine.__version__, '| mmdet', mmdet.__version__, '| mmseg', mmseg.__version__, \
'| mmpretrain', mmpretrain.__version__)"
echo "$want" > "$stamp"
log "environment ready"

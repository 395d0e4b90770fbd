#!/usr/bin/env bash
# Download the wheels the GPU machines' image lacks into .whl/ (git-ignored), for scripts/gpu_cost.sh.
#
# The device image (see the device tool's KINDS.md) has torch 2.11, transformers, safetensors,
# huggingface-hub, pandas, matplotlib, nvidia-ml-py, pytest-benchmark, timm, regex, tqdm, pillow,
# ..., but not diffusers, open_clip_torch, ftfy (open_clip needs it) or wcwidth (ftfy needs it).
# (diffusers also lists importlib_metadata, which it imports only on Python < 3.8: the image runs
# 3.12.) Nothing can be fetched there, so they travel as wheels. Versions are the ones this checkout's .venv runs (its tests passed with them), so
# the GPU run executes the code paths tested here.
#
#     bash scripts/fetch_wheels.sh            # then: device run with carry [".whl"]
#     PY=python3 bash scripts/fetch_wheels.sh # with another interpreter that has pip
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PACKAGES=(diffusers open_clip_torch ftfy wcwidth)

version() {  # the version installed here, so GPU and CPU runs use the same code
  "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"
}

mkdir -p .whl
rm -f .whl/*.whl  # one version of each: two would stop the install on the device
for name in "${PACKAGES[@]}"; do
  spec="$name==$(version "$name")"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$spec"
  echo "fetched $spec"
done
du -sh .whl

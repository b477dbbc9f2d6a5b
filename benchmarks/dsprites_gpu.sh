#!/usr/bin/env bash
# The dSprites comparison of the reference InfoGAN and InfoVAEGAN (benchmarks/dsprites_gpu.py)
# on a machine that may lack the package's dependencies and cannot download them: installs the
# carried wheels (benchmarks/gpu_wheels.sh) when pythae or pydantic is missing, puts the
# repository on PYTHONPATH when the package is not installed (the benchmark needs the library
# only, not the deploy/ and cli/ folders that pyproject.toml maps), then runs the driver.
#
# Settings (environment):
#   OUT          output folder (default benchmarks/results/dsprites_gpu): dsprites_gpu.json,
#                metrics_vs_steps.png, traversal_reference.png, traversal_infovaegan.png,
#                dsprites_gpu.log
#   DEVICE       auto (default) | cuda | cpu
#   SEEDS        default "0 1 2"
#   MODELS       default "reference infovaegan"; also infogan (the ablation), beta_vae,
#                factor_vae (pythae, as `infovaegan benchmark` trains them)
#   STEPS        steps per model; unset: as many as BUDGET_S allows
#   BUDGET_S     wall-clock seconds for this whole script, setup included (default 500: a
#                device command runs at most 600 s)
#   EVAL_EVERY   steps between evaluations (default 1000)
#   METRIC_SCALE disentanglement_lib's sample sizes times this at the final point (default 1.0)
#   EVAL_SCALE   the same for the points before it (default 0.2)
#   LIMIT        InfoVAEGAN's rendered training images (default 20000, the train default)
#   AMP          auto (default: the faster on CUDA) | on | off, InfoVAEGAN's mixed precision
#   REFERENCE    the reference script (default .ref/infogan_dsprites.py when present, else
#                ../shared/reference/infogan_dsprites.py)
#   WHEELS_DIR   default .whl; SITE_DIR (default /tmp/site) receives them; PYTHON (python3)
#   EXTRA_ARGS   more options for the driver (e.g. "--render-workers 8 --threads 4")
set -euo pipefail
STARTED=$(date +%s.%N)
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-benchmarks/results/dsprites_gpu}
WHEELS_DIR=${WHEELS_DIR:-.whl}
SITE_DIR=${SITE_DIR:-/tmp/site}
if [ -z "${REFERENCE:-}" ]; then
  REFERENCE=../shared/reference/infogan_dsprites.py
  [ -f .ref/infogan_dsprites.py ] && REFERENCE=.ref/infogan_dsprites.py
fi
if [[ " ${MODELS:-reference} " == *" reference "* ]] && [ ! -f "$REFERENCE" ]; then
  echo "error: reference script not found: $REFERENCE (copy ../shared/reference/infogan_dsprites.py into .ref/ and carry it, or set REFERENCE)" >&2
  exit 2
fi

# imports are checked from / : the driver runs with benchmarks/ first on sys.path, not the cwd
imports() { (cd / && "$PY" -c "import $1" 2>/dev/null); }
if ! imports "pythae, pydantic, infovaegan_plugin.training"; then
  if ! imports "pythae, pydantic"; then
    if ! ls "$WHEELS_DIR"/*.whl >/dev/null 2>&1; then
      echo "error: pythae/pydantic are missing and $WHEELS_DIR holds no wheels (run bash benchmarks/gpu_wheels.sh where pip can download, and carry .whl)" >&2
      exit 2
    fi
    PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --no-index --no-deps --no-compile \
      --no-cache-dir --upgrade --target "$SITE_DIR" "$WHEELS_DIR"/*.whl
    export PYTHONPATH="$SITE_DIR${PYTHONPATH:+:$PYTHONPATH}"
  fi
  imports infovaegan_plugin.training || export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  (cd / && "$PY" -c "import infovaegan_plugin.training") || {
    echo "error: infovaegan_plugin does not import (see above)" >&2; exit 2; }
fi

mkdir -p "$OUT"
ARGS=(--out "$OUT" --device "${DEVICE:-auto}" --seeds ${SEEDS:-0 1 2}
      --models ${MODELS:-reference infovaegan}
      --eval-every "${EVAL_EVERY:-1000}" --metric-scale "${METRIC_SCALE:-1.0}"
      --eval-scale "${EVAL_SCALE:-0.2}" --amp "${AMP:-auto}" --reference "$REFERENCE"
      --budget-s "${BUDGET_S:-500}" --started "$STARTED")
[ -n "${STEPS:-}" ] && ARGS+=(--steps "$STEPS")
[ -n "${LIMIT:-}" ] && ARGS+=(--limit "$LIMIT")
# shellcheck disable=SC2206  # EXTRA_ARGS is split on purpose
ARGS+=(${EXTRA_ARGS:-})
set -o pipefail
PYTHONUNBUFFERED=1 "$PY" benchmarks/dsprites_gpu.py "${ARGS[@]}" 2>&1 | tee "$OUT/dsprites_gpu.log"

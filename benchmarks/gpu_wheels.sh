#!/usr/bin/env bash
# The wheels benchmarks/dsprites_gpu.sh needs on a GPU machine that cannot download: what the
# package imports there beyond the machine's image (Python 3.12, torch, numpy, scipy,
# scikit-learn, pillow, rich, typer, tqdm, imageio, cloudpickle, typing-extensions, ...).
# Run once, here, from anywhere; the wheels land in the repository's .whl/ (ignored by git),
# which the device call carries (carry: [".whl", ".ref"]).
#
#   pythae            the model/trainer framework InfoVAEGAN plugs into (pure Python)
#   pydantic          pythae's configs and InfoVAEGANTrainerConfig (pure Python)
#   pydantic-core     pydantic's compiled core, pinned exactly by pydantic (CPython 3.12 wheel)
#   annotated-types   pydantic's dependency (pure Python)
#   typing-inspection pydantic's dependency (pure Python)
#   typing-extensions in the image already, at a version nobody has read there; pydantic and
#                     pydantic-core need >= 4.16.0, so that one travels too (45 kB; a newer
#                     one serves torch as well)
# pythae's other needs (numpy, scipy, scikit-learn, torch, tqdm, imageio, cloudpickle) are in
# the image; its "dataclasses" backport is for Python < 3.7.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=(
  pythae==0.1.2
  pydantic==2.14.4
  pydantic-core==2.50.5
  annotated-types==0.8.0
  typing-inspection==0.4.5
  typing-extensions==4.16.0
)
mkdir -p .whl
for wheel in "${WHEELS[@]}"; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d .whl "$wheel"
done
ls -l .whl
du -ch .whl/*.whl | tail -1

"""The model repository ``infovaegan serve`` hands to Triton: the export's encoder and
generator under the names, tensors and parameters of the repository ``export --triton`` writes,
run by Triton's Python backend (:mod:`~infovaegan_plugin.deploy.serving_backend`) because
Triton's ONNX Runtime backend ships in no wheel.

One source of truth: both repositories are written by :func:`~infovaegan_plugin.deploy.triton.
write_model` from the ONNX graphs and their metadata; only the runner and the serving options
(instances, batching delay, threads, providers, warm-up) differ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from infovaegan_plugin.deploy.encoder_runtime import OnnxEncoder
from infovaegan_plugin.deploy.generator_runtime import OnnxGenerator
from infovaegan_plugin.deploy.metadata import PRECISIONS
from infovaegan_plugin.deploy.serving_backend import PROVIDERS_PARAMETER, THREADS_PARAMETER
from infovaegan_plugin.deploy.session import InvalidModelError
from infovaegan_plugin.deploy.triton import ServingSection, write_model

__all__ = ["MODEL_NAMES", "ServingModels", "export_pair", "write_serving_repository"]

#: Triton model name of each exported file.
MODEL_NAMES = {"encoder": "infovaegan_encoder", "generator": "infovaegan_generator"}
#: ``1/model.py`` of each served model: the backend class lives in the installed package.
_MODEL_PY = (
    '"""Written by infovaegan serve: the model is the installed package\'s serving backend."""\n'
    "from infovaegan_plugin.deploy.serving_backend import TritonPythonModel  # noqa: F401\n"
)


@dataclass(frozen=True)
class ServingModels:
    """How the served models run: precision of the files, batching and instances."""

    precision: str = "fp32"
    max_batch_size: int = 256
    max_queue_delay_us: int = 100
    instances: int = 1
    threads: int = 1
    providers: str = "auto"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}.")
        for name, low in (("max_batch_size", 1), ("max_queue_delay_us", 0), ("instances", 1),
                          ("threads", 1)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)}.")


def export_pair(export_dir: str | os.PathLike[str], precision: str = "fp32") -> dict[str, Path]:
    """``{"encoder": path, "generator": path}`` of an export folder at one precision, each
    checked to be an InfoVAEGAN export of its kind (a foreign or partial folder is a
    ``FileNotFoundError``/``InvalidModelError`` naming the file)."""
    folder = Path(export_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"export folder not found: {folder}")
    suffix = "" if precision == "fp32" else f".{precision}"
    pair = {kind: folder / f"{kind}{suffix}.onnx" for kind in MODEL_NAMES}
    missing = [p.name for p in pair.values() if not p.is_file()]
    if missing:
        hint = ("" if precision == "fp32" else
                f"; export it with {'--fp16' if precision == 'fp16' else '--quantize int8'}")
        raise FileNotFoundError(
            f"{folder} is not an InfoVAEGAN export at {precision}: {', '.join(missing)} "
            f"missing{hint}.")
    for kind, runtime in (("encoder", OnnxEncoder), ("generator", OnnxGenerator)):
        try:
            runtime(pair[kind], providers="cpu")
        except InvalidModelError:
            raise
        except Exception as exc:  # pragma: no cover - ORT's own exception classes
            raise InvalidModelError(f"{pair[kind]}: {exc}") from exc
    return pair


def write_serving_repository(export_dir: str | os.PathLike[str], repo_dir: str | os.PathLike[str],
                             models: ServingModels = ServingModels()) -> Path:
    """Write ``infovaegan_encoder`` and ``infovaegan_generator`` into ``repo_dir``."""
    pair = export_pair(export_dir, models.precision)
    repo = Path(repo_dir)
    repo.mkdir(parents=True, exist_ok=True)
    serving = ServingSection(
        backend="python", instance_count=models.instances,
        max_queue_delay_us=models.max_queue_delay_us, warmup=True,
        parameters=((THREADS_PARAMETER, str(models.threads)),
                    (PROVIDERS_PARAMETER, models.providers)),
    )
    for kind, name in MODEL_NAMES.items():
        folder = write_model(pair[kind], repo, name, models.max_batch_size, serving)
        (folder / "1" / "model.py").write_text(_MODEL_PY, encoding="utf-8")
    return repo

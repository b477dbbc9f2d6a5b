"""What ``infovaegan export`` writes, in one call: the ONNX pair (+ variants), the sidecar
with the held-out measurements, and optionally a Triton model repository, staged together and
swapped in so the output folder always describes exactly one model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infovaegan_plugin.deploy.calibration import RealImages
from infovaegan_plugin.deploy.export import ExportResult, source_sha256, write_export
from infovaegan_plugin.deploy.folders import TRITON_DIR, staged_export_dir

__all__ = ["TRITON_PRECISIONS", "export_bundle"]

TRITON_PRECISIONS = ("fp32", "fp16", "int8")


def export_bundle(
    model_dir: Path,
    output_dir: Path,
    *,
    opset: int,
    fp16: bool = False,
    quantize: str | None = None,
    real: RealImages | None = None,
    dataset_name: str | None = None,
    triton_precision: str | None = None,
    triton_max_batch_size: int = 256,
    overwrite: bool = False,
) -> tuple[ExportResult, list[Path]]:
    """Export the saved model in ``model_dir`` to ``output_dir``; returns the result and every
    file written (Triton's included), with their final paths.

    ``real``: calibration images (int8 ranges, parity) and held-out images (the variants'
    deviation); ``None`` measures on prior samples. ``triton_precision``: which exported pair
    Triton serves (``None``: no repository); that variant must be exported.
    """
    sha = source_sha256(model_dir)
    with staged_export_dir(output_dir, sha, model_dir, overwrite) as staging:
        result = write_export(
            model_dir, staging, opset=opset, fp16=fp16, quantize=quantize,
            dataset_name=dataset_name,
            calibration_images=None if real is None else real.calibration,
            held_out_images=None if real is None else real.held_out,
            held_out_label="" if real is None else real.source,
        )
        written: list[Any] = list(result.files)
        if triton_precision is not None:
            from infovaegan_plugin.deploy import triton

            if triton_precision == "fp32":
                pair = (result.encoder_path, result.generator_path)
            else:
                chosen = result.variants[triton_precision]
                pair = (chosen.encoder_path, chosen.generator_path)
            repo = triton.write_triton_repository(*pair, staging / TRITON_DIR,
                                                  max_batch_size=triton_max_batch_size)
            written += sorted(p for p in repo.rglob("*") if p.is_file())
    result = result.relocated(staging, Path(output_dir))
    return result, [Path(output_dir) / Path(p).relative_to(staging) for p in written]

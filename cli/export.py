"""``infovaegan export``: a saved model or a training run -> ONNX files (+ variants, Triton).

The library (:func:`infovaegan_plugin.deploy.export.export_onnx`) does the export and the
parity check; this command adds what a person at a terminal needs: finding real images to
calibrate and measure the reduced-precision variants on, and a table of what was written and
how far each variant is from fp32.

Real images are found, in order, from ``--calibration`` (a data set name or a path), else the
data set the training run recorded in its ``metrics.json``. The images are split once, with a
fixed seed, into a calibration part (int8 ranges, parity check) and a held-out part the
deviations are measured on, so an int8 model is not graded on the images it was tuned to.
Without real images the command says so and measures on images the fp32 generator samples
from its prior (the library's documented fallback; int8 is then dynamic).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from infovaegan_plugin.cli.common import (
    at_least,
    check_writable,
    cli_text,
    console,
    fail,
    user_errors,
)
from infovaegan_plugin.deploy.metadata import MIN_OPSET

#: Images used to calibrate int8 and check parity; as many again are held out for measuring.
DEFAULT_CALIBRATION_SIZE = 512
SPLIT_SEED = 0
TRITON_DIR = "triton"


@dataclass(frozen=True)
class RealImages:
    """Real images split into a calibration part and a held-out part, and where they came from."""

    calibration: np.ndarray
    held_out: np.ndarray
    source: str


def recorded_dataset(model_dir: Path) -> str | None:
    """The ``dataset`` a training run wrote to ``metrics.json`` (the run folder holds both the
    file and ``final_model/``), or ``None`` for a bare saved model."""
    for folder in [model_dir, *model_dir.parents][:3]:
        path = folder / "metrics.json"
        if path.is_file():
            try:
                name = json.loads(path.read_text()).get("dataset")
            except (json.JSONDecodeError, OSError, AttributeError):
                return None
            return str(name) if name else None
    return None


def model_input_dim(model_dir: Path) -> tuple[int, ...] | None:
    """``input_dim`` from ``model_config.json`` without building the model; ``None`` when the
    file is unreadable (the exporter then reports the problem with its own message)."""
    try:
        raw = json.loads((model_dir / "model_config.json").read_text())
        return tuple(int(d) for d in raw["input_dim"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _loader_name(recorded: str) -> str | None:
    """Map a recorded data set name ("digits", "mnist-train", ...) to a loader name."""
    from infovaegan_plugin.data import available_datasets

    base = recorded.split("-")[0]
    return base if base in available_datasets() else None


def _load(source: str, data_dir: Path | None, input_dim: tuple[int, ...] | None,
          size: int):
    """The images of a named data set or a path, checked against the model's input shape."""
    from infovaegan_plugin.data import load_dataset

    kw: dict[str, Any] = {}
    if source == "dsprites" and data_dir is None:  # procedural: render only what is needed
        kw = {"n": 2 * size, "seed": SPLIT_SEED}
    # MNIST's test split: images the training run never saw.
    split = "test" if source == "mnist" else "train"
    data = load_dataset(source, data_dir, split=split, **kw)
    if input_dim is not None and tuple(data.images.shape[1:]) != tuple(input_dim):
        raise ValueError(
            f"{source} has images of shape {tuple(data.images.shape[1:])}, but the model takes "
            f"{tuple(input_dim)}."
        )
    return data


def split_images(images: np.ndarray, size: int, label: str) -> RealImages:
    """A seeded calibration subset of ``size`` images and up to as many other images held out."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    calibration = np.ascontiguousarray(images[np.sort(order[:size])])
    rest = order[size : 2 * size]
    if len(rest) == 0:
        return RealImages(calibration, calibration, f"{label}: {len(calibration)} images "
                          "(too few to hold any out: measured on the calibration images)")
    held_out = np.ascontiguousarray(images[np.sort(rest)])
    return RealImages(calibration, held_out,
                      f"{label}: {len(held_out)} held-out images")


def _data_dir_hint(exc: Exception) -> str:
    return " (give it with --data-dir)" if "data_dir" in str(exc) else ""


def find_real_images(
    model_dir: Path, calibration: str | None, data_dir: Path | None, size: int
) -> tuple[RealImages | None, str | None]:
    """Real images for calibration and measurement, or ``(None, why not)``.

    An explicit ``--calibration`` that cannot be used is an error; a recorded data set that
    cannot be loaded (e.g. MNIST without ``--data-dir``) only leads to the fallback.
    """
    from infovaegan_plugin.data import DataError

    input_dim = model_input_dim(model_dir)
    if calibration is not None:
        try:
            data = _load(calibration, data_dir, input_dim, size)
        except (DataError, ValueError, OSError) as exc:
            fail(f"--calibration {calibration}: {exc}{_data_dir_hint(exc)}")
        return split_images(data.images, size, calibration), None
    recorded = recorded_dataset(model_dir)
    if recorded is None:
        return None, "no --calibration given and no training-run metrics.json names the data set"
    loader = _loader_name(recorded)
    if loader is None:
        return None, (f"the run was trained on {recorded!r}, a path it does not record; "
                      "pass --calibration PATH")
    try:
        data = _load(loader, data_dir, input_dim, size)
    except (DataError, ValueError, OSError) as exc:
        return None, (f"the recorded data set {recorded!r} cannot be loaded "
                      f"({exc}){_data_dir_hint(exc)}")
    return split_images(data.images, size, loader), None


def held_out_deviation(result: Any, real: RealImages) -> dict[str, dict[str, Any]]:
    """Each variant's encoder against the fp32 encoder on the held-out real images."""
    from infovaegan_plugin.deploy.quantize import encoder_deviation
    from infovaegan_plugin.deploy.runtime import OnnxEncoder

    reference = OnnxEncoder(result.encoder_path, providers="cpu")
    report = {}
    for name, variant in result.variants.items():
        candidate = OnnxEncoder(variant.encoder_path, providers="cpu")
        report[name] = {**encoder_deviation(reference, candidate, real.held_out),
                        "images": real.source}
    return report


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def deviation_table(result: Any, encoder_dev: dict[str, dict[str, Any]],
                    fp32_images: str) -> Table:
    """Max abs errors per output and categorical argmax agreement, one row per file pair.

    The fp32 row is the exported graph against PyTorch; the other rows are variants against
    the fp32 graph. "gen. px" is the generator's pixel error on the same prior samples.
    """
    table = Table(title="Deviation (max abs error)")
    table.add_column("model", no_wrap=True)
    for column in ("cat. probs", "cont. mean", "features", "argmax", "gen. px"):
        table.add_column(column, justify="right", no_wrap=True)
    parity = result.parity
    table.add_row("fp32 vs PyTorch", _fmt(parity.get("encoder.categorical_probs")),
                  _fmt(parity.get("encoder.continuous_mean")),
                  _fmt(parity.get("encoder.features")), "-",
                  _fmt(parity.get("generator.images")))
    notes = [f"fp32: {fp32_images}"]
    for name, variant in result.variants.items():
        dev = encoder_dev.get(name, variant.encoder_deviation)
        images = dev["images"] if name in encoder_dev else (
            f"{dev['n_images']} calibration images" if dev["images"] == "caller"
            else f"{dev['n_images']} images the fp32 generator sampled from the prior")
        errors = dev["max_abs_error"]
        agreement = dev.get("argmax_agreement")
        table.add_row(f"{name} vs fp32", _fmt(errors.get("categorical_probs")),
                      _fmt(errors.get("continuous_mean")), _fmt(errors.get("features")),
                      "-" if agreement is None else f"{agreement:.2%}",
                      _fmt(variant.generator_deviation["max_abs_error"]))
        notes.append(f"{name}: encoder on {images}, generator on "
                     f"{variant.generator_deviation['n_samples']} prior samples")
    table.caption = escape("; ".join(notes))
    return table


def files_table(paths: list[Path], root: Path) -> Table:
    table = Table(title=f"Files written to {escape(str(root))}")
    table.add_column("file")
    table.add_column("size", justify="right")
    for path in paths:
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        table.add_row(escape(str(shown)), f"{path.stat().st_size / 1024:.1f} KiB")
    return table


def _record_held_out(sidecar: Path, report: dict[str, dict[str, Any]]) -> None:
    """Add the held-out measurements to ``export_metadata.json`` next to the library's own
    (those are taken on the calibration images)."""
    from infovaegan_plugin.deploy import metadata as md

    content = md.read_sidecar(sidecar)
    content["held_out_deviation"] = report
    md.write_sidecar(sidecar, content)


def export(
    model_dir: Path = typer.Argument(..., help="A saved model folder or a training run folder."),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Where the ONNX files go."),
    onnx: bool = typer.Option(True, "--onnx", help="The format; ONNX is the only one, so this "
                              "flag changes nothing (kept for existing command lines)."),
    opset: int = typer.Option(MIN_OPSET, help=f"ONNX opset ({MIN_OPSET} up to the newest the "
                              "installed exporter writes)."),
    fp16: bool = typer.Option(False, "--fp16", help="Also write encoder/generator.fp16.onnx."),
    quantize: str | None = typer.Option(None, help="'int8': also write *.int8.onnx."),
    triton: bool = typer.Option(False, "--triton", help="Also write a Triton model repository."),
    triton_precision: str = typer.Option("fp32", help="Which files Triton serves: fp32, fp16 "
                                         "or int8 (that variant must be exported)."),
    triton_max_batch_size: int = typer.Option(256, callback=at_least(0),
                                              help="Triton max_batch_size (0: no batching)."),
    calibration: str | None = typer.Option(
        None, help="Real images for calibration/measurement: a data set name or a path "
        "(default: the data set the training run recorded)."),
    data_dir: Path | None = typer.Option(None, help="Folder of a named data set (MNIST)."),
    calibration_size: int = typer.Option(DEFAULT_CALIBRATION_SIZE, callback=at_least(1),
                                         help="Calibration images (as many more are held out)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an output folder that holds another model's export "
        "or other files (everything in it is removed)."),
) -> None:
    """Export encoder.onnx + generator.onnx (and fp16/int8 variants, Triton repository).

    The output folder always ends up describing exactly one model: files are written to a
    temporary folder and swapped in; an earlier export of the same model is replaced
    (stale variants and triton/ included); another model's export needs --overwrite.
    """
    del onnx  # the only format: the flag is accepted, there is nothing to switch off
    if quantize not in (None, "int8"):
        fail(f"--quantize supports only int8, got {quantize!r}.")
    if triton_precision not in ("fp32", "fp16", "int8"):
        fail(f"--triton-precision must be fp32, fp16 or int8, got {triton_precision!r}.")
    if triton and triton_precision != "fp32" and not {"fp16": fp16, "int8": quantize}[
        triton_precision
    ]:
        fail(f"--triton-precision {triton_precision} needs that variant: add "
             f"{'--fp16' if triton_precision == 'fp16' else '--quantize int8'}.")

    from infovaegan_plugin.deploy.export import (
        ExportFolderError,
        ExportVerificationError,
        check_export_target,
        find_model_dir,
        max_opset,
        source_sha256,
        write_export,
    )
    from infovaegan_plugin.deploy.folders import staged_export_dir
    from infovaegan_plugin.deploy.triton import write_triton_repository
    from infovaegan_plugin.models import InfoVAEGAN, ModelLoadError

    if not MIN_OPSET <= opset <= max_opset("legacy"):
        fail(f"--opset must be {MIN_OPSET}..{max_opset('legacy')} (what the exporter writes), "
             f"got {opset}.")
    with user_errors(FileNotFoundError):
        folder = find_model_dir(model_dir)
    console.print(f"model: {escape(str(folder))}")
    with user_errors(ModelLoadError, FileNotFoundError):  # a broken model is the first error
        InfoVAEGAN.load_from_folder(str(folder))
    sha = source_sha256(folder)
    with user_errors(ExportFolderError):
        check_export_target(output_dir, sha, folder, overwrite)
    check_writable(output_dir, "--output-dir", folder=True)

    real, why_not = find_real_images(folder, calibration, data_dir, calibration_size)
    if real is None:
        console.print(
            f"[yellow]no real images:[/] {escape(str(why_not))}. Deviations are measured on "
            "images the fp32 generator samples from its prior, and int8 quantization of the "
            "encoder is dynamic (uncalibrated). Pass --calibration DATASET_OR_PATH for real "
            "images."
        )
    else:
        console.print(f"real images: {escape(real.source)} for measuring variants; "
                      f"{len(real.calibration)} for calibration and the parity check")

    written: list[Path] = []
    try:
        with staged_export_dir(output_dir, sha, folder, overwrite) as staging:
            result = write_export(
                folder, staging, opset=opset, fp16=fp16, quantize=quantize,
                dataset_name=recorded_dataset(folder),
                calibration_images=None if real is None else real.calibration,
            )
            encoder_dev: dict[str, dict[str, Any]] = {}
            if real is not None and result.variants:
                encoder_dev = held_out_deviation(result, real)
                _record_held_out(result.sidecar_path, encoder_dev)
            written = list(result.files)
            if triton:
                if triton_precision == "fp32":
                    pair = (result.encoder_path, result.generator_path)
                else:
                    chosen = result.variants[triton_precision]
                    pair = (chosen.encoder_path, chosen.generator_path)
                repo = write_triton_repository(*pair, staging / TRITON_DIR,
                                               max_batch_size=triton_max_batch_size)
                written += sorted(p for p in repo.rglob("*") if p.is_file())
    except ExportVerificationError as exc:
        fail(str(exc), code=3)
    except (ModelLoadError, ExportFolderError, FileNotFoundError, ValueError) as exc:
        fail(cli_text(str(exc)))
    except OSError as exc:
        fail(f"cannot write --output-dir {output_dir}: {exc.strerror or exc}.")
    result = result.relocated(staging, Path(output_dir))
    written = [Path(output_dir) / p.relative_to(staging) for p in written]

    checked = min(64, len(real.calibration)) if real is not None else 16
    fp32_images = (f"encoder on {checked} calibration images" if real is not None
                   else f"encoder on {checked} random images")
    fp32_images += f", generator on {checked} prior samples"
    console.print(files_table(written, Path(output_dir)))
    console.print(deviation_table(result, encoder_dev, fp32_images))
    console.print(f"metadata: {escape(str(result.sidecar_path))}")


def register(app: typer.Typer) -> None:
    app.command("export")(export)

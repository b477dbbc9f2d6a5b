"""``infovaegan export``: a saved model or a training run -> ONNX files (+ variants, Triton).

The library does the work (:func:`infovaegan_plugin.deploy.calibration.find_real_images`
finds real images and splits them into calibration and held-out parts;
:func:`infovaegan_plugin.deploy.bundle.export_bundle` exports, measures and writes the
folder); this command parses the options and prints what was written and how far each
variant is from fp32.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from infovaegan_plugin.cli.common import (
    at_least,
    check_writable,
    cli_text,
    console,
    fail,
    user_errors,
)
from infovaegan_plugin.cli.tables import deviation_table, files_table
from infovaegan_plugin.deploy.calibration import DEFAULT_CALIBRATION_SIZE
from infovaegan_plugin.deploy.metadata import MIN_OPSET


def _check_options(quantize: str | None, triton: bool, triton_precision: str, fp16: bool,
                   opset: int) -> None:
    from infovaegan_plugin.deploy.bundle import TRITON_PRECISIONS
    from infovaegan_plugin.deploy.export import max_opset

    if quantize not in (None, "int8"):
        fail(f"--quantize supports only int8, got {quantize!r}.")
    if triton_precision not in TRITON_PRECISIONS:
        fail(f"--triton-precision must be fp32, fp16 or int8, got {triton_precision!r}.")
    if triton and triton_precision != "fp32" and not {"fp16": fp16, "int8": quantize}[
        triton_precision
    ]:
        fail(f"--triton-precision {triton_precision} needs that variant: add "
             f"{'--fp16' if triton_precision == 'fp16' else '--quantize int8'}.")
    if not MIN_OPSET <= opset <= max_opset("legacy"):
        fail(f"--opset must be {MIN_OPSET}..{max_opset('legacy')} (what the exporter writes), "
             f"got {opset}.")


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
    _check_options(quantize, triton, triton_precision, fp16, opset)
    from infovaegan_plugin.deploy.bundle import export_bundle
    from infovaegan_plugin.deploy.calibration import CalibrationError, find_real_images
    from infovaegan_plugin.deploy.export import (
        ExportFolderError,
        ExportVerificationError,
        check_export_target,
        find_model_dir,
        source_sha256,
    )
    from infovaegan_plugin.models import InfoVAEGAN, ModelLoadError
    from infovaegan_plugin.saved_models import recorded_dataset

    with user_errors(FileNotFoundError):
        folder = find_model_dir(model_dir)
    console.print(f"model: {escape(str(folder))}")
    with user_errors(ModelLoadError, FileNotFoundError):  # a broken model is the first error
        InfoVAEGAN.load_from_folder(str(folder))
    with user_errors(ExportFolderError):
        check_export_target(output_dir, source_sha256(folder), folder, overwrite)
    check_writable(output_dir, "--output-dir", folder=True)
    try:
        real, why_not = find_real_images(folder, calibration, data_dir, calibration_size)
    except CalibrationError as exc:
        fail(f"--calibration {exc}" + (" (give it with --data-dir)" if exc.needs_data_dir
                                       else ""))
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
    try:
        result, written = export_bundle(
            folder, output_dir, opset=opset, fp16=fp16, quantize=quantize, real=real,
            dataset_name=recorded_dataset(folder), overwrite=overwrite,
            triton_precision=triton_precision if triton else None,
            triton_max_batch_size=triton_max_batch_size)
    except ExportVerificationError as exc:
        fail(str(exc), code=3)
    except (ModelLoadError, ExportFolderError, FileNotFoundError, ValueError) as exc:
        fail(cli_text(str(exc)))
    except OSError as exc:
        fail(f"cannot write --output-dir {output_dir}: {exc.strerror or exc}.")
    checked = min(64, len(real.calibration)) if real is not None else 16
    fp32_images = (f"encoder on {checked} calibration images" if real is not None
                   else f"encoder on {checked} random images")
    fp32_images += f", generator on {checked} prior samples"
    console.print(files_table(written, Path(output_dir)))
    console.print(deviation_table(result, result.held_out_deviation, fp32_images))
    console.print(f"metadata: {escape(str(result.sidecar_path))}")


def register(app: typer.Typer) -> None:
    app.command("export")(export)

"""``infovaegan encode``: images -> latent codes with an exported ``encoder.onnx``.

Runs on ONNX Runtime only (the PyTorch model is not needed). INPUT is a ``.npy``/``.npz``
array, an IDX file, a folder of images, or a data set name (``digits``, ``mnist`` with
``--data-dir``, ``dsprites``). Inputs are read with the library's loaders so every source
follows the same image convention; the encoder's metadata says which image size to resize
picture files to. Unreadable files are printed with the reason and counted.

The row order and the three output formats are described in
:mod:`infovaegan_plugin.deploy.codes_files`, which does the reading and writing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infovaegan_plugin.cli.common import (
    at_least,
    check_providers,
    check_writable,
    console,
    fail,
    user_errors,
)


def _encode_with_progress(encoder, images: np.ndarray, batch_size: int) -> dict:
    """Encode in batches, with a progress bar when there is more than one."""
    from infovaegan_plugin.deploy.codes_files import encode_in_batches

    if len(images) <= batch_size:
        return encode_in_batches(encoder, images, batch_size)
    columns = (TextColumn("[bold]encoding"), BarColumn(), MofNCompleteColumn(),
               TextColumn("images"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("encode", total=len(images))
        return encode_in_batches(encoder, images, batch_size,
                                 on_batch=lambda rows: progress.advance(task, rows))


def encode(
    encoder_onnx: Path = typer.Argument(..., help="encoder.onnx (or the export folder)."),
    input_path: str = typer.Argument(..., metavar="INPUT", help=".npy/.npz array, an IDX "
                                     "file, a folder of images, or a data set name."),
    output: Path = typer.Option(..., "--output", "-o", help="Codes file: .npy, .npz or .csv."),
    batch_size: int = typer.Option(256, callback=at_least(1),
                                   help="Images per ONNX Runtime call."),
    providers: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int | None = typer.Option(None, callback=at_least(0),
                                       help="ONNX Runtime intra-op threads (default: ORT's)."),
    key: str | None = typer.Option(None, help="Array to read from an .npz with several."),
    data_dir: Path | None = typer.Option(None, help="Folder of a named data set (MNIST)."),
    split: str = typer.Option("train", help="Split of a named data set: train, test or all."),
) -> None:
    """Encode images with an exported encoder; write the codes with their row order."""
    from infovaegan_plugin.deploy.codes_files import (
        CODE_SUFFIXES,
        read_encoder_input,
        write_codes,
    )

    if output.suffix.lower() not in CODE_SUFFIXES:
        fail(f"--output must end in .npy, .npz or .csv, got {str(output)!r}.")
    check_providers(providers)
    check_writable(output, "--output")
    from infovaegan_plugin.data import DataError
    from infovaegan_plugin.deploy.runtime import (
        InvalidInputError,
        InvalidModelError,
        OnnxEncoder,
        ProviderUnavailableError,
        prepare_images,
    )

    with user_errors(FileNotFoundError, InvalidModelError, ProviderUnavailableError):
        encoder = OnnxEncoder(encoder_onnx, providers=providers, batch_size=batch_size,
                              intra_op_num_threads=threads)
    with user_errors(DataError):
        data = read_encoder_input(input_path, encoder.input_shape, key, data_dir, split)
    for name, why in data.skipped:
        console.print(f"[yellow]skipped[/] {escape(name)}: {escape(why)}")
    if data.skipped:
        console.print(f"[yellow]{len(data.skipped)} file(s) skipped[/], "
                      f"{len(data.images)} readable image(s) to encode")
    try:  # check every image before the first batch runs
        images = prepare_images(data.images, encoder.input_shape, encoder.normalisation)
    except InvalidInputError as exc:
        fail(f"{input_path}: {exc}")
    codes = _encode_with_progress(encoder, images, batch_size)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        description = write_codes(output, data, codes, encoder.layout)
    except OSError as exc:
        fail(f"cannot write --output {output}: {exc.strerror or exc}.")
    console.print(f"encoded {len(images)} image(s) on {', '.join(encoder.providers)}")
    console.print(f"row order: {escape(data.row_order)}")
    console.print(f"wrote {escape(str(output))}: {escape(description)}")


def register(app: typer.Typer) -> None:
    app.command("encode")(encode)

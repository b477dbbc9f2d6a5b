"""``infovaegan encode``: images -> latent codes with an exported ``encoder.onnx``.

Runs on ONNX Runtime only (the PyTorch model is not needed). INPUT is a ``.npy``/``.npz``
array, an IDX file, a folder of images, or a data set name (``digits``, ``mnist`` with
``--data-dir``, ``dsprites``). Inputs are read and encoded batch by batch and the codes are
written as they come (:func:`infovaegan_plugin.deploy.codes_files.encode_file`), so memory
stays flat however large the input; the output appears, complete, only when every row is
encoded. Unreadable files of a folder are printed with the reason and counted.

The row order and the three output formats are described in
:mod:`infovaegan_plugin.deploy.codes_files`. ``--engine ray`` encodes on Ray Data instead
(:mod:`infovaegan_plugin.cli.encode_ray`).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from infovaegan_plugin.cli.common import (
    at_least,
    check_providers,
    check_writable,
    console,
    fail,
    user_errors,
)


class RateColumn(ProgressColumn):
    """Images per second of a progress bar's task."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} images/s", style="progress.data.speed")


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
    engine: str = typer.Option("local", help="local, or ray: Ray Data on a local Ray instance "
                               "or --address's cluster, writing a folder of Parquet files."),
    workers: int | None = typer.Option(None, callback=at_least(1), help="Ray: encoder "
                                       "actors (default: one per --threads CPUs)."),
    address: str | None = typer.Option(None, help="Ray: the cluster to join (auto, "
                                       "HOST:6379 or ray://HOST:10001); default: start one."),
    column: str | None = typer.Option(None, help="Ray, Parquet input: the column of "
                                      "encoded pictures or pixel arrays (default: image)."),
) -> None:
    """Encode images with an exported encoder; write the codes with their row order."""
    from infovaegan_plugin.cli.encode_ray import encode_on_ray, local_engine_checks
    from infovaegan_plugin.deploy.codes_files import CODE_SUFFIXES, encode_stream
    from infovaegan_plugin.deploy.image_stream import open_image_stream

    if engine == "ray":
        return encode_on_ray(encoder_onnx, input_path, output, batch_size, providers, threads,
                             workers, address, column, key, data_dir)
    local_engine_checks(engine, workers, address, column)
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
    )

    with user_errors(FileNotFoundError, InvalidModelError, ProviderUnavailableError):
        encoder = OnnxEncoder(encoder_onnx, providers=providers, batch_size=batch_size,
                              intra_op_num_threads=threads)
    with user_errors(DataError):
        stream = open_image_stream(input_path, encoder.input_shape, key, data_dir, split)
        columns = (TextColumn("[bold]encoding"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("files" if stream.names_rows else "images"), RateColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console, disable=stream.total <= batch_size,
                      transient=False) as progress:
            task = progress.add_task("encode", total=stream.total)
            try:
                result = encode_stream(encoder, stream, output, batch_size,
                                       on_progress=lambda done: progress.update(
                                           task, completed=done))
            except InvalidInputError as exc:
                fail(f"{input_path}: {exc}")
    for name, why in result.skipped:
        console.print(f"[yellow]skipped[/] {escape(name)}: {escape(why)}")
    if result.skipped:
        console.print(f"[yellow]{len(result.skipped)} file(s) skipped[/], "
                      f"{result.rows} readable image(s) encoded")
    console.print(f"encoded {result.rows} image(s) on {', '.join(encoder.providers)} "
                  f"({result.images_per_second:,.0f} images/s)")
    console.print(f"row order: {escape(result.row_order)}")
    console.print(f"wrote {escape(str(output))}: {escape(result.description)}")


def register(app: typer.Typer) -> None:
    app.command("encode")(encode)

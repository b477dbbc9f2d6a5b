"""``infovaegan encode --engine ray``: the same encoder on Ray Data, on a local Ray instance or
a cluster (``--address``), writing a folder of Parquet files
(:func:`infovaegan_plugin.deploy.ray_encode.encode_with_ray` does the work and describes the
output)."""

from __future__ import annotations

import os
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infovaegan_plugin.cli.common import (
    check_providers,
    check_writable,
    console,
    fail,
    user_errors,
)


def local_engine_checks(engine: str, workers: int | None, address: str | None,
                        column: str | None) -> None:
    """Options of the Ray engine given to the local one are refused, not ignored."""
    if engine != "local":
        fail(f"--engine must be local or ray, got {engine!r}.")
    given = [flag for flag, value in (("--workers", workers), ("--address", address),
                                      ("--column", column)) if value is not None]
    if given:
        fail(f"{', '.join(given)}: only with --engine ray.")


def encode_on_ray(encoder_onnx: Path, input_path: str, output: Path, batch_size: int,
                  providers: str, threads: int | None, workers: int | None,
                  address: str | None, column: str | None, key: str | None,
                  data_dir: Path | None) -> None:
    """Check the options, encode on Ray, print what was done."""
    if key is not None or data_dir is not None:
        fail("--key, --data-dir: only with --engine local (the Ray engine reads .npy files, "
             "folders of images and Parquet files).")
    if output.suffix.lower() not in ("", ".parquet"):
        fail("--engine ray writes a folder of Parquet files: --output must be a folder name "
             f"(no suffix, or .parquet), got {str(output)!r}.")
    check_providers(providers)
    check_writable(output, "--output", folder=True)
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # Ray's C++ retries, warnings
    from infovaegan_plugin.atomic import WriteError
    from infovaegan_plugin.data import DataError
    from infovaegan_plugin.deploy.ray_encode import RayEncodeError, encode_with_ray
    from infovaegan_plugin.deploy.runtime import (
        InvalidInputError,
        InvalidModelError,
        ProviderUnavailableError,
    )
    from infovaegan_plugin.writable import NotWritableError

    columns = (TextColumn("[bold]encoding on Ray"), BarColumn(), MofNCompleteColumn(),
               TextColumn("units"), TimeElapsedColumn())
    with user_errors(FileNotFoundError, InvalidModelError, ProviderUnavailableError, DataError,
                     InvalidInputError, NotWritableError, WriteError, RayEncodeError), \
            Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("encode", total=None)
        result = encode_with_ray(
            encoder_onnx, input_path, output, workers=workers, address=address,
            batch_size=batch_size, threads=threads or 1, providers=providers,
            column=column or "image", overwrite=True,
            on_progress=lambda done, units, rows: progress.update(task, completed=done,
                                                                  total=units))
    for name, why in result.skipped:
        console.print(f"[yellow]skipped[/] {escape(name)}: {escape(why)}")
    if result.skipped:
        console.print(f"[yellow]{len(result.skipped)} skipped[/], {result.rows} readable "
                      "image(s) encoded")
    console.print(f"encoded {result.rows} image(s) with {result.workers} Ray worker(s) "
                  f"({result.images_per_second:,.0f} images/s; {result.seconds:.1f} s in all, "
                  f"{result.startup_seconds:.1f} s of it starting Ray)")
    console.print(f"row order: {escape(result.row_order)}")
    ids = "row, file" if result.named_rows else "row"
    console.print(f"wrote {escape(str(output))}: {result.files} Parquet file(s), {result.rows} "
                  f"rows, id column(s) {ids}")

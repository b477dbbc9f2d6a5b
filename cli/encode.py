"""``infovaegan encode``: images -> latent codes with an exported ``encoder.onnx``.

Runs on ONNX Runtime only (the PyTorch model is not needed). INPUT is a ``.npy``/``.npz``
array, an IDX file, a folder of images, or a data set name (``digits``, ``mnist`` with
``--data-dir``, ``dsprites``). Inputs are read with the library's loaders so every source
follows the same image convention; the encoder's metadata says which image size to resize
picture files to.

Row order is part of the output, never implicit: row ``i`` of an array/IDX/data set input's
output is image ``i`` of the input; rows of an image folder follow the files sorted by their path
relative to the folder, skipped files have no row, and the ``file`` column / ``files`` array
names each row. Unreadable files are printed with the reason and counted.

Outputs:

- ``.npy``: the ``features`` matrix (N, F) = categorical_probs | continuous_mean | noise_mean.
- ``.npz``: every encoder output by name, ``row_ids`` (int64, index into the input's rows or
  its sorted readable files), ``files`` (image folders), ``row_order`` (the sentence above)
  and ``feature_columns`` (a name per ``features`` column).
- ``.csv``: a ``row`` (arrays) or ``file`` (folders) column, then ``categorical_<c>_argmax``
  per categorical code and every output except ``features`` (which repeats them) as
  ``<output>_<j>`` columns, e.g. ``categorical_probs_0``, ``continuous_mean_1``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infovaegan_plugin.cli.common import at_least, check_writable, console, fail, user_errors

OUTPUT_SUFFIXES = (".npy", ".npz", ".csv")
#: Output order of the csv columns; ``features`` is left out because it repeats them.
CSV_OUTPUTS = ("categorical_probs", "categorical_logits", "continuous_mean",
               "continuous_logvar", "noise_mean", "noise_logvar")
FEATURE_PARTS = ("categorical_probs", "continuous_mean", "noise_mean")


@dataclass(frozen=True)
class EncoderInput:
    """Images to encode, which row is which, and what was skipped (image folders)."""

    images: np.ndarray
    kind: str  # "array", "idx", "folder" or the data set and split
    files: list[str] | None = None
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def row_order(self) -> str:
        if self.files is None:
            return (f"row i is image i of the input (its {self.kind} order, "
                    f"{len(self.images)} rows)")
        return ("rows follow the image files sorted by path relative to the input folder; "
                f"{len(self.skipped)} skipped file(s) have no row; the 'file' column names "
                "each row")


def is_idx_file(path: Path) -> bool:
    """IDX files carry no standard suffix; MNIST's are named ``*-idx3-ubyte[.gz]``."""
    name = path.name.lower()
    return "idx" in name or name.endswith((".ubyte", ".ubyte.gz"))


def read_input(source: str, input_shape: tuple[int, int, int], key: str | None,
               data_dir: Path | None, split: str) -> EncoderInput:
    """Load INPUT as float32 (N, C, H, W) with the matching loader; errors name the problem.

    A data set name wins over a same-named path, as in ``load_dataset``: write ``./digits``
    for a folder called ``digits``.
    """
    from infovaegan_plugin.data import (
        DataError,
        available_datasets,
        load_array_file,
        load_dataset,
        load_image_folder,
        read_idx,
        validate_images,
    )

    with user_errors(DataError):
        if source in available_datasets():
            data = load_dataset(source, data_dir, split=split)
            return EncoderInput(data.images, f"{source} {split} split")
        path = Path(source)
        if not path.exists():
            raise DataError(f"{path}: no such file or directory, and not a data set name "
                            f"({', '.join(available_datasets())})")
        if path.is_dir():
            channels, height, width = input_shape
            if channels not in (1, 3):
                raise DataError(f"the encoder takes {channels}-channel images; image folders "
                                "give 1 (grey) or 3 (RGB) channels")
            data, files, skipped = load_image_folder(path, size=(height, width),
                                                     grayscale=channels == 1)
            rel = [p.relative_to(path).as_posix() for p in files]
            gone = tuple((p.relative_to(path).as_posix(), why) for p, why in skipped)
            return EncoderInput(data.images, "folder", rel, gone)
        if path.suffix.lower() in (".npy", ".npz"):
            return EncoderInput(load_array_file(path, key=key).images, "array")
        if is_idx_file(path):
            raw = read_idx(path)
            if raw.ndim == 1:
                raise DataError(f"{path}: holds 1-D labels, not images; pass the images file")
            return EncoderInput(validate_images(raw, name=str(path)), "idx")
        raise DataError(f"{path}: unsupported input {path.suffix or '(no suffix)'!r}; expected "
                        ".npy, .npz, an IDX file (*-idx3-ubyte[.gz]) or a folder of images")


def run_encoder(encoder: Any, images: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    """Encode in batches, with a progress bar when there is more than one."""
    n = len(images)
    if n <= batch_size:
        return encoder.encode(images)
    parts: list[dict[str, np.ndarray]] = []
    columns = (TextColumn("[bold]encoding"), BarColumn(), MofNCompleteColumn(),
               TextColumn("images"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("encode", total=n)
        for start in range(0, n, batch_size):
            parts.append(encoder.encode(images[start : start + batch_size]))
            progress.advance(task, len(parts[-1]["features"]))
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def categorical_sizes(encoder: Any) -> list[int]:
    from infovaegan_plugin.deploy import metadata as md

    layout = encoder.metadata.get(md.LATENT_LAYOUT) or []
    return [int(b["size"]) for b in layout if b["kind"] == "categorical"]


def feature_columns(codes: dict[str, np.ndarray]) -> list[str]:
    """A name per ``features`` column, e.g. ``categorical_probs_3`` or ``noise_mean_0``."""
    names = [f"{part}_{j}" for part in FEATURE_PARTS if part in codes
             for j in range(codes[part].shape[1])]
    if len(names) != codes["features"].shape[1]:  # a graph with another feature layout
        names = [f"features_{j}" for j in range(codes["features"].shape[1])]
    return names


def argmax_per_code(logits: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Class index of each categorical code, (N, n_codes)."""
    bounds = np.cumsum([0, *sizes])
    columns = [logits[:, a:b].argmax(axis=1) for a, b in zip(bounds[:-1], bounds[1:])]
    return np.stack(columns, axis=1) if columns else np.zeros((len(logits), 0), np.int64)


def write_csv(path: Path, data: EncoderInput, codes: dict[str, np.ndarray],
              sizes: list[int]) -> None:
    ids: list[Any] = data.files if data.files is not None else list(range(len(data.images)))
    outputs = [name for name in CSV_OUTPUTS if name in codes]
    argmax = argmax_per_code(codes["categorical_logits"], sizes)
    header = ["file" if data.files is not None else "row"]
    header += [f"categorical_{c}_argmax" for c in range(len(sizes))]
    header += [f"{name}_{j}" for name in outputs for j in range(codes[name].shape[1])]
    values = np.concatenate([codes[name] for name in outputs], axis=1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, row_id in enumerate(ids):
            # 9 significant digits round-trip float32 exactly.
            writer.writerow([row_id, *argmax[i].tolist(), *(f"{v:.9g}" for v in values[i])])


def write_output(path: Path, data: EncoderInput, codes: dict[str, np.ndarray],
                 sizes: list[int]) -> str:
    """Write the codes in the format the suffix names; returns a one-line description."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        np.save(path, codes["features"])
        return f"features matrix {codes['features'].shape}"
    if suffix == ".npz":
        extra: dict[str, np.ndarray] = {
            "row_ids": np.arange(len(data.images), dtype=np.int64),
            "row_order": np.array(data.row_order),
            "feature_columns": np.array(feature_columns(codes)),
        }
        if data.files is not None:
            extra["files"] = np.array(data.files)
        np.savez(path, **codes, **extra)
        return f"arrays {', '.join([*codes, *extra])}"
    write_csv(path, data, codes, sizes)
    return f"{len(data.images)} rows, id column {'file' if data.files else 'row'}"


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
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        fail(f"--output must end in .npy, .npz or .csv, got {str(output)!r}.")
    if providers.lower() not in ("auto", "cpu", "cuda"):
        fail(f"--providers must be auto, cpu or cuda, got {providers!r}.")
    check_writable(output, "--output")
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
    data = read_input(input_path, encoder.input_shape, key, data_dir, split)
    for name, why in data.skipped:
        console.print(f"[yellow]skipped[/] {escape(name)}: {escape(why)}")
    if data.skipped:
        console.print(f"[yellow]{len(data.skipped)} file(s) skipped[/], "
                      f"{len(data.images)} readable image(s) to encode")
    try:  # check every image before the first batch runs
        images = prepare_images(data.images, encoder.input_shape, encoder.normalisation)
    except InvalidInputError as exc:
        fail(f"{input_path}: {exc}")
    codes = run_encoder(encoder, images, batch_size)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        description = write_output(output, data, codes, categorical_sizes(encoder))
    except OSError as exc:
        fail(f"cannot write --output {output}: {exc.strerror or exc}.")
    console.print(f"encoded {len(images)} image(s) on {', '.join(encoder.providers)}")
    console.print(f"row order: {escape(data.row_order)}")
    console.print(f"wrote {escape(str(output))}: {escape(description)}")


def register(app: typer.Typer) -> None:
    app.command("encode")(encode)

"""Files in and out of the encoder: images to encode (with their row order) and codes written
as ``.npy``, ``.npz`` or ``.csv``.

Row order is part of the output, never implicit: row ``i`` of an array/IDX/data set input's
output is image ``i`` of the input; rows of an image folder follow the files sorted by their
path relative to the folder, skipped files have no row, and the ``file`` column / ``files``
array names each row.

Outputs:

- ``.npy``: the ``features`` matrix (N, F) = categorical_probs | continuous_mean | noise_mean.
- ``.npz``: every encoder output by name, ``row_ids`` (int64, index into the input's rows or
  its sorted readable files), ``files`` (image folders), ``row_order`` (the sentence above)
  and ``feature_columns`` (a name per ``features`` column).
- ``.csv``: a ``row`` (arrays) or ``file`` (folders) column, then ``categorical_<c>_argmax``
  per categorical code and every output except ``features`` (which repeats them) as
  ``<output>_<j>`` columns, e.g. ``categorical_probs_0``, ``continuous_mean_1``.

Reading named data sets and picture folders uses :mod:`infovaegan_plugin.data` (imported
when needed); writing needs numpy only.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infovaegan_plugin.layout import LatentLayout

__all__ = ["CODE_SUFFIXES", "EncoderInput", "encode_in_batches", "feature_columns",
           "is_idx_file", "read_encoder_input", "write_codes"]

CODE_SUFFIXES = (".npy", ".npz", ".csv")
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


def read_encoder_input(source: str, input_shape: tuple[int, int, int], key: str | None = None,
                       data_dir: Path | None = None, split: str = "train") -> EncoderInput:
    """Load ``source`` (an ``.npy``/``.npz`` array, an IDX file, a folder of images or a data
    set name) as float32 (N, C, H, W) with the matching loader; raises ``DataError`` naming
    the problem. A data set name wins over a same-named path, as in ``load_dataset``: write
    ``./digits`` for a folder called ``digits``. Picture files are resized to ``input_shape``.
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


def encode_in_batches(encoder: Any, images: np.ndarray, batch_size: int,
                      on_batch: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """``encoder.encode`` over ``batch_size`` rows at a time (``on_batch(rows)`` after each,
    e.g. a progress bar), outputs concatenated."""
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, max(len(images), 1), batch_size):
        parts.append(encoder.encode(images[start : start + batch_size]))
        if on_batch is not None:
            on_batch(len(parts[-1]["features"]))
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def feature_columns(codes: dict[str, np.ndarray]) -> list[str]:
    """A name per ``features`` column, e.g. ``categorical_probs_3`` or ``noise_mean_0``."""
    names = [f"{part}_{j}" for part in FEATURE_PARTS if part in codes
             for j in range(codes[part].shape[1])]
    if len(names) != codes["features"].shape[1]:  # a graph with another feature layout
        names = [f"features_{j}" for j in range(codes["features"].shape[1])]
    return names


def _write_csv(path: Path, data: EncoderInput, codes: dict[str, np.ndarray],
               layout: LatentLayout) -> None:
    ids: list[Any] = data.files if data.files is not None else list(range(len(data.images)))
    outputs = [name for name in CSV_OUTPUTS if name in codes]
    argmax = layout.argmax(codes["categorical_logits"])
    header = ["file" if data.files is not None else "row"]
    header += [f"categorical_{c}_argmax" for c in range(layout.n_codes)]
    header += [f"{name}_{j}" for name in outputs for j in range(codes[name].shape[1])]
    values = np.concatenate([codes[name] for name in outputs], axis=1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, row_id in enumerate(ids):
            # 9 significant digits round-trip float32 exactly.
            writer.writerow([row_id, *argmax[i].tolist(), *(f"{v:.9g}" for v in values[i])])


def write_codes(path: Path, data: EncoderInput, codes: dict[str, np.ndarray],
                layout: LatentLayout) -> str:
    """Write the codes in the format ``path``'s suffix names (:data:`CODE_SUFFIXES`); returns
    a one-line description of what was written."""
    suffix = path.suffix.lower()
    if suffix not in CODE_SUFFIXES:
        raise ValueError(f"codes are written as .npy, .npz or .csv, got {str(path)!r}.")
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
    _write_csv(path, data, codes, layout)
    return f"{len(data.images)} rows, id column {'file' if data.files else 'row'}"

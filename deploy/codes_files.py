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

Codes are written batch by batch as they are computed (:class:`CodesWriter`): ``.csv`` rows
are appended, ``.npy``/``.npz`` arrays go to raw part files and are assembled when the row
count is known, so memory stays flat however many images are encoded. The file is written
under a temporary name and renamed when complete (:func:`~infovaegan_plugin.atomic.atomic_file`):
a failed run or write leaves an earlier output intact. Inputs are read by
:mod:`~infovaegan_plugin.deploy.image_stream`; :func:`encode_file` joins the two.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
import zipfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from infovaegan_plugin.atomic import atomic_file, write_errors
from infovaegan_plugin.deploy.image_stream import ImageStream, open_image_stream
from infovaegan_plugin.layout import LatentLayout

__all__ = ["CODE_SUFFIXES", "CodesWriter", "EncodeResult", "code_columns", "codes_writer",
           "encode_file", "encode_stream", "feature_columns"]

CODE_SUFFIXES = (".npy", ".npz", ".csv")
#: Output order of the csv columns; ``features`` is left out because it repeats them.
CSV_OUTPUTS = ("categorical_probs", "categorical_logits", "continuous_mean",
               "continuous_logvar", "noise_mean", "noise_logvar")
FEATURE_PARTS = ("categorical_probs", "continuous_mean", "noise_mean")
_COPY_CHUNK = 1 << 20  # bytes per copy step when parts are assembled


def feature_columns(widths: Mapping[str, int]) -> list[str]:
    """A name per ``features`` column, e.g. ``categorical_probs_3`` or ``noise_mean_0``,
    from the width of each encoder output."""
    names = [f"{part}_{j}" for part in FEATURE_PARTS if part in widths
             for j in range(widths[part])]
    if len(names) != widths["features"]:  # a graph with another feature layout
        names = [f"features_{j}" for j in range(widths["features"])]
    return names


def code_columns(codes: Mapping[str, np.ndarray], layout: LatentLayout
                 ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The columns of a codes table after its row id, as the ``.csv`` (and the Parquet of
    :mod:`~infovaegan_plugin.deploy.ray_encode`) names them: ``categorical_<c>_argmax`` per
    categorical code, then ``<output>_<j>`` for each output of :data:`CSV_OUTPUTS` the encoder
    has. Returns ``(names, argmax int64 (N, n_codes), values float32 (N, F))`` in that order."""
    outputs = [name for name in CSV_OUTPUTS if name in codes]
    names = [f"categorical_{c}_argmax" for c in range(layout.n_codes)]
    names += [f"{name}_{j}" for name in outputs for j in range(codes[name].shape[1])]
    values = np.concatenate([codes[name] for name in outputs], axis=1)
    return names, layout.argmax(codes["categorical_logits"]), values


def check_codes_path(path: Path) -> None:
    if Path(path).suffix.lower() not in CODE_SUFFIXES:
        raise ValueError(f"codes are written as .npy, .npz or .csv, got {str(path)!r}.")


class CodesWriter:
    """Codes added batch by batch (:meth:`add`), then assembled into the file ``into``
    (:meth:`finish`); made by :func:`codes_writer`, which owns ``into`` (a temporary name) and
    the folder of part files."""

    def __init__(self, into: Path, parts: Path, layout: LatentLayout,
                 named_rows: bool) -> None:
        self.into, self.parts, self.layout = into, parts, layout
        self.suffix = Path(into).suffix.lower()
        self.named_rows = named_rows
        self.rows = 0
        self.widths: dict[str, int] = {}  # output name -> columns, in the encoder's order
        self._handles: dict[str, IO[bytes]] = {}
        self._csv: Any = None
        self._name_chars = 0
        self.finished = False

    def _part(self, name: str) -> IO[bytes]:
        if name not in self._handles:
            self._handles[name] = open(self.parts / name, "wb")
        return self._handles[name]

    def add(self, codes: dict[str, np.ndarray], names: list[str] | None = None) -> None:
        """Append the rows of one batch (``names``: the files of a folder's rows)."""
        if not self.widths:
            self.widths = {name: int(value.shape[1]) for name, value in codes.items()}
        if self.suffix == ".csv":
            self._add_csv(codes, names)
        else:
            kept = ["features"] if self.suffix == ".npy" else list(self.widths)
            for name in kept:
                self._part(name).write(np.ascontiguousarray(codes[name], "<f4").tobytes())
            if names is not None and self.suffix == ".npz":
                self._name_chars = max([self._name_chars, *map(len, names)])
                self._part("files").write("\0".join(names).encode("utf-8") + b"\0")
        self.rows += len(codes["features"])

    def _add_csv(self, codes: dict[str, np.ndarray], names: list[str] | None) -> None:
        columns, argmax, values = code_columns(codes, self.layout)
        if self._csv is None:
            handle = self._handles["csv"] = open(self.parts / "codes.csv", "w", newline="",
                                                 encoding="utf-8")
            self._csv = csv.writer(handle)
            self._csv.writerow(["file" if self.named_rows else "row", *columns])
        ids = names if names is not None else range(self.rows, self.rows + len(values))
        for i, row_id in enumerate(ids):
            # 9 significant digits round-trip float32 exactly.
            self._csv.writerow([row_id, *argmax[i].tolist(),
                                *(f"{v:.9g}" for v in values[i])])

    def close_parts(self) -> None:
        for handle in self._handles.values():
            handle.close()

    def finish(self, row_order: str) -> str:
        """Assemble the file (``row_order`` is stored in an ``.npz``); returns a one-line
        description of what it holds."""
        into = self.into
        self.close_parts()
        self.finished = True
        if self.suffix == ".csv":
            if self._csv is None:
                raise ValueError("no rows were encoded")
            shutil.move(self.parts / "codes.csv", into)
            return f"{self.rows} rows, id column {'file' if self.named_rows else 'row'}"
        if self.suffix == ".npy":
            with open(into, "wb") as out:
                self._copy_array(out, "features")
            return f"features matrix {(self.rows, self.widths['features'])}"
        with zipfile.ZipFile(into, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name in self.widths:
                with archive.open(f"{name}.npy", "w", force_zip64=True) as out:
                    self._copy_array(out, name)
            extras = {"row_ids": np.arange(self.rows, dtype=np.int64),
                      "row_order": np.array(row_order),
                      "feature_columns": np.array(feature_columns(self.widths))}
            for name, value in extras.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, value, allow_pickle=False)
            if self.named_rows:
                with archive.open("files.npy", "w", force_zip64=True) as out:
                    self._copy_names(out)
        names = [*self.widths, *extras, *(["files"] if self.named_rows else [])]
        return f"arrays {', '.join(names)}"

    def _copy_array(self, out: IO[bytes], name: str) -> None:
        header = {"descr": "<f4", "fortran_order": False,
                  "shape": (self.rows, self.widths[name])}
        np.lib.format.write_array_header_2_0(out, header)
        with open(self.parts / name, "rb") as raw:
            shutil.copyfileobj(raw, out, _COPY_CHUNK)

    def _copy_names(self, out: IO[bytes]) -> None:
        dtype = np.dtype(f"<U{max(self._name_chars, 1)}")
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                  "shape": (self.rows,)}
        np.lib.format.write_array_header_2_0(out, header)
        rest = b""
        with open(self.parts / "files", "rb") as raw:
            for chunk in iter(lambda: raw.read(_COPY_CHUNK), b""):
                *done, rest = (rest + chunk).split(b"\0")
                out.write(np.array([n.decode("utf-8") for n in done], dtype=dtype).tobytes())


@contextlib.contextmanager
def codes_writer(path: str | Path, layout: LatentLayout,
                 named_rows: bool = False) -> Iterator[CodesWriter]:
    """A :class:`CodesWriter` for ``path`` (.npy, .npz or .csv). Call ``writer.finish`` inside
    the block; the file then replaces ``path`` in one rename. Part files live in a hidden
    folder next to ``path`` (same disk) and are removed in every case; write failures are
    :class:`~infovaegan_plugin.atomic.WriteError` naming ``path``."""
    path = Path(path)
    check_codes_path(path)
    with write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".parts",
                                      dir=path.parent))
    writer: CodesWriter | None = None
    try:
        with atomic_file(path) as tmp:
            writer = CodesWriter(tmp, parts, layout, named_rows)
            yield writer
            if not writer.finished:
                raise RuntimeError("codes_writer: finish() was not called; nothing written")
    finally:
        if writer is not None:
            writer.close_parts()
        shutil.rmtree(parts, ignore_errors=True)


@dataclass(frozen=True)
class EncodeResult:
    """What :func:`encode_file` / :func:`encode_stream` did."""

    path: Path
    rows: int
    row_order: str
    description: str  # what the file holds, one line
    skipped: tuple[tuple[str, str], ...]  # (file, reason) of folder files with no row
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


def encode_stream(encoder: Any, stream: ImageStream, output: str | Path,
                  batch_size: int | None = None,
                  on_progress: Callable[[int], None] | None = None) -> EncodeResult:
    """Encode ``stream`` batch by batch with ``encoder`` (an ``OnnxEncoder``) and write the
    codes to ``output`` as they come; ``on_progress(done)`` after each batch (rows, or files
    of a folder, read so far). Memory holds one batch of images and codes at a time."""
    started = time.perf_counter()
    with codes_writer(output, encoder.layout, stream.names_rows) as writer:
        for batch in stream.batches(batch_size or encoder.batch_size):
            writer.add(encoder.encode(batch.images), batch.names)
            if on_progress is not None:
                on_progress(stream.consumed)
        description = writer.finish(stream.row_order)
    return EncodeResult(Path(output), stream.rows, stream.row_order, description,
                        tuple(stream.skipped), time.perf_counter() - started)


def encode_file(encoder: Any, source: str | Path | Any, output: str | Path,
                key: str | None = None, data_dir: Path | None = None, split: str = "train",
                batch_size: int | None = None,
                on_progress: Callable[[int], None] | None = None) -> EncodeResult:
    """Encode ``source`` (an array or ``np.memmap``, an ``.npy``/``.npz`` file, an IDX file, a
    folder of images or a data set name; see
    :func:`~infovaegan_plugin.deploy.image_stream.open_image_stream`) into the codes file
    ``output`` (.npy, .npz or .csv), in constant memory."""
    stream = open_image_stream(source, encoder.input_shape, key, data_dir, split)
    return encode_stream(encoder, stream, output, batch_size, on_progress)

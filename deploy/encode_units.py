"""Work units of a distributed encode: planned by the driver from the input's metadata alone,
read by each worker from storage it can see, encoded and written as one Parquet file.

Ray itself is not imported here (:mod:`~infovaegan_plugin.deploy.ray_encode` drives Ray), so
planning, reading and encoding a unit run, and are tested, in one process too.

- :func:`plan_input` looks at the input once: the header of an ``.npy`` (shape, dtype), the
  sorted file list of an image folder (the local ``encode``'s order, by
  :class:`~infovaegan_plugin.deploy.image_stream.FolderStream`), the footers of Parquet files
  (row groups). No image is read. :meth:`InputPlan.units` cuts it into units: row ranges of
  the array, slices of the file list, runs of consecutive row groups of one Parquet file.
- :func:`read_unit` reads one unit's rows with the local ``encode``'s rules: array rows as
  :class:`~infovaegan_plugin.deploy.image_stream.RowFileStream` reads them (plain reads at the
  row's offset, converted by ``validate_images``), pictures (folder files, encoded images in
  a Parquet column) by :func:`~infovaegan_plugin.deploy.image_stream.read_picture`, which skips
  unreadable ones with the reason; pixel arrays in a Parquet column by ``validate_images``.
- :class:`UnitEncoder` (one per Ray actor) encodes units with one ``OnnxEncoder`` and writes
  each as ``part-<unit>.parquet``: a ``row`` column, ``file`` for folders, then the codes
  named as the local ``encode``'s ``.csv`` names them
  (:func:`~infovaegan_plugin.deploy.codes_files.code_columns`).

Row ids (the ``row`` column) are positions in the input, fixed before anything is read: the
array index for an ``.npy``; the position in the folder's sorted file list; the ordinal row
over the Parquet files sorted by path. A skipped picture leaves its id unused, so ids do not
depend on which files could be read, and sorting by ``row`` gives the local ``encode``'s
order. Part files are numbered in row order and each holds increasing rows.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infovaegan_plugin.deploy.image_stream import ArrayStream, RowFileStream, read_picture

__all__ = ["DEFAULT_COLUMN", "InputPlan", "UnitBatch", "UnitEncoder", "plan_input",
           "read_unit"]

#: The Parquet column read by default: Ray Data's and Hugging Face's name for pictures.
DEFAULT_COLUMN = "image"
PARQUET_SUFFIX = ".parquet"
#: Stored in every part file's schema metadata: what the ``row`` column means.
ROW_ORDER_KEY = b"infovaegan.row_order"


@dataclass(frozen=True)
class ParquetFilePlan:
    """One Parquet input file: its path relative to the input, rows per row group."""

    name: str
    row_groups: tuple[int, ...]


@dataclass(frozen=True)
class InputPlan:
    """An input, described from its metadata: ``kind`` is ``array``, ``folder`` or
    ``parquet``; ``total`` its rows (for a folder: files, some may be skipped)."""

    kind: str
    source: str  # absolute path
    total: int
    files: tuple[str, ...] = ()  # folder: paths relative to ``source``, sorted
    parquet: tuple[ParquetFilePlan, ...] = ()
    column: str = DEFAULT_COLUMN
    picture_column: bool = True  # Parquet: encoded pictures (else pixel arrays)

    @property
    def named_rows(self) -> bool:
        return self.kind == "folder"

    @property
    def row_order(self) -> str:
        """What the ``row`` column means, stored with the codes."""
        if self.kind == "array":
            return "row is the image's index in the input array"
        if self.kind == "folder":
            return ("row is the file's position among the folder's files sorted by path "
                    "relative to it (the 'file' column); skipped files have no row")
        return (f"row is the ordinal row of column {self.column!r} over the Parquet files "
                "sorted by path; skipped rows have no row")

    def units(self, rows_per_unit: int) -> list[dict[str, Any]]:
        """The input cut into work units (JSON-able dicts) of about ``rows_per_unit`` rows;
        unit ``i`` is written as the ``i``-th part file."""
        rows_per_unit = max(1, int(rows_per_unit))
        if self.kind == "array":
            specs = [{"start": s, "stop": min(s + rows_per_unit, self.total)}
                     for s in range(0, self.total, rows_per_unit)]
        elif self.kind == "folder":
            specs = [{"start": s, "files": list(self.files[s : s + rows_per_unit])}
                     for s in range(0, self.total, rows_per_unit)]
        else:
            specs = self._parquet_units(rows_per_unit)
        width = max(6, len(str(len(specs) - 1)))
        return [{"unit": i, "part": f"part-{i:0{width}d}{PARQUET_SUFFIX}", "kind": self.kind,
                 "source": self.source, "column": self.column,
                 "pictures": self.picture_column, **spec}
                for i, spec in enumerate(specs)]

    def _parquet_units(self, rows_per_unit: int) -> list[dict[str, Any]]:
        specs: list[dict[str, Any]] = []
        row = 0
        for file in self.parquet:
            in_file = 0
            groups: list[int] = []
            count = 0
            for index, size in enumerate(file.row_groups):
                groups.append(index)
                count += size
                if count >= rows_per_unit or index == len(file.row_groups) - 1:
                    specs.append({"file": file.name, "row_groups": groups, "start": row,
                                  "first_in_file": in_file})
                    row, in_file, groups, count = row + count, in_file + count, [], 0
        return specs


def default_rows_per_unit(total: int, workers: int, batch_size: int) -> int:
    """About four units per worker (to balance), at least one batch and at most 64."""
    per_worker = math.ceil(max(total, 1) / (4 * max(workers, 1)))
    batches = min(64, max(1, math.ceil(per_worker / batch_size)))
    return batches * batch_size


# --------------------------------------------------------------------------- planning


def plan_input(source: str | Path, input_shape: tuple[int, int, int],
               column: str = DEFAULT_COLUMN) -> InputPlan:
    """Describe ``source`` (an ``.npy``, a folder of images, a Parquet file or a folder of
    Parquet files) without reading its images; raises ``DataError`` naming the problem."""
    from infovaegan_plugin.data import DataError
    from infovaegan_plugin.inputs import batch_shape

    path = Path(source).absolute()
    if not path.exists():
        from infovaegan_plugin.data import available_datasets

        if str(source) in available_datasets():
            raise DataError(f"{source}: data set names are read by the local engine only; "
                            "save the images as .npy for the Ray engine")
        raise DataError(f"{source}: no such file or directory")
    if path.is_dir():
        parquet = _parquet_files(path)
        if parquet:
            return _plan_parquet(path, parquet, input_shape, column)
        from infovaegan_plugin.deploy.image_stream import FolderStream

        stream = FolderStream(path, input_shape)  # the local encode's listing and checks
        if not stream.files:
            raise DataError(f"{source}: no files to encode (empty folder)")
        return InputPlan("folder", str(path), len(stream.files),
                         files=tuple(p.relative_to(path).as_posix() for p in stream.files))
    suffix = path.suffix.lower()
    if suffix == PARQUET_SUFFIX:
        return _plan_parquet(path, [path], input_shape, column)
    if suffix != ".npy":
        raise DataError(f"{source}: the Ray engine reads an .npy array, a folder of images or "
                        f"Parquet files, not {path.suffix or 'a file without suffix'!r}; "
                        "encode it with the local engine or save it as .npy")
    mapped = _open_npy(path)
    if mapped.dtype.hasobject:
        raise DataError(f"{path}: holds Python objects (pickled), which are never loaded; "
                        "save the images as a numeric array")
    from infovaegan_plugin.data import validate_images

    if mapped.ndim not in (3, 4) or len(mapped) == 0:  # the loaders' message, reading nothing
        validate_images(np.broadcast_to(np.zeros((), mapped.dtype), mapped.shape),
                        name=str(path))
    batch_shape((len(mapped), *validate_shape(mapped.shape)), input_shape)
    return InputPlan("array", str(path), len(mapped))


def validate_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The (C, H, W) an array of ``shape`` is read as (channels-last moved first), as the
    loaders' ``validate_images`` reads it, from a zero-byte stand-in."""
    from infovaegan_plugin.data import validate_images

    sample = np.broadcast_to(np.zeros((), np.uint8), (1, *shape[1:]))
    return tuple(validate_images(sample).shape[1:])


def _open_npy(path: Path) -> np.ndarray:
    from infovaegan_plugin.data import DataError

    try:  # parses the header only
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: corrupt or unreadable array file ({exc})") from exc


def _parquet_files(folder: Path) -> list[Path]:
    """The Parquet files under ``folder`` (names starting with ``.`` or ``_`` are left out,
    as Parquet readers do), sorted by path relative to it; none when pictures sit there."""
    from infovaegan_plugin.data.images import IMAGE_SUFFIXES, image_files

    files = [p for p in image_files(folder)
             if not any(part.startswith("_") for part in p.relative_to(folder).parts)]
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in files):
        return []
    return [p for p in files if p.suffix.lower() == PARQUET_SUFFIX]


def _plan_parquet(root: Path, files: list[Path], input_shape: tuple[int, int, int],
                  column: str) -> InputPlan:
    import pyarrow.parquet as pq

    from infovaegan_plugin.data import DataError

    plans: list[ParquetFilePlan] = []
    pictures = True
    for index, path in enumerate(files):
        name = path.name if path == root else path.relative_to(root).as_posix()
        try:
            meta = pq.ParquetFile(path).metadata
            schema = meta.schema.to_arrow_schema()
        except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
            raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
        if column not in schema.names:
            raise DataError(f"{path}: no column {column!r} (columns: "
                            f"{', '.join(schema.names)}); pass column=NAME")
        kind = _column_kind(schema.field(column).type)
        if kind is None:
            raise DataError(f"{path}: column {column!r} holds {schema.field(column).type}, "
                            "neither encoded pictures (binary, PNG/JPEG/...) nor pixel arrays "
                            "(lists or tensors)")
        if index == 0:
            pictures = kind == "pictures"
        elif pictures != (kind == "pictures"):
            raise DataError(f"{path}: column {column!r} holds {schema.field(column).type}, "
                            "unlike the first file's")
        plans.append(ParquetFilePlan(name, tuple(meta.row_group(g).num_rows
                                                 for g in range(meta.num_row_groups))))
    total = sum(sum(p.row_groups) for p in plans)
    if total == 0:
        raise DataError(f"{root}: no rows to encode (the Parquet files are empty)")
    channels = input_shape[0]
    if pictures and channels not in (1, 3):
        raise DataError(f"the encoder takes {channels}-channel images; pictures give 1 (grey) "
                        "or 3 (RGB) channels")
    return InputPlan("parquet", str(root), total, parquet=tuple(plans), column=column,
                     picture_column=pictures)


def _column_kind(arrow_type: Any) -> str | None:
    """``pictures`` (binary, or a struct with a binary ``bytes`` field as Hugging Face
    stores images), ``pixels`` (nested lists or a tensor extension type) or ``None``."""
    import pyarrow as pa

    t = pa.types
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type):
        return "pictures"
    if t.is_struct(arrow_type):
        index = arrow_type.get_field_index("bytes")
        if index >= 0 and _column_kind(arrow_type.field(index).type) == "pictures":
            return "pictures"
        return None
    if isinstance(arrow_type, pa.ExtensionType) or _is_list(arrow_type):
        return "pixels"
    return None


def _is_list(arrow_type: Any) -> bool:
    import pyarrow as pa

    t = pa.types
    return t.is_list(arrow_type) or t.is_large_list(arrow_type) or t.is_fixed_size_list(
        arrow_type)


# --------------------------------------------------------------------------- reading


@dataclass
class UnitBatch:
    """Images of consecutive readable rows of a unit, their row ids, and for folders the
    file of each row."""

    images: np.ndarray
    rows: np.ndarray
    names: list[str] | None = None


@dataclass
class UnitRead:
    """Reads one unit (:meth:`batches`); ``skipped`` lists ``(name, reason)`` after."""

    spec: dict[str, Any]
    input_shape: tuple[int, int, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def batches(self, batch_size: int) -> Iterator[UnitBatch]:
        kind = self.spec["kind"]
        if kind == "array":
            return self._array(batch_size)
        if kind == "folder":
            return self._folder(batch_size)
        return self._parquet(batch_size)

    def _array(self, batch_size: int) -> Iterator[UnitBatch]:
        path, start, stop = Path(self.spec["source"]), self.spec["start"], self.spec["stop"]
        mapped = _open_npy(path)
        if mapped.flags.c_contiguous:  # plain reads at the rows' offset, as RowFileStream
            row_bytes = int(np.prod(mapped.shape[1:], dtype=np.int64)) * mapped.itemsize
            offset = mapped.offset + start * row_bytes

            def opener():
                handle = open(path, "rb")
                handle.seek(offset)
                return handle

            stream = RowFileStream(opener, mapped.dtype, (stop - start, *mapped.shape[1:]),
                                   "array", str(path), self.input_shape)
        else:  # Fortran order: rows are not contiguous in the file
            stream = ArrayStream(mapped[start:stop], "array", str(path), self.input_shape)
        del mapped
        done = start
        for batch in stream.batches(batch_size):
            rows = np.arange(done, done + len(batch.images), dtype=np.int64)
            done += len(rows)
            yield UnitBatch(batch.images, rows)

    def _folder(self, batch_size: int) -> Iterator[UnitBatch]:
        root = Path(self.spec["source"])
        files = self.spec["files"]
        pictures, rows, names = [], [], []
        for index, name in enumerate(files, start=self.spec["start"]):
            picture, reason = read_picture(root / name, self.input_shape)
            if picture is None:
                self.skipped.append((name, reason))
                continue
            pictures.append(picture)
            rows.append(index)
            names.append(name)
            if len(pictures) == batch_size:
                yield self._pictures(pictures, rows, names)
                pictures, rows, names = [], [], []
        if pictures:
            yield self._pictures(pictures, rows, names)

    def _pictures(self, pictures: list[np.ndarray], rows: list[int],
                  names: list[str] | None) -> UnitBatch:
        from infovaegan_plugin.data import validate_images

        images = validate_images(np.stack(pictures), name=self.spec["source"])
        return UnitBatch(images, np.asarray(rows, dtype=np.int64), names)

    def _parquet(self, batch_size: int) -> Iterator[UnitBatch]:
        import pyarrow.parquet as pq

        from infovaegan_plugin.data import DataError

        name, column = self.spec["file"], self.spec["column"]
        root = Path(self.spec["source"])
        path = root if root.is_file() else root / name
        try:
            table = pq.ParquetFile(path).read_row_groups(self.spec["row_groups"],
                                                         columns=[column])
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: unreadable Parquet row groups ({exc})") from exc
        values = table.column(column).combine_chunks()
        first, in_file = self.spec["start"], self.spec["first_in_file"]
        for offset in range(0, len(values), batch_size):
            chunk = values.slice(offset, batch_size)
            rows = first + offset + np.arange(len(chunk), dtype=np.int64)
            if self.spec["pictures"]:
                batch = self._picture_cells(chunk, rows, name, in_file + offset)
            else:
                where = f"{path} rows {in_file + offset}..{in_file + offset + len(chunk) - 1}"
                batch = self._pixel_cells(chunk, rows, name, in_file + offset, where)
            if batch is not None:
                yield batch

    def _picture_cells(self, chunk: Any, rows: np.ndarray, name: str,
                       first_in_file: int) -> UnitBatch | None:
        pictures, kept = [], []
        for i, cell in enumerate(chunk.to_pylist()):
            if isinstance(cell, dict):  # {"bytes": ..., "path": ...} (Hugging Face)
                cell = cell.get("bytes")
            if cell is None:
                picture, reason = None, "no image (null)"
            else:
                buffer = io.BytesIO(cell)
                picture, reason = read_picture(buffer, self.input_shape)
                reason = reason.replace(repr(buffer), "(the cell's bytes)")  # Pillow's text
            if picture is None:
                self.skipped.append((f"{name} row {first_in_file + i}", reason))
                continue
            pictures.append(picture)
            kept.append(rows[i])
        return self._pictures(pictures, kept, None) if pictures else None

    def _pixel_cells(self, chunk: Any, rows: np.ndarray, name: str, first_in_file: int,
                     where: str) -> UnitBatch | None:
        from infovaegan_plugin.data import validate_images

        valid = np.asarray(chunk.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        for i in np.flatnonzero(~valid):
            self.skipped.append((f"{name} row {first_in_file + int(i)}", "no image (null)"))
        if not valid.any():
            return None
        if not valid.all():
            import pyarrow as pa

            chunk = chunk.filter(pa.array(valid))
        pixels = _pixel_array(chunk, f"{where}, column {self.spec['column']!r}")
        images = validate_images(pixels, name=where)
        return UnitBatch(images, rows[valid])


def _pixel_array(values: Any, where: str) -> np.ndarray:
    """Rows of nested lists (or of a tensor extension type such as Ray's) as one array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from infovaegan_plugin.data import DataError

    if isinstance(values.type, pa.ExtensionType):
        array = values.to_numpy(zero_copy_only=False)
        return np.stack(list(array)) if array.dtype == object else np.asarray(array)
    shape = [len(values)]
    while _is_list(values.type):
        lengths = pc.list_value_length(values)
        low, high = pc.min_max(lengths).values()
        if lengths.null_count or low.as_py() != high.as_py():
            raise DataError(f"{where}: pixel arrays of different sizes or with missing parts; "
                            "every image must have the same shape")
        shape.append(int(low.as_py() or 0))
        values = values.flatten()
    if values.null_count:
        raise DataError(f"{where}: {values.null_count} missing pixel value(s)")
    return values.to_numpy(zero_copy_only=False).reshape(shape)


def read_unit(spec: dict[str, Any], input_shape: tuple[int, int, int]) -> UnitRead:
    """A reader of the unit ``spec`` (from :meth:`InputPlan.units`)."""
    return UnitRead(spec, tuple(int(d) for d in input_shape))


# --------------------------------------------------------------------------- encoding


#: Worker errors sent back as data (their type is lost when Ray re-raises them).
ERROR_KINDS = ("data", "input", "write")


class UnitEncoder:
    """Encodes units with one ``OnnxEncoder`` and writes each as a Parquet part file in
    ``parts``: Ray Data's callable class (one per actor). Called with a batch of units
    (``{"spec": [json, ...]}``), it returns one summary row per unit: ``unit``, ``rows``,
    ``skipped`` (JSON list of ``[name, reason]``) and ``error`` (``"kind: message"`` for a
    data, input or write error, ``""`` otherwise)."""

    def __init__(self, encoder_path: str, parts: str, batch_size: int = 256,
                 threads: int | None = 1, providers: str = "auto") -> None:
        from infovaegan_plugin.deploy.encoder_runtime import OnnxEncoder

        self.encoder = OnnxEncoder(encoder_path, providers=providers, batch_size=batch_size,
                                   intra_op_num_threads=threads)
        self.parts, self.batch_size = Path(parts), int(batch_size)

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        summaries = [self.encode_unit(json.loads(str(spec))) for spec in batch["spec"]]
        return {key: np.asarray([s[key] for s in summaries],
                                dtype=np.int64 if key in ("unit", "rows") else object)
                for key in ("unit", "rows", "skipped", "error")}

    def encode_unit(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Read, encode and write one unit; the summary row (see the class)."""
        from infovaegan_plugin.data import DataError
        from infovaegan_plugin.inputs import InvalidInputError

        reader = read_unit(spec, self.encoder.input_shape)
        rows, error = 0, ""
        try:
            tables = [self._table(batch) for batch in reader.batches(self.batch_size)]
            rows = sum(t.num_rows for t in tables)
            if tables:
                self._write(spec, tables)
        except InvalidInputError as exc:
            error = f"input: {spec['source']}: {exc}"
        except DataError as exc:
            error = f"data: {exc}"
        except OSError as exc:  # after the reads (a read OSError is a DataError above)
            error = f"write: cannot write {self.parts / spec['part']}: {exc}"
        return {"unit": spec["unit"], "rows": rows, "skipped": json.dumps(reader.skipped),
                "error": error}

    def _table(self, batch: UnitBatch) -> Any:
        import pyarrow as pa

        from infovaegan_plugin.deploy.codes_files import code_columns

        layout = self.encoder.layout
        names, argmax, values = code_columns(self.encoder.encode(batch.images), layout)
        columns: dict[str, Any] = {"row": pa.array(batch.rows, pa.int64())}
        if batch.names is not None:
            columns["file"] = pa.array(batch.names, pa.string())
        for c, column in enumerate(names[: layout.n_codes]):
            columns[column] = pa.array(np.ascontiguousarray(argmax[:, c], np.int64))
        by_column = np.ascontiguousarray(values.T, dtype=np.float32)
        for j, column in enumerate(names[layout.n_codes :]):
            columns[column] = pa.array(by_column[j])
        return pa.table(columns)

    def _write(self, spec: dict[str, Any], tables: list[Any]) -> None:
        """One part file, written under a hidden name and renamed: a retried unit replaces
        its file whole, and readers never see half a file."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables(tables)
        order = InputPlan(spec["kind"], spec["source"], 0, column=spec["column"]).row_order
        table = table.replace_schema_metadata({ROW_ORDER_KEY: order.encode("utf-8")})
        final = self.parts / spec["part"]
        temporary = self.parts / f".{spec['part']}.{os.getpid()}.tmp"
        try:
            pq.write_table(table, temporary)
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)

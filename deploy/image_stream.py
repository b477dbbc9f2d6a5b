"""Images to encode, read batch by batch, so memory stays flat whatever the input's size.

:func:`open_image_stream` takes what ``infovaegan encode`` takes (an ``.npy``/``.npz`` array,
an IDX file, a folder of images, a data set name) or an array already in memory (a
``np.memmap`` too) and returns an :class:`ImageStream` whose :meth:`~ImageStream.batches`
yield float32 ``(n, C, H, W)`` images in ``[0, 1]``, converted by the same rules as the
library's loaders (:func:`~infovaegan_plugin.data.validate_images`): uint8 divided by 255,
``(N, H, W)`` and channels-last accepted, floats checked for range and NaN.

Files are read with plain sequential reads of ``batch`` rows at a time (``.npy`` after its
header, ``.npz`` members and gzip IDX files through their decompressing streams), not
memory-mapped: pages of a mapping count toward the process's resident memory until the
kernel reclaims them, so a mapped 3 GB input would look like a 3 GB process. Named data sets
are loaded by their loaders (their size is bounded) and then handed out in batches.

Errors are ``DataError`` (unreadable or malformed input, naming the file) and
``InvalidInputError`` (image shape that does not fit the encoder); because reading is
incremental, an error in the last rows surfaces after the first rows were encoded.
"""

from __future__ import annotations

import contextlib
import zipfile
from abc import ABC, abstractmethod
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from infovaegan_plugin.inputs import batch_shape

__all__ = ["Batch", "ImageStream", "is_idx_file", "open_image_stream", "read_picture"]

_READ_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile)


@dataclass(frozen=True)
class Batch:
    """Consecutive rows: ``images`` float32 ``(n, C, H, W)`` in [0, 1]; ``names`` the files
    of a folder's rows (relative paths), ``None`` for arrays."""

    images: np.ndarray
    names: list[str] | None = None


def is_idx_file(path: Path) -> bool:
    """IDX files carry no standard suffix; MNIST's are named ``*-idx3-ubyte[.gz]``."""
    name = path.name.lower()
    return "idx" in name or name.endswith((".ubyte", ".ubyte.gz"))


class ImageStream(ABC):
    """Rows of one input, read ``batch_size`` at a time by :meth:`batches`.

    ``kind`` says what the input is ("array", "idx", "folder" or the data set and split);
    ``total`` is the number of rows (for a folder: of files to look at, some may be skipped);
    after reading, ``rows`` is the number of rows yielded and ``skipped`` lists
    ``(file, reason)`` of the folder files that have no row.
    """

    names_rows = False  # True when rows are named by files (folders)

    def __init__(self, kind: str, total: int, source: str,
                 input_shape: tuple[int, int, int]) -> None:
        self.kind, self.total, self.source = kind, int(total), source
        self.input_shape = tuple(int(d) for d in input_shape)
        self.rows = 0
        self.consumed = 0  # rows or files looked at so far, for progress bars
        self.skipped: list[tuple[str, str]] = []

    @abstractmethod
    def _read(self, batch_size: int) -> Iterator[Batch]:
        """Yield the input's batches (subclasses: one per kind of input)."""

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """The rows in order, ``batch_size`` at a time (the last batch may be shorter)."""
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        for batch in self._read(int(batch_size)):
            if self.rows == 0:  # the whole input's shape, not the first batch's, in errors
                batch_shape((self.total, *batch.images.shape[1:]), self.input_shape)
            self.rows += len(batch.images)
            if not self.names_rows:
                self.consumed = self.rows
            yield batch

    @property
    def row_order(self) -> str:
        """The sentence stored with the codes that says which row is which image."""
        if not self.names_rows:
            return (f"row i is image i of the input (its {self.kind} order, "
                    f"{self.rows} rows)")
        return ("rows follow the image files sorted by path relative to the input folder; "
                f"{len(self.skipped)} skipped file(s) have no row; the 'file' column names "
                "each row")


class ArrayStream(ImageStream):
    """An array in memory or memory-mapped by the caller (anything sliceable by rows)."""

    def __init__(self, array: Any, kind: str, source: str,
                 input_shape: tuple[int, int, int]) -> None:
        super().__init__(kind, len(array), source, input_shape)
        self.array = array

    def _read(self, batch_size: int) -> Iterator[Batch]:
        from infovaegan_plugin.data import validate_images

        if self.total == 0:
            validate_images(np.asarray(self.array), name=self.source)  # "no images"
        for start in range(0, self.total, batch_size):
            raw = np.asarray(self.array[start : start + batch_size])
            yield Batch(validate_images(raw, name=self.source))


class RowFileStream(ImageStream):
    """Fixed-size rows read from a binary stream (an ``.npy`` body, an ``.npz`` member, an
    IDX payload); ``convert`` turns raw rows into images; ``trailing`` checks what follows
    the last row."""

    def __init__(self, opener: Callable[[], IO[bytes]], dtype: np.dtype,
                 shape: tuple[int, ...], kind: str, source: str,
                 input_shape: tuple[int, int, int],
                 convert: Callable[[np.ndarray], np.ndarray] | None = None,
                 trailing: Callable[[IO[bytes]], None] | None = None) -> None:
        super().__init__(kind, shape[0] if shape else 0, source, input_shape)
        self.opener, self.dtype, self.shape = opener, dtype, shape
        self.convert, self.trailing = convert, trailing

    def _read(self, batch_size: int) -> Iterator[Batch]:
        from infovaegan_plugin.data import DataError, validate_images

        row_shape = self.shape[1:]
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * self.dtype.itemsize
        if len(self.shape) not in (3, 4) or self.total == 0:
            # the loaders' message for these shapes, from a zero-memory stand-in
            validate_images(np.broadcast_to(np.zeros((), self.dtype), self.shape),
                            name=self.source)
        convert = self.convert or (lambda raw: validate_images(raw, name=self.source))
        with _reading(self.source), self.opener() as handle:
            for start in range(0, self.total, batch_size):
                count = min(batch_size, self.total - start)
                data = _read_exactly(handle, count * row_bytes)
                if len(data) < count * row_bytes:
                    raise DataError(
                        f"{self.source}: truncated: the header promises {self.total} rows of "
                        f"{row_bytes} bytes, the data ends after "
                        f"{start + len(data) // row_bytes} rows")
                raw = np.frombuffer(data, dtype=self.dtype).reshape(count, *row_shape)
                yield Batch(convert(raw))
            if self.trailing is not None:
                self.trailing(handle)


def read_picture(source: Path | IO[bytes], input_shape: tuple[int, int, int]
                 ) -> tuple[np.ndarray | None, str]:
    """One picture as uint8 ``(C, H, W)`` at the encoder's size, or ``(None, why)`` it is
    skipped: an unsupported extension (files only), unreadable, or larger than
    ``infovaegan_plugin.data.images.MAX_IMAGE_PIXELS`` (read from the header, never decoded).
    The one rule for every picture an encode reads: folder files here, and on Ray
    (:mod:`~infovaegan_plugin.deploy.encode_units`) folder files and encoded pictures in
    Parquet columns."""
    from infovaegan_plugin.data.images import (
        READ_ERRORS,
        read_image,
        skip_reason,
        unsupported_reason,
    )

    channels, height, width = input_shape
    if isinstance(source, Path):
        reason = unsupported_reason(source)
        if reason is not None:
            return None, reason
    try:
        return read_image(source, (height, width), grayscale=channels == 1), ""
    except READ_ERRORS as exc:
        return None, skip_reason(exc)


class FolderStream(ImageStream):
    """Picture files of a folder in sorted order; unreadable ones, and pictures larger than
    ``infovaegan_plugin.data.images.MAX_IMAGE_PIXELS`` (read from the header, never
    decoded), are skipped and listed."""

    names_rows = True

    def __init__(self, root: Path, input_shape: tuple[int, int, int]) -> None:
        from infovaegan_plugin.data import DataError
        from infovaegan_plugin.data.images import image_files

        channels = input_shape[0]
        if channels not in (1, 3):
            raise DataError(f"the encoder takes {channels}-channel images; image folders "
                            "give 1 (grey) or 3 (RGB) channels")
        self.root = root
        self.files = image_files(root)
        super().__init__("folder", len(self.files), str(root), input_shape)

    def _read(self, batch_size: int) -> Iterator[Batch]:
        from infovaegan_plugin.data import DataError, validate_images

        arrays: list[np.ndarray] = []
        names: list[str] = []
        for path in self.files:
            name = path.relative_to(self.root).as_posix()
            picture, reason = read_picture(path, self.input_shape)
            if picture is not None:
                arrays.append(picture)
                names.append(name)
            else:
                self.skipped.append((name, reason))
            self.consumed += 1
            if len(arrays) == batch_size:
                yield Batch(validate_images(np.stack(arrays), name=self.source), names)
                arrays, names = [], []
        if arrays:
            yield Batch(validate_images(np.stack(arrays), name=self.source), names)
        if self.rows == 0:
            detail = "; ".join(f"{Path(n).name}: {why}" for n, why in self.skipped[:3])
            raise DataError(f"{self.root}: no readable images ({len(self.skipped)} file(s) "
                            f"skipped" + (f": {detail}" if detail else "") + ")")


# --------------------------------------------------------------------------- opening inputs


@contextlib.contextmanager
def _reading(source: str) -> Iterator[None]:
    """Read failures of the input (I/O errors, corrupt compression) as ``DataError``."""
    from infovaegan_plugin.data import DataError

    try:
        yield
    except _READ_ERRORS as exc:
        raise DataError(f"{source}: corrupt or unreadable ({exc})") from exc


def _read_exactly(handle: IO[bytes], size: int) -> bytes:
    parts, left = [], size
    while left > 0:
        chunk = handle.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _no_pickles(dtype: np.dtype, source: str) -> None:
    from infovaegan_plugin.data import DataError

    if dtype.hasobject:
        raise DataError(f"{source}: holds Python objects (pickled), which are never loaded; "
                        "save the images as a numeric array")


def _npy_stream(path: Path, input_shape: tuple[int, int, int]) -> ImageStream:
    from infovaegan_plugin.data import DataError

    try:  # parses the header only; the mapping is used for its offset (or Fortran order)
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (*_READ_ERRORS, ValueError) as exc:
        raise DataError(f"{path}: corrupt or unreadable array file ({exc})") from exc
    if not mapped.flags.c_contiguous:  # Fortran order: rows are not contiguous in the file
        return ArrayStream(mapped, "array", str(path), input_shape)
    offset = mapped.offset

    def opener() -> IO[bytes]:
        handle = open(path, "rb")
        handle.seek(offset)
        return handle

    return RowFileStream(opener, mapped.dtype, mapped.shape, "array", str(path), input_shape)


def _npz_stream(path: Path, key: str | None, input_shape: tuple[int, int, int]) -> ImageStream:
    from infovaegan_plugin.data import DataError
    from infovaegan_plugin.data.arrays import is_dsprites_archive, pick_image_key

    try:
        with zipfile.ZipFile(path) as archive:
            files = [n[: -len(".npy")] for n in archive.namelist() if n.endswith(".npy")]
            member = pick_image_key(path, files, key) + ".npy"
            with archive.open(member) as handle:
                version = np.lib.format.read_magic(handle)
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if read_header is None:
                    raise ValueError(f"unsupported .npy format version {version}")
                shape, fortran, dtype = read_header(handle)
                header_size = handle.tell()
    except (*_READ_ERRORS, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: corrupt or unreadable array file ({exc})") from exc
    _no_pickles(dtype, str(path))
    if fortran:  # rare: read the member whole (np.load) rather than by rows
        from infovaegan_plugin.data import load_array_file

        return ArrayStream(load_array_file(path, key=key).images, "array", str(path),
                           input_shape)

    @contextlib.contextmanager
    def opener() -> Iterator[IO[bytes]]:
        with zipfile.ZipFile(path) as archive, archive.open(member) as handle:
            handle.read(header_size)
            yield handle

    convert = None
    if is_dsprites_archive(files, key):  # 0/1 uint8 pixels, not 0..255
        from infovaegan_plugin.data import validate_images

        def convert(raw: np.ndarray) -> np.ndarray:
            return validate_images(raw.astype(np.float32), name=str(path))

    return RowFileStream(opener, dtype, tuple(shape), "array", str(path), input_shape,
                         convert)


def _idx_stream(path: Path, input_shape: tuple[int, int, int]) -> ImageStream:
    from infovaegan_plugin.data import DataError
    from infovaegan_plugin.data.mnist import idx_payload_error, open_idx

    handle, dtype, dims = open_idx(path)
    handle.close()
    if len(dims) == 1:
        raise DataError(f"{path}: holds 1-D labels, not images; pass the images file")
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize

    def opener() -> IO[bytes]:
        return open_idx(path)[0]

    def trailing(rest: IO[bytes]) -> None:
        extra = sum(len(chunk) for chunk in iter(lambda: rest.read(1 << 20), b""))
        error = idx_payload_error(str(path), dims, expected, expected + extra)
        if error is not None:
            raise error

    return RowFileStream(opener, dtype, dims, "idx", str(path), input_shape,
                         trailing=trailing)


def open_image_stream(source: str | Path | Any, input_shape: tuple[int, int, int],
                      key: str | None = None, data_dir: Path | None = None,
                      split: str = "train") -> ImageStream:
    """An :class:`ImageStream` over ``source``: an array (``np.ndarray``/``np.memmap``), an
    ``.npy``/``.npz`` file, an IDX file, a folder of images or a data set name (a name wins
    over a same-named path, as in ``load_dataset``: write ``./digits`` for a folder called
    ``digits``). Picture files are resized to ``input_shape``; raises ``DataError`` naming
    the problem."""
    from infovaegan_plugin.data import DataError, available_datasets, load_dataset

    if not isinstance(source, (str, Path)):
        return ArrayStream(source, "array", "images", input_shape)
    if str(source) in available_datasets():
        data = load_dataset(str(source), data_dir, split=split)
        return ArrayStream(data.images, f"{source} {split} split", str(source), input_shape)
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory, and not a data set name "
                        f"({', '.join(available_datasets())})")
    if path.is_dir():
        return FolderStream(path, input_shape)
    suffix = path.suffix.lower()
    if suffix == ".npy" and key is not None:
        raise DataError(f"{path}: key={key!r} given but a .npy file holds a single array")
    if suffix == ".npy":
        return _npy_stream(path, input_shape)
    if suffix == ".npz":
        return _npz_stream(path, key, input_shape)
    if is_idx_file(path):
        return _idx_stream(path, input_shape)
    raise DataError(f"{path}: unsupported input {path.suffix or '(no suffix)'!r}; expected "
                    ".npy, .npz, an IDX file (*-idx3-ubyte[.gz]) or a folder of images")

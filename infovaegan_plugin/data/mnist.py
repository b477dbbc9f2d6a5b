"""MNIST from its IDX files, plus an opt-in, checksum-verified download.

Loading never touches the network: a local directory is accepted on the strength of its IDX
headers and shapes (re-ordered or re-compressed copies have other checksums yet are valid).
Only :func:`download_mnist` fetches, and it keeps a file only when its md5 is the official one.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO
from pathlib import Path

import numpy as np

from ..atomic import atomic_file
from .base import DataError, ImageData, validate_images

PathLike = str | os.PathLike

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: md5 of the official gzip files, as published with the data set.
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# IDX type code -> big-endian numpy dtype ("THE IDX FILE FORMAT", yann.lecun.com/exdb/mnist/).
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """File bytes, gunzipped when the content (not the name) says gzip."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataError(f"{path}: corrupt gzip data ({exc})") from exc


def idx_header(buf: bytes, source: str = "<bytes>") -> tuple[np.dtype, tuple[int, ...], int]:
    """``(dtype, dims, header bytes)`` from the start of an IDX buffer (at least the header;
    the first 4 bytes say how long it is); ``source`` names it in error messages."""
    if len(buf) < 4:
        raise DataError(f"{source}: too short for an IDX header ({len(buf)} bytes)")
    if buf[0] != 0 or buf[1] != 0:
        raise DataError(
            f"{source}: bad IDX magic {buf[:4].hex()} (expected two zero bytes, a type code "
            f"and the number of dimensions): not an IDX file"
        )
    code, ndim = buf[2], buf[3]
    if code not in _IDX_DTYPES:
        raise DataError(f"{source}: unknown IDX data type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(f"{source}: truncated IDX header ({len(buf)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", buf[4:header])
    return np.dtype(_IDX_DTYPES[code]), tuple(int(d) for d in dims), header


def idx_payload_error(source: str, dims: tuple[int, ...], expected: int,
                      found: int) -> DataError | None:
    """The error for a payload of ``found`` bytes where the header promises ``expected``."""
    if found < expected:
        return DataError(
            f"{source}: truncated payload: header {dims} needs {expected} bytes, found {found}"
        )
    if found > expected:
        return DataError(
            f"{source}: {found - expected} unexpected bytes after the payload of shape {dims}"
        )
    return None


def parse_idx(buf: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode an uncompressed IDX buffer; ``source`` names it in error messages."""
    dtype, dims, header = idx_header(buf, source)
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    error = idx_payload_error(source, dims, expected, len(buf) - header)
    if error is not None:
        raise error
    arr = np.frombuffer(buf, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # native order; also a writable copy


def open_idx(path: PathLike) -> tuple[BinaryIO, np.dtype, tuple[int, ...]]:
    """An IDX file (gzip-compressed or not, told by content) opened at its payload, with the
    header's dtype and dims, for reading the payload in pieces (streaming encode); the caller
    closes the handle and checks the payload's length (:func:`idx_payload_error`)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
    handle: BinaryIO = gzip.open(path, "rb") if compressed else open(path, "rb")  # type: ignore[assignment]
    try:
        head = handle.read(4)
        if len(head) == 4:
            head += handle.read(4 * head[3])
        dtype, dims, _ = idx_header(head, str(path))
    except (OSError, EOFError, zlib.error) as exc:
        handle.close()
        raise DataError(f"{path}: corrupt gzip data ({exc})") from exc
    except DataError:
        handle.close()
        raise
    return handle, dtype, dims


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a native-endian array."""
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


def _find(data_dir: Path, stem: str) -> Path:
    for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{data_dir / (stem + '.gz')}: file not found (nor {stem} uncompressed); "
        f"fetch MNIST with infovaegan_plugin.data.download_mnist({str(data_dir)!r})"
    )


def _load_split(data_dir: Path, split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    img_path, lab_path = (_find(data_dir, stem) for stem in MNIST_FILES[split])
    images = read_idx(img_path)
    labels = read_idx(lab_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataError(
            f"{img_path}: expected uint8 images of shape (N, 28, 28), got "
            f"{images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f"{lab_path}: expected uint8 labels of shape (N,), got {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{data_dir}: {split} split has {len(images)} images but {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{lab_path}: labels must be digits 0-9, found {int(labels.max())}")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def load_mnist(
    data_dir: PathLike, split: str = "train", limit: int | None = None
) -> ImageData:
    """MNIST ``split`` ("train", "test" or "all" = train then test) as (N, 1, 28, 28) in [0, 1].

    ``limit`` keeps the first rows of each split, for quick runs.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: MNIST directory not found")
    if split not in ("train", "test", "all"):
        raise DataError(f"MNIST split must be 'train', 'test' or 'all', got {split!r}")
    if limit is not None and limit < 1:
        raise DataError(f"limit must be a positive number of images, got {limit}")
    splits = ("train", "test") if split == "all" else (split,)
    parts = [_load_split(data_dir, s, limit) for s in splits]
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    return ImageData(
        images=validate_images(images, expected_shape=(1, 28, 28), name=f"mnist-{split}"),
        labels=labels.astype(np.int64),
        name=f"mnist-{split}",
        class_names=tuple(str(d) for d in range(10)),
    )


def _urllib_fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https mirrors)
        return response.read()


def _write_atomically(target: Path, payload: bytes) -> None:
    """Temp file in the same directory + rename, so an interrupted run leaves no half file."""
    with atomic_file(target) as tmp:
        tmp.write_bytes(payload)
        if hashlib.md5(tmp.read_bytes()).hexdigest() != MNIST_MD5[target.name]:
            raise DataError(f"{target}: checksum changed while writing; disk problem?")


def download_mnist(
    target_dir: PathLike,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    force: bool = False,
    fetch: Callable[[str], bytes] | None = None,
    files: Iterable[str] | None = None,
) -> list[Path]:
    """Download the MNIST gzip files into ``target_dir``, keeping only md5-verified copies.

    Mirrors are tried in order; a failed fetch or a wrong checksum moves on to the next one,
    and a file no mirror serves intact raises DataError (nothing is written for it).
    Files already present are kept unless ``force``. ``fetch(url) -> bytes`` defaults to
    urllib and is a parameter so tests can serve local bytes. Returns the file paths.
    """
    fetch = _urllib_fetch if fetch is None else fetch
    names = list(MNIST_MD5) if files is None else list(files)
    unknown = [n for n in names if n not in MNIST_MD5]
    if unknown:
        raise DataError(f"unknown MNIST files {unknown}; known: {sorted(MNIST_MD5)}")
    if not mirrors:
        raise DataError("no MNIST mirror given")
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        dest = target / name
        paths.append(dest)
        if dest.is_file() and not force:
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                payload = fetch(url)
            except OSError as exc:  # URLError, HTTPError, timeouts
                failures.append(f"{url}: {exc}")
                continue
            digest = hashlib.md5(payload).hexdigest()
            if digest != MNIST_MD5[name]:
                failures.append(
                    f"{url}: checksum mismatch (md5 {digest}, expected {MNIST_MD5[name]})"
                )
                continue
            _write_atomically(dest, payload)
            break
        else:
            raise DataError(f"could not download {name}: " + "; ".join(failures))
    return paths

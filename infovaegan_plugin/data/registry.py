"""One entry point from a user's ``--data`` argument (a name or a path) to an ImageData.

Names win over paths only for the exact strings in :data:`DATASET_LOADERS`; write ``./mnist``
for a folder that happens to be called ``mnist``. Only MNIST has an official test split; the
other sources return all their images for ``split="train"`` or ``"all"`` and refuse ``"test"``
rather than invent a held-out set (use ``ImageData.split(fraction, seed)`` for that).
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .arrays import load_array_file
from .base import DataError, ImageData, validate_labels
from .digits import load_digits_data
from .dsprites import load_dsprites, load_dsprites_npz
from .images import load_image_folder
from .mnist import MNIST_FILES, load_mnist, read_idx

SPLITS = ("train", "test", "all")
#: File name of the original dSprites archive, looked up in ``data_dir``.
DSPRITES_NPZ_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"

Loader = Callable[..., ImageData]
PathLike = str | os.PathLike


def _check_options(func: Callable, kw: dict[str, Any], what: str) -> None:
    """Name the bad option instead of letting a TypeError surface from deep inside a loader."""
    params = inspect.signature(func).parameters
    unknown = sorted(set(kw) - set(params))
    if unknown:
        allowed = sorted(p for p in params if p not in ("path", "data_dir", "split"))
        raise DataError(f"{what}: unknown option(s) {unknown}; accepted: {allowed}")


def _require_no_test_split(what: str, split: str) -> None:
    if split == "test":
        raise DataError(
            f"{what} has no official test split; load split='train' (or 'all') and hold out "
            f"images with data.split(fraction, seed)"
        )


def _digits(data_dir: Path | None, split: str, **kw: Any) -> ImageData:
    _require_no_test_split("digits", split)
    _check_options(load_digits_data, kw, "digits")
    return load_digits_data(**kw)


def _mnist(data_dir: Path | None, split: str, **kw: Any) -> ImageData:
    if data_dir is None:
        raise DataError(
            "mnist needs data_dir: a directory with the four IDX files (fetch them once with "
            "infovaegan_plugin.data.download_mnist(dir))"
        )
    _check_options(load_mnist, kw, "mnist")
    return load_mnist(data_dir, split=split, **kw)


def _dsprites(data_dir: Path | None, split: str, **kw: Any) -> ImageData:
    """Procedural unless ``data_dir`` points at (a folder holding) the original npz."""
    _require_no_test_split("dsprites", split)
    if data_dir is None:
        _check_options(load_dsprites, kw, "dsprites")
        return load_dsprites(**kw)
    npz = data_dir if data_dir.is_file() else data_dir / DSPRITES_NPZ_NAME
    _check_options(load_dsprites_npz, kw, "dsprites (npz)")
    return load_dsprites_npz(npz, **kw)


DATASET_LOADERS: dict[str, Loader] = {
    "digits": _digits,
    "mnist": _mnist,
    "dsprites": _dsprites,
}


def available_datasets() -> tuple:
    """Names :func:`load_dataset` accepts besides paths (the only list of them)."""
    return tuple(DATASET_LOADERS)


def is_named(name_or_path: Any) -> bool:
    """Whether ``name_or_path`` is a data set name rather than a path."""
    return isinstance(name_or_path, str) and name_or_path in DATASET_LOADERS


def loader_for_recorded(recorded: str) -> str | None:
    """The loader name of a recorded training-data name (``ImageData.name``: "digits",
    "mnist-train", ...), or ``None`` when the run was trained on a path."""
    base = recorded.split("-")[0]
    return base if base in DATASET_LOADERS else None


def _is_mnist_dir(path: Path) -> bool:
    stems = [s for pair in MNIST_FILES.values() for s in pair]
    return any((path / s).is_file() or (path / f"{s}.gz").is_file() for s in stems)


def _load_idx_file(path: Path) -> ImageData:
    """A lone IDX images file; labels come from its ``labels-idx1`` sibling when present."""
    images = read_idx(path)
    if images.ndim == 1:
        raise DataError(f"{path}: holds 1-D labels, not images; pass the images file")
    labels = None
    sibling = path.with_name(path.name.replace("images-idx3", "labels-idx1"))
    if sibling != path and sibling.is_file():
        labels = validate_labels(read_idx(sibling), len(images), name=str(sibling))
    return ImageData.from_arrays(images, labels, name=path.name.split(".")[0])


def _warn_skipped(root: Path, skipped) -> None:
    if skipped:
        shown = "; ".join(f"{p}: {why}" for p, why in skipped[:5])
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        warnings.warn(f"{root}: skipped {len(skipped)} file(s): {shown}{more}", stacklevel=3)


def load_dataset(
    name_or_path: PathLike,
    data_dir: PathLike | None = None,
    split: str = "train",
    **kw: Any,
) -> ImageData:
    """Load a named data set ("digits", "mnist", "dsprites") or a path.

    Paths: ``.npy``/``.npz`` files, IDX files (``*-idx3-ubyte[.gz]``), a directory of MNIST IDX
    files, or an image folder (skipped files are reported with ``warnings.warn``; call
    :func:`load_image_folder` to get them as a list). ``data_dir`` is used by named data sets
    only; ``kw`` goes to the underlying loader (e.g. ``limit`` for MNIST, ``n``/``seed`` for
    dSprites, ``size`` for image folders, ``key`` for npz files).
    """
    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(name_or_path, str) and name_or_path in DATASET_LOADERS:
        loader = DATASET_LOADERS[name_or_path]
        return loader(None if data_dir is None else Path(data_dir), split, **kw)
    path = Path(name_or_path)
    if not path.exists():
        raise DataError(
            f"{path}: no such file or directory, and not a data set name "
            f"(known: {', '.join(DATASET_LOADERS)})"
        )
    if path.is_dir():
        if _is_mnist_dir(path):
            _check_options(load_mnist, kw, str(path))
            return load_mnist(path, split=split, **kw)
        _require_no_test_split(str(path), split)
        _check_options(load_image_folder, kw, str(path))
        data, _, skipped = load_image_folder(path, **kw)
        _warn_skipped(path, skipped)
        return data
    _require_no_test_split(str(path), split)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        _check_options(load_array_file, kw, str(path))
        return load_array_file(path, **kw)
    if "idx" in path.name.lower() or suffix == ".idx":
        if kw:
            raise DataError(f"{path}: IDX files take no options, got {sorted(kw)}")
        return _load_idx_file(path)
    raise DataError(
        f"{path}: unsupported file type {suffix or '(none)'!r}; expected .npy, .npz, an IDX file "
        f"or a directory"
    )


__all__ = ["load_dataset", "available_datasets", "is_named", "loader_for_recorded", "DATASET_LOADERS", "SPLITS", "DSPRITES_NPZ_NAME"]

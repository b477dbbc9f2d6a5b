"""Images from ``.npy`` / ``.npz`` files: the simplest way to bring one's own data.

Pickled arrays are refused (``allow_pickle=False``): loading a data file must not run code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .base import DataError, ImageData, validate_images, validate_labels

#: Keys tried, in order, when an npz holds several arrays and no ``key`` is given.
IMAGE_KEYS = ("images", "imgs", "x", "data")
LABEL_KEYS = ("labels", "y", "targets")
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)


def _pick(files, candidates) -> str | None:
    """First candidate present, matched case-insensitively (``X`` / ``Y`` are common)."""
    lowered = {f.lower(): f for f in files}
    for c in candidates:
        if c in lowered:
            return lowered[c]
    return None


def is_dsprites_archive(files: list[str], key: str | None) -> bool:
    """An npz with ``imgs`` and ``latents_classes`` (and no ``key``) is the dSprites archive,
    whose uint8 images are 0/1 rather than 0..255."""
    return key is None and {"imgs", "latents_classes"} <= set(files)


def pick_image_key(path: Path, files: list[str], key: str | None) -> str:
    """The npz member holding the images: ``key``, else the first of :data:`IMAGE_KEYS`,
    else the only member."""
    if key is not None:
        if key not in files:
            raise DataError(f"{path}: no key {key!r}; keys present: {sorted(files)}")
        return key
    image_key = _pick(files, IMAGE_KEYS)
    if image_key is None:
        if len(files) != 1:
            raise DataError(
                f"{path}: no image array found under {list(IMAGE_KEYS)}; keys "
                f"present: {sorted(files)}; pass key=... to choose one"
            )
        image_key = files[0]
    return image_key


def load_array_file(path: str | Path, key: str | None = None) -> ImageData:
    """Load images (and labels, when an npz has them) from a ``.npy`` or ``.npz`` file.

    An npz with ``imgs`` and ``latents_classes`` is the dSprites archive and is handed to
    :func:`~infovaegan_plugin.data.dsprites.load_dsprites_npz`: its uint8 images are 0/1,
    which the generic uint8 rule (divide by 255) would turn almost black.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix.lower() not in (".npy", ".npz"):
        raise DataError(f"{path}: expected a .npy or .npz file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: corrupt or unreadable array file ({exc})") from exc
    name = path.stem
    labels = None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            files = list(loaded.files)
            if is_dsprites_archive(files, key):
                from .dsprites import load_dsprites_npz

                return load_dsprites_npz(path)
            image_key = pick_image_key(path, files, key)
            label_key = _pick([f for f in files if f != image_key], LABEL_KEYS)
            try:
                images = loaded[image_key]
                raw_labels = None if label_key is None else loaded[label_key]
            except _READ_ERRORS as exc:
                raise DataError(f"{path}: corrupt npz member ({exc})") from exc
    else:
        if key is not None:
            raise DataError(f"{path}: key={key!r} given but a .npy file holds a single array")
        images, raw_labels = loaded, None
    images = validate_images(images, name=str(path))
    if raw_labels is not None:
        labels = validate_labels(raw_labels, len(images), name=f"{path} [{label_key}]")
    return ImageData(images=images, labels=labels, name=name)

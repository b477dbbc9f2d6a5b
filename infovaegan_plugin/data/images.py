"""Images from a folder of picture files (PNG, JPEG, ...), read with Pillow.

Unreadable files are skipped but returned with the reason, so the caller can report them:
one broken JPEG should not end a run, and a silently shrunken data set misleads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .base import DataError, ImageData, validate_images

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")

Size = int | tuple[int, int]


#: What an unreadable picture raises (Pillow's errors for truncated or foreign files).
READ_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError)


def image_files(root: Path) -> list[Path]:
    """Every non-hidden file under ``root``, sorted by path relative to it: the row order."""
    return sorted(
        (
            p
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        ),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def unsupported_reason(path: Path) -> str | None:
    """Why ``path`` is not read as a picture (its extension), or ``None``."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return None
    return f"unsupported extension {path.suffix or '(none)'!r}"


def read_image(path: Path, size: tuple[int, int] | None, grayscale: bool) -> np.ndarray:
    """One picture as uint8 ``(C, H, W)``, resized to ``size`` when given."""
    with Image.open(path) as img:
        img.load()  # decode now: a truncated file fails here, not later
        img = img.convert("L" if grayscale else "RGB")
        if size is not None and img.size != (size[1], size[0]):
            img = img.resize((size[1], size[0]), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if grayscale else arr.transpose(2, 0, 1)


def load_image_folder(
    path: str | Path, size: Size | None = None, grayscale: bool = True
) -> tuple[ImageData, list[Path], list[tuple[Path, str]]]:
    """Read every image under ``path`` (recursively), sorted by relative path.

    ``size`` is ``(H, W)`` or an int for squares; without it all images must share the size of
    the first one and the others are skipped. When every image sits in a sub-folder, the
    first-level folder names (sorted) become labels 0..K-1. Hidden files are ignored.
    Returns ``(data, files in row order, [(skipped file, reason), ...])``.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    if isinstance(size, int):
        size = (size, size)
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise DataError(f"size must be a positive int or (H, W), got {size}")
    arrays: list[np.ndarray] = []
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for p in image_files(root):
        unsupported = unsupported_reason(p)
        if unsupported is not None:
            skipped.append((p, unsupported))
            continue
        try:
            arr = read_image(p, size, grayscale)
        except READ_ERRORS as exc:
            skipped.append((p, f"unreadable image: {exc}"))
            continue
        if arrays and arr.shape != arrays[0].shape:
            skipped.append(
                (
                    p,
                    f"size {arr.shape[1]}x{arr.shape[2]} differs from {arrays[0].shape[1]}x"
                    f"{arrays[0].shape[2]} (first image); pass size=(H, W) to resize",
                )
            )
            continue
        arrays.append(arr)
        files.append(p)
    if not arrays:
        detail = "; ".join(f"{p.name}: {why}" for p, why in skipped[:3])
        raise DataError(
            f"{root}: no readable images ({len(skipped)} file(s) skipped"
            + (f": {detail}" if detail else "")
            + ")"
        )
    labels = class_names = None
    rel = [p.relative_to(root).parts for p in files]
    if all(len(parts) > 1 for parts in rel):
        class_names = tuple(sorted({parts[0] for parts in rel}))
        lookup = {c: i for i, c in enumerate(class_names)}
        labels = np.array([lookup[parts[0]] for parts in rel], dtype=np.int64)
    data = ImageData(
        images=validate_images(np.stack(arrays), expected_shape=arrays[0].shape, name=str(root)),
        labels=labels,
        name=root.name,
        class_names=class_names,
    )
    return data, files, skipped

"""Images from a folder of picture files (PNG, JPEG, ...), read with Pillow.

Unreadable files are skipped but returned with the reason, so the caller can report them:
one broken JPEG should not end a run, and a silently shrunken data set misleads. So are
pictures larger than :data:`MAX_IMAGE_PIXELS`: a file of a few hundred bytes can claim
24,000 x 24,000 pixels (a decompression bomb), so the size is read from the header and
checked before anything is decoded.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from .base import DataError, ImageData, validate_images

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")

Size = int | tuple[int, int]


#: Largest picture read, in pixels (width x height of the first frame or page, the only one
#: read): 2**26 = 67,108,864, e.g. 8192 x 8192, 64 megapixels, above most cameras' photos.
#: Decoded, such a picture takes up to 256 MiB (RGBA), about as much again while it is
#: converted and resized. Larger pictures are skipped unread, whatever Pillow's global
#: ``Image.MAX_IMAGE_PIXELS`` says (a caller's lower global limit is also obeyed).
MAX_IMAGE_PIXELS = 2**26


class ImageTooLargeError(ValueError):
    """A picture whose header claims more than :data:`MAX_IMAGE_PIXELS`; never decoded."""


#: What an unreadable picture raises (Pillow's errors for truncated or foreign files, and
#: :class:`ImageTooLargeError`, a ``ValueError``).
READ_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError)


def skip_reason(exc: BaseException) -> str:
    """Why a picture that raised one of :data:`READ_ERRORS` is skipped, in one line."""
    if isinstance(exc, ImageTooLargeError):
        return str(exc)
    return f"unreadable image: {exc}"


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


def _too_large(pixels: int, shape: str, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(f"too large: {shape}{pixels:,} pixels, above the limit of "
                              f"{limit:,} (not decoded)")


def _pillow_refusal(exc: Exception, max_pixels: int) -> ImageTooLargeError:
    """Pillow's own limit refused the file before its size could be read; its text has it."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    if found is not None and int(found[1]) > max_pixels:
        return _too_large(int(found[1]), "", max_pixels)
    return ImageTooLargeError(
        f"too large for Pillow's limit (PIL.Image.MAX_IMAGE_PIXELS): {exc}")


def read_image(path: Path | IO[bytes], size: tuple[int, int] | None, grayscale: bool,
               max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """One picture (a file, or an open binary stream) as uint8 ``(C, H, W)``, resized to
    ``size`` when given.

    Raises :class:`ImageTooLargeError` for a picture of more than ``max_pixels`` pixels,
    found from its header (``Image.open`` decodes nothing), before any pixel is decoded.
    """
    try:
        with warnings.catch_warnings():  # Pillow's warning; the check below decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise _too_large(width * height, f"{width}x{height} = ", max_pixels)
                img.load()  # decode now: a truncated file fails here, not later
                img = img.convert("L" if grayscale else "RGB")
                if size is not None and img.size != (size[1], size[0]):
                    img = img.resize((size[1], size[0]), Image.BILINEAR)
                arr = np.asarray(img, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise _pillow_refusal(exc, max_pixels) from None
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
            skipped.append((p, skip_reason(exc)))
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

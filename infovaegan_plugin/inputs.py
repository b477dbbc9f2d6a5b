"""The one input contract for images, shared by the PyTorch model and the ONNX runtime.

``InfoVAEGAN.encode`` (and everything built on it: ``embed``, ``reconstruct``, ``predict``)
and ``deploy.runtime.OnnxEncoder.encode`` accept and reject exactly the same inputs, with the
same messages, because both call this module:

- dtype: ``uint8`` pixels (divided by 255) or floats (any precision) already in ``[0, 1]``;
  anything else (other integers, booleans, strings, complex numbers) is refused;
- shape: ``(N, C, H, W)`` or one image ``(C, H, W)``; when ``C == 1`` the channel axis may be
  left out, ``(N, H, W)`` or ``(H, W)``;
- values: finite (NaN and inf are counted and refused), within ``[0, 1]`` up to a tolerance of
  ``1e-6`` (then clipped); out-of-range values are refused with the range found, the range
  expected and, when the values look like grey levels (0..16, 0..255) or like ``[-1, 1]``
  images, how to rescale them.

Errors are :class:`InvalidInputError`, a ``ValueError`` *and* a ``TypeError``. This module
imports numpy only (torch lazily, for tensors), so a serving machine without torch can use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_NORMALISATION",
    "MAX_IMAGE_CHANNELS",
    "MAX_IMAGE_SIDE",
    "MAX_IMAGE_VALUES",
    "InvalidInputError",
    "check_dataset_images",
    "image_shape_error",
    "prepare_image_tensor",
    "prepare_images",
]

#: Float images are compared with this slack (e.g. float64 -> float32 rounding), then clipped.
TOLERANCE = 1e-6

#: The image convention of the whole library: float32 in [0, 1]; uint8 pixels are divided by 255.
DEFAULT_NORMALISATION: dict[str, Any] = {
    "dtype": "float32",
    "range": [0.0, 1.0],
    "uint8_scale": 1 / 255,
}

#: Upper bounds of the image shape ``(C, H, W)`` a model may declare: a config's
#: ``input_dim`` and an exported file's input shape, checked before any tensor, resize or
#: network is sized by them, so a corrupt or hostile file is refused instead of asking for
#: terabytes. They admit every real use (28x28 MNIST, 64x64 dSprites, 64-128 px CelebA, colour
#: images up to 1024x1024) with room to spare: a side of 4096 pixels, 64 channels (RGB(A),
#: multispectral bands), and one image of at most 2**26 values (256 MiB as float32, e.g.
#: 4 x 4096 x 4096 or 64 x 1024 x 1024).
MAX_IMAGE_SIDE = 4096
MAX_IMAGE_CHANNELS = 64
MAX_IMAGE_VALUES = 2**26

_KIND_WORDS = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers",
               "b": "booleans", "M": "datetimes", "m": "timedeltas", "V": "raw bytes"}


class InvalidInputError(ValueError, TypeError):
    """Inputs have the wrong dtype, shape or values.

    Subclasses both ``ValueError`` and ``TypeError`` so callers (e.g. an HTTP service mapping
    bad requests to 400) can catch one class for every input problem.
    """


# --------------------------------------------------------------------------- messages


def describe_dtype(name: str, kind: str) -> str:
    """``int64``, or ``<U1 (strings)`` for kinds a person may not recognise by name."""
    return f"{name} ({_KIND_WORDS[kind]})" if kind in _KIND_WORDS else name


def image_shape_error(shape: Sequence[int]) -> str | None:
    """Why the image shape ``(C, H, W)`` is above :data:`MAX_IMAGE_SIDE`,
    :data:`MAX_IMAGE_CHANNELS` or :data:`MAX_IMAGE_VALUES` (the caller names where it came
    from), or ``None``. Arithmetic on the numbers only: nothing is allocated."""
    c, h, w = (int(d) for d in shape)
    if c > MAX_IMAGE_CHANNELS:
        return f"{c} channels is above the limit of {MAX_IMAGE_CHANNELS}"
    if max(h, w) > MAX_IMAGE_SIDE:
        return f"{h}x{w} pixels has a side above the limit of {MAX_IMAGE_SIDE}"
    if c * h * w > MAX_IMAGE_VALUES:
        return (f"{c} x {h} x {w} = {c * h * w:,} values per image is above the limit of "
                f"{MAX_IMAGE_VALUES:,} (256 MiB as float32)")
    return None


def _dtype_error(name: str, kind: str, low: float, high: float) -> InvalidInputError:
    hint = (" Integer images must be uint8 0..255; convert others with .astype(np.uint8) or "
            "to float in [0, 1].") if kind in "iu" else ""
    return InvalidInputError(
        f"images have dtype {describe_dtype(name, kind)}; expected uint8 (0..255) or "
        f"float in [{low:g}, {high:g}].{hint}"
    )


def non_finite_error(what: str, n_nan: int, n_inf: int) -> InvalidInputError:
    return InvalidInputError(f"{what}: found {n_nan} NaN and {n_inf} inf value(s).")


def rescale_hint(lo: float, hi: float, whole_numbers: bool, low: float = 0.0) -> str:
    """How to bring values found in ``[lo, hi]`` into ``[0, 1]``, when the range is
    recognisable: whole-number grey levels (0..16, 0..255) or images scaled to ``[-1, 1]``."""
    if whole_numbers and lo >= 0 and hi <= 255:
        return (f"they look like whole-number grey levels 0..{hi:g}: divide by the brightest "
                "level the data can take (e.g. 16 for scikit-learn's digits, 255 for 8-bit "
                "pixels, which may also be passed as uint8)")
    if lo >= -1 - TOLERANCE and hi <= 1 + TOLERANCE and lo < low:
        return "they look like images scaled to [-1, 1]: map them with (x + 1) / 2"
    return ""


def range_error(lo: float, hi: float, low: float, high: float,
                whole_numbers: bool) -> InvalidInputError:
    """Out of range: the range found, the range expected, and how to rescale."""
    hint = rescale_hint(lo, hi, whole_numbers, low)
    return InvalidInputError(
        f"image values must lie in [{low:g}, {high:g}]; found min {lo:.6g} and max "
        f"{hi:.6g}.{' ' + hint[0].upper() + hint[1:] + '.' if hint else ''}"
    )


def batch_shape(shape: Sequence[int], input_shape: Sequence[int]) -> tuple[int, int, int, int]:
    """The ``(N, C, H, W)`` shape an input of ``shape`` is read as, or the error naming the
    accepted forms."""
    c, h, w = (int(d) for d in input_shape)
    shape = tuple(int(d) for d in shape)
    if len(shape) == 4 and shape[1:] == (c, h, w):
        return shape  # type: ignore[return-value]
    if len(shape) == 3 and shape == (c, h, w):
        return (1, c, h, w)
    if len(shape) == 3 and c == 1 and shape[1:] == (h, w):
        return (shape[0], 1, h, w)
    if len(shape) == 2 and c == 1 and shape == (h, w):
        return (1, 1, h, w)
    forms = f"(N, {c}, {h}, {w}) or ({c}, {h}, {w})"
    if c == 1:
        forms += f" or (N, {h}, {w}) or ({h}, {w})"
    detail = ""
    if len(shape) == 4 and shape[2:] == (h, w) and shape[1] != c:
        detail = f" (expected {c} channel(s), got {shape[1]})"
    elif len(shape) == 4 and shape[1:] == (h, w, c) and c > 1:
        detail = " (channels-last: use images.transpose(0, 3, 1, 2))"
    raise InvalidInputError(f"expected images of shape {forms}, got {shape}{detail}.")


def _range(normalisation: Mapping[str, Any] | None) -> tuple[float, float, float]:
    norm = {**DEFAULT_NORMALISATION, **(normalisation or {})}
    low, high = (float(v) for v in norm["range"])
    return low, high, float(norm["uint8_scale"])


# --------------------------------------------------------------------------- numpy


def prepare_images(
    images: Any,
    input_shape: Sequence[int],
    normalisation: Mapping[str, Any] | None = None,
    tolerance: float = TOLERANCE,
) -> np.ndarray:
    """Validate images and return them as float32 ``(N, C, H, W)`` in the trained range.

    Accepts uint8 pixels (scaled by ``normalisation["uint8_scale"]``, i.e. divided by 255) or
    floats already in range (``tolerance`` absorbs rounding; values are then clipped). The
    channel axis may be left out when C == 1, and a single image may be given unbatched.
    """
    low, high, scale = _range(normalisation)
    try:
        array = np.asarray(images)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"images cannot be turned into an array: {exc}") from exc
    dtype = array.dtype
    if dtype != np.uint8 and dtype.kind != "f":
        raise _dtype_error(str(dtype), dtype.kind, low, high)
    batch = array.reshape(batch_shape(array.shape, input_shape))
    if dtype == np.uint8:
        # Divide by 255 rather than multiply by 1/255: bit-identical to how loaders scale.
        return batch.astype(np.float32) / np.float32(1.0 / scale)
    finite = np.isfinite(batch)
    if not finite.all():
        n_nan = int(np.isnan(batch).sum())
        raise non_finite_error("images", n_nan, int(batch.size - finite.sum() - n_nan))
    if batch.size:
        lo, hi = float(batch.min()), float(batch.max())
        if lo < low - tolerance or hi > high + tolerance:
            raise range_error(lo, hi, low, high, bool(np.array_equal(batch, np.round(batch))))
    return np.clip(batch, low, high).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- torch


def _torch_dtype(dtype: Any) -> tuple[str, str]:
    """(numpy-style name, numpy kind) of a torch dtype, so messages read as for arrays."""
    import torch

    name = str(dtype).replace("torch.", "")
    if dtype == torch.bool:
        return name, "b"
    if dtype.is_complex:
        return name, "c"
    if dtype.is_floating_point:
        return name, "f"
    return name, "u" if name.startswith("uint") else "i"


def _graph_capture() -> bool:
    """True while torch traces, exports or compiles (values are symbolic there)."""
    import torch

    compiler = getattr(torch, "compiler", None)
    return bool(
        torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
        or (compiler is not None and getattr(compiler, "is_compiling", lambda: False)())
        or (compiler is not None and getattr(compiler, "is_exporting", lambda: False)())
    )


def prepare_image_tensor(
    images: Any,
    input_shape: Sequence[int],
    dtype: Any = None,
    device: Any = None,
    tolerance: float = TOLERANCE,
):
    """:func:`prepare_images` for PyTorch: a float ``(N, C, H, W)`` tensor in ``[0, 1]``.

    Tensors stay on their device (and are checked there); anything else goes through
    :func:`prepare_images` and then to ``device``. ``dtype`` is the model's parameter dtype
    (float32 by default). Same accepted inputs, same errors, same values as the ONNX path.
    """
    import torch

    target = dtype or torch.float32
    if not torch.is_tensor(images):
        prepared = torch.from_numpy(prepare_images(images, input_shape, tolerance=tolerance))
        return prepared.to(device=device, dtype=target)
    low, high, scale = _range(None)
    name, kind = _torch_dtype(images.dtype)
    if name != "uint8" and kind != "f":
        raise _dtype_error(name, kind, low, high)
    if _graph_capture():  # export/compile: static checks only, nothing data-dependent
        if images.dim() != 4 or tuple(images.shape[1:]) != tuple(int(d) for d in input_shape):
            raise InvalidInputError(f"expected images of shape (N, {', '.join(map(str, input_shape))}) "
                                    f"when exporting, got {tuple(images.shape)}.")
        return images
    shape = batch_shape(tuple(images.shape), input_shape)
    batch = images if tuple(images.shape) == shape else images.reshape(shape)
    if name == "uint8":
        return (batch.to(torch.float32) / np.float32(1.0 / scale).item()).to(target)
    finite = torch.isfinite(batch)
    if not bool(finite.all()):
        n_nan = int(torch.isnan(batch).sum())
        raise non_finite_error("images", n_nan, int(batch.numel() - finite.sum() - n_nan))
    if batch.numel():
        lo, hi = float(batch.min()), float(batch.max())
        if lo < low - tolerance or hi > high + tolerance:
            whole = bool(torch.equal(batch, torch.round(batch)))
            raise range_error(lo, hi, low, high, whole)
        if lo < low or hi > high:
            batch = batch.clamp(low, high)
    return batch.to(target)


def check_dataset_images(images: Any, input_shape: Sequence[int], name: str) -> None:
    """Training data must already follow the convention: a float ``(N, C, H, W)`` array or
    tensor in ``[0, 1]`` (the trainer feeds batches to the networks as they are). Errors are
    prefixed with ``name`` (e.g. ``train_data``)."""
    try:
        if getattr(images, "ndim", 4) != 4:
            raise InvalidInputError(
                f"expected images of shape (N, {', '.join(str(int(d)) for d in input_shape)}), "
                f"got {tuple(images.shape)}."
            )
        kind = getattr(getattr(images, "dtype", None), "kind", None)
        is_float = kind == "f" or bool(getattr(images.dtype, "is_floating_point", False))
        if not is_float:
            raise InvalidInputError(
                f"images have dtype {str(images.dtype).replace('torch.', '')}; training needs "
                "float images in [0, 1] (divide 8-bit pixels by 255)."
            )
        if hasattr(images, "detach"):
            prepare_image_tensor(images, input_shape)
        else:
            prepare_images(images, input_shape)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{name}: {exc}") from None

"""The one in-memory form every loader returns, and the checks that guard it.

Loaders differ in where images come from; everything downstream (model, trainer, metrics,
export) relies on a single convention: float32 ``(N, C, H, W)`` in ``[0, 1]``. Checking it once,
at load time, with messages that name the problem, is cheaper than a NaN loss three hours in.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch and pythae load with the training side only (encode runs without)
    from pythae.data.datasets import BaseDataset

from ..inputs import rescale_hint

#: Values this far outside [0, 1] are rounding noise (e.g. float64 -> float32) and get clipped.
_RANGE_TOLERANCE = 1e-6


class DataError(ValueError):
    """Raised when data cannot be read or does not follow the image convention."""


@dataclass(frozen=True, eq=False)
class ImageData:
    """Images plus optional labels / generative factors, as every loader returns them.

    ``eq=False``: element-wise array comparison has no single truth value, so identity is the
    only equality that makes sense. Build one from raw arrays with :meth:`from_arrays`, which
    validates values; the constructor itself only checks structure (cheap on 60k images).
    """

    images: np.ndarray
    labels: np.ndarray | None = None
    factors: np.ndarray | None = None
    factor_names: tuple[str, ...] | None = None
    name: str = "data"
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        imgs = self.images
        if not isinstance(imgs, np.ndarray) or imgs.dtype != np.float32 or imgs.ndim != 4:
            raise DataError(
                f"{self.name}: ImageData.images must be a float32 (N, C, H, W) array, got "
                f"{type(imgs).__name__} {getattr(imgs, 'dtype', '?')} "
                f"shape {getattr(imgs, 'shape', '?')}; use ImageData.from_arrays to convert"
            )
        n = imgs.shape[0]
        if self.labels is not None:
            lab = self.labels
            if not isinstance(lab, np.ndarray) or lab.dtype != np.int64 or lab.shape != (n,):
                raise DataError(
                    f"{self.name}: labels must be an int64 array of shape ({n},), got "
                    f"{getattr(lab, 'dtype', type(lab).__name__)} "
                    f"shape {getattr(lab, 'shape', '?')}"
                )
        if self.factors is not None:
            fac = self.factors
            if (
                not isinstance(fac, np.ndarray)
                or fac.dtype != np.int64
                or fac.ndim != 2
                or fac.shape[0] != n
            ):
                raise DataError(
                    f"{self.name}: factors must be an int64 array of shape ({n}, K), got "
                    f"{getattr(fac, 'dtype', type(fac).__name__)} "
                    f"shape {getattr(fac, 'shape', '?')}"
                )
            if self.factor_names is not None and len(self.factor_names) != fac.shape[1]:
                raise DataError(
                    f"{self.name}: {len(self.factor_names)} factor names for "
                    f"{fac.shape[1]} factor columns"
                )

    @classmethod
    def from_arrays(
        cls,
        images: np.ndarray,
        labels: np.ndarray | None = None,
        *,
        factors: np.ndarray | None = None,
        factor_names: Sequence[str] | None = None,
        name: str = "data",
        class_names: Sequence[str] | None = None,
        expected_shape: tuple[int, int, int] | None = None,
    ) -> ImageData:
        """Validate and convert raw arrays (uint8, NHWC, float64, ...) into an ImageData."""
        imgs = validate_images(images, expected_shape=expected_shape, name=name)
        lab = None if labels is None else validate_labels(labels, len(imgs), name=name)
        fac = None
        if factors is not None:
            fac = np.asarray(factors)
            if fac.ndim != 2 or fac.shape[0] != len(imgs):
                raise DataError(
                    f"{name}: factors must have shape ({len(imgs)}, K), got {fac.shape}"
                )
            fac = _as_int64(fac, f"{name}: factors")
        return cls(
            images=imgs,
            labels=lab,
            factors=fac,
            factor_names=None if factor_names is None else tuple(factor_names),
            name=name,
            class_names=None if class_names is None else tuple(class_names),
        )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def input_dim(self) -> tuple[int, int, int]:
        """``(C, H, W)``, the value ``model_config.input_dim`` must have."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, indices) -> ImageData:
        """Rows ``indices`` (int array, bool mask or slice) with labels/factors kept aligned."""
        if isinstance(indices, slice):
            idx = indices
        else:
            idx = np.asarray(indices)
            if idx.dtype == bool:
                if idx.shape != (len(self),):
                    raise DataError(
                        f"{self.name}: boolean mask has shape {idx.shape}, expected ({len(self)},)"
                    )
            elif idx.size and not np.issubdtype(idx.dtype, np.integer):
                raise DataError(f"{self.name}: subset indices must be integers, got {idx.dtype}")
            else:
                idx = idx.astype(np.int64).reshape(-1)
                if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
                    raise DataError(
                        f"{self.name}: subset index out of range for {len(self)} images"
                    )
        return replace(
            self,
            images=np.ascontiguousarray(self.images[idx]),
            labels=None if self.labels is None else self.labels[idx],
            factors=None if self.factors is None else self.factors[idx],
        )

    def split(self, fraction: float = 0.1, seed: int = 0) -> tuple[ImageData, ImageData]:
        """Random ``(train, eval)`` split; ``fraction`` is the share held out for eval.

        Seeded so that a run and its later evaluation see the same held-out images.
        """
        if not 0.0 < fraction < 1.0:
            raise DataError(f"{self.name}: split fraction must be in (0, 1), got {fraction}")
        n = len(self)
        n_eval = int(round(fraction * n))
        if n_eval < 1 or n_eval >= n:
            raise DataError(
                f"{self.name}: cannot split {n} images with fraction {fraction}: "
                f"one side would be empty"
            )
        perm = np.random.default_rng(seed).permutation(n)
        return self.subset(np.sort(perm[n_eval:])), self.subset(np.sort(perm[:n_eval]))


def _as_int64(arr: np.ndarray, what: str) -> np.ndarray:
    """Integer-valued arrays only: a float label 2.7 is a bug upstream, not something to round."""
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise DataError(f"{what} must be integers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise DataError(f"{what} must be integer-valued, found non-integer floats")
    return arr.astype(np.int64)


def validate_labels(labels, n: int, name: str = "labels") -> np.ndarray:
    """Return labels as int64 ``(n,)``; ``(n, 1)`` column vectors are accepted."""
    lab = np.asarray(labels)
    if lab.ndim == 2 and lab.shape[1] == 1:
        lab = lab[:, 0]
    if lab.ndim != 1:
        raise DataError(f"{name}: labels must be 1-D (N,), got shape {lab.shape}")
    if lab.shape[0] != n:
        raise DataError(f"{name}: {n} images but {lab.shape[0]} labels")
    return _as_int64(lab, f"{name}: labels")


def _to_nchw(arr: np.ndarray, expected_shape, name: str) -> np.ndarray:
    if arr.ndim == 3:
        return arr[:, None, :, :]
    if arr.ndim != 4:
        hint = " (flattened images? reshape them to (N, H, W))" if arr.ndim == 2 else ""
        raise DataError(
            f"{name}: expected a 3-D (N, H, W) or 4-D (N, C, H, W) / (N, H, W, C) array, "
            f"got ndim={arr.ndim} with shape {arr.shape}{hint}"
        )
    if expected_shape is not None:
        c, h, w = expected_shape
        if arr.shape[1:] == (c, h, w):
            return arr
        if arr.shape[1:] == (h, w, c):
            return arr.transpose(0, 3, 1, 2)
    if arr.shape[1] in (1, 3):
        return arr
    if arr.shape[-1] in (1, 3):
        return arr.transpose(0, 3, 1, 2)
    raise DataError(
        f"{name}: cannot tell the channel axis of shape {arr.shape}: expected (N, C, H, W) or "
        f"(N, H, W, C) with C in {{1, 3}}"
    )


def validate_images(
    arr,
    expected_shape: tuple[int, int, int] | None = None,
    name: str = "images",
) -> np.ndarray:
    """Return ``arr`` as float32 ``(N, C, H, W)`` in ``[0, 1]`` or raise a DataError saying why.

    uint8 is divided by 255 (the usual 8-bit storage); other dtypes must already be in [0, 1],
    because guessing a scale for floats would hide a preprocessing bug.
    """
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    if torch is not None and isinstance(arr, torch.Tensor):
        arr = arr.detach().cpu().numpy()
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * np.uint8(255)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise DataError(f"{name}: non-numeric dtype {arr.dtype}; images must be real numbers")
    if arr.size == 0:
        raise DataError(f"{name}: no images (empty array of shape {arr.shape})")
    arr = _to_nchw(arr, expected_shape, name)
    if expected_shape is not None and tuple(arr.shape[1:]) != tuple(expected_shape):
        raise DataError(
            f"{name}: image shape {tuple(arr.shape[1:])} does not match the expected "
            f"(C, H, W) {tuple(expected_shape)}"
        )
    if arr.dtype == np.uint8:
        out = np.ascontiguousarray(arr, dtype=np.float32)
        out *= np.float32(1.0 / 255.0)
        np.clip(out, 0.0, 1.0, out=out)  # 255 * (1/255) may round a hair above 1
        return out
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        if not finite.all():
            n_nan = int(np.isnan(arr).sum())
            n_inf = int(arr.size - finite.sum()) - n_nan
            raise DataError(
                f"{name}: {n_nan + n_inf} non-finite values ({n_nan} NaN, {n_inf} inf)"
            )
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -_RANGE_TOLERANCE or hi > 1.0 + _RANGE_TOLERANCE:
        hint = rescale_hint(lo, hi, bool(np.array_equal(arr, np.round(arr))))
        raise DataError(
            f"{name}: values out of [0, 1]: found min {lo:g}, max {hi:g}, expected [0, 1]"
            f"{'; ' + hint if hint else ''}"
        )
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if lo < 0 or hi > 1:
        np.clip(out, 0.0, 1.0, out=out)
    return out


def to_pythae_dataset(data: ImageData) -> BaseDataset:
    """Wrap as pythae's BaseDataset; unlabelled data gets -1 labels and ``has_labels=False``.

    pythae's trainers need a ``labels`` tensor even for unsupervised training, while the
    metrics need to know whether those labels mean anything.
    """
    import torch
    from pythae.data.datasets import BaseDataset

    if not isinstance(data, ImageData):
        raise DataError(f"to_pythae_dataset expects an ImageData, got {type(data).__name__}")
    x = torch.from_numpy(np.ascontiguousarray(data.images))
    if data.labels is None:
        y = torch.full((len(data),), -1, dtype=torch.long)
    else:
        y = torch.from_numpy(np.ascontiguousarray(data.labels))
    dataset = BaseDataset(x, y)
    dataset.has_labels = data.labels is not None
    dataset.name = data.name
    return dataset

"""Checks of the arrays callers hand to the ONNX runtime (numpy only).

Images go through the library-wide contract (:func:`infovaegan_plugin.inputs.prepare_images`);
this module checks the generator's codes: dense float blocks, categorical codes given as class
indices or one-hot/probability rows, a consistent batch size across them, and the name of a
continuous code to traverse. Every refusal is an
:class:`~infovaegan_plugin.inputs.InvalidInputError` whose message says what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from infovaegan_plugin.inputs import InvalidInputError, describe_dtype, non_finite_error

__all__ = [
    "batch_rows",
    "categorical_rows",
    "check_finite",
    "continuous_index",
    "dense_block",
    "describe_array_dtype",
]


def describe_array_dtype(dtype: np.dtype) -> str:
    """The dtype as the shared input contract names it in messages."""
    return describe_dtype(str(dtype), dtype.kind)


def check_finite(name: str, array: np.ndarray) -> None:
    """Refuse NaN/inf in a float array, counting each."""
    if array.dtype.kind != "f":
        return
    finite = np.isfinite(array)
    if not finite.all():
        n_nan = int(np.isnan(array).sum())
        raise non_finite_error(name, n_nan, int(array.size - finite.sum() - n_nan))


def dense_block(name: str, value: Any, width: int) -> np.ndarray:
    """``value`` as float32 ``(N, width)``; ``(N,)`` is accepted when ``width == 1``."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise InvalidInputError(
            f"{name} has dtype {describe_array_dtype(array.dtype)}; expected floats."
        )
    if array.ndim == 1 and width == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != width:
        raise InvalidInputError(f"{name} must have shape (N, {width}), got {array.shape}.")
    check_finite(name, array)
    return array.astype(np.float32)


def _check_probability_rows(rows: np.ndarray, sizes: Sequence[int]) -> None:
    start = 0
    for index, size in enumerate(sizes):
        block = rows[:, start : start + size]
        if block.size and (block.min() < -1e-6 or block.max() > 1 + 1e-6):
            raise InvalidInputError(
                f"categorical code {index}: one-hot/probability values must lie in "
                f"[0, 1], got min {block.min():.4g} and max {block.max():.4g}."
            )
        worst = float(np.abs(block.sum(axis=1) - 1).max()) if block.size else 0.0
        if worst > 1e-3:
            raise InvalidInputError(
                f"categorical code {index}: each row's {size} values must sum to 1 "
                f"(one-hot or probabilities); the worst row is off by {worst:.4g}."
            )
        start += size


def categorical_rows(categorical: Any, sizes: Sequence[int], n: int) -> np.ndarray:
    """Categorical codes as float32 one-hot/probability rows ``(N, sum(sizes))``.

    Accepted: class indices ``(N,)`` (one code) or ``(N, n_codes)``, a scalar class for all
    ``n`` rows, or one-hot/probability rows (each code's block in [0, 1], summing to 1).
    """
    total = sum(sizes)
    array = np.asarray(categorical)
    if array.dtype.kind not in "iufb":
        raise InvalidInputError(
            f"categorical has dtype {describe_array_dtype(array.dtype)}; expected class "
            "indices (int) or one-hot/probability rows (float)."
        )
    if array.ndim == 0:
        array = np.full((n, 1), array)
    if array.ndim == 2 and array.shape[1] == total:  # one-hot or probabilities
        check_finite("categorical", array)
        rows = array.astype(np.float32)
        _check_probability_rows(rows, sizes)
        return rows
    if array.ndim == 1 and len(sizes) == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != len(sizes):
        index_shape = "(N,)" if len(sizes) == 1 else f"(N, {len(sizes)})"
        raise InvalidInputError(
            f"categorical must be class indices of shape {index_shape} or one-hot rows of "
            f"shape (N, {total}); got {array.shape}."
        )
    if array.dtype.kind == "f":
        check_finite("categorical", array)
        if not np.array_equal(array, np.round(array)):
            raise InvalidInputError(
                "categorical class indices must be whole numbers; pass one-hot rows of "
                f"shape (N, {total}) for soft codes."
            )
    indices = array.astype(np.int64)
    rows = np.zeros((len(indices), total), dtype=np.float32)
    start = 0
    for index, size in enumerate(sizes):
        column = indices[:, index]
        if column.size and (column.min() < 0 or column.max() >= size):
            raise InvalidInputError(
                f"categorical code {index} has {size} classes (0..{size - 1}), got "
                f"indices from {column.min()} to {column.max()}."
            )
        rows[np.arange(len(column)), start + column] = 1.0
        start += size
    return rows


def continuous_index(code: str | int, continuous_dim: int) -> int:
    """The continuous dimension ``code`` names: an int, or ``"continuous:<i>"`` (also
    ``"continuous_<i>"``, ``"continuous<i>"``, ``"c<i>"``, and ``"continuous"`` for one code)."""
    if continuous_dim == 0:
        raise InvalidInputError("this model has no continuous code to traverse.")
    index: int | None = None
    if isinstance(code, (int, np.integer)) and not isinstance(code, bool):
        index = int(code)
    elif isinstance(code, str):
        name = code.strip()
        for prefix in ("continuous:", "continuous_", "continuous", "c"):
            tail = name[len(prefix):]
            if name.startswith(prefix) and tail.isdigit():
                index = int(tail)
                break
        if name == "continuous" and continuous_dim == 1:
            index = 0
    if index is None or not 0 <= index < continuous_dim:
        raise InvalidInputError(
            f"code must be a continuous dimension 0..{continuous_dim - 1} (an int or "
            f"'continuous:<i>'), got {code!r}."
        )
    return index


def _rows(value: Any) -> int | None:
    if value is None:
        return None
    shape = np.shape(value)
    return int(shape[0]) if shape else None


def batch_rows(n: int | None, **given: Any) -> int:
    """The one batch size that ``n`` and the given code arrays agree on.

    Scalars carry no batch size; only scalars given means one row. Nothing given at all is
    an error (``generate()`` needs ``n`` or a code).
    """
    counts = {name: rows for name, v in given.items() if (rows := _rows(v)) is not None}
    if n is not None:
        if int(n) < 0:
            raise InvalidInputError(f"n must be >= 0, got {n}.")
        counts = {"n": int(n), **counts}
    if not counts:
        if any(v is not None for v in given.values()):
            return 1  # only scalars given: one image
        raise InvalidInputError("generate() needs n or at least one of categorical, "
                                "continuous, noise.")
    if len(set(counts.values())) > 1:
        raise InvalidInputError(f"inconsistent batch sizes: {counts}.")
    return next(iter(counts.values()))

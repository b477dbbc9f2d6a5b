"""Checks of the arrays callers hand to the ONNX runtime (numpy only).

Images go through the library-wide contract (:func:`infovaegan_plugin.inputs.prepare_images`);
this module checks the generator's codes: dense float blocks, categorical codes given as class
indices or one-hot/probability rows, a consistent batch size across them, and the name of a
continuous code to traverse. Every refusal is an
:class:`~infovaegan_plugin.inputs.InvalidInputError` whose message says what was expected.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from infovaegan_plugin.inputs import InvalidInputError, describe_dtype, non_finite_error
from infovaegan_plugin.layout import LatentLayout

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


def _check_probability_rows(rows: np.ndarray, layout: LatentLayout) -> None:
    for index, block in enumerate(layout.split_categorical(rows)):
        if block.size and (block.min() < -1e-6 or block.max() > 1 + 1e-6):
            raise InvalidInputError(
                f"categorical code {index}: one-hot/probability values must lie in "
                f"[0, 1], got min {block.min():.4g} and max {block.max():.4g}."
            )
        worst = float(np.abs(block.sum(axis=1) - 1).max()) if block.size else 0.0
        if worst > 1e-3:
            raise InvalidInputError(
                f"categorical code {index}: each row's {block.shape[1]} values must sum to 1 "
                f"(one-hot or probabilities); the worst row is off by {worst:.4g}."
            )


def categorical_rows(categorical: Any, layout: LatentLayout, n: int) -> np.ndarray:
    """Categorical codes as float32 one-hot/probability rows ``(N, categorical_total)``.

    Accepted: class indices ``(N,)`` (one code) or ``(N, n_codes)``, a scalar class for all
    ``n`` rows, or one-hot/probability rows (each code's block in [0, 1], summing to 1).
    """
    total, n_codes = layout.categorical_total, layout.n_codes
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
        _check_probability_rows(rows, layout)
        return rows
    if array.ndim == 1 and n_codes == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != n_codes:
        index_shape = "(N,)" if n_codes == 1 else f"(N, {n_codes})"
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
    try:
        return layout.one_hot(array.astype(np.int64))
    except ValueError as exc:  # an index outside its code's classes
        raise InvalidInputError(str(exc)) from exc


def continuous_index(code: str | int, layout: LatentLayout) -> int:
    """The continuous dimension ``code`` names (see :meth:`LatentLayout.continuous_index`)."""
    try:
        return layout.continuous_index(code)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc


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

"""Codes -> images with an exported ``generator.onnx`` (numpy + onnxruntime only).

The :class:`~infovaegan_plugin.layout.LatentLayout` (block sizes, priors, noise scale) is read
from the file's metadata, so missing codes are sampled from the same priors the model was
trained with, by the same rules the rest of the library uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from infovaegan_plugin.deploy.input_checks import (
    batch_rows,
    categorical_rows,
    check_finite,
    continuous_index,
    dense_block,
)
from infovaegan_plugin.deploy.session import InvalidModelError, OnnxSession, read_layout
from infovaegan_plugin.inputs import InvalidInputError
from infovaegan_plugin.layout import DEFAULT_TRAVERSAL_VALUES

__all__ = ["OnnxGenerator"]


class OnnxGenerator(OnnxSession):
    """Codes -> images, from an exported ``generator.onnx``."""

    kind = "generator"

    def _check_graph(self) -> None:
        self.layout = read_layout(self)
        widths = self.layout.widths
        unknown = [name for name in self.input_names if name not in widths]
        if unknown:
            raise InvalidModelError(
                f"{self.path}: generator inputs must be among {list(widths)}, got {unknown}."
            )
        for name in self.input_names:
            dim = self._inputs[name].shape[-1]
            if isinstance(dim, int) and dim != widths[name]:
                raise InvalidModelError(
                    f"{self.path}: input {name!r} has width {dim} but the latent layout in "
                    f"the metadata says {widths[name]}."
                )

    # The layout's numbers under the names callers have used since 0.1.
    @property
    def latent_layout(self) -> list[dict[str, Any]]:
        return self.layout.to_blocks()

    @property
    def noise_dim(self) -> int:
        return self.layout.noise_dim

    @property
    def noise_std(self) -> float:
        return self.layout.noise_std

    @property
    def categorical_sizes(self) -> list[int]:
        return list(self.layout.categorical_sizes)

    @property
    def continuous_dim(self) -> int:
        return self.layout.continuous_dim

    @property
    def continuous_prior(self) -> str:
        return self.layout.continuous_prior

    def sample_codes(
        self,
        n: int | None = None,
        categorical: Any = None,
        continuous: Any = None,
        noise: Any = None,
        seed: int | None = 0,
        classes: Mapping[int, int] | None = None,
    ) -> dict[str, np.ndarray]:
        """The generator inputs :meth:`generate` would feed: ``noise``, one-hot
        ``categorical`` and ``continuous`` as float32 ``(N, width)`` arrays.

        Exposed so callers can keep the codes behind generated images (e.g. as labels) and
        so two generators (fp32 vs int8) can be compared on identical inputs.
        """
        layout = self.layout
        if classes and categorical is not None:
            raise InvalidInputError("give categorical or classes, not both.")
        n_rows = batch_rows(n, categorical=categorical, continuous=continuous, noise=noise)
        streams = layout.prior_streams(seed)
        if noise is None:
            noise_arr = layout.sample_noise(n_rows, streams["noise"])
        else:
            noise_arr = dense_block("noise", noise, layout.noise_dim)
        if categorical is None:
            categorical = layout.sample_categorical(n_rows, streams["categorical"])
            try:
                categorical = layout.with_classes(categorical, dict(classes or {}))
            except ValueError as exc:
                raise InvalidInputError(str(exc)) from exc
        cat_arr = categorical_rows(categorical, layout, n_rows)
        if continuous is None:
            cont_arr = layout.sample_continuous(n_rows, streams["continuous"])
        else:
            cont_arr = dense_block("continuous", continuous, layout.continuous_dim)
        return {"noise": noise_arr, "categorical": cat_arr, "continuous": cont_arr}

    def decode(self, codes: Mapping[str, np.ndarray]) -> np.ndarray:
        """Images from complete generator inputs (as returned by :meth:`sample_codes`)."""
        missing = [name for name in self.input_names if name not in codes]
        if missing:
            raise InvalidInputError(f"codes lack {missing}; give all of {self.input_names}.")
        widths = self.layout.widths
        feeds = {name: dense_block(name, codes[name], widths[name])
                 for name in self.input_names}
        if len({len(v) for v in feeds.values()}) > 1:
            raise InvalidInputError(
                f"inconsistent batch sizes: { {k: len(v) for k, v in feeds.items()} }."
            )
        images = self._run(feeds)[self.output_names[0]]
        return np.clip(images, 0.0, 1.0, out=images)

    def generate(
        self,
        n: int | None = None,
        categorical: Any = None,
        continuous: Any = None,
        noise: Any = None,
        seed: int | None = 0,
        classes: Mapping[int, int] | None = None,
    ) -> np.ndarray:
        """Images ``(N, C, H, W)`` float32 in ``[0, 1]`` from codes; missing codes are sampled.

        ``categorical``: class indices ``(N,)`` (one code) or ``(N, n_codes)``, a scalar class
        for every image, or one-hot/probability rows ``(N, sum of sizes)``. ``continuous``:
        ``(N, continuous_dim)``. ``noise``: ``(N, noise_dim)``. Missing blocks are drawn from
        the priors in the metadata with independent streams of ``seed``, so fixing a code
        leaves the sampled values of the others unchanged. ``classes`` (code -> class) fixes
        some categorical codes in every image and samples the rest (instead of
        ``categorical``).
        """
        return self.decode(self.sample_codes(n, categorical, continuous, noise, seed, classes))

    def traverse(
        self,
        code: str | int = 0,
        values: Sequence[float] | np.ndarray | None = None,
        fixed: Mapping[str, Any] | None = None,
        categorical_code: int = 0,
        seed: int | None = 0,
    ) -> np.ndarray:
        """Latent traversal grid ``(R, K, C, H, W)``: rows are the classes of one categorical
        code, columns the ``values`` of one continuous dimension ``code``.

        Everything else is held fixed across the grid: ``fixed`` may give ``"noise"``
        ``(noise_dim,)``, ``"continuous"`` ``(continuous_dim,)`` (the other dimensions'
        values, default 0) and ``"categorical"`` (class index per code, default 0; the row
        code is overridden). Noise not given is one draw from ``seed`` (the draw
        :meth:`generate` makes for the first image). ``values`` defaults to 7 points over the
        prior's traversal range (``layout.traversal_values``: [-1, 1] uniform, [-2, 2] normal).
        """
        layout = self.layout
        dim = continuous_index(code, layout)
        fixed = dict(fixed or {})
        unknown = set(fixed) - {"noise", "continuous", "categorical"}
        if unknown:
            raise InvalidInputError(
                f"fixed accepts 'noise', 'continuous', 'categorical'; got {sorted(unknown)}."
            )
        if values is None:
            values = layout.traversal_values(DEFAULT_TRAVERSAL_VALUES)
        column_values = np.asarray(values, dtype=np.float64).reshape(-1)
        check_finite("values", column_values)
        if len(column_values) == 0:
            raise InvalidInputError("values must hold at least one value.")
        try:
            n_rows = layout.check_categorical_code(categorical_code)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc
        base_cat = np.asarray(fixed.get("categorical", np.zeros(layout.n_codes, dtype=np.int64)))
        if base_cat.shape != (layout.n_codes,):
            raise InvalidInputError(
                f"fixed['categorical'] must hold {layout.n_codes} class indices, "
                f"got {base_cat.shape}."
            )
        base_cont = fixed.get("continuous", np.zeros(layout.continuous_dim))
        base_cont = dense_block("fixed['continuous']", np.reshape(base_cont, (1, -1)),
                                layout.continuous_dim)[0]
        if "noise" in fixed:
            base_noise = dense_block("fixed['noise']", np.reshape(fixed["noise"], (1, -1)),
                                     layout.noise_dim)[0]
        else:
            base_noise = layout.sample_noise(1, layout.prior_streams(seed)["noise"])[0]
        grid = layout.traversal_grid(dim, column_values, base_noise, categorical_code,
                                     base_cat, base_cont)
        images = self.generate(categorical=grid["categorical_index"],
                               continuous=grid["continuous"], noise=grid["noise"])
        return images.reshape(n_rows, len(column_values), *images.shape[1:])

"""Codes -> images with an exported ``generator.onnx`` (numpy + onnxruntime only).

The latent layout (block sizes, priors, noise scale) is read from the file's metadata, so
missing codes are sampled from the same priors the model was trained with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.input_checks import (
    batch_rows,
    categorical_rows,
    check_finite,
    continuous_index,
    dense_block,
)
from infovaegan_plugin.deploy.session import InvalidModelError, OnnxSession
from infovaegan_plugin.inputs import InvalidInputError

__all__ = ["OnnxGenerator"]


class OnnxGenerator(OnnxSession):
    """Codes -> images, from an exported ``generator.onnx``."""

    kind = "generator"

    def _check_graph(self) -> None:
        try:
            layout = md.validate_latent_layout(self.metadata.get(md.LATENT_LAYOUT))
        except ValueError as exc:
            raise InvalidModelError(f"{self.path}: {exc}") from exc
        self.latent_layout: list[dict[str, Any]] = layout
        self.noise_dim = sum(b["size"] for b in layout if b["kind"] == "noise")
        self.noise_std = next(
            (float(b.get("std", 1.0)) for b in layout if b["kind"] == "noise"), 1.0
        )
        self.categorical_sizes = [b["size"] for b in layout if b["kind"] == "categorical"]
        self.continuous_dim = sum(b["size"] for b in layout if b["kind"] == "continuous")
        priors = [b["prior"] for b in layout if b["kind"] == "continuous"]
        self.continuous_prior = priors[0] if priors else "uniform"
        widths = {
            "noise": self.noise_dim,
            "categorical": sum(self.categorical_sizes),
            "continuous": self.continuous_dim,
        }
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
        self._widths = widths

    def sample_codes(
        self,
        n: int | None = None,
        categorical: Any = None,
        continuous: Any = None,
        noise: Any = None,
        seed: int | None = 0,
    ) -> dict[str, np.ndarray]:
        """The generator inputs :meth:`generate` would feed: ``noise``, one-hot
        ``categorical`` and ``continuous`` as float32 ``(N, width)`` arrays.

        Exposed so callers can keep the codes behind generated images (e.g. as labels) and
        so two generators (fp32 vs int8) can be compared on identical inputs.
        """
        n_rows = batch_rows(n, categorical=categorical, continuous=continuous, noise=noise)
        noise_rng, cat_rng, cont_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
        )
        if noise is None:
            noise_arr = noise_rng.standard_normal((n_rows, self.noise_dim)) * self.noise_std
            noise_arr = noise_arr.astype(np.float32)
        else:
            noise_arr = dense_block("noise", noise, self.noise_dim)
        if categorical is None:
            indices = np.stack(
                [cat_rng.integers(0, k, size=n_rows) for k in self.categorical_sizes], axis=1
            ) if self.categorical_sizes else np.zeros((n_rows, 0), dtype=np.int64)
            cat_arr = categorical_rows(indices, self.categorical_sizes, n_rows)
        else:
            cat_arr = categorical_rows(categorical, self.categorical_sizes, n_rows)
        if continuous is None:
            shape = (n_rows, self.continuous_dim)
            sampled = (
                cont_rng.uniform(-1.0, 1.0, size=shape)
                if self.continuous_prior == "uniform"
                else cont_rng.standard_normal(shape)
            )
            cont_arr = sampled.astype(np.float32)
        else:
            cont_arr = dense_block("continuous", continuous, self.continuous_dim)
        return {"noise": noise_arr, "categorical": cat_arr, "continuous": cont_arr}

    def decode(self, codes: Mapping[str, np.ndarray]) -> np.ndarray:
        """Images from complete generator inputs (as returned by :meth:`sample_codes`)."""
        missing = [name for name in self.input_names if name not in codes]
        if missing:
            raise InvalidInputError(f"codes lack {missing}; give all of {self.input_names}.")
        feeds = {name: dense_block(name, codes[name], self._widths[name])
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
    ) -> np.ndarray:
        """Images ``(N, C, H, W)`` float32 in ``[0, 1]`` from codes; missing codes are sampled.

        ``categorical``: class indices ``(N,)`` (one code) or ``(N, n_codes)``, a scalar class
        for every image, or one-hot/probability rows ``(N, sum of sizes)``. ``continuous``:
        ``(N, continuous_dim)``. ``noise``: ``(N, noise_dim)``. Missing blocks are drawn from
        the priors in the metadata with independent streams of ``seed``, so fixing a code
        leaves the sampled values of the others unchanged.
        """
        return self.decode(self.sample_codes(n, categorical, continuous, noise, seed))

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
        code is overridden). Noise not given is one draw from ``seed``. ``values`` defaults
        to 7 points over the prior's typical range ([-1, 1] uniform, [-2, 2] normal).
        """
        dim = continuous_index(code, self.continuous_dim)
        fixed = dict(fixed or {})
        unknown = set(fixed) - {"noise", "continuous", "categorical"}
        if unknown:
            raise InvalidInputError(
                f"fixed accepts 'noise', 'continuous', 'categorical'; got {sorted(unknown)}."
            )
        if values is None:
            span = 1.0 if self.continuous_prior == "uniform" else 2.0
            values = np.linspace(-span, span, 7)
        column_values = np.asarray(values, dtype=np.float64).reshape(-1)
        check_finite("values", column_values)
        n_cols = len(column_values)
        if n_cols == 0:
            raise InvalidInputError("values must hold at least one value.")

        n_codes = len(self.categorical_sizes)
        if n_codes and not 0 <= categorical_code < n_codes:
            raise InvalidInputError(
                f"categorical_code must be 0..{n_codes - 1}, got {categorical_code}."
            )
        n_rows = self.categorical_sizes[categorical_code] if n_codes else 1
        base_cat = np.asarray(fixed.get("categorical", np.zeros(n_codes, dtype=np.int64)))
        if base_cat.shape != (n_codes,):
            raise InvalidInputError(
                f"fixed['categorical'] must hold {n_codes} class indices, got {base_cat.shape}."
            )
        base_cont = fixed.get("continuous", np.zeros(self.continuous_dim))
        base_cont = dense_block("fixed['continuous']", np.reshape(base_cont, (1, -1)),
                                self.continuous_dim)[0]
        if "noise" in fixed:
            base_noise = dense_block("fixed['noise']", np.reshape(fixed["noise"], (1, -1)),
                                     self.noise_dim)[0]
        else:
            rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
            base_noise = (rng.standard_normal(self.noise_dim) * self.noise_std).astype(np.float32)

        total = n_rows * n_cols
        categorical = np.tile(base_cat, (total, 1))
        if n_codes:
            categorical[:, categorical_code] = np.repeat(np.arange(n_rows), n_cols)
        continuous = np.tile(base_cont, (total, 1))
        continuous[:, dim] = np.tile(column_values, n_rows)
        noise = np.tile(base_noise, (total, 1))
        images = self.generate(categorical=categorical, continuous=continuous, noise=noise)
        return images.reshape(n_rows, n_cols, *images.shape[1:])

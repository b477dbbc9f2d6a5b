"""dSprites as a :class:`GroundTruthData` source for the disentanglement metrics.

The metrics draw factor combinations anywhere on the 737,280-point grid, so observations are
rendered on demand (:func:`infovaegan_plugin.data.render`) instead of indexing a stored set.
The colour factor has a single value; as in disentanglement_lib it is not a factor here,
leaving shape, scale, orientation, posX and posY.
"""

from __future__ import annotations

import numpy as np

from ..data.dsprites import latents_names, latents_sizes, render

#: Factors the metrics see (every dSprites factor with more than one value).
FACTOR_COLUMNS: tuple[int, ...] = tuple(i for i, s in enumerate(latents_sizes) if s > 1)


class DSpritesGroundTruth:
    """Uniform factor sampling and procedural rendering, ``(N, 1, 64, 64)`` float32 in [0, 1]."""

    def __init__(self, supersample: int = 1):
        self.supersample = supersample
        self.factors_num_values: list[int] = [int(latents_sizes[i]) for i in FACTOR_COLUMNS]
        self.factor_names: tuple[str, ...] = tuple(latents_names[i] for i in FACTOR_COLUMNS)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack(
            [rng.integers(0, k, size=n) for k in self.factors_num_values], axis=1
        ).astype(np.int64)

    def full_classes(self, factors: np.ndarray) -> np.ndarray:
        """The six-column class rows of the original grid (constant factors at 0)."""
        factors = np.asarray(factors, dtype=np.int64)
        classes = np.zeros((factors.shape[0], len(latents_sizes)), dtype=np.int64)
        classes[:, list(FACTOR_COLUMNS)] = factors
        return classes

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Rendering is deterministic, so ``rng`` is unused (one image per factor row)."""
        return render(self.full_classes(factors), supersample=self.supersample)

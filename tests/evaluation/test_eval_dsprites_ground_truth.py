"""The dSprites GroundTruthData adapter: factor grid without colour, rendering on demand."""

from __future__ import annotations

import numpy as np

from infovaegan_plugin.data import render
from infovaegan_plugin.evaluation import DSpritesGroundTruth
from infovaegan_plugin.metrics import GroundTruthData


def test_factors_exclude_the_constant_colour():
    truth = DSpritesGroundTruth()
    assert isinstance(truth, GroundTruthData)
    assert truth.factors_num_values == [3, 6, 40, 32, 32]
    assert truth.factor_names == ("shape", "scale", "orientation", "posX", "posY")


def test_sampled_factors_render_as_the_loader_does():
    truth = DSpritesGroundTruth()
    rng = np.random.default_rng(0)
    factors = truth.sample_factors(50, rng)
    assert factors.shape == (50, 5) and factors.dtype == np.int64
    assert (factors >= 0).all() and (factors < np.array(truth.factors_num_values)).all()
    images = truth.sample_observations_from_factors(factors[:6], rng)
    classes = np.column_stack([np.zeros(6, dtype=np.int64), factors[:6]])
    np.testing.assert_array_equal(images, render(classes))
    assert images.shape == (6, 1, 64, 64) and images.dtype == np.float32

"""Generator purity on stand-in models whose classes are known by construction."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from infovaegan_plugin.metrics import UntrustworthyClassifierError
from infovaegan_plugin.metrics.purity import generator_purity


class Drawn(nn.Module):
    """A 'model' that writes its category index (permuted) into pixel 0 of each image."""

    def __init__(self, k: int = 4, permutation=(2, 0, 3, 1), mix: bool = False):
        super().__init__()
        self.model_config = type("C", (), {"categorical_dims": [k]})()
        self.permutation = torch.tensor(permutation)
        self.mix = mix

    def sample_prior(self, n, generator=None):
        codes = type("Codes", (), {})()
        codes.categorical_index = torch.zeros(n, 1, dtype=torch.long)
        codes.noise = torch.rand(n, 3, generator=generator)
        codes.continuous = torch.rand(n, 1, generator=generator)
        return codes

    def generate(self, n, categorical, noise, continuous, generator=None):
        self.sample_prior(n, generator)  # as InfoVAEGAN.generate: a prior draw, then replaced
        images = torch.zeros(n, 1, 4, 4)
        cls = self.permutation[categorical[:, 0]]
        if self.mix:  # half the samples of every category draw a random class
            cls = torch.where(noise[:, 0] < 0.5, cls, (noise[:, 1] * 4).long())
        images[:, 0, 0, 0] = cls.float()
        return images


class ReadPixel(nn.Module):
    held_out_accuracy = 1.0

    def forward(self, x):
        return nn.functional.one_hot(x[:, 0, 0, 0].long(), 4).float()


def test_a_pure_generator_scores_one_whatever_the_permutation():
    assert generator_purity(Drawn(), ReadPixel(), per_category=25) == 1.0


def test_a_mixing_generator_scores_lower():
    purity = generator_purity(Drawn(mix=True), ReadPixel(), per_category=200)
    assert 0.5 < purity < 0.75  # half right + a quarter of the random half


def test_purity_needs_a_categorical_code():
    model = Drawn()
    model.model_config.categorical_dims = []
    with pytest.raises(ValueError, match="categorical code"):
        generator_purity(model, ReadPixel())


def test_purity_is_refused_with_a_weak_or_unmeasured_classifier():
    weak = ReadPixel()
    weak.held_out_accuracy = 0.6
    with pytest.raises(UntrustworthyClassifierError, match="generator purity refused.*0.6000"):
        generator_purity(Drawn(), weak)
    weak.held_out_accuracy = None
    with pytest.raises(UntrustworthyClassifierError, match="no held-out accuracy"):
        generator_purity(Drawn(), weak)


def test_purity_leaves_the_global_random_stream_as_it_found_it():
    """Purity is an epoch probe of training runs: a draw from torch's global generator
    would change every later step of the run it measures."""
    torch.manual_seed(11)
    before = torch.get_rng_state()
    generator_purity(Drawn(), ReadPixel(), per_category=8, seed=3)
    assert torch.equal(torch.get_rng_state(), before)

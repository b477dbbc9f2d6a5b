"""StructuredPriorSampler: what it feeds the generator (shapes, one-hot codes, prior ranges),
batching, seeding and saving."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from infovaegan_plugin.samplers import StructuredPriorSampler, StructuredPriorSamplerConfig

CATEGORICAL = [3, 4]


@pytest.fixture
def model(make_model):
    return make_model(categorical_dims=CATEGORICAL, continuous_dim=2).eval()


@pytest.fixture
def decoded(model, monkeypatch):
    """Records every (noise, categorical, continuous) batch the sampler makes the model decode."""
    calls = []
    decode = model.decode

    def spy(noise, categorical, continuous):
        calls.append((noise.clone(), categorical.clone(), continuous.clone()))
        return decode(noise, categorical, continuous)

    monkeypatch.setattr(model, "decode", spy)
    return calls


def _blocks(categorical):
    return torch.split(categorical, CATEGORICAL, dim=1)


def test_samples_images_from_the_structured_prior(model, decoded):
    images = StructuredPriorSampler(model, StructuredPriorSamplerConfig(seed=0)).sample(200)
    assert images.shape == (200, 1, 8, 8)
    assert images.min() >= 0 and images.max() <= 1
    noise, categorical, continuous = (torch.cat(parts) for parts in zip(*decoded))
    assert noise.shape == (200, model.model_config.noise_dim)
    assert categorical.shape == (200, sum(CATEGORICAL)) and continuous.shape == (200, 2)
    for size, block in zip(CATEGORICAL, _blocks(categorical)):
        # one-hot per code, and every class of the code is drawn
        assert set(block.unique().tolist()) == {0.0, 1.0}
        assert torch.equal(block.sum(dim=1), torch.ones(200))
        assert set(block.argmax(dim=1).tolist()) == set(range(size))
    # the default continuous prior is uniform on [-1, 1]
    assert continuous.min() >= -1 and continuous.max() <= 1
    assert continuous.min() < -0.8 and continuous.max() > 0.8


def test_a_normal_continuous_prior_reaches_beyond_one(make_model, monkeypatch):
    model = make_model(continuous_prior="normal").eval()
    seen = []
    decode = model.decode

    def spy(noise, categorical, continuous):
        seen.append(continuous)
        return decode(noise, categorical, continuous)

    monkeypatch.setattr(model, "decode", spy)
    StructuredPriorSampler(model, StructuredPriorSamplerConfig(seed=0)).sample(500)
    continuous = torch.cat(seen)
    assert continuous.abs().max() > 1.5
    assert continuous.mean().abs() < 0.2 and (continuous.std() - 1).abs() < 0.15


def test_fixed_categorical_values_are_one_hot_in_every_sample(model, decoded):
    config = StructuredPriorSamplerConfig(categorical=[2, 1], seed=0)
    StructuredPriorSampler(model, config).sample(10, batch_size=4)
    assert [len(call[0]) for call in decoded] == [4, 4, 2]  # batches of batch_size
    categorical = torch.cat([call[1] for call in decoded])
    first, second = _blocks(categorical)
    assert torch.equal(first, torch.tensor([[0.0, 0.0, 1.0]]).expand(10, -1))
    assert torch.equal(second, torch.tensor([[0.0, 1.0, 0.0, 0.0]]).expand(10, -1))


def test_seeded_samples_repeat_and_differ_across_seeds(model):
    def sample(seed):
        return StructuredPriorSampler(model, StructuredPriorSamplerConfig(seed=seed)).sample(6)

    assert torch.equal(sample(1), sample(1))
    assert not torch.equal(sample(1), sample(2))


def test_saves_one_png_per_sample_and_the_config(model, tmp_path):
    sampler = StructuredPriorSampler(model, StructuredPriorSamplerConfig(seed=0))
    out = sampler.sample(3, output_dir=str(tmp_path), return_gen=False, save_sampler_config=True)
    assert out is None
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["00000000.png", "00000001.png", "00000002.png"]
    assert Image.open(tmp_path / pngs[0]).size == (8, 8)
    assert (tmp_path / "sampler_config.json").is_file()


def test_only_infovaegan_models_are_accepted():
    with pytest.raises(TypeError, match="samples InfoVAEGAN"):
        StructuredPriorSampler(torch.nn.Linear(2, 2))


def test_zero_samples_give_an_empty_batch(model):
    images = StructuredPriorSampler(model).sample(0)
    assert images.shape == (0, 1, 8, 8)

"""The adapter layer: every model answers represent / cluster / reconstruct / sample /
traversal with the same shapes and value ranges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infovaegan_plugin.evaluation import (
    InfoVAEGANAdapter,
    PythaeVAEAdapter,
    adapter_for,
    build_baseline,
)


@pytest.fixture
def images(digits):
    return digits.images[:40]


def test_infovaegan_adapter_uses_the_code_without_noise(make_model, images):
    model = make_model()
    adapter = adapter_for(model)
    assert isinstance(adapter, InfoVAEGANAdapter)
    cfg = model.model_config
    features = adapter.represent(images)
    assert features.shape == (40, cfg.code_dim)  # no noise part even though infer_noise
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(images))
    np.testing.assert_allclose(features[:, : cfg.categorical_total],
                               expected.categorical_probs.numpy(), atol=1e-6)
    ids = adapter.cluster(images, n_clusters=10)
    assert ids.shape == (40,) and ids.min() >= 0 and ids.max() < cfg.categorical_dims[0]


def test_infovaegan_adapter_images_and_traversal(make_model, images):
    adapter = adapter_for(make_model(continuous_dim=2))
    with torch.no_grad():
        recon = adapter.reconstruct(torch.from_numpy(images))
    assert recon.shape == images.shape
    samples = adapter.sample(7, seed=3)
    assert samples.shape == (7, 1, 8, 8) and 0 <= samples.min() and samples.max() <= 1
    assert torch.equal(samples, adapter.sample(7, seed=3))  # seeded
    grid, ncol, rows = adapter.traversal(images, num_values=5)
    assert ncol == 5 and len(rows) == 2 * 10 and grid.shape[0] == 2 * 10 * 5


def test_pythae_adapter_is_deterministic_and_ranks_dimensions(config_factory, images):
    torch.manual_seed(0)
    model = build_baseline("beta_vae", config_factory())
    adapter = adapter_for(model)
    assert isinstance(adapter, PythaeVAEAdapter)
    latent = model.model_config.latent_dim
    assert adapter.represent(images).shape == (40, latent)
    x = torch.from_numpy(images)
    with torch.no_grad():
        assert torch.equal(adapter.reconstruct(x), adapter.reconstruct(x))  # posterior mean
    ids = adapter.cluster(images, n_clusters=4, seed=0)
    assert set(np.unique(ids)) <= {0, 1, 2, 3} and np.unique(ids).size == 4  # k-means, k=4
    order = adapter.active_dimensions(images)
    assert sorted(order.tolist()) == list(range(latent))
    grid, ncol, rows = adapter.traversal(images, num_values=6)
    assert ncol == 6 and len(rows) == min(10, latent) and grid.shape == (len(rows) * 6, 1, 8, 8)
    assert rows[0] == f"z{order[0]}"


def test_adapter_for_rejects_models_it_cannot_score():
    with pytest.raises(TypeError, match="cannot evaluate a Linear"):
        adapter_for(torch.nn.Linear(2, 2))

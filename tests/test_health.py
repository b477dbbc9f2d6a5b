"""Training health: the collapse detector on constructed runs."""

from __future__ import annotations

import numpy as np
import torch

from infovaegan_plugin import InfoVAEGANTrainer, InfoVAEGANTrainerConfig
from infovaegan_plugin.health import HealthMonitor, category_shares, sample_spread


def test_discriminator_win_needs_a_stretch():
    monitor = HealthMonitor(patience=2)
    assert monitor.check({"d_saturated_fraction": 0.9}) == []
    second = monitor.check({"d_saturated_fraction": 0.95})
    assert len(second) == 1 and "discriminator wins" in second[0] and "learning rate" in second[0]
    assert monitor.check({"d_saturated_fraction": 0.1}) == []  # the streak resets


def test_a_dominant_discriminator_is_named_without_saturated_steps():
    """dSprites seed 0: accuracies 0.97/1.00 and 0.98/1.00 while under half the steps were
    fully saturated: still a discriminator that wins."""
    monitor = HealthMonitor()
    epoch = {"d_saturated_fraction": 0.27, "d_real_accuracy": 0.969, "d_fake_accuracy": 1.0}
    assert monitor.check(epoch) == []
    warning = monitor.check({**epoch, "d_saturated_fraction": 0.46, "d_real_accuracy": 0.984})
    assert len(warning) == 1 and "mean accuracy real 0.98, fake 1.00" in warning[0]
    healthy = {"d_saturated_fraction": 0.0, "d_real_accuracy": 0.75, "d_fake_accuracy": 0.76}
    assert HealthMonitor().check(healthy) == HealthMonitor(patience=1).check(healthy) == []


def test_sample_spread_and_category_shares():
    rng = np.random.default_rng(0)
    real = rng.random((100, 1, 8, 8))
    assert sample_spread(real, real) == 1.0
    assert sample_spread(np.repeat(real[:1], 50, axis=0), real) < 1e-12
    shares = category_shares(np.array([0, 0, 1, 1, 1, 1]), 3)
    np.testing.assert_allclose(shares, [1.0, 2.0, 0.0])


def test_healthy_metrics_raise_no_warning():
    metrics = {"d_saturated_fraction": 0.0, "sample_spread_ratio": 0.9, "min_category_share": 0.8}
    assert HealthMonitor().check(metrics) == []


def test_a_collapsed_generator_is_reported_in_the_history(make_model, digits_datasets, tmp_path):
    """A generator whose last layer is zeroed draws one constant image: the epoch's history
    must say so, and say what to try."""
    model = make_model()
    config = InfoVAEGANTrainerConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=32, num_epochs=1,
        generator_learning_rate=1e-12, mutual_information_learning_rate=1e-12,
    )
    trainer = InfoVAEGANTrainer(model, *digits_datasets, training_config=config)
    last = [m for m in model.generator.modules() if isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Conv2d))][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    trainer.train()
    entry = trainer.history[-1]
    assert entry["sample_spread_ratio"] < 1e-3
    assert any("generator collapse" in w and "Try" in w for w in entry["health_warnings"])
    assert 0.0 <= entry["d_saturated_fraction"] <= 1.0

"""Switches that keep a GAN on binary images (dSprites) from losing to its discriminator:
instance noise on what the discriminator judges, spectral normalisation of its layers."""

import pytest
import torch

from infovaegan_plugin import InfoVAEGANConfig
from infovaegan_plugin.models.infovaegan import InfoVAEGAN


def test_instance_noise_only_in_training(make_model):
    model = make_model(instance_noise_std=0.5)
    images = torch.zeros(64, 1, 8, 8)
    model.train()
    noisy = model.judged(images)
    assert noisy.shape == images.shape
    assert noisy.std().item() == pytest.approx(0.5, rel=0.05)
    model.eval()
    assert model.judged(images) is images
    model.train()
    assert make_model().judged(images) is images  # 0 (the default) switches it off


def test_instance_noise_reaches_the_discriminator_stage(make_model):
    """Same weights and prior sample: the discriminator's loss changes only by the noise."""
    torch.manual_seed(0)
    real = torch.rand(16, 1, 8, 8)
    losses = []
    for std in (0.0, 1.0):
        model = make_model(instance_noise_std=std)
        torch.manual_seed(1)
        batch = model.loss_batch(real)
        losses.append(model.losses(batch, ("discriminator",))["discriminator"].item())
    assert losses[0] != pytest.approx(losses[1], abs=1e-4)


def test_negative_instance_noise_is_refused():
    with pytest.raises(ValueError, match="instance_noise_std must be >= 0"):
        InfoVAEGANConfig(input_dim=(1, 8, 8), instance_noise_std=-0.1)


def test_spectral_norm_bounds_discriminator_layers(make_model):
    model = make_model(discriminator_spectral_norm=True)
    layers = [m for m in model.discriminator.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    assert not any(hasattr(m, "parametrizations") for m in model.generator.modules())
    model.train()
    with torch.no_grad():
        for _ in range(30):  # power iterations run in training forward passes
            model.discriminator(torch.rand(8, 1, 8, 8))
    for m in layers:
        w = m.weight.flatten(1)
        assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=0.02)


def test_spectral_norm_model_saves_weights_only_and_reloads(make_model, tmp_path):
    model = make_model(discriminator_spectral_norm=True, share_discriminator_trunk=True)
    model.eval()
    model.save(str(tmp_path))
    state = torch.load(tmp_path / "model.pt", weights_only=True)["model_state_dict"]
    assert any(k.endswith("parametrizations.weight.original") for k in state)
    again = InfoVAEGAN.load_from_folder(str(tmp_path)).eval()
    x = torch.rand(5, 1, 8, 8)
    torch.testing.assert_close(again.embed(x), model.embed(x))


def test_instance_noise_anneals_linearly_to_zero(make_model):
    model = make_model(instance_noise_std=0.4, instance_noise_anneal_epochs=2)
    assert [model.instance_noise_std_at(e) for e in (1, 2, 3, 4)] == pytest.approx(
        [0.4, 0.2, 0.0, 0.0]
    )
    constant = make_model(instance_noise_std=0.4)
    assert [constant.instance_noise_std_at(e) for e in (1, 5, 50)] == [0.4, 0.4, 0.4]


def test_annealed_noise_follows_the_training_epoch(make_model):
    model = make_model(instance_noise_std=0.5, instance_noise_anneal_epochs=1)
    images = torch.zeros(64, 1, 8, 8)
    model.train()
    assert model.judged(images).std().item() == pytest.approx(0.5, rel=0.05)
    model.training_epoch = 2
    assert model.judged(images) is images  # annealed away


def test_negative_anneal_epochs_are_refused():
    with pytest.raises(ValueError, match="instance_noise_anneal_epochs must be >= 0"):
        InfoVAEGANConfig(input_dim=(1, 8, 8), instance_noise_anneal_epochs=-1)

"""IMSAT's self-augmented training of the categorical code on real images (on by default
where the encoder is a head on the discriminator's trunk)."""

import math

import pytest
import torch

from infovaegan_plugin import InfoVAEGANConfig, InfoVAEGANTrainerConfig
from infovaegan_plugin.models.infovaegan import augment, infovaegan_model
from infovaegan_plugin.models.infovaegan.infovaegan_config import SELF_AUGMENTATION_DEFAULT
from infovaegan_plugin.trainers import InfoVAEGANTrainer


def test_random_affine_keeps_shape_and_mass_and_is_seeded():
    images = torch.zeros(4, 1, 28, 28)
    images[:, :, 10:18, 12:16] = 1.0  # a bar in the middle: stays inside under small moves
    moved = augment.random_affine(images, torch.Generator().manual_seed(0))
    again = augment.random_affine(images, torch.Generator().manual_seed(0))
    assert moved.shape == images.shape and moved.dtype == images.dtype
    torch.testing.assert_close(moved, again)
    assert not torch.equal(moved, images)
    # rotation/shift/scale by at most 15 degrees, 10% and 10%: the ink moves, little is lost
    mass = moved.sum((1, 2, 3)) / images.sum((1, 2, 3))
    assert ((mass > 0.75) & (mass < 1.3)).all()


def test_random_affine_ranges_are_arguments():
    images = torch.zeros(64, 1, 28, 28)
    images[:, :, 8:20, 13:15] = 1.0  # a vertical bar
    still = augment.random_affine(images, torch.Generator().manual_seed(0), max_rotation_deg=0.0,
                                  max_shift=0.0, max_scale_change=0.0)
    torch.testing.assert_close(still, images, atol=1e-5, rtol=0)  # no range: no change
    turned = augment.random_affine(images, torch.Generator().manual_seed(0), max_rotation_deg=180.0,
                                   max_shift=0.0, max_scale_change=0.0)
    # a bar turned by up to 180 degrees: some end up nearly horizontal (more columns lit)
    columns = (turned[:, 0].amax(1) > 0.5).sum(1)
    assert columns.max() >= 8 and (columns <= 3).any()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("self_augmentation_rotation_deg", 200.0, r"in \[0, 180\], got 200.0"),
    ("self_augmentation_shift", 1.0, r"self_augmentation_shift must be in \[0, 1\), got 1.0"),
    ("self_augmentation_scale", -0.1, r"self_augmentation_scale must be in \[0, 1\)"),
])
def test_self_augmentation_ranges_are_validated(field, value, message):
    with pytest.raises(ValueError, match=message):
        InfoVAEGANConfig(input_dim=(1, 8, 8), **{field: value})


def test_the_model_passes_its_ranges_to_the_augmentation(make_model, monkeypatch):
    model = make_model(share_discriminator_trunk=True, self_augmentation_weight=1.0,
                       self_augmentation_rotation_deg=90.0, self_augmentation_shift=0.25,
                       self_augmentation_scale=0.2)
    seen = {}

    def record(x, **ranges):
        seen.update(ranges)
        return x

    monkeypatch.setattr(infovaegan_model, "random_affine", record)
    real = torch.rand(8, 1, 8, 8)
    model._self_augmentation_terms(real, model.discriminator.trunk(real))
    assert seen == {"max_rotation_deg": 90.0, "max_shift": 0.25, "max_scale_change": 0.2}


def test_self_augmentation_terms_values(make_model, monkeypatch):
    model = make_model(share_discriminator_trunk=True, self_augmentation_weight=2.0,
                       cluster_balance_weight=0.5)
    real = torch.rand(16, 1, 8, 8)
    # an identity "augmentation" leaves nothing to be consistent about
    monkeypatch.setattr(infovaegan_model, "random_affine", lambda x, **_: x)
    model.eval()  # the same BatchNorm statistics for both passes
    features = model.discriminator.trunk(real)
    terms = model._self_augmentation_terms(real, features)
    assert terms["sat_consistency"].item() == pytest.approx(0.0, abs=1e-6)
    # balance is log K - H(mean q): >= 0, and the total weighs it as configured
    probs = torch.softmax(model.encode(real).categorical_logits, 1).mean(0)
    expected = math.log(probs.numel()) + (probs * probs.log()).sum().item()
    assert terms["sat_balance"].item() == pytest.approx(expected, abs=1e-5)
    assert terms["self_augmentation"].item() == pytest.approx(2.0 * 0.5 * expected, abs=1e-5)


def test_self_augmentation_needs_the_shared_trunk():
    with pytest.raises(ValueError, match="share_discriminator_trunk"):
        InfoVAEGANConfig(
            input_dim=(1, 8, 8), self_augmentation_weight=1.0, share_discriminator_trunk=False
        )


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, SELF_AUGMENTATION_DEFAULT),  # InfoVAEGAN: a head on the discriminator's trunk
    ({"variant": "infogan"}, SELF_AUGMENTATION_DEFAULT),
    ({"variant": "ali"}, 0.0),  # a separate encoder: nothing for the term to train
    ({"variant": "custom", "share_discriminator_trunk": False}, 0.0),
    ({"categorical_dims": []}, 0.0),  # no category to keep consistent
    ({"self_augmentation_weight": 0.0}, 0.0),  # an explicit value wins
    ({"self_augmentation_weight": 2.5}, 2.5),
])
def test_self_augmentation_default_follows_the_encoder(kwargs, expected):
    assert SELF_AUGMENTATION_DEFAULT == 1.0
    assert InfoVAEGANConfig(input_dim=(1, 8, 8), **kwargs).self_augmentation_weight == expected


def test_saved_weight_survives_a_round_trip(tmp_path):
    """A config saved with the term off (every model saved before it became the default)
    loads with it off; the resolved default is written out, so it does not change on load."""
    for weight in (0.0, None):
        config = InfoVAEGANConfig(input_dim=(1, 8, 8), self_augmentation_weight=weight)
        path = tmp_path / "model_config.json"
        config.save_json(str(tmp_path), "model_config")
        loaded = InfoVAEGANConfig.from_json_file(str(path))
        assert loaded.self_augmentation_weight == config.self_augmentation_weight
        assert loaded.self_augmentation_weight == (0.0 if weight == 0.0 else 1.0)


def test_self_augmentation_trains_q_with_the_discriminator(make_model, digits_datasets, tmp_path):
    """The term is part of D's loss: a D step moves the trunk and Q's heads, never the
    generator; switching it on changes what that step does."""
    def after_d_step(weight: float) -> dict[str, torch.Tensor]:
        model = make_model(variant="infogan", share_discriminator_trunk=True,
                           self_augmentation_weight=weight)
        config = InfoVAEGANTrainerConfig(output_dir=str(tmp_path), per_device_train_batch_size=16)
        trainer = InfoVAEGANTrainer(model, digits_datasets[0], training_config=config)
        trainer.prepare_training()
        before = {k: v.detach().clone() for k, v in model.named_parameters()}
        torch.manual_seed(1)
        batch = model.loss_batch(digits_datasets[0].data[:16])
        out = model.losses(batch, ("discriminator",))
        assert ("sat_consistency" in out) == (weight > 0)
        trainer._step("discriminator", out, epoch=1, step=1)
        return {k: v.detach() for k, v in model.named_parameters() if not torch.equal(v, before[k])}

    with_sat, without = after_d_step(1.0), after_d_step(0.0)
    assert not any(k.startswith("generator.") for k in with_sat)
    assert any(k.startswith("encoder.head.") for k in with_sat)
    head = "encoder.head.3.weight"
    assert not torch.allclose(with_sat[head], without[head])

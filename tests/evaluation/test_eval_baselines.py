"""pythae baselines built with InfoVAEGAN's networks: capacity, latent size, trainer configs."""

from __future__ import annotations

import logging

import pytest
import torch
from pythae.data.datasets import DatasetOutput
from pythae.trainers import (
    AdversarialTrainerConfig,
    BaseTrainerConfig,
    CoupledOptimizerAdversarialTrainerConfig,
)

from infovaegan_plugin import InfoVAEGAN
from infovaegan_plugin.evaluation import BASELINE_NAMES, build_baseline, matched_latent_dim
from infovaegan_plugin.evaluation.baselines import (
    MatchedDiscriminator,
    baseline_trainer_config,
    count_parameters,
    quiet_pythae,
)


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_baselines_match_infovaegan_capacity_and_train_one_batch(name, config_factory, digits):
    config = config_factory()
    torch.manual_seed(0)
    model = build_baseline(name, config)
    reference = InfoVAEGAN(config)
    assert model.model_config.latent_dim == matched_latent_dim(config) == config.generator_input_dim
    assert count_parameters(model.decoder) == count_parameters(reference.generator)
    assert count_parameters(model.encoder.trunk) == count_parameters(reference.encoder.trunk)
    batch = DatasetOutput(data=torch.from_numpy(digits.images[:16]))
    out = model(batch, dataset_size=16)
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_a_pooled_categorical_head_leaves_the_baselines_nets_as_with_a_dense_one(
        name, config_factory, digits):
    """The dSprites preset's pooled category head is InfoVAEGAN's own: a VAE matched to that
    config has no category, so its encoder reads the trunk's FC feature as with a dense head."""
    torch.manual_seed(0)
    pooled = build_baseline(name, config_factory(categorical_head="mean_pooled"))
    torch.manual_seed(0)
    dense = build_baseline(name, config_factory())
    assert count_parameters(pooled) == count_parameters(dense)
    images = torch.from_numpy(digits.images[:16])
    assert pooled.encoder(images).embedding.shape == dense.encoder(images).embedding.shape
    assert torch.isfinite(pooled(DatasetOutput(data=images), dataset_size=16).loss)


def test_vaegan_compares_images_at_the_trunk_feature_layer(config_factory, digits):
    config = config_factory()
    model = build_baseline("vaegan", config)
    assert isinstance(model.discriminator, MatchedDiscriminator)
    # matched to the image-only discriminator (InfoVAEGAN's joint one adds the code branch)
    reference = InfoVAEGAN(config_factory("infogan")).discriminator
    assert count_parameters(model.discriminator) == count_parameters(reference)
    layer = model.model_config.reconstruction_layer
    assert layer == model.discriminator.depth - 1
    out = model.discriminator(torch.from_numpy(digits.images[:4]), output_layer_levels=[layer])
    assert out[f"embedding_layer_{layer}"].shape == (4, config.hidden_dim)
    assert "embedding" not in out.keys()
    probs = model.discriminator(torch.from_numpy(digits.images[:4])).embedding
    assert probs.shape == (4, 1) and ((probs >= 0) & (probs <= 1)).all()


def test_each_objective_gets_the_trainer_pythae_needs():
    common = {"num_epochs": 1}
    assert type(baseline_trainer_config("factor_vae", **common)) is AdversarialTrainerConfig
    vaegan = baseline_trainer_config("vaegan", **common)
    assert type(vaegan) is CoupledOptimizerAdversarialTrainerConfig
    for name in ("beta_vae", "beta_tc_vae"):
        assert type(baseline_trainer_config(name, **common)) is BaseTrainerConfig


def test_unknown_baseline_lists_the_valid_ones(config_factory):
    with pytest.raises(ValueError, match="beta_vae, factor_vae, beta_tc_vae, vaegan"):
        build_baseline("vae", config_factory())


def test_quiet_pythae_restores_loggers():
    logger = logging.getLogger("pythae.trainers.training_callbacks")
    level, handlers = logger.level, list(logger.handlers)
    with quiet_pythae():
        logger.setLevel(logging.INFO)
        logger.addHandler(logging.NullHandler())
        info = logging.LogRecord("x", logging.INFO, "", 0, "", (), None)
        assert not logger.filters[0].filter(info)
    assert logger.level == level and logger.handlers == handlers and not logger.filters

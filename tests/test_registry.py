"""pythae integration: TrainingPipeline dispatch, AutoModel/AutoConfig, other models untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pythae.models import VAE, AutoModel, VAEConfig
from pythae.pipelines import TrainingPipeline
from pythae.trainers import BaseTrainer, BaseTrainerConfig

from infovaegan_plugin import InfoVAEGAN, InfoVAEGANTrainer, InfoVAEGANTrainerConfig, registry


def test_pipeline_picks_default_infovaegan_trainer_config(make_model):
    pipeline = TrainingPipeline(model=make_model())
    assert type(pipeline.training_config) is InfoVAEGANTrainerConfig


def test_pipeline_rejects_a_plain_base_trainer_config(make_model):
    with pytest.raises(AssertionError, match="InfoVAEGANTrainerConfig' is expected"):
        TrainingPipeline(model=make_model(), training_config=BaseTrainerConfig())


def test_pipeline_trains_with_infovaegan_trainer(make_model, digits_datasets, tmp_path):
    pipeline = TrainingPipeline(
        model=make_model(),
        training_config=InfoVAEGANTrainerConfig(output_dir=str(tmp_path), num_epochs=1),
    )
    pipeline(train_data=digits_datasets[0], eval_data=digits_datasets[1])
    assert type(pipeline.trainer) is InfoVAEGANTrainer
    final = Path(pipeline.trainer.training_dir) / "final_model"
    loaded = AutoModel.load_from_folder(str(final))
    assert isinstance(loaded, InfoVAEGAN)


def test_pipeline_accepts_raw_arrays(make_model, digits, tmp_path):
    pipeline = TrainingPipeline(
        model=make_model(),
        training_config=InfoVAEGANTrainerConfig(output_dir=str(tmp_path), num_epochs=1),
    )
    pipeline(train_data=digits.images[:128], eval_data=torch.from_numpy(digits.images[128:192]))
    assert type(pipeline.trainer) is InfoVAEGANTrainer
    assert "eval_accuracy" not in pipeline.trainer.history[0]  # raw arrays carry no labels


def test_other_pythae_models_keep_working(digits, tmp_path):
    model = VAE(VAEConfig(input_dim=(1, 8, 8), latent_dim=2))
    pipeline = TrainingPipeline(
        model=model, training_config=BaseTrainerConfig(output_dir=str(tmp_path), num_epochs=1)
    )
    assert type(pipeline.training_config) is BaseTrainerConfig
    pipeline(train_data=digits.images[:64])
    assert type(pipeline.trainer) is BaseTrainer
    final = next(Path(tmp_path).glob("VAE_training_*")) / "final_model"
    assert isinstance(AutoModel.load_from_folder(str(final)), VAE)


def test_install_is_idempotent():
    before = (TrainingPipeline.__init__, TrainingPipeline.__call__, AutoModel.load_from_folder)
    registry.install()
    registry.register_builtin_models()
    assert (TrainingPipeline.__init__, TrainingPipeline.__call__, AutoModel.load_from_folder) == before
    assert registry.is_installed()
    assert set(registry.registered()) == {"InfoVAEGAN"}


def test_sampler_draws_from_structured_prior(make_model, tmp_path):
    from infovaegan_plugin import StructuredPriorSampler, StructuredPriorSamplerConfig

    model = make_model()
    sampler = StructuredPriorSampler(model, StructuredPriorSamplerConfig(categorical=[3], seed=7))
    images = sampler.sample(num_samples=12, batch_size=5, output_dir=str(tmp_path))
    assert images.shape == (12, 1, 8, 8)
    assert len(list(tmp_path.glob("*.png"))) == 12
    again = StructuredPriorSampler(model, StructuredPriorSamplerConfig(categorical=[3], seed=7))
    torch.testing.assert_close(again.sample(num_samples=12, batch_size=5), images)
    with pytest.raises(TypeError, match="samples InfoVAEGAN"):
        StructuredPriorSampler(VAE(VAEConfig(input_dim=(1, 8, 8))))

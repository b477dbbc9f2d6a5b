"""InfoGAN-CR's contrastive regulariser: pairs share exactly the code they are labelled with,
the classifier and the generator both learn from its cross-entropy (and nothing before the
start epoch), the classifier is saved with the model and a config without codes to tell
apart is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infovaegan_plugin import InfoVAEGANConfig, InfoVAEGANTrainer, InfoVAEGANTrainerConfig
from infovaegan_plugin.models.infovaegan import InfoVAEGAN
from infovaegan_plugin.models.infovaegan.latents import shared_code_pairs


def test_pairs_share_the_labelled_code_and_nothing_else():
    config = InfoVAEGANConfig(input_dim=(1, 8, 8), categorical_dims=[3, 4], continuous_dim=2,
                              noise_dim=5)
    first, second, shared = shared_code_pairs(config, 4000, generator=torch.Generator()
                                              .manual_seed(0))
    assert config.code_count == 4 and set(shared.tolist()) == {0, 1, 2, 3}
    for code in range(4):
        rows = shared == code
        for i in range(2):  # the categorical codes: equal where shared, else at chance
            same = (first.categorical_index[rows, i] == second.categorical_index[rows, i])
            chance = 1 / config.categorical_dims[i]
            assert same.all() if code == i else abs(same.float().mean() - chance) < 0.05
        for j in range(2):  # the continuous dimensions: equal where shared, else never
            same = first.continuous[rows, j] == second.continuous[rows, j]
            assert same.all() if code == 2 + j else not same.any()
        assert not (first.noise[rows] == second.noise[rows]).any()
    # the one-hot blocks follow the indices
    torch.testing.assert_close(second.categorical[:, :3].argmax(1), second.categorical_index[:, 0])
    torch.testing.assert_close(second.categorical[:, 3:].argmax(1), second.categorical_index[:, 1])


@pytest.mark.parametrize(("fields", "message"), [
    ({"categorical_dims": [10], "continuous_dim": 0},
     "contrastive_weight > 0 needs at least 2 interpretable codes"),
    ({"contrastive_start_epoch": 0}, "contrastive_start_epoch must be >= 1, got 0"),
    ({"contrastive_weight": -1.0}, "contrastive_weight must be >= 0, got -1.0"),
])
def test_a_regulariser_without_codes_to_tell_apart_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        InfoVAEGANConfig(**{"input_dim": (1, 8, 8), "contrastive_weight": 1.0, **fields})


def test_the_classifier_exists_only_when_the_regulariser_is_on(make_model):
    assert make_model().contrastive is None
    model = make_model(contrastive_weight=1.0)
    assert set(model.networks()) == {"encoder", "generator", "discriminator", "contrastive"}
    logits = model.contrastive(torch.rand(5, 1, 8, 8), torch.rand(5, 1, 8, 8))
    assert logits.shape == (5, model.model_config.code_count)


def test_one_cross_entropy_trains_the_classifier_and_the_weighted_generator(make_model):
    model = make_model(contrastive_weight=2.0).train()
    torch.manual_seed(0)
    out = model.losses(model.loss_batch(torch.rand(16, 1, 8, 8)), ("generation",))
    assert out["contrastive_generator"].item() == pytest.approx(
        2.0 * out["contrastive"].item(), rel=1e-6)
    assert 0.0 <= out["contrastive_accuracy"].item() <= 1.0
    generator = list(model.generator.parameters())
    plain = torch.autograd.grad(out["contrastive"], generator, retain_graph=True)
    weighted = torch.autograd.grad(out["contrastive_generator"], generator, retain_graph=True)
    assert sum(g.abs().sum() for g in plain) > 0
    for p, w in zip(plain, weighted):
        torch.testing.assert_close(w, 2.0 * p)
    classifier = torch.autograd.grad(out["contrastive"], list(model.contrastive.parameters()))
    assert sum(g.abs().sum() for g in classifier) > 0
    # an evaluation pass (eval mode) computes no pairs
    assert "contrastive" not in model.eval().losses(
        model.loss_batch(torch.rand(16, 1, 8, 8)), ("generation",))


def _trainer(model, datasets, tmp_path) -> InfoVAEGANTrainer:
    config = InfoVAEGANTrainerConfig(output_dir=str(tmp_path), per_device_train_batch_size=32,
                                     num_epochs=1)
    trainer = InfoVAEGANTrainer(model, datasets[0], datasets[1], training_config=config)
    trainer.prepare_training()
    return trainer


def test_the_trainer_steps_the_classifier_with_its_own_optimizer(make_model, digits_datasets,
                                                                 tmp_path):
    model = make_model(contrastive_weight=1.0)
    trainer = _trainer(model, digits_datasets, tmp_path)
    plan = trainer.optimizer_parameters()
    assert {id(p) for p in plan["contrastive"]} == {id(p) for p in model.contrastive.parameters()}
    assert trainer.optimizer_losses()["contrastive"] == ("contrastive",)
    assert "contrastive_generator" in trainer.optimizer_losses()["generator"]
    assert trainer.optimizers["contrastive"].param_groups[0]["lr"] == 2e-3
    before = [p.detach().clone() for p in model.contrastive.parameters()]
    metrics = trainer.train_step(epoch=1)
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    assert 0.0 < metrics["contrastive_loss"] and 0.0 <= metrics["contrastive_accuracy"] <= 1.0
    assert any(not torch.equal(a, b) for a, b in zip(model.contrastive.parameters(), before))


def test_before_the_start_epoch_the_classifier_rests_and_the_generator_trains(
        make_model, digits_datasets, tmp_path):
    model = make_model(contrastive_weight=1.0, contrastive_start_epoch=2)
    trainer = _trainer(model, digits_datasets, tmp_path)
    classifier = [p.detach().clone() for p in model.contrastive.parameters()]
    generator = [p.detach().clone() for p in model.generator.parameters()]
    metrics = trainer.train_step(epoch=1)
    assert "contrastive_loss" not in metrics
    assert all(torch.equal(a, b) for a, b in zip(model.contrastive.parameters(), classifier))
    assert any(not torch.equal(a, b) for a, b in zip(model.generator.parameters(), generator))


def test_the_classifier_is_saved_and_reloaded_with_the_model(make_model, tmp_path):
    model = make_model(contrastive_weight=1.0).eval()
    model.save(str(tmp_path / "model"))
    again = InfoVAEGAN.load_from_folder(str(tmp_path / "model")).eval()
    assert again.model_config.contrastive_weight == 1.0
    pair = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(again.contrastive(*pair), model.contrastive(*pair))

"""Restarts chosen without labels (:mod:`infovaegan_plugin.restarts`)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from infovaegan_plugin import InfoVAEGAN
from infovaegan_plugin.layout import LatentLayout
from infovaegan_plugin.metrics.clustering import code_information
from infovaegan_plugin.restarts import (
    RESTARTS_FILE,
    pick_best,
    restart_seeds,
    selection_score,
    train_with_restarts,
)
from infovaegan_plugin.training import DEFAULTS, prepare_run, train_run


class _FixedPosterior(torch.nn.Module):
    """A stand-in model whose encoder returns given category probabilities, in order."""

    def __init__(self, probs: np.ndarray, sizes: list[int]):
        super().__init__()
        self.probs = torch.as_tensor(probs, dtype=torch.float32)
        self.model_config = SimpleNamespace(layout=LatentLayout.from_sizes(2, sizes, 1))
        self.seen = 0

    def encode(self, images):
        rows = self.probs[self.seen:self.seen + len(images)]
        self.seen += len(images)
        return SimpleNamespace(categorical_probs=rows)


def test_restart_seeds_start_with_the_base_seed_and_step_by_1000():
    assert restart_seeds(0, 3) == [0, 1000, 2000]
    assert restart_seeds(7, 1) == [7]
    with pytest.raises(ValueError, match="restarts must be at least 1"):
        restart_seeds(0, 0)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        restart_seeds(-1, 2)


def test_pick_best_takes_the_highest_score_first_on_ties_and_never_a_failed_run():
    assert pick_best([0.2, None, 0.7, 0.7, float("nan")]) == 2
    assert pick_best([float("nan"), 0.1]) == 1
    with pytest.raises(ValueError, match="every restart failed"):
        pick_best([None, float("nan")])


def test_selection_score_prefers_a_confident_even_code_to_a_collapsed_or_vague_one():
    images = np.zeros((40, 1, 2, 2), dtype=np.float32)
    even = np.eye(4)[np.arange(40) % 4]             # every category, each image sure
    collapsed = np.eye(4)[np.zeros(40, dtype=int)]  # one category
    vague = np.full((40, 4), 0.25)                  # no image assigned
    scores = [selection_score(_FixedPosterior(p, [4]), images, batch_size=7)
              for p in (collapsed, even, vague)]
    assert scores[1] == pytest.approx(math.log(4))
    assert scores[0] == pytest.approx(0.0, abs=1e-9) and scores[2] == pytest.approx(0.0, abs=1e-9)
    assert pick_best(scores) == 1


def test_selection_score_sums_the_codes_and_reads_only_the_first_images():
    images = np.zeros((6, 1, 2, 2), dtype=np.float32)
    first = np.eye(2)[[0, 1, 0, 1, 0, 0]]
    second = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    model = _FixedPosterior(np.concatenate([first, second], 1), [2, 3])
    assert selection_score(model, images) == pytest.approx(
        code_information(first) + code_information(second))
    head = _FixedPosterior(np.concatenate([first, second], 1), [2, 3])
    assert selection_score(head, images, limit=4) == pytest.approx(
        code_information(first[:4]) + code_information(second[:4]))
    assert head.seen == 4


def test_selection_score_of_a_real_model_matches_its_encoder_and_keeps_its_mode():
    torch.manual_seed(0)
    from infovaegan_plugin import InfoVAEGANConfig

    model = InfoVAEGAN(InfoVAEGANConfig(input_dim=(1, 8, 8), hidden_dim=32, base_channels=8,
                                        noise_dim=4))
    model.train()
    images = np.random.default_rng(0).random((30, 1, 8, 8), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        expected = code_information(model.encode(torch.from_numpy(images)).categorical_probs)
    model.train()
    assert selection_score(model, images, batch_size=8) == pytest.approx(expected, rel=1e-5)
    assert model.training
    empty = np.zeros((0, 1, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="at least one image"):
        selection_score(model, empty)


def _settings(tmp_path, **overrides):
    return {**DEFAULTS, "output_dir": tmp_path, "epochs": 2, "batch_size": None, "limit": 300,
            "seed": 3, **overrides}


def test_restarts_keep_the_best_scoring_candidate_and_train_it_to_the_full_budget(
        tmp_path, trust_any_classifier):
    messages = []
    result = train_with_restarts(_settings(tmp_path / "restarts"), restarts=2, after_epochs=1,
                                 device="cpu", purity=True, log=messages.append)
    record = json.loads((tmp_path / "restarts" / RESTARTS_FILE).read_text())
    seeds = [c["seed"] for c in record["candidates"]]
    scores = [c["score"] for c in record["candidates"]]
    assert seeds == [3, 1003] and record["chosen"] == int(np.argmax(scores))
    assert scores[0] != scores[1]  # different seeds, different codes
    # the recorded score is the candidate's own after one epoch, on the base seed's images
    images = prepare_run(_settings(tmp_path)).train_data.images
    for candidate in record["candidates"]:
        saved = InfoVAEGAN.load_from_folder(f"{candidate['run_dir']}/final_model")
        assert selection_score(saved, images) == pytest.approx(candidate["score"], abs=1e-9)
    chosen = record["candidates"][record["chosen"]]
    assert record["continued_from"].endswith("checkpoint_epoch_1")
    assert record["continued_from"].startswith(chosen["run_dir"])
    assert json.loads(result.final.metrics_path.read_text())["epochs"] == 2
    assert record["final_model"] == str(result.final.final_model)
    assert any("kept restart" in m for m in messages)
    # one purity classifier for every run
    assert sum("training the purity classifier" in m for m in messages) == 1
    assert "generator_purity" in result.final.final_metrics
    # the kept run is the uninterrupted two-epoch run of its seed on the base seed's split
    # (with a purity classifier of its own: the classifier does not change the training)
    plain = train_run(prepare_run(_settings(
        tmp_path / "plain", seed=chosen["seed"], data_seed=3)), "cpu", purity=True)
    kept = InfoVAEGAN.load_from_folder(str(result.final.final_model)).state_dict()
    alone = InfoVAEGAN.load_from_folder(str(plain.final_model)).state_dict()
    assert all(torch.equal(kept[name], alone[name]) for name in alone)


def test_restarts_trained_to_the_end_are_not_continued(tmp_path):
    result = train_with_restarts(_settings(tmp_path, epochs=1), restarts=2, after_epochs=3,
                                 device="cpu", purity=False)
    assert result.after_epochs == 1 and result.continued_from is None
    assert str(result.final.folder) == result.candidates[result.chosen].run_dir


def test_a_failed_restart_is_recorded_and_cannot_win(tmp_path, monkeypatch):
    from infovaegan_plugin import restarts as restarts_module
    from infovaegan_plugin import training
    from infovaegan_plugin.trainers.infovaegan_trainer.infovaegan_trainer import (
        NonFiniteLossError,
    )

    real_train_run = training.train_run

    def diverging_first(run, *args, **kwargs):
        if run.settings["seed"] == 3:
            raise NonFiniteLossError("discriminator loss is nan at epoch 1")
        return real_train_run(run, *args, **kwargs)

    monkeypatch.setattr(training, "train_run", diverging_first)
    result = train_with_restarts(_settings(tmp_path, epochs=1), restarts=2, after_epochs=1,
                                 device="cpu", purity=False)
    record = json.loads((tmp_path / restarts_module.RESTARTS_FILE).read_text())
    assert record["candidates"][0]["failed"] == "discriminator loss is nan at epoch 1"
    assert record["candidates"][0]["score"] is None and record["chosen"] == 1
    assert result.final.final_model.is_dir()


def test_restarts_refuse_a_model_without_a_categorical_code_before_training(tmp_path,
                                                                            monkeypatch):
    from infovaegan_plugin import InfoVAEGANConfig, training

    monkeypatch.setattr(training, "model_config_for", lambda name, shape, variant: (
        InfoVAEGANConfig(input_dim=tuple(shape), categorical_dims=[], hidden_dim=32,
                         base_channels=8, noise_dim=4)))
    with pytest.raises(ValueError, match="categorical code"):
        train_with_restarts(_settings(tmp_path), restarts=2, after_epochs=1, device="cpu",
                            purity=False)
    assert not (tmp_path / RESTARTS_FILE).exists()

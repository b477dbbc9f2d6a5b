"""``training.train_run``: the run ``infovaegan train`` does, as a library call."""

from __future__ import annotations

import json

import pytest

from infovaegan_plugin.metrics import dataset_classifier
from infovaegan_plugin.saved_models import read_model_config
from infovaegan_plugin.training import DEFAULTS, prepare_run, run_settings, train_run


def _settings(tmp_path, **overrides):
    return {**DEFAULTS, "output_dir": tmp_path, "epochs": 1, "batch_size": None, "limit": 200,
            **overrides}


def test_prepare_run_resolves_the_preset_and_records_the_data_set(tmp_path):
    run = prepare_run(_settings(tmp_path))
    assert run.settings["epochs"] == 1 and run.settings["batch_size"] == 64  # digits preset
    assert (len(run.train_data), len(run.eval_data)) == (180, 20)
    assert run.model_config.trained_on == "digits"
    assert run.model_config.input_dim == (1, 8, 8) and run.model_config.noise_dim == 16


def test_train_run_writes_the_model_with_its_data_set_and_the_summary(tmp_path):
    messages = []
    result = train_run(prepare_run(_settings(tmp_path)), "cpu", purity=False,
                       log=messages.append)
    assert result.final_model.is_dir() and result.dataset == "digits"
    assert read_model_config(result.final_model)["trained_on"] == "digits"
    summary = json.loads(result.metrics_path.read_text())
    assert summary["dataset"] == "digits" and summary["epochs"] == 1
    assert summary["final_metrics"] == result.final_metrics and "eval_recon_mse" in summary[
        "final_metrics"]
    settings = json.loads((result.folder / "run_settings.json").read_text())
    assert settings["output_dir"] == str(tmp_path.absolute()) and settings["limit"] == 200
    assert set(result.grids) >= {"samples_per_category", "reconstructions"}
    assert messages == []


def test_a_failed_run_keeps_no_folder(tmp_path, monkeypatch):
    from infovaegan_plugin.trainers.infovaegan_trainer.infovaegan_trainer import (
        InfoVAEGANTrainer,
    )

    def broken(self, *args, **kwargs):
        raise ValueError("broken step")

    monkeypatch.setattr(InfoVAEGANTrainer, "training_step", broken)
    out = tmp_path / "runs"
    with pytest.raises(ValueError, match="broken step") as info:
        train_run(prepare_run(_settings(out)), "cpu", purity=False)
    assert info.value.empty_run_removed is True
    assert not out.exists()


def test_a_checkpoint_saved_before_trained_on_resumes(tmp_path):
    from infovaegan_plugin.saved_models import recorded_dataset
    from infovaegan_plugin.trainers.infovaegan_trainer.resume import read_checkpoint

    first = train_run(prepare_run(_settings(tmp_path)), "cpu", purity=False)
    checkpoint_dir = first.folder / "checkpoint_epoch_1"
    raw = read_model_config(checkpoint_dir)
    del raw["trained_on"]  # what the version before this field wrote
    (checkpoint_dir / "model_config.json").write_text(json.dumps(raw))
    checkpoint = read_checkpoint(checkpoint_dir)
    run = prepare_run(_settings(tmp_path, epochs=2), checkpoint)
    assert run.model_config.trained_on is None
    resumed = train_run(run, "cpu", purity=False)
    assert json.loads(resumed.metrics_path.read_text())["epochs"] == 2
    assert "trained_on" in read_model_config(resumed.final_model)
    assert recorded_dataset(resumed.final_model) == "digits"  # from the run's metrics.json


def test_a_checkpoint_saved_before_a_new_field_resumes_with_the_behaviour_it_trained_with(
    tmp_path,
):
    from infovaegan_plugin.trainers.infovaegan_trainer.resume import read_checkpoint

    first = train_run(prepare_run(_settings(tmp_path)), "cpu", purity=False)
    checkpoint_dir = first.folder / "checkpoint_epoch_1"
    raw = read_model_config(checkpoint_dir)
    assert raw["elbo_categorical_gradient"] == 0.1  # today's default
    del raw["elbo_categorical_gradient"]  # what the version before this field wrote
    (checkpoint_dir / "model_config.json").write_text(json.dumps(raw))
    run = prepare_run(_settings(tmp_path, epochs=2), read_checkpoint(checkpoint_dir))
    assert run.model_config.elbo_categorical_gradient == 1.0  # the paper's full gradient
    resumed = train_run(run, "cpu", purity=False)
    assert read_model_config(resumed.final_model)["elbo_categorical_gradient"] == 1.0


def test_a_weak_purity_classifier_is_refused_logged_and_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_classifier, "MIN_HELD_OUT_ACCURACY", 1.01)  # none reaches it
    messages = []
    result = train_run(prepare_run(_settings(tmp_path)), "cpu", log=messages.append)
    summary = json.loads(result.metrics_path.read_text())
    assert "generator purity refused" in summary["generator_purity_refused"]
    assert "generator_purity" not in result.final_metrics
    assert messages[-1] == summary["generator_purity_refused"]


def test_training_twice_in_one_process_prints_each_loss_line_once(tmp_path):
    import logging

    logger = logging.getLogger("pythae.trainers.training_callbacks")
    for folder in ("first", "second"):
        train_run(prepare_run(_settings(tmp_path / folder)), "cpu", purity=False)
    consoles = [h for h in logger.handlers if type(h) is logging.StreamHandler]
    assert len(consoles) == 1  # pythae adds one per trainer; fit keeps the first


def test_run_settings_given_then_defaults_and_the_two_early_refusals(tmp_path):
    settings = run_settings({"output_dir": str(tmp_path), "seed": 7, "epochs": None})
    assert settings == {**DEFAULTS, "output_dir": tmp_path, "seed": 7}
    with pytest.raises(ValueError) as error:
        run_settings({"output_dir": None})
    assert str(error.value) == "--output-dir is required (where the run folder is created)."
    with pytest.raises(ValueError) as error:
        run_settings({"output_dir": tmp_path, "variant": "vae"})
    assert str(error.value) == "--variant must be one of infovaegan, infogan, ali, got 'vae'."

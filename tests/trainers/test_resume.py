"""Resume rules: settings precedence, the checkpoint's model must match (the recorded data set
name aside), something left to train, one-line errors for bad folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infovaegan_plugin.trainers.infovaegan_trainer.resume import (
    Checkpoint,
    ResumeError,
    check_resumable,
    check_variant,
    merge_settings,
    read_checkpoint,
    resume_command,
)

DEFAULTS = {"dataset": "digits", "seed": 0, "data_dir": None}


def test_given_settings_win_then_the_checkpoint_then_the_defaults(tmp_path):
    checkpoint = Checkpoint(tmp_path, 2, settings={"dataset": "mnist", "seed": 4},
                            training={"num_epochs": 9, "output_dir": str(tmp_path)})
    merged = merge_settings({"seed": 7, "epochs": None}, checkpoint, DEFAULTS)
    assert merged["dataset"] == "mnist" and merged["seed"] == 7 and merged["epochs"] == 9
    assert merged["output_dir"] == Path(tmp_path)
    assert merge_settings({}, None, DEFAULTS) == DEFAULTS


def _checkpoint(make_model, folder: Path, epoch: int = 1, **overrides) -> Checkpoint:
    make_model(**overrides).save(str(folder))
    return Checkpoint(folder, epoch, settings={"variant": "infovaegan"})


def test_a_checkpoint_saved_without_trained_on_still_resumes(make_model, config_factory,
                                                             tmp_path):
    checkpoint = _checkpoint(make_model, tmp_path / "ckpt")
    raw = json.loads((tmp_path / "ckpt" / "model_config.json").read_text())
    del raw["trained_on"]
    (tmp_path / "ckpt" / "model_config.json").write_text(json.dumps(raw))
    config = config_factory()
    config.trained_on = "digits"
    check_resumable(checkpoint, config, epochs=3)  # no error


def test_a_field_the_checkpoint_predates_takes_its_old_behaviour_not_the_options(
    make_model, config_factory, tmp_path
):
    checkpoint = _checkpoint(make_model, tmp_path / "ckpt", elbo_categorical_gradient=0.5)
    raw = json.loads((tmp_path / "ckpt" / "model_config.json").read_text())
    with pytest.raises(ResumeError, match="elbo_categorical_gradient: checkpoint 0.5, these "
                                          "options 0.1"):
        check_resumable(checkpoint, config_factory(), epochs=3)  # recorded: compared
    del raw["elbo_categorical_gradient"]
    (tmp_path / "ckpt" / "model_config.json").write_text(json.dumps(raw))
    saved = check_resumable(checkpoint, config_factory(), epochs=3)
    assert saved.elbo_categorical_gradient == 1.0  # what it trained with, not today's 0.1


def test_another_model_or_no_epochs_left_is_refused(make_model, config_factory, tmp_path):
    checkpoint = _checkpoint(make_model, tmp_path / "ckpt", epoch=3)
    with pytest.raises(ResumeError, match="hidden_dim: checkpoint 32, these options 64"):
        check_resumable(checkpoint, config_factory(hidden_dim=64), epochs=5)
    with pytest.raises(ResumeError, match="already reached epoch 3 and the target is 3"):
        check_resumable(checkpoint, config_factory(), epochs=3)
    with pytest.raises(ResumeError, match="--variant ali does not match"):
        check_variant(checkpoint, "ali")
    check_variant(checkpoint, None)


def test_bad_folders_get_one_line(tmp_path):
    with pytest.raises(ResumeError, match="checkpoint folder not found"):
        read_checkpoint(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResumeError, match="is a file"):
        read_checkpoint(tmp_path / "file")
    with pytest.raises(ResumeError, match="is not a checkpoint: it has no optimizers.pt"):
        read_checkpoint(tmp_path)


def test_resume_command_quotes_the_path():
    assert resume_command("runs/a b/checkpoint_epoch_2") == (
        "infovaegan train --resume 'runs/a b/checkpoint_epoch_2'")

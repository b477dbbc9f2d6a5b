"""``infovaegan train --restarts K`` on scikit-learn digits (short runs)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from infovaegan_plugin import InfoVAEGAN
from infovaegan_plugin.cli.app import app

runner = CliRunner()


def test_restarts_print_the_candidates_and_keep_the_best(tmp_path: Path):
    result = runner.invoke(app, [
        "train", "--dataset", "digits", "--epochs", "2", "--limit", "300", "--seed", "1",
        "--device", "cpu", "--no-purity", "--restarts", "2", "--restart-epochs", "1",
        "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "restarts.json").read_text())
    assert [c["seed"] for c in record["candidates"]] == [1, 1001]
    scores = [c["score"] for c in record["candidates"]]
    assert record["chosen"] == scores.index(max(scores))
    assert all(0.0 <= c["eval_accuracy"] <= 1.0 for c in record["candidates"])
    assert "kept" in result.output and "code information" in result.output
    final = Path(record["final_model"])
    assert final.is_dir() and InfoVAEGAN.load_from_folder(str(final)).model_config.trained_on == (
        "digits")
    assert json.loads((final.parent / "metrics.json").read_text())["epochs"] == 2


def test_restarts_refuse_resume_and_a_count_below_one(tmp_path: Path):
    both = runner.invoke(app, ["train", "--restarts", "2", "--resume", str(tmp_path),
                               "--output-dir", str(tmp_path)])
    assert both.exit_code == 2 and "--restarts cannot be combined with --resume" in both.output
    zero = runner.invoke(app, ["train", "--restarts", "0", "--output-dir", str(tmp_path)])
    assert zero.exit_code == 2 and "restarts" in zero.output
    assert not list(tmp_path.iterdir())


def test_an_interrupted_restart_names_its_resume_command_and_keeps_the_record(
        tmp_path: Path, monkeypatch):
    from infovaegan_plugin import training
    from infovaegan_plugin.trainers.infovaegan_trainer.run_control import TrainingInterrupted

    real_train_run = training.train_run

    def stop_the_second(run, *args, **kwargs):
        if run.settings["seed"] == 1000:
            raise TrainingInterrupted("stopped after epoch 1", "/runs/ck/checkpoint_epoch_1", 1)
        return real_train_run(run, *args, **kwargs)

    monkeypatch.setattr(training, "train_run", stop_the_second)
    result = runner.invoke(app, [
        "train", "--dataset", "digits", "--epochs", "1", "--limit", "200", "--device", "cpu",
        "--no-purity", "--restarts", "2", "--output-dir", str(tmp_path)])
    assert result.exit_code == 130, result.output
    assert "infovaegan train --resume /runs/ck/checkpoint_epoch_1" in result.output
    record = json.loads((tmp_path / "restarts.json").read_text())
    assert record["candidates"][0]["score"] is not None  # the finished restart is kept
    assert record["candidates"][1]["run_dir"] is None
    assert record["chosen"] is None and record["chosen_seed"] is None

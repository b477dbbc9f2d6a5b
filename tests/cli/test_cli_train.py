"""``infovaegan train`` end to end on scikit-learn digits (a short run)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from infovaegan_plugin import InfoVAEGAN
from infovaegan_plugin.cli.app import app

runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("train", "export", "encode", "generate", "traverse", "evaluate", "benchmark"):
        assert command in result.output


def test_train_on_digits_writes_model_metrics_and_grids(tmp_path: Path, trust_any_classifier):
    result = runner.invoke(
        app,
        ["train", "--dataset", "digits", "--epochs", "2", "--limit", "400", "--seed", "0",
         "--device", "cpu", "--output-dir", str(tmp_path), "--checkpoint-every", "1"],
    )
    assert result.exit_code == 0, result.output
    run = next(tmp_path.glob("InfoVAEGAN_training_*"))
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["epochs"] == 2 and summary["dataset"] == "digits"
    final = summary["final_metrics"]
    assert 0.0 <= final["eval_accuracy"] <= 1.0 and final["eval_recon_mse"] > 0
    # instruments: generator purity beside accuracy, discriminator accuracy, health by epoch
    assert 0.0 < final["generator_purity"] <= 1.0 and 0.0 < final["classifier_held_out_accuracy"]
    assert 0.0 <= final["d_real_accuracy"] <= 1.0 and "sample_spread_ratio" in final
    assert isinstance(summary["health_warnings"], list) and set(summary["health_by_epoch"]) == {"1", "2"}
    assert "generator_purity" in result.output and "health" in result.output
    model = InfoVAEGAN.load_from_folder(str(run / "final_model"))
    assert model.model_config.input_dim == (1, 8, 8)
    grid = Image.open(run / "samples_per_category.png")
    tiles = np.asarray(grid)[-(10 * 9 + 1) * 4:, -(10 * 9 + 1) * 4:]  # 10 x 10 tiles of 8 px, x4
    assert tiles.std() > 0  # not a blank picture
    assert "rows = categorical_0 set to the row's category" in grid.text["Description"]
    assert "rows: category 0, category 1" in grid.text["Description"]
    traversal = Image.open(run / "traversal_continuous_1.png").text["Description"]
    assert "columns = continuous:1 from -1 to 1" in traversal
    for name in ("reconstructions.png", "traversal_continuous_0.png", "traversal_continuous_1.png"):
        assert (run / name).is_file()
    assert (run / "checkpoint_epoch_1" / "optimizers.pt").is_file()
    assert "final model" in result.output and "eval_accuracy" in result.output


def test_train_reports_bad_dataset_without_traceback(tmp_path: Path):
    result = runner.invoke(app, ["train", "--dataset", str(tmp_path / "missing.npy"),
                                 "--output-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "missing.npy" in result.output and "Traceback" not in result.output


def test_train_rejects_cuda_without_gpu(tmp_path: Path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = runner.invoke(app, ["train", "--device", "cuda", "--output-dir", str(tmp_path)])
    assert result.exit_code == 2 and "no CUDA device" in result.output

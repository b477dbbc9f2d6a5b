"""``infovaegan evaluate`` on a tiny trained model: table, JSON, grids and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from infovaegan_plugin.cli.app import app
from infovaegan_plugin.evaluation import build_baseline

runner = CliRunner()


def flat(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())
FAST = ["--dataset", "digits", "--limit", "200", "--n-samples", "40",
        "--classifier-epochs", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train")
    result = runner.invoke(app, ["train", "--dataset", "digits", "--epochs", "1", "--limit", "200",
                                 "--device", "cpu", "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_evaluate_a_run_folder_writes_json_table_and_grids(trained, trust_any_classifier):
    result = runner.invoke(app, ["evaluate", str(trained), *FAST])
    assert result.exit_code == 0, result.output
    folder = next(trained.glob("InfoVAEGAN_training_*")) / "final_model" / "evaluation"
    payload = json.loads((folder / "evaluation.json").read_text())
    m = payload["metrics"]
    assert set(m) == {"accuracy", "nmi", "ari", "recon_mse", "recon_bce", "cfd"}
    assert 0 <= m["accuracy"] <= 1 and 0 < m["recon_mse"] < 1
    assert payload["n_eval"] == 20 and payload["architecture"]["class"] == "InfoVAEGAN"
    for name in ("traversal.png", "samples.png", "reconstructions.png"):
        assert (folder / name).is_file()
    assert (folder / "classifier" / "classifier.pt").is_file()
    assert "recon_mse" in flat(result) and "evaluation.json" in flat(result)
    accuracy = payload["details"]["cfd"]["classifier_held_out_accuracy"]
    assert f"cfd classifier held-out accuracy: {accuracy:.4f}" in flat(result)


def test_a_weak_classifier_refuses_the_cfd_and_says_why(trained, tmp_path):
    result = runner.invoke(app, ["evaluate", str(trained), *FAST, "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "evaluation.json").read_text())
    assert "cfd" not in payload["metrics"] and "refused" in payload["details"]["cfd"]["refused"]
    assert "classifier Frechet distance refused" in flat(result)


def test_missing_or_empty_model_dir_is_a_clear_error(tmp_path):
    missing = runner.invoke(app, ["evaluate", str(tmp_path / "nope"), *FAST])
    assert missing.exit_code == 2 and "does not exist" in flat(missing)
    empty = runner.invoke(app, ["evaluate", str(tmp_path), *FAST])
    assert empty.exit_code == 2 and "no saved model" in flat(empty)


def test_model_and_data_shapes_must_agree(trained, tmp_path):
    result = runner.invoke(app, ["evaluate", str(trained), "--dataset", "dsprites", "--limit",
                                 "20", "--device", "cpu", "--output-dir", str(tmp_path)])
    assert result.exit_code == 2 and "takes images (1, 8, 8)" in flat(result)


def test_pythae_models_need_allow_pickle(config_factory, tmp_path):
    torch.manual_seed(0)
    build_baseline("beta_vae", config_factory()).save(str(tmp_path / "vae"))
    refused = runner.invoke(app, ["evaluate", str(tmp_path / "vae"), *FAST, "--no-cfd"])
    assert refused.exit_code == 2 and "--allow-pickle" in flat(refused)
    result = runner.invoke(app, ["evaluate", str(tmp_path / "vae"), *FAST, "--no-cfd",
                                 "--allow-pickle"])
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "vae" / "evaluation" / "evaluation.json").read_text())
    assert "k-means" in payload["clustering_method"] and "cfd" not in payload["metrics"]

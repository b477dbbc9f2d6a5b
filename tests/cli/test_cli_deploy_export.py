"""``infovaegan export``: where real images come from, and clear errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from infovaegan_plugin import InfoVAEGAN, InfoVAEGANConfig
from infovaegan_plugin.cli.app import app

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    """A bare saved model (no training run around it, so no recorded data set)."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("saved") / "model"
    InfoVAEGAN(InfoVAEGANConfig(input_dim=(1, 8, 8), hidden_dim=32, base_channels=8,
                                noise_dim=4)).save(str(folder))
    return folder


def test_help_lists_the_deploy_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("export", "encode", "generate", "traverse"):
        assert command in result.output


def test_without_real_images_it_says_so_and_falls_back(saved_model, tmp_path):
    result = runner.invoke(app, ["export", str(saved_model), "--output-dir", str(tmp_path),
                                 "--quantize", "int8"])
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "no real images" in text and "--calibration" in text
    assert "sampled from the prior" in text
    sidecar = json.loads((tmp_path / "export_metadata.json").read_text())
    assert sidecar["variants"]["int8"]["encoder_deviation"]["images"].startswith("fp32 generator")
    assert "held_out_deviation" not in sidecar
    assert (tmp_path / "encoder.int8.onnx").is_file()


def test_calibration_array_is_split_into_calibration_and_held_out(saved_model, tmp_path):
    from infovaegan_plugin.data import load_digits_data

    np.save(tmp_path / "real.npy", load_digits_data().images[:300])
    out = tmp_path / "onnx"
    result = runner.invoke(app, ["export", str(saved_model), "--output-dir", str(out), "--fp16",
                                 "--calibration", str(tmp_path / "real.npy"),
                                 "--calibration-size", "200"])
    assert result.exit_code == 0, result.output
    assert "100 held-out images" in flat(result.output)
    sidecar = json.loads((out / "export_metadata.json").read_text())
    assert sidecar["held_out_deviation"]["fp16"]["n_images"] == 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}"], "model folder not found"),
        (["{empty}"], "holds no saved InfoVAEGAN"),
        (["{model}", "--no-onnx"], "No such option: --no-onnx"),
        (["{model}", "--opset", "13"], "--opset must be 17.."),
        (["{model}", "--opset", "99"], "got 99"),
        (["{model}", "--quantize", "int4"], "--quantize supports only int8"),
        (["{model}", "--triton", "--triton-precision", "int8"], "needs that variant"),
        (["{model}", "--calibration", "{missing}"], "--calibration"),
        (["{model}", "--calibration", "{big}"], "the model takes (1, 8, 8)"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(saved_model, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    np.save(tmp_path / "big.npy", np.zeros((4, 1, 28, 28), np.float32))
    names = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "model": saved_model,
             "big": tmp_path / "big.npy"}
    argv = [a.format(**names) for a in args]
    result = runner.invoke(app, ["export", *argv, "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert "Traceback" not in result.output

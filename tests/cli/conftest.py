"""Fixtures of the command tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory) -> Path:
    """A tiny 8x8 InfoVAEGAN saved in ``model/`` and exported to ``onnx/`` (random weights)."""
    from infovaegan_plugin import InfoVAEGAN, InfoVAEGANConfig
    from infovaegan_plugin.deploy.export import export_onnx

    torch.manual_seed(0)
    model = InfoVAEGAN(InfoVAEGANConfig(input_dim=(1, 8, 8), hidden_dim=32, base_channels=8,
                                        noise_dim=4))
    folder = tmp_path_factory.mktemp("tiny_export")
    model.save(str(folder / "model"))
    export_onnx(model, folder / "onnx")
    return folder

"""Fixtures shared by the whole suite: tiny InfoVAEGAN models, the digits data and the local
MNIST copy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import infovaegan_plugin  # noqa: F401  (installs the pythae registry)
from infovaegan_plugin import InfoVAEGAN, InfoVAEGANConfig

# Tiny networks keep every test in milliseconds; one thread avoids oversubscribing the
# 2-core CI machine when a test spawns worker processes.
torch.set_num_threads(1)

TINY = {"hidden_dim": 32, "base_channels": 8, "noise_dim": 4}
MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def tiny_config(variant: str = "infovaegan", input_dim=(1, 8, 8), **overrides) -> InfoVAEGANConfig:
    return InfoVAEGANConfig.for_variant(variant, input_dim=input_dim, **{**TINY, **overrides})


@pytest.fixture
def make_model():
    def factory(variant: str = "infovaegan", seed: int = 0, **overrides) -> InfoVAEGAN:
        torch.manual_seed(seed)
        return InfoVAEGAN(tiny_config(variant, **overrides))

    return factory


@pytest.fixture(scope="session")
def digits():
    from infovaegan_plugin.data import load_digits_data

    return load_digits_data()


@pytest.fixture
def trust_any_classifier(monkeypatch):
    """Plumbing tests use classifiers trained for seconds on a few images: accept them (the
    classifier's accuracy and its refusal are tested on their own)."""
    from infovaegan_plugin.metrics import dataset_classifier

    monkeypatch.setattr(dataset_classifier, "MIN_HELD_OUT_ACCURACY", 0.0)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"local MNIST copy not found at {MNIST_DIR} (expected ../shared/data/mnist)")
    return MNIST_DIR


@pytest.fixture
def digits_datasets(digits):
    """(train, eval) pythae datasets: 256 + 64 labelled digits."""
    from infovaegan_plugin.data import to_pythae_dataset

    return to_pythae_dataset(digits.subset(slice(0, 256))), to_pythae_dataset(
        digits.subset(slice(256, 320))
    )


@pytest.fixture
def config_factory():
    """``config_factory(variant="infovaegan", input_dim=(1, 8, 8), **overrides)``."""
    return tiny_config

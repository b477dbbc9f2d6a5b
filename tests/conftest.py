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


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def picture_claiming(path: Path, width: int, height: int) -> Path:
    """A valid picture file of ~100 bytes whose header claims ``width`` x ``height`` grey
    pixels (a decompression bomb as far as any reader that trusts the header can tell):
    PNG (one compressed row), GIF (the logical screen; one 1x1 frame) or TIFF, by suffix."""
    import struct
    import zlib

    suffix = path.suffix.lower()
    if suffix == ".png":
        data = (b"\x89PNG\r\n\x1a\n"
                + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                + _png_chunk(b"IDAT", zlib.compress(bytes(width + 1)))
                + _png_chunk(b"IEND", b""))
    elif suffix == ".gif":
        data = (b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
                + b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00;")
    elif suffix in (".tif", ".tiff"):
        tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
                (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height),
                (279, 4, 1, 1)]
        ifd = (struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags)
               + struct.pack("<I", 0))
        data = b"II*\x00" + struct.pack("<I", 9) + b"\x00" + ifd
    else:
        raise ValueError(f"no hostile picture writer for {suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def claiming_picture():
    """``claiming_picture(path, width, height)``: see :func:`picture_claiming`."""
    return picture_claiming

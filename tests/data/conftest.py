"""Shared fixtures of the data tests: the local MNIST copy and an IDX file writer."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

MNIST_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"local MNIST copy not found at {MNIST_DIR} (expected ../shared/data/mnist)")
    return MNIST_DIR


def _idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=dtypes[code]).tobytes()


@pytest.fixture
def idx_bytes():
    """``idx_bytes(arr, code=0x08) -> bytes``: an uncompressed IDX encoding of ``arr``."""
    return _idx_bytes


@pytest.fixture
def write_mnist_like(tmp_path):
    """Write a tiny MNIST-named split (gzip) and return its directory."""

    def write(n_images: int = 5, n_labels: int = 5, split: str = "train", hw=(28, 28), seed=0):
        rng = np.random.default_rng(seed)
        prefix = "train" if split == "train" else "t10k"
        images = rng.integers(0, 256, size=(n_images, *hw), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n_labels, dtype=np.uint8)
        (tmp_path / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images)))
        (tmp_path / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(labels)))
        return tmp_path, images, labels

    return write

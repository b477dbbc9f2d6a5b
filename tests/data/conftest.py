"""Shared fixtures of the data tests: IDX file writers (``mnist_dir`` is suite-wide)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest


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

"""Shared fixtures of the data tests: DeepMind's dSprites frames and IDX file writers
(``mnist_dir`` is suite-wide)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DSPRITES_GIF = SHARED_DATA / "dsprites" / "dsprites.gif"


def _dsprites_gif_classes() -> np.ndarray:
    """Factor classes (N, 6) of the 320 frames of dsprites.gif, read off the animation's blocks.

    It walks one factor at a time, per shape: scale up, down, up (6 frames each), orientation
    0..39 at scale 1; the heart then walks posY down, posX right, posY up, posX left (32 each);
    and scale down to close. Every frame's classes are also its best fit over the factor grid
    (all shapes, scales and orientations near its bounding-box centre; ties only for identical
    pictures).
    """
    up, down, walk = np.arange(6), np.arange(5, -1, -1), np.arange(32)
    blocks = []  # (shape, scale, orientation, posX, posY): arrays or constants of one block

    def scales(shape, order):
        return [(shape, s, 0, 0, 0) for s in order]

    for shape in (2, 1, 0):  # heart, ellipse, square
        blocks += scales(shape, (up, down, up)) + [(shape, 5, np.arange(40), 0, 0)]
        if shape == 2:
            blocks += [(2, 5, 0, 0, walk), (2, 5, 0, walk, 31), (2, 5, 0, 31, walk[::-1]),
                       (2, 5, 0, walk[::-1], 0)]
        blocks += scales(shape, (down,))
    rows = []
    for block in blocks:
        n = max(np.size(v) for v in block)
        rows += [[0] + [int(np.broadcast_to(v, n)[k]) for v in block] for k in range(n)]
    return np.array(rows, dtype=np.int64)


@pytest.fixture(scope="session")
def dsprites_gif() -> tuple[np.ndarray, np.ndarray]:
    """DeepMind's dsprites.gif: binary frames (320, 64, 64) and their factor classes (320, 6)."""
    if not DSPRITES_GIF.is_file():
        pytest.skip(f"dSprites frames not found at {DSPRITES_GIF} (expected ../shared/data/dsprites)")
    from PIL import Image, ImageSequence

    with Image.open(DSPRITES_GIF) as gif:
        frames = np.stack([np.array(f.convert("L")) > 127 for f in ImageSequence.Iterator(gif)])
    classes = _dsprites_gif_classes()
    assert frames.shape == (len(classes), 64, 64)
    return frames, classes


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

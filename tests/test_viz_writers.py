"""The grid writers every report shares: small tiles for big images, the reconstructions grid."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from infovaegan_plugin.viz import save_reconstruction_grid, save_small_grid


def test_big_tiles_are_shrunk(tmp_path):
    big = np.random.default_rng(0).random((4, 1, 64, 64), dtype=np.float32)
    width, height = Image.open(save_small_grid(big, tmp_path / "big.png", ncol=4)).size
    assert (width, height) == (4 * 33 + 1, 33 + 1)  # 64 px tiles shrunk to 32 px


def test_reconstruction_grid_puts_real_over_recon_and_says_so(tmp_path):
    gen = torch.Generator().manual_seed(0)
    real, recon = torch.rand(5, 1, 64, 64, generator=gen), torch.rand(5, 1, 64, 64, generator=gen)
    picture = Image.open(save_reconstruction_grid(real, recon, tmp_path / "r.png", "decoded",
                                                  max_tile=32))
    assert picture.text["Description"].splitlines()[0] == (
        "Reconstructions: top row = held-out images, bottom row = decoded")
    full = Image.open(save_reconstruction_grid(real, recon, tmp_path / "full.png", "decoded"))
    assert full.size[0] > picture.size[0]  # without max_tile the 64 px tiles are kept

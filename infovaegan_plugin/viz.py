"""PNG grids a person looks at: samples per categorical value, reconstructions, traversals.

Pillow only (no matplotlib): small images are upscaled with nearest-neighbour so an 8x8
digit stays legible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Union

import numpy as np
import torch
from PIL import Image

ArrayLike = Union[np.ndarray, torch.Tensor]
MIN_TILE = 32  # pixels: tiles smaller than this are upscaled


def to_numpy_images(images: ArrayLike) -> np.ndarray:
    if torch.is_tensor(images):
        images = images.detach().cpu().float().numpy()
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {images.shape}.")
    return images


def image_grid(images: ArrayLike, ncol: int, padding: int = 1) -> np.ndarray:
    """Tile (N, C, H, W) images in [0, 1] into one uint8 (rows*H, cols*W[, 3]) array."""
    images = to_numpy_images(images)
    n, c, h, w = images.shape
    if c not in (1, 3):
        raise ValueError(f"a grid needs 1 or 3 channels, got {c}.")
    nrow = max(1, int(np.ceil(n / ncol)))
    grid = np.ones((c, nrow * (h + padding) + padding, ncol * (w + padding) + padding), np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = image
    grid = (np.clip(grid, 0.0, 1.0) * 255).round().astype(np.uint8)
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_grid(images: ArrayLike, path: Union[str, Path], ncol: int) -> Path:
    """Write a grid PNG; tiles under 32 px are upscaled (nearest) to stay readable."""
    images = to_numpy_images(images)
    array = image_grid(images, ncol)
    scale = max(1, int(np.ceil(MIN_TILE / images.shape[-1])))
    picture = Image.fromarray(array)
    if scale > 1:
        picture = picture.resize((array.shape[1] * scale, array.shape[0] * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
    return path


@torch.no_grad()
def samples_per_category(model, per_category: int = 10, seed: int = 0) -> torch.Tensor:
    """One row per value of the first categorical code, prior noise and continuous codes."""
    cfg = model.model_config
    rows = cfg.categorical_dims[0] if cfg.categorical_dims else 1
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    n = rows * per_category
    index = torch.zeros(n, len(cfg.categorical_dims), dtype=torch.long)
    if cfg.categorical_dims:
        index[:, 0] = torch.arange(rows).repeat_interleave(per_category)
    return model.generate(n, categorical=index, generator=gen)


def write_model_grids(
    model, out_dir: Union[str, Path], real_images: ArrayLike | None = None, seed: int = 0
) -> Dict[str, Path]:
    """All standard grids of a trained model; returns name -> PNG path."""
    model.eval()
    out_dir = Path(out_dir)
    cfg = model.model_config
    paths: Dict[str, Path] = {}
    paths["samples_per_category"] = save_grid(
        samples_per_category(model, 10, seed), out_dir / "samples_per_category.png", ncol=10
    )
    if real_images is not None:
        real = torch.as_tensor(to_numpy_images(real_images)[:10]).to(next(model.parameters()).device)
        with torch.no_grad():
            recon = model.reconstruct(real)
        paths["reconstructions"] = save_grid(
            torch.cat([real, recon]), out_dir / "reconstructions.png", ncol=real.shape[0]
        )
    with torch.no_grad():
        for dim in range(cfg.continuous_dim):
            paths[f"traversal_continuous_{dim}"] = save_grid(
                model.traverse(dim, num_values=10, noise_seed=seed),
                out_dir / f"traversal_continuous_{dim}.png",
                ncol=10,
            )
    return paths


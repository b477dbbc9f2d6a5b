"""PNG grids drawn from a torch model: samples per categorical value, reconstructions,
traversals (:func:`write_model_grids`, what every training run writes). The array-to-PNG part,
labels included, is :mod:`infovaegan_plugin.grids` (no torch), re-exported here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .grids import (  # noqa: F401  (re-exported: the names callers have used)
    LABEL_FONT_SIZE,
    MARGIN,
    MAX_TILE,
    MIN_TILE,
    TITLE_FONT_SIZE,
    GridLabels,
    category_labels,
    code_values,
    image_grid,
    label_picture,
    save_grid,
    to_numpy_images,
)

ArrayLike = np.ndarray | torch.Tensor


def save_small_grid(images: ArrayLike, path: str | Path, ncol: int,
                    max_tile: int = MAX_TILE, labels: GridLabels | None = None) -> Path:
    """:func:`save_grid` with tiles over ``max_tile`` pixels shrunk first (area average), so
    grids of 64x64 images stay small files."""
    import torch.nn.functional as F

    if not torch.is_tensor(images):
        images = torch.from_numpy(np.asarray(images, dtype=np.float32))
    images = images.detach().cpu().float()
    height, width = images.shape[-2:]
    if max(height, width) > max_tile:
        factor = max_tile / max(height, width)
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
        images = F.interpolate(images, size=size, mode="area")
    return save_grid(images.clamp(0, 1), path, ncol=ncol, labels=labels)


def save_reconstruction_grid(real: torch.Tensor, recon: torch.Tensor, path: str | Path,
                             bottom: str, max_tile: int | None = None) -> Path:
    """The reconstructions grid every report writes: held-out images over their
    reconstructions (``bottom`` says how those were made); ``max_tile`` shrinks big tiles."""
    labels = GridLabels(title=f"Reconstructions: top row = held-out images, bottom row = "
                        f"{bottom}", rows=["real", "recon."])
    images = torch.cat([real, recon])
    if max_tile is None:
        return save_grid(images, path, ncol=real.shape[0], labels=labels)
    return save_small_grid(images, path, ncol=real.shape[0], max_tile=max_tile, labels=labels)


@torch.no_grad()
def samples_per_category(model, per_category: int = 10, seed: int = 0) -> torch.Tensor:
    """One row per value of the first categorical code, prior noise and continuous codes."""
    layout = model.layout
    rows = layout.check_categorical_code(0)
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    n = rows * per_category
    index = torch.zeros(n, layout.n_codes, dtype=torch.long)
    if layout.n_codes:
        index[:, 0] = torch.arange(rows).repeat_interleave(per_category)
    return model.generate(n, categorical=index, generator=gen)


def _category_labels(cfg, code: int = 0) -> list[str]:
    sizes = cfg.layout.categorical_sizes
    return category_labels(sizes[code] if sizes else 0)


def write_model_grids(
    model, out_dir: str | Path, real_images: ArrayLike | None = None, seed: int = 0
) -> dict[str, Path]:
    """All standard grids of a trained model, labelled; returns name -> PNG path."""
    model.eval()
    out_dir = Path(out_dir)
    cfg = model.model_config
    paths: dict[str, Path] = {}
    what = "categorical_0 set to the row's category" if cfg.categorical_dims else "one row"
    paths["samples_per_category"] = save_grid(
        samples_per_category(model, 10, seed), out_dir / "samples_per_category.png", ncol=10,
        labels=GridLabels(
            title=f"Samples per category: rows = {what}; columns = 10 samples, the other "
            f"codes and the noise drawn from the prior (seed {seed})",
            rows=_category_labels(cfg),
        ),
    )
    if real_images is not None:
        real = torch.as_tensor(to_numpy_images(real_images)[:10]).to(next(model.parameters()).device)
        with torch.no_grad():
            recon = model.reconstruct(real)
        paths["reconstructions"] = save_reconstruction_grid(
            real, recon, out_dir / "reconstructions.png", "generator(encoder(image))")
    layout = model.layout
    limit = layout.traversal_limit  # the prior's range: [-1, 1] uniform, [-2, 2] normal
    values = layout.traversal_values(10, limit)
    with torch.no_grad():
        for dim in range(layout.continuous_dim):
            paths[f"traversal_continuous_{dim}"] = save_grid(
                model.traverse(dim, num_values=len(values), limit=limit, noise_seed=seed),
                out_dir / f"traversal_continuous_{dim}.png",
                ncol=len(values),
                labels=GridLabels(
                    title=f"Traversal of continuous:{dim}: rows = categorical_0 category; columns "
                    f"= continuous:{dim} from {-limit:g} to {limit:g}; other continuous codes 0, "
                    f"noise fixed (seed {seed})",
                    rows=_category_labels(cfg),
                    columns=code_values(values),
                ),
            )
    return paths

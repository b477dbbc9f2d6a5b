"""Small random affine changes of real images for self-augmented training (IMSAT, Hu et al.
2017): a digit rotated by a few degrees, shifted by a pixel or slightly rescaled is the same
digit, so its category should not change. The ranges stay well inside what a category
tolerates on MNIST-like data."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Largest rotation (degrees), shift (fraction of the half-width) and relative scale change.
MAX_ROTATION_DEG = 15.0
MAX_SHIFT = 0.1
MAX_SCALE_CHANGE = 0.1


def random_affine(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    max_rotation_deg: float = MAX_ROTATION_DEG,
    max_shift: float = MAX_SHIFT,
    max_scale_change: float = MAX_SCALE_CHANGE,
) -> torch.Tensor:
    """Each image rotated, shifted and rescaled by its own uniform draw (zeros fill in)."""
    n = images.shape[0]
    draw = torch.rand((n, 4), generator=generator, device=images.device, dtype=torch.float32)
    angle = (2 * draw[:, 0] - 1) * math.radians(max_rotation_deg)
    scale = 1 + (2 * draw[:, 1] - 1) * max_scale_change
    shift = (2 * draw[:, 2:] - 1) * max_shift
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images.float(), grid, align_corners=False, padding_mode="zeros").to(
        images.dtype
    )

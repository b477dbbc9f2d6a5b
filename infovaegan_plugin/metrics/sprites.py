"""Does a dSprites generator draw sprites, everywhere, of every shape?

A collapsed GAN on dSprites draws one blob, or one sprite at one place: the discriminator's
accuracy says it wins, but not what the generator lost. These statistics say it in the
data's own terms, and they read the same on real images (the reference values):

- ``sprite_fraction``: share of images whose lit pixels (> 0.5) form one sprite: an area
  within the real sprites' range (half the smallest to 1.5x the largest) and one connected
  component holding >= 90% of the lit pixels;
- ``centroid_col_std_px`` / ``centroid_row_std_px``: spread of the centroid of the intensity,
  in pixels (real dSprites: ~9 px, positions uniform over 32 columns);
- :func:`shapes_per_category`: the shape a classifier sees in the samples of each value of a
  categorical code, so that "all three shapes used" is a count;
- :func:`reconstruction_overlap`: how much of a real sprite its reconstruction covers. A
  per-pixel error hardly tells: a blank image already scores the lit share (~0.04 MSE).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import ndimage

__all__ = [
    "area_range",
    "reconstruction_overlap",
    "shapes_per_category",
    "sprite_statistics",
    "traversal_effects",
]

#: a sprite's connected component must hold this share of the lit pixels
MAIN_COMPONENT_SHARE = 0.9
#: a shape is drawn when it holds this share of the samples (a third when balanced)
DRAWN_SHARE = 0.1


def _binary(images: Any) -> np.ndarray:
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"sprite statistics need (N, 1, H, W) images, got shape {x.shape}.")
    if x.shape[0] == 0:
        raise ValueError("sprite statistics need at least one image.")
    return x[:, 0] > 0.5


def _centroids(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intensity centroid (col, row) and mass of each image (N, H, W)."""
    mass = x.sum(axis=(1, 2)) + 1e-9
    rows, cols = np.arange(x.shape[1]), np.arange(x.shape[2])
    cy = (x.sum(axis=2) * rows).sum(1) / mass
    cx = (x.sum(axis=1) * cols).sum(1) / mass
    return cx, cy, mass


def area_range(real_images: Any) -> tuple[float, float]:
    """(lowest, highest) lit area counted as a sprite: half the smallest and 1.5x the largest
    area of the real images."""
    areas = _binary(real_images).sum(axis=(1, 2))
    if areas.min() == 0:
        raise ValueError("a real image has no lit pixel: these are not dSprites images.")
    return 0.5 * float(areas.min()), 1.5 * float(areas.max())


def reconstruction_overlap(real: Any, reconstructed: Any) -> dict[str, np.ndarray]:
    """Per image: ``iou``, the intersection over union of the lit pixels (> 0.5) of a real
    sprite and its reconstruction (0 for a blank reconstruction), and ``centroid_error_px``,
    the distance between their intensity centroids (nan where the reconstruction is blank)."""
    target, recon = _binary(real), _binary(reconstructed)
    if target.shape != recon.shape:
        raise ValueError(f"real and reconstructed shapes differ: {target.shape} vs "
                         f"{recon.shape}.")
    union = (target | recon).sum(axis=(1, 2))
    if (target.sum(axis=(1, 2)) == 0).any():
        raise ValueError("a real image has no lit pixel: these are not dSprites images.")
    iou = (target & recon).sum(axis=(1, 2)) / union
    tx, ty, _ = _centroids(np.asarray(real, dtype=np.float64)[:, 0])
    rx, ry, mass = _centroids(np.asarray(reconstructed, dtype=np.float64)[:, 0])
    error = np.hypot(tx - rx, ty - ry)
    error[mass < 1e-6] = np.nan
    return {"iou": iou, "centroid_error_px": error}


def sprite_statistics(images: Any, areas: tuple[float, float]) -> dict[str, float]:
    """Sprite share and centroid spread of ``images`` (N, 1, H, W) in [0, 1]; ``areas`` from
    :func:`area_range` of real images."""
    binary = _binary(images)
    x = np.asarray(images, dtype=np.float64)[:, 0]
    lit = binary.sum(axis=(1, 2))
    draws = np.zeros(len(binary), dtype=bool)
    for i, (mask, n) in enumerate(zip(binary, lit)):
        if not areas[0] <= n <= areas[1]:
            continue
        labels, count = ndimage.label(mask)
        largest = np.bincount(labels.ravel())[1:].max() if count else 0
        draws[i] = largest >= MAIN_COMPONENT_SHARE * n
    cx, cy, _ = _centroids(x)
    return {
        "sprite_fraction": float(draws.mean()),
        "centroid_col_std_px": float(cx.std()),
        "centroid_row_std_px": float(cy.std()),
        "lit_area_mean": float(lit.mean()),
    }


def shapes_per_category(
    model: Any, classifier: torch.nn.Module, per_category: int = 200, seed: int = 0, code: int = 0
) -> dict[str, Any]:
    """For each value of categorical code ``code``: the share of its prior samples the
    classifier labels with each class; ``majority`` per value, ``shapes_used`` (distinct
    majority classes: the code separates that many shapes), the matched ``purity``, and
    ``shapes_drawn``: classes holding at least :data:`DRAWN_SHARE` of all the samples (the
    generator draws that many shapes, whichever code value it draws them with)."""
    from infovaegan_plugin.metrics.clustering import unsupervised_accuracy
    from infovaegan_plugin.metrics.purity import labels_per_category

    labels, categories = labels_per_category(model, classifier, per_category, seed, code)
    k = int(categories.max()) + 1
    classes = int(classifier.num_classes) if hasattr(classifier, "num_classes") else int(labels.max()) + 1
    shares = np.stack([np.bincount(labels[categories == c], minlength=classes) / per_category
                       for c in range(k)])
    majority = shares.argmax(1)
    overall = shares.mean(0)
    return {
        "shares": shares.round(4).tolist(),
        "overall": overall.round(4).tolist(),
        "shapes_drawn": int((overall >= DRAWN_SHARE).sum()),
        "majority": majority.tolist(),
        "shapes_used": int(len(set(majority.tolist()))),
        "purity": float(unsupervised_accuracy(labels, categories)),
    }


#: what a traversal row must change to be said to move a factor: centroid (px), scale (ratio
#: of sqrt-areas, max/min), orientation (degrees, summed over the row's steps)
MOVES_POSITION_PX = 4.0
MOVES_SCALE_RATIO = 1.15
MOVES_ORIENTATION_DEG = 30.0
#: second-moment elongation below which an orientation is not defined (a square, a blob)
MIN_ELONGATION = 0.15


def _moments(x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Centroid (col, row), sqrt of the mass, the second-moment orientation (degrees, mod
    180) and elongation ((l1 - l2) / (l1 + l2) of the moment matrix) of each image (N, H, W)."""
    cx, cy, mass = _centroids(x)
    rows, cols = np.arange(x.shape[1])[:, None], np.arange(x.shape[2])[None, :]
    dx, dy = cols[None] - cx[:, None, None], rows[None] - cy[:, None, None]
    mu20, mu02, mu11 = ((x * dx**2).sum((1, 2)), (x * dy**2).sum((1, 2)), (x * dx * dy).sum((1, 2)))
    angle = np.degrees(0.5 * np.arctan2(2 * mu11, mu20 - mu02)) % 180.0
    elongation = np.sqrt((mu20 - mu02) ** 2 + 4 * mu11**2) / (mu20 + mu02 + 1e-9)
    return cx, cy, np.sqrt(mass), angle, elongation


def traversal_effects(images: Any, ncol: int, labels: list[str]) -> list[dict[str, Any]]:
    """What each row of a traversal grid (``len(labels)`` rows of ``ncol`` images, one code
    varied along the row) does to the sprite: range of the centroid column and row (px), the
    max/min ratio of its scale (sqrt of the lit mass), the orientation turned (degrees, summed
    over steps between elongated sprites, mod 180: a square's second moments have none), and
    ``moves``: the factors past the thresholds above."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4 or x.shape[1] != 1 or x.shape[0] != ncol * len(labels):
        raise ValueError(
            f"a traversal needs {len(labels)} rows x {ncol} images of shape (1, H, W), got "
            f"{x.shape}."
        )
    cx, cy, scale, angle, elongation = (
        m.reshape(len(labels), ncol) for m in _moments(x[:, 0])
    )
    out = []
    for i, label in enumerate(labels):
        turn = np.abs(np.diff(angle[i]))
        defined = (elongation[i][1:] >= MIN_ELONGATION) & (elongation[i][:-1] >= MIN_ELONGATION)
        turned = float((np.minimum(turn, 180.0 - turn) * defined).sum())
        effect = {
            "row": label,
            "col_range_px": float(np.ptp(cx[i])),
            "row_range_px": float(np.ptp(cy[i])),
            "scale_ratio": float(scale[i].max() / max(scale[i].min(), 1e-9)),
            "orientation_turned_deg": turned,
        }
        moves = [name for name, hit in (
            ("x", effect["col_range_px"] >= MOVES_POSITION_PX),
            ("y", effect["row_range_px"] >= MOVES_POSITION_PX),
            ("scale", effect["scale_ratio"] >= MOVES_SCALE_RATIO),
            ("orientation", turned >= MOVES_ORIENTATION_DEG),
        ) if hit]
        out.append({**effect, "moves": moves})
    return out

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
  categorical code, so that "all three shapes used" is a count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import ndimage

__all__ = ["area_range", "shapes_per_category", "sprite_statistics"]

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


def area_range(real_images: Any) -> tuple[float, float]:
    """(lowest, highest) lit area counted as a sprite: half the smallest and 1.5x the largest
    area of the real images."""
    areas = _binary(real_images).sum(axis=(1, 2))
    if areas.min() == 0:
        raise ValueError("a real image has no lit pixel: these are not dSprites images.")
    return 0.5 * float(areas.min()), 1.5 * float(areas.max())


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
    mass = x.sum(axis=(1, 2)) + 1e-9
    rows, cols = np.arange(x.shape[1]), np.arange(x.shape[2])
    cy = (x.sum(axis=2) * rows).sum(1) / mass
    cx = (x.sum(axis=1) * cols).sum(1) / mass
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

    cfg = model.model_config
    if not cfg.categorical_dims:
        raise ValueError("shapes per category need a model with a categorical code.")
    k = cfg.categorical_dims[code]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            gen = torch.Generator().manual_seed(seed)
            codes = model.sample_prior(k * per_category, generator=gen)
            index = codes.categorical_index.clone()
            index[:, code] = torch.arange(k).repeat_interleave(per_category)
            images = model.generate(k * per_category, categorical=index, noise=codes.noise,
                                    continuous=codes.continuous)
            labels = classifier(images.cpu().float()).argmax(1).numpy()
    finally:
        model.train(was_training)
    classes = int(classifier.num_classes) if hasattr(classifier, "num_classes") else int(labels.max()) + 1
    categories = np.repeat(np.arange(k), per_category)
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

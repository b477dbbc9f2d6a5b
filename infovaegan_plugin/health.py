"""Training health: name a collapsing GAN while it happens, and say what to try.

Three symptoms, each measured once per epoch by the trainer:

- the discriminator wins: both its accuracies >= ``d_win_accuracy`` on most steps of an epoch,
  or a mean accuracy >= ``d_dominant_mean``, for ``patience`` epochs in a row (the generator
  then gets no gradient worth having; on dSprites this came with every sample drawn at the
  same place);
- the generator has collapsed: the per-pixel standard deviation of prior samples is a small
  fraction of the real images' (every sample draws the same thing);
- a dead category: a value of the categorical code that the encoder gives almost no held-out
  image (the generator draws nothing distinct for it, or the encoder ignores it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["HealthMonitor", "category_shares", "sample_spread"]


@dataclass
class HealthMonitor:
    """Turns an epoch's metrics into warnings (strings that say what to try)."""

    d_win_accuracy: float = 0.99
    d_win_fraction: float = 0.5
    d_dominant_mean: float = 0.95
    patience: int = 2
    min_spread_ratio: float = 0.2
    dead_share: float = 0.1  # of the uniform share 1/K
    _d_win_streak: int = field(default=0, repr=False)

    def check(self, metrics: dict[str, float]) -> list[str]:
        warnings: list[str] = []
        won = metrics.get("d_saturated_fraction")
        real, fake = metrics.get("d_real_accuracy"), metrics.get("d_fake_accuracy")
        dominant = real is not None and fake is not None and (real + fake) / 2 >= self.d_dominant_mean
        if won is not None:
            winning = won >= self.d_win_fraction or dominant
            self._d_win_streak = self._d_win_streak + 1 if winning else 0
            if self._d_win_streak >= self.patience:
                warnings.append(
                    f"discriminator wins: {won:.0%} of this epoch's steps had both accuracies "
                    f">= {self.d_win_accuracy:.0%}"
                    + (f" (mean accuracy real {real:.2f}, fake {fake:.2f})" if dominant else "")
                    + f", {self._d_win_streak} epochs in a row; the generator gets no signal. Try "
                    "a lower discriminator learning rate, a higher generator learning rate, or "
                    "restart from an earlier checkpoint."
                )
        spread = metrics.get("sample_spread_ratio")
        if spread is not None and spread < self.min_spread_ratio:
            warnings.append(
                f"generator collapse: generated samples vary {spread:.2f}x as much as real "
                "images pixel by pixel (every sample draws nearly the same image). Try another "
                "seed, a lower generator learning rate, or fewer continuous codes."
            )
        share = metrics.get("min_category_share")
        if share is not None and share < self.dead_share:
            warnings.append(
                f"dead category: one value of the categorical code gets {share:.0%} of its fair "
                "share of held-out images. Train longer, or lower the categorical KL weight."
            )
        return warnings


def sample_spread(generated: np.ndarray, real: np.ndarray) -> float:
    """Mean per-pixel standard deviation of generated images over that of real images."""
    real_std = float(np.asarray(real, dtype=np.float64).std(axis=0).mean())
    fake_std = float(np.asarray(generated, dtype=np.float64).std(axis=0).mean())
    return fake_std / max(real_std, 1e-12)


def category_shares(predictions: np.ndarray, num_categories: int) -> np.ndarray:
    """Share of images per category, relative to the uniform share (1.0 = fair)."""
    counts = np.bincount(np.asarray(predictions, dtype=np.int64), minlength=num_categories)
    return counts[:num_categories] / max(counts.sum(), 1) * num_categories


def min_category_share(predictions: np.ndarray | None, num_categories: int) -> float | None:
    if predictions is None or len(predictions) == 0:
        return None
    return float(category_shares(predictions, num_categories).min())

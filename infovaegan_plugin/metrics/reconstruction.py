"""Reconstruction quality of the VAE path (encoder -> decoder).

Images follow the library convention: float32 ``(N, C, H, W)`` in ``[0, 1]``. Two per-image
errors are reported, each averaged over pixels so that numbers are comparable across image
sizes: the mean squared error, and the binary cross-entropy (the Bernoulli negative
log-likelihood used as the reconstruction term of the InfoVAEGAN/VAE objective).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ["reconstruction_errors", "evaluate_reconstruction"]

# Probabilities are clamped to [EPS, 1 - EPS] before the logs (in float64, where 1 - 1e-7 is
# representable), so a saturated sigmoid output gives a large but finite BCE.
BCE_EPS = 1e-7


def _to_float64(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(f"{name} must be a batch of images (N, C, H, W), got shape {arr.shape}")
    return arr


def reconstruction_errors(x: Any, x_rec: Any) -> dict[str, np.ndarray]:
    """Per-image ``mse`` and ``bce`` (each a float64 array of shape ``(N,)``).

    ``x`` is the target in ``[0, 1]`` and ``x_rec`` the reconstruction (probabilities), both
    numpy arrays or torch tensors of identical shape.
    """
    target = _to_float64(x, "x")
    recon = _to_float64(x_rec, "x_rec")
    if target.shape != recon.shape:
        raise ValueError(f"x and x_rec shapes differ: {target.shape} vs {recon.shape}")
    n = target.shape[0]
    target = target.reshape(n, -1)
    recon = recon.reshape(n, -1)
    mse = np.mean((target - recon) ** 2, axis=1)
    p = np.clip(recon, BCE_EPS, 1.0 - BCE_EPS)
    bce = -np.mean(target * np.log(p) + (1.0 - target) * np.log1p(-p), axis=1)
    return {"mse": mse, "bce": bce}


def evaluate_reconstruction(
    reconstruct_fn: Callable[[torch.Tensor], Any],
    images: np.ndarray,
    batch_size: int = 256,
) -> dict[str, float | int]:
    """Mean per-image MSE and BCE of ``reconstruct_fn`` over ``images``.

    ``reconstruct_fn`` receives float32 tensors ``(B, C, H, W)`` in ``[0, 1]`` (e.g.
    ``model.reconstruct``) and must return a tensor or array of the same shape. It runs under
    ``torch.no_grad()``. Returns ``{"mse": float, "bce": float, "n": int}``.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {images.shape}")
    if images.shape[0] == 0:
        raise ValueError("images is empty")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    mse_sum = 0.0
    bce_sum = 0.0
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            chunk = np.ascontiguousarray(images[start : start + batch_size], dtype=np.float32)
            batch = torch.from_numpy(chunk)
            recon = reconstruct_fn(batch)
            if tuple(recon.shape) != tuple(batch.shape):
                raise ValueError(
                    f"reconstruct_fn returned shape {tuple(recon.shape)} "
                    f"for input {tuple(batch.shape)}"
                )
            errors = reconstruction_errors(batch, recon)
            mse_sum += float(errors["mse"].sum())
            bce_sum += float(errors["bce"].sum())
    n = int(images.shape[0])
    return {"mse": mse_sum / n, "bce": bce_sum / n, "n": n}

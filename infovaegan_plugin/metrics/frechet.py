"""Frechet distances between sets of images, computed offline.

The Frechet distance between two Gaussians fitted to feature sets (Dowson & Landau, 1982) is
``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``. With Inception-v3 pool features it is the
FID of Heusel et al. (2017); :func:`frechet_distance` follows pytorch-fid's numerics.

Two feature extractors are offered:

* :class:`DatasetClassifier` - a small CNN trained on the dataset's own labels (MNIST, digits,
  dSprites shapes). Its 128-d dense features give the **classifier Frechet distance**
  (``"cfd"``), computable on CPU without any download. It is *not* FID: numbers are only
  comparable between runs that use the same saved classifier, and they are refused
  (:class:`UntrustworthyClassifierError`) when its held-out accuracy is below
  :data:`MIN_HELD_OUT_ACCURACY`.
* :func:`inception_fid` - the real FID, only when the user supplies a local TorchScript Inception
  feature extractor (e.g. pytorch-fid's ``pt_inception`` network exported with TorchScript).
  Nothing is ever downloaded.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg

from infovaegan_plugin.metrics.dataset_classifier import (
    DatasetClassifier,
    check_images,
    require_trustworthy,
    train_feature_classifier,
)

__all__ = [
    "frechet_distance",
    "feature_statistics",
    "DatasetClassifier",
    "train_feature_classifier",
    "classifier_features",
    "classifier_frechet_distance",
    "classifier_frechet_report",
    "inception_fid",
]

INCEPTION_SIZE = 299


# ---------------------------------------------------------------------------------------------
# Frechet distance


def feature_statistics(features: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of ``features (N, D)``, N >= 2."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got shape {feats.shape}")
    return feats.mean(axis=0), np.atleast_2d(np.cov(feats, rowvar=False))


def frechet_distance(
    mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, eps: float = 1e-6
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), as pytorch-fid computes it.

    If the product of covariances is singular (non-finite square root), ``eps`` is added to both
    diagonals; a negligible imaginary part of the square root (numerical error) is dropped and a
    large one raises ``ValueError``.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(
            f"shape mismatch: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}"
        )
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))} in sqrtm")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def _batched_features(
    extract: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray, batch_size: int
) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
            out.append(extract(batch).reshape(batch.shape[0], -1).double().cpu().numpy())
    return np.concatenate(out, axis=0)


def classifier_features(
    classifier: DatasetClassifier, images: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """The classifier's ``(N, feature_dim)`` features for images in the library convention."""
    x = check_images(images, "images", classifier.input_dim)
    classifier.eval()
    return _batched_features(classifier.features, x, batch_size)


def classifier_frechet_distance(
    classifier: DatasetClassifier,
    real_images: np.ndarray,
    fake_images: np.ndarray,
    batch_size: int = 256,
) -> float:
    """Classifier Frechet distance ("cfd") between two image sets: NOT the Inception FID.

    Frechet distance of Gaussians fitted to :class:`DatasetClassifier` features; compare values
    only across runs scored with the same saved classifier. Raises
    :class:`UntrustworthyClassifierError` when the classifier is too weak.
    """
    require_trustworthy(classifier, "the classifier Frechet distance")
    mu1, s1 = feature_statistics(classifier_features(classifier, real_images, batch_size))
    mu2, s2 = feature_statistics(classifier_features(classifier, fake_images, batch_size))
    return frechet_distance(mu1, s1, mu2, s2)


def classifier_frechet_report(
    classifier: DatasetClassifier,
    real_images: np.ndarray,
    fake_images: np.ndarray,
    batch_size: int = 256,
) -> dict[str, Any]:
    """``{"cfd", "classifier_held_out_accuracy", "metric", "n_real", "n_fake", "feature_dim"}``
    for logs and JSON reports."""
    return {
        "cfd": classifier_frechet_distance(classifier, real_images, fake_images, batch_size),
        "classifier_held_out_accuracy": classifier.held_out_accuracy,
        "metric": "classifier Frechet distance (dataset CNN features, not Inception FID)",
        "n_real": int(np.shape(real_images)[0]),
        "n_fake": int(np.shape(fake_images)[0]),
        "feature_dim": classifier.feature_dim,
    }


# ---------------------------------------------------------------------------------------------
# Inception FID with user-supplied weights


def _inception_input(batch: torch.Tensor) -> torch.Tensor:
    """Grey -> 3 channels, bilinear resize to 299x299; values stay in [0, 1]."""
    if batch.shape[1] == 1:
        batch = batch.repeat(1, 3, 1, 1)
    elif batch.shape[1] != 3:
        raise ValueError(f"Inception FID needs 1 or 3 channels, got {batch.shape[1]}")
    if tuple(batch.shape[2:]) != (INCEPTION_SIZE, INCEPTION_SIZE):
        size = (INCEPTION_SIZE, INCEPTION_SIZE)
        batch = F.interpolate(batch, size=size, mode="bilinear", align_corners=False)
    return batch


def inception_fid(
    real_images: np.ndarray,
    fake_images: np.ndarray,
    weights_path: str | os.PathLike[str],
    batch_size: int = 50,
    device: str | torch.device = "cpu",
) -> float:
    """FID with a local TorchScript Inception feature extractor at ``weights_path``.

    The module receives float32 ``(B, 3, 299, 299)`` in ``[0, 1]`` (it must do its own input
    normalisation, as pytorch-fid's ``InceptionV3(normalize_input=True)`` does) and returns pool
    features ``(B, D)`` or ``(B, D, 1, 1)``, or a list/tuple whose first item is such a tensor.
    Meaningful FID values need the genuine pytorch-fid Inception weights; never downloads.
    ``device`` runs the network elsewhere (e.g. ``"cuda"``); statistics are computed on CPU.
    """
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Inception weights not found at {path}; pass a local TorchScript file "
            "(this library never downloads weights)"
        )
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated in favour of torch.export, but it is the format in which
            # Inception feature extractors are commonly shared; loading it is deliberate here.
            warnings.simplefilter("ignore", DeprecationWarning)
            network = torch.jit.load(str(path), map_location=device)
    except RuntimeError as exc:
        raise ValueError(f"{path} is not a TorchScript archive: {exc}") from exc
    network.eval()

    def extract(batch: torch.Tensor) -> torch.Tensor:
        out = network(_inception_input(batch.to(device)))
        if isinstance(out, (list, tuple)):
            out = out[0]
        return out

    real = check_images(real_images, "real_images")
    fake = check_images(fake_images, "fake_images", tuple(real.shape[1:]))
    mu1, s1 = feature_statistics(_batched_features(extract, real, batch_size))
    mu2, s2 = feature_statistics(_batched_features(extract, fake, batch_size))
    return frechet_distance(mu1, s1, mu2, s2)

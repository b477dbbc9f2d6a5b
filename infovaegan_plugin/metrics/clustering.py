"""Clustering metrics for the categorical code of InfoVAEGAN.

The categorical latent is an unsupervised clustering: its indices carry no label semantics, so
accuracy is measured after the best one-to-one relabelling of clusters to classes (the
"unsupervised clustering accuracy" of Xie et al., 2016, used by InfoGAN/InfoVAEGAN papers),
found with the Hungarian algorithm on the contingency matrix. NMI and ARI are the usual
permutation-invariant companions (scikit-learn implementations).

This module depends on numpy/scipy/scikit-learn only, so it can be used without torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

__all__ = [
    "unsupervised_accuracy",
    "cluster_to_label_map",
    "nmi",
    "ari",
    "clustering_report",
]


def _as_int_array(values: Any, name: str) -> np.ndarray:
    """Convert ``values`` to a 1-D int64 array, refusing anything that is not integer-like."""
    try:
        arr = np.asarray(values)
    except Exception as exc:  # ragged sequences and other oddities
        raise ValueError(f"{name} must be a 1-D sequence of integers: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must contain integers, got non-integral floats")
        return arr.astype(np.int64)
    raise ValueError(f"{name} must contain integers, got dtype {arr.dtype}")


def _validate(labels: Any, cluster_ids: Any) -> tuple[np.ndarray, np.ndarray]:
    y = _as_int_array(labels, "labels")
    c = _as_int_array(cluster_ids, "cluster_ids")
    if y.shape != c.shape:
        raise ValueError(
            f"labels and cluster_ids must have the same length, got {y.size} and {c.size}"
        )
    return y, c


def _matching(
    y: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hungarian matching on the (clusters x classes) contingency matrix.

    Returns (cluster values, class values, matched rows, matched columns, contingency).
    The matrix may be rectangular: surplus clusters (or classes) stay unmatched.
    """
    clusters, c_idx = np.unique(c, return_inverse=True)
    classes, y_idx = np.unique(y, return_inverse=True)
    contingency = np.zeros((clusters.size, classes.size), dtype=np.int64)
    np.add.at(contingency, (c_idx, y_idx), 1)
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    return clusters, classes, rows, cols, contingency


def unsupervised_accuracy(labels: Any, cluster_ids: Any) -> float:
    """Accuracy under the best one-to-one cluster->label assignment (Hungarian algorithm).

    Points in clusters left unmatched (more clusters than classes) count as errors, so
    over-clustering cannot inflate the score.
    """
    y, c = _validate(labels, cluster_ids)
    _, _, rows, cols, contingency = _matching(y, c)
    return float(contingency[rows, cols].sum() / y.size)


def cluster_to_label_map(labels: Any, cluster_ids: Any) -> dict[int, int]:
    """The matching used by :func:`unsupervised_accuracy`: ``{cluster_id: label}``.

    Only matched clusters appear; a surplus cluster has no label.
    """
    y, c = _validate(labels, cluster_ids)
    clusters, classes, rows, cols, _ = _matching(y, c)
    return {int(clusters[r]): int(classes[k]) for r, k in zip(rows, cols)}


def nmi(labels: Any, cluster_ids: Any) -> float:
    """Normalized mutual information (arithmetic normalisation, scikit-learn's default)."""
    y, c = _validate(labels, cluster_ids)
    return float(normalized_mutual_info_score(y, c))


def ari(labels: Any, cluster_ids: Any) -> float:
    """Adjusted Rand index (Hubert & Arabie, 1985): 0 for chance, 1 for identical partitions."""
    y, c = _validate(labels, cluster_ids)
    return float(adjusted_rand_score(y, c))


def clustering_report(labels: Any, cluster_ids: Any) -> dict[str, float | int]:
    """All clustering metrics at once: accuracy, nmi, ari, plus n / n_clusters / n_classes."""
    y, c = _validate(labels, cluster_ids)
    return {
        "accuracy": unsupervised_accuracy(y, c),
        "nmi": nmi(y, c),
        "ari": ari(y, c),
        "n": int(y.size),
        "n_clusters": int(np.unique(c).size),
        "n_classes": int(np.unique(y).size),
    }


def code_information(probs: Any) -> float:
    """The encoder's mutual information between images and their category, in nats, from
    ``q(c | x)`` of a set of real images (rows): ``H(mean q) - mean H(q)``. It needs no
    labels: high when the categories are used evenly and each image is assigned confidently,
    which is what a clustering code should do (IMSAT maximises it); at most ``log K``."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or p.shape[0] < 1:
        raise ValueError(f"probs must be (N, K) with K >= 2, got shape {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise ValueError("probs rows must be probability vectors (non-negative, summing to 1)")

    def entropy(q: np.ndarray) -> np.ndarray:
        return -(q * np.log(np.clip(q, 1e-12, None))).sum(-1)

    return float(entropy(p.mean(0)) - entropy(p).mean())

"""The supervised dataset classifier behind generator purity and the classifier Frechet distance.

Both numbers are only as good as this labeller, so it carries the accuracy it measured on a
seeded held-out split of its own training images (no test labels needed), saves it beside its
weights, and :func:`require_trustworthy` refuses to let a weak one produce either number.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CLASSIFIER_FORMAT_VERSION",
    "MIN_HELD_OUT_ACCURACY",
    "DatasetClassifier",
    "OutdatedClassifierError",
    "UntrustworthyClassifierError",
    "check_images",
    "predict_labels",
    "require_trustworthy",
    "train_feature_classifier",
]

CLASSIFIER_WEIGHTS = "classifier.pt"
CLASSIFIER_CONFIG = "classifier.json"
#: Saved-file version; 1 (no ``format_version`` key) was two strided convs with no accuracy.
CLASSIFIER_FORMAT_VERSION = 2
#: Below this held-out accuracy purity and classifier Frechet distances are refused.
MIN_HELD_OUT_ACCURACY = 0.95
#: Share of the training images kept aside (seeded) to measure the held-out accuracy.
HELD_OUT_FRACTION = 0.1
#: The default schedule runs at least this many epochs and this many optimizer steps.
MIN_EPOCHS = 3
MIN_STEPS = 800
#: Pooling is applied only while the feature map is at least this large (8x8 -> 4x4).
MIN_POOL_SIZE = 8
#: Feature maps larger than this are max-pooled further before the dense feature layer.
MAX_DENSE_SIZE = 7
#: Inputs larger than this are average-pooled down to it first (64x64 costs as 32x32).
MAX_CONV_SIZE = 32


class OutdatedClassifierError(ValueError):
    """A saved classifier from an older format (other architecture, no held-out accuracy)."""


class UntrustworthyClassifierError(ValueError):
    """The classifier is too weak (or of unknown accuracy) for purity or Frechet numbers."""


def _conv_block(c_in: int, c_out: int, size: int) -> tuple[list[nn.Module], int]:
    layers: list[nn.Module] = []
    for channels in (c_in, c_out):
        layers += [nn.Conv2d(channels, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                   nn.ReLU()]
    if size >= MIN_POOL_SIZE:
        layers.append(nn.MaxPool2d(2))
        size //= 2
    return layers, size


class DatasetClassifier(nn.Module):
    """(conv3x3-BN-ReLU) x2 - maxpool - (conv3x3-BN-ReLU) x2 - maxpool - dense ``feature_dim`` -
    dropout - logits.

    Inputs above 32x32 are average-pooled to it first (64x64 dSprites), pools are skipped when
    the map is already small (8x8 digits keep 4x4) and larger maps are pooled down to at most
    7x7 before the dense layer, so any ``(C, H, W)`` from 8x8 to 64x64 trains on one CPU core in
    seconds to a few minutes. The dense layer's
    activations are the features the classifier Frechet distance compares.
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int],
        num_classes: int,
        feature_dim: int = 128,
        widths: tuple[int, int] = (16, 32),
        dropout: float = 0.3,
        held_out_accuracy: float | None = None,
        held_out_images: int = 0,
    ) -> None:
        super().__init__()
        c, h, w = (int(v) for v in input_dim)
        if min(c, h, w) < 1 or num_classes < 2:
            raise ValueError(
                f"need a valid (C, H, W) and >= 2 classes, got {input_dim}, {num_classes}"
            )
        self.input_dim = (c, h, w)
        self.num_classes = int(num_classes)
        self.feature_dim = int(feature_dim)
        self.widths = (int(widths[0]), int(widths[1]))
        self.dropout = float(dropout)
        #: Accuracy on the held-out split of the training images (None: never measured).
        self.held_out_accuracy = held_out_accuracy
        self.held_out_images = int(held_out_images)
        size = min(h, w)
        layers: list[nn.Module] = []
        while size > MAX_CONV_SIZE:
            layers.append(nn.AvgPool2d(2))
            size //= 2
        first, size = _conv_block(c, self.widths[0], size)
        second, size = _conv_block(self.widths[0], self.widths[1], size)
        layers += first + second
        while size > MAX_DENSE_SIZE:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        self.conv = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            flat = self.conv(torch.zeros(1, c, h, w)).shape[1]
        self.feature = nn.Sequential(nn.Linear(flat, self.feature_dim), nn.ReLU())
        self.drop = nn.Dropout(self.dropout)
        self.logits = nn.Linear(self.feature_dim, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(N, feature_dim)`` activations the classifier Frechet distance compares."""
        return self.feature(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.drop(self.features(x)))

    def config(self) -> dict[str, Any]:
        return {
            "format_version": CLASSIFIER_FORMAT_VERSION,
            "input_dim": list(self.input_dim),
            "num_classes": self.num_classes,
            "feature_dim": self.feature_dim,
            "widths": list(self.widths),
            "dropout": self.dropout,
            "held_out_accuracy": self.held_out_accuracy,
            "held_out_images": self.held_out_images,
        }

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``classifier.pt`` (state_dict only, no pickled code) and ``classifier.json``
        (architecture and held-out accuracy)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), path / CLASSIFIER_WEIGHTS)
        (path / CLASSIFIER_CONFIG).write_text(json.dumps(self.config(), indent=2))

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> DatasetClassifier:
        """Rebuild from :meth:`save` output; weights are read with ``weights_only=True``.

        Raises :class:`OutdatedClassifierError` for files of an older format.
        """
        path = Path(directory)
        for name in (CLASSIFIER_WEIGHTS, CLASSIFIER_CONFIG):
            if not (path / name).is_file():
                raise FileNotFoundError(f"missing {path / name}")
        cfg = json.loads((path / CLASSIFIER_CONFIG).read_text())
        version = cfg.get("format_version", 1)
        if version != CLASSIFIER_FORMAT_VERSION:
            raise OutdatedClassifierError(
                f"{path} holds a dataset classifier of format {version}; this version reads "
                f"format {CLASSIFIER_FORMAT_VERSION} (a deeper CNN that records its held-out "
                "accuracy). Delete that folder to train a new classifier."
            )
        model = cls(
            tuple(cfg["input_dim"]), cfg["num_classes"], cfg["feature_dim"],
            tuple(cfg["widths"]), cfg["dropout"], cfg["held_out_accuracy"],
            cfg["held_out_images"],
        )
        state = torch.load(path / CLASSIFIER_WEIGHTS, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return model.eval()


def require_trustworthy(classifier: Any, what: str) -> float:
    """The classifier's held-out accuracy, or :class:`UntrustworthyClassifierError` naming
    ``what`` was refused when it is below :data:`MIN_HELD_OUT_ACCURACY` or unknown."""
    accuracy = getattr(classifier, "held_out_accuracy", None)
    if accuracy is None:
        raise UntrustworthyClassifierError(
            f"{what} refused: the dataset classifier has no held-out accuracy; train it with "
            "train_feature_classifier, which measures one."
        )
    if accuracy < MIN_HELD_OUT_ACCURACY:
        images = getattr(classifier, "held_out_images", 0)
        raise UntrustworthyClassifierError(
            f"{what} refused: the dataset classifier's held-out accuracy is {accuracy:.4f} "
            f"({images} images), below {MIN_HELD_OUT_ACCURACY}; its labels would blur the "
            "number. Train it on more labelled images or for more epochs."
        )
    return float(accuracy)


def check_images(images: Any, name: str, chw: tuple[int, int, int] | None = None) -> np.ndarray:
    """``images`` as float32 ``(N, C, H, W)`` in [0, 1] (of shape ``chw`` when given)."""
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim != 4:
        raise ValueError(f"{name} must be (N, C, H, W), got shape {arr.shape}")
    if chw is not None and tuple(arr.shape[1:]) != tuple(chw):
        raise ValueError(f"{name} has image shape {tuple(arr.shape[1:])}, expected {tuple(chw)}")
    if arr.size and (arr.min() < -1e-4 or arr.max() > 1.0 + 1e-4):
        raise ValueError(f"{name} must lie in [0, 1] (got [{arr.min():.3g}, {arr.max():.3g}])")
    return arr


def predict_labels(
    classifier: nn.Module, images: np.ndarray, batch_size: int = 1000
) -> np.ndarray:
    """Argmax labels of ``images`` in eval mode, in batches (restores the training flag)."""
    was_training = classifier.training
    classifier.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
                out.append(classifier(batch).argmax(1).numpy())
    finally:
        classifier.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def default_epochs(n_train: int, batch_size: int) -> int:
    """At least :data:`MIN_EPOCHS` and :data:`MIN_STEPS` optimizer steps (small sets such as
    digits need many epochs, MNIST three)."""
    steps_per_epoch = max(math.ceil(n_train / batch_size), 1)
    return max(MIN_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch))


def train_feature_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int | None = None,
    seed: int = 0,
    batch_size: int = 128,
    lr: float = 1e-3,
    held_out_fraction: float = HELD_OUT_FRACTION,
) -> DatasetClassifier:
    """Train a :class:`DatasetClassifier` with Adam (cosine-decayed ``lr``) on CPU, on all but a
    seeded ``held_out_fraction`` of the images, whose accuracy it then carries as
    ``held_out_accuracy``; returned in eval mode.

    ``labels`` are class indices ``0 .. num_classes - 1``; ``epochs=None`` picks
    :func:`default_epochs`. Seeding is local (the global torch RNG state is restored), so the
    same inputs and seed give the same weights.
    """
    x = check_images(images, "images")
    y = np.asarray(labels)
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError(
            f"labels must be non-negative ints of shape ({x.shape[0]},), got {y.shape} {y.dtype}"
        )
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    n_held = max(int(round(len(y) * held_out_fraction)), 1)
    if len(y) - n_held < 1:
        raise ValueError(f"need at least 2 labelled images to train and measure, got {len(y)}")
    order = np.random.default_rng(seed).permutation(len(y))
    held, fit = order[:n_held], order[n_held:]
    num_classes = max(int(y.max()) + 1, 2)
    x_t = torch.from_numpy(np.ascontiguousarray(x[fit]))
    y_t = torch.from_numpy(y[fit].astype(np.int64))
    epochs = default_epochs(len(fit), batch_size) if epochs is None else int(epochs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DatasetClassifier(tuple(x.shape[1:]), num_classes)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        total = epochs * math.ceil(len(fit) / batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(total, 1))
        generator = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(x_t.shape[0], generator=generator)
            for start in range(0, x_t.shape[0], batch_size):
                idx = perm[start : start + batch_size]
                loss = F.cross_entropy(model(x_t[idx]), y_t[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
    model.eval()
    model.held_out_accuracy = float(np.mean(predict_labels(model, x[held]) == y[held]))
    model.held_out_images = int(n_held)
    return model

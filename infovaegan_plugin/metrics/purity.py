"""Generator purity: does each value of the categorical code draw one class?

Prior samples of each category are labelled by a supervised :class:`DatasetClassifier` and the
categories are matched one-to-one to classes (Hungarian). Read beside the encoder's clustering
accuracy it tells who is at fault when accuracy is low: a generator that mixes classes within
a category (low purity) or an encoder that groups real images differently from the generator
(high purity, low accuracy). A classifier below
:data:`~infovaegan_plugin.metrics.dataset_classifier.MIN_HELD_OUT_ACCURACY` on its held-out split
cannot say which, so purity is then refused (:class:`UntrustworthyClassifierError`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from infovaegan_plugin.metrics.clustering import unsupervised_accuracy
from infovaegan_plugin.metrics.dataset_classifier import (
    require_trustworthy,
    train_feature_classifier,
)

__all__ = ["generator_purity", "labels_per_category", "purity_probe"]


def labels_per_category(
    model: Any, classifier: torch.nn.Module, per_category: int = 100, seed: int = 0, code: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's labels of ``per_category`` prior samples drawn for each value of
    categorical code ``code`` (other codes and the noise from the prior), and the value each
    sample was drawn with; the model's train/eval mode is restored."""
    cfg = model.model_config
    if not cfg.categorical_dims:
        raise ValueError("labelling samples per category needs a model with a categorical code.")
    if per_category < 1:
        raise ValueError(f"per_category must be >= 1, got {per_category}.")
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
                                    continuous=codes.continuous, generator=gen)
            predicted = classifier(images.cpu().float()).argmax(1).numpy()
    finally:
        model.train(was_training)
    return predicted, np.repeat(np.arange(k), per_category)


def generator_purity(
    model: Any, classifier: torch.nn.Module, per_category: int = 100, seed: int = 0, code: int = 0
) -> float:
    """Matched accuracy of the classifier's labels of ``per_category`` prior samples drawn for
    each value of categorical code ``code`` (other codes and the noise from the prior).

    The classifier must carry a ``held_out_accuracy`` of at least ``MIN_HELD_OUT_ACCURACY``
    (else :class:`UntrustworthyClassifierError`); report that accuracy beside the purity."""
    require_trustworthy(classifier, "generator purity")
    predicted, categories = labels_per_category(model, classifier, per_category, seed, code)
    return float(unsupervised_accuracy(predicted, categories))


def purity_probe(
    images: np.ndarray,
    labels: np.ndarray,
    seed: int = 0,
    epochs: int | None = None,
    per_category: int = 100,
):
    """A probe ``model -> {"generator_purity", "classifier_held_out_accuracy"}`` for the
    trainer's epoch metrics, with its classifier trained once here on labelled ``images``
    (seconds on digits, about a minute on MNIST on one core).

    Raises :class:`UntrustworthyClassifierError` at once when that classifier is too weak, so
    no epoch reports a purity it cannot support."""
    classifier = train_feature_classifier(images, labels, epochs=epochs, seed=seed)
    accuracy = require_trustworthy(classifier, "generator purity")

    def probe(model: Any) -> dict:
        return {
            "generator_purity": generator_purity(model, classifier, per_category, seed),
            "classifier_held_out_accuracy": accuracy,
        }

    return probe

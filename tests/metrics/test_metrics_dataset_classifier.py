"""The dataset classifier behind purity and CFD: accuracy, its held-out record, refusal."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from infovaegan_plugin.data.mnist import load_mnist
from infovaegan_plugin.metrics import (
    MIN_HELD_OUT_ACCURACY,
    DatasetClassifier,
    OutdatedClassifierError,
    UntrustworthyClassifierError,
    classifier_frechet_distance,
    classifier_frechet_report,
    train_feature_classifier,
)
from infovaegan_plugin.metrics.dataset_classifier import default_epochs, predict_labels
from infovaegan_plugin.metrics.purity import purity_probe


@pytest.fixture(scope="module")
def shuffled_digits(digits):
    order = np.random.default_rng(0).permutation(len(digits))
    return digits.images[order], digits.labels[order]


@pytest.fixture(scope="module")
def trained(shuffled_digits):
    images, labels = shuffled_digits
    return train_feature_classifier(images[:1400], labels[:1400], seed=0)


def test_digits_held_out_and_unseen_accuracy(trained, shuffled_digits):
    images, labels = shuffled_digits
    assert trained.held_out_images == 140
    assert trained.held_out_accuracy >= 0.98
    assert np.mean(predict_labels(trained, images[1400:]) == labels[1400:]) >= 0.97


def test_held_out_split_is_seeded(shuffled_digits):
    images, labels = shuffled_digits
    a = train_feature_classifier(images[:300], labels[:300], epochs=1, seed=4)
    b = train_feature_classifier(images[:300], labels[:300], epochs=1, seed=4)
    assert a.held_out_accuracy == b.held_out_accuracy and a.held_out_images == 30
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)


def test_default_schedule_is_three_epochs_or_enough_steps():
    assert default_epochs(54_000, 128) == 3
    assert default_epochs(1_260, 128) == 80
    assert default_epochs(10, 128) == 800


def test_held_out_accuracy_travels_with_save_and_load(trained, shuffled_digits, tmp_path):
    images, _ = shuffled_digits
    trained.save(tmp_path / "cls")
    saved = json.loads((tmp_path / "cls" / "classifier.json").read_text())
    assert saved["format_version"] == 2 and saved["held_out_accuracy"] == trained.held_out_accuracy
    torch.load(tmp_path / "cls" / "classifier.pt", weights_only=True)  # plain tensors only
    loaded = DatasetClassifier.load(tmp_path / "cls")
    assert (loaded.held_out_accuracy, loaded.held_out_images) == (
        trained.held_out_accuracy, trained.held_out_images)
    np.testing.assert_array_equal(predict_labels(loaded, images), predict_labels(trained, images))


def test_a_classifier_of_the_old_format_is_refused_by_name(trained, tmp_path):
    trained.save(tmp_path)
    old = {"input_dim": [1, 8, 8], "num_classes": 10, "feature_dim": 64}
    (tmp_path / "classifier.json").write_text(json.dumps(old))
    with pytest.raises(OutdatedClassifierError, match="Delete that folder"):
        DatasetClassifier.load(tmp_path)


def test_weak_or_unmeasured_classifiers_are_refused(trained, shuffled_digits):
    images, _ = shuffled_digits
    untrained = DatasetClassifier((1, 8, 8), 10)
    with pytest.raises(UntrustworthyClassifierError, match="no held-out accuracy"):
        classifier_frechet_distance(untrained, images[:50], images[50:100])
    untrained.held_out_accuracy, untrained.held_out_images = 0.12, 140
    with pytest.raises(UntrustworthyClassifierError, match="0.1200 .140 images., below 0.95"):
        classifier_frechet_report(untrained, images[:50], images[50:100])
    report = classifier_frechet_report(trained, images[:50], images[50:100])
    assert report["classifier_held_out_accuracy"] == trained.held_out_accuracy
    assert MIN_HELD_OUT_ACCURACY == 0.95


def test_purity_probe_refuses_a_weak_classifier_before_any_epoch(shuffled_digits):
    images, labels = shuffled_digits
    with pytest.raises(UntrustworthyClassifierError, match="generator purity refused"):
        purity_probe(images[:100], labels[:100], epochs=1)


def test_mnist_two_epochs_on_a_subset(mnist_dir):
    """15,000 images for 2 epochs (about a minute): 0.9807 held out, 0.9793 on the test set;
    the full default run (60,000 images, 3 epochs) reaches >= 0.99, see the CHANGELOG."""
    train = load_mnist(mnist_dir, split="train", limit=15_000)
    test = load_mnist(mnist_dir, split="test")
    classifier = train_feature_classifier(train.images, train.labels, epochs=2, seed=0)
    assert classifier.held_out_images == 1_500 and classifier.held_out_accuracy >= 0.975
    assert np.mean(predict_labels(classifier, test.images) == test.labels) >= 0.975

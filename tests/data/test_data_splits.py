"""The one train/held-out split: seeded, limited, disjoint, and the registry's name helpers."""

from __future__ import annotations

import numpy as np
import pytest

from infovaegan_plugin.data import (
    DataError,
    available_datasets,
    is_named,
    load_digits_data,
    loader_for_recorded,
    train_held_out,
)

DATA_SEED = 0


def test_held_out_split_is_fixed_and_respects_limit_and_fraction():
    train, held = train_held_out("digits", None, limit=200, eval_fraction=0.25, seed=DATA_SEED)
    assert (len(train), len(held)) == (150, 50)
    again_train, again_held = train_held_out("digits", None, limit=200, eval_fraction=0.25,
                                             seed=DATA_SEED)
    np.testing.assert_array_equal(held.images, again_held.images)  # every model, same images
    np.testing.assert_array_equal(train.labels, again_train.labels)
    # together they are exactly the first 200 images, each once: nothing held out is trained on
    first = load_digits_data().images[:200].reshape(200, -1)
    both = np.concatenate([train.images, held.images]).reshape(200, -1)
    assert sorted(row.tobytes() for row in both) == sorted(row.tobytes() for row in first)
    _, expected_held = load_digits_data().subset(slice(0, 200)).split(0.25, DATA_SEED)
    np.testing.assert_array_equal(held.labels, expected_held.labels)


def test_another_seed_holds_out_other_images():
    _, held0 = train_held_out("digits", limit=200, eval_fraction=0.25, seed=0)
    _, held1 = train_held_out("digits", limit=200, eval_fraction=0.25, seed=1)
    assert not np.array_equal(held0.images, held1.images)


def test_dsprites_renders_limit_images_with_the_seed():
    train, held = train_held_out("dsprites", limit=40, eval_fraction=0.25, seed=3)
    assert (len(train), len(held)) == (30, 10)
    assert train.images.shape[1:] == (1, 64, 64)


def test_mnist_needs_its_folder():
    with pytest.raises(DataError, match="mnist needs data_dir"):
        train_held_out("mnist")


def test_mnist_held_out_is_the_official_test_split(mnist_dir):
    train, held = train_held_out("mnist", mnist_dir, limit=30)
    assert (len(train), len(held)) == (30, 30)
    assert train.name != held.name


def test_the_registry_is_the_list_of_names():
    assert available_datasets() == ("digits", "mnist", "dsprites")
    assert is_named("digits") and not is_named("./digits") and not is_named(None)
    assert loader_for_recorded("mnist-train") == "mnist"
    assert loader_for_recorded("digits") == "digits"
    assert loader_for_recorded("my_images") is None

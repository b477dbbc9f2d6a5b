"""Labelled PNG grids: the picture says what its rows and columns are."""

from __future__ import annotations

import numpy as np
from PIL import Image

from infovaegan_plugin.viz import GridLabels, code_values, save_grid


def test_labels_frame_the_unchanged_tiles(tmp_path):
    images = np.random.default_rng(0).random((20, 1, 8, 8), dtype=np.float32)
    plain = np.asarray(Image.open(save_grid(images, tmp_path / "plain.png", ncol=5)))
    labels = GridLabels(title="Traversal of continuous:0: rows = categorical_0 class",
                        rows=[f"class {k}" for k in range(4)],
                        columns=code_values(np.linspace(-1, 1, 5)))
    labelled = Image.open(save_grid(images, tmp_path / "labelled.png", ncol=5, labels=labels))
    array = np.asarray(labelled)
    h, w = plain.shape
    assert array.shape[0] > h and array.shape[1] > w
    assert np.array_equal(array[-h:, -w:], plain)  # tiles untouched, labels above and left
    assert (array[:-h] < 128).any() and (array[-h:, :-w] < 128).any()  # text drawn there
    description = labelled.text["Description"]
    assert description.splitlines() == [
        "Traversal of continuous:0: rows = categorical_0 class",
        "rows: class 0, class 1, class 2, class 3",
        "columns: -1, -0.5, 0, 0.5, 1",
    ]


def test_rgb_grids_get_labels_too(tmp_path):
    images = np.random.default_rng(1).random((6, 3, 8, 8), dtype=np.float32)
    picture = Image.open(save_grid(images, tmp_path / "rgb.png", ncol=3,
                                   labels=GridLabels(title="two rows", rows=["a", "b"])))
    assert picture.mode == "RGB" and picture.text["Description"].startswith("two rows")

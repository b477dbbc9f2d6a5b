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


def test_training_traversal_grids_span_the_prior_range(tmp_path):
    """A normal-prior model's grids run over the layout's [-2, 2] (they stopped at [-1, 1]
    before the layout held the rule); a uniform one's stay [-1, 1]."""
    import torch

    from infovaegan_plugin.models import InfoVAEGAN, InfoVAEGANConfig
    from infovaegan_plugin.viz import write_model_grids

    for prior, limit, labels in (("normal", 2.0, "-2, -1.6"), ("uniform", 1.0, "-1, -0.78")):
        torch.manual_seed(0)
        model = InfoVAEGAN(InfoVAEGANConfig(
            input_dim=(1, 8, 8), categorical_dims=[3], continuous_dim=1, noise_dim=2,
            continuous_prior=prior, hidden_dim=16, base_channels=4)).eval()
        path = write_model_grids(model, tmp_path / prior)["traversal_continuous_0"]
        description = Image.open(path).text["Description"]
        assert f"from {-limit:g} to {limit:g}" in description
        assert f"columns: {labels}" in description
        with torch.no_grad():
            expected = model.traverse(0, num_values=10, limit=limit)
            narrow = model.traverse(0, num_values=10, limit=1.0)
        tiles = np.asarray(Image.open(save_grid(expected, tmp_path / "e.png", ncol=10)))
        assert np.array_equal(np.asarray(Image.open(path))[-tiles.shape[0]:, -tiles.shape[1]:],
                              tiles)
        assert (prior == "uniform") == torch.equal(expected, narrow)

"""The dSprites collapse instrument reads real images as sprites and a blob as none."""

import numpy as np
import pytest
import torch

from infovaegan_plugin.data.dsprites import load_dsprites
from infovaegan_plugin.metrics.sprites import (
    area_range,
    reconstruction_overlap,
    shapes_per_category,
    sprite_statistics,
    traversal_effects,
)


@pytest.fixture(scope="module")
def real():
    return load_dsprites(300, seed=0).images


def test_real_images_are_sprites_spread_like_the_grid(real):
    stats = sprite_statistics(real, area_range(real))
    assert stats["sprite_fraction"] == 1.0
    # positions are uniform over 32 columns: std 32 / sqrt(12) = 9.2 px
    assert 8.0 < stats["centroid_col_std_px"] < 10.5
    assert 8.0 < stats["centroid_row_std_px"] < 10.5


def test_collapse_and_blobs_are_not_sprites(real):
    areas = area_range(real)
    same = np.repeat(real[:1], 50, axis=0)  # one sprite at one place
    stats = sprite_statistics(same, areas)
    assert stats["sprite_fraction"] == 1.0 and stats["centroid_col_std_px"] == pytest.approx(0.0, abs=1e-6)
    grey = np.full((10, 1, 64, 64), 0.6, np.float32)
    assert sprite_statistics(grey, areas)["sprite_fraction"] == 0.0
    two = np.zeros((1, 1, 64, 64), np.float32)  # two far apart squares of a sprite's area
    two[0, 0, 5:13, 5:13] = 1.0
    two[0, 0, 40:48, 40:48] = 1.0
    assert sprite_statistics(two, areas)["sprite_fraction"] == 0.0


def test_bad_inputs_named(real):
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        sprite_statistics(real[:, 0], (1, 100))
    with pytest.raises(ValueError, match="no lit pixel"):
        area_range(np.zeros((2, 1, 64, 64), np.float32))


class _ShapeOf(torch.nn.Module):
    """A 'classifier' that reads the class from the mean intensity (0, 1 or 2 thirds)."""

    num_classes = 3

    def forward(self, x):
        level = (x.flatten(1).mean(1) * 3).clamp(0, 2.99).floor().long()
        return torch.nn.functional.one_hot(level, 3).float()


class _ByCategory(torch.nn.Module):
    """A stand-in model whose category k draws a flat image of intensity (k + 0.5) / 3."""

    def __init__(self, k=3):
        super().__init__()
        from infovaegan_plugin import InfoVAEGANConfig

        self.model_config = InfoVAEGANConfig(input_dim=(1, 8, 8), categorical_dims=[k])
        self.k = k

    def sample_prior(self, n, generator=None):
        from types import SimpleNamespace

        return SimpleNamespace(categorical_index=torch.zeros(n, 1, dtype=torch.long),
                               noise=None, continuous=None)

    def generate(self, n, categorical, noise, continuous, generator=None):
        level = (categorical[:, 0].float() + 0.5) / self.k
        return level.view(-1, 1, 1, 1).expand(n, 1, 8, 8)


def test_shapes_per_category_counts_distinct_majorities():
    out = shapes_per_category(_ByCategory(), _ShapeOf(), per_category=10)
    assert out["majority"] == [0, 1, 2] and out["shapes_used"] == 3 and out["purity"] == 1.0
    assert out["shares"] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert out["shapes_drawn"] == 3 and out["overall"] == pytest.approx([1 / 3] * 3, abs=1e-3)


def test_one_shape_from_every_category_is_drawn_once():
    class _Flat(_ByCategory):
        def generate(self, n, categorical, noise, continuous, generator=None):
            return torch.full((n, 1, 8, 8), 0.1)

    out = shapes_per_category(_Flat(), _ShapeOf(), per_category=10)
    assert out["shapes_used"] == 1 and out["shapes_drawn"] == 1 and out["purity"] == pytest.approx(1 / 3)


def test_traversal_effects_name_what_each_row_moves():
    from infovaegan_plugin.data.dsprites import render

    # classes: color, shape, scale, orientation, x, y (indices into dSprites' grid)
    def row(**vary):
        base = {"shape": 0, "scale": 3, "orientation": 0, "x": 16, "y": 16}
        rows = []
        for step in range(5):
            factors = {**base, **{k: v[step] for k, v in vary.items()}}
            rows.append([0, factors["shape"], factors["scale"], factors["orientation"],
                         factors["x"], factors["y"]])
        return render(np.array(rows))

    images = np.concatenate([
        row(x=[2, 9, 16, 23, 30]),
        row(y=[2, 9, 16, 23, 30]),
        row(scale=[0, 1, 3, 4, 5]),
        row(shape=[1] * 5, orientation=[0, 2, 4, 6, 8]),  # an ellipse turning ~70 degrees
        row(),
    ])
    effects = traversal_effects(images, 5, ["x", "y", "scale", "turn", "still"])
    assert [e["moves"] for e in effects] == [["x"], ["y"], ["scale"], ["orientation"], []]
    assert effects[0]["col_range_px"] == pytest.approx(28 * 32 / 31, abs=1.0)
    with pytest.raises(ValueError, match="2 rows x 5 images"):
        traversal_effects(images, 5, ["a", "b"])


def test_reconstruction_overlap_reads_place_and_blanks(real):
    x = real[:20]
    same = reconstruction_overlap(x, x)
    assert np.array_equal(same["iou"], np.ones(20)) and np.allclose(same["centroid_error_px"], 0)
    # every sprite moved 3 px right (none touches the right edge by 3 px in these 20): the
    # centroid error is 3 px and the overlap drops below 1
    shifted = np.roll(x, 3, axis=3)
    moved = reconstruction_overlap(x, shifted)
    assert np.allclose(moved["centroid_error_px"], 3.0, atol=1e-6)
    assert (moved["iou"] < 1.0).all() and (moved["iou"] > 0.0).any()
    blank = reconstruction_overlap(x, np.zeros_like(x))
    assert np.array_equal(blank["iou"], np.zeros(20)) and np.isnan(blank["centroid_error_px"]).all()
    with pytest.raises(ValueError, match="shapes differ"):
        reconstruction_overlap(x, x[:, :, :32])
    with pytest.raises(ValueError, match="no lit pixel"):
        reconstruction_overlap(np.zeros_like(x), x)

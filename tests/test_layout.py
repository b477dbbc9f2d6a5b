"""LatentLayout: the one description of the latent space (sizes, slices, codes, sampling,
traversals, encoder widths, metadata), and its import without torch."""

from __future__ import annotations

import numpy as np
import pytest

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.layout import LatentBlock, LatentLayout

# noise 3 (std 0.5) | categorical 4, 2 | continuous 2
LAYOUT = LatentLayout.from_sizes(3, [4, 2], 2, "normal", noise_std=0.5)
#: The metadata of the format-1 fixture (tests/fixtures/onnx_v_before_layout), verbatim.
FORMAT_1_BLOCKS = [
    {"kind": "noise", "name": "noise", "prior": "normal", "size": 3, "std": 0.5},
    {"kind": "categorical", "name": "categorical_0", "prior": "categorical", "size": 4},
    {"kind": "categorical", "name": "categorical_1", "prior": "categorical", "size": 2},
    {"kind": "continuous", "name": "continuous", "prior": "normal", "size": 2},
]


def test_sizes():
    assert (LAYOUT.noise_dim, LAYOUT.noise_std) == (3, 0.5)
    assert LAYOUT.categorical_sizes == (4, 2) and LAYOUT.n_codes == 2
    assert (LAYOUT.categorical_total, LAYOUT.continuous_dim) == (6, 2)
    assert LAYOUT.continuous_prior == "normal"
    assert LAYOUT.widths == {"noise": 3, "categorical": 6, "continuous": 2}
    assert LAYOUT.generator_input_dim == 11
    assert [b.name for b in LAYOUT.blocks] == ["noise", "categorical_0", "categorical_1",
                                               "continuous"]


def test_slices_of_the_generator_input_and_the_logits():
    slices = LAYOUT.generator_slices
    assert slices["noise"] == slice(0, 3)
    assert slices["categorical"] == slice(3, 9)
    assert slices["categorical_0"] == slice(3, 7) and slices["categorical_1"] == slice(7, 9)
    assert slices["continuous"] == slice(9, 11)
    assert LAYOUT.categorical_slices == (slice(0, 4), slice(4, 6))
    parts = {"continuous": "d", "noise": "z", "categorical": "c"}
    assert LatentLayout.ordered_inputs(parts) == ["z", "c", "d"]
    with pytest.raises(ValueError, match=r"lack \['continuous'\]"):
        LatentLayout.ordered_inputs({"noise": 1, "categorical": 2})


def test_argmax_and_one_hot_round_trip():
    index = np.array([[0, 1], [3, 0], [2, 1]])
    rows = LAYOUT.one_hot(index)
    assert rows.dtype == np.float32 and rows.shape == (3, 6)
    np.testing.assert_array_equal(rows[1], [0, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(LAYOUT.argmax(rows), index)
    logits = np.array([[0.1, 2.0, -1.0, 0.0, 5.0, 4.0]])
    np.testing.assert_array_equal(LAYOUT.argmax(logits), [[1, 0]])
    assert [b.shape[1] for b in LAYOUT.split_categorical(logits)] == [4, 2]


def test_bad_codes_are_named():
    with pytest.raises(ValueError, match=r"categorical code 1 has 2 classes \(0..1\), got"):
        LAYOUT.one_hot(np.array([[0, 2]]))
    with pytest.raises(ValueError, match=r"must have shape \(N, 6\)"):
        LAYOUT.argmax(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="categorical code 0 has classes 0..3, got 4"):
        LAYOUT.with_classes(np.zeros((2, 2)), {0: 4})
    np.testing.assert_array_equal(LAYOUT.with_classes(np.zeros((2, 2)), {1: 1}), [[0, 1]] * 2)


def test_no_categorical_code():
    layout = LatentLayout.from_sizes(2, [], 1)
    assert layout.argmax(np.zeros((3, 0))).shape == (3, 0)
    assert layout.one_hot(np.zeros((3, 0), np.int64)).shape == (3, 0)
    assert layout.check_categorical_code(0) == 1


def test_prior_sampling_ranges_and_seeds():
    codes = LAYOUT.sample_prior(2000, seed=5)
    assert {k: v.shape for k, v in codes.items()} == {
        "noise": (2000, 3), "categorical": (2000, 6), "continuous": (2000, 2)}
    assert all(v.dtype == np.float32 for v in codes.values())
    assert codes["noise"].std() == pytest.approx(0.5, abs=0.03)
    assert codes["continuous"].std() == pytest.approx(1.0, abs=0.05)  # normal prior
    counts = LAYOUT.argmax(codes["categorical"])
    assert set(np.unique(counts[:, 0])) == {0, 1, 2, 3} and set(np.unique(counts[:, 1])) == {0, 1}
    again = LAYOUT.sample_prior(2000, seed=5)
    assert all(np.array_equal(codes[k], again[k]) for k in codes)
    assert not np.array_equal(codes["noise"], LAYOUT.sample_prior(2000, seed=6)["noise"])
    uniform = LatentLayout.from_sizes(0, [3], 4, "uniform").sample_prior(2000, seed=0)
    cont = uniform["continuous"]
    assert cont.min() >= -1 and cont.max() <= 1 and cont.std() == pytest.approx(3**-0.5, abs=0.03)


def test_sampling_streams_are_independent_per_block():
    streams = LAYOUT.prior_streams(1)
    first = LAYOUT.sample_noise(4, streams["noise"])
    # drawing the categorical block first leaves the noise stream unchanged
    other = LAYOUT.prior_streams(1)
    LAYOUT.sample_categorical(4, other["categorical"])
    np.testing.assert_array_equal(LAYOUT.sample_noise(4, other["noise"]), first)


@pytest.mark.parametrize(("prior", "limit"), [("uniform", 1.0), ("normal", 2.0)])
def test_traversal_values_follow_the_prior(prior, limit):
    layout = LatentLayout.from_sizes(1, [2], 2, prior)
    assert layout.traversal_limit == limit
    np.testing.assert_allclose(layout.traversal_values(5), np.linspace(-limit, limit, 5))
    np.testing.assert_allclose(layout.traversal_values(3, span=0.5), [-0.5, 0, 0.5])
    with pytest.raises(ValueError, match="at least one value"):
        layout.traversal_values(0)
    with pytest.raises(ValueError, match="positive number"):
        layout.traversal_values(3, span=-1)


def test_traversal_grid():
    grid = LAYOUT.traversal_grid(1, np.array([-1.0, 0.0, 1.0]), np.array([1, 2, 3]),
                                 categorical_code=1, categorical=np.array([3, 0]),
                                 continuous=np.array([0.5, 9.0]))
    assert grid["noise"].shape == (6, 3) and np.all(grid["noise"] == [1, 2, 3])
    np.testing.assert_array_equal(grid["categorical_index"],
                                  [[3, 0]] * 3 + [[3, 1]] * 3)  # rows: classes of code 1
    np.testing.assert_array_equal(grid["continuous"][:, 1], [-1, 0, 1, -1, 0, 1])
    assert np.all(grid["continuous"][:, 0] == 0.5)
    with pytest.raises(ValueError, match=r"dimension must be in \[0, 2\)"):
        LAYOUT.traversal_grid(2, np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="categorical_code must be 0..1"):
        LAYOUT.traversal_grid(0, np.zeros(2), np.zeros(3), categorical_code=2)


@pytest.mark.parametrize(("code", "index"), [(1, 1), ("continuous:0", 0), ("c1", 1),
                                              ("continuous_1", 1), ("1", 1)])
def test_continuous_index(code, index):
    assert LAYOUT.continuous_index(code) == index


def test_continuous_index_refuses_other_names():
    with pytest.raises(ValueError, match="continuous dimension 0..1"):
        LAYOUT.continuous_index("continuous:2")
    with pytest.raises(ValueError, match="no continuous code"):
        LatentLayout.from_sizes(1, [2], 0).continuous_index(0)


def test_encoder_widths():
    assert LAYOUT.encoder_head_widths(False) == {
        "categorical_logits": 6, "continuous_mean": 2, "continuous_logvar": 2}
    assert LAYOUT.code_head_width == 10 and LAYOUT.noise_head_width == 6
    assert LAYOUT.encoder_outputs(True) == {
        "categorical_probs": 6, "categorical_logits": 6, "continuous_mean": 2,
        "continuous_logvar": 2, "features": 11, "noise_mean": 3, "noise_logvar": 3}
    assert list(LAYOUT.encoder_outputs(False)) == list(md.ENCODER_OUTPUTS)
    assert LAYOUT.feature_dim(False) == 8


def test_metadata_round_trip():
    values = md.build_metadata("generator", (1, 8, 8), LAYOUT, version="x")
    decoded = md.decode_metadata(md.encode_metadata(values))
    assert md.layout_from_metadata(decoded) == LAYOUT
    assert decoded[md.LATENT_LAYOUT] == LAYOUT.to_blocks()
    assert "std" not in LatentLayout.from_sizes(2, [3], 1).to_blocks()[0]  # unit prior: as 0.1


def test_format_1_metadata_is_read():
    layout = md.layout_from_metadata({md.FORMAT_VERSION: 1, md.LATENT_LAYOUT: FORMAT_1_BLOCKS})
    assert layout == LAYOUT
    assert layout.blocks[0] == LatentBlock("noise", "noise", 3, "normal", 0.5)


def test_bad_metadata_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="metadata format 99 is newer"):
        md.layout_from_metadata({md.FORMAT_VERSION: 99, md.LATENT_LAYOUT: FORMAT_1_BLOCKS})
    with pytest.raises(ValueError, match="non-empty list of blocks, got None"):
        md.layout_from_metadata({md.FORMAT_VERSION: 1})
    with pytest.raises(ValueError, match="generator order"):
        LatentLayout.from_blocks(FORMAT_1_BLOCKS[::-1])
    with pytest.raises(ValueError, match="at most one noise block"):
        LatentLayout.from_blocks([FORMAT_1_BLOCKS[0]] * 2)


@pytest.mark.parametrize(("sizes", "message"), [
    ((10**9, [10], 2), "latent block 'noise' has size 1000000000, above the limit of 10,000 "
                       "for a noise block."),
    ((4, [10, 10_001], 2), "latent block 'categorical_1' has size 10001, above the limit of "
                           "10,000 for a categorical block."),
    ((4, [10], 1_001), "latent block 'continuous' has size 1001, above the limit of 1,000 for "
                       "a continuous block."),
    ((10_000, [10_000] * 6, 1_000), "latent_layout is 71,000 wide in all, above the limit of "
                                    "65,536."),
])
def test_absurd_sizes_in_an_exported_layout_are_refused(sizes, message):
    """An exported file's layout sizes the prior samples; a hostile one is refused."""
    blocks = LatentLayout.from_sizes(4, [10], 2).to_blocks()
    noise, categorical, continuous = sizes
    blocks = ([{**blocks[0], "size": noise}]
              + [{"name": f"categorical_{i}", "kind": "categorical", "size": k,
                  "prior": "categorical"} for i, k in enumerate(categorical)]
              + [{**blocks[-1], "size": continuous}])
    with pytest.raises(ValueError) as refused:
        md.layout_from_metadata({md.FORMAT_VERSION: 1, md.LATENT_LAYOUT: blocks})
    assert str(refused.value) == message


def test_from_config_matches_the_config():
    from infovaegan_plugin.models import InfoVAEGANConfig

    cfg = InfoVAEGANConfig(input_dim=(1, 8, 8), categorical_dims=[4, 2], continuous_dim=2,
                           noise_dim=3, noise_std=0.5, continuous_prior="normal")
    assert cfg.layout == LAYOUT
    assert cfg.layout.generator_input_dim == cfg.generator_input_dim
    assert cfg.layout.feature_dim(cfg.infer_noise) == cfg.feature_dim

"""OnnxGenerator: code forms, prior sampling, validation, traversal, thread safety."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
import pytest

from infovaegan_plugin.deploy.runtime import InvalidInputError, OnnxGenerator


@pytest.fixture(scope="module")
def generator(digits_export):
    return OnnxGenerator(digits_export[1], providers="cpu")


@pytest.fixture(scope="module")
def rgb_generator(rgb_export):
    return OnnxGenerator(rgb_export[1], providers="cpu")


def _direct(path, noise, categorical, continuous):
    """Reference: the raw ORT session on explicit inputs."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"noise": noise, "categorical": categorical, "continuous": continuous}
    return session.run(None, {k: np.asarray(v, np.float32) for k, v in feeds.items()})[0]


def test_layout_from_metadata(generator, rgb_generator):
    assert generator.noise_dim == 4 and generator.continuous_dim == 2
    assert generator.categorical_sizes == [10]
    assert rgb_generator.categorical_sizes == [3, 4]
    assert rgb_generator.continuous_prior == "normal"


def test_generate_shape_dtype_range_and_seed(generator):
    images = generator.generate(5)
    assert images.shape == (5, 1, 8, 8) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, generator.generate(5, seed=0))
    assert not np.array_equal(images, generator.generate(5, seed=1))


def test_explicit_codes_match_the_raw_session(digits_export, generator):
    rng = np.random.default_rng(3)
    noise, continuous = rng.standard_normal((6, 4)), rng.uniform(-1, 1, (6, 2))
    classes = np.arange(6) % 10
    one_hot = np.eye(10)[classes]
    expected = _direct(digits_export[1], noise, one_hot, continuous)
    got = generator.generate(categorical=classes, continuous=continuous, noise=noise)
    np.testing.assert_allclose(got, expected, atol=1e-7)


def test_categorical_forms_are_equivalent(generator):
    base = generator.generate(categorical=np.full(4, 3), seed=2)
    np.testing.assert_array_equal(generator.generate(4, categorical=3, seed=2), base)
    np.testing.assert_array_equal(generator.generate(categorical=np.eye(10)[[3] * 4], seed=2), base)
    np.testing.assert_array_equal(generator.generate(categorical=[[3]] * 4, seed=2), base)
    np.testing.assert_array_equal(generator.generate(categorical=np.full(4, 3.0), seed=2), base)


def test_fixing_one_code_keeps_the_other_samples(generator):
    free = generator.sample_codes(8, seed=5)
    fixed = generator.sample_codes(8, categorical=np.zeros(8, np.int64), seed=5)
    np.testing.assert_array_equal(free["noise"], fixed["noise"])
    np.testing.assert_array_equal(free["continuous"], fixed["continuous"])
    assert (fixed["categorical"].argmax(1) == 0).all()
    np.testing.assert_array_equal(generator.decode(free), generator.generate(8, seed=5))


def test_prior_samples_follow_the_layout(generator, rgb_generator):
    codes = generator.sample_codes(2000, seed=0)
    assert np.abs(codes["continuous"]).max() <= 1.0  # uniform prior
    assert set(np.unique(codes["categorical"].argmax(1))) == set(range(10))
    np.testing.assert_array_equal(codes["categorical"].sum(1), 1.0)
    assert abs(codes["noise"].std() - 1) < 0.05
    rgb = rgb_generator.sample_codes(2000, seed=0)
    assert np.abs(rgb["continuous"]).max() > 1.0  # normal prior
    np.testing.assert_array_equal(rgb["categorical"].sum(1), 2.0)  # two one-hot codes


def test_multi_code_categorical(rgb_generator):
    indices = np.array([[0, 1], [2, 3]])
    one_hot = np.concatenate([np.eye(3)[indices[:, 0]], np.eye(4)[indices[:, 1]]], axis=1)
    np.testing.assert_array_equal(
        rgb_generator.generate(categorical=indices), rgb_generator.generate(categorical=one_hot)
    )
    assert rgb_generator.generate(categorical=indices).shape == (2, 3, 8, 8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "needs n or at least one"),
        ({"categorical": [10]}, r"10 classes \(0..9\), got indices from 10 to 10"),
        ({"categorical": [-1]}, "got indices from -1"),
        ({"categorical": np.zeros((2, 5))}, r"shape \(N,\) or one-hot rows of shape \(N, 10\)"),
        ({"categorical": np.full((2, 10), 0.5)}, "must sum to 1"),
        ({"categorical": [0.5]}, "whole numbers"),
        ({"categorical": ["a"]}, "strings"),
        ({"n": 3, "categorical": [1, 2]}, "inconsistent batch sizes"),
        ({"continuous": np.zeros((2, 3))}, r"continuous must have shape \(N, 2\)"),
        ({"continuous": [[np.nan, 0.0]]}, "1 NaN and 0 inf"),
        ({"noise": np.zeros((2, 5))}, r"noise must have shape \(N, 4\)"),
        ({"n": -1}, "n must be >= 0"),
    ],
)
def test_bad_codes_are_named(generator, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        generator.generate(**kwargs)


def test_batching_and_empty(digits_export, generator):
    small = OnnxGenerator(digits_export[1], providers="cpu", batch_size=3)
    np.testing.assert_allclose(small.generate(10, seed=4), generator.generate(10, seed=4),
                               atol=1e-7)
    assert generator.generate(0).shape == (0, 1, 8, 8)


def test_traverse_grid_matches_explicit_codes(generator):
    noise = np.random.default_rng(0).standard_normal(4)
    values = [-1.0, 0.0, 1.0]
    grid = generator.traverse(1, values=values, fixed={"noise": noise, "continuous": [0.3, 0.0]})
    assert grid.shape == (10, 3, 1, 8, 8)
    for row in (0, 7):
        for col, value in enumerate(values):
            expected = generator.generate(
                categorical=[row], continuous=[[0.3, value]], noise=noise[None]
            )[0]
            np.testing.assert_allclose(grid[row, col], expected, atol=1e-7)
    named = generator.traverse("continuous_1", values=values, fixed={"noise": noise,
                                                                     "continuous": [0.3, 0.0]})
    np.testing.assert_array_equal(named, grid)


def test_traverse_defaults_and_errors(generator, rgb_generator):
    assert generator.traverse(0).shape == (10, 7, 1, 8, 8)
    np.testing.assert_array_equal(generator.traverse("c0"), generator.traverse(0))
    grid = rgb_generator.traverse("continuous", categorical_code=1, fixed={"categorical": [2, 0]})
    assert grid.shape == (4, 7, 3, 8, 8)
    with pytest.raises(InvalidInputError, match="continuous dimension 0..1"):
        generator.traverse(2)
    with pytest.raises(InvalidInputError, match="continuous dimension"):
        generator.traverse("rotation")
    with pytest.raises(InvalidInputError, match="fixed accepts"):
        generator.traverse(0, fixed={"style": 1})
    with pytest.raises(InvalidInputError, match="categorical_code"):
        generator.traverse(0, categorical_code=1)


def test_one_session_serves_eight_threads(generator):
    expected = [generator.generate(32, seed=s) for s in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda s: generator.generate(32, seed=s % 8), range(32)))
    for index, result in enumerate(results):
        np.testing.assert_array_equal(result, expected[index % 8])


def test_classes_fix_one_code_and_keep_the_other_draws(rgb_generator):
    free = rgb_generator.sample_codes(5, seed=4)
    fixed = rgb_generator.sample_codes(5, seed=4, classes={1: 2})
    index, free_index = (rgb_generator.layout.argmax(c["categorical"]) for c in (fixed, free))
    np.testing.assert_array_equal(index[:, 1], [2] * 5)
    np.testing.assert_array_equal(index[:, 0], free_index[:, 0])  # code 0 drawn as before
    for name in ("noise", "continuous"):
        np.testing.assert_array_equal(fixed[name], free[name])
    with pytest.raises(InvalidInputError, match="categorical code 1 has classes 0..3, got 4"):
        rgb_generator.generate(2, classes={1: 4})
    with pytest.raises(InvalidInputError, match="not both"):
        rgb_generator.generate(2, categorical=0, classes={0: 1})

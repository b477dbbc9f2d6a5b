"""Files exported before ``LatentLayout`` (metadata format 1) keep loading and answering.

The fixture (tests/fixtures/onnx_v_before_layout, made by its ``make_fixture.py``) holds a tiny
model's export and what the runtime of that time returned for fixed inputs and seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infovaegan_plugin.deploy.runtime import OnnxEncoder, OnnxGenerator

FIXTURE = Path(__file__).parents[1] / "fixtures" / "onnx_v_before_layout"


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(FIXTURE / "expected.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def generator() -> OnnxGenerator:
    return OnnxGenerator(FIXTURE / "export" / "generator.onnx", providers="cpu")


def test_old_encoder_encodes_as_before(expected):
    encoder = OnnxEncoder(FIXTURE / "export" / "encoder.onnx", providers="cpu")
    codes = encoder.encode(expected["images"])
    names = sorted(k[len("encoded_"):] for k in expected if k.startswith("encoded_"))
    assert sorted(codes) == names
    for name in names:
        np.testing.assert_allclose(codes[name], expected[f"encoded_{name}"], atol=1e-6)


def test_old_generator_samples_and_generates_as_before(generator, expected):
    sampled = generator.sample_codes(6, seed=3)
    for name in ("noise", "categorical", "continuous"):
        np.testing.assert_array_equal(sampled[name], expected[f"sampled_{name}"])
    np.testing.assert_allclose(generator.generate(6, seed=3), expected["generated"], atol=1e-6)
    fixed = generator.generate(categorical=np.array([[1, 0], [3, 1]]), seed=1)
    np.testing.assert_allclose(fixed, expected["generated_fixed"], atol=1e-6)


def test_old_generator_traverses_as_before(generator, expected):
    grid = generator.traverse(1, categorical_code=1, seed=2)
    assert grid.shape == (2, 7, 1, 8, 8)  # 2 classes, 7 values over the normal prior's [-2, 2]
    np.testing.assert_allclose(grid, expected["traversal"], atol=1e-6)


def test_old_generator_reports_the_layout(generator):
    assert generator.noise_dim == 3
    assert generator.noise_std == 0.5
    assert generator.categorical_sizes == [4, 2]
    assert generator.continuous_dim == 2
    assert generator.continuous_prior == "normal"


def test_old_files_derive_the_layout_of_the_model(generator, expected):
    from infovaegan_plugin.layout import LatentLayout

    encoder = OnnxEncoder(FIXTURE / "export" / "encoder.onnx", providers="cpu")
    layout = LatentLayout.from_sizes(3, [4, 2], 2, "normal", noise_std=0.5)
    assert encoder.layout == generator.layout == layout
    logits = expected["encoded_categorical_logits"]
    by_hand = np.stack([logits[:, :4].argmax(1), logits[:, 4:].argmax(1)], axis=1)
    np.testing.assert_array_equal(encoder.predict_categories(encoder.encode(expected["images"])),
                                  by_hand)


def test_a_layout_that_does_not_fit_the_graph_is_refused(tmp_path):
    import shutil

    from infovaegan_plugin.deploy import metadata as md
    from infovaegan_plugin.deploy.runtime import InvalidModelError

    for kind in ("encoder", "generator"):
        path = tmp_path / f"{kind}.onnx"
        shutil.copy(FIXTURE / "export" / f"{kind}.onnx", path)
        wrong = md.read_onnx_file_metadata(path)
        wrong[md.LATENT_LAYOUT][1]["size"] = 5  # categorical_0: 5 classes, the graph has 4
        md.stamp_onnx_file(path, wrong)
        runtime = OnnxEncoder if kind == "encoder" else OnnxGenerator
        with pytest.raises(InvalidModelError, match="has width 6 but the latent layout"):
            runtime(path, providers="cpu")

"""OnnxEncoder: file validation, input forms, input errors, batching, thread safety."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import pytest
from onnx import helper

from infovaegan_plugin.deploy.runtime import (
    InvalidInputError,
    InvalidModelError,
    OnnxEncoder,
    OnnxGenerator,
)

KEYS = {"categorical_probs", "categorical_logits", "continuous_mean", "continuous_logvar",
        "features", "noise_mean", "noise_logvar"}


@pytest.fixture(scope="module")
def encoder(digits_export):
    return OnnxEncoder(digits_export[0], providers="cpu")


@pytest.fixture(scope="module")
def rgb_encoder(rgb_export):
    return OnnxEncoder(rgb_export[0], providers="cpu")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(10, 1, 8, 8), dtype=np.uint8)


# ----------------------------------------------------------------------------- files


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        OnnxEncoder(tmp_path / "nope.onnx")


def test_corrupt_file_is_named(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf" * 10)
    with pytest.raises(InvalidModelError, match="broken.onnx"):
        OnnxEncoder(bad)


def test_foreign_onnx_model_is_rejected(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "foreign",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 1, 8, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 1, 8, 8])],
    )
    path = tmp_path / "foreign.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, path)
    with pytest.raises(InvalidModelError, match="not an InfoVAEGAN export.*infovaegan.kind"):
        OnnxEncoder(path)


def _edited_encoder(source, target, dims=None, input_shape=None):
    """A copy of ``source`` whose graph input declares ``dims`` and/or whose metadata claims
    ``input_shape``."""
    from infovaegan_plugin.deploy import metadata as md

    model = onnx.load(str(source))
    if dims is not None:
        for dim, value in zip(model.graph.input[0].type.tensor_type.shape.dim, dims):
            if isinstance(value, int):
                dim.dim_value = value
            else:
                dim.dim_param = value
    if input_shape is not None:
        md.stamp_onnx_model(model, {md.INPUT_SHAPE: input_shape})
    onnx.save(model, str(target))
    return target


@pytest.mark.parametrize(("claimed", "why"), [
    ([1, 200_000, 200_000], "200000x200000 pixels has a side above the limit of 4096"),
    ([65, 8, 8], "65 channels is above the limit of 64"),
    ([16, 4096, 4096], "16 x 4096 x 4096 = 268,435,456 values per image is above the limit of "
                       "67,108,864 (256 MiB as float32)"),
])
@pytest.mark.parametrize("kind", [OnnxEncoder, OnnxGenerator])
def test_an_absurd_input_shape_in_the_metadata_is_refused_before_use(digits_export, tmp_path,
                                                                      claimed, why, kind):
    source = digits_export[0] if kind is OnnxEncoder else digits_export[1]
    path = _edited_encoder(source, tmp_path / "absurd.onnx", input_shape=claimed)
    with pytest.raises(InvalidModelError) as refused:
        kind(path, providers="cpu")
    assert str(refused.value) == (f"{path}: metadata infovaegan.input_shape {claimed}: {why}.")


def test_a_graph_input_that_disagrees_with_the_metadata_is_refused(digits_export, tmp_path):
    # ONNX Runtime loads it (a flattened 4x16 is the 64 wide the first layer takes), and
    # would refuse every 8x8 image only when run
    path = _edited_encoder(digits_export[0], tmp_path / "other.onnx", ["batch", 1, 4, 16])
    with pytest.raises(InvalidModelError) as refused:
        OnnxEncoder(path, providers="cpu")
    assert str(refused.value) == (
        f"{path}: the graph's input 'images' has shape ['batch', 1, 4, 16], but the metadata "
        "says images are [1, 8, 8] (C, H, W).")
    fixed = _edited_encoder(digits_export[0], tmp_path / "fixed.onnx", [5, 1, 8, 8])
    assert OnnxEncoder(fixed, providers="cpu").input_shape == (1, 8, 8)  # a fixed batch passes


def test_a_graph_claiming_an_absurd_input_fails_to_load_without_allocating(digits_export,
                                                                           tmp_path):
    path = _edited_encoder(digits_export[0], tmp_path / "absurd.onnx",
                           ["batch", 1, 200_000, 200_000], [1, 200_000, 200_000])
    with pytest.raises(InvalidModelError, match=r"absurd\.onnx is not a loadable ONNX model"):
        OnnxEncoder(path, providers="cpu")


def test_wrong_kind_points_to_the_right_class(digits_export):
    with pytest.raises(InvalidModelError, match="generator, not an encoder.*OnnxGenerator"):
        OnnxEncoder(digits_export[1])
    with pytest.raises(InvalidModelError, match="OnnxEncoder"):
        OnnxGenerator(digits_export[0])


def test_export_folder_resolves_to_encoder_file(digits_export):
    encoder = OnnxEncoder(digits_export[0].parent, providers="cpu")
    assert encoder.path == digits_export[0]


def test_metadata_and_providers(encoder):
    assert encoder.metadata["infovaegan.kind"] == "encoder"
    assert encoder.metadata["infovaegan.input_shape"] == [1, 8, 8]
    assert encoder.metadata["infovaegan.training_dataset"] == "standin"
    assert encoder.input_shape == (1, 8, 8)
    assert encoder.providers == ["CPUExecutionProvider"]
    assert "OnnxEncoder" in repr(encoder)


# ----------------------------------------------------------------------------- encode


def test_outputs_and_shapes(encoder, images):
    codes = encoder.encode(images)
    assert set(codes) == KEYS
    assert codes["categorical_probs"].shape == (10, 10)
    assert codes["continuous_mean"].shape == (10, 2)
    assert codes["features"].shape == (10, 16)
    assert all(v.dtype == np.float32 for v in codes.values())
    np.testing.assert_allclose(codes["categorical_probs"].sum(1), 1.0, atol=1e-5)


def test_rgb_model_has_no_noise_outputs(rgb_encoder):
    codes = rgb_encoder.encode(np.zeros((2, 3, 8, 8), np.float32))
    assert set(codes) == KEYS - {"noise_mean", "noise_logvar"}
    assert codes["categorical_probs"].shape == (2, 7)
    np.testing.assert_allclose(codes["categorical_probs"][:, :3].sum(1), 1.0, atol=1e-5)


def test_uint8_equals_float_divided_by_255(encoder, images):
    as_uint8 = encoder.encode(images)
    as_float = encoder.encode(images.astype(np.float32) / 255)
    as_float64 = encoder.encode(images.astype(np.float64) / 255)
    for key in KEYS:
        np.testing.assert_array_equal(as_uint8[key], as_float[key])
        np.testing.assert_allclose(as_uint8[key], as_float64[key], atol=1e-6)


def test_channel_axis_and_single_images_are_optional(encoder, images):
    batched = encoder.encode(images)["features"]
    np.testing.assert_array_equal(encoder.encode(images[:, 0])["features"], batched)
    np.testing.assert_array_equal(encoder.encode(images[3])["features"], batched[3:4])
    np.testing.assert_array_equal(encoder.encode(images[3, 0])["features"], batched[3:4])
    as_list = (images.astype(np.float32) / 255).tolist()  # nested Python floats
    np.testing.assert_array_equal(encoder.encode(as_list)["features"], batched)


def test_single_rgb_image(rgb_encoder):
    image = np.full((3, 8, 8), 0.5, np.float32)
    assert rgb_encoder.encode(image)["features"].shape == (1, 7 + 1)


def test_tolerance_at_range_edges_is_clipped(encoder):
    edge = np.zeros((1, 1, 8, 8), np.float32)
    edge[..., 0, 0], edge[..., 0, 1] = -5e-7, 1 + 5e-7
    np.testing.assert_array_equal(
        encoder.encode(edge)["features"], encoder.encode(np.clip(edge, 0, 1))["features"]
    )


def test_internal_batching_matches_one_batch(digits_export, encoder):
    many = np.random.default_rng(1).random((37, 1, 8, 8), dtype=np.float32)
    small = OnnxEncoder(digits_export[0], providers="cpu", batch_size=8)
    expected, got = encoder.encode(many), small.encode(many)
    for key in KEYS:
        np.testing.assert_allclose(got[key], expected[key], atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        OnnxEncoder(digits_export[0], batch_size=0)


def test_empty_batch(encoder):
    codes = encoder.encode(np.zeros((0, 1, 8, 8), np.float32))
    assert codes["features"].shape == (0, 16)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 1, 7, 7), np.float32),
         r"expected images of shape \(N, 1, 8, 8\).*got \(2, 1, 7, 7\)"),
        (np.zeros((2, 3, 8, 8), np.float32), "expected 1 channel.*got 3"),
        (np.zeros((8,), np.float32), r"got \(8,\)"),
        (np.full((1, 8, 8), "a"), "dtype <U1 \\(strings\\)"),
        (np.zeros((1, 8, 8), np.complex64), "complex64"),
        (np.zeros((1, 8, 8), np.int64), "int64.*must be uint8"),
        (np.zeros((1, 8, 8), bool), "bool"),
        ([[1, 2], [3]], "cannot be turned into an array"),
    ],
)
def test_bad_inputs_are_named(encoder, bad, message):
    with pytest.raises(InvalidInputError, match=message):
        encoder.encode(bad)


def test_rgb_errors_explain_channels(rgb_encoder):
    with pytest.raises(InvalidInputError, match=r"\(N, 3, 8, 8\)"):
        rgb_encoder.encode(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(InvalidInputError, match="channels-last"):
        rgb_encoder.encode(np.zeros((2, 8, 8, 3), np.float32))


def test_non_finite_values_are_counted(encoder):
    bad = np.zeros((2, 1, 8, 8), np.float32)
    bad[0, 0, 0, :3] = np.nan
    bad[1, 0, 1, 0] = np.inf
    with pytest.raises(InvalidInputError, match="3 NaN and 1 inf"):
        encoder.encode(bad)


def test_out_of_range_values_report_min_and_max(encoder):
    bad = np.zeros((2, 1, 8, 8), np.float32)
    bad[0, 0, 0, 0], bad[1, 0, 0, 0] = -0.5, 1.25
    with pytest.raises(InvalidInputError, match=r"min -0\.5 and max 1\.25"):
        encoder.encode(bad)
    with pytest.raises(InvalidInputError, match=r"found min 200 and max 200\. .*levels 0\.\.200"):
        encoder.encode(np.full((1, 8, 8), 200.0))
    sixteen = np.arange(64, dtype=np.float32).reshape(1, 8, 8) % 17  # scikit-learn digits
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]; found min 0 and max 16\. .*16 for"):
        encoder.encode(sixteen)
    with pytest.raises(InvalidInputError, match=r"scaled to \[-1, 1\]: map them with \(x \+ 1\) / 2"):
        encoder.encode(np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 8, 8))


def test_input_errors_are_value_and_type_errors(encoder):
    with pytest.raises(ValueError):
        encoder.encode(np.zeros((1, 8, 8), np.int32))
    with pytest.raises(TypeError):
        encoder.encode(np.zeros((1, 8, 8), np.int32))


# ----------------------------------------------------------------------------- threads


def test_one_session_serves_eight_threads(encoder):
    batches = [np.random.default_rng(i).random((64, 1, 8, 8), dtype=np.float32) for i in range(8)]
    expected = [encoder.encode(b)["features"] for b in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda b: encoder.encode(b)["features"], batches * 4))
    for index, result in enumerate(results):
        np.testing.assert_array_equal(result, expected[index % 8])

"""fp16 and int8 variants: valid files, float32 interface, measured and recorded deviations."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.quantize import make_variant
from infovaegan_plugin.deploy.runtime import OnnxEncoder, OnnxGenerator

#: Loose enough for random weights (whose top-2 logits are sometimes within rounding of each
#: other), tight enough to catch a broken conversion; see the margin test for the flips.
MIN_AGREEMENT = {"fp16": 0.95, "int8": 0.9}
MAX_CODE_ERROR = {"fp16": 1e-3, "int8": 0.05}


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_variant_files_are_valid_and_keep_float32_io(digits_onnx, precision):
    report = digits_onnx.variants[precision]
    for path in (report.encoder_path, report.generator_path):
        assert path.name.endswith(f".{precision}.onnx")
        onnx.checker.check_model(str(path), full_check=True)
        model = onnx.load(str(path))
        for value in [*model.graph.input, *model.graph.output]:
            assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT, value.name
    encoder = OnnxEncoder(report.encoder_path, providers="cpu")
    assert encoder.metadata[md.PRECISION] == precision
    assert encoder.encode(np.zeros((3, 8, 8), np.uint8))["features"].dtype == np.float32
    images = OnnxGenerator(report.generator_path, providers="cpu").generate(4)
    assert images.shape == (4, 1, 8, 8) and 0 <= images.min() <= images.max() <= 1


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_deviation_is_measured_and_recorded_everywhere(digits_onnx, precision):
    report = digits_onnx.variants[precision]
    enc = report.encoder_deviation
    assert enc["n_images"] == 128 and enc["images"] == "caller"
    assert set(enc["max_abs_error"]) == {
        "categorical_probs", "categorical_logits", "continuous_mean", "continuous_logvar",
        "features", "noise_mean", "noise_logvar"}
    assert all(0 <= v <= MAX_CODE_ERROR[precision] for v in enc["max_abs_error"].values())
    assert len(enc["argmax_agreement_per_code"]) == 1
    assert enc["argmax_agreement"] >= MIN_AGREEMENT[precision]
    gen = report.generator_deviation
    assert 0 <= gen["mean_abs_error"] <= gen["max_abs_error"] <= MAX_CODE_ERROR[precision]

    sidecar = json.loads(digits_onnx.sidecar_path.read_text())
    assert sidecar["variants"][precision] == json.loads(json.dumps(report.as_dict()))
    assert md.read_onnx_file_metadata(report.encoder_path)[md.DEVIATION] == enc
    assert md.read_onnx_file_metadata(report.generator_path)[md.DEVIATION] == gen
    assert sidecar["models"][report.encoder_path.name][md.DEVIATION] == enc
    if precision == "int8":
        assert report.encoder_method.startswith("static QDQ, per-channel")


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_argmax_flips_only_where_fp32_is_undecided(digits_onnx, random_images, precision):
    """A flip is acceptable only where the fp32 top-2 logit margin is within the variant's
    logit error: rounding, not a broken graph."""
    report = digits_onnx.variants[precision]
    images = random_images(128, (1, 8, 8))  # the images export_onnx measured on
    reference = OnnxEncoder(digits_onnx.encoder_path, providers="cpu").encode(images)
    variant = OnnxEncoder(report.encoder_path, providers="cpu").encode(images)
    logits, other = reference["categorical_logits"], variant["categorical_logits"]
    flipped = logits.argmax(1) != other.argmax(1)
    assert np.mean(~flipped) == report.encoder_deviation["argmax_agreement"]
    top2 = np.sort(logits, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    error = report.encoder_deviation["max_abs_error"]["categorical_logits"]
    assert (margin[flipped] <= 2 * error).all()


def test_int8_without_calibration_is_dynamic_and_measured_on_generated_images(
    mnist_onnx, tmp_path
):
    report = make_variant(mnist_onnx.encoder_path, mnist_onnx.generator_path, "int8",
                          output_dir=tmp_path, n_eval=64)
    assert report.encoder_method.startswith("dynamic")
    assert report.encoder_deviation["images"].startswith("fp32 generator")
    assert report.encoder_deviation["n_images"] == 64
    assert len(report.encoder_deviation["argmax_agreement_per_code"]) == 2
    assert report.encoder_deviation["argmax_agreement"] >= MIN_AGREEMENT["int8"]
    assert OnnxEncoder(report.encoder_path, providers="cpu").metadata[md.PRECISION] == "int8"


def test_unknown_precision_is_rejected(mnist_onnx):
    with pytest.raises(ValueError, match="precision"):
        make_variant(mnist_onnx.encoder_path, mnist_onnx.generator_path, "int4")

"""fp16 and int8 variants: valid files, float32 interface, measured and recorded deviations."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.quantize import (
    NEAR_TIE_MARGIN,
    Int8Settings,
    encoder_deviation,
    head_nodes,
    make_variant,
    quantize_int8,
)
from infovaegan_plugin.deploy.runtime import OnnxEncoder, OnnxGenerator

MAX_CODE_ERROR = {"fp16": 1e-3, "int8": 0.05}
#: 255 * 64 * 2: the largest pair of uint8 x 7-bit int8 products, within int16, so the
#: saturating VPMADDUBSW of x86 CPUs without VNNI computes what VNNI computes.
assert 255 * 64 * 2 <= 32767


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
        "features", "noise_mean", "noise_logvar", "trunk_features"}
    assert all(0 <= v <= MAX_CODE_ERROR[precision] for v in enc["max_abs_error"].values())
    assert len(enc["argmax_agreement_per_code"]) == 1
    assert 0 <= enc["argmax_agreement"] <= 1
    # Random weights: every fp32 decision is a near tie, so none counts as decided.
    assert enc["near_tie_margin"] == NEAR_TIE_MARGIN
    assert enc["decided_fraction_per_code"] == [0.0]
    assert enc["argmax_agreement_decided_per_code"] == [None]
    assert enc["argmax_agreement_decided"] is None
    assert all(m <= NEAR_TIE_MARGIN for m in enc["largest_flipped_margin_per_code"])
    gen = report.generator_deviation
    assert 0 <= gen["mean_abs_error"] <= gen["max_abs_error"] <= MAX_CODE_ERROR[precision]

    sidecar = json.loads(digits_onnx.sidecar_path.read_text())
    assert sidecar["variants"][precision] == json.loads(json.dumps(report.as_dict()))
    assert md.read_onnx_file_metadata(report.encoder_path)[md.DEVIATION] == enc
    assert md.read_onnx_file_metadata(report.generator_path)[md.DEVIATION] == gen
    assert sidecar["models"][report.encoder_path.name][md.DEVIATION] == enc
    if precision == "int8":
        assert report.encoder_method == (
            "static QDQ, per-channel 7-bit (reduce_range) int8 weights, uint8 activations, "
            "MinMax calibration, code heads in fp32")


@pytest.fixture(scope="module")
def digit_images():
    """Real 8x8 digits: 256 to calibrate on, 512 others to measure on."""
    from infovaegan_plugin.data import load_digits_data

    images = load_digits_data().images
    return images[:256], images[256:768]


@pytest.fixture(scope="module")
def decisive_variants(decisive_digits_export, digit_images, tmp_path_factory):
    encoder_path, generator_path = decisive_digits_export
    out = tmp_path_factory.mktemp("decisive_variants")
    return {precision: make_variant(encoder_path, generator_path, precision,
                                    images=digit_images[0], output_dir=out / precision)
            for precision in ("fp16", "int8")}


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_variants_keep_every_decision_the_fp32_model_made(
    decisive_digits_export, decisive_variants, digit_images, precision
):
    """The property that holds on every CPU: an image whose fp32 top-2 probabilities are more
    than NEAR_TIE_MARGIN apart keeps its argmax; only near ties may flip."""
    reference = OnnxEncoder(decisive_digits_export[0], providers="cpu")
    variant = OnnxEncoder(decisive_variants[precision].encoder_path, providers="cpu")
    images = digit_images[1]
    expected, got = reference.encode(images), variant.encode(images)
    flipped = expected["categorical_logits"].argmax(1) != got["categorical_logits"].argmax(1)
    top2 = np.sort(expected["categorical_probs"], axis=1)[:, -2:]
    decided = top2[:, 1] - top2[:, 0] > NEAR_TIE_MARGIN
    assert decided.mean() > 0.9  # the model decides: the property is not vacuous
    assert not (flipped & decided).any()

    deviation = encoder_deviation(reference, variant, images)
    assert deviation["argmax_agreement"] == np.mean(~flipped)
    assert deviation["decided_fraction_per_code"] == [np.mean(decided)]
    assert deviation["argmax_agreement_decided"] == 1.0
    assert deviation["largest_flipped_margin_per_code"][0] <= NEAR_TIE_MARGIN


def test_a_broken_quantization_violates_the_property(decisive_digits_export, digit_images,
                                                     tmp_path):
    """Calibrated on images three times too dark, the activations clip: decided images flip,
    so the decided agreement (and the e2e test's bound) catches a broken int8 file."""
    encoder_path = decisive_digits_export[0]
    reference = OnnxEncoder(encoder_path, providers="cpu")
    target = tmp_path / "encoder.int8.onnx"
    quantize_int8(encoder_path, target, {md.ENCODER_INPUT: digit_images[0] * 0.3})
    md.stamp_onnx_file(target, {**{k: v for k, v in reference.metadata.items()
                                   if k.startswith(md.PREFIX)}, md.PRECISION: "int8"})
    deviation = encoder_deviation(reference, OnnxEncoder(target, providers="cpu"),
                                  digit_images[1])
    assert deviation["argmax_agreement_decided"] < 0.99
    assert deviation["largest_flipped_margin_per_code"][0] > NEAR_TIE_MARGIN


def _largest_int8_weight(path) -> int:
    model = onnx.load(str(path))
    values = [np.abs(onnx.numpy_helper.to_array(t).astype(np.int16)).max()
              for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert values, f"{path} has no int8 weights"
    return int(max(values))


def test_int8_weights_use_seven_bits_so_every_x86_kernel_computes_the_same(
    digits_onnx, digit_images, tmp_path
):
    report = digits_onnx.variants["int8"]
    for path in (report.encoder_path, report.generator_path):
        assert _largest_int8_weight(path) <= 64, path.name
    # ORT's full 8-bit range is what the setting avoids: the check tells the two apart.
    full = tmp_path / "encoder.int8.onnx"
    quantize_int8(digits_onnx.encoder_path, full, {md.ENCODER_INPUT: digit_images[0]},
                  Int8Settings(reduce_range=False))
    assert _largest_int8_weight(full) == 127


def test_code_heads_stay_fp32(digits_onnx):
    fp32 = onnx.load(str(digits_onnx.encoder_path))
    heads = head_nodes(fp32)
    weighted = {n.name for n in fp32.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")}
    code_heads = {n for n in weighted if n.endswith(("/head/head.3/Gemm", "/noise_head/Gemm"))}
    assert len(code_heads) == 2 and set(heads) & weighted == code_heads
    assert not any("trunk" in name for name in heads)

    int8 = onnx.load(str(digits_onnx.variants["int8"].encoder_path))
    producer = {out: node for node in int8.graph.node for out in node.output}
    for output in int8.graph.output:  # no code is rounded to a uint8 grid
        if output.name != "trunk_features":  # the embedding is the int8 trunk's activation
            assert producer[output.name].op_type != "DequantizeLinear", output.name
    floats = {t.name for t in int8.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    for node in int8.graph.node:
        if node.name in code_heads:
            assert node.input[1] in floats, node.name
            assert producer.get(node.input[0]) is not None  # fed by the quantized trunk
        elif node.op_type in ("Conv", "Gemm"):
            assert node.input[1] not in floats, node.name  # the trunk is int8


def test_int8_settings_are_checked_and_described():
    with pytest.raises(ValueError, match="activations"):
        Int8Settings(activations="uint4")
    with pytest.raises(ValueError, match="calibration"):
        Int8Settings(calibration="mse")
    assert Int8Settings(reduce_range=False, float_heads=False, activations="int8",
                        symmetric_activations=True, calibration="entropy").describe() == (
        "static QDQ, per-channel 8-bit int8 weights, symmetric int8 activations, Entropy "
        "calibration")


def test_int8_without_calibration_is_dynamic_and_measured_on_generated_images(
    mnist_onnx, tmp_path
):
    report = make_variant(mnist_onnx.encoder_path, mnist_onnx.generator_path, "int8",
                          output_dir=tmp_path, n_eval=64)
    assert report.encoder_method.startswith("dynamic")
    assert report.encoder_deviation["images"].startswith("fp32 generator")
    assert report.encoder_deviation["n_images"] == 64
    assert len(report.encoder_deviation["argmax_agreement_per_code"]) == 2
    assert all(m <= NEAR_TIE_MARGIN
               for m in report.encoder_deviation["largest_flipped_margin_per_code"])
    assert OnnxEncoder(report.encoder_path, providers="cpu").metadata[md.PRECISION] == "int8"


def test_unknown_precision_is_rejected(mnist_onnx):
    with pytest.raises(ValueError, match="precision"):
        make_variant(mnist_onnx.encoder_path, mnist_onnx.generator_path, "int4")

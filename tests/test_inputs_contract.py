"""One input contract: the PyTorch model and the ONNX encoder accept and reject the same
images, with the same messages (``infovaegan_plugin.inputs``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infovaegan_plugin.inputs import DEFAULT_NORMALISATION, InvalidInputError

RNG = np.random.default_rng(0)
BATCH = RNG.random((4, 1, 8, 8), dtype=np.float32)
PIXELS = (BATCH * 255).round().astype(np.uint8)
LEVELS16 = np.round(BATCH * 16)  # scikit-learn digits before dividing by 16


def _with(value, index=(0, 0, 0, 0), base=BATCH):
    out = base.copy()
    out[index] = value
    return out


ACCEPTED = {
    "float32 batch": BATCH,
    "float64 batch": BATCH.astype(np.float64),
    "float16 batch": BATCH.astype(np.float16),
    "uint8 pixels": PIXELS,
    "no channel axis": BATCH[:, 0],
    "one image": BATCH[0],
    "one image, no channel": BATCH[0, 0],
    "within tolerance": _with(1 + 5e-7, (1, 0, 2, 2), _with(-5e-7)),
    "nested lists": BATCH.tolist(),
    "empty batch": np.zeros((0, 1, 8, 8), np.float32),
}

REJECTED = {
    "NaN": (_with(np.nan), "1 NaN and 0 inf"),
    "inf": (_with(np.inf), "0 NaN and 1 inf"),
    "0..255 floats": (PIXELS.astype(np.float32), r"\[0, 1\]; found min \d+ and max 25\d"),
    "0..16 floats": (LEVELS16, "grey levels 0..16"),
    "[-1, 1] floats": (BATCH * 2 - 1, r"\(x \+ 1\) / 2"),
    "int64": (PIXELS.astype(np.int64), "dtype int64; expected uint8"),
    "bool": (BATCH > 0.5, r"bool \(booleans\)"),
    "complex": (BATCH.astype(np.complex64), r"complex64 \(complex numbers\)"),
    "strings": (np.full((1, 8, 8), "a"), "strings"),
    "ragged lists": ([[1.0, 2.0], [3.0]], "cannot be turned into an array"),
    "wrong size": (np.zeros((2, 1, 7, 7), np.float32), r"got \(2, 1, 7, 7\)"),
    "three channels": (np.zeros((2, 3, 8, 8), np.float32), "expected 1 channel"),
    "flat vector": (np.zeros(64, np.float32), r"got \(64,\)"),
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A tiny model and its exported encoder."""
    from infovaegan_plugin import InfoVAEGAN, InfoVAEGANConfig
    from infovaegan_plugin.deploy.export import export_onnx
    from infovaegan_plugin.deploy.runtime import OnnxEncoder

    torch.manual_seed(0)
    model = InfoVAEGAN(InfoVAEGANConfig(input_dim=(1, 8, 8), hidden_dim=32, base_channels=8,
                                        noise_dim=4)).eval()
    result = export_onnx(model, tmp_path_factory.mktemp("contract") / "onnx")
    return model, OnnxEncoder(result.encoder_path, providers="cpu")


def as_tensor(images):
    """The same input as a tensor, where torch can hold it."""
    array = np.asarray(images)
    return torch.from_numpy(np.ascontiguousarray(array))


def outcome(call, images):
    try:
        return "ok", call(images)
    except InvalidInputError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_both_paths_accept_the_same_inputs_and_agree(pair, name):
    model, encoder = pair
    images = ACCEPTED[name]
    onnx_codes = encoder.encode(images)
    inputs = [images] if isinstance(images, list) else [images, as_tensor(images)]
    for given in inputs:
        with torch.no_grad():
            torch_codes = model.encode(given, with_trunk=True)
        for key, value in onnx_codes.items():
            np.testing.assert_allclose(torch_codes[key].numpy(), value, atol=2e-5, err_msg=key)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_both_paths_reject_the_same_inputs_with_the_same_message(pair, name):
    model, encoder = pair
    images, pattern = REJECTED[name]
    kind, onnx_message = outcome(encoder.encode, images)
    assert kind == "error"
    inputs = [images]
    if np.asarray(images, dtype=object).dtype != object and np.asarray(images).dtype.kind != "U":
        inputs.append(as_tensor(images))  # torch holds every numeric dtype here
    for given in inputs:
        kind, torch_message = outcome(model.encode, given)
        assert kind == "error", type(given)
        assert torch_message == onnx_message
    import re

    assert re.search(pattern, onnx_message), onnx_message


def test_errors_are_value_and_type_errors_and_the_convention_is_one(pair):
    model, _ = pair
    with pytest.raises(ValueError):
        model.encode(LEVELS16)
    with pytest.raises(TypeError):
        model.encode(LEVELS16)
    from infovaegan_plugin.deploy import metadata as md
    from infovaegan_plugin.deploy.runtime import InvalidInputError as RuntimeInputError

    assert RuntimeInputError is InvalidInputError
    assert md.DEFAULT_NORMALISATION == DEFAULT_NORMALISATION


def test_training_pipeline_refuses_raw_levels(make_model, tmp_path):
    """pythae's TrainingPipeline used to train on 0..16 arrays without a word."""
    from pythae.pipelines import TrainingPipeline

    from infovaegan_plugin import InfoVAEGANTrainerConfig

    pipeline = TrainingPipeline(model=make_model(), training_config=InfoVAEGANTrainerConfig(
        output_dir=str(tmp_path), num_epochs=1))
    raw = np.round(RNG.random((32, 1, 8, 8)) * 16).astype(np.float32)
    with pytest.raises(InvalidInputError, match=r"train_data: image values must lie in \[0, 1\]; "
                       r"found min 0 and max 16\. .*levels 0\.\.16"):
        pipeline(train_data=raw)
    with pytest.raises(InvalidInputError, match="eval_data: image values .* max 16"):
        pipeline(train_data=raw / 16, eval_data=raw)
    assert not list(tmp_path.iterdir())  # refused before any run folder was made

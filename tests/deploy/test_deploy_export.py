"""export_onnx on real (small, randomly initialised) InfoVAEGAN models: parity with PyTorch,
dynamic batch, metadata in both places, model discovery, errors."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx.reference import ReferenceEvaluator

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.export import export_onnx, find_model_dir
from infovaegan_plugin.deploy.runtime import OnnxEncoder, OnnxGenerator

TOLERANCE = 1e-4


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _torch_codes(model, n, seed):
    codes = model.sample_prior(n, torch.Generator().manual_seed(seed))
    return {"noise": codes.noise, "categorical": codes.categorical,
            "continuous": codes.continuous}


@pytest.mark.parametrize("which", ["digits", "mnist"])
@pytest.mark.parametrize("batch", [1, 7, 256])
def test_onnxruntime_matches_pytorch(request, random_images, which, batch):
    model = request.getfixturevalue(f"{which}_model")
    result = request.getfixturevalue(f"{which}_onnx")
    shape = tuple(model.model_config.input_dim)
    images = random_images(batch, shape, seed=batch)
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(images), with_trunk=True)
    encoder = _session(result.encoder_path)
    names = [o.name for o in encoder.get_outputs()]
    for name, got in zip(names, encoder.run(None, {"images": images})):
        assert got.shape == tuple(expected[name].shape)
        assert np.abs(got - expected[name].numpy()).max() <= TOLERANCE, name

    codes = _torch_codes(model, batch, seed=batch)
    with torch.no_grad():
        reference = model.decode(**codes).numpy()
    got = _session(result.generator_path).run(None, {k: v.numpy() for k, v in codes.items()})[0]
    assert got.shape == (batch, *shape)
    assert np.abs(got - reference).max() <= TOLERANCE


def test_runtime_wrappers_match_pytorch(mnist_model, mnist_onnx, random_images):
    images = random_images(300, (1, 28, 28), seed=9)
    with torch.no_grad():
        expected = mnist_model.encode(torch.from_numpy(images), with_trunk=True)
    got = OnnxEncoder(mnist_onnx.encoder_path, providers="cpu", batch_size=128).encode(images)
    assert set(got) == set(expected.keys())
    for name in got:
        assert np.abs(got[name] - expected[name].numpy()).max() <= TOLERANCE, name
    codes = _torch_codes(mnist_model, 20, seed=3)
    with torch.no_grad():
        reference = mnist_model.decode(**codes).numpy()
    generated = OnnxGenerator(mnist_onnx.generator_path, providers="cpu").generate(
        **{k: v.numpy() for k, v in codes.items()})
    assert np.abs(generated - reference).max() <= TOLERANCE


@pytest.mark.parametrize("which", ["digits", "mnist"])
def test_reference_evaluator_agrees(request, random_images, which):
    model = request.getfixturevalue(f"{which}_model")
    result = request.getfixturevalue(f"{which}_onnx")
    images = random_images(2, tuple(model.model_config.input_dim), seed=11)
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(images), with_trunk=True)
    evaluator = ReferenceEvaluator(str(result.encoder_path))
    for name, got in zip(evaluator.output_names, evaluator.run(None, {"images": images})):
        assert np.abs(got - expected[name].numpy()).max() <= TOLERANCE, name
    codes = _torch_codes(model, 2, seed=12)
    with torch.no_grad():
        reference = model.decode(**codes).numpy()
    got = ReferenceEvaluator(str(result.generator_path)).run(
        None, {k: v.numpy() for k, v in codes.items()})[0]
    assert np.abs(got - reference).max() <= TOLERANCE


def test_graph_contract(mnist_onnx, mnist_model):
    config = mnist_model.model_config
    for path in (mnist_onnx.encoder_path, mnist_onnx.generator_path):
        onnx.checker.check_model(str(path), full_check=True)
        model = onnx.load(str(path))
        assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= md.MIN_OPSET
        for value in [*model.graph.input, *model.graph.output]:
            assert value.type.tensor_type.shape.dim[0].dim_param == "batch", value.name
    encoder, generator = _session(mnist_onnx.encoder_path), _session(mnist_onnx.generator_path)
    assert [i.name for i in encoder.get_inputs()] == ["images"]
    assert [(o.name, o.shape[1]) for o in encoder.get_outputs()] == [
        ("categorical_probs", 13), ("categorical_logits", 13), ("continuous_mean", 2),
        ("continuous_logvar", 2), ("features", config.feature_dim), ("noise_mean", 5),
        ("noise_logvar", 5), ("trunk_features", config.hidden_dim),
    ]
    assert [(i.name, i.shape[1]) for i in generator.get_inputs()] == [
        ("noise", 5), ("categorical", 13), ("continuous", 2)]
    assert generator.get_outputs()[0].shape == ["batch", 1, 28, 28]


def test_metadata_in_file_and_sidecar(mnist_onnx, mnist_model):
    sidecar = json.loads(mnist_onnx.sidecar_path.read_text())
    assert sidecar == mnist_onnx.metadata
    for path, kind in ((mnist_onnx.encoder_path, "encoder"),
                       (mnist_onnx.generator_path, "generator")):
        in_file = md.read_onnx_file_metadata(path)
        assert in_file == sidecar["models"][path.name]
        assert in_file[md.KIND] == kind
        assert in_file[md.INPUT_SHAPE] == [1, 28, 28]
        assert in_file[md.LATENT_LAYOUT] == mnist_model.latent_layout()
        assert in_file[md.NORMALISATION] == {"dtype": "float32", "range": [0.0, 1.0],
                                             "uint8_scale": 1 / 255}
        assert in_file[md.TRAINING_DATASET] == "mnist"
        assert in_file[md.PLUGIN_VERSION] == md.plugin_version()
        assert in_file[md.PRECISION] == "fp32"
        assert in_file[md.SOURCE_SHA256] is None  # exported from memory, no model.pt
    assert max(sidecar["parity_max_abs_error"].values()) <= TOLERANCE
    assert sidecar["opset"] == md.MIN_OPSET and sidecar["variants"] == {}


def test_export_from_saved_and_training_folders(digits_model, make_model, random_images,
                                                 tmp_path):
    run = tmp_path / "runs"
    old = run / "InfoVAEGAN_training_2024-01-01_10-00-00" / "final_model"
    new = run / "nested" / "InfoVAEGAN_training_2024-06-01_10-00-00" / "final_model"
    digits_model.save(str(old))
    make_model((1, 8, 8), seed=3).save(str(new))
    os.utime(old / "model.pt", (1_000_000_000, 1_000_000_000))
    assert find_model_dir(run) == new
    assert find_model_dir(old) == old

    result = export_onnx(run, tmp_path / "out")
    sha = md.sha256_file(new / "model.pt")
    assert md.read_onnx_file_metadata(result.encoder_path)[md.SOURCE_SHA256] == sha
    assert result.metadata["source_model_dir"] == str(new)
    assert result.metadata["models"]["generator.onnx"][md.TRAINING_DATASET] is None

    direct = export_onnx(old, tmp_path / "out_old")
    images = random_images(4, (1, 8, 8))
    with torch.no_grad():
        expected = digits_model.encode(torch.from_numpy(images)).features.numpy()
    got = OnnxEncoder(direct.encoder_path, providers="cpu").encode(images)["features"]
    assert np.abs(got - expected).max() <= TOLERANCE


def test_model_without_inferred_noise(make_model, random_images, tmp_path):
    model = make_model((1, 8, 8), seed=4, infer_noise=False, noise_dim=0, continuous_dim=1)
    result = export_onnx(model, tmp_path)
    encoder = OnnxEncoder(result.encoder_path, providers="cpu")
    codes = encoder.encode(random_images(3, (1, 8, 8)))
    assert "noise_mean" not in codes and codes["features"].shape == (3, 11)
    generator = OnnxGenerator(result.generator_path, providers="cpu")
    images = generator.generate(4, categorical=[0, 1, 2, 3])
    with torch.no_grad():
        reference = model.decode(torch.zeros(4, 0), torch.eye(10)[:4],
                                 torch.from_numpy(generator.sample_codes(4)["continuous"]))
    assert np.abs(images - reference.numpy()).max() <= TOLERANCE


def test_dynamo_exporter_gives_the_same_model(digits_model, digits_onnx, random_images,
                                              tmp_path):
    result = export_onnx(digits_model, tmp_path, exporter="dynamo")
    images = random_images(5, (1, 8, 8), seed=2)
    legacy = OnnxEncoder(digits_onnx.encoder_path, providers="cpu").encode(images)
    dynamo = OnnxEncoder(result.encoder_path, providers="cpu").encode(images)
    for name in legacy:
        assert np.abs(legacy[name] - dynamo[name]).max() <= TOLERANCE, name
    assert max(result.parity.values()) <= TOLERANCE


def test_errors_name_the_problem(digits_model, tmp_path):
    from infovaegan_plugin.deploy.export import max_opset

    top = max_opset("legacy")
    with pytest.raises(ValueError, match=rf"opset must be {md.MIN_OPSET}\.\.{top} for the legacy exporter, got {md.MIN_OPSET - 1}"):
        export_onnx(digits_model, tmp_path, opset=md.MIN_OPSET - 1)
    with pytest.raises(ValueError, match=rf"opset must be {md.MIN_OPSET}\.\.{top} .*got 99"):
        export_onnx(digits_model, tmp_path, opset=99)
    with pytest.raises(ValueError, match="quantize"):
        export_onnx(digits_model, tmp_path, quantize="int4")
    with pytest.raises(FileNotFoundError, match="final_model"):
        export_onnx(tmp_path, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="not found"):
        export_onnx(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(TypeError, match="needs an InfoVAEGAN"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path)


def test_noise_scale_travels_in_the_metadata(make_model, tmp_path):
    """A model with a narrow noise prior (noise_std) samples the same prior in ONNX Runtime."""
    model = make_model((1, 8, 8), seed=2, noise_dim=6, noise_std=0.1)
    result = export_onnx(model, tmp_path)
    generator = OnnxGenerator(result.generator_path, providers="cpu")
    assert generator.noise_std == pytest.approx(0.1)
    noise = generator.sample_codes(4000)["noise"]
    assert noise.std() == pytest.approx(0.1, rel=0.05)
    with torch.no_grad():
        torch_noise = model.sample_prior(4000).noise
    assert torch_noise.std().item() == pytest.approx(0.1, rel=0.05)


def test_spectrally_normalised_model_exports_with_its_weights_baked_in(make_model, random_images,
                                                                      tmp_path):
    """ONNX has no vdot: the exported encoder (a head on D's normalised trunk) carries the
    weights the parametrisation computes, and the model itself keeps its parametrisation."""
    from torch.nn.utils import parametrize

    model = make_model((1, 8, 8), discriminator_spectral_norm=True, share_discriminator_trunk=True)
    model.train()
    with torch.no_grad():  # a few power iterations, so that sigma is not the initial guess
        for _ in range(5):
            model.discriminator(torch.rand(16, 1, 8, 8))
    model.eval()
    result = export_onnx(model, tmp_path / "export")
    assert any(parametrize.is_parametrized(m) for m in model.modules())
    images = random_images(9, (1, 8, 8), seed=3)
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(images), with_trunk=True)
    encoder = _session(result.encoder_path)
    names = [o.name for o in encoder.get_outputs()]
    for name, got in zip(names, encoder.run(None, {"images": images})):
        assert np.abs(got - expected[name].numpy()).max() <= TOLERANCE, name

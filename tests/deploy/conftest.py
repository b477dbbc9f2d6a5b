"""Fixtures for the deploy tests: tiny stand-in ONNX exports that follow the model contract.

Phase-1 tests must not depend on the real InfoVAEGAN, so small torch modules with the same
input/output names (docs/ARCHITECTURE.md) are exported with the legacy exporter (fast) and
stamped with the same metadata helpers the real exporter uses.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.layout import LatentLayout


@dataclass(frozen=True)
class StandinSpec:
    input_shape: tuple[int, int, int]
    categorical_dims: tuple[int, ...]
    continuous_dim: int
    noise_dim: int
    infer_noise: bool = True
    continuous_prior: str = "uniform"
    #: Multiplies the categorical logits: random weights give near-tied logits (every argmax a
    #: coin flip), a large scale gives decisions that depend on the image.
    logit_scale: float = 1.0

    def latent_layout(self) -> list[dict]:
        return LatentLayout.from_sizes(self.noise_dim, self.categorical_dims,
                                       self.continuous_dim, self.continuous_prior).to_blocks()


class StandinEncoder(nn.Module):
    def __init__(self, spec: StandinSpec) -> None:
        super().__init__()
        self.spec = spec
        c, h, w = spec.input_shape
        cat, cont, noise = sum(spec.categorical_dims), spec.continuous_dim, spec.noise_dim
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 16), nn.Tanh())
        heads = cat + 2 * cont + (2 * noise if spec.infer_noise else 0)
        self.head = nn.Linear(16, heads)

    def forward(self, images: torch.Tensor):
        out = self.head(self.body(images))
        cat, cont = sum(self.spec.categorical_dims), self.spec.continuous_dim
        logits, rest = out[:, :cat], out[:, cat:]
        if self.spec.logit_scale != 1.0:
            logits = logits * self.spec.logit_scale
        probs = torch.cat(
            [torch.softmax(part, dim=1)
             for part in torch.split(logits, list(self.spec.categorical_dims), 1)],
            dim=1,
        )
        mean, logvar, rest = rest[:, :cont], rest[:, cont : 2 * cont], rest[:, 2 * cont :]
        parts = [probs, mean]
        result = [probs, logits, mean, logvar]
        if self.spec.infer_noise:
            noise_mean, noise_logvar = rest.chunk(2, dim=1)
            parts.append(noise_mean)
            result += [noise_mean, noise_logvar]
        return (*result[:4], torch.cat(parts, dim=1), *result[4:])


class StandinGenerator(nn.Module):
    def __init__(self, spec: StandinSpec) -> None:
        super().__init__()
        self.shape = spec.input_shape
        width = spec.noise_dim + sum(spec.categorical_dims) + spec.continuous_dim
        self.net = nn.Linear(width, int(torch.tensor(spec.input_shape).prod()))

    def forward(self, noise, categorical, continuous):
        flat = torch.sigmoid(self.net(torch.cat([noise, categorical, continuous], dim=1)))
        return flat.reshape(-1, *self.shape)


def export_standin(spec: StandinSpec, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write stand-in ``encoder.onnx`` and ``generator.onnx`` with full metadata."""
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    encoder, generator = StandinEncoder(spec).eval(), StandinGenerator(spec).eval()
    noise_outputs = list(md.ENCODER_NOISE_OUTPUTS) if spec.infer_noise else []
    outputs = list(md.ENCODER_OUTPUTS) + noise_outputs
    encoder_path, generator_path = folder / "encoder.onnx", folder / "generator.onnx"
    batch = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter's notice
        torch.onnx.export(
            encoder, (torch.rand(2, *spec.input_shape),), str(encoder_path), dynamo=False,
            input_names=["images"], output_names=outputs, opset_version=md.MIN_OPSET,
            dynamic_axes={name: batch for name in ["images", *outputs]},
        )
        width = sum(spec.categorical_dims)
        example = (torch.zeros(2, spec.noise_dim), torch.zeros(2, width),
                   torch.zeros(2, spec.continuous_dim))
        torch.onnx.export(
            generator, example, str(generator_path), dynamo=False,
            input_names=list(md.GENERATOR_INPUTS), output_names=["images"], opset_version=md.MIN_OPSET,
            dynamic_axes={name: batch for name in [*md.GENERATOR_INPUTS, "images"]},
        )
    for kind, path in (("encoder", encoder_path), ("generator", generator_path)):
        md.stamp_onnx_file(path, md.build_metadata(
            kind, spec.input_shape, spec.latent_layout(), training_dataset="standin",
            version="test",
        ))
    return encoder_path, generator_path


DIGITS_SPEC = StandinSpec(input_shape=(1, 8, 8), categorical_dims=(10,), continuous_dim=2,
                          noise_dim=4)
#: Decisive codes on real digits: most images' top-2 probabilities are far apart.
DECISIVE_DIGITS_SPEC = StandinSpec(input_shape=(1, 8, 8), categorical_dims=(10,),
                                   continuous_dim=2, noise_dim=4, logit_scale=30.0)
RGB_SPEC = StandinSpec(input_shape=(3, 8, 8), categorical_dims=(3, 4), continuous_dim=1,
                       noise_dim=3, infer_noise=False, continuous_prior="normal")


@pytest.fixture(scope="session")
def digits_export(tmp_path_factory) -> tuple[Path, Path]:
    return export_standin(DIGITS_SPEC, tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="session")
def decisive_digits_export(tmp_path_factory) -> tuple[Path, Path]:
    return export_standin(DECISIVE_DIGITS_SPEC, tmp_path_factory.mktemp("decisive_digits"))


@pytest.fixture(scope="session")
def rgb_export(tmp_path_factory) -> tuple[Path, Path]:
    return export_standin(RGB_SPEC, tmp_path_factory.mktemp("rgb"))


# ----------------------------------------------------------------------------- real model


def make_model(input_shape: tuple[int, int, int], seed: int = 0, **overrides):
    """A small randomly-initialised InfoVAEGAN in eval mode with non-trivial BatchNorm stats.

    The DCGAN init (std 0.02) gives near-uniform logits, which makes argmax agreement
    meaningless; PyTorch's default init and random running statistics give decisive codes
    and exercise BatchNorm folding in the exported graphs.
    """
    from infovaegan_plugin.models import InfoVAEGAN, InfoVAEGANConfig

    torch.manual_seed(seed)
    options = {"hidden_dim": 32, "base_channels": 8, "noise_dim": 5, **overrides}
    model = InfoVAEGAN(InfoVAEGANConfig(input_dim=input_shape, **options))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                module.reset_parameters()
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def random_images(n: int, shape: tuple[int, int, int], seed: int = 0):
    import numpy as np

    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


@pytest.fixture(name="make_model", scope="session")
def make_model_fixture():
    """The model factory, as a fixture: test modules must not ``import conftest`` (other test
    folders have their own conftest.py, so the name is ambiguous on sys.path)."""
    return make_model


@pytest.fixture(name="random_images", scope="session")
def random_images_fixture():
    return random_images


@pytest.fixture(scope="session")
def digits_model():
    return make_model((1, 8, 8))


@pytest.fixture(scope="session")
def mnist_model():
    return make_model((1, 28, 28), seed=1, continuous_prior="normal", categorical_dims=[10, 3])


@pytest.fixture(scope="session")
def digits_onnx(digits_model, tmp_path_factory):
    """fp32 + fp16 + static int8 export of the 8x8 model (calibrated on random images)."""
    from infovaegan_plugin.deploy.export import export_onnx

    return export_onnx(
        digits_model, tmp_path_factory.mktemp("digits_onnx"), fp16=True, quantize="int8",
        dataset_name="digits", calibration_images=random_images(128, (1, 8, 8)),
    )


@pytest.fixture(scope="session")
def mnist_onnx(mnist_model, tmp_path_factory):
    from infovaegan_plugin.deploy.export import export_onnx

    return export_onnx(mnist_model, tmp_path_factory.mktemp("mnist_onnx"), dataset_name="mnist")

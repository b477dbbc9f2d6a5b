"""Export a trained InfoVAEGAN to self-describing ONNX files (encoder + generator).

Two graphs rather than one: services either classify/embed images (encoder) or synthesise
them (generator), and each should load only the weights it needs. The discriminator is a
training-time network and is never exported.

Every file carries the metadata of :mod:`infovaegan_plugin.deploy.metadata`, and an
``export_metadata.json`` sidecar repeats it with the parity and quantization measurements.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as _dt
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import torch
from torch import nn

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.folders import (
    ExportFolderError,
    check_export_target,
    staged_export_dir,
)
from infovaegan_plugin.deploy.quantize import VariantReport, make_variant
from infovaegan_plugin.deploy.runtime import OnnxEncoder, OnnxGenerator
from infovaegan_plugin.inputs import prepare_images
from infovaegan_plugin.models.infovaegan.infovaegan_model import MODEL_FILE
from infovaegan_plugin.saved_models import find_model_dir

__all__ = [
    "EncoderWrapper",
    "ExportFolderError",
    "ExportResult",
    "ExportVerificationError",
    "GeneratorWrapper",
    "MIN_OPSET",
    "check_export_target",
    "export_onnx",
    "find_model_dir",
    "load_model",
    "max_opset",
    "source_sha256",
    "write_export",
]

MIN_OPSET = md.MIN_OPSET
#: fp32 ONNX Runtime vs PyTorch beyond this means the graph is wrong, not rounding.
PARITY_TOLERANCE = 1e-3


class ExportVerificationError(RuntimeError):
    """The exported graph does not reproduce the PyTorch model."""


class EncoderWrapper(nn.Module):
    """``model.encode`` as a module with positional tensor outputs (ONNX needs a tuple)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        noise = list(md.ENCODER_NOISE_OUTPUTS) if model.model_config.infer_noise else []
        self.output_names: list[str] = [*md.ENCODER_OUTPUTS, *noise, md.ENCODER_TRUNK_OUTPUT]

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        encoded = self.model.encode(images, with_trunk=True)
        return tuple(encoded[name] for name in self.output_names)


class GeneratorWrapper(nn.Module):
    """``model.decode(noise, categorical, continuous)``: the generator's three input blocks."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, noise: torch.Tensor, categorical: torch.Tensor, continuous: torch.Tensor
    ) -> torch.Tensor:
        return self.model.decode(noise, categorical, continuous)


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote, with the numbers it measured."""

    output_dir: Path
    encoder_path: Path
    generator_path: Path
    sidecar_path: Path
    metadata: dict[str, Any]
    parity: dict[str, float]
    variants: dict[str, VariantReport] = field(default_factory=dict)
    #: Variant encoders against fp32 on held-out real images (empty without them).
    held_out_deviation: dict[str, dict[str, Any]] = field(default_factory=dict)

    def relocated(self, old_root: Path, new_root: Path) -> ExportResult:
        """The same result with every path under ``old_root`` moved to ``new_root`` (an
        export is written into a staging folder, then swapped in)."""

        def move(path: Path) -> Path:
            return Path(new_root) / Path(path).relative_to(old_root)

        variants = {
            name: dataclasses.replace(v, encoder_path=move(v.encoder_path),
                                      generator_path=move(v.generator_path))
            for name, v in self.variants.items()
        }
        return dataclasses.replace(
            self, output_dir=Path(new_root), encoder_path=move(self.encoder_path),
            generator_path=move(self.generator_path), sidecar_path=move(self.sidecar_path),
            variants=variants,
        )

    @property
    def files(self) -> list[Path]:
        paths = [self.encoder_path, self.generator_path]
        for report in self.variants.values():
            paths += [report.encoder_path, report.generator_path]
        return [*paths, self.sidecar_path]


# --------------------------------------------------------------------------- loading


def load_model(model_or_dir: Any) -> tuple[nn.Module, Path | None]:
    """The model in eval mode and the folder it came from (``None`` for an in-memory model)."""
    from infovaegan_plugin.models import InfoVAEGAN

    if isinstance(model_or_dir, InfoVAEGAN):
        return with_plain_weights(model_or_dir.eval()), None
    if isinstance(model_or_dir, nn.Module):
        raise TypeError(
            f"export_onnx needs an InfoVAEGAN, got {type(model_or_dir).__name__}."
        )
    folder = find_model_dir(model_or_dir)
    return with_plain_weights(InfoVAEGAN.load_from_folder(str(folder)).eval()), folder


def with_plain_weights(model: nn.Module) -> nn.Module:
    """``model`` itself, or, when layers are parametrised (spectral normalisation), an eval-mode
    twin without parametrisations holding the weights they compute: ONNX has no ``vdot``, and
    a deployed graph should not carry the power iteration's state. (A deep copy would not do:
    removing a parametrisation edits the class the copy shares with the original.)"""
    from torch.nn.utils import parametrize

    parametrised = {
        name: module for name, module in model.named_modules(remove_duplicate=False)
        if parametrize.is_parametrized(module)
    }
    if not parametrised:
        return model
    state = {k: v for k, v in model.state_dict().items() if ".parametrizations." not in k}
    with torch.no_grad():
        for name, module in parametrised.items():
            for tensor_name in module.parametrizations:
                state[f"{name}.{tensor_name}"] = getattr(module, tensor_name).detach().clone()
    config = dataclasses.replace(model.model_config, discriminator_spectral_norm=False)
    plain = type(model)(config)
    plain.load_state_dict(state)
    plain.model_config = model.model_config  # what the metadata describes: the trained model
    return plain.eval()


def source_sha256(source_dir: Path | None) -> str | None:
    """SHA-256 of the ``model.pt`` an export comes from (``None`` for an in-memory model)."""
    return md.sha256_file(Path(source_dir) / MODEL_FILE) if source_dir is not None else None


def max_opset(exporter: str = "legacy") -> int:
    """The highest opset the chosen torch exporter writes (TorchScript: 20 in torch 2.x)."""
    from torch.onnx import _constants

    if exporter == "legacy":
        return int(getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20))
    return int(getattr(_constants, "ONNX_MAX_OPSET", 23))


# --------------------------------------------------------------------------- export


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the exporters' expected warnings: the legacy-exporter deprecation notice,
    tracer warnings about the model's static (non-batch) shape checks, and torch.export's
    notes on internals and on the shared ``batch`` axis name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*axis name: batch will not be used.*")
        yield


def _export_module(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    input_names: list[str],
    output_names: list[str],
    opset: int,
    exporter: str,
) -> None:
    module.eval()
    with torch.no_grad(), _quiet_export():
        if exporter == "legacy":
            torch.onnx.export(
                module, example, str(path), dynamo=False, opset_version=opset,
                input_names=input_names, output_names=output_names, do_constant_folding=True,
                dynamic_axes={name: {0: "batch"} for name in [*input_names, *output_names]},
            )
        else:
            import importlib.util

            if importlib.util.find_spec("onnxscript") is None:
                raise ModuleNotFoundError(
                    "exporter='dynamo' needs the onnxscript package: "
                    "pip install 'infovaegan-plugin[dynamo]' (or use the default legacy exporter)."
                )
            batch = torch.export.Dim("batch", min=1)
            program = torch.onnx.export(
                module, example, dynamo=True, opset_version=opset, input_names=input_names,
                output_names=output_names, dynamic_shapes=tuple({0: batch} for _ in example),
                verbose=False,
            )
            program.save(str(path))


def _fix_output_shapes(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> None:
    """Write the known static output dims (the tracer leaves e.g. the generator's H and W
    symbolic), keeping the leading dynamic ``batch`` axis, so Triton configs and shape
    inference see exact shapes."""
    for output in model.graph.output:
        if output.name not in shapes:
            continue
        dims = output.type.tensor_type.shape.dim
        del dims[:]
        dims.add().dim_param = "batch"
        for size in shapes[output.name]:
            dims.add().dim_value = int(size)


def _finalise(path: Path, values: dict[str, Any], doc: str, min_opset: int,
              output_shapes: dict[str, tuple[int, ...]]) -> None:
    """Stamp metadata, self-check, and refuse graphs below the opset we promise."""
    model = onnx.load(str(path))
    _fix_output_shapes(model, output_shapes)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < min_opset:
        raise ExportVerificationError(f"{path} was written with opset {opset} < {min_opset}.")
    model.doc_string = doc
    md.stamp_onnx_model(model, values)
    onnx.save(model, str(path))
    onnx.checker.check_model(str(path), full_check=True)


def _as_images(images: Any, input_shape: tuple[int, int, int]) -> np.ndarray:
    if torch.is_tensor(images):
        images = images.detach().cpu().numpy()
    return prepare_images(images, input_shape)


def _verify(model: nn.Module, encoder_path: Path, generator_path: Path,
            images: np.ndarray) -> dict[str, float]:
    """Run both graphs in ONNX Runtime against PyTorch on the same inputs."""
    encoder = OnnxEncoder(encoder_path, providers="cpu")
    generator = OnnxGenerator(generator_path, providers="cpu")
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(images), with_trunk=True)
    got = encoder.encode(images)
    parity = {
        f"encoder.{name}": float(np.abs(got[name] - expected[name].numpy()).max(initial=0.0))
        for name in got
    }
    codes = model.sample_prior(len(images), torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = model.decode(codes.noise, codes.categorical, codes.continuous).numpy()
    produced = generator.generate(
        noise=codes.noise.numpy(), categorical=codes.categorical.numpy(),
        continuous=codes.continuous.numpy(),
    )
    parity["generator.images"] = float(np.abs(produced - reference).max(initial=0.0))
    bad = {k: v for k, v in parity.items() if not v <= PARITY_TOLERANCE}
    if bad:
        raise ExportVerificationError(
            f"ONNX Runtime disagrees with PyTorch beyond {PARITY_TOLERANCE}: {bad}."
        )
    return parity


def _check_options(opset: int, quantize: Any, exporter: str) -> None:
    if exporter not in ("legacy", "dynamo"):
        raise ValueError(f"exporter must be 'legacy' or 'dynamo', got {exporter!r}.")
    if not MIN_OPSET <= opset <= max_opset(exporter):
        raise ValueError(f"opset must be {MIN_OPSET}..{max_opset(exporter)} for the {exporter} "
                         f"exporter, got {opset}.")
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}.")


def export_onnx(
    model_or_dir: Any,
    output_dir: str | os.PathLike[str],
    opset: int = MIN_OPSET,
    fp16: bool = False,
    quantize: Literal["int8"] | None = None,
    dataset_name: str | None = None,
    calibration_images: Any = None,
    exporter: Literal["legacy", "dynamo"] = "legacy",
    overwrite: bool = False,
    held_out_images: Any = None,
    held_out_label: str = "held-out images",
) -> ExportResult:
    """Write ``encoder.onnx``, ``generator.onnx`` (+ fp16/int8 variants) and the sidecar.

    ``model_or_dir``: an ``InfoVAEGAN``, a saved-model folder or a training-run folder (see
    :func:`find_model_dir`). ``calibration_images``: real images (N, C, H, W), uint8 or float
    in [0, 1]; they check parity, calibrate static int8 quantization and measure the
    variants' deviation (without them int8 is dynamic and deviations are measured on images
    the generator samples from the prior). ``held_out_images``: other real images the variants'
    encoders are measured on as well (``held_out_deviation`` in the result and the sidecar;
    ``held_out_label`` describes them), so int8 is not graded only on the images it was
    calibrated with. ``exporter``: the TorchScript exporter is the
    default because it is ~20x faster on these small graphs; ``"dynamo"`` uses torch.export.

    The files are written into a staging folder and swapped in, so ``output_dir`` ends up
    describing exactly this model: an earlier export of the same model is replaced (stale
    variants included); a folder holding another model's export or other files raises
    :class:`ExportFolderError` unless ``overwrite=True`` (see :mod:`.folders`).
    """
    _check_options(opset, quantize, exporter)
    model, source_dir = load_model(model_or_dir)
    with staged_export_dir(output_dir, source_sha256(source_dir), source_dir,
                           overwrite) as staging:
        result = write_export(model, staging, opset=opset, fp16=fp16, quantize=quantize,
                              dataset_name=dataset_name, calibration_images=calibration_images,
                              exporter=exporter, source_dir=source_dir,
                              held_out_images=held_out_images, held_out_label=held_out_label)
    return result.relocated(staging, Path(output_dir))


def write_export(
    model_or_dir: Any,
    output_dir: str | os.PathLike[str],
    opset: int = MIN_OPSET,
    fp16: bool = False,
    quantize: Literal["int8"] | None = None,
    dataset_name: str | None = None,
    calibration_images: Any = None,
    exporter: Literal["legacy", "dynamo"] = "legacy",
    source_dir: Path | None = None,
    held_out_images: Any = None,
    held_out_label: str = "held-out images",
) -> ExportResult:
    """:func:`export_onnx` without the staging: writes straight into ``output_dir`` (for
    callers that stage the folder themselves, e.g. to add a Triton repository before the
    swap). ``source_dir``: the saved-model folder of an already-loaded model.
    ``dataset_name`` defaults to the data set the model records (``trained_on``)."""
    _check_options(opset, quantize, exporter)
    model, loaded_from = load_model(model_or_dir)
    source_dir = loaded_from if loaded_from is not None else source_dir
    config = model.model_config
    dataset_name = dataset_name if dataset_name is not None else config.trained_on
    input_shape = tuple(int(d) for d in config.input_dim)
    images = None if calibration_images is None else _as_images(calibration_images, input_shape)
    if images is not None and len(images) == 0:
        raise ValueError("calibration_images is empty.")

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    encoder_path, generator_path = out / "encoder.onnx", out / "generator.onnx"
    source_sha = source_sha256(source_dir)
    common = {
        "input_shape": input_shape,
        "latent_layout": model.layout,
        "training_dataset": dataset_name,
        "source_sha256": source_sha,
    }
    encoder_meta = md.build_metadata("encoder", **common, embeddings=md.EMBEDDING_DESCRIPTIONS)
    generator_meta = md.build_metadata("generator", **common)

    encoder = EncoderWrapper(model)
    _export_module(encoder, (torch.rand(2, *input_shape),), encoder_path,
                   [md.ENCODER_INPUT], encoder.output_names, opset, exporter)
    example_codes = tuple(torch.zeros(2, width) for width in model.layout.widths.values())
    _export_module(GeneratorWrapper(model), example_codes, generator_path,
                   list(md.GENERATOR_INPUTS), [md.GENERATOR_OUTPUT], opset, exporter)
    widths = {**model.layout.encoder_outputs(config.infer_noise),
              md.ENCODER_TRUNK_OUTPUT: int(config.hidden_dim)}
    _finalise(encoder_path, encoder_meta, "InfoVAEGAN encoder: images -> latent codes", opset,
              {name: (width,) for name, width in widths.items()})
    _finalise(generator_path, generator_meta, "InfoVAEGAN generator: codes -> images", opset,
              {md.GENERATOR_OUTPUT: input_shape})

    check_images = images[:64] if images is not None else (
        torch.rand(16, *input_shape, generator=torch.Generator().manual_seed(0)).numpy()
    )
    parity = _verify(model, encoder_path, generator_path, check_images)

    variants: dict[str, VariantReport] = {}
    for precision, wanted in (("fp16", fp16), ("int8", quantize == "int8")):
        if wanted:
            variants[precision] = make_variant(
                encoder_path, generator_path, precision, images=images, output_dir=out
            )

    sidecar = {
        "format_version": md.CURRENT_FORMAT_VERSION,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source_model_dir": str(source_dir) if source_dir is not None else None,
        "opset": opset,
        "exporter": exporter,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "parity_max_abs_error": parity,
        "models": {
            encoder_path.name: encoder_meta,
            generator_path.name: generator_meta,
            **{
                path.name: md.read_onnx_file_metadata(path)
                for report in variants.values()
                for path in (report.encoder_path, report.generator_path)
            },
        },
        "variants": {name: report.as_dict() for name, report in variants.items()},
    }
    held_out: dict[str, dict[str, Any]] = {}
    if held_out_images is not None and variants:
        from infovaegan_plugin.deploy.calibration import held_out_deviation

        held_out = held_out_deviation(encoder_path, variants, held_out_images, held_out_label)
        sidecar["held_out_deviation"] = held_out
    sidecar_path = md.write_sidecar(out / md.SIDECAR_NAME, sidecar)
    return ExportResult(
        output_dir=out, encoder_path=encoder_path, generator_path=generator_path,
        sidecar_path=sidecar_path, metadata=sidecar, parity=parity, variants=variants,
        held_out_deviation=held_out,
    )

"""Reduced-precision variants (fp16, int8) of an exported encoder/generator pair.

A smaller or faster model is only useful if we know what it costs, so every variant is
measured against its fp32 source on the same inputs (max abs error per output, categorical
argmax agreement) and the numbers travel with the file (``infovaegan.deviation`` metadata)
and in the export sidecar. Needs onnx and onnxruntime only, so an existing export can be
quantized on a machine without torch.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.runtime import OnnxEncoder, OnnxGenerator
from infovaegan_plugin.inputs import prepare_images

__all__ = [
    "DEFAULT_INT8",
    "NEAR_TIE_MARGIN",
    "Int8Settings",
    "VariantReport",
    "convert_fp16",
    "encoder_deviation",
    "generator_deviation",
    "head_nodes",
    "make_variant",
    "quantize_int8",
]

#: Rows per calibration batch; MinMax calibration only needs the value ranges.
CALIBRATION_BATCH = 32
#: An image whose fp32 top-1 probability leads the runner-up by at most this much is a near
#: tie: its argmax is not a decision the model made, and any rounding may flip it. Agreement is
#: also reported on the other images (``argmax_agreement_decided``), the number that should not
#: depend on the CPU or on how collapsed a model is.
NEAR_TIE_MARGIN = 0.1
#: Ops whose weights the quantizer reads; walking back from the outputs stops at them.
_WEIGHTED_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})


@dataclass(frozen=True)
class Int8Settings:
    """How static int8 quantization is done; the defaults are what the export uses.

    - ``reduce_range``: int8 weights in [-64, 64] (7 bits). x86 CPUs without VNNI (AVX2,
      AVX-512 without VNNI, SSE4.1) multiply uint8 activations by int8 weights with
      VPMADDUBSW, which adds pairs of products into int16 and saturates when a pair exceeds
      32767 (255 * 127 * 2 = 64770 can); with 7-bit weights a pair is at most 255 * 64 * 2 =
      32640, so every x86 kernel (VNNI, AMX, AVX2, AVX-512) and ARM's exact dot products
      compute the same integers, and the accuracy measured at export holds on every CPU.
    - ``float_heads``: the last weighted layer on every path to an output and everything
      after it (the code heads, the split into codes, the softmax) stay fp32, so the codes
      are not rounded to one uint8 grid shared by logits, means and log-variances.
    - ``activations`` / ``symmetric_activations`` / ``calibration``: ORT's options of the same
      meaning (uint8 asymmetric MinMax is ORT's recommendation for x86).
    """

    reduce_range: bool = True
    float_heads: bool = True
    activations: Literal["uint8", "int8"] = "uint8"
    symmetric_activations: bool = False
    calibration: Literal["minmax", "percentile", "entropy"] = "minmax"

    def __post_init__(self) -> None:
        if self.activations not in ("uint8", "int8"):
            raise ValueError(f"activations must be 'uint8' or 'int8', got {self.activations!r}.")
        if self.calibration not in ("minmax", "percentile", "entropy"):
            raise ValueError("calibration must be 'minmax', 'percentile' or 'entropy', got "
                             f"{self.calibration!r}.")

    def describe(self) -> str:
        """The method string recorded in the metadata."""
        weights = "7-bit (reduce_range)" if self.reduce_range else "8-bit"
        symmetric = "symmetric " if self.symmetric_activations else ""
        calibration = {"minmax": "MinMax", "percentile": "Percentile",
                       "entropy": "Entropy"}[self.calibration]
        heads = ", code heads in fp32" if self.float_heads else ""
        return (f"static QDQ, per-channel {weights} int8 weights, {symmetric}"
                f"{self.activations} activations, {calibration} calibration{heads}")


#: The export's int8 setting (see docs/DEPLOYMENT.md for the measurements behind it).
DEFAULT_INT8 = Int8Settings()


@dataclass(frozen=True)
class VariantReport:
    """One reduced-precision pair and how far it is from fp32."""

    precision: str
    encoder_method: str
    generator_method: str
    encoder_path: Path
    generator_path: Path
    encoder_deviation: dict[str, Any]
    generator_deviation: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["encoder_path"] = self.encoder_path.name
        data["generator_path"] = self.generator_path.name
        return data


# --------------------------------------------------------------------------- conversion


def convert_fp16(source: str | Path, target: str | Path) -> Path:
    """Float16 weights and arithmetic, float32 inputs/outputs (``keep_io_types``) so callers
    and the runtime's validation are unchanged."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    with _quiet_onnxruntime_tools():
        converted = convert_float_to_float16(model, keep_io_types=True)
    # The converter appends its input Cast nodes at the end; the ONNX checker (rightly)
    # requires topological order, so restore it.
    _sort_topologically(converted.graph)
    onnx.save(converted, str(target))
    return Path(target)


def _sort_topologically(graph: onnx.GraphProto) -> None:
    """Reorder ``graph.node`` so every node comes after the producers of its inputs."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            names = sorted({i for n in pending for i in n.input} - available)
            raise ValueError(f"graph has a cycle or undefined inputs: {names[:5]}.")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        placed = {id(node) for node in ready}
        pending = [n for n in pending if id(n) not in placed]
    copies = [onnx.NodeProto.FromString(n.SerializeToString()) for n in ordered]
    del graph.node[:]
    graph.node.extend(copies)


class _FeedReader:
    """``CalibrationDataReader`` over prepared feed dicts, in small batches."""

    def __init__(self, feeds: Mapping[str, np.ndarray]) -> None:
        n = len(next(iter(feeds.values())))
        self._batches = iter(
            [{k: np.ascontiguousarray(v[i : i + CALIBRATION_BATCH]) for k, v in feeds.items()}
             for i in range(0, n, CALIBRATION_BATCH)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


@contextlib.contextmanager
def _quiet_onnxruntime_tools() -> Iterator[None]:
    """The quantization tools log advice (e.g. 'run pre-processing') at INFO/WARNING on the
    root logger; keep service and test logs to real errors."""
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(previous)


def head_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes from the last weighted layer on each path to a code output on:
    the code heads and what turns their output into the codes (split, clip, softmax). The
    ``trunk_features`` embedding is the trunk's own activation, quantized with the trunk."""
    producer = {out: node for node in model.graph.node for out in node.output}
    found: dict[str, None] = {}
    pending = [o.name for o in model.graph.output if o.name != md.ENCODER_TRUNK_OUTPUT]
    while pending:
        node = producer.get(pending.pop())
        if node is None or node.name in found:
            continue
        found[node.name] = None
        if node.op_type not in _WEIGHTED_OPS:
            pending.extend(node.input)
    return list(found)


def quantize_int8(
    source: str | Path,
    target: str | Path,
    calibration: Mapping[str, np.ndarray] | None = None,
    settings: Int8Settings = DEFAULT_INT8,
) -> str:
    """Int8 copy of ``source``; returns the method used.

    With calibration inputs: static QDQ quantization as ``settings`` say (by default
    per-channel 7-bit int8 weights, uint8 activations, MinMax ranges, code heads in fp32: the
    layout ORT's CPU and TensorRT providers run fast, computing the same integers on every
    CPU). Without: dynamic quantization of the weights, activations quantized at run time.
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as scratch, _quiet_onnxruntime_tools():
        prepared = Path(scratch) / "prepared.onnx"
        # Shape inference + graph fusion (BatchNorm into Conv) first, as ORT recommends.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        excluded = head_nodes(onnx.load(str(prepared))) if settings.float_heads else []
        if calibration is not None:
            quantize_static(
                str(prepared), str(target), _FeedReader(calibration),
                quant_format=QuantFormat.QDQ, per_channel=True,
                reduce_range=settings.reduce_range,
                activation_type=(QuantType.QUInt8 if settings.activations == "uint8"
                                 else QuantType.QInt8),
                weight_type=QuantType.QInt8,
                calibrate_method={"minmax": CalibrationMethod.MinMax,
                                  "percentile": CalibrationMethod.Percentile,
                                  "entropy": CalibrationMethod.Entropy}[settings.calibration],
                nodes_to_exclude=excluded,
                extra_options={"ActivationSymmetric": settings.symmetric_activations},
            )
            method = settings.describe()
        else:
            # uint8 weights: ORT's CPU ConvInteger kernel has no int8-weight variant; uint8 x
            # uint8 products never saturate on any CPU, so no range reduction is needed.
            quantize_dynamic(
                str(prepared), str(target), per_channel=False, weight_type=QuantType.QUInt8,
                nodes_to_exclude=excluded,
            )
            method = ("dynamic, uint8 weights, activations quantized at run time"
                      + (", code heads in fp32" if settings.float_heads else ""))
    return method


# --------------------------------------------------------------------------- measurement


def encoder_deviation(
    reference: OnnxEncoder, candidate: OnnxEncoder, images: np.ndarray
) -> dict[str, Any]:
    """Max abs error of every output and argmax agreement of each categorical code.

    ``argmax_agreement`` counts every image. A model whose fp32 top-2 probabilities are
    within :data:`NEAR_TIE_MARGIN` of each other on an image has no decision there to keep
    (a collapsed or barely trained model has many such images, and which of them flip depends
    on the last bits of the arithmetic), so agreement is also reported on the other images
    alone (``argmax_agreement_decided[_per_code]``, ``None`` when there are none), with the
    share of images that counts (``decided_fraction_per_code``) and the largest fp32 margin
    among the flipped images (``largest_flipped_margin_per_code``: at most the threshold when
    only near ties flip).
    """
    expected, got = reference.encode(images), candidate.encode(images)
    errors = {
        name: float(np.abs(got[name] - expected[name]).max(initial=0.0)) for name in expected
    }
    same = reference.predict_categories(expected) == reference.predict_categories(got)
    margins = np.stack(
        [_top2_margin(probs) for probs in
         reference.layout.split_categorical(expected["categorical_probs"])], axis=1,
    ) if same.shape[1] else np.zeros_like(same, dtype=np.float32)
    decided = margins > NEAR_TIE_MARGIN
    agreement = [float(np.mean(column)) for column in same.T]
    decided_agreement = [
        float(np.mean(column[keep])) if keep.any() else None
        for column, keep in zip(same.T, decided.T)
    ]
    known = [value for value in decided_agreement if value is not None]
    return {
        "n_images": int(len(images)),
        "max_abs_error": errors,
        "argmax_agreement_per_code": agreement,
        "argmax_agreement": min(agreement) if agreement else None,
        "near_tie_margin": NEAR_TIE_MARGIN,
        "decided_fraction_per_code": [float(np.mean(keep)) for keep in decided.T],
        "argmax_agreement_decided_per_code": decided_agreement,
        "argmax_agreement_decided": min(known) if known else None,
        "largest_flipped_margin_per_code": [
            float(margin[~kept].max(initial=0.0)) for margin, kept in zip(margins.T, same.T)
        ],
    }


def _top2_margin(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability of each row (1 for a one-class code)."""
    if probs.shape[1] < 2:
        return np.ones(len(probs), dtype=probs.dtype)
    top2 = np.partition(probs, -2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def generator_deviation(
    reference: OnnxGenerator, candidate: OnnxGenerator, n: int = 256, seed: int = 0
) -> dict[str, Any]:
    """Pixel error of the candidate on the same prior samples as the reference."""
    codes = reference.sample_codes(n, seed=seed)
    diff = np.abs(candidate.decode(codes) - reference.decode(codes))
    return {
        "n_samples": int(n),
        "seed": seed,
        "max_abs_error": float(diff.max(initial=0.0)),
        "mean_abs_error": float(diff.mean()) if diff.size else 0.0,
    }


def _stamp_variant(path: Path, source_metadata: Mapping[str, Any], precision: str,
                   deviation: Mapping[str, Any] | None) -> None:
    values = {k: v for k, v in source_metadata.items() if k.startswith(md.PREFIX)}
    values[md.PRECISION] = precision
    if deviation is not None:
        values[md.DEVIATION] = dict(deviation)
    md.stamp_onnx_file(path, values)


def make_variant(
    encoder_path: str | Path,
    generator_path: str | Path,
    precision: Literal["fp16", "int8"],
    images: Any = None,
    output_dir: str | Path | None = None,
    n_eval: int = 256,
    seed: int = 0,
) -> VariantReport:
    """Write ``encoder.<precision>.onnx`` and ``generator.<precision>.onnx`` and measure them.

    ``images``: real images for int8 calibration and for measuring the encoder; without them
    the encoder is quantized dynamically and measured on ``n_eval`` images the fp32
    generator samples from the prior. The generator's natural inputs are prior samples, so
    it is always calibrated and measured on those.
    """
    if precision not in ("fp16", "int8"):
        raise ValueError(f"precision must be 'fp16' or 'int8', got {precision!r}.")
    encoder_path, generator_path = Path(encoder_path), Path(generator_path)
    out = Path(output_dir) if output_dir is not None else encoder_path.parent
    out.mkdir(parents=True, exist_ok=True)
    ref_encoder = OnnxEncoder(encoder_path, providers="cpu")
    ref_generator = OnnxGenerator(generator_path, providers="cpu")

    if images is not None:
        eval_images = prepare_images(images, ref_encoder.input_shape, ref_encoder.normalisation)
        image_source = "caller"
    else:
        eval_images = ref_generator.generate(n_eval, seed=seed)
        image_source = "fp32 generator, prior samples"

    enc_target = out / f"encoder.{precision}.onnx"
    gen_target = out / f"generator.{precision}.onnx"
    if precision == "fp16":
        convert_fp16(encoder_path, enc_target)
        convert_fp16(generator_path, gen_target)
        enc_method = gen_method = "float16 weights and compute, float32 inputs/outputs"
    else:
        enc_method = quantize_int8(
            encoder_path, enc_target,
            {md.ENCODER_INPUT: eval_images} if images is not None else None,
        )
        calibration = ref_generator.sample_codes(n_eval, seed=seed + 1)
        gen_method = quantize_int8(
            generator_path, gen_target,
            {k: v for k, v in calibration.items() if k in ref_generator.input_names},
        )

    # Stamp first so the runtime accepts the files, then again with the measured deviation.
    _stamp_variant(enc_target, ref_encoder.metadata, precision, None)
    _stamp_variant(gen_target, ref_generator.metadata, precision, None)
    enc_dev = encoder_deviation(ref_encoder, OnnxEncoder(enc_target, providers="cpu"),
                                eval_images)
    enc_dev["images"] = image_source
    gen_dev = generator_deviation(ref_generator, OnnxGenerator(gen_target, providers="cpu"),
                                  n=n_eval, seed=seed)
    _stamp_variant(enc_target, ref_encoder.metadata, precision, enc_dev)
    _stamp_variant(gen_target, ref_generator.metadata, precision, gen_dev)
    for path in (enc_target, gen_target):
        onnx.checker.check_model(str(path), full_check=True)
    return VariantReport(
        precision=precision, encoder_method=enc_method, generator_method=gen_method,
        encoder_path=enc_target, generator_path=gen_target,
        encoder_deviation=enc_dev, generator_deviation=gen_dev,
    )

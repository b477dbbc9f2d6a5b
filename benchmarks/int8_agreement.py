"""Int8 settings compared on one export: how far each is from fp32, and what it costs.

For an exported ``encoder.onnx`` and real images of the data set it was trained on, every
candidate setting of :class:`~infovaegan_plugin.deploy.quantize.Int8Settings` is quantized
from the same calibration images and measured against fp32 on the same other images with
:func:`~infovaegan_plugin.deploy.quantize.encoder_deviation` (what the export records): the
categorical argmax agreement on all images and on the images whose fp32 decision is not a
near tie, and the max abs error of every code. It also reports the largest int8 weight (at
most 64 means no uint8 x int8 pair can saturate VPMADDUBSW, the x86 kernel of CPUs without
VNNI) and batch-256 throughput with one intra-op thread, the candidates' repeats interleaved
in rounds with fp32 so load from other processes hits them alike. Not part of the test suite.

Images: calibration on ``--calibration-size`` seeded images of the training split; the
measurement on the test split when the data set has one (MNIST: all 10,000 test images),
otherwise on as many other images of the same split.

    python benchmarks/int8_agreement.py EXPORT_DIR --dataset mnist \
        --data-dir ../shared/data/mnist --output benchmarks/results/int8_agreement.json
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx_speed import record_header, write_json  # same folder: shared helpers
from rich.console import Console
from rich.table import Table

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.calibration import split_images
from infovaegan_plugin.deploy.quantize import (
    DEFAULT_INT8,
    Int8Settings,
    encoder_deviation,
    quantize_int8,
)
from infovaegan_plugin.deploy.runtime import OnnxEncoder, make_session_options

#: The settings compared: ORT's recommended x86 layout (the export's setting before), each
#: option alone, and the export's setting with other calibration methods.
_OLD = Int8Settings(reduce_range=False, float_heads=False)
CANDIDATES: dict[str, Int8Settings] = {
    "8-bit weights (previous default)": _OLD,
    "reduce_range": dataclasses.replace(_OLD, reduce_range=True),
    "symmetric uint8 activations": dataclasses.replace(_OLD, symmetric_activations=True),
    "int8 activations": dataclasses.replace(_OLD, activations="int8"),
    "int8 symmetric activations": dataclasses.replace(_OLD, activations="int8",
                                                      symmetric_activations=True),
    "fp32 heads": dataclasses.replace(_OLD, float_heads=True),
    "reduce_range + fp32 heads (default)": DEFAULT_INT8,
    "default, Percentile calibration": dataclasses.replace(DEFAULT_INT8,
                                                           calibration="percentile"),
    "default, Entropy calibration": dataclasses.replace(DEFAULT_INT8, calibration="entropy"),
}
BATCH = 256


def load_images(dataset: str, data_dir: str | None, size: int, n_eval: int,
                input_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, str]:
    """Calibration images, evaluation images and a description of both."""
    from infovaegan_plugin.data import load_dataset

    train = load_dataset(dataset, data_dir, split="train").images
    if dataset == "mnist":
        calibration = split_images(train, size, dataset).calibration
        test = load_dataset(dataset, data_dir, split="test").images[:n_eval]
        source = (f"{dataset}: calibration on {len(calibration)} seeded train images, "
                  f"measured on {len(test)} test images")
    else:
        real = split_images(train, size, dataset)
        calibration, test = real.calibration, real.held_out[:n_eval]
        source = (f"{dataset}: calibration on {len(calibration)} seeded images, measured on "
                  f"{len(test)} other images")
    if tuple(calibration.shape[1:]) != tuple(input_shape):
        raise SystemExit(f"{dataset} images are {calibration.shape[1:]}, the encoder takes "
                         f"{input_shape}.")
    return calibration, test, source


def largest_int8_weight(path: Path) -> int:
    """The largest |value| among the int8 initializers (the quantized weights)."""
    model = onnx.load(str(path))
    values = [np.abs(onnx.numpy_helper.to_array(t).astype(np.int16)).max(initial=0)
              for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    return int(max(values, default=0))


def throughput(paths: dict[str, Path], images: np.ndarray, rounds: int,
               repeats: int) -> dict[str, float]:
    """Images/s of each file at batch ``BATCH`` with one thread: per round, the median of
    ``repeats`` calls of every file in turn; the median over rounds."""
    batch = np.ascontiguousarray(images[:BATCH])
    sessions = {}
    for name, path in paths.items():
        session = ort.InferenceSession(str(path), make_session_options(1, 1),
                                       providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: batch}
        session.run(None, feed)  # warm-up
        sessions[name] = (session, feed)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, (session, feed) in sessions.items():
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                session.run(None, feed)
                times.append(time.perf_counter() - start)
            samples[name].append(len(batch) / statistics.median(times))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir", help="An export folder (holding encoder.onnx).")
    parser.add_argument("--dataset", default=None,
                        help="Data set name (default: the one the encoder records).")
    parser.add_argument("--data-dir", default=None, help="Folder of a named data set (MNIST).")
    parser.add_argument("--calibration-size", type=int, default=512)
    parser.add_argument("--n-eval", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=None, help="Candidate names to run.")
    parser.add_argument("--output", default="benchmarks/results/int8_agreement.json")
    args = parser.parse_args()

    import os

    load_before = os.getloadavg()
    fp32_path = Path(args.export_dir) / "encoder.onnx"
    reference = OnnxEncoder(fp32_path, providers="cpu", intra_op_num_threads=1)
    dataset = args.dataset or reference.metadata.get(md.TRAINING_DATASET)
    calibration, test, source = load_images(dataset, args.data_dir, args.calibration_size,
                                            args.n_eval, reference.input_shape)
    candidates = {k: v for k, v in CANDIDATES.items() if args.only is None or k in args.only}
    stamp = {k: v for k, v in reference.metadata.items() if k.startswith(md.PREFIX)}
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        paths = {"fp32": fp32_path}
        for index, (name, settings) in enumerate(candidates.items()):
            target = Path(scratch) / f"encoder.{index}.onnx"
            start = time.perf_counter()
            method = quantize_int8(fp32_path, target, {md.ENCODER_INPUT: calibration}, settings)
            seconds = time.perf_counter() - start
            md.stamp_onnx_file(target, {**stamp, md.PRECISION: "int8"})
            candidate = OnnxEncoder(target, providers="cpu", intra_op_num_threads=1)
            results[name] = {
                "settings": dataclasses.asdict(settings), "method": method,
                "quantize_seconds": round(seconds, 2),
                "largest_int8_weight": largest_int8_weight(target),
                "deviation": encoder_deviation(reference, candidate, test),
            }
            paths[name] = target
            print(f"measured {name}", flush=True)
        speed = throughput(paths, test, args.rounds, args.repeats)
    for name in results:
        results[name]["images_per_s"] = round(speed[name], 1)
        results[name]["speed_vs_fp32"] = round(speed[name] / speed["fp32"], 3)
    payload = {
        **record_header("int8_agreement", load_before, onnxruntime=ort.__version__,
                        onnx=onnx.__version__),
        "export_dir": str(args.export_dir),
        "source_model": reference.metadata.get(md.SOURCE_SHA256),
        "images": source,
        "throughput": {"batch": BATCH, "intra_op_threads": 1, "rounds": args.rounds,
                       "repeats": args.repeats, "fp32_images_per_s": round(speed["fp32"], 1),
                       "note": "candidates interleaved with fp32 in every round"},
        "candidates": results,
        "load_after": list(os.getloadavg()),
    }
    print_table(payload)
    write_json(args.output, payload)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(payload: dict[str, Any]) -> None:
    table = Table(title=f"int8 vs fp32 ({payload['images']})")
    table.add_column("setting", no_wrap=True)
    for column in ("argmax", "decided (share)", "max err logits", "probs", "cont. mean",
                   "features", "max |w|", "img/s", "vs fp32"):
        table.add_column(column, justify="right")
    for name, row in payload["candidates"].items():
        dev, err = row["deviation"], row["deviation"]["max_abs_error"]
        share = min(dev["decided_fraction_per_code"], default=None)
        table.add_row(
            name, _fmt(dev["argmax_agreement"], ".2%"),
            f"{_fmt(dev['argmax_agreement_decided'], '.2%')} ({_fmt(share, '.0%')})",
            _fmt(err["categorical_logits"], ".1e"), _fmt(err["categorical_probs"], ".1e"),
            _fmt(err["continuous_mean"], ".1e"), _fmt(err["features"], ".1e"),
            str(row["largest_int8_weight"]), f"{row['images_per_s']:,.0f}",
            f"{row['speed_vs_fp32']:.2f}x",
        )
    Console(width=160).print(table)
    speed = payload["throughput"]
    print(f"fp32: {speed['fp32_images_per_s']:,.0f} img/s at batch {speed['batch']}, one thread; "
          f"decided: fp32 top-2 probability margin above "
          f"{next(iter(payload['candidates'].values()))['deviation']['near_tie_margin']}")


if __name__ == "__main__":
    main()

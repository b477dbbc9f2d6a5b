"""Encoder speed on CPU: ONNX Runtime against PyTorch eager, measured in one run.

Both engines run the MNIST-size encoder (the ``mnist`` preset: InfoGAN's 28x28 nets) with the
same thread count on the same inputs:

- batch-1 latency: median of ``--repeats-b1`` calls (after warm-up);
- batch-256 throughput: images/s from the median of ``--repeats-b256`` calls;
- achieved GFLOP/s (FLOPs counted with ``torch.utils.flop_counter``) against the machine's
  fp32 matrix-multiply rate: a 2048x2048 ``torch.matmul`` timed in the same rounds.

Eager is what a PyTorch user runs: ``model.eval()`` and ``model.encode(x)`` under
``torch.inference_mode()``. ORT is a ``CPUExecutionProvider`` session with all graph
optimisations (Conv+BatchNorm+activation fused, NCHWc convolutions) and ``intra_op`` threads =
``--threads``; ``OnnxEncoder.encode`` (the service API, which also validates inputs) is timed
too, and so is the calibrated int8 encoder that ``infovaegan export --quantize int8`` writes,
with its deviation from fp32 (on real MNIST test images when ``--data-dir`` is given).
Repeats of all engines are interleaved in rounds so that load from other processes on a
shared machine hits them alike. Not part of the test suite.

    python benchmarks/onnx_speed.py --threads 2 --data-dir ../shared/data/mnist \
        --output benchmarks/results/onnx_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from machine import cpu_model  # benchmarks/, the script's own folder

import infovaegan_plugin  # noqa: F401  (registers InfoVAEGAN with pythae)
from infovaegan_plugin import InfoVAEGAN
from infovaegan_plugin.deploy.export import export_onnx, load_model
from infovaegan_plugin.deploy.quantize import encoder_deviation, make_variant
from infovaegan_plugin.deploy.runtime import OnnxEncoder, make_session_options
from infovaegan_plugin.presets import model_config_for

#: The issue's targets: ORT latency at most half of eager's, throughput 1.3x eager's.
TARGET_LATENCY_RATIO = 0.5
TARGET_THROUGHPUT_RATIO = 1.3
ROUNDS = 5  # interleaved rounds per measurement
MATMUL_SIZE = 2048
CALIBRATION_IMAGES, DEVIATION_IMAGES = 512, 2000




def cpu_flags() -> list[str]:
    """The vector/matrix extensions that decide fp32 and int8 kernel speed."""
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                return [flag for flag in wanted if flag in present]
    except OSError:
        pass
    return []


def hardware(load_before: tuple[float, float, float]) -> dict[str, Any]:
    """The machine a benchmark ran on and its load before and after (other work on a shared
    machine changes every number)."""
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "nproc": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "machine": platform.machine(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def record_header(name: str, load_before: tuple[float, float, float],
                  **versions: str) -> dict[str, Any]:
    """The first fields of every benchmark's JSON: its name, the command line, the machine and
    the software ``versions`` that matter to it (Python's added)."""
    return {"benchmark": name, "command": "python " + " ".join(sys.argv),
            "hardware": hardware(load_before),
            "software": {**versions, "python": platform.python_version()}}


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write the benchmark's JSON record and say where."""
    output = Path(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {output}")
    return output


def build_model(model_dir: str | None, seed: int) -> InfoVAEGAN:
    """A trained model when given, else the MNIST preset with random weights (speed does
    not depend on the weights' values)."""
    if model_dir:
        model, _ = load_model(model_dir)
        return model.eval()
    torch.manual_seed(seed)
    return InfoVAEGAN(model_config_for("mnist", (1, 28, 28))).eval()


def encoder_flops(model: InfoVAEGAN, shape: tuple[int, ...]) -> int:
    """FLOPs of one ``encode`` call on one image (a multiply-add counts 2)."""
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model.encode(torch.rand(1, *shape))
    return int(counter.get_total_flops())


def int8_images(data_dir: str | None, shape: tuple[int, ...],
                seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(calibration, held-out) images for the int8 encoder: MNIST test images when available
    (disjoint parts), else uniform noise, which only exercises the kernels."""
    if data_dir:
        from infovaegan_plugin.data import load_mnist

        images = load_mnist(data_dir, split="test").images
        if tuple(images.shape[1:]) == shape:
            return (images[:CALIBRATION_IMAGES],
                    images[CALIBRATION_IMAGES : CALIBRATION_IMAGES + DEVIATION_IMAGES],
                    f"MNIST test images ({CALIBRATION_IMAGES} calibration, "
                    f"{DEVIATION_IMAGES} held out)")
    rng = np.random.default_rng(seed + 1)
    return (rng.random((CALIBRATION_IMAGES, *shape), dtype=np.float32),
            rng.random((DEVIATION_IMAGES, *shape), dtype=np.float32),
            "uniform random images (no --data-dir): deviation not representative")


def make_engines(model: InfoVAEGAN, tensor: torch.Tensor, images: np.ndarray,
                 fp32_session: ort.InferenceSession, service: OnnxEncoder,
                 int8_session: ort.InferenceSession) -> dict[str, Callable[[], Any]]:
    """One zero-argument call per engine, all on the same batch."""

    def eager() -> Any:
        with torch.inference_mode():
            return model.encode(tensor)

    return {
        "eager": eager,
        "ort": lambda: fp32_session.run(None, {"images": images}),
        "ort_service": lambda: service.encode(images),
        "ort_int8": lambda: int8_session.run(None, {"images": images}),
    }


def interleaved(engines: dict[str, Callable[[], Any]], repeats: int,
                warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each engine; engines alternate in ``ROUNDS`` rounds."""
    for run in engines.values():
        for _ in range(warmup):
            run()
    samples: dict[str, list[float]] = {name: [] for name in engines}
    per_round = max(1, -(-repeats // ROUNDS))
    for _ in range(ROUNDS):
        for name, run in engines.items():
            for _ in range(per_round):
                start = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - start)
    return samples


def summary(seconds: list[float], batch: int, flops_per_image: int) -> dict[str, float]:
    median = statistics.median(seconds)
    return {
        "median_ms": median * 1e3,
        "p10_ms": float(np.percentile(seconds, 10)) * 1e3,
        "p90_ms": float(np.percentile(seconds, 90)) * 1e3,
        "images_per_s": batch / median,
        "gflops": flops_per_image * batch / median / 1e9,
        "repeats": len(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="Saved model or run folder.")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats-b1", type=int, default=400)
    parser.add_argument("--repeats-b256", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None,
                        help="MNIST IDX folder: real images to calibrate/measure int8 on.")
    parser.add_argument("--output", default="benchmarks/results/onnx_speed.json")
    args = parser.parse_args()
    if args.repeats_b1 < 200 or args.repeats_b256 < 20:
        parser.error("use at least 200 batch-1 and 20 batch-256 repeats.")

    load_before = os.getloadavg()
    torch.set_num_threads(args.threads)
    model = build_model(args.model_dir, args.seed)
    shape = tuple(int(d) for d in model.model_config.input_dim)
    flops = encoder_flops(model, shape)
    calibration, held_out, int8_source = int8_images(args.data_dir, shape, args.seed)

    def session(path: Path) -> ort.InferenceSession:
        options = make_session_options(intra_op_num_threads=args.threads,
                                       inter_op_num_threads=1, graph_optimization_level="all")
        return ort.InferenceSession(str(path), sess_options=options,
                                    providers=["CPUExecutionProvider"])

    with tempfile.TemporaryDirectory() as scratch:
        exported = export_onnx(model, scratch)
        int8 = make_variant(exported.encoder_path, exported.generator_path, "int8",
                            images=calibration, output_dir=scratch)
        fp32_session, int8_session = session(exported.encoder_path), session(int8.encoder_path)
        service = OnnxEncoder(exported.encoder_path, providers="cpu",
                              intra_op_num_threads=args.threads, inter_op_num_threads=1)
        int8_deviation = encoder_deviation(
            OnnxEncoder(exported.encoder_path, providers="cpu"),
            OnnxEncoder(int8.encoder_path, providers="cpu"), held_out)
    int8_deviation["images"] = int8_source

    rng = np.random.default_rng(args.seed)
    a, b = torch.rand(MATMUL_SIZE, MATMUL_SIZE), torch.rand(MATMUL_SIZE, MATMUL_SIZE)
    results: dict[str, dict[str, dict[str, float]]] = {}
    matmul_seconds: list[float] = []
    max_diff = 0.0
    for batch, repeats, warmup in ((1, args.repeats_b1, 50), (256, args.repeats_b256, 3)):
        images = rng.random((batch, *shape), dtype=np.float32)
        tensor = torch.from_numpy(images)
        engines = make_engines(model, tensor, images, fp32_session, service, int8_session)
        if batch == 256:  # the reference rate, sampled under the same load
            engines["matmul"] = lambda: torch.matmul(a, b)
        with torch.inference_mode():
            reference = model.encode(tensor)["features"].numpy()
        got = service.encode(images)["features"]
        max_diff = max(max_diff, float(np.abs(got - reference).max()))
        samples = interleaved(engines, repeats, warmup)
        matmul_seconds += samples.pop("matmul", [])
        results[f"batch_{batch}"] = {name: summary(s, batch, flops) for name, s in samples.items()}
    peak = 2 * MATMUL_SIZE**3 / statistics.median(matmul_seconds) / 1e9

    b1, b256 = results["batch_1"], results["batch_256"]
    ratios = {}
    for engine in ("ort", "ort_int8"):
        latency = b1[engine]["median_ms"] / b1["eager"]["median_ms"]
        throughput = b256[engine]["images_per_s"] / b256["eager"]["images_per_s"]
        ratios[engine] = {
            "latency_over_eager": latency,
            "throughput_over_eager": throughput,
            "latency_met": latency <= TARGET_LATENCY_RATIO,
            "throughput_met": throughput >= TARGET_THROUGHPUT_RATIO,
        }
    payload = {
        **record_header("onnx_speed", load_before, torch=torch.__version__,
                        onnxruntime=ort.__version__),
        "threads": args.threads,
        "model": {"input_dim": list(shape), "source": args.model_dir or "mnist preset, random "
                  "weights", "flops_per_image": flops},
        "matmul_fp32_gflops": peak,
        "matmul_size": MATMUL_SIZE,
        "max_abs_diff_features_ort_vs_eager": max_diff,
        "int8": {"method": int8.encoder_method, "deviation_from_fp32": int8_deviation},
        "results": results,
        "targets": {"latency_over_eager_max": TARGET_LATENCY_RATIO,
                    "throughput_over_eager_min": TARGET_THROUGHPUT_RATIO},
        "ratios": ratios,
    }
    print_table(payload)
    write_json(args.output, payload)


def print_table(payload: dict[str, Any]) -> None:
    results, peak = payload["results"], payload["matmul_fp32_gflops"]
    console = Console()
    table = Table(
        title=f"Encoder {tuple(payload['model']['input_dim'])} on CPU, "
              f"{payload['threads']} thread(s), "
              f"{payload['model']['flops_per_image'] / 1e6:.1f} MFLOP/image",
        caption="medians; GFLOP/s at batch 256 (int8: integer ops); ratio = latency / "
                "throughput relative to eager",
    )
    for column in ("engine", "batch-1 ms", "batch-256 img/s", "GFLOP/s", "% matmul",
                   "ratio vs eager"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    labels = {"eager": "PyTorch eager", "ort": "ORT fp32", "ort_service": "OnnxEncoder fp32",
              "ort_int8": "ORT int8"}
    b1, b256 = results["batch_1"], results["batch_256"]
    for engine, label in labels.items():
        ratio = payload["ratios"].get(engine)
        versus = "-" if ratio is None else (f"{ratio['latency_over_eager']:.2f} / "
                                            f"{ratio['throughput_over_eager']:.2f}")
        table.add_row(label, f"{b1[engine]['median_ms']:.3f}",
                      f"{b256[engine]['images_per_s']:,.0f}", f"{b256[engine]['gflops']:.1f}",
                      f"{b256[engine]['gflops'] / peak:.0%}", versus)
    console.print(table)
    targets = payload["targets"]
    verdict = {True: "met", False: "MISSED"}
    for engine in ("ort", "ort_int8"):
        ratio = payload["ratios"][engine]
        console.print(
            f"{labels[engine]}: latency {ratio['latency_over_eager']:.2f}x eager (target <= "
            f"{targets['latency_over_eager_max']}x: {verdict[ratio['latency_met']]}), "
            f"throughput {ratio['throughput_over_eager']:.2f}x eager (target >= "
            f"{targets['throughput_over_eager_min']}x: {verdict[ratio['throughput_met']]})"
        )
    dev = payload["int8"]["deviation_from_fp32"]
    console.print(
        f"matmul fp32 {payload['matmul_size']}^3: {peak:.1f} GFLOP/s | max |ORT fp32 - eager| "
        f"{payload['max_abs_diff_features_ort_vs_eager']:.1e} | int8 vs fp32: max error "
        f"{dev['max_abs_error']['features']:.1e}, argmax agreement {dev['argmax_agreement']:.2%} "
        f"on {dev['images']} | load {payload['hardware']['load_average_before']}"
    )


if __name__ == "__main__":
    main()

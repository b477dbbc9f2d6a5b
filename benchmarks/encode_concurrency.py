"""Encoder throughput of a service: caller threads and ONNX Runtime sessions.

For each number T in ``--threads``, the same ``--images`` images are encoded as requests of
``--request-size`` rows in three ways a service can be built:

- ``shared``: T caller threads share one ``OnnxEncoder`` with 1 intra-op thread;
- ``per-thread``: T caller threads, each with its own ``OnnxEncoder`` (1 intra-op thread);
- ``intra-op``: one caller thread, one ``OnnxEncoder`` with T intra-op threads.

Every way is checked to give the codes one thread gets. The encoder is ``--model-dir``'s, or
the MNIST preset with random weights. Prints a table and writes JSON. Not part of the test
suite.

    python benchmarks/encode_concurrency.py --threads 1 2 4 8 --images 100000 \\
        --output benchmarks/results/encode_concurrency.json
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from rich.console import Console
from rich.table import Table

from onnx_speed import build_model, record_header, write_json  # same folder: shared helpers

WAYS = ("shared", "per-thread", "intra-op")


def encoders(path: Path, way: str, threads: int) -> list[Any]:
    """The encoders the callers use (one per caller thread; the same object when shared)."""
    from infovaegan_plugin.deploy.runtime import OnnxEncoder

    def make(intra: int) -> Any:
        return OnnxEncoder(path, providers="cpu", intra_op_num_threads=intra,
                           inter_op_num_threads=1)

    if way == "shared":
        return [make(1)] * threads
    if way == "per-thread":
        return [make(1) for _ in range(threads)]
    return [make(threads)]


def run(requests: list[np.ndarray], pool: list[Any]) -> tuple[float, list[np.ndarray]]:
    """Seconds to serve every request with ``len(pool)`` caller threads, and the features."""
    callers = len(pool)
    shards = [requests[i::callers] for i in range(callers)]

    def serve(index: int) -> list[np.ndarray]:
        return [pool[index].encode(batch)["features"] for batch in shards[index]]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=callers) as executor:
        results = list(executor.map(serve, range(callers)))
    seconds = time.perf_counter() - started
    features: list[np.ndarray] = [np.empty(0)] * len(requests)
    for index, shard in enumerate(results):
        for j, value in enumerate(shard):
            features[index + j * callers] = value
    return seconds, features


def measure(path: Path, requests: list[np.ndarray], way: str, threads: int,
            reference: list[np.ndarray], warmup: Callable[[list[Any]], None]) -> dict[str, Any]:
    pool = encoders(path, way, threads)
    warmup(pool)
    seconds, features = run(requests, pool)
    images = sum(len(r) for r in requests)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(features, reference))
    return {"way": way, "threads": threads, "images": images, "seconds": seconds,
            "images_per_s": images / seconds, "max_abs_diff_vs_one_thread": worst}


def print_table(payload: dict[str, Any]) -> None:
    table = Table(title=f"Encoder throughput (images/s), {payload['images']:,} images in "
                        f"requests of {payload['request_size']}, "
                        f"{payload['hardware']['usable_cores']} usable core(s)")
    table.add_column("threads T", justify="right")
    for way in WAYS:
        table.add_column(way, justify="right")
    by_key = {(r["way"], r["threads"]): r for r in payload["results"]}
    for threads in payload["threads"]:
        table.add_row(str(threads), *(f"{by_key[(w, threads)]['images_per_s']:,.0f}"
                                      for w in WAYS))
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--request-size", type=int, default=32)
    parser.add_argument("--model-dir", default=None, help="Saved model or run folder.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="benchmarks/results/encode_concurrency.json")
    args = parser.parse_args()

    from infovaegan_plugin.deploy.export import export_onnx

    load_before = os.getloadavg()
    model = build_model(args.model_dir, args.seed)
    shape = tuple(int(d) for d in model.model_config.input_dim)
    images = np.random.default_rng(args.seed).random((args.images, *shape), dtype=np.float32)
    requests = [images[i : i + args.request_size]
                for i in range(0, args.images, args.request_size)]

    def warmup(pool: list[Any]) -> None:
        for encoder in {id(e): e for e in pool}.values():
            encoder.encode(requests[0])

    results = []
    with tempfile.TemporaryDirectory() as scratch:
        path = export_onnx(model, scratch).encoder_path
        _, reference = run(requests, encoders(path, "shared", 1))
        for threads in args.threads:
            for way in WAYS:
                results.append(measure(path, requests, way, threads, reference, warmup))
    payload = {
        **record_header("encode_concurrency", load_before, onnxruntime=ort.__version__),
        "model": args.model_dir or "mnist preset, random weights",
        "images": args.images,
        "request_size": args.request_size,
        "threads": args.threads,
        "results": results,
    }
    print_table(payload)
    write_json(args.output, payload)


if __name__ == "__main__":
    main()

"""Peak memory and throughput of ``infovaegan encode`` as the input grows.

For each size N an ``(N, 1, 28, 28)`` float32 ``.npy`` of uniform noise is written (in
chunks, so this script stays small too; 3.1 GB at N = 1,000,000) and encoded by the real
command in a child process: ``python -m infovaegan_plugin.cli.app encode ENCODER INPUT -o
codes.npz --providers cpu``. The child reports its peak resident memory at exit
(``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` would also count the parent's memory the
child had at ``fork``), and its throughput is the images/s it prints (encoding only).
A child that only imports the command and opens the encoder gives the baseline: what every
run pays before the first image. The encoder is ``--model-dir``'s, or the MNIST preset with
random weights (speed and memory do not depend on the weights' values).

Prints a table and writes JSON. Not part of the test suite.

    python benchmarks/encode_memory.py --sizes 10000 100000 1000000 --threads 1 \\
        --workdir /tmp/encode_bench --output benchmarks/results/encode_memory.json
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from rich.console import Console
from rich.table import Table

from onnx_speed import build_model, record_header, write_json  # same folder: shared helpers

CHUNK = 10_000  # rows written at a time when the input is made
RATE = re.compile(r"\(([\d,]+) images/s\)")
PEAK = re.compile(r"^peak-rss-kb (\d+)$", re.MULTILINE)
#: Runs in the child first: print the peak resident memory (kB) when the process exits.
REPORT_PEAK = ("import atexit, re\n"
               "atexit.register(lambda: print('peak-rss-kb', re.search(r'VmHWM:\\s+(\\d+)', "
               "open('/proc/self/status').read()).group(1), flush=True))\n")
ENCODE = REPORT_PEAK + ("import sys\nfrom infovaegan_plugin.cli.app import app\n"
                        "app(sys.argv[1:], prog_name='infovaegan')\n")
BASELINE = REPORT_PEAK + ("import sys\nfrom infovaegan_plugin.cli.app import app\n"
                          "from infovaegan_plugin.deploy.runtime import OnnxEncoder\n"
                          "OnnxEncoder(sys.argv[1], providers='cpu', "
                          "intra_op_num_threads=int(sys.argv[2]))\n")


def make_input(path: Path, n: int, seed: int) -> None:
    """``n`` noise images as an ``.npy``, written ``CHUNK`` rows at a time."""
    rng = np.random.default_rng(seed)
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 1, 28, 28))
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        array[start:stop] = rng.random((stop - start, 1, 28, 28), dtype=np.float32)
    array.flush()
    del array


def run_child(script: str, *args: str) -> tuple[int, str, float, float]:
    """(exit code, output, peak RSS in MB, wall seconds) of ``python -c script args``."""
    started = time.perf_counter()
    env = {**os.environ, "COLUMNS": "200"}
    child = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                           text=True, env=env)
    output = child.stdout + child.stderr
    peak = PEAK.search(output)
    return (child.returncode, output, int(peak.group(1)) / 1024 if peak else float("nan"),
            time.perf_counter() - started)


def measure(encoder: Path, n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    source, codes = workdir / f"images_{n}.npy", workdir / f"codes_{n}.npz"
    make_input(source, n, args.seed)
    code, output, peak, wall = run_child(
        ENCODE, "encode", str(encoder), str(source), "-o", str(codes), "--providers", "cpu",
        "--threads", str(args.threads), "--batch-size", str(args.batch_size))
    if code != 0:
        raise SystemExit(f"encode of {n} images failed ({code}):\n{output}")
    rate = RATE.search(output)
    with np.load(codes) as saved:
        rows = int(saved["features"].shape[0])
    result = {"images": n, "input_mb": source.stat().st_size / 2**20, "peak_rss_mb": peak,
              "images_per_s": float(rate.group(1).replace(",", "")) if rate else None,
              "wall_s": wall, "rows_written": rows, "codes_mb": codes.stat().st_size / 2**20}
    if not args.keep_files:
        source.unlink()
        codes.unlink()
    return result


def print_table(payload: dict[str, Any]) -> None:
    base = payload["baseline_rss_mb"]
    table = Table(title=f"infovaegan encode, {payload['threads']} thread(s), batch "
                        f"{payload['batch_size']}; baseline (imports + session) {base:.0f} MB")
    for column in ("images", "input", "peak RSS", "above baseline", "images/s", "wall"):
        table.add_column(column, justify="right")
    for row in payload["results"]:
        table.add_row(f"{row['images']:,}", f"{row['input_mb']:,.0f} MB",
                      f"{row['peak_rss_mb']:,.0f} MB", f"{row['peak_rss_mb'] - base:,.0f} MB",
                      "-" if row['images_per_s'] is None else f"{row['images_per_s']:,.0f}",
                      f"{row['wall_s']:.1f} s")
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--model-dir", default=None, help="Saved model or run folder.")
    parser.add_argument("--threads", type=int, default=1, help="ORT intra-op threads.")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None,
                        help="Where inputs and codes are written (default: a temp folder).")
    parser.add_argument("--keep-files", action="store_true")
    parser.add_argument("--output", default="benchmarks/results/encode_memory.json")
    args = parser.parse_args()

    from infovaegan_plugin.deploy.export import export_onnx

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
        workdir = Path(scratch)
        encoder = export_onnx(build_model(args.model_dir, args.seed), workdir / "onnx")
        _, _, baseline, _ = run_child(BASELINE, str(encoder.encoder_path), str(args.threads))
        results = [measure(encoder.encoder_path, n, args, workdir) for n in sorted(args.sizes)]
    payload = {
        **record_header("encode_memory", load_before, onnxruntime=ort.__version__,
                        numpy=np.__version__),
        "model": args.model_dir or "mnist preset, random weights",
        "threads": args.threads,
        "batch_size": args.batch_size,
        "baseline_rss_mb": baseline,
        "results": results,
    }
    print_table(payload)
    write_json(args.output, payload)


if __name__ == "__main__":
    main()

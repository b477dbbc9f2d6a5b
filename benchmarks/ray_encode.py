"""Throughput and memory of encoding on Ray Data (``encode_with_ray``) against the local
``encode`` (``encode_file``, what ``infovaegan encode`` runs), on the same ``.npy`` file.

N MNIST training images are loaded once with the library's loader (float32 ``(N, 1, 28, 28)``)
and saved as an ``.npy`` in the work folder. Each configuration runs in its own child process
(so each starts its own local Ray instance, and its memory is its own): the local encode into
``codes.npz`` (every output), then the Ray engine with each ``--workers`` count into a Parquet
folder. While a child runs, the parent samples every 0.2 s the resident memory (RSS) of the
child and all its descendants (Ray's GCS server, raylet, dashboard agents and the actor
processes, all started by the child) and records the peak of the sum, and the peak of each
encoder actor (``ray::MapWorker``). RSS counts shared pages (libraries, Ray's object store) in
every process that maps them, so the sums overstate what the machine lost.

Times: ``wall_s`` is the child's call to the library; for Ray, ``startup_s`` is starting Ray
(``ray.init``) and ``excluding_startup_s`` the rest (actors starting included); images/s is N
over the time without Ray's startup (for the local encode, over the encode). The Parquet codes
are checked against the local ``.npz`` (largest difference, row order).

Prints a table and writes JSON. Not part of the test suite.

    python benchmarks/ray_encode.py --encoder /work/exp/mnist/onnx_e1/encoder.onnx \\
        --data-dir /work/shared/data/mnist --n 60000 --workers 1 2 --threads 1 \\
        --repeats 2 --workdir /tmp/ray_encode_bench --output benchmarks/results/ray_encode.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from onnx_speed import record_header, write_json  # same folder: shared helpers

LOCAL = """
import json, sys, time
from infovaegan_plugin.deploy.codes_files import encode_file
from infovaegan_plugin.deploy.runtime import OnnxEncoder
encoder_path, source, output, threads, batch = sys.argv[1:6]
started = time.perf_counter()
encoder = OnnxEncoder(encoder_path, providers="cpu", batch_size=int(batch),
                      intra_op_num_threads=int(threads))
result = encode_file(encoder, source, output)
print("RESULT", json.dumps({"rows": result.rows, "encode_s": result.seconds,
                            "wall_s": time.perf_counter() - started}), flush=True)
"""
RAY = """
import json, sys, time
from infovaegan_plugin.deploy.ray_encode import encode_with_ray
encoder_path, source, output, threads, batch, workers = sys.argv[1:7]
started = time.perf_counter()
result = encode_with_ray(encoder_path, source, output, workers=int(workers),
                         threads=int(threads), batch_size=int(batch), providers="cpu",
                         overwrite=True)
print("RESULT", json.dumps({"rows": result.rows, "files": result.files,
                            "workers": result.workers, "startup_s": result.startup_seconds,
                            "library_s": result.seconds,
                            "wall_s": time.perf_counter() - started}), flush=True)
"""


def _processes() -> dict[int, tuple[int, int, str]]:
    """``pid -> (parent pid, RSS bytes, command line)`` of every process, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss_kb = int(fields.get("VmRSS", "0 kB").split()[0])  # kernel threads have none
        found[int(entry.name)] = (int(fields["PPid"]), rss_kb * 1024, command.strip())
    return found


class MemorySampler:
    """Peak RSS of a process tree (sum) and of each Ray encoder actor, sampled from /proc."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.root, self.every = pid, every
        self.peak_total = 0
        self.peak_actor: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            table = _processes()
            tree, grew = {self.root}, True
            while grew:
                more = {pid for pid, (parent, _, _) in table.items() if parent in tree}
                grew = not more <= tree
                tree |= more
            total = 0
            for pid in tree & table.keys():
                _, rss, command = table[pid]
                total += rss
                if command.startswith("ray::MapWorker"):
                    self.peak_actor[pid] = max(self.peak_actor.get(pid, 0), rss)
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(self.every)


def run_child(script: str, args: list[str]) -> tuple[dict[str, Any], MemorySampler, float]:
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    with MemorySampler(child.pid) as sampler:
        out, err = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"child failed ({child.returncode}):\n{err[-3000:]}")
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):]), sampler, time.perf_counter() - started


def make_input(path: Path, data_dir: str, n: int) -> None:
    from infovaegan_plugin.data import load_dataset

    images = load_dataset("mnist", data_dir, split="train").images[:n]
    if len(images) < n:
        raise SystemExit(f"MNIST has {len(images)} training images, fewer than --n {n}")
    np.save(path, images)


def check_codes(npz: Path, parquet: Path) -> dict[str, Any]:
    """Largest difference between the Ray engine's columns and the local .npz's outputs."""
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    codes = np.load(npz)
    worst = 0.0
    for name in ("categorical_probs", "categorical_logits", "continuous_mean",
                 "continuous_logvar", "noise_mean", "noise_logvar"):
        if name not in codes.files:
            continue
        for j in range(codes[name].shape[1]):
            column = table.column(f"{name}_{j}").to_numpy()
            worst = max(worst, float(np.abs(column - codes[name][:, j]).max()))
    rows = table.column("row").to_numpy()
    return {"max_abs_difference": worst,
            "rows_in_input_order": bool(np.array_equal(rows, np.arange(len(codes["row_ids"]))))}


def run_local(common: list[str], work: Path, args: argparse.Namespace) -> dict[str, Any]:
    local, sampler, child_s = run_child(LOCAL, [*common, str(work / "codes.npz"),
                                                str(args.threads), str(args.batch_size)])
    return {"engine": "local", "workers": 1, "images": local["rows"],
            "wall_s": local["wall_s"], "startup_s": 0.0, "excluding_startup_s": local["wall_s"],
            "images_per_s": local["rows"] / local["encode_s"], "child_process_s": child_s,
            "peak_rss_total_mb": sampler.peak_total / 2**20,
            "peak_rss_per_worker_mb": [sampler.peak_total / 2**20]}


def run_ray(common: list[str], work: Path, args: argparse.Namespace,
            workers: int) -> dict[str, Any]:
    output = work / f"codes_ray_w{workers}"
    result, sampler, child_s = run_child(RAY, [*common, str(output), str(args.threads),
                                               str(args.batch_size), str(workers)])
    run_s = result["library_s"] - result["startup_s"]
    row = {"engine": "ray", "workers": result["workers"], "images": result["rows"],
           "parquet_files": result["files"], "wall_s": result["library_s"],
           "startup_s": result["startup_s"], "excluding_startup_s": run_s,
           "images_per_s": result["rows"] / run_s, "child_process_s": child_s,
           "peak_rss_total_mb": sampler.peak_total / 2**20,
           "peak_rss_per_worker_mb": sorted(v / 2**20 for v in sampler.peak_actor.values()),
           **check_codes(work / "codes.npz", output)}
    shutil.rmtree(output, ignore_errors=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", required=True)
    parser.add_argument("--data-dir", default="/work/shared/data/mnist")
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=1, help="Rounds of every engine.")
    parser.add_argument("--workdir", default="/tmp/ray_encode_bench")
    parser.add_argument("--model-note", default="", help="What the encoder is, for the record.")
    parser.add_argument("--output", default="benchmarks/results/ray_encode.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"mnist_{args.n}.npy"
    if not source.exists():
        make_input(source, args.data_dir, args.n)
    common = [str(Path(args.encoder).absolute()), str(source)]
    rows: list[dict[str, Any]] = []
    for repeat in range(args.repeats):  # interleaved, so a change of load hits every engine
        rows.append(run_local(common, work, args) | {"repeat": repeat})
        for workers in args.workers:
            rows.append(run_ray(common, work, args, workers) | {"repeat": repeat})

    table = Table(title=f"{args.n:,} MNIST images, {args.threads} ORT thread(s) per worker, "
                        f"batch {args.batch_size}")
    for column in ("round", "engine", "workers", "images/s", "wall s (with startup)",
                   "Ray startup s", "wall s (without)", "peak RSS total MB", "peak RSS per worker MB",
                   "max |diff| vs local"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(str(row["repeat"] + 1), row["engine"], str(row["workers"]),
                      f"{row['images_per_s']:,.0f}",
                      f"{row['wall_s']:.1f}", f"{row['startup_s']:.1f}",
                      f"{row['excluding_startup_s']:.1f}", f"{row['peak_rss_total_mb']:,.0f}",
                      ", ".join(f"{v:,.0f}" for v in row["peak_rss_per_worker_mb"]),
                      f"{row.get('max_abs_difference', 0.0):.1e}")
    Console(width=180).print(table)
    import onnxruntime
    import ray

    record = record_header("ray_encode", load_before, onnxruntime=onnxruntime.__version__,
                           ray=ray.__version__, numpy=np.__version__)
    record["hardware"]["load_average_after"] = list(os.getloadavg())
    record.update({"encoder": str(Path(args.encoder).absolute()), "model": args.model_note,
                   "images": args.n, "input": f"float32 .npy {source.stat().st_size / 2**20:.0f}"
                   " MiB", "threads_per_worker": args.threads, "batch_size": args.batch_size,
                   "repeats": args.repeats, "local_output": "codes.npz", "results": rows})
    write_json(args.output, record)


if __name__ == "__main__":
    main()

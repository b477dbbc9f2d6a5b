"""Load test of ``infovaegan serve`` on loopback: throughput, latency, errors and memory.

Starts the real Triton server on an export (free loopback ports), measures the in-process
``OnnxEncoder`` batch-256 throughput at the server's thread count as the ceiling, then drives
the encoder with 1, 8 and 64 concurrent clients sending one image or 64 images per request
(gRPC by default; every client waits for its answer before sending again), and soaks the
server with 64 one-image clients while its resident memory is sampled. Prints a table and
writes JSON.

    python benchmarks/serve_load.py --export runs/mnist/onnx --duration 20 --soak 300 \
        --output benchmarks/results/serve_load.json

Clients run in separate processes (``--client-processes``, default 1 up to 8 clients, 2
beyond) so the load generator's own interpreter is not the bottleneck; they share the
machine's cores with the server, as loopback clients do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from machine import cpu_model  # benchmarks/, the script's own folder

CLIENTS = (1, 8, 64)
BATCHES = (1, 64)
MODEL = "infovaegan_encoder"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (Triton + backend stubs)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        stack.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def ceiling(export: Path, precision: str, threads: int, shape: tuple[int, ...],
            repeats: int = 30) -> float:
    """In-process ``OnnxEncoder`` images/s at batch 256 (median of ``repeats`` calls)."""
    from infovaegan_plugin.deploy.runtime import OnnxEncoder

    suffix = "" if precision == "fp32" else f".{precision}"
    encoder = OnnxEncoder(export / f"encoder{suffix}.onnx", providers="cpu",
                          intra_op_num_threads=threads, inter_op_num_threads=1)
    images = np.random.default_rng(0).random((256, *shape), dtype=np.float32)
    for _ in range(3):
        encoder.encode(images)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.encode(images)
        times.append(time.perf_counter() - start)
    return 256 / statistics.median(times)


# --------------------------------------------------------------------------- load generation


async def _client_loop(url: str, protocol: str, images: np.ndarray, until: float,
                       latencies: list[float], errors: list[str]) -> None:
    if protocol == "grpc":
        import tritonclient.grpc.aio as client_lib
    else:
        import tritonclient.http.aio as client_lib
    client = client_lib.InferenceServerClient(url)
    request = client_lib.InferInput("images", list(images.shape), "FP32")
    request.set_data_from_numpy(images)
    wanted = [client_lib.InferRequestedOutput("features")]
    try:
        while time.time() < until:
            start = time.perf_counter()
            try:
                result = await client.infer(MODEL, [request], outputs=wanted)
                if result.as_numpy("features").shape[0] != len(images):
                    errors.append("wrong number of rows")
            except Exception as exc:  # counted, not raised: the figure is the error rate
                errors.append(str(exc)[:200])
                continue
            latencies.append(time.perf_counter() - start)
    finally:
        await client.close()


def _client_process(url: str, protocol: str, clients: int, batch: int, shape: tuple[int, ...],
                    start_at: float, duration: float, queue: mp.Queue) -> None:
    images = np.random.default_rng(os.getpid()).random((batch, *shape), dtype=np.float32)
    latencies: list[float] = []
    errors: list[str] = []

    async def run() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        until = time.time() + duration
        await asyncio.gather(*[_client_loop(url, protocol, images, until, latencies, errors)
                               for _ in range(clients)])

    asyncio.run(run())
    queue.put((latencies, errors))


def drive(url: str, protocol: str, clients: int, batch: int, shape: tuple[int, ...],
          duration: float, processes: int) -> dict:
    """``clients`` concurrent clients for ``duration`` seconds; latency and throughput."""
    context = mp.get_context("spawn")
    queue: mp.Queue = context.Queue()
    processes = max(1, min(processes, clients))
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    start_at = time.time() + 2.0  # every process connected and waiting
    workers = [context.Process(target=_client_process,
                               args=(url, protocol, n, batch, shape, start_at, duration, queue))
               for n in shares]
    for w in workers:
        w.start()
    results = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    latencies = np.array([x for lat, _ in results for x in lat]) * 1000
    errors = [e for _, errs in results for e in errs]
    done = len(latencies)
    return {
        "clients": clients, "batch": batch, "seconds": duration, "requests": done,
        "requests_per_s": done / duration, "images_per_s": done * batch / duration,
        "p50_ms": float(np.percentile(latencies, 50)) if done else None,
        "p95_ms": float(np.percentile(latencies, 95)) if done else None,
        "p99_ms": float(np.percentile(latencies, 99)) if done else None,
        "errors": len(errors), "first_errors": errors[:3],
    }


def soak(server, url: str, protocol: str, shape: tuple[int, ...], seconds: float,
         processes: int, every: float = 10.0) -> dict:
    """64 one-image clients for ``seconds``; the server tree's RSS sampled meanwhile."""
    context = mp.get_context("spawn")
    queue: mp.Queue = context.Queue()
    shares = [64 // processes + (i < 64 % processes) for i in range(processes)]
    start_at = time.time() + 2.0
    workers = [context.Process(target=_client_process,
                               args=(url, protocol, n, 1, shape, start_at, seconds, queue))
               for n in shares]
    for w in workers:
        w.start()
    time.sleep(2.0 + min(every, seconds / 10))
    samples = [(0.0, tree_rss_mb(server.process.pid))]
    begin = time.time()
    while time.time() < start_at + seconds:
        time.sleep(min(every, max(0.0, start_at + seconds - time.time())))
        samples.append((round(time.time() - begin, 1), tree_rss_mb(server.process.pid)))
    results = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    done = sum(len(lat) for lat, _ in results)
    errors = sum(len(errs) for _, errs in results)
    first, last = samples[0][1], samples[-1][1]
    return {"seconds": seconds, "requests": done, "images_per_s": done / seconds,
            "errors": errors, "rss_mb_start": first, "rss_mb_end": last,
            "rss_growth": (last - first) / first, "rss_samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", type=Path, required=True)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    parser.add_argument("--threads", type=int, default=1, help="ORT threads per instance")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--max-queue-delay-us", type=int, default=100)
    parser.add_argument("--max-batch-size", type=int, default=256)
    parser.add_argument("--protocol", default="grpc", choices=("grpc", "http"))
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per scenario")
    parser.add_argument("--soak", type=float, default=300.0, help="soak seconds (0: none)")
    parser.add_argument("--client-processes", type=int, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from infovaegan_plugin.deploy.serving_repository import ServingModels
    from infovaegan_plugin.deploy.serving_server import ServerOptions, TritonServer

    console = Console(width=140)
    from infovaegan_plugin.deploy.runtime import OnnxEncoder

    shape = OnnxEncoder(args.export, providers="cpu").input_shape
    console.print(f"ceiling: in-process OnnxEncoder, batch 256, {args.threads} thread(s) ...")
    top = ceiling(args.export, args.precision, args.threads, shape)
    options = ServerOptions(
        http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(),
        address="127.0.0.1",
        models=ServingModels(precision=args.precision, max_batch_size=args.max_batch_size,
                             max_queue_delay_us=args.max_queue_delay_us,
                             instances=args.instances, threads=args.threads, providers="cpu"))
    url = (f"127.0.0.1:{options.grpc_port}" if args.protocol == "grpc"
           else f"127.0.0.1:{options.http_port}")
    rows = []
    started = time.perf_counter()
    with TritonServer(args.export, options) as server:
        ready_s = time.perf_counter() - started
        rss_idle = tree_rss_mb(server.process.pid)
        for clients in CLIENTS:
            for batch in BATCHES:
                processes = args.client_processes or (1 if clients <= 8 else 2)
                console.print(f"{clients} client(s) x {batch} image(s) ...")
                rows.append(drive(url, args.protocol, clients, batch, shape, args.duration,
                                  processes))
        soaked = None
        if args.soak > 0:
            console.print(f"soak: 64 clients x 1 image, {args.soak:.0f} s ...")
            soaked = soak(server, url, args.protocol, shape, args.soak,
                          args.client_processes or 2)
        stop_started = time.perf_counter()
        code = server.stop()
        stop_s = time.perf_counter() - stop_started

    table = Table(title=f"infovaegan serve, {args.precision}, {args.instances} instance(s) x "
                        f"{args.threads} thread(s), {args.protocol}, ceiling {top:,.0f} img/s")
    for column in ("clients", "images/request", "requests/s", "images/s", "% of ceiling",
                   "p50 ms", "p95 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(str(r["clients"]), str(r["batch"]), f"{r['requests_per_s']:,.0f}",
                      f"{r['images_per_s']:,.0f}", f"{100 * r['images_per_s'] / top:.0f}%",
                      *(f"{r[k]:.2f}" if r[k] is not None else "-"
                        for k in ("p50_ms", "p95_ms", "p99_ms")), str(r["errors"]))
    console.print(table)
    if soaked:
        console.print(f"soak {soaked['seconds']:.0f} s: {soaked['images_per_s']:,.0f} img/s, "
                      f"{soaked['errors']} errors, server RSS {soaked['rss_mb_start']:.0f} -> "
                      f"{soaked['rss_mb_end']:.0f} MB ({100 * soaked['rss_growth']:+.1f}%)")
    console.print(f"ready after {ready_s:.1f} s; stopped in {stop_s:.1f} s (exit code {code})")

    if args.output:
        record = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                        "load_average_at_end": os.getloadavg(), "python": platform.python_version()},
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "input_shape": list(shape), "ceiling_images_per_s": top,
            "server_ready_s": ready_s, "server_rss_mb_idle": rss_idle,
            "scenarios": rows, "soak": soaked, "stop_s": stop_s, "stop_exit_code": code,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(record, indent=2) + "\n")
        console.print(f"wrote {args.output}")



if __name__ == "__main__":
    main()

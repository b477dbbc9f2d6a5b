"""Speed of one dSprites training step on the CPU: ours (as ``infovaegan train --dataset
dsprites`` builds it), the same with the CPU fast path off, and the reference InfoGAN.

Settings (``--compare`` names those timed side by side, default ``ours``; the first is the
baseline of the ratios):

- ``ours``: the dSprites preset (categorical [3], 5 continuous, 10 noise, hidden 256, base
  channels 64, dcgan64 nets, BCE reconstruction, instance noise 0.2, batch 64), its model,
  trainer config and data built with ``infovaegan_plugin.training`` (``prepare_run``,
  ``build_model``, ``trainer_config``) and the trainer's own step: fetch the next batch from
  its loader, ``training_step`` with the inference stage on (epoch 1, no warm-up);
- ``plain``: ``ours`` with ``cpu_fast_path=False`` (default memory format, oneDNN for every
  layer: the numerics of earlier versions);
- ``previous``: ``plain`` with out-of-place activations, i.e. the step as it was before the
  fast path and the in-place activations (the same numbers, bit for bit, as ``plain``);
- ``reference``: ../shared/reference/infogan_dsprites.py's step (its classes imported by path,
  its loop body repeated here: a fresh rendered batch, one D step, two G steps).

Every setting is timed in the same process with blocks of steps INTERLEAVED (A B B A ...), so
that load from other jobs on a shared machine hits them alike: the ratios of an interleaved
run are what can be trusted there; absolute times on a shared machine are inflated and are
re-measured on a quiet one. Wall time per step is the headline (CPU time, which excludes time
spent waiting for a core, is reported beside it). Per setting and thread count a
``torch.profiler`` run splits a step into convolution and matmul kernels (with each kernel's
FLOP rate against the fp32 matmul rate of a 2048x2048 ``torch.mm`` at the same thread count),
batch norm, other ATen kernels, autograd engine overhead, optimizer steps, data and
instance noise. Not part of the test suite.

    python benchmarks/dsprites_step_speed.py --threads 1 2 --compare previous plain ours \
        --reference --output benchmarks/results/dsprites_step_speed.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from machine import cpu_model  # benchmarks/, the script's own folder

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "infogan_dsprites.py"
SETTINGS = ("ours", "plain", "previous", "reference")
MATMUL_SIZE = 2048
#: a kernel counts as efficient at this fraction of the fp32 matmul rate or above
EFFICIENT_FRACTION = 0.5

CONV_OPS = {
    "aten::convolution", "aten::convolution_backward", "aten::slow_conv_transpose2d",
    "aten::_slow_conv2d_forward", "aten::_slow_conv2d_backward",
}
MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
BATCH_NORM_OPS = {"aten::native_batch_norm", "aten::native_batch_norm_backward"}
#: record_function labels this benchmark puts around parts of a step
LABELS = ("data", "instance_noise")
CATEGORIES = ("convolution", "matmul", "batch_norm", "other_aten", "autograd_overhead",
              "optimizer", "data", "instance_noise", "python_and_untracked")


# ----- the settings ------------------------------------------------------------------------


@dataclass
class Runner:
    """One setting: ``step()`` runs one training step (batch fetch included)."""

    name: str
    batch: int
    step: Callable[[], None]
    #: context in which ``step`` marks its instance noise for the profiler
    noise_marked: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    notes: dict[str, Any] = field(default_factory=dict)


def dsprites_run(limit: int | None, seed: int, output_dir: str):
    """The prepared run of ``infovaegan train --dataset dsprites`` (data, preset, settings)."""
    from infovaegan_plugin.training import prepare_run, run_settings

    settings = run_settings({"dataset": "dsprites", "limit": limit, "seed": seed,
                             "output_dir": output_dir})
    return prepare_run(settings)


def build_ours(run: Any, fast: bool, name: str, in_place: bool = True) -> Runner:
    """The trainer ``infovaegan train`` builds for ``run`` on the CPU, with the CPU fast path
    on or off, stepping as ``InfoVAEGANTrainer.train_step`` does (inference stage on);
    ``in_place=False`` runs the activations out of place, as before they were in place."""
    from dataclasses import replace

    from pythae.trainers.trainer_utils import set_seed

    from infovaegan_plugin.data import to_pythae_dataset
    from infovaegan_plugin.trainers import InfoVAEGANTrainer
    from infovaegan_plugin.training import build_model, trainer_config

    model = build_model(run.model_config, run.settings["seed"])
    for module in model.modules():
        if isinstance(module, (torch.nn.ReLU, torch.nn.LeakyReLU)) and not in_place:
            module.inplace = False
    config = replace(trainer_config(run, "cpu"), cpu_fast_path=fast)
    trainer = InfoVAEGANTrainer(model, to_pythae_dataset(run.train_data), None, config)
    set_seed(config.seed)  # prepare_training's, without the run folder and callbacks
    trainer.set_optimizer()
    trainer.set_scheduler()
    epoch = 1
    if not trainer.inference_stage_active(epoch):
        raise RuntimeError("the dSprites preset should run the inference stage from epoch 1")
    model.train()
    model.training_epoch = epoch
    batches = _endless(trainer.train_loader)
    sums: dict[str, torch.Tensor] = {}
    count = [0]

    def step() -> None:
        with record_function("data"):
            real = trainer._set_inputs_to_device(next(batches))["data"]
        count[0] += 1
        metrics = trainer.training_step(real, epoch, count[0])
        for key, value in metrics.items():  # train_step's running sums
            sums[key] = sums.get(key, 0.0) + value.float()

    @contextlib.contextmanager
    def noise_marked() -> Iterator[None]:
        judged = model.judged

        def marked(images: torch.Tensor) -> torch.Tensor:
            with record_function("instance_noise"):
                return judged(images)

        model.judged = marked
        try:
            yield
        finally:
            del model.judged

    return Runner(name, config.per_device_train_batch_size, step, noise_marked,
                  {"cpu_fast_path": fast, "in_place_activations": in_place,
                   "train_images": len(run.train_data),
                   "optimizers": sorted(trainer.optimizers)})


def _endless(loader: Iterable) -> Iterator[Any]:
    while True:
        yield from loader


def build_reference(seed: int, batch: int = 64, path: Path = REFERENCE) -> Runner:
    """The reference's nets, optimizers and random streams as its ``main`` builds them, and
    its loop body as one step (the port ``dsprites_gpu.py`` runs on a device, here on the
    CPU; tests/benchmarks/test_dsprites_gpu.py checks it bit for bit against the script)."""
    from dsprites_gpu_runners import ReferenceRunner, load_reference

    runner = ReferenceRunner(load_reference(path), seed, "cpu", batch)
    return Runner("reference", batch, runner.step, notes={"script": str(path)})


# ----- timing --------------------------------------------------------------------------------


def interleaved(runners: list[Runner], blocks: int, block_steps: int
                ) -> dict[str, dict[str, list[float]]]:
    """ms per step of each block, wall and CPU, the runners' order reversed every other
    block (A B, B A, ...) so that drifting load hits them alike."""
    times = {r.name: {"wall": [], "cpu": []} for r in runners}
    for block in range(blocks):
        for runner in runners if block % 2 == 0 else runners[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(block_steps):
                runner.step()
            times[runner.name]["wall"].append((time.perf_counter() - wall) * 1e3 / block_steps)
            times[runner.name]["cpu"].append((time.process_time() - cpu) * 1e3 / block_steps)
    return times


def block_ratios(times: dict[str, dict[str, list[float]]], base: str, clock: str = "wall"
                 ) -> dict[str, dict[str, float]]:
    """Each setting's time over the baseline's, block by block (the blocks ran side by
    side): median, quartiles and the ratio of the summed times; < 1 is faster."""
    out: dict[str, dict[str, float]] = {}
    for name, series in times.items():
        ratios = [t / b for t, b in zip(series[clock], times[base][clock])]
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        out[name] = {"median": statistics.median(ratios), "q1": quartiles[0],
                     "q3": quartiles[2], "of_sums": sum(series[clock]) / sum(times[base][clock])}
    return out


def matmul_rate(repeats: int = 5, size: int = MATMUL_SIZE) -> dict[str, float]:
    """fp32 GFLOP/s of a ``size`` x ``size`` ``torch.mm`` (median of ``repeats``) at the
    current thread count, by wall time and by the process's CPU time."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        torch.mm(a, b)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    gflop = 2 * size**3 / 1e9
    return {"wall": gflop / statistics.median(wall), "cpu": gflop / statistics.median(cpu)}


# ----- the profile ---------------------------------------------------------------------------


def conv_flops(name: str, shapes: list, args: list) -> int:
    """FLOPs of a convolution op from the profiler's input shapes and concrete arguments
    (a backward counts the input and weight gradients its output mask asks for)."""
    if name == "aten::convolution_backward":
        out_shape, in_shape, w_shape = shapes[0], shapes[1], shapes[2]
        transposed, mask = bool(args[7]), args[10]
        passes = int(bool(mask[0])) + int(bool(mask[1]))
    elif name == "aten::_slow_conv2d_backward":
        out_shape, in_shape, w_shape = shapes[0], shapes[1], shapes[2]
        transposed, passes = False, int(bool(args[6][0])) + int(bool(args[6][1]))
    else:
        in_shape, w_shape = shapes[0], shapes[1]
        transposed = name == "aten::slow_conv_transpose2d" or (
            name == "aten::convolution" and bool(args[6]))
        out_shape = None if transposed else _conv_output(name, in_shape, w_shape, args)
        passes = 1
    kernel = int(np.prod(w_shape[2:]))
    if transposed:  # weight (in, out / groups, *k): every input pixel feeds out x k values
        macs = int(np.prod(in_shape)) * w_shape[1] * kernel
    else:  # weight (out, in / groups, *k): every output pixel reads in x k values
        macs = int(np.prod(out_shape)) * w_shape[1] * kernel
    return 2 * macs * passes


def _conv_output(name: str, in_shape: list, w_shape: list, args: list) -> list[int]:
    if name == "aten::convolution":
        stride, padding, dilation = args[3], args[4], args[5]
    else:  # _slow_conv2d_forward(self, weight, kernel_size, bias, stride, padding)
        stride, padding, dilation = args[4], args[5], [1] * (len(in_shape) - 2)
    spatial = [
        (size + 2 * p - d * (k - 1) - 1) // s + 1
        for size, k, s, p, d in zip(in_shape[2:], w_shape[2:], stride, padding, dilation)
    ]
    return [in_shape[0], w_shape[0], *spatial]


def matmul_flops(name: str, shapes: list) -> int:
    if name in ("aten::mm",):
        (m, k), (_, n) = shapes[0], shapes[1]
        return 2 * m * k * n
    if name == "aten::addmm":
        (m, k), (_, n) = shapes[1], shapes[2]
        return 2 * m * k * n
    if name == "aten::bmm":
        (b, m, k), (_, _, n) = shapes[0], shapes[1]
        return 2 * b * m * k * n
    (b, m, k), (_, _, n) = shapes[1], shapes[2]  # baddbmm
    return 2 * b * m * k * n


def category_of(name: str) -> str:
    """The category of an event that is not one of the whole-subtree ones."""
    if name in BATCH_NORM_OPS:
        return "batch_norm"
    if (name.startswith("autograd::") or name.startswith("torch::autograd::")
            or name.endswith(("Backward0", "Backward1"))):
        return "autograd_overhead"
    if name.startswith("aten::"):
        return "other_aten"
    return "python_and_untracked"


def split_events(roots: Iterable[Any]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """µs per category and the convolution/matmul kernels (name, µs, FLOPs) of a profile's
    event trees. Kernels, optimizer steps and labelled parts count with their whole subtree;
    every other event with its own time, its children then split further."""
    totals = dict.fromkeys(CATEGORIES, 0.0)
    kernels: list[dict[str, Any]] = []
    stack = list(roots)
    while stack:
        event = stack.pop()
        name = event.name
        whole = None
        if name in LABELS:
            whole = name
        elif name.startswith(("Optimizer.step", "Optimizer.zero_grad")):
            whole = "optimizer"
        elif name in CONV_OPS or name in MATMUL_OPS:
            whole = "convolution" if name in CONV_OPS else "matmul"
            shapes = [list(s) for s in event.input_shapes]
            args = list(getattr(event, "concrete_inputs", []) or [])
            try:
                flops = (conv_flops(name, shapes, args) if whole == "convolution"
                         else matmul_flops(name, shapes))
            except (IndexError, TypeError, ValueError):
                flops = 0  # an overload this table does not know: time counted, rate not
            kernels.append({"name": name, "us": event.cpu_time_total, "flops": flops,
                            "shapes": shapes})
        if whole is not None:
            totals[whole] += event.cpu_time_total
            continue
        totals[category_of(name)] += event.self_cpu_time_total
        stack.extend(event.cpu_children)
    return totals, kernels


def profile_runner(runner: Runner, steps: int, rates: dict[str, float], threads: int
                   ) -> dict[str, Any]:
    """Shares of a step's wall time by category, and how much of it runs in convolution and
    matmul kernels at >= EFFICIENT_FRACTION of the matmul rate ``rates["wall"]`` (GFLOP/s).

    The profiler's clock is the wall clock: on a busy machine a kernel's time includes the
    time the process waited for a core. With one thread the ``*_cpu`` figures correct for it:
    kernel rates divided by the share of the profiled wall time the process was on a core,
    against the matmul rate by CPU time (``rates["cpu"]``); on a quiet machine both agree."""
    with runner.noise_marked(), profile(activities=[ProfilerActivity.CPU],
                                        record_shapes=True) as prof:
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            runner.step()
        wall_us = (time.perf_counter() - start) * 1e6
        cpu_us = (time.process_time() - start_cpu) * 1e6
    roots = [e for e in prof.events() if e.cpu_parent is None]
    totals, kernels = split_events(roots)
    totals["python_and_untracked"] += max(wall_us - sum(totals.values()), 0.0)
    on_core = min(cpu_us / wall_us, 1.0) if threads == 1 else None
    efficient_us = efficient_cpu_us = 0.0
    for kernel in kernels:
        kernel["gflops"] = kernel["flops"] / kernel["us"] / 1e3 if kernel["us"] else 0.0
        if kernel["gflops"] >= EFFICIENT_FRACTION * rates["wall"]:
            efficient_us += kernel["us"]
        if on_core and kernel["gflops"] / on_core >= EFFICIENT_FRACTION * rates["cpu"]:
            efficient_cpu_us += kernel["us"]
    kernel_us = totals["convolution"] + totals["matmul"]
    flops = sum(k["flops"] for k in kernels)
    gflops = flops / kernel_us / 1e3 if kernel_us else 0.0
    return {
        "steps": steps,
        "ms_per_step_profiled": wall_us / steps / 1e3,
        "cpu_over_wall": cpu_us / wall_us,
        "shares": {k: v / wall_us for k, v in totals.items()},
        "conv_matmul_share": kernel_us / wall_us,
        "efficient_kernel_share": efficient_us / wall_us,
        "efficient_kernel_share_cpu": efficient_cpu_us / wall_us if on_core else None,
        "conv_matmul_gflops": gflops,
        "conv_matmul_gflops_cpu": gflops / on_core if on_core else None,
        "gflop_per_step": flops / steps / 1e9,
        "slowest_kernels": _slowest(kernels, steps),
    }


def _slowest(kernels: list[dict[str, Any]], steps: int, top: int = 8) -> list[dict[str, Any]]:
    """The kernels (name and shapes) that take the most time per step, with their rate."""
    grouped: dict[str, dict[str, Any]] = {}
    for k in kernels:
        key = f"{k['name']} {k['shapes'][:3]}"
        entry = grouped.setdefault(key, {"kernel": key, "us": 0.0, "flops": 0})
        entry["us"] += k["us"]
        entry["flops"] += k["flops"]
    rows = sorted(grouped.values(), key=lambda e: -e["us"])[:top]
    return [{"kernel": e["kernel"], "ms_per_step": e["us"] / steps / 1e3,
             "gflops": e["flops"] / e["us"] / 1e3 if e["us"] else 0.0} for e in rows]


# ----- the run -------------------------------------------------------------------------------


def summary(series: dict[str, list[float]], batch: int) -> dict[str, float]:
    wall = statistics.median(series["wall"])
    return {"wall_ms_per_step": wall, "wall_ms_min": min(series["wall"]),
            "cpu_ms_per_step": statistics.median(series["cpu"]),
            "images_per_s": batch * 1e3 / wall}


def measure(runners: list[Runner], threads: int, args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(threads)
    for runner in runners:  # warm-up: oneDNN builds its kernels per shape and thread count
        for _ in range(args.warmup):
            runner.step()
    times = interleaved(runners, args.blocks, args.block_steps)
    base = runners[0].name
    rates = matmul_rate()
    profiles = {r.name: profile_runner(r, args.profile_steps, rates, threads) for r in runners}
    after = matmul_rate()
    return {
        "threads": threads,
        "matmul_gflops": rates,
        "matmul_gflops_after_profiles": after,
        "settings": {r.name: {**summary(times[r.name], r.batch), "profile": profiles[r.name]}
                     for r in runners},
        "time_vs_first": {"baseline": base, "wall": block_ratios(times, base, "wall"),
                          "cpu": block_ratios(times, base, "cpu")},
        "blocks": times,
    }


def build_runners(names: list[str], args: argparse.Namespace, folder: str) -> list[Runner]:
    ours = {"ours", "plain", "previous"} & set(names)
    run = dsprites_run(args.limit, args.seed, folder) if ours else None
    runners = []
    for name in names:
        if name == "reference":
            runners.append(build_reference(args.seed, path=Path(args.reference_script)))
        else:
            runners.append(build_ours(run, fast=name == "ours", name=name,
                                      in_place=name != "previous"))
    return runners


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_table(record: dict[str, Any]) -> None:
    """Two tables: speed (interleaved ratios first), then where a step's time goes."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 120))
    speed = Table(title="dSprites training step on the CPU, settings interleaved (shared "
                        "machine: compare the ratios, not the absolute times)")
    for column in ("setting", "threads", "time / first (median, IQR)", "wall ms/step",
                   "cpu ms/step", "images/s", "mm GFLOP/s wall|cpu"):
        speed.add_column(column, justify="right")
    where = Table(title="where a step's time goes (torch.profiler, share of wall time)")
    for column in ("setting", "threads", "conv", "matmul", "efficient conv+mm wall|cpu",
                   "conv+mm GFLOP/s wall|cpu", "batch norm", "other aten", "autograd",
                   "optimizer", "data", "noise", "python"):
        where.add_column(column, justify="right")
    for result in record["results"]:
        ratios, rates, threads = (result["time_vs_first"]["wall"], result["matmul_gflops"],
                                  str(result["threads"]))
        for name, s in result["settings"].items():
            r = ratios[name]
            speed.add_row(name, threads, f"{r['median']:.3f} ({r['q1']:.2f}-{r['q3']:.2f})",
                          f"{s['wall_ms_per_step']:.1f}", f"{s['cpu_ms_per_step']:.1f}",
                          f"{s['images_per_s']:.0f}",
                          f"{rates['wall']:.0f} | {rates['cpu']:.0f}")
            p, shares = s["profile"], s["profile"]["shares"]
            cpu_rate = p["conv_matmul_gflops_cpu"]
            where.add_row(
                name, threads, _pct(shares["convolution"]), _pct(shares["matmul"]),
                f"{_pct(p['efficient_kernel_share'])} | {_pct(p['efficient_kernel_share_cpu'])}",
                f"{p['conv_matmul_gflops']:.0f} | "
                + ("-" if cpu_rate is None else f"{cpu_rate:.0f}"),
                _pct(shares["batch_norm"]), _pct(shares["other_aten"]),
                _pct(shares["autograd_overhead"]), _pct(shares["optimizer"]),
                _pct(shares["data"]), _pct(shares["instance_noise"]),
                _pct(shares["python_and_untracked"]))
    console.print(speed)
    console.print(where)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compare", nargs="+", choices=SETTINGS, default=["ours"],
                    help="settings timed side by side (the first is the ratios' baseline)")
    ap.add_argument("--reference", action="store_true",
                    help="also time the reference InfoGAN's step (interleaved with the rest)")
    ap.add_argument("--reference-script", default=str(REFERENCE))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--blocks", type=int, default=10, help="interleaved blocks per setting")
    ap.add_argument("--block-steps", type=int, default=3, help="steps per block")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per setting")
    ap.add_argument("--profile-steps", type=int, default=5)
    ap.add_argument("--limit", type=int, default=None,
                    help="dSprites images rendered (default: the training default, 20000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", default=str(REPO / "benchmarks" / "results"
                                            / "dsprites_step_speed.json"))
    args = ap.parse_args(argv)
    names = list(dict.fromkeys(args.compare + (["reference"] if args.reference else [])))
    if min(args.threads) < 1 or args.blocks < 1 or args.block_steps < 1 or args.profile_steps < 1:
        ap.error("--threads, --blocks, --block-steps and --profile-steps must be >= 1")
    args.settings = names
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    load_before = os.getloadavg()
    import infovaegan_plugin  # noqa: F401  (registers InfoVAEGAN with pythae)

    with tempfile.TemporaryDirectory() as folder:
        runners = build_runners(args.settings, args, folder)
        results = [measure(runners, threads, args) for threads in args.threads]
    record = {
        "benchmark": "dsprites_step_speed",
        "command": "python " + " ".join(sys.argv),
        "note": ("absolute times from a shared machine are inflated by other jobs; the "
                 "interleaved ratios (time_vs_first) are the comparable numbers"),
        "hardware": {"cpu": cpu_model(), "usable_cores": len(os.sched_getaffinity(0)),
                     "machine": platform.machine(), "load_average_before": load_before,
                     "load_average_after": os.getloadavg()},
        "software": {"torch": torch.__version__, "python": platform.python_version(),
                     "onednn": torch.backends.mkldnn.is_available(),
                     "cpu_capability": torch.backends.cpu.get_cpu_capability()},
        "settings": {r.name: r.notes for r in runners},
        "timing": {"blocks": args.blocks, "block_steps": args.block_steps,
                   "warmup": args.warmup, "profile_steps": args.profile_steps},
        "results": results,
    }
    print_table(record)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {output}")
    return record




if __name__ == "__main__":
    main()

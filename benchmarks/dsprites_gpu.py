"""The dSprites comparison of the reference InfoGAN and InfoVAEGAN (``--models``: also its
InfoGAN ablation, beta-VAE and FactorVAE) on one machine, a CUDA GPU when there is one: the
same seeds, the same number of steps, the same metrics.

- ``reference``: ../shared/reference/infogan_dsprites.py (InfoGAN-CR's InfoGAN baseline) as
  a port of its training loop to the chosen device: its ``Generator``, ``Discriminator``,
  ``init``, ``prior`` and ``real_batch`` imported from the file by path, its main's seeding,
  optimizers and loop body repeated here (a fresh batch of 64 rendered sprites and one D step,
  then two G steps on the same codes). The codes come from its CPU generator and the sprites
  from its numpy stream, then move to the device, so on the CPU the port is the script, bit
  for bit (tests/benchmarks/test_dsprites_gpu.py); on a GPU the next batch is rendered in a
  thread while the device works on this one (same stream, same order).
- ``infovaegan``: the dSprites preset as ``infovaegan train --dataset dsprites`` builds it
  (``prepare_run``, ``build_model``, ``trainer_config``, ``InfoVAEGANTrainer``), stepped by the
  trainer's own ``training_step`` over its own data loader, epoch after epoch as its
  ``train_step`` does (epochs are passes over ``--limit`` rendered images, 90% of them train:
  18,000 images, 282 steps at the default 20,000). The pipeline's ``fit`` trains whole epochs
  and cannot stop at a step or take turns with the reference; this is the same step. Mixed
  precision is the trainer's ``amp`` switch (fp16 autocast with gradient scaling on CUDA);
  ``--amp auto`` times both on throwaway models first and keeps the faster on CUDA, fp32 on
  the CPU. ``infogan``: its InfoGAN ablation (``--variant infogan``), the same way.
- ``beta_vae``, ``factor_vae``: pythae's models as ``infovaegan benchmark`` builds and trains
  them (InfoVAEGAN's networks, the same training images), stepped batch by batch as pythae's
  trainer steps them; scored on their encoder means. fp32.

Both are evaluated every ``--eval-every`` steps with ``evaluate_disentanglement`` (the code
``infovaegan evaluate`` runs: FactorVAE metric and MIG at disentanglement_lib's sizes times
``--eval-scale``, and ``--metric-scale`` for the final point), on the representation of
rendered sprites: the reference's Q means, InfoVAEGAN's categorical probabilities and
continuous means (``InfoVAEGANAdapter.represent``), the VAEs' encoder means. Every model of a
seed draws the same factor rows (the metric's seeded streams), so each picture is rendered once
and kept (bit-packed) for the other models and for later points of the same scale; on a GPU machine the rendering runs in
a pool of processes. The samples: the share of 1,000 prior samples that draw one sprite
(``metrics.sprites.sprite_statistics``) and the reference's own count (any pixel on).

Seeds train in lock step: each round trains every seed's models ``--eval-every`` steps,
then scores them. With ``--budget-s`` (no ``--steps``) a probe on throwaway models first times
a step of each and the rendering, serving and encoding of the metrics' pictures, and the step
count is the largest that fits the budget (counted from the wrapper's start) with every
evaluation; a guard before each round stops early (every model at the same step) if the
rounds ran slower than planned. Writes ``OUT/dsprites_gpu.json`` (rewritten after
every evaluation, so a run stopped from outside keeps its points), ``metrics_vs_steps.png``
and one traversal grid per model of the first seed; prints a table.

A run stops and continues: each model of each seed keeps its whole training state and its
points in ``OUT/state/MODEL_sSEED.pt``, written after each of its evaluations; on SIGTERM or
SIGINT every model finishes the step it is in (within ~25 steps), the states are written and the
run stops. The same command with ``--resume`` continues it bit for bit (a finished run, too,
with a larger ``--steps``). A new run into a folder that holds states is refused.

    bash benchmarks/dsprites_gpu.sh                      # the wrapper: environment, then this
    python benchmarks/dsprites_gpu.py --out runs/gpu --steps 20000 --eval-every 5000
    python benchmarks/dsprites_gpu.py --out runs/cmp --models infovaegan infogan beta_vae \
        factor_vae --steps 4000 --eval-every 2000 --metric-scale 0.2 --device cpu --threads 1
    python benchmarks/dsprites_gpu.py --out runs/cmp ... --steps 20000 --resume   # on to 20,000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # benchmarks/, the script's own folder  # noqa: E402
from dsprites_gpu_runners import (  # noqa: E402
    RUNNERS,
    SPRITE_SAMPLES,
    TRAINER_MODELS,
    CachedGroundTruth,
    load_reference,
    prepared_run,
)
from run_state import load_state, save_state, stop_requests, stopped_by, train_to  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: the models compared unless ``--models`` says otherwise
MODELS = ("reference", "infovaegan")
METRICS = ("factor_vae", "mig")
#: the throwaway models of the probe use this seed
PROBE_SEED = 10_000
#: seconds kept for the grids, the chart and the JSON at the end
FIXED_S = 15.0
#: evaluation estimates from the probe are taken this much larger
SAFETY_EVAL = 1.2
#: real sprites each evaluation reconstructs, and the seed of their factors (no run's seed)
RECONSTRUCTION_SPRITES = 1000
RECONSTRUCTION_SEED = 7_000_000
#: the reconstruction errors a point holds when real sprites were given
RECONSTRUCTION = ("recon_mse", "recon_bce", "recon_iou")
JSON_NAME = "dsprites_gpu.json"
CHART_NAME = "metrics_vs_steps.png"
#: the folder of OUT with every run's training state and points (``--resume``)
STATE_DIR = "state"
#: settings a resumed run must share with the run it continues (``steps`` may grow)
RESUME_SAME = ("models", "seeds", "metric_scale", "eval_scale", "infovaegan_train_images",
               "batch_size", "limit")


# ----- evaluation ---------------------------------------------------------------------------


def real_area_range() -> tuple[float, float]:
    """The lit-area range of real sprites that counts as one sprite (2,000 rendered)."""
    from infovaegan_plugin.data.dsprites import render, sample_factors
    from infovaegan_plugin.metrics.sprites import area_range

    return area_range(render(sample_factors(2000, np.random.default_rng(0))))


def real_sprites(n: int = RECONSTRUCTION_SPRITES) -> np.ndarray:
    """The real sprites every model and seed reconstructs: ``n`` rendered from a stream of
    their own (:data:`RECONSTRUCTION_SEED`, no run's seed), the same for every run."""
    from infovaegan_plugin.data.dsprites import render, sample_factors

    return render(sample_factors(n, np.random.default_rng(RECONSTRUCTION_SEED)))


def reconstruction_scores(reconstruct: Any, real: np.ndarray, batch: int = 256
                          ) -> dict[str, float]:
    """Mean per-image errors of ``reconstruct`` on ``real`` (``reconstruction_errors``, as
    ``infovaegan evaluate``), the mean overlap of lit pixels and the centroid error over the
    reconstructions that draw anything (``reconstruction_overlap``), and the share that draw
    nothing."""
    from infovaegan_plugin.metrics.reconstruction import reconstruction_errors
    from infovaegan_plugin.metrics.sprites import reconstruction_overlap

    with torch.no_grad():
        recon = np.concatenate([
            reconstruct(torch.from_numpy(np.ascontiguousarray(real[i:i + batch]))).float()
            .cpu().numpy() for i in range(0, len(real), batch)])
    errors = reconstruction_errors(real, recon)
    overlap = reconstruction_overlap(real, recon)
    drawn = ~np.isnan(overlap["centroid_error_px"])
    return {"recon_mse": float(errors["mse"].mean()), "recon_bce": float(errors["bce"].mean()),
            "recon_iou": float(overlap["iou"].mean()),
            "recon_centroid_error_px": (float(overlap["centroid_error_px"][drawn].mean())
                                        if drawn.any() else None),
            "recon_blank_fraction": float(1.0 - drawn.mean())}


def per_factor(scores: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Where the scores are lost, by dSprites factor (``scores_by_factor``): the FactorVAE
    metric's accuracy on each factor and the factor each code dimension stands for, MIG's gap
    for each factor."""
    from infovaegan_plugin.metrics import scores_by_factor

    by = scores_by_factor(scores, names)
    return {"factor_vae_per_factor": by["factor_vae"],
            "factor_vae_dim_factor": by["factor_vae_dim_factor"],
            "mig_per_factor": by["mig"]}


def factor_line(point: dict[str, Any]) -> str:
    """The FactorVAE metric's accuracy by factor, for a log line."""
    return "by factor " + " ".join(f"{k} {_fmt(v, 2)}"
                                   for k, v in point["factor_vae_per_factor"].items())


def evaluate(runner: Any, data: CachedGroundTruth, seed: int, scale: float,
             areas: tuple[float, float], real: np.ndarray | None = None) -> dict[str, Any]:
    """FactorVAE metric and MIG (``evaluate_disentanglement``, as ``infovaegan evaluate``) of
    ``runner``'s representation, the sprites its prior draws and, given ``real`` sprites,
    how it reconstructs them (:func:`reconstruction_scores`)."""
    from infovaegan_plugin.metrics import evaluate_disentanglement
    from infovaegan_plugin.metrics.sprites import sprite_statistics

    started, rendered = time.perf_counter(), data.stats["render_s"]
    with runner.evaluating():
        scores = evaluate_disentanglement(data, runner.represent, rng_seed=seed,
                                          metrics=METRICS, scale=scale)
        fake = np.clip(runner.samples(), 0.0, 1.0)
        recon = reconstruction_scores(runner.reconstruct, real) if real is not None else {}
    sprites = sprite_statistics(fake, areas)
    seconds = time.perf_counter() - started
    render_s = data.stats["render_s"] - rendered
    return {
        "step": runner.steps,
        "metric_scale": scale,
        "factor_vae": float(scores["factor_vae"]["eval_accuracy"]),
        "mig": float(scores["mig"]["discrete_mig"]),
        "factor_vae_active_dims": int(scores["factor_vae"]["num_active_dims"]),
        **per_factor(scores, data.factor_names),
        "sprite_fraction": sprites["sprite_fraction"],
        "any_pixel_fraction": float(((fake > 0.5).reshape(len(fake), -1).sum(1) > 0).mean()),
        "centroid_col_std_px": sprites["centroid_col_std_px"],
        **recon,
        "train_s": round(runner.train_s, 2),
        "eval_s": round(seconds, 2),
        "render_s": round(render_s, 2),
        "losses": runner.losses(),
    }


# ----- the budget ---------------------------------------------------------------------------


def plan_steps(seconds: float, seeds: int, step_s: float, eval_every: int, round_eval_s: float,
               first_render_s: float, final_s: float, fixed_s: float = 0.0,
               safety: float = 0.9, max_steps: int = 10_000_000) -> int:
    """The most steps per model that fit ``seconds``: every seed trains every model
    (``step_s``: the models' seconds per step together), scores them after each round of
    ``eval_every`` steps but the last (``round_eval_s`` per seed and round; a seed's first
    scored round also renders its pictures, ``first_render_s``), then scores them at the final
    scale (``final_s`` per seed); ``fixed_s`` is spent whatever the steps.
    At least 1, even when nothing fits (the caller says so)."""

    def needed(steps: int) -> float:
        rounds = math.ceil(steps / eval_every)
        return seeds * (steps * step_s + (rounds - 1) * round_eval_s + final_s
                        + first_render_s * (rounds > 1)) + fixed_s

    usable = safety * seconds
    if needed(1) > usable:
        return 1
    low, high = 1, max_steps
    while low < high:  # the largest steps with needed(steps) <= usable (needed grows)
        mid = (low + high + 1) // 2
        low, high = (mid, high) if needed(mid) <= usable else (low, mid - 1)
    return low


def time_steps(runner: Any, warmup: int, steps: int) -> float:
    """Seconds per training step of ``runner`` (after ``warmup`` untimed steps)."""
    runner.train(warmup)
    before = runner.train_s
    runner.train(steps)
    return (runner.train_s - before) / steps


# ----- outputs ------------------------------------------------------------------------------


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of each model's final scores."""
    out: dict[str, Any] = {}
    for model, per_seed in results.items():
        finals = [r["final"] for r in per_seed.values() if r.get("final")]
        if not finals:
            continue
        entry: dict[str, Any] = {"seeds": len(finals)}
        for key in (*METRICS, "sprite_fraction", "any_pixel_fraction", *RECONSTRUCTION):
            if not all(key in f for f in finals):  # runs from before reconstruction was scored
                continue
            values = [f[key] for f in finals]
            entry[f"{key}_mean"] = statistics.fmean(values)
            entry[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        entry["ms_per_step_mean"] = statistics.fmean(
            r["ms_per_step"] for r in per_seed.values() if r.get("final"))
        out[model] = entry
    return out


def chart(path: Path, results: dict[str, Any], scales: tuple[float, float],
          each_seed: bool = True) -> Path:
    """FactorVAE metric and MIG against steps, side by side: per model the mean over seeds
    (at the steps every seed reached) and, with ``each_seed``, each seed."""
    from PIL import Image

    from infovaegan_plugin.evaluation.charts import line_chart

    pictures = []
    with tempfile.TemporaryDirectory() as folder:
        for metric, metric_name in (("factor_vae", "FactorVAE metric"), ("mig", "MIG")):
            means, seeds, top = [], [], 0.0
            for model, per_seed in results.items():
                curves = {s: {p["step"]: p[metric] for p in r["curve"]}
                          for s, r in per_seed.items() if r["curve"]}
                if not curves:
                    continue
                common = sorted(set.intersection(*(set(c) for c in curves.values())))
                label = (f"{model}, mean of {len(curves)} seeds" if len(curves) > 1
                         else f"{model}, seed {next(iter(curves))}")
                if common:
                    means.append((label, common,
                                  [statistics.fmean(c[x] for c in curves.values()) for x in common]))
                if each_seed and len(curves) > 1:
                    seeds += [(f"{model} s{seed}", sorted(curve), [curve[x] for x in sorted(curve)])
                              for seed, curve in curves.items()]
                top = max([top, *(v for c in curves.values() for v in c.values())])
            series = means + seeds  # the means take the first colours
            if not series:
                continue
            high = 1.0 if metric == "factor_vae" else min(1.0, max(0.2, 1.2 * top))
            title = (f"{metric_name} (metric scale {scales[0]:g})" if scales[0] == scales[1]
                     else f"{metric_name} (last point at metric scale {scales[1]:g}, "
                          f"earlier at {scales[0]:g})")
            pictures.append(Image.open(line_chart(Path(folder) / f"{metric}.png", title, series,
                                                  x_label="training steps",
                                                  y_range=(0.0, high))).copy())
    if not pictures:
        raise ValueError("no evaluated point to chart")
    return save_side_by_side(pictures, path)


def save_side_by_side(pictures: list[Any], path: Path) -> Path:
    """PIL pictures pasted left to right on white, saved as one PNG."""
    from PIL import Image

    from infovaegan_plugin.atomic import save_picture

    canvas = Image.new("RGB", (sum(p.width for p in pictures), max(p.height for p in pictures)),
                       "white")
    x = 0
    for picture in pictures:
        canvas.paste(picture, (x, 0))
        x += picture.width
    return save_picture(canvas, path, optimize=True)


#: what each model's traversal grid shows
TRAVERSALS = {
    "reference": "each of the 5 continuous codes over [-1, 1], noise and the other codes fixed",
    "infovaegan": "each continuous code (cN) over its prior range for every category, noise "
                  "fixed",
    "beta_vae": "the most informative latents (zN) over [-2, 2] from a training sprite",
}
TRAVERSALS["factor_vae"] = TRAVERSALS["beta_vae"]


def traversal_grid(runner: Any, path: Path, seed: int) -> dict[str, Any]:
    """The runner's traversal grid and what each row moves (``traversal_effects``)."""
    from infovaegan_plugin.metrics.sprites import traversal_effects
    from infovaegan_plugin.viz import GridLabels, save_small_grid

    with runner.evaluating(), torch.no_grad():
        images, ncol, rows = runner.traversal()
    what = TRAVERSALS.get(runner.name, TRAVERSALS["infovaegan"])
    save_small_grid(images, path, ncol=ncol, labels=GridLabels(
        title=f"{runner.name}, seed {seed}, step {runner.steps}: {what}", rows=rows))
    return {"file": path.name, "rows": rows,
            "effects": traversal_effects(images.numpy(), ncol, rows)}


def print_table(record: dict[str, Any]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is a dependency; a bare table if it is missing
        print(json.dumps(record["summary"], indent=2))
        return
    env = record["environment"]
    table = Table(title=f"dSprites on {env['device_name']} (torch {env['torch']}): "
                        f"{record['settings']['steps']} steps per model, final metric scale "
                        f"{record['settings']['metric_scale']:g}")
    for column in ("model", "seed", "steps", "AMP", "train s", "ms/step", "FactorVAE", "MIG",
                   "sprites", "any pixel", "recon MSE", "recon IoU"):
        table.add_column(column, justify="right")
    for model, per_seed in record["models"].items():
        for seed, r in per_seed["seeds"].items():
            f = r.get("final") or {}
            table.add_row(model, seed, str(r["steps"]), "on" if per_seed["amp"] else "off",
                          f"{r['train_s']:.1f}", f"{r['ms_per_step']:.1f}",
                          _fmt(f.get("factor_vae")), _fmt(f.get("mig")),
                          _fmt(f.get("sprite_fraction")), _fmt(f.get("any_pixel_fraction")),
                          _fmt(f.get("recon_mse"), 4), _fmt(f.get("recon_iou")))
        s = record["summary"].get(model)
        if s and s["seeds"] > 1:
            table.add_row(model, "mean", "", "", "", f"{s['ms_per_step_mean']:.1f}",
                          *(f"{s[k + '_mean']:.{d}f} ± {s[k + '_std']:.{d}f}"
                            if k + "_mean" in s else "-"
                            for k, d in (("factor_vae", 3), ("mig", 3), ("sprite_fraction", 3),
                                         ("any_pixel_fraction", 3), ("recon_mse", 4),
                                         ("recon_iou", 3))))
    Console(width=max(Console().width, 120)).print(table)
    print_per_factor(record["models"], "final")


#: the factors' short names in the tables' code-dimension column
FACTOR_ABBREVIATIONS = {"shape": "shp", "scale": "scl", "orientation": "rot", "posX": "x",
                        "posY": "y"}


def print_per_factor(models: dict[str, Any], point: str = "final") -> None:
    """A table of each run's ``point`` by factor: FactorVAE accuracy / MIG gap (where the
    scores are lost); runs scored before the breakdown was recorded are left out."""
    from rich.console import Console
    from rich.table import Table

    rows = [(model, seed, run[point]) for model, entry in models.items()
            for seed, run in entry["seeds"].items()
            if (run.get(point) or {}).get("factor_vae_per_factor")]
    if not rows:
        return
    names = list(rows[0][2]["factor_vae_per_factor"])
    table = Table(title="by factor: FactorVAE accuracy / MIG gap (chance accuracy 0.2)")
    for column in ("model", "seed", "step", *names, "factor of each code dim"):
        table.add_column(column, justify="right")
    for model, seed, p in rows:
        cells = [f"{_fmt(p['factor_vae_per_factor'][n], 2)} / {_fmt(p['mig_per_factor'][n], 2)}"
                 for n in names]
        dims = " ".join("-" if f is None else FACTOR_ABBREVIATIONS.get(f, f)
                        for f in p["factor_vae_dim_factor"])
        table.add_row(model, seed, str(p["step"]), *cells, dims)
    Console(width=max(Console().width, 120)).print(table)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def write_json(path: Path, record: dict[str, Any]) -> None:
    from infovaegan_plugin.atomic import write_text

    write_text(path, json.dumps(record, indent=2) + "\n")


# ----- the run ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "dsprites_gpu"))
    ap.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", choices=tuple(RUNNERS), default=list(MODELS),
                    help="the models compared (default: reference infovaegan)")
    ap.add_argument("--steps", type=int, default=None,
                    help="steps per model (default: as many as --budget-s allows)")
    ap.add_argument("--budget-s", type=float, default=500.0,
                    help="wall-clock seconds for everything, from --started (without --steps)")
    ap.add_argument("--started", type=float, default=None,
                    help="time.time() when the budget began (the wrapper's start)")
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--metric-scale", type=float, default=1.0,
                    help="disentanglement_lib's sample sizes times this, final point")
    ap.add_argument("--eval-scale", type=float, default=0.2,
                    help="the same for the points before the last")
    ap.add_argument("--limit", type=int, default=None,
                    help="InfoVAEGAN's rendered training images (default: the train default, "
                    "20,000)")
    ap.add_argument("--amp", choices=("auto", "on", "off"), default="auto",
                    help="InfoVAEGAN's (and InfoGAN's) mixed precision (auto: the faster on "
                    "CUDA, off on CPU)")
    ap.add_argument("--reference", default=str(REPO.parent / "shared" / "reference"
                                               / "infogan_dsprites.py"),
                    help="the reference script (needed only when --models has reference)")
    ap.add_argument("--render-workers", type=int, default=None,
                    help="processes rendering the metrics' sprites (default: cores - 2 on "
                    "CUDA, 0 = in process on CPU)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--keep-models", action="store_true",
                    help="save every trained model in OUT/models/MODEL_sSEED (InfoVAEGAN and "
                    "its ablation as the package saves them, for `infovaegan evaluate`)")
    ap.add_argument("--probe-steps", type=int, default=None,
                    help="timed steps per model of the budget probe (default 30 CUDA, 3 CPU)")
    ap.add_argument("--resume", action="store_true",
                    help="continue the stopped (or finished) run in --out from its saved "
                    "states, to --steps")
    args = ap.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        ap.error("--steps must be >= 1")
    if args.eval_every < 1 or not args.metric_scale > 0 or not args.eval_scale > 0:
        ap.error("--eval-every must be >= 1 and the metric scales > 0")
    if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        ap.error("--seeds must be distinct and >= 0")
    if len(set(args.models)) != len(args.models):
        ap.error("--models must be distinct")
    if args.steps is None and not args.budget_s > 0:
        ap.error("give --steps or a --budget-s > 0")
    if args.resume and args.steps is None:
        ap.error("--resume needs --steps (a budget is planned for a fresh run only)")
    return args


# ----- stopping and continuing --------------------------------------------------------------


def state_path(out: Path, model: str, seed: int) -> Path:
    return out / STATE_DIR / f"{model}_s{seed}.pt"


def save_run(out: Path, model: str, seed: int, runner: Any, entry: dict[str, Any]) -> None:
    """One run's training state with its points so far, in one file: what it trained and
    what was scored cannot disagree after a crash."""
    save_state({"training": runner.training_state(), "result": entry},
               state_path(out, model, seed))


def check_resumable(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A resumed run continues the same comparison: :data:`RESUME_SAME` unchanged."""
    changed = [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in RESUME_SAME
               if old.get(k) != new.get(k)]
    if changed:
        raise SystemExit("error: --resume continues the run with its own settings; changed: "
                         + "; ".join(changed))


def eval_targets(start: int, steps: int, every: int) -> list[int]:
    """The steps the rounds train to after ``start``: multiples of ``every``, then ``steps``."""
    targets = list(range((start // every + 1) * every, steps, every))
    return [t for t in targets if t > start] + ([steps] if steps > start else [])


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but torch sees no CUDA device "
                         f"(torch {torch.__version__}).")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def environment(device: torch.device, workers: int) -> dict[str, Any]:
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if cuda else (cpu_model() + " (CPU)")
    return {"device": device.type, "device_name": name, "torch": torch.__version__,
            "cuda": torch.version.cuda if cuda else None, "python": platform.python_version(),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark) if cuda else None,
            "torch_threads": torch.get_num_threads(), "usable_cores": len(os.sched_getaffinity(0)),
            "render_workers": workers}




def metric_rows(scale: float) -> int:
    """Pictures one FactorVAE metric + MIG evaluation renders and encodes at ``scale`` (the
    sizes ``evaluate_disentanglement`` uses; fewer when FactorVAE prunes every dimension)."""
    from infovaegan_plugin.metrics.disentanglement import DISENTANGLEMENT_LIB_DEFAULTS as sizes

    n = {k: max(2, int(round(v * scale))) for k, v in sizes["factor_vae"].items()
         if k != "batch_size"}
    mig = max(2, int(round(sizes["mig"]["num_train"] * scale)))
    return (n["num_variance_estimate"] + (n["num_train"] + n["num_eval"])
            * sizes["factor_vae"]["batch_size"] + mig)


def probe(ref: Any, runs: dict[int, Any], args: argparse.Namespace, device: torch.device,
          pool: Any, workers: int, areas: tuple[float, float]) -> dict[str, Any]:
    """Throwaway models of every kind compared: seconds per training step (the InfoVAEGAN
    trainer's with and without AMP when ``--amp auto`` on CUDA), seconds per picture to
    render, to serve again and to encode for the metrics, and the rest of an evaluation
    (samples, sprites)."""
    cuda = device.type == "cuda"
    steps = args.probe_steps or (30 if cuda else 3)
    warmup = 5 if cuda else 1
    out: dict[str, Any] = {"timed_steps": steps, "warmup_steps": warmup, "s_per_step": {},
                           "encode_s_per_image": {}, "eval_fixed_s": {}}
    run = _variant(runs[args.seeds[0]], seed=PROBE_SEED)
    amp = args.amp == "on"
    timed_amp = next((m for m in args.models if m in TRAINER_MODELS), None)
    if timed_amp and args.amp == "auto" and cuda:
        timed = {}
        for choice in (False, True):
            runner = RUNNERS[timed_amp](ref, _variant(run, amp=choice), str(device), cuda)
            timed[choice] = time_steps(runner, warmup, steps)
        out["amp_s_per_step"] = {("amp" if a else "fp32"): t for a, t in timed.items()}
        amp = min(timed, key=lambda a: timed[a] * (1.0 if a else 0.95))  # AMP must win by 5%
    out["amp_chosen"] = amp
    probes = {}
    for model in args.models:
        runner = RUNNERS[model](ref, _variant(run, amp=amp), str(device), cuda)
        out["s_per_step"][model] = time_steps(runner, warmup, steps)
        probes[model] = runner
    out["step_s"] = sum(out["s_per_step"].values())
    data, rng = CachedGroundTruth(pool, workers), np.random.default_rng(PROBE_SEED)
    chunks = [data.sample_factors(1024, rng) for _ in range(8 if cuda else 2)]
    rows = 1024 * len(chunks)
    started = time.perf_counter()
    for chunk in chunks:
        data.sample_observations_from_factors(chunk, rng)
    out["render_s_per_image"] = (time.perf_counter() - started) / rows
    started = time.perf_counter()
    images = [data.sample_observations_from_factors(chunk, rng) for chunk in chunks]
    out["serve_s_per_image"] = (time.perf_counter() - started) / rows
    for model, runner in probes.items():
        with runner.evaluating():
            runner.represent(images[0][:64])  # warm-up (returns on the host: synchronous)
            started = time.perf_counter()
            for batch in images:
                runner.represent(batch)
            out["encode_s_per_image"][model] = (time.perf_counter() - started) / rows
        evaluate(runner, CachedGroundTruth(), PROBE_SEED, 1e-4, areas)  # imports, warm-up
        point = evaluate(runner, CachedGroundTruth(), PROBE_SEED, 1e-4, areas)
        out["eval_fixed_s"][model] = point["eval_s"]
    return out


def eval_estimates(p: dict[str, Any], eval_scale: float, metric_scale: float
                   ) -> dict[str, float]:
    """Seconds per seed, from a probe: every model scored at ``eval_scale`` on pictures
    rendered before (a round), the first rendering of those pictures, and every model scored
    at ``metric_scale`` (the first renders the pictures, the others are served them)."""
    models = len(p["encode_s_per_image"])
    encode = sum(p["encode_s_per_image"].values())
    fixed = sum(p["eval_fixed_s"].values())
    rows, final_rows = metric_rows(eval_scale), metric_rows(metric_scale)
    return {
        "round_eval_s": rows * (models * p["serve_s_per_image"] + encode) + fixed,
        "first_render_s": rows * p["render_s_per_image"],
        "final_s": final_rows * (p["render_s_per_image"] + (models - 1) * p["serve_s_per_image"]
                                 + encode) + fixed,
    }


def _variant(run: Any, **settings: Any) -> Any:
    """``run`` with some settings changed (the data stays: a probe trains on seed 0's)."""
    return replace(run, settings={**run.settings, **settings})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = args.started or time.time()
    deadline = None if args.steps is not None else started + args.budget_s
    device = resolve_device(args.device)
    workers = (args.render_workers if args.render_workers is not None
               else max(0, min(14, len(os.sched_getaffinity(0)) - 2)) if device.type == "cuda"
               else 0)
    # the render pool forks before CUDA starts and before any thread exists
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: both models alike
    import infovaegan_plugin  # noqa: F401  (registers InfoVAEGAN with pythae)

    ref = load_reference(Path(args.reference)) if "reference" in args.models else None
    out = Path(args.out)
    states = sorted((out / STATE_DIR).glob("*.pt"))
    if states and not args.resume:
        raise SystemExit(f"error: {out} holds the training state of a run ({out / STATE_DIR}, "
                         f"{len(states)} files): continue it with --resume, or choose another "
                         "--out")
    if args.resume and not (out / JSON_NAME).is_file():
        raise SystemExit(f"error: --resume: no run to continue in {out} (no {JSON_NAME})")
    out.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="dsprites_gpu_")
    record: dict[str, Any] = {
        "benchmark": "dsprites_gpu",
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "environment": environment(device, workers),
        "reference_script": {"path": str(args.reference), "sha256": hashlib.sha256(
            Path(args.reference).read_bytes()).hexdigest()} if ref is not None else None,
    }
    try:
        return _run(args, ref, device, pool, workers, out, scratch, record, started, deadline)
    finally:
        if pool is not None:
            pool.terminate()
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


def _run(args: argparse.Namespace, ref: Any, device: torch.device, pool: Any, workers: int,
         out: Path, scratch: str, record: dict[str, Any], started: float,
         deadline: float | None) -> dict[str, Any]:
    cuda = device.type == "cuda"
    old = json.loads((out / JSON_NAME).read_text()) if args.resume else None
    data = {seed: CachedGroundTruth(pool, workers) for seed in args.seeds}
    areas, real = real_area_range(), real_sprites()
    amp = {"on": True, "off": False, "auto": False}[args.amp]
    runs = {seed: prepared_run(seed, args.limit, amp, scratch) for seed in args.seeds}
    record["probe"] = old["probe"] if old else None
    steps = args.steps
    if old is not None:  # the precision the run was trained in, not a new probe's choice
        amp = next((bool(old["models"][m]["amp"]) for m in args.models if m in TRAINER_MODELS),
                   amp)
    elif steps is None or (args.amp == "auto" and cuda
                           and any(m in TRAINER_MODELS for m in args.models)):
        record["probe"] = probe(ref, runs, args, device, pool, workers, areas)
        amp = record["probe"]["amp_chosen"]
        print(f"probe: {json.dumps(record['probe'])}", flush=True)
    if steps is None:
        estimates = eval_estimates(record["probe"], args.eval_scale, args.metric_scale)
        estimates = {k: SAFETY_EVAL * v for k, v in estimates.items()}
        left = deadline - time.time()
        steps = plan_steps(left, len(args.seeds), record["probe"]["step_s"], args.eval_every,
                           fixed_s=FIXED_S, **estimates)
        record["plan"] = {"seconds_left": round(left, 1), **estimates, "fixed_s": FIXED_S,
                          "steps": steps}
        print(f"plan: {steps} steps per model in the {left:.0f} s left "
              f"({json.dumps(record['plan'])})", flush=True)
    models = tuple(args.models)
    runners: dict[str, dict[int, Any]] = {m: {} for m in models}
    for seed in args.seeds:
        for model in models:
            runners[model][seed] = RUNNERS[model](ref, _variant(runs[seed], amp=amp),
                                                  str(device), cuda)
    first = args.seeds[0]
    trained = next((runners[m][first] for m in models if hasattr(runners[m][first], "trainer")),
                   None)  # a runner with a data loader (the reference draws fresh sprites)
    record["settings"] = {
        "mode": "steps" if args.steps is not None else "budget", "budget_s": args.budget_s,
        "models": list(models), "seeds": args.seeds, "steps": steps,
        "eval_every": args.eval_every, "metric_scale": args.metric_scale,
        "eval_scale": args.eval_scale, "limit": args.limit,
        "infovaegan_train_images": trained.images_per_epoch if trained else None,
        "infovaegan_steps_per_epoch": len(trained.trainer.train_loader) if trained else None,
        "batch_size": 64, "sprite_samples": SPRITE_SAMPLES,
    }
    results: dict[str, dict[str, Any]] = {m: {} for m in models}
    for model in models:
        for seed in args.seeds:
            results[model][str(seed)] = {"steps": 0, "train_s": 0.0, "eval_s": 0.0,
                                         "ms_per_step": 0.0, "curve": [], "final": None}
    wall_before = 0.0
    if old is not None:
        check_resumable(old["settings"], record["settings"])
        for model in models:
            for seed in args.seeds:
                saved = load_state(state_path(out, model, seed))
                runners[model][seed].load_training_state(saved["training"])
                results[model][str(seed)] = saved["result"]
        at = {m: {str(s): runners[m][s].steps for s in args.seeds} for m in models}
        if max(v for per in at.values() for v in per.values()) > steps:
            raise SystemExit(f"error: --steps {steps} is below where the run stands ({at})")
        record["resumed"] = [*old.get("resumed", []), {"at_steps": at, "time": time.time()}]
        wall_before = float(old.get("wall_s_total", old.get("wall_s", 0.0)))
        print(f"resumed from {out / STATE_DIR}: {json.dumps(at)}", flush=True)
    record["models"] = {m: {"amp": runners[m][args.seeds[0]].amp,
                            "amp_dtype": getattr(runners[m][args.seeds[0]], "amp_dtype", None),
                            "seeds": results[m]} for m in models}

    def write_record() -> None:
        record["wall_s"] = round(time.time() - started, 1)
        record["wall_s_total"] = round(wall_before + record["wall_s"], 1)
        write_json(out / JSON_NAME, record)

    def score(seed: int, scale: float, final: bool) -> None:
        for model in models:
            runner = runners[model][seed]
            entry = results[model][str(seed)]
            done_before = entry["final"] if final else (entry["curve"] or [None])[-1]
            if done_before is not None and done_before["step"] == runner.steps:
                continue  # scored before the run stopped
            point = evaluate(runner, data[seed], seed, scale, areas, real)
            entry.update(steps=runner.steps, train_s=round(runner.train_s, 2),
                         ms_per_step=round(1e3 * runner.train_s / max(runner.steps, 1), 3))
            entry["eval_s"] = round(entry["eval_s"] + point["eval_s"], 2)
            entry["curve"].append(point)
            if final:
                entry["final"] = point
            save_run(out, model, seed, runner, entry)
            print(f"{model} seed {seed} step {runner.steps} (scale {scale:g}): FactorVAE "
                  f"{point['factor_vae']:.3f} MIG {point['mig']:.3f} sprites "
                  f"{point['sprite_fraction']:.3f} ({point['eval_s']:.1f} s); "
                  f"{factor_line(point)}", flush=True)
        write_record()

    def stop_here(stop: list[int]) -> None:
        for model in models:
            for seed in args.seeds:
                save_run(out, model, seed, runners[model][seed], results[model][str(seed)])
        at = {m: {str(s): runners[m][s].steps for s in args.seeds} for m in models}
        record["settings"]["stopped"] = {"signal": stopped_by(stop), "at_steps": at}
        write_record()
        command = record["command"] + ("" if args.resume else " --resume")
        raise SystemExit(f"stopped by {stopped_by(stop)} at {json.dumps(at)}: every run's state is "
                         f"in {out / STATE_DIR}; continue with: {command}")

    start = min(r.steps for per in runners.values() for r in per.values())
    done, last_round_s = start, None
    final_estimate = record.get("plan", {}).get("final_s", 0.0)
    with stop_requests() as stop:
        for target in eval_targets(start, steps, args.eval_every):
            if deadline is not None and done > start and last_round_s is not None:
                needed = (last_round_s * (target - done) / args.eval_every
                          + len(args.seeds) * final_estimate + FIXED_S)
                if time.time() + needed > deadline:
                    print(f"stopping at step {done}: the next round would not leave time for "
                          "the final evaluations", flush=True)
                    record["settings"]["stopped_early_at"] = done
                    break
            round_started = time.time()
            for seed in args.seeds:
                for model in models:
                    runner = runners[model][seed]
                    if not train_to(runner, target, stop):
                        stop_here(stop)
                    print(f"{model} seed {seed}: step {runner.steps} of {steps} "
                          f"({1e3 * runner.train_s / max(runner.steps, 1):.0f} ms/step)",
                          flush=True)
            done = target
            if done < steps:
                for seed in args.seeds:
                    score(seed, args.eval_scale, final=False)
            last_round_s = time.time() - round_started
        record["settings"]["steps"] = done
        for seed in args.seeds:
            score(seed, args.metric_scale, final=True)
            data[seed].clear()
    record["traversals"] = {
        model: traversal_grid(runners[model][first], out / f"traversal_{model}.png", first)
        for model in models}
    if args.keep_models:
        record["saved_models"] = {
            model: {str(seed): str(runners[model][seed].save(
                out / "models" / f"{model}_s{seed}").relative_to(out)) for seed in args.seeds}
            for model in models}
    record["summary"] = summary(results)
    record["render"] = {str(s): dict(d.stats) for s, d in data.items()}
    chart(out / CHART_NAME, results, (args.eval_scale, args.metric_scale))
    record["files"] = sorted({JSON_NAME, *(p.name for p in out.iterdir() if p.is_file())})
    write_record()
    print_table(record)
    print(f"wrote {out / JSON_NAME} ({record['wall_s']:.0f} s)", flush=True)
    return record


if __name__ == "__main__":
    main()

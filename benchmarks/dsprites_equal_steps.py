"""Every dSprites model at equal steps, from runs trained apart but scored alike.

``benchmarks/dsprites_gpu.py`` (any ``--models``) and ``benchmarks/dsprites_bisect.py`` score
their models with the same ``evaluate`` (FactorVAE metric and MIG at disentanglement_lib's
sample sizes times a scale, the same factor rows for a seed), and the reference script prints
its own points. This gathers those points into one comparison: per model, the mean and spread
over seeds at each step every seed reached, the paired differences against each
``--paired-with`` model, a JSON and a PNG of both metrics against steps (the means only).

- ``--gpu-json``: a ``dsprites_gpu.json``; each of its models under its own name;
- ``--bisect-arm``: an ``arm_<name>_s<seed>.json``; the ``preset`` arm under its variant's name
  (``infovaegan``, ``infogan``), another arm as ``variant:arm`` (``--arm-as VARIANT:ARM=MODEL``:
  an arm that a preset has since taken, under the model's name; the bisection's test shows the
  arm and the preset are the same training);
- ``--reference-jsonl SEED=PATH``: the reference script's JSON lines for that seed, as
  ``reference script``.

Only points at ``--scale`` are kept (a run's final point may be at another). The same model and
seed from two sources is an error: a comparison must not average a run with itself.

    python benchmarks/dsprites_equal_steps.py --out benchmarks/results/dsprites_equal_steps_4k \\
        --gpu-json runs/vae4k/dsprites_gpu.json \\
        --bisect-arm benchmarks/results/dsprites_bisect_4k/arm_preset_s{0,1,2}.json \\
        --bisect-arm benchmarks/results/dsprites_bisect_4k_infovaegan/arm_preset_s{0,1,2}.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dsprites_gpu import chart, write_json  # noqa: E402  (benchmarks/, the script's own folder)

from infovaegan_plugin.evaluation.report import factor_means  # noqa: E402

METRICS = ("factor_vae", "mig")
#: what a point may hold besides the metrics (runs from before reconstruction was scored lack
#: the reconstruction scores; the reference script's lines hold neither)
EXTRAS = ("sprite_fraction", "recon_mse", "recon_iou")
#: the FactorVAE metric's accuracy by factor (points scored since the breakdown is recorded)
BY_FACTOR = "factor_vae_per_factor"
REFERENCE = "reference script"
JSON_NAME = "dsprites_equal_steps.json"
CHART_NAME = "equal_steps_metrics_vs_steps.png"

Curves = dict[str, dict[str, list[dict[str, Any]]]]  # model -> seed -> points


def _add(curves: Curves, model: str, seed: str, points: list[dict[str, Any]],
         source: str) -> None:
    if not points:  # nothing at the compared scale
        return
    if seed in curves.setdefault(model, {}):
        raise SystemExit(f"error: {model} seed {seed} is given twice (again in {source})")
    curves[model][seed] = points


def _keep(points: list[dict[str, Any]], scale: float) -> list[dict[str, Any]]:
    return [{k: p[k] for k in ("step", *METRICS, *EXTRAS, BY_FACTOR) if k in p}
            for p in points if abs(p.get("metric_scale", scale) - scale) < 1e-9]


def seed_and_path(spec: str, option: str) -> tuple[str, str]:
    """``SEED=PATH`` of ``option`` split, or an error that names the option."""
    seed, _, path = spec.partition("=")
    if not seed.isdigit() or not path:
        raise SystemExit(f"error: {option} takes SEED=PATH, got {spec!r}")
    return seed, path


def arm_names(specs: list[str]) -> dict[str, str]:
    """``--arm-as VARIANT:ARM=MODEL`` as ``variant:arm`` -> model, or an error naming it."""
    names = {}
    for spec in specs:
        arm, _, model = spec.partition("=")
        if ":" not in arm or not model:
            raise SystemExit(f"error: --arm-as takes VARIANT:ARM=MODEL, got {spec!r}")
        names[arm] = model
    return names


def gather(gpu_jsons: list[Path], bisect_arms: list[Path], reference: list[str],
           scale: float, arm_as: dict[str, str] | None = None) -> Curves:
    """model -> seed -> the points at ``scale`` (step, FactorVAE, MIG, sprites)."""
    curves: Curves = {}
    arm_as = arm_as or {}
    for path in gpu_jsons:
        record = json.loads(Path(path).read_text())
        for model, entry in record["models"].items():
            for seed, run in entry["seeds"].items():
                _add(curves, model, seed, _keep(run["curve"], scale), str(path))
    for path in bisect_arms:
        arm = json.loads(Path(path).read_text())
        name = arm["variant"] if arm["arm"] == "preset" else f"{arm['variant']}:{arm['arm']}"
        name = arm_as.get(name, name)
        _add(curves, name, str(arm["seed"]), _keep(arm["curve"], scale), str(path))
    for spec in reference:
        seed, path = seed_and_path(spec, "--reference-jsonl")
        points = []
        for line in Path(path).read_text().splitlines():
            entry = json.loads(line) if line.startswith("{") else {}
            if all(k in entry for k in ("step", *METRICS)):
                # its "sprite_fraction" counts any lit pixel, not a sprite's size: left out
                points.append({"step": entry["step"], "factor_vae": entry["factor_vae"],
                               "mig": entry["mig"], "metric_scale": scale})
        _add(curves, REFERENCE, seed, _keep(points, scale), path)
    return curves


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def compare(curves: Curves, paired_with: list[str]) -> dict[str, Any]:
    """Per model and step (every seed of the model there): mean and std of each metric; the
    paired differences (this model minus the other) against each of ``paired_with`` on the
    seeds both have at that step."""
    out: dict[str, Any] = {}
    others = {name: {s: {p["step"]: p for p in points} for s, points in curves[name].items()}
              for name in paired_with if name in curves}
    for model, seeds in curves.items():
        by_seed = {s: {p["step"]: p for p in points} for s, points in seeds.items()}
        steps = sorted(set.intersection(*(set(c) for c in by_seed.values())))
        rows = {}
        for step in steps:
            row: dict[str, Any] = {"seeds": sorted(by_seed, key=int)}
            for metric in (*METRICS, *EXTRAS):
                values = [c[step][metric] for c in by_seed.values() if metric in c[step]]
                if len(values) == len(by_seed):  # a mean of some seeds is not the model's
                    row[metric] = _spread(values)
            by_factor = factor_means([c[step].get(BY_FACTOR) for c in by_seed.values()])
            if by_factor:
                row[BY_FACTOR] = by_factor
            for name, other in others.items():
                paired = sorted((s for s in by_seed if step in other.get(s, {})), key=int)
                if name != model and paired:
                    row.setdefault("paired", {})[name] = {
                        "seeds": paired,
                        **{metric: [by_seed[s][step][metric] - other[s][step][metric]
                                    for s in paired]
                           for metric in (*METRICS, "recon_mse", "recon_iou")
                           if all(metric in by_seed[s][step] and metric in other[s][step]
                                  for s in paired)}}
            rows[str(step)] = row
        out[model] = rows
    return out


def print_table(comparison: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="dSprites at equal steps (mean ± std over seeds)")
    for column in ("model", "step", "seeds", "FactorVAE", "MIG", "sprites", "recon MSE",
                   "recon IoU", "paired FactorVAE"):
        table.add_column(column, justify="right")
    for model, rows in comparison.items():
        for step, row in rows.items():
            cells = [f"{row[m]['mean']:.{d}f} ± {row[m]['std']:.{d}f}" if m in row else "-"
                     for m, d in (("factor_vae", 3), ("mig", 3), ("sprite_fraction", 3),
                                  ("recon_mse", 4), ("recon_iou", 3))]
            diff = "; ".join(" ".join(f"{d:+.3f}" for d in p["factor_vae"]) + f" vs {name}"
                             for name, p in row.get("paired", {}).items())
            table.add_row(model, step, ",".join(row["seeds"]), *cells, diff)
    Console(width=max(Console().width, 120)).print(table)
    rows = [(model, step, row[BY_FACTOR]) for model, by_step in comparison.items()
            for step, row in by_step.items() if BY_FACTOR in row]
    if rows:
        names = list(dict.fromkeys(n for *_, means in rows for n in means))
        table = Table(title="FactorVAE accuracy by factor (mean over seeds; chance 0.2)")
        for column in ("model", "step", *names):
            table.add_column(column, justify="right")
        for model, step, means in rows:
            table.add_row(model, step, *(f"{means[n]:.3f}" if n in means else "-"
                                         for n in names))
        Console(width=max(Console().width, 120)).print(table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--gpu-json", nargs="*", default=[], type=Path)
    ap.add_argument("--bisect-arm", nargs="*", default=[], type=Path)
    ap.add_argument("--reference-jsonl", nargs="*", default=[], metavar="SEED=PATH")
    ap.add_argument("--arm-as", nargs="*", default=[], metavar="VARIANT:ARM=MODEL",
                    help="show a bisection arm a preset has taken under the model's name")
    ap.add_argument("--scale", type=float, default=0.2,
                    help="the metric scale of the points compared")
    ap.add_argument("--paired-with", nargs="*", default=["infogan"],
                    help="the models every other is paired with, seed by seed")
    args = ap.parse_args(argv)
    if not (args.gpu_json or args.bisect_arm or args.reference_jsonl):
        ap.error("give at least one --gpu-json, --bisect-arm or --reference-jsonl")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    curves = gather(args.gpu_json, args.bisect_arm, args.reference_jsonl, args.scale,
                    arm_names(args.arm_as))
    if not curves:
        raise SystemExit(f"error: no point at metric scale {args.scale:g} in the inputs")
    comparison = compare(curves, args.paired_with)
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": "dsprites_equal_steps",
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None
                                                         else sys.argv[1:])]),
        "scale": args.scale,
        "sources": {"gpu_json": [str(p) for p in args.gpu_json],
                    "bisect_arm": [str(p) for p in args.bisect_arm],
                    "reference_jsonl": args.reference_jsonl, "arm_as": args.arm_as},
        "comparison": comparison,
        "curves": curves,
    }
    results = {m: {s: {"curve": pts} for s, pts in seeds.items()} for m, seeds in curves.items()}
    chart(args.out / CHART_NAME, results, (args.scale, args.scale), each_seed=False)
    write_json(args.out / JSON_NAME, record)
    print_table(comparison)
    print(f"wrote {args.out / JSON_NAME} and {CHART_NAME}", flush=True)
    return record


if __name__ == "__main__":
    main()

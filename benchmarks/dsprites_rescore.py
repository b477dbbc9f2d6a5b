"""Score kept dSprites models again at another metric scale, with the comparison's own
``evaluate`` (FactorVAE metric, MIG, sprites, reconstruction of the fixed real sprites).

A run of ``benchmarks/dsprites_gpu.py --keep-models`` scores its models at a reduced scale to
save time; this scores what it kept at disentanglement_lib's sample sizes (``--scale 1.0``)
afterwards, without training again. The reference script's ``--checkpoint`` files are scored
the same way (``--reference-checkpoint SEED=PATH``, as the model ``reference script``), and so
are the saved states of ``benchmarks/dsprites_bisect.py``'s arms (``--arm-state
OUT/state/arm_<arm>_s<seed>.pt``, as the model ``VARIANT[ARM]``; its seed is the state's). Every
model of a seed draws the same factor rows (the metrics' streams are seeded by the seed), so
each picture is rendered once per seed.

Writes ``OUT/dsprites_rescore.json`` shaped as ``dsprites_gpu.json`` (models, seeds, a curve of
one point each), which ``benchmarks/dsprites_equal_steps.py --gpu-json`` reads, and prints a
table. On two cores, a model at scale 1.0 takes minutes (about 980,000 pictures encoded).

    python benchmarks/dsprites_rescore.py --out runs/rescore --scale 1.0 \\
        --gpu-json runs/recon4k/dsprites_gpu.json \\
        --reference-checkpoint 0=runs/ref/ref_s0.pt --threads 1
    python benchmarks/dsprites_rescore.py --out runs/rescore_arm --scale 1.0 \\
        --arm-state runs/bisect/state/arm_pooled_category_s0.pt --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dsprites_gpu import (  # noqa: E402  (benchmarks/, the script's own folder)
    REPO,
    evaluate,
    print_per_factor,
    real_area_range,
    real_sprites,
    write_json,
)
from dsprites_equal_steps import REFERENCE, seed_and_path  # noqa: E402
from dsprites_gpu_runners import (  # noqa: E402
    CachedGroundTruth,
    load_arm_state,
    load_reference,
    load_saved,
)

JSON_NAME = "dsprites_rescore.json"


def kept_models(gpu_json: Path) -> list[tuple[str, int, Path, int]]:
    """(model, seed, path, steps) of every model a ``--keep-models`` run saved."""
    record = json.loads(Path(gpu_json).read_text())
    saved = record.get("saved_models")
    if not saved:
        raise SystemExit(f"error: {gpu_json} lists no kept models (run it with --keep-models)")
    return [(model, int(seed), Path(gpu_json).parent / rel,
             record["models"][model]["seeds"][seed]["steps"])
            for model, seeds in saved.items() for seed, rel in seeds.items()]


def reference_checkpoints(specs: list[str]) -> list[tuple[str, int, Path, int]]:
    out = []
    for spec in specs:
        seed, path = seed_and_path(spec, "--reference-checkpoint")
        if not Path(path).is_file():
            raise SystemExit(f"error: reference checkpoint not found: {path}")
        out.append((REFERENCE, int(seed), Path(path), 0))  # the step is the file's
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--gpu-json", nargs="*", default=[], type=Path,
                    help="dsprites_gpu.json files of --keep-models runs")
    ap.add_argument("--reference-checkpoint", nargs="*", default=[], metavar="SEED=PATH",
                    help="the reference script's --checkpoint files")
    ap.add_argument("--arm-state", nargs="*", default=[], type=Path, metavar="PATH",
                    help="dsprites_bisect.py's saved arm states (OUT/state/arm_*.pt)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="disentanglement_lib's sample sizes times this")
    ap.add_argument("--reference", default=str(REPO.parent / "shared" / "reference"
                                               / "infogan_dsprites.py"))
    ap.add_argument("--seeds", type=int, nargs="*", default=None,
                    help="score only these seeds (e.g. one process per core)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    if not (args.gpu_json or args.reference_checkpoint or args.arm_state):
        ap.error("give at least one --gpu-json, --reference-checkpoint or --arm-state")
    if not args.scale > 0:
        ap.error("--scale must be > 0")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import infovaegan_plugin  # noqa: F401  (registers InfoVAEGAN with pythae)

    jobs = [job for path in args.gpu_json for job in kept_models(path)]
    jobs += reference_checkpoints(args.reference_checkpoint)
    arms = {path: load_arm_state(path) for path in args.arm_state}  # small models, loaded once
    jobs += [(runner.name, seed, path, runner.steps) for path, (runner, seed) in arms.items()]
    if args.seeds is not None:
        jobs = [job for job in jobs if job[1] in args.seeds]
    if not jobs:
        raise SystemExit("error: no kept model of the seeds asked for")
    ref = load_reference(Path(args.reference)) if args.reference_checkpoint else None
    areas, real = real_area_range(), real_sprites()
    record: dict[str, Any] = {
        "benchmark": "dsprites_rescore",
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None
                                                         else sys.argv[1:])]),
        "scale": args.scale, "torch_threads": torch.get_num_threads(), "models": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    from rich.progress import Progress

    with Progress() as progress:
        task = progress.add_task("scoring kept models", total=len(jobs))
        for seed in sorted({job[1] for job in jobs}):
            data = CachedGroundTruth()  # one seed's pictures, rendered once for its models
            for model, _, path, steps in (j for j in jobs if j[1] == seed):
                runner = arms[path][0] if path in arms else load_saved(
                    "reference" if model == REFERENCE else model, path, steps, ref=ref, seed=seed)
                started = time.perf_counter()
                point = evaluate(runner, data, seed, args.scale, areas, real)
                for unmeasured in ("losses", "train_s"):  # nothing trained here
                    point.pop(unmeasured)
                point["source"] = str(path)
                entry = {"steps": runner.steps, "curve": [point], "final": point}
                record["models"].setdefault(model, {"seeds": {}})["seeds"][str(seed)] = entry
                write_json(args.out / JSON_NAME, record)
                progress.console.print(
                    f"{model} seed {seed} step {runner.steps} (scale {args.scale:g}): FactorVAE "
                    f"{point['factor_vae']:.3f} MIG {point['mig']:.3f} recon MSE "
                    f"{point['recon_mse']:.4f} IoU {point['recon_iou']:.3f} "
                    f"({time.perf_counter() - started:.0f} s)")
                progress.advance(task)
    print_table(record)
    print(f"wrote {args.out / JSON_NAME}", flush=True)
    return record


def print_table(record: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dSprites, kept models at metric scale {record['scale']:g}")
    for column in ("model", "seed", "step", "FactorVAE", "MIG", "sprites", "recon MSE",
                   "recon IoU"):
        table.add_column(column, justify="right")
    for model, entry in record["models"].items():
        for seed, run in entry["seeds"].items():
            p = run["final"]
            table.add_row(model, seed, str(run["steps"]), f"{p['factor_vae']:.3f}",
                          f"{p['mig']:.3f}", f"{p['sprite_fraction']:.3f}",
                          f"{p['recon_mse']:.4f}", f"{p['recon_iou']:.3f}")
    Console(width=max(Console().width, 100)).print(table)
    print_per_factor(record["models"])


if __name__ == "__main__":
    main()

"""Does the label-free score pick the good runs? What ``infovaegan train --restarts K`` keeps.

Reads finished ``infovaegan train --dataset mnist`` runs (one folder per seed, every epoch's
checkpoint kept), scores each checkpoint as the restarts do
(:func:`infovaegan_plugin.restarts.selection_score`: code information on the first 10,000
training images, no labels) and by Hungarian accuracy on the 10,000 test images, then replays
the restarts of every base seed whose candidates (``s``, ``s + 1000``, ...) are all present:
the candidate with the best score after ``E`` epochs is kept and, because resuming gives the
uninterrupted run, ends as that seed's own final checkpoint. Prints a table, writes JSON.

The runs, one per seed (one core each, ~32 min on this machine):

    infovaegan train --dataset mnist --data-dir ../shared/data/mnist --epochs 3 --threads 1 \
        --keep-checkpoints 0 --seed S --output-dir runs/sS

    python benchmarks/restarts_selection.py --data-dir ../shared/data/mnist --restarts 3 \
        --run 0=runs/s0 --run 1000=runs/s1000 ... --output benchmarks/results/restarts_mnist.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from infovaegan_plugin import InfoVAEGAN
from infovaegan_plugin.data.mnist import load_mnist
from infovaegan_plugin.evaluation.adapters import InfoVAEGANAdapter
from infovaegan_plugin.metrics.clustering import unsupervised_accuracy
from infovaegan_plugin.restarts import (
    RESTART_SEED_STRIDE,
    SCORE_IMAGES,
    pick_best,
    restart_seeds,
    selection_score,
)


def checkpoints(run: Path) -> dict[int, Path]:
    """``{epoch: checkpoint folder}`` of a run folder (or of the one run folder inside it)."""
    found = {int(p.name.rsplit("_", 1)[1]): p for p in run.rglob("checkpoint_epoch_*")
             if (p / "model.pt").is_file()}
    if not found:
        raise SystemExit(f"{run}: no checkpoint_epoch_N folder (train with --keep-checkpoints 0)")
    return dict(sorted(found.items()))


def test_accuracy(model: InfoVAEGAN, images: np.ndarray, labels: np.ndarray) -> float:
    """Hungarian accuracy of the first categorical code, as ``infovaegan evaluate`` clusters."""
    return unsupervised_accuracy(labels, InfoVAEGANAdapter(model).cluster(images, 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--run", action="append", required=True, metavar="SEED=FOLDER",
                        help="a finished run of seed SEED (repeat)")
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="benchmarks/results/restarts_mnist.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = {int(s): Path(f) for s, f in (item.split("=", 1) for item in args.run)}
    train = load_mnist(args.data_dir, "train", limit=SCORE_IMAGES)
    test = load_mnist(args.data_dir, "test")

    per_seed: dict[int, dict[int, dict]] = {}
    for seed, folder in sorted(runs.items()):
        per_seed[seed] = {}
        for epoch, checkpoint in checkpoints(folder).items():
            model = InfoVAEGAN.load_from_folder(str(checkpoint))
            per_seed[seed][epoch] = {
                "score": selection_score(model, train.images),
                "test_accuracy": test_accuracy(model, test.images, test.labels),
                "checkpoint": str(checkpoint)}
            print(f"seed {seed} epoch {epoch}: {per_seed[seed][epoch]['score']:.4f} nats, "
                  f"accuracy {per_seed[seed][epoch]['test_accuracy']:.4f}", flush=True)
    last = min(max(epochs) for epochs in per_seed.values())

    replays = []
    for base in sorted(runs):
        seeds = restart_seeds(base, args.restarts)
        if base >= RESTART_SEED_STRIDE or not all(s in per_seed for s in seeds):
            continue
        for after in range(1, last + 1):
            chosen = seeds[pick_best([per_seed[s][after]["score"] for s in seeds])]
            replays.append({
                "base_seed": base, "candidates": seeds, "after_epochs": after,
                "chosen_seed": chosen,
                "final_accuracy": per_seed[chosen][last]["test_accuracy"],
                "plain_run_accuracy": per_seed[base][last]["test_accuracy"],
                "best_candidate_accuracy": max(per_seed[s][last]["test_accuracy"]
                                               for s in seeds),
                "epochs_trained": args.restarts * after + (last - after)})

    console = Console()
    table = Table(title=f"every run: code information (nats) / test accuracy per epoch")
    table.add_column("seed")
    for epoch in range(1, last + 1):
        table.add_column(f"epoch {epoch}", justify="right")
    for seed, epochs in per_seed.items():
        table.add_row(str(seed), *(f"{epochs[e]['score']:.4f} / {epochs[e]['test_accuracy']:.4f}"
                                   for e in range(1, last + 1)))
    console.print(table)
    summary = Table(title=f"--restarts {args.restarts}: accuracy after {last} epochs")
    for column in ("choice after", "base seeds", "plain runs (mean)", "kept run (mean)",
                   "best candidate (mean)", "epochs trained"):
        summary.add_column(column, justify="right")
    means = {}
    for after in range(1, last + 1):
        rows = [r for r in replays if r["after_epochs"] == after]
        if not rows:
            continue
        mean = {k: float(np.mean([r[k] for r in rows]))
                for k in ("plain_run_accuracy", "final_accuracy", "best_candidate_accuracy")}
        means[after] = {**mean, "base_seeds": [r["base_seed"] for r in rows]}
        summary.add_row(f"epoch {after}", ", ".join(str(r["base_seed"]) for r in rows),
                        f"{mean['plain_run_accuracy']:.4f}", f"{mean['final_accuracy']:.4f}",
                        f"{mean['best_candidate_accuracy']:.4f}", str(rows[0]["epochs_trained"]))
    console.print(summary)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "command": " ".join(sys.argv), "machine": platform.processor() or platform.machine(),
        "score_images": len(train), "restarts": args.restarts,
        "runs": {str(s): {str(e): v for e, v in ep.items()} for s, ep in per_seed.items()},
        "replays": replays, "means_by_choice_epoch": {str(k): v for k, v in means.items()},
    }, indent=2) + "\n")
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Every epoch of finished MNIST runs, scored alike: accuracy, reconstruction, code information.

Compares variants (e.g. InfoVAEGAN against its InfoGAN ablation) at the same seeds and budget
from their kept checkpoints: for each ``checkpoint_epoch_N`` the Hungarian accuracy of the
categorical code on the 10,000 test images (as ``infovaegan evaluate`` clusters), the mean
per-image MSE of reconstructing those images (``model.reconstruct``: posterior mode) and the
code information on the first 10,000 training images (the score ``--restarts`` chooses by,
no labels), beside what the run logged in that epoch (:data:`TRAINING_SIGNALS`). A run continued with ``--resume`` into another folder is stitched by giving the
same ``VARIANT:SEED`` twice. ``--previous`` reuses the scores an earlier output holds for the
same checkpoint folders (scoring takes ~40 s a checkpoint); ``--carry VARIANT`` copies that
variant's runs from ``--previous`` as they were scored, for runs whose folders are gone.
``--pair A:B`` adds, per epoch, the paired differences A - B over the seeds both variants have
(mean, standard error, seeds A is ahead on): "same seeds and budget" read seed by seed, not
as two means. Prints tables, writes JSON.

    infovaegan train --dataset mnist --data-dir ../shared/data/mnist --epochs 5 --threads 1 \
        --keep-checkpoints 0 --seed S [--variant infogan] --output-dir runs/VARIANT_sS

    python benchmarks/checkpoint_scores.py --run infovaegan:0=runs/infovaegan_s0 \
        --run infogan:0=runs/infogan_s0 ... --output benchmarks/results/variants_5ep.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from infovaegan_plugin import InfoVAEGAN
from infovaegan_plugin.data.mnist import load_mnist
from infovaegan_plugin.metrics.reconstruction import evaluate_reconstruction
from infovaegan_plugin.restarts import SCORE_IMAGES, selection_score
from restarts_selection import checkpoints, test_accuracy  # benchmarks/, the script's own folder


def parse_run(item: str) -> tuple[str, int, Path]:
    """``VARIANT:SEED=FOLDER`` -> (variant, seed, folder)."""
    key, sep, folder = item.partition("=")
    variant, colon, seed = key.partition(":")
    if not (sep and colon and seed.lstrip("-").isdigit()):
        raise SystemExit(f"--run takes VARIANT:SEED=FOLDER, got {item!r}")
    return variant, int(seed), Path(folder)


def score(checkpoint: Path, train: np.ndarray, test) -> dict[str, float | str]:
    model = InfoVAEGAN.load_from_folder(str(checkpoint)).eval()
    recon = evaluate_reconstruction(model.reconstruct, test.images)
    return {"test_accuracy": test_accuracy(model, test.images, test.labels),
            "test_recon_mse": float(recon["mse"]),
            "code_information": selection_score(model, train),
            "checkpoint": str(checkpoint)}


#: What the run itself logged in the epoch that ended at a checkpoint: the signals that say why
#: one run clusters better than another (who wins the game, how well each code is recovered).
TRAINING_SIGNALS = ("d_real_accuracy", "d_fake_accuracy", "adversarial_loss",
                    "mi_categorical", "mi_continuous", "sat_consistency", "kl_noise",
                    "train_time_s")


def training_signals(checkpoint: Path, epoch: int) -> dict[str, float]:
    """That epoch's :data:`TRAINING_SIGNALS` from the run's ``final_model/training_history.json``
    (empty when the run did not finish or did not log them)."""
    history = checkpoint.parent / "final_model" / "training_history.json"
    if not history.is_file():
        return {}
    for row in json.loads(history.read_text()):
        if row.get("epoch") == epoch:
            return {k: float(row[k]) for k in TRAINING_SIGNALS if k in row}
    return {}


def paired_differences(runs: dict[tuple[str, int], dict[int, dict]], first: str, second: str,
                       key: str = "test_accuracy") -> list[dict]:
    """Per epoch, ``first - second`` on every seed both variants reached that epoch with.

    The seeds' own spread is what a difference of means must beat; the standard error of the
    paired mean (sample sd / sqrt(n), None below two seeds) says how far it does.
    """
    seeds = sorted({s for v, s in runs if v == first} & {s for v, s in runs if v == second})
    epochs = sorted({e for s in seeds for e in runs[(first, s)]} &
                    {e for s in seeds for e in runs[(second, s)]})
    rows = []
    for epoch in epochs:
        both = [s for s in seeds if epoch in runs[(first, s)] and epoch in runs[(second, s)]]
        diffs = [runs[(first, s)][epoch][key] - runs[(second, s)][epoch][key] for s in both]
        rows.append({
            "epoch": epoch, "seeds": both, "differences": diffs,
            "mean": float(np.mean(diffs)),
            "standard_error": (float(np.std(diffs, ddof=1) / np.sqrt(len(diffs)))
                               if len(diffs) > 1 else None),
            "ahead": sum(d > 0 for d in diffs), "behind": sum(d < 0 for d in diffs)})
    return rows


def parse_pair(item: str) -> tuple[str, str]:
    first, sep, second = item.partition(":")
    if not sep or not first or not second:
        raise SystemExit(f"--pair takes VARIANT_A:VARIANT_B, got {item!r}")
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--run", action="append", required=True, metavar="VARIANT:SEED=FOLDER",
                        help="a finished run (repeat; the same VARIANT:SEED twice stitches a "
                             "resumed run)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--previous", default=None,
                        help="an earlier output whose scores of the same checkpoints are reused")
    parser.add_argument("--carry", action="append", default=[], metavar="VARIANT",
                        help="copy this variant's runs from --previous unchanged (repeat)")
    parser.add_argument("--pair", action="append", default=[], metavar="A:B",
                        help="paired differences A - B per epoch over the shared seeds (repeat)")
    parser.add_argument("--output", default="benchmarks/results/checkpoint_scores.json")
    args = parser.parse_args()
    pairs = [parse_pair(item) for item in args.pair]
    if args.carry and not args.previous:
        raise SystemExit("--carry copies runs from --previous; give --previous too")
    known: dict[str, dict] = {}
    carried: dict[tuple[str, int], dict[int, dict]] = {}
    if args.previous:
        for key, epochs in json.loads(Path(args.previous).read_text())["runs"].items():
            known.update({r["checkpoint"]: r for r in epochs.values()})
            variant, _, seed = key.rpartition(":")
            if variant in args.carry:
                carried[(variant, int(seed))] = {int(e): r for e, r in epochs.items()}
        missing = set(args.carry) - {v for v, _ in carried}
        if missing:
            raise SystemExit(f"--carry: {args.previous} holds no runs of {sorted(missing)}")
    torch.set_num_threads(args.threads)
    folders: dict[tuple[str, int], dict[int, Path]] = defaultdict(dict)
    for variant, seed, folder in map(parse_run, args.run):
        folders[(variant, seed)].update(checkpoints(folder))
    variants = {v for v, _ in carried} | {v for v, _ in folders}
    for first, second in pairs:  # before any scoring, so a typo costs nothing
        if absent := sorted({first, second} - variants):
            raise SystemExit(f"--pair {first}:{second}: no runs of {', '.join(absent)}")
    train = load_mnist(args.data_dir, "train", limit=SCORE_IMAGES).images
    test = load_mnist(args.data_dir, "test")

    runs: dict[tuple[str, int], dict[int, dict]] = dict(sorted(carried.items()))
    for (variant, seed), by_epoch in sorted(folders.items()):
        runs[(variant, seed)] = {}
        for epoch, checkpoint in sorted(by_epoch.items()):
            runs[(variant, seed)][epoch] = {
                **(known.get(str(checkpoint)) or score(checkpoint, train, test)),
                "training_signals": training_signals(checkpoint, epoch)}
            r = runs[(variant, seed)][epoch]
            print(f"{variant} seed {seed} epoch {epoch}: accuracy {r['test_accuracy']:.4f}, "
                  f"recon MSE {r['test_recon_mse']:.4f}, {r['code_information']:.4f} nats",
                  flush=True)
    last = max(max(e) for e in runs.values())

    console = Console(width=160)
    table = Table(title="test accuracy per epoch (recon MSE, code information after the last)")
    for column in ("variant", "seed", *(f"epoch {e}" for e in range(1, last + 1)),
                   "recon MSE", "nats"):
        table.add_column(column, justify="right")
    for (variant, seed), epochs in runs.items():
        final = epochs[max(epochs)]
        table.add_row(variant, str(seed),
                      *(f"{epochs[e]['test_accuracy']:.4f}" if e in epochs else "-"
                        for e in range(1, last + 1)),
                      f"{final['test_recon_mse']:.4f}", f"{final['code_information']:.4f}")
    means: dict[str, dict[str, list[float | None]]] = {}
    for variant in sorted({v for v, _ in runs}):
        own = [epochs for (v, _), epochs in runs.items() if v == variant]
        means[variant] = {
            key: [float(np.mean([e[ep][key] for e in own])) if all(ep in e for e in own) else None
                  for ep in range(1, last + 1)]
            for key in ("test_accuracy", "test_recon_mse", "code_information")}
        acc, mse, nats = (means[variant][k] for k in
                          ("test_accuracy", "test_recon_mse", "code_information"))
        table.add_row(variant, "mean", *(f"{a:.4f}" if a is not None else "-" for a in acc),
                      f"{mse[-1]:.4f}" if mse[-1] is not None else "-",
                      f"{nats[-1]:.4f}" if nats[-1] is not None else "-")
    console.print(table)
    paired: dict[str, list[dict]] = {}
    for first, second in pairs:
        paired[f"{first}-{second}"] = rows = paired_differences(runs, first, second)
        pair_table = Table(title=f"paired test accuracy, {first} - {second}")
        for column in ("epoch", "seeds", "per seed", "mean", "standard error", "ahead / behind"):
            pair_table.add_column(column, justify="right")
        for r in rows:
            se = r["standard_error"]
            pair_table.add_row(str(r["epoch"]), ",".join(map(str, r["seeds"])),
                               " ".join(f"{d:+.4f}" for d in r["differences"]),
                               f"{r['mean']:+.4f}", "-" if se is None else f"{se:.4f}",
                               f"{r['ahead']} / {r['behind']}")
        console.print(pair_table)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "command": "python " + " ".join(sys.argv),
        "machine": platform.processor() or platform.machine(),
        "score_images": len(train), "test_images": len(test.images),
        "runs": {f"{v}:{s}": {str(e): r for e, r in ep.items()} for (v, s), ep in runs.items()},
        "means": means,
        **({"paired_differences": paired} if paired else {}),
    }, indent=2) + "\n")
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()

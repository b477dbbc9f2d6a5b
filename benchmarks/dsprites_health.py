"""dSprites health benchmark: does InfoVAEGAN (dSprites preset) train without collapse?

Trains on procedurally rendered dSprites for a few epochs per seed and reports after each epoch
the instruments that tell a collapse apart from slow learning: discriminator accuracies, the
share of steps the discriminator wins outright, the per-pixel spread of samples relative to real
images, the spread of sample centroids (pixels) and of sprite areas against the real images',
the shape shares of each categorical value's samples and the encoder's shape clustering of
real images (Hungarian accuracy of its categorical code), and the trainer's health warnings;
then the FactorVAE metric and MIG of the encoder's codes
(disentanglement_lib sample sizes times ``--metric-scale``), sample and traversal PNG grids,
and JSON. Not part of the test suite.

    python benchmarks/dsprites_health.py --images 20000 --epochs 2 --seeds 0,1,2 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

import infovaegan_plugin  # noqa: F401  (registers InfoVAEGAN with pythae)
from infovaegan_plugin import InfoVAEGAN, InfoVAEGANTrainerConfig
from infovaegan_plugin.callbacks import ProbeCallback
from infovaegan_plugin.data.dsprites import load_dsprites
from infovaegan_plugin.evaluation.adapters import adapter_for
from infovaegan_plugin.evaluation.dsprites_ground_truth import DSpritesGroundTruth
from infovaegan_plugin.metrics.clustering import clustering_report
from infovaegan_plugin.metrics.dataset_classifier import require_trustworthy, train_feature_classifier
from infovaegan_plugin.metrics.disentanglement import evaluate_disentanglement
from infovaegan_plugin.metrics.sprites import area_range, shapes_per_category, sprite_statistics
from infovaegan_plugin.presets import model_config_for, preset_for
from infovaegan_plugin.training import build_model, fit
from settings_args import parse_settings  # benchmarks/, the script's own folder
from infovaegan_plugin.viz import write_model_grids


def geometry(images: np.ndarray) -> dict[str, float]:
    """Spread (std) of sprite centroids in pixels and mean/std of the lit area."""
    x = images[:, 0]
    mass = x.sum(axis=(1, 2)) + 1e-6
    rows, cols = np.arange(x.shape[1]), np.arange(x.shape[2])
    cy = (x.sum(axis=2) * rows).sum(1) / mass
    cx = (x.sum(axis=1) * cols).sum(1) / mass
    return {
        "centroid_spread_px": float(np.sqrt(cx.var() + cy.var())),
        "area_mean": float(mass.mean()),
        "area_std": float(mass.std()),
    }


def run_seed(seed: int, args, data, real_geometry, areas, classifier) -> dict:
    model = build_model(model_config_for("dsprites", data.images.shape[1:], args.variant,
                                         **parse_settings(args.set)), seed)
    preset = preset_for("dsprites")
    training = InfoVAEGANTrainerConfig(
        output_dir=os.path.join(args.run_dir, f"{args.variant}_s{seed}"),
        num_epochs=args.epochs, per_device_train_batch_size=args.batch_size or preset["batch_size"],
        per_device_eval_batch_size=500, seed=seed, steps_saving=None, no_cuda=True,
        **{"mi_optimizer": args.mi_optimizer, "discriminator_learning_rate": args.discriminator_lr,
           "generator_learning_rate": args.generator_lr,
           **parse_settings(args.trainer_set, "--trainer-set")},
    )
    per_epoch: list[dict] = []

    def probe(trained: InfoVAEGAN) -> dict[str, float]:
        trained.eval()
        with torch.no_grad():
            gen = torch.Generator().manual_seed(1234)
            samples = trained.generate(1000, generator=gen).numpy()
        scores = {**geometry(samples), **sprite_statistics(samples, areas)}
        shapes = shapes_per_category(trained, classifier, seed=1234)
        scores.update(shapes_used=shapes["shapes_used"], shapes_drawn=shapes["shapes_drawn"],
                      shape_purity=shapes["purity"])
        # the encoder's side: does its categorical code name the shape of a real image?
        with torch.no_grad():
            named = trained.predict_categories(torch.as_tensor(held_out.images))[:, 0].numpy()
        trained.train()
        clusters = clustering_report(held_out.labels, named)
        scores.update(encoder_shape_accuracy=clusters["accuracy"],
                      encoder_shape_nmi=clusters["nmi"],
                      encoder_codes_used=int(np.unique(named).size))
        per_epoch.append({**scores, "shape_shares": shapes["shares"]})
        print(f"[seed {seed} epoch {len(per_epoch)}] "
              + " ".join(f"{k}={v:.3f}" for k, v in scores.items()), flush=True)
        return scores

    held_out = data.subset(slice(0, 2000))
    start = time.perf_counter()
    trainer = fit(model, training, data, held_out, callbacks=[ProbeCallback(probe)])
    wall = time.perf_counter() - start
    model = trainer.model.cpu().eval()
    grids = write_model_grids(model, Path(trainer.training_dir), real_images=held_out.images, seed=seed)
    scores = evaluate_disentanglement(
        DSpritesGroundTruth(), adapter_for(model).represent, rng_seed=seed,
        metrics=("factor_vae", "mig"), scale=args.metric_scale,
    )
    history = trainer.history
    return {
        "seed": seed,
        "wall_time_s": wall,
        "factor_vae": float(scores["factor_vae"]["eval_accuracy"]),
        "mig": float(scores["mig"]["discrete_mig"]),
        "final": per_epoch[-1],
        "real_geometry": real_geometry,
        "health_warnings": sorted({w for h in history for w in h.get("health_warnings", [])}),
        "history": history,
        "grids": {k: str(v) for k, v in grids.items()},
        "run_dir": trainer.training_dir,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variant", default="infovaegan")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--mi-optimizer", choices=("shared", "separate"), default="shared")
    parser.add_argument("--discriminator-lr", type=float, default=2e-4)
    parser.add_argument("--generator-lr", type=float, default=1e-3)
    parser.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="model-config override of the dSprites preset (repeatable)")
    parser.add_argument("--trainer-set", action="append", metavar="NAME=VALUE",
                        help="trainer-config override (repeatable)")
    parser.add_argument("--metric-scale", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run-dir", default="runs/benchmarks/dsprites_health")
    parser.add_argument("--output", default="benchmarks/results/dsprites_health.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dsprites(args.images, seed=0)
    real_geometry = {**geometry(data.images[:1000]), **sprite_statistics(data.images[:1000], (0, 1e9))}
    areas = area_range(data.images)
    shapes = load_dsprites(6000, seed=99)  # the shape classifier's own images
    classifier = train_feature_classifier(shapes.images, shapes.labels, seed=0)
    require_trustworthy(classifier, "shapes per category")
    payload = {
        "benchmark": "dsprites_health", "command": "python " + " ".join(sys.argv),
        "hardware": {"machine": platform.machine(), "cpu_count": os.cpu_count(),
                     "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
        "args": vars(args), "real_geometry": real_geometry, "sprite_area_range": areas,
        "shape_classifier_held_out_accuracy": classifier.held_out_accuracy, "results": [],
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        payload["results"].append(run_seed(seed, args, data, real_geometry, areas, classifier))
        out.write_text(json.dumps(payload, indent=2, default=str))
    table = Table(title=f"dSprites ({args.images} images, {args.epochs} epochs, {args.variant})")
    for col in ("seed", "sprites", "centroid col std px", "lit area", "shapes drawn", "shapes used",
                "shape purity", "encoder shape acc", "D real acc", "D fake acc", "FactorVAE", "MIG",
                "health"):
        table.add_column(col, justify="right")
    table.add_row("real", f"{real_geometry['sprite_fraction']:.2f}",
                  f"{real_geometry['centroid_col_std_px']:.2f}", f"{real_geometry['lit_area_mean']:.0f}",
                  "3", "3", "", "", "", "", "", "", "")
    for r in payload["results"]:
        last, final = r["history"][-1], r["final"]
        table.add_row(str(r["seed"]), f"{final['sprite_fraction']:.2f}",
                      f"{final['centroid_col_std_px']:.2f}", f"{final['lit_area_mean']:.0f}",
                      str(final["shapes_drawn"]), str(final["shapes_used"]), f"{final['shape_purity']:.2f}",
                      f"{final['encoder_shape_accuracy']:.2f}",
                      f"{last['d_real_accuracy']:.3f}", f"{last['d_fake_accuracy']:.3f}",
                      f"{r['factor_vae']:.3f}", f"{r['mig']:.3f}",
                      "ok" if not r["health_warnings"] else "WARN")
    Console(width=160).print(table)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

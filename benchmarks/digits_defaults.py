"""Digits check of the defaults: the README's main job with the digits preset, the library's
narrow noise prior and 0.1's recipe, several seeds.

scikit-learn's bundled 8x8 digits, the digits preset, batch 64, a held-out 10% split (seed 0),
one torch thread. Prints held-out unsupervised accuracy and reconstruction MSE per run and the
mean per recipe, and writes JSON (``{recipe: [[accuracy, recon_mse] per seed]}``).

    python benchmarks/digits_defaults.py --seeds 0,1,2 --epochs 30
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from infovaegan_plugin import InfoVAEGANTrainerConfig
from infovaegan_plugin.callbacks import RichProgressCallback
from infovaegan_plugin.data import train_held_out
from infovaegan_plugin.models.infovaegan.infovaegan_config import RECIPE_0_1
from infovaegan_plugin.presets import model_config_for
from infovaegan_plugin.training import build_model, fit

#: recipe name -> model-config overrides of the digits preset.
RECIPES = {
    "default": {},  # the digits preset: noise_std 1.0, self-augmentation 1.0
    "no-self-augmentation": {"self_augmentation_weight": 0.0},
    # the default before the ELBO's categorical gradient was scaled by 0.1
    "full-elbo-categorical-gradient": {"elbo_categorical_gradient": 1.0},
    "noise-std-0.1": {"noise_std": 0.1},  # the library-wide default's narrow noise
    "recipe-0.1": RECIPE_0_1,
}


def run(recipe: str, seed: int, epochs: int, train, held, output_dir: str) -> tuple[float, float]:
    """Final held-out accuracy and reconstruction MSE of one seeded run."""
    model = build_model(model_config_for("digits", train.images.shape[1:], **RECIPES[recipe]), seed)
    config = InfoVAEGANTrainerConfig(output_dir=output_dir, num_epochs=epochs,
                                     per_device_train_batch_size=64, seed=seed,
                                     steps_saving=None, no_cuda=True)
    last = fit(model, config, train, held, callbacks=[RichProgressCallback()]).history[-1]
    return float(last["eval_accuracy"]), float(last["eval_recon_mse"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default="benchmarks/results/digits_defaults_check.json")
    args = parser.parse_args()
    recipes = args.recipes.split(",")
    unknown = sorted(set(recipes) - set(RECIPES))
    if unknown:
        parser.error(f"unknown recipe(s) {unknown}; choose from {sorted(RECIPES)}.")
    seeds = [int(s) for s in args.seeds.split(",")]

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)  # pythae's per-run banner
    train, held = train_held_out("digits", eval_fraction=0.1, seed=0)
    results: dict[str, list[list[float]]] = {}
    table = Table(title=f"digits, {args.epochs} epochs, held-out {len(held.images)} images")
    for column in ("recipe", "seed", "accuracy", "recon MSE"):
        table.add_column(column, justify="left" if column == "recipe" else "right")
    with tempfile.TemporaryDirectory() as output_dir:
        for recipe in recipes:
            for seed in seeds:
                accuracy, mse = run(recipe, seed, args.epochs, train, held, output_dir)
                results.setdefault(recipe, []).append([accuracy, mse])
                table.add_row(recipe, str(seed), f"{accuracy:.3f}", f"{mse:.4f}")
            mean = np.mean(results[recipe], axis=0)
            table.add_row(recipe, "mean", f"{mean[0]:.3f}", f"{mean[1]:.4f}", end_section=True)
    Console().print(table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

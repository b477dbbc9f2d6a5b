"""MNIST quality benchmark: InfoVAEGAN vs its ablations, several seeds, per-epoch curves.

Trains each variant on the 60,000 MNIST training images and reports, after every epoch, on the
10,000 test images: unsupervised accuracy of the categorical code (Hungarian matching), NMI,
generator purity (prior samples of each category labelled by a supervised CNN, matched),
reconstruction MSE (inferred and fixed noise), discriminator accuracy, health warnings and wall
time; then time to 90% and to 95% accuracy, a PNG of the accuracy curves per seed, the step's
fp32 and bf16 images/s, and JSON. Not part of the test suite (minutes to hours on a CPU).

    python benchmarks/mnist_quality.py --data-dir ../shared/data/mnist --epochs 5 \\
        --variants infovaegan,infogan --seeds 0,1,2 --threads 2
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
from infovaegan_plugin import InfoVAEGAN, InfoVAEGANConfig, InfoVAEGANTrainerConfig
from infovaegan_plugin.callbacks import ProbeCallback
from infovaegan_plugin.data.base import to_pythae_dataset
from infovaegan_plugin.data.mnist import load_mnist
from infovaegan_plugin.metrics.clustering import code_information, nmi, unsupervised_accuracy
from infovaegan_plugin.metrics.dataset_classifier import predict_labels, require_trustworthy
from infovaegan_plugin.metrics.frechet import DatasetClassifier, train_feature_classifier
from infovaegan_plugin.metrics.purity import generator_purity
from infovaegan_plugin.models.infovaegan.infovaegan_config import PAPER_METHOD, RECIPE_0_1
from infovaegan_plugin.training import build_model, fit
from settings_args import parse_settings  # benchmarks/, the script's own folder

#: 0.1's recipe (the library keeps it as RECIPE_0_1).
LEGACY = RECIPE_0_1
#: 0.1's recipe with the authors' categorical KL weight: the base each ablation changes once.
BASE = {**LEGACY, "kl_categorical_weight": 0.001}

#: variant name -> (ablation, model-config overrides, trainer-config overrides). The first
#: three are the paper's comparison; the rest isolate one change each.
#: Every name below was measured with self-augmentation off (the library's default before
#: it became on): ``make_config`` keeps it off unless a variant sets it, so a recorded name keeps
#: meaning what it measured. ``*-shipped`` are the library's defaults as they are now.
VARIANTS: dict[str, tuple] = {
    "infovaegan-shipped": ("infovaegan", {"self_augmentation_weight": None}, {}),
    "infogan-shipped": ("infogan", {"self_augmentation_weight": None}, {}),
    "infovaegan": ("infovaegan", {}, {}),
    "infovaegan-paper": ("infovaegan", PAPER_METHOD, {"mi_optimizer": "separate"}),
    "infogan": ("infogan", {"infer_noise": False}, {}),
    "ali": ("ali", {"infer_noise": True}, {}),
    "infovaegan-fixed-noise": ("infovaegan", {"infer_noise": False}, {}),
    "infovaegan-0.1": ("infovaegan", LEGACY, {"mi_optimizer": "shared"}),
    "base": ("infovaegan", BASE, {"mi_optimizer": "shared"}),
    "base+joint-d": ("infovaegan", {**BASE, "joint_discriminator": True}, {"mi_optimizer": "shared"}),
    "base+separate-opt": ("infovaegan", BASE, {}),
    "base+noise-head": ("infovaegan", {**BASE, "noise_in_elbo": False}, {"mi_optimizer": "shared"}),
    "base+squared-error": (
        "infovaegan", {**BASE, "mi_continuous_loss": "squared_error", "mi_continuous_weight": 1.0},
        {"mi_optimizer": "shared"},
    ),
    "base+tau0.1+bn": (
        "infovaegan", {**BASE, "gumbel_temperature": 0.1, "elbo_updates_generator_bn": False},
        {"mi_optimizer": "shared"},
    ),
    "base+noise-std0.1": ("infovaegan", {**BASE, "noise_std": 0.1}, {"mi_optimizer": "shared"}),
    "base+noise-std0.1+joint-d": (
        "infovaegan", {**BASE, "noise_std": 0.1, "joint_discriminator": True}, {"mi_optimizer": "shared"},
    ),
    "base+noise-std0.1+separate-opt": ("infovaegan", {**BASE, "noise_std": 0.1}, {}),
    "base+shared-trunk": ("infovaegan", {**BASE, "share_discriminator_trunk": True}, {"mi_optimizer": "shared"}),
    "infogan-shared-trunk": (
        "infogan", {"infer_noise": False, "mi_continuous_loss": "gaussian_nll", "mi_continuous_weight": 0.1,
                    "share_discriminator_trunk": True}, {"mi_optimizer": "shared"},
    ),
    # InfoGAN's official training of Q (a head on D's trunk, the MI term in D's loss and on
    # D's optimizer, ||c - mean||^2 for the continuous codes), as the reference InfoGAN
    "infogan-official": (
        "infogan", {"infer_noise": False, "share_discriminator_trunk": True,
                    "mi_continuous_loss": "mean_squared_error", "mi_continuous_weight": 0.1},
        {"mi_optimizer": "shared"},
    ),
    "infovaegan-official": (
        "infovaegan", {"share_discriminator_trunk": True, "mi_continuous_loss": "mean_squared_error",
                       "mi_continuous_weight": 0.1}, {"mi_optimizer": "shared"},
    ),
    # the same with noise of U(-1, 1)'s variance (the reference's prior; ours is normal)
    "infogan-official-noise0.58": (
        "infogan", {"infer_noise": False, "share_discriminator_trunk": True,
                    "mi_continuous_loss": "mean_squared_error", "mi_continuous_weight": 0.1,
                    "noise_std": 0.577}, {"mi_optimizer": "shared"},
    ),
    # + IMSAT's self-augmented training of Q's categories on real images (opt-in)
    "infogan-official+sat": (
        "infogan", {"infer_noise": False, "share_discriminator_trunk": True,
                    "mi_continuous_loss": "mean_squared_error", "mi_continuous_weight": 0.1,
                    "self_augmentation_weight": 1.0}, {"mi_optimizer": "shared"},
    ),
    "infovaegan-official+sat": (
        "infovaegan", {"share_discriminator_trunk": True, "mi_continuous_loss": "mean_squared_error",
                       "mi_continuous_weight": 0.1, "self_augmentation_weight": 1.0},
        {"mi_optimizer": "shared"},
    ),
    # changes to the shipped default, one at a time (proxy runs)
    "infovaegan+mi-cat-5": ("infovaegan", {"mi_categorical_weight": 5.0}, {}),
    "infovaegan+noise-dim-16": ("infovaegan", {"noise_dim": 16}, {}),
    "infovaegan+clustergan": (  # ClusterGAN's latent recovery: beta_c = beta_n = 10
        "infovaegan", {"mi_categorical_weight": 10.0, "noise_in_elbo": False,
                       "noise_regression_weight": 10.0}, {},
    ),
    "infogan-0.1": (
        "infogan", {"infer_noise": False, "mi_continuous_loss": "gaussian_nll",
                    "mi_continuous_weight": 0.1}, {"mi_optimizer": "shared"},
    ),
}


def make_config(variant: str, args) -> InfoVAEGANConfig:
    base, overrides, _ = VARIANTS[variant]
    settings = {"input_dim": (1, 28, 28), "categorical_dims": [10], "continuous_dim": 2,
                "noise_dim": 62, "hidden_dim": args.hidden_dim,
                "base_channels": args.base_channels, "self_augmentation_weight": 0.0}
    return InfoVAEGANConfig.for_variant(
        base, **{**settings, **overrides, **parse_settings(args.set or [])}
    )


def trainer_config(variant: str, args, seed: int, output_dir: str, epochs: int) -> InfoVAEGANTrainerConfig:
    return InfoVAEGANTrainerConfig(
        output_dir=output_dir, num_epochs=epochs, per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=1000, seed=seed, steps_saving=None,
        no_cuda=args.device == "cpu", amp=args.amp, **VARIANTS[variant][2],
    )


def load_classifier(args, train) -> DatasetClassifier:
    """The supervised CNN behind generator purity, trained once and cached; refused before any
    model trains when its held-out accuracy is too low to support purity."""
    folder = Path(args.run_dir) / "classifier"
    if (folder / "classifier.pt").is_file():
        classifier = DatasetClassifier.load(folder)
    else:
        classifier = train_feature_classifier(train.images, train.labels, seed=0)
        classifier.save(folder)
    require_trustworthy(classifier, "generator purity")
    return classifier


def evaluate(model: InfoVAEGAN, images: np.ndarray, labels: np.ndarray, classifier, batch: int = 1000):
    """Accuracy/NMI of the first categorical code, purity and reconstruction MSE."""
    model.eval()
    preds, probs, mse_inferred, mse_fixed = [], [], [], []
    first = model.layout.categorical_slices[0]
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start : start + batch])
            p = model.encode(x).categorical_probs[:, first].float()
            probs.append(p.numpy())
            preds.append(p.argmax(1).numpy())
            for fixed, sink in ((False, mse_inferred), (True, mse_fixed)):
                rec = model.reconstruct(x, fixed_noise=fixed)
                sink.append(((rec - x) ** 2).flatten(1).mean(1).numpy())
    pred = np.concatenate(preds)
    model.train()
    return {
        "accuracy": unsupervised_accuracy(labels, pred),
        # label-free: can it pick the best of several runs? (compare its ranking to accuracy)
        "code_information": code_information(np.concatenate(probs)),
        "nmi": nmi(labels, pred),
        "generator_purity": generator_purity(model, classifier, per_category=100),
        "recon_mse_inferred_noise": float(np.concatenate(mse_inferred).mean()),
        "recon_mse_fixed_noise": float(np.concatenate(mse_fixed).mean()),
    }


def time_to(history: list[dict], threshold: float):
    """Training seconds (cumulative, evaluation excluded) until the first epoch at or above
    ``threshold`` accuracy; None if never reached."""
    elapsed = 0.0
    for entry in history:
        elapsed += entry["train_time_s"]
        if entry["accuracy"] >= threshold:
            return {"epoch": entry["epoch"], "train_seconds": elapsed}
    return None


def run_variant(variant: str, seed: int, args, train, test, classifier) -> dict:
    model = build_model(make_config(variant, args), seed)
    config = trainer_config(variant, args, seed, os.path.join(args.run_dir, f"{variant}_s{seed}"), args.epochs)
    per_epoch: list[dict] = []

    def probe(trained: InfoVAEGAN) -> dict[str, float]:
        scores = evaluate(trained, test.images, test.labels, classifier)
        per_epoch.append(scores)
        print(f"[{variant} seed {seed} epoch {len(per_epoch)}] "
              + " ".join(f"{k}={v:.4f}" for k, v in scores.items()), flush=True)
        return scores

    start = time.perf_counter()
    trainer = fit(model, config, train, test, callbacks=[ProbeCallback(probe)])
    wall = time.perf_counter() - start
    history = trainer.history
    train_s = sum(h["train_time_s"] for h in history)
    final = per_epoch[-1]
    return {
        "variant": variant,
        "seed": seed,
        "epochs": args.epochs,
        "wall_time_s": wall,
        "train_time_s": train_s,
        "train_images_per_s": args.epochs * len(train) / train_s,
        **final,
        "time_to_90": time_to(history, 0.90),
        "time_to_95": time_to(history, 0.95),
        "health_warnings": sorted({w for h in history for w in h.get("health_warnings", [])}),
        "history": history,
        "run_dir": trainer.training_dir,
    }


def step_speed(args, train, amp: bool, steps: int = 30, warmup: int = 5) -> float:
    """Training images/s of the default InfoVAEGAN step (both stages), fp32 or bf16."""
    from infovaegan_plugin.trainers.infovaegan_trainer import InfoVAEGANTrainer

    torch.manual_seed(0)
    model = InfoVAEGAN(make_config("infovaegan", args))
    config = trainer_config("infovaegan", args, 0, os.path.join(args.run_dir, "speed"), 1)
    config.amp = amp
    data = to_pythae_dataset(train.subset(slice(0, args.batch_size * 2)))
    trainer = InfoVAEGANTrainer(model, data, None, training_config=config)
    trainer.prepare_training()
    real = torch.from_numpy(train.images[: args.batch_size])
    model.train()
    for _ in range(warmup):
        trainer.training_step(real, epoch=1)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.training_step(real, epoch=1)
    return steps * args.batch_size / (time.perf_counter() - start)


def plot_curves(results: list[dict], path: Path) -> None:
    """Accuracy per epoch, one line per (variant, seed)."""
    from infovaegan_plugin.evaluation.charts import line_chart

    series = [
        (f"{r['variant']} s{r['seed']}", [h["epoch"] for h in r["history"]],
         [h["accuracy"] for h in r["history"]])
        for r in results
    ]
    line_chart(path, "MNIST test accuracy of the categorical code", series,
               x_label="epoch (60,000 images each)", reference=0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--variants", default="infovaegan,infogan")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden-dim", type=int, default=512)
    parser.add_argument("--base-channels", type=int, default=32)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--amp", action="store_true", help="bf16 autocast on CPU")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="override a model-config field of every variant (repeatable)")
    parser.add_argument("--speed", action="store_true", help="also time fp32 and bf16 steps")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run-dir", default="runs/benchmarks/mnist_quality")
    parser.add_argument("--output", default="benchmarks/results/mnist_quality.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    unknown = [v for v in args.variants.split(",") if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")

    train = load_mnist(args.data_dir, "train", limit=args.train_limit)
    test = load_mnist(args.data_dir, "test")
    classifier = load_classifier(args, train)
    clf_acc = float((predict_labels(classifier, test.images) == test.labels).mean())
    payload = {
        "benchmark": "mnist_quality",
        "command": "python " + " ".join(sys.argv),
        "hardware": {
            "machine": platform.machine(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "args": vars(args),
        "purity_classifier_test_accuracy": clf_acc,
        "classifier_held_out_accuracy": classifier.held_out_accuracy,
        "results": [],
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.speed:
        payload["step_images_per_s"] = {
            "fp32": step_speed(args, train, amp=False), "bf16": step_speed(args, train, amp=True)
        }
    results = payload["results"]
    for variant in args.variants.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            results.append(run_variant(variant, seed, args, train, test, classifier))
            out.write_text(json.dumps(payload, indent=2, default=str))  # keep finished runs
    plot_curves(results, out.with_suffix(".png"))

    table = Table(title=f"MNIST test set (10,000 images), {args.epochs} epochs, batch {args.batch_size}")
    for col in ("variant", "seed", "accuracy", "NMI", "purity", "MSE inferred z", "MSE fixed z",
                "to 90% (s)", "to 95% (s)", "img/s", "health"):
        table.add_column(col, justify="right")
    for r in results:
        t90, t95 = r["time_to_90"], r["time_to_95"]
        table.add_row(
            r["variant"], str(r["seed"]), f"{r['accuracy']:.4f}", f"{r['nmi']:.4f}",
            f"{r['generator_purity']:.3f}", f"{r['recon_mse_inferred_noise']:.4f}",
            f"{r['recon_mse_fixed_noise']:.4f}",
            f"{t90['train_seconds']:.0f}" if t90 else "-", f"{t95['train_seconds']:.0f}" if t95 else "-",
            f"{r['train_images_per_s']:.0f}", "ok" if not r["health_warnings"] else "WARN",
        )
    for variant in dict.fromkeys(r["variant"] for r in results):
        accs = [r["accuracy"] for r in results if r["variant"] == variant]
        table.add_row(variant, "mean", f"{np.mean(accs):.4f}", "", "", "", "", "", "", "", "")
    Console().print(table)
    if "step_images_per_s" in payload:
        print("step images/s:", payload["step_images_per_s"])
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()

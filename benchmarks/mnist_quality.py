"""MNIST quality benchmark: InfoVAEGAN vs its InfoGAN ablation on the same code base.

Trains each variant on the 60,000 MNIST training images and reports, on the 10,000 test
images: unsupervised accuracy of the categorical code (Hungarian matching), NMI,
reconstruction MSE (inferred noise and fixed noise), training images/s and wall time.
Prints a table and writes JSON. Not part of the test suite (minutes to hours on a CPU).

    python benchmarks/mnist_quality.py --data-dir ../shared/data/mnist --epochs 10 \
        --variants infovaegan,infogan --seed 0 --output benchmarks/results/mnist_quality.json
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
from pythae.pipelines import TrainingPipeline
from rich.console import Console
from rich.table import Table

import infovaegan_plugin  # noqa: F401  (registers InfoVAEGAN with pythae)
from infovaegan_plugin import InfoVAEGAN, InfoVAEGANConfig, InfoVAEGANTrainerConfig
from infovaegan_plugin.data.base import to_pythae_dataset
from infovaegan_plugin.data.mnist import load_mnist
from infovaegan_plugin.metrics.clustering import nmi, unsupervised_accuracy


def evaluate(model: InfoVAEGAN, images: np.ndarray, labels: np.ndarray, batch: int = 1000):
    """Accuracy/NMI of the first categorical code and reconstruction MSE on held-out data."""
    model.eval()
    preds, mse_inferred, mse_fixed = [], [], []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start : start + batch])
            preds.append(model.predict_categories(x)[:, 0].numpy())
            for fixed, sink in ((False, mse_inferred), (True, mse_fixed)):
                rec = model.reconstruct(x, fixed_noise=fixed)
                sink.append(((rec - x) ** 2).flatten(1).mean(1).numpy())
    pred = np.concatenate(preds)
    return {
        "accuracy": unsupervised_accuracy(labels, pred),
        "nmi": nmi(labels, pred),
        "recon_mse_inferred_noise": float(np.concatenate(mse_inferred).mean()),
        "recon_mse_fixed_noise": float(np.concatenate(mse_fixed).mean()),
    }


def make_config(variant: str, args) -> InfoVAEGANConfig:
    infer_noise = variant == "infovaegan"
    base = "infovaegan" if variant.startswith("infovaegan") else variant
    return InfoVAEGANConfig.for_variant(
        base,
        input_dim=(1, 28, 28),
        categorical_dims=[10],
        continuous_dim=2,
        noise_dim=62,
        hidden_dim=args.hidden_dim,
        base_channels=args.base_channels,
        infer_noise=infer_noise,
    )


def run_variant(variant: str, args, train, test) -> dict:
    torch.manual_seed(args.seed)
    model = InfoVAEGAN(make_config(variant, args))
    training_config = InfoVAEGANTrainerConfig(
        output_dir=os.path.join(args.run_dir, variant),
        num_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=1000,
        seed=args.seed,
        steps_saving=None,
        no_cuda=args.device == "cpu",
        warmup_epochs=args.warmup_epochs,
        encoder_learning_rate=args.encoder_learning_rate,
    )
    pipeline = TrainingPipeline(model=model, training_config=training_config)
    start = time.perf_counter()
    pipeline(train_data=to_pythae_dataset(train), eval_data=to_pythae_dataset(test))
    wall = time.perf_counter() - start
    model = pipeline.trainer.model.cpu()
    result = {
        "variant": variant,
        "warmup_epochs": args.warmup_epochs,
        "encoder_learning_rate": args.encoder_learning_rate,
        "infer_noise": model.model_config.infer_noise,
        "epochs": args.epochs,
        "seed": args.seed,
        "wall_time_s": wall,
        "train_time_s": sum(h["train_time_s"] for h in pipeline.trainer.history),
        "train_images_per_s": args.epochs
        * len(train)
        / sum(h["train_time_s"] for h in pipeline.trainer.history),
        **evaluate(model, test.images, test.labels),
        "history": pipeline.trainer.history,
        "run_dir": pipeline.trainer.training_dir,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--variants", default="infovaegan,infogan")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden-dim", type=int, default=512)
    parser.add_argument("--base-channels", type=int, default=32)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--warmup-epochs", type=int, default=0, help="GAN-only epochs first")
    parser.add_argument("--encoder-learning-rate", type=float, default=2e-4, help="ELBO stage lr")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--run-dir", default="runs/benchmarks/mnist_quality")
    parser.add_argument("--output", default="benchmarks/results/mnist_quality.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    train = load_mnist(args.data_dir, "train", limit=args.train_limit)
    test = load_mnist(args.data_dir, "test")
    payload = {
        "benchmark": "mnist_quality",
        "command": "python " + " ".join(sys.argv),
        "hardware": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "args": vars(args),
        "results": [],
    }
    results = payload["results"]
    for variant in args.variants.split(","):
        results.append(run_variant(variant, args, train, test))
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(payload, indent=2))  # keep finished variants

    table = Table(title=f"MNIST test set (10,000 images), {args.epochs} epochs, seed {args.seed}")
    for col in ("variant", "accuracy", "NMI", "MSE inferred z", "MSE fixed z", "train img/s", "wall s"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            r["variant"],
            f"{r['accuracy']:.4f}",
            f"{r['nmi']:.4f}",
            f"{r['recon_mse_inferred_noise']:.4f}",
            f"{r['recon_mse_fixed_noise']:.4f}",
            f"{r['train_images_per_s']:.0f}",
            f"{r['wall_time_s']:.0f}",
        )
    Console().print(table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

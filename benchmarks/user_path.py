"""The shipped defaults as a user gets them: pythae's ``TrainingPipeline`` and ``infovaegan train``.

Two paths, nothing of the benchmark harness in between:

* ``pipeline``: ``TrainingPipeline(model=InfoVAEGAN(InfoVAEGANConfig(input_dim=(1, 28, 28))),
  training_config=InfoVAEGANTrainerConfig(output_dir, num_epochs, seed))``, every other
  hyper-parameter at its default (batch 64, fp32), on the 60,000 MNIST training images;
* ``cli``: ``infovaegan train --dataset mnist --epochs N --seed S`` (the preset's batch, fp32).

Both are scored on the 10,000 test images by Hungarian-matched accuracy of the categorical
code's argmax: after every epoch (pipeline), or once on the final model reloaded with pythae's
``AutoModel`` (cli; the run's own ``eval_accuracy`` from its ``metrics.json`` is recorded beside
it). Prints a table and writes JSON. Not part of the test suite.

    python benchmarks/user_path.py --paths pipeline,cli --epochs 3 --seed 0 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from infovaegan_plugin import InfoVAEGAN, InfoVAEGANConfig, InfoVAEGANTrainerConfig
from infovaegan_plugin.callbacks import ProbeCallback
from infovaegan_plugin.data.base import to_pythae_dataset
from infovaegan_plugin.data.mnist import load_mnist
from infovaegan_plugin.metrics.clustering import code_information, unsupervised_accuracy
from settings_args import parse_settings  # benchmarks/, the script's own folder


def score(model: InfoVAEGAN, images: np.ndarray, labels: np.ndarray, batch: int = 1000) -> dict:
    """Test accuracy of the first categorical code's argmax and its code information."""
    model.eval()
    first = model.layout.categorical_slices[0]
    probs = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start : start + batch])
            probs.append(model.encode(x).categorical_probs[:, first].float().numpy())
    model.train()
    p = np.concatenate(probs)
    return {"accuracy": unsupervised_accuracy(labels, p.argmax(1)), "code_information": code_information(p)}


def run_pipeline(args, train, test) -> dict:
    from pythae.pipelines import TrainingPipeline

    torch.manual_seed(args.seed)
    model = InfoVAEGAN(InfoVAEGANConfig(input_dim=(1, 28, 28), **parse_settings(args.set)))
    config = InfoVAEGANTrainerConfig(output_dir=os.path.join(args.run_dir, f"pipeline_s{args.seed}"),
                                     num_epochs=args.epochs, seed=args.seed)
    per_epoch: list[dict] = []

    def probe(trained: InfoVAEGAN) -> dict[str, float]:
        scores = score(trained, test.images, test.labels)
        per_epoch.append(scores)
        print(f"[pipeline epoch {len(per_epoch)}] accuracy={scores['accuracy']:.4f}", flush=True)
        return scores

    start = time.perf_counter()
    pipeline = TrainingPipeline(model=model, training_config=config)
    pipeline(train_data=to_pythae_dataset(train), eval_data=to_pythae_dataset(test),
             callbacks=[ProbeCallback(probe)])
    return {"path": "pipeline", "model_overrides": parse_settings(args.set),
            "batch_size": config.per_device_train_batch_size, "amp": config.amp,
            "wall_time_s": time.perf_counter() - start,
            "accuracy_per_epoch": [e["accuracy"] for e in per_epoch], **per_epoch[-1]}


def run_cli(args, test) -> dict:
    out = Path(args.run_dir) / f"cli_s{args.seed}"
    cmd = [str(Path(sys.executable).with_name("infovaegan")), "train", "--dataset", "mnist",
           "--data-dir", args.data_dir, "-o", str(out), "--epochs", str(args.epochs), "--seed", str(args.seed), "--threads", str(args.threads),
           "--no-purity"] + (["--limit", str(args.limit)] if args.limit else [])
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    run = next(p for p in sorted(out.iterdir()) if (p / "metrics.json").is_file())
    metrics = json.loads((run / "metrics.json").read_text())
    from pythae.models import AutoModel

    scores = score(AutoModel.load_from_folder(str(run / "final_model")), test.images, test.labels)
    return {"path": "cli", "command": " ".join(cmd), "wall_time_s": time.perf_counter() - start,
            "run_eval_accuracy": metrics["final_metrics"].get("eval_accuracy"),
            "accuracy_per_epoch": [scores["accuracy"]], **scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", default="pipeline,cli")
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="first N images per split (smoke runs)")
    parser.add_argument("--run-dir", default="runs/benchmarks/user_path")
    parser.add_argument("--output", default="benchmarks/results/user_path.json")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="model-config field of the pipeline path (repeatable): what one "
                        "changed default would give a user; not for the cli path")
    args = parser.parse_args()
    if args.set and "cli" in args.paths.split(","):
        parser.error("--set changes the pipeline path's config only; use --paths pipeline")
    torch.set_num_threads(args.threads)
    train = load_mnist(args.data_dir, "train", limit=args.limit)
    test = load_mnist(args.data_dir, "test", limit=args.limit)
    payload = {"benchmark": "user_path", "command": "python " + " ".join(sys.argv),
               "hardware": {"machine": platform.machine(), "cpu_count": os.cpu_count(),
                            "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
               "args": vars(args), "results": []}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    runners = {"pipeline": lambda: run_pipeline(args, train, test), "cli": lambda: run_cli(args, test)}
    for path in args.paths.split(","):
        payload["results"].append(runners[path]())
        out.write_text(json.dumps(payload, indent=2))
    table = Table(title=f"Shipped defaults, MNIST, seed {args.seed}, {args.epochs} epochs")
    for col in ("path", "accuracy per epoch", "wall s"):
        table.add_column(col, justify="right")
    for r in payload["results"]:
        table.add_row(r["path"], " / ".join(f"{a:.4f}" for a in r["accuracy_per_epoch"]),
                      f"{r['wall_time_s']:.0f}")
    Console().print(table)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

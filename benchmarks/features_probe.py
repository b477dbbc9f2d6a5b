"""What the exported encoder's features are worth downstream: probes on MNIST.

Encodes MNIST's 60,000 training and 10,000 test images with an exported ``encoder.onnx``
(ONNX Runtime, no torch) and fits the probes a service would: logistic regression with every
training label and with 10 and 100 labels per class (5 draws each), and a 10-nearest-neighbour
classifier; test accuracy of each. The same probes run on baselines: raw pixels, PCA-50, and
the posterior means of pythae's VAE and beta-VAE (beta 4) trained for ``--baseline-epochs`` with
networks of InfoVAEGAN's capacity (``infovaegan_plugin.evaluation.baselines``). Every
representation is standardised with statistics of the (unlabelled) training images.

    python benchmarks/features_probe.py --export runs/mnist/onnx --data-dir ../shared/data/mnist \
        --baseline-epochs 3 --output benchmarks/results/features_probe.json

Representations of our encoder: every ``embedding``-like output the export has -- ``features``
(the codes: categorical probabilities, continuous means, noise means), ``codes`` (categorical
and continuous only) and ``trunk_features`` (the encoder trunk's last hidden layer, an output of
exports since 0.2). Linear probes choose their L2 regularisation by 3-fold cross-validation on
the labelled training rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

LABELS_PER_CLASS = (10, 100)
DRAWS = 5
#: Inverse regularisation strengths the linear probes choose from by cross-validation.
REGULARISATION = (0.01, 0.1, 1.0, 10.0)


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(0), train.std(0) + 1e-6
    return (train - mean) / std, (test - mean) / std


def few_label_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                           for c in np.unique(labels)])


def probe(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray
          ) -> dict[str, float | list[float]]:
    """Test accuracies of the four probes on one representation."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.neighbors import KNeighborsClassifier

    train, test = standardise(train.astype(np.float64), test.astype(np.float64))

    def linear(rows: np.ndarray | slice) -> float:
        # The regularisation is chosen by 3-fold cross-validation on the labelled rows only,
        # as a user with that many labels would; the test images are never seen.
        model = LogisticRegressionCV(Cs=REGULARISATION, cv=3, max_iter=2000)
        model.fit(train[rows], y_train[rows])
        return float(model.score(test, y_test))

    result: dict[str, float | list[float]] = {"linear_all": linear(slice(None))}
    for k in LABELS_PER_CLASS:
        scores = [linear(few_label_indices(y_train, k, seed)) for seed in range(DRAWS)]
        result[f"linear_{k}_per_class"] = float(np.mean(scores))
        result[f"linear_{k}_per_class_draws"] = scores
    knn = KNeighborsClassifier(n_neighbors=10).fit(train, y_train)
    result["knn10"] = float(knn.score(test, y_test))
    return result


def timed(encode: Callable[[np.ndarray], np.ndarray], images: np.ndarray
          ) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = encode(images)
    return out, (time.perf_counter() - start) / len(images) * 1e3


# --------------------------------------------------------------------------- representations


def onnx_representations(export: Path, threads: int, images: np.ndarray
                         ) -> dict[str, tuple[np.ndarray, float]]:
    from infovaegan_plugin.deploy.runtime import OnnxEncoder

    encoder = OnnxEncoder(export, providers="cpu", intra_op_num_threads=threads)
    codes, ms = timed(encoder.encode, images)
    found = {"features": (codes["features"], ms),
             "codes": (np.concatenate([codes["categorical_probs"], codes["continuous_mean"]],
                                      axis=1), ms)}
    if "trunk_features" in codes:
        found["trunk_features"] = (codes["trunk_features"], ms)
    return found


def vae_representation(kind: str, train, export: Path, epochs: int, seed: int
                       ) -> Callable[[np.ndarray], np.ndarray]:
    """A pythae VAE (beta 1) or beta-VAE (beta 4) with InfoVAEGAN-matched networks, trained
    on the training images; returns its posterior-mean encoder."""
    import torch
    from pythae.models import BetaVAE, BetaVAEConfig
    from pythae.trainers import BaseTrainerConfig

    from infovaegan_plugin.data import to_pythae_dataset
    from infovaegan_plugin.deploy.runtime import OnnxEncoder
    from infovaegan_plugin.evaluation.baselines import (
        VAE_LEARNING_RATE,
        MatchedDecoder,
        MatchedEncoder,
        make_trainer,
        matched_latent_dim,
        quiet_pythae,
    )
    from infovaegan_plugin.models.infovaegan.nets import init_weights
    from infovaegan_plugin.presets import model_config_for

    layout_source = OnnxEncoder(export, providers="cpu")
    config = model_config_for("mnist", layout_source.input_shape)
    torch.manual_seed(seed)
    latent = matched_latent_dim(config)
    encoder, decoder = MatchedEncoder(config, latent), MatchedDecoder(config)
    for net in (encoder, decoder):
        net.apply(init_weights)
    beta = {"vae": 1.0, "beta_vae": 4.0}[kind]
    model = BetaVAE(BetaVAEConfig(input_dim=tuple(config.input_dim), latent_dim=latent,
                                  reconstruction_loss="bce", beta=beta),
                    encoder=encoder, decoder=decoder)
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"features_probe_{kind}_{os.getpid()}"
    training = BaseTrainerConfig(output_dir=str(out), num_epochs=epochs,
                                 learning_rate=VAE_LEARNING_RATE, per_device_train_batch_size=64,
                                 per_device_eval_batch_size=256, seed=seed, no_cuda=True,
                                 steps_saving=None)
    with quiet_pythae():
        make_trainer(model, training, to_pythae_dataset(train), None).train()
    model.eval()

    def encode(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([model.encoder(torch.from_numpy(images[i:i + 512]))
                                   .embedding.numpy() for i in range(0, len(images), 512)])

    return encode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--baselines", default="pixels,pca50,vae,beta_vae")
    parser.add_argument("--baseline-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from infovaegan_plugin.data import load_mnist

    torch.set_num_threads(args.threads)
    console = Console(width=160)
    train, test = load_mnist(args.data_dir, split="train"), load_mnist(args.data_dir, split="test")
    x_train, y_train = train.images, train.labels
    x_test, y_test = test.images, test.labels
    both = np.concatenate([x_train, x_test])
    n = len(x_train)

    representations: dict[str, tuple[np.ndarray, float]] = {}
    console.print("encoding with the ONNX encoder ...")
    representations.update(onnx_representations(args.export, args.threads, both))
    chosen = [b.strip() for b in args.baselines.split(",") if b.strip()]
    if "pixels" in chosen:
        representations["pixels"] = (both.reshape(len(both), -1), 0.0)
    if "pca50" in chosen:
        from sklearn.decomposition import PCA

        pca = PCA(50, random_state=args.seed).fit(x_train.reshape(n, -1))
        representations["pca50"] = timed(lambda a: pca.transform(a.reshape(len(a), -1)), both)
    for kind in ("vae", "beta_vae"):
        if kind in chosen:
            console.print(f"training pythae {kind} for {args.baseline_epochs} epoch(s) ...")
            started = time.perf_counter()
            encode = vae_representation(kind, train, args.export, args.baseline_epochs,
                                        args.seed)
            console.print(f"  trained in {time.perf_counter() - started:.0f} s")
            representations[kind] = timed(encode, both)

    results = {}
    for name, (values, ms) in representations.items():
        console.print(f"probing {name} ({values.shape[1]} values) ...")
        results[name] = {"dims": int(values.shape[1]), "encode_ms_per_image": ms,
                         **probe(values[:n], y_train, values[n:], y_test)}

    table = Table(title=f"MNIST test accuracy of probes on each representation ({args.export})")
    for column in ("representation", "dims", "linear, all labels", "linear, 10/class",
                   "linear, 100/class", "10-NN", "encode ms/image"):
        table.add_column(column, justify="right")
    for name, r in results.items():
        table.add_row(name, str(r["dims"]), f"{r['linear_all']:.4f}",
                      f"{r['linear_10_per_class']:.4f}", f"{r['linear_100_per_class']:.4f}",
                      f"{r['knn10']:.4f}", f"{r['encode_ms_per_image']:.4f}")
    console.print(table)
    if args.output:
        record = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
                  "export": str(args.export), "threads": args.threads,
                  "labels_per_class_draws": DRAWS, "results": results}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(record, indent=2) + "\n")
        console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

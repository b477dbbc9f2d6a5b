"""All metrics of one trained model on held-out data, as one JSON-ready dict.

The flat ``metrics`` dict holds one headline number per metric (see :data:`METRICS` for names,
meaning and direction); ``details`` keeps the full reports (cluster counts, metric sample sizes,
train/eval accuracies of the disentanglement classifiers, ...).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import write_text
from ..data import ImageData
from ..metrics import (
    METRIC_NAMES,
    DatasetClassifier,
    GroundTruthData,
    UntrustworthyClassifierError,
    classifier_frechet_report,
    clustering_report,
    evaluate_disentanglement,
    evaluate_reconstruction,
    require_trustworthy,
    scores_by_factor,
    train_feature_classifier,
)
from ..metrics.dataset_classifier import predict_labels
from ..viz import MAX_TILE, GridLabels, save_reconstruction_grid, save_small_grid
from .adapters import BATCH, ModelAdapter, adapter_for
from .baselines import describe_model

#: Headline metrics: key -> (label, higher is better).
METRICS: dict[str, tuple] = {
    "accuracy": ("clustering accuracy", True),
    "nmi": ("NMI", True),
    "ari": ("ARI", True),
    "recon_mse": ("reconstruction MSE", False),
    "recon_bce": ("reconstruction BCE", False),
    "cfd": ("classifier Frechet distance", False),
    "beta_vae": ("beta-VAE metric", True),
    "factor_vae": ("FactorVAE metric", True),
    "mig": ("MIG", True),
    "dci": ("DCI disentanglement", True),
    "sprite_fraction": ("samples drawing a sprite", True),
}
#: Where each disentanglement metric's headline score lives in its report.
_DISENTANGLEMENT_HEADLINE = {
    "beta_vae": "eval_accuracy",
    "factor_vae": "eval_accuracy",
    "mig": "discrete_mig",
    "dci": "disentanglement",
}
#: Images the feature classifier is trained on at most (a few epochs on CPU).
CLASSIFIER_MAX_IMAGES = 20000
CLASSIFIER_METRICS_FILE = "classifier_metrics.json"
#: prior samples whose sprites are counted (dSprites): the first of the ``n_samples``
SPRITE_SAMPLES = 2000

Step = Callable[[str], None]


@dataclass(frozen=True)
class EvaluationSettings:
    """``metric_scale`` multiplies the disentanglement sample sizes (1.0: disentanglement_lib's
    defaults); ``n_samples`` generated images are compared with the held-out images."""

    seed: int = 0
    metric_scale: float = 1.0
    n_samples: int = 5000
    disentanglement_metrics: tuple = METRIC_NAMES

    def __post_init__(self) -> None:
        if not self.metric_scale > 0:
            raise ValueError(f"metric scale must be > 0, got {self.metric_scale}.")
        if self.n_samples < 2:
            raise ValueError(f"the number of samples must be >= 2, got {self.n_samples}.")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["disentanglement_metrics"] = list(self.disentanglement_metrics)
        return out


def planned_steps(
    data: ImageData, ground_truth: GroundTruthData | None, classifier: object | None
) -> list[str]:
    """The evaluation steps :func:`evaluate_adapter` will run (for progress bars)."""
    steps = ["clustering"] if data.labels is not None else []
    steps.append("reconstruction")
    if classifier is not None:
        steps.append("cfd")
    if ground_truth is not None:
        steps += ["sprites", "disentanglement"]
    return steps


def sample_images(adapter: ModelAdapter, n: int, seed: int = 0) -> np.ndarray:
    """``n`` prior samples, generated in batches (each batch its own derived seed)."""
    chunks = []
    for i, start in enumerate(range(0, n, BATCH)):
        batch = adapter.sample(min(BATCH, n - start), seed=seed * 100_003 + i)
        chunks.append(batch.detach().cpu().float().numpy())
    return np.clip(np.concatenate(chunks, axis=0), 0.0, 1.0)


def evaluate_adapter(
    adapter: ModelAdapter,
    data: ImageData,
    settings: EvaluationSettings = EvaluationSettings(),
    ground_truth: GroundTruthData | None = None,
    classifier: DatasetClassifier | None = None,
    on_step: Step | None = None,
) -> dict[str, Any]:
    """Clustering (when ``data`` has labels), reconstruction, classifier Frechet distance (when
    a classifier is given) and disentanglement (when ``ground_truth`` is given).

    The Frechet report carries the classifier's held-out accuracy; a classifier too weak for
    it leaves ``cfd`` out of ``metrics`` and ``details["cfd"]`` holds the refusal."""
    notify = on_step or (lambda name: None)
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    timings: dict[str, float] = {}
    images = data.images

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        notify(name)
        started = time.perf_counter()
        value = fn()
        timings[name] = time.perf_counter() - started
        return value

    if data.labels is not None:
        n_classes = int(np.unique(data.labels).size)
        report = timed(
            "clustering",
            lambda: clustering_report(
                data.labels, adapter.cluster(images, max(n_classes, 2), settings.seed)
            ),
        )
        details["clustering"] = {**report, "method": adapter.clustering_method}
        metrics.update({k: report[k] for k in ("accuracy", "nmi", "ari")})
    generated: list[np.ndarray] = []

    def prior_samples() -> np.ndarray:
        """The ``n_samples`` prior samples, generated once for every metric that reads them."""
        if not generated:
            generated.append(sample_images(adapter, settings.n_samples, settings.seed))
        return generated[0]

    recon = timed("reconstruction", lambda: evaluate_reconstruction(adapter.reconstruct, images))
    details["reconstruction"] = recon
    metrics["recon_mse"], metrics["recon_bce"] = recon["mse"], recon["bce"]
    if classifier is not None:
        def cfd() -> dict[str, Any]:
            try:
                require_trustworthy(classifier, "the classifier Frechet distance")
            except UntrustworthyClassifierError as exc:
                return {"refused": str(exc),
                        "classifier_held_out_accuracy": classifier.held_out_accuracy}
            return classifier_frechet_report(classifier, images, prior_samples())

        details["cfd"] = timed("cfd", cfd)
        if "cfd" in details["cfd"]:
            metrics["cfd"] = details["cfd"]["cfd"]
    if ground_truth is not None:
        details["sprites"] = timed(
            "sprites",
            lambda: sprite_report(
                adapter, prior_samples()[:SPRITE_SAMPLES], images, classifier, settings.seed
            ),
        )
        metrics["sprite_fraction"] = details["sprites"]["sprite_fraction"]
        scores = timed(
            "disentanglement",
            lambda: evaluate_disentanglement(
                ground_truth,
                adapter.represent,
                rng_seed=settings.seed,
                metrics=settings.disentanglement_metrics,
                scale=settings.metric_scale,
            ),
        )
        details["disentanglement"] = scores
        names = getattr(ground_truth, "factor_names", None)
        if names:  # where the scores are lost, by named factor
            details["by_factor"] = scores_by_factor(scores, names)
        for name in settings.disentanglement_metrics:
            metrics[name] = float(scores[name][_DISENTANGLEMENT_HEADLINE[name]])
    return {
        "metrics": metrics,
        "details": details,
        "timings_s": timings,
        "n_eval": len(data),
        "clustering_method": adapter.clustering_method,
        "settings": settings.as_dict(),
    }


def sprite_report(
    adapter: ModelAdapter, fake: np.ndarray, real: np.ndarray,
    classifier: DatasetClassifier | None, seed: int = 0,
) -> dict[str, Any]:
    """Does the model draw sprites (dSprites), spread like the real ones, of every shape?

    :func:`~infovaegan_plugin.metrics.sprites.sprite_statistics` of the prior samples ``fake``
    against the real images' (``real_*``); with a trustworthy shape classifier the share of
    each shape in the samples, and for a model with a categorical code the shapes each of its
    values draws (a classifier too weak, or without a held-out accuracy, is recorded as
    ``shapes_refused``)."""
    from ..metrics.sprites import area_range, shapes_per_category, sprite_statistics

    areas = area_range(real)
    out: dict[str, Any] = sprite_statistics(fake, areas)
    out.update({f"real_{k}": v for k, v in sprite_statistics(real, areas).items()})
    if classifier is None:
        return out
    try:
        require_trustworthy(classifier, "shape shares of the samples")
    except UntrustworthyClassifierError as exc:
        return {**out, "shapes_refused": str(exc)}
    labels = predict_labels(classifier, fake, BATCH)
    shares = np.bincount(labels, minlength=classifier.num_classes) / len(labels)
    out["shape_shares"] = shares.round(4).tolist()
    model = getattr(adapter, "model", None)
    config = getattr(model, "model_config", None)
    if getattr(config, "categorical_dims", None):
        out["shapes_per_category"] = shapes_per_category(model, classifier, seed=seed)
    return out


def write_grids(
    adapter: ModelAdapter, data: ImageData, out_dir: Path, seed: int = 0, sprites: bool = False
) -> dict[str, Any]:
    """traversal.png (see each adapter's ``traversal``), samples.png (10 x 10 prior samples)
    and reconstructions.png (10 held-out images over their reconstructions); with ``sprites``
    (dSprites) also ``traversal_effects``: what each traversal row moves (position, scale,
    orientation), measured on its images."""
    out_dir = Path(out_dir)
    reference = data.images[: min(len(data), 512)]
    images, ncol, rows = adapter.traversal(reference)
    effects = None
    if sprites:
        from ..metrics.sprites import traversal_effects

        effects = traversal_effects(images.detach().cpu().float().numpy(), ncol, rows)
    traversal = GridLabels(
        title=f"Traversal: each row varies one latent code (named on the left) over {ncol} "
        "values from low (left) to high (right), everything else fixed",
        rows=rows,
    )
    paths = {"traversal": save_small_grid(images, out_dir / "traversal.png", ncol=ncol,
                                          labels=traversal)}
    paths["samples"] = save_small_grid(
        sample_images(adapter, 100, seed), out_dir / "samples.png", 10,
        labels=GridLabels(title=f"100 samples from the prior (seed {seed})"),
    )
    real = torch.from_numpy(np.ascontiguousarray(reference[:10]))
    with torch.no_grad():
        recon = adapter.reconstruct(real).detach().cpu()
    paths["reconstructions"] = save_reconstruction_grid(
        real, recon, out_dir / "reconstructions.png", "their reconstructions", max_tile=MAX_TILE)
    out = {"paths": {k: str(v) for k, v in paths.items()}, "traversal_rows": rows}
    if effects is not None:
        out["traversal_effects"] = effects
    return out


OUTPUT_FILE = "evaluation.json"


def evaluate_and_record(
    model: Any,
    model_dir: Path,
    dataset: str,
    held_out: ImageData,
    out_dir: Path,
    settings: EvaluationSettings,
    ground_truth: Any = None,
    classifier: DatasetClassifier | None = None,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every metric of ``model`` on ``held_out``, its grids, and ``evaluation.json`` in
    ``out_dir`` (what ``infovaegan evaluate`` writes); returns that JSON's content."""
    adapter = adapter_for(model)
    result = evaluate_adapter(adapter, held_out, settings, ground_truth, classifier, on_step)
    out_dir = Path(out_dir)
    grids = write_grids(adapter, held_out, out_dir, seed=settings.seed,
                        sprites=ground_truth is not None)
    payload = {
        "model_dir": str(model_dir),
        "dataset": dataset,
        "architecture": describe_model(model),
        **result,
        "grids": grids["paths"],
        "traversal_rows": grids["traversal_rows"],
        **({"traversal_effects": grids["traversal_effects"]} if "traversal_effects" in grids else {}),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / OUTPUT_FILE, json.dumps(payload, indent=2, default=float))
    return payload


def load_or_train_classifier(
    directory: Path,
    train_data: ImageData,
    eval_data: ImageData | None = None,
    epochs: int | None = None,
    seed: int = 0,
) -> DatasetClassifier:
    """The dataset's feature classifier: loaded from ``directory`` when saved there before
    (every model of a comparison must be scored by the same one), else trained and saved.

    ``epochs=None``: the classifier's default schedule. ``classifier_metrics.json`` records its
    held-out accuracy (on a split of ``train_data``) and, with ``eval_data``, its accuracy there.
    A folder from an older classifier format raises ``OutdatedClassifierError``."""
    directory = Path(directory)
    if (directory / "classifier.pt").is_file():
        classifier = DatasetClassifier.load(directory)
        if tuple(classifier.input_dim) != tuple(train_data.input_dim):
            raise ValueError(
                f"the classifier saved in {directory} expects images {classifier.input_dim}, "
                f"the data has {train_data.input_dim}; use another classifier directory."
            )
        return classifier
    if train_data.labels is None:
        raise ValueError("the classifier Frechet distance needs labelled training data.")
    subset = train_data.subset(slice(0, CLASSIFIER_MAX_IMAGES))
    started = time.perf_counter()
    classifier = train_feature_classifier(subset.images, subset.labels, epochs=epochs, seed=seed)
    info: dict[str, Any] = {
        "train_images": len(subset),
        "epochs": epochs,
        "seed": seed,
        "train_time_s": time.perf_counter() - started,
        "classifier_held_out_accuracy": classifier.held_out_accuracy,
        "classifier_held_out_images": classifier.held_out_images,
    }
    if eval_data is not None and eval_data.labels is not None:
        info["eval_accuracy"] = classifier_accuracy(classifier, eval_data)
    classifier.save(directory)
    write_text(directory / CLASSIFIER_METRICS_FILE, json.dumps(info, indent=2))
    return classifier


def classifier_accuracy(classifier: DatasetClassifier, data: ImageData) -> float:
    """Share of ``data``'s labels the classifier predicts."""
    return float((predict_labels(classifier, data.images, BATCH) == data.labels).mean())

"""Train InfoVAEGAN and the models the paper compares it with, on one budget, and score all of
them with the same metrics.

Layout of ``output_dir`` (one folder per data set, so MNIST and dSprites runs can share it)::

    <dataset>/classifier/                   feature classifier of the Frechet distance (once)
    <dataset>/<model>/seed<k>/result.json   everything measured for that run (written last)
    <dataset>/<model>/seed<k>/*.png         traversal, samples, reconstructions
    <dataset>/<model>/seed<k>/training/     pythae's run folder (InfoVAEGAN variants reload
                                            with InfoVAEGAN.load_from_folder)
    <dataset>/summary.json, comparison.md, charts/<metric>.png

Resumable: a run whose ``result.json`` exists is not retrained. Results of different budgets
must not be averaged together, so a ``result.json`` written with other settings stops the
command (unless ``force``) instead of being silently reused. With ``rescore``, a run trained
on the same budget but scored with other evaluation settings (metric scale, metrics, samples)
is scored again from its saved model instead: train cheaply once, score at full scale later.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from ..atomic import write_text
from ..data import ImageData, available_datasets, to_pythae_dataset, train_held_out
from ..metrics.disentanglement import METRIC_NAMES
from ..models.infovaegan import InfoVAEGAN, InfoVAEGANConfig
from ..presets import model_config_for, preset_for
from ..trainers import InfoVAEGANTrainerConfig
from ..training import build_model, fit
from .adapters import adapter_for
from .baselines import (
    BASELINE_NAMES,
    baseline_trainer_config,
    build_baseline,
    describe_model,
    make_trainer,
    matched_latent_dim,
    quiet_pythae,
)
from .dsprites_ground_truth import DSpritesGroundTruth
from .evaluate import (
    EvaluationSettings,
    evaluate_adapter,
    load_or_train_classifier,
    planned_steps,
    write_grids,
)
from .report import write_report

INFOVAEGAN_VARIANTS = ("infovaegan", "infogan", "ali")
MODEL_NAMES: tuple[str, ...] = INFOVAEGAN_VARIANTS + BASELINE_NAMES
DATASETS = available_datasets()
#: Fixed split seed: every model and seed is scored on the same held-out images.
DATA_SEED = 0
RESULT_FILE = "result.json"
#: Fingerprint values of results written before the field existed (what those runs did).
FINGERPRINT_BEFORE_FIELD: dict[str, Any] = {"disentanglement_metrics": sorted(METRIC_NAMES)}
#: Fingerprint fields that change only how a trained model is scored (``rescore`` may differ).
EVALUATION_FIELDS = frozenset(
    {"metric_scale", "n_samples", "classifier_epochs", "disentanglement_metrics"}
)


class BenchmarkError(ValueError):
    """Bad benchmark input, or an output folder holding results of other settings."""


@dataclass(frozen=True)
class BenchmarkSettings:
    """One comparison: which models and seeds, the shared training budget and the metrics."""

    dataset: str
    output_dir: Path
    models: tuple[str, ...] = MODEL_NAMES
    seeds: tuple[int, ...] = (0,)
    epochs: int | None = None
    batch_size: int | None = None
    data_dir: Path | None = None
    limit: int | None = None
    eval_fraction: float = 0.1
    hidden_dim: int | None = None
    base_channels: int | None = None
    metric_scale: float = 1.0
    n_samples: int = 5000
    classifier_epochs: int | None = None
    disentanglement_metrics: tuple[str, ...] = METRIC_NAMES
    device: str = "cpu"
    force: bool = False
    rescore: bool = False

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise BenchmarkError(
                f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}."
            )
        unknown = [m for m in self.models if m not in MODEL_NAMES]
        if unknown or not self.models:
            raise BenchmarkError(
                f"unknown model(s) {', '.join(unknown) or '(none given)'}; valid models: "
                f"{', '.join(MODEL_NAMES)}."
            )
        if len(set(self.models)) != len(self.models) or len(set(self.seeds)) != len(self.seeds):
            raise BenchmarkError("models and seeds must not repeat.")
        if not self.seeds:
            raise BenchmarkError("give at least one seed.")
        for name in ("epochs", "batch_size", "limit", "hidden_dim", "base_channels"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise BenchmarkError(f"{name} must be >= 1, got {value}.")
        unknown = [m for m in self.disentanglement_metrics if m not in METRIC_NAMES]
        if unknown or not self.disentanglement_metrics:
            raise BenchmarkError(
                f"unknown disentanglement metric(s) {', '.join(unknown) or '(none given)'}; "
                f"valid: {', '.join(METRIC_NAMES)}."
            )
        if self.force and self.rescore:
            raise BenchmarkError("--force retrains and --rescore keeps the training: pick one.")
        EvaluationSettings(metric_scale=self.metric_scale, n_samples=self.n_samples)

    @property
    def num_epochs(self) -> int:
        return self.epochs or int(preset_for(self.dataset)["epochs"])

    @property
    def train_batch_size(self) -> int:
        return self.batch_size or int(preset_for(self.dataset)["batch_size"])

    def fingerprint(self) -> dict[str, Any]:
        """The settings a result depends on; results with different ones are not comparable."""
        return {
            "dataset": self.dataset,
            "epochs": self.num_epochs,
            "batch_size": self.train_batch_size,
            "limit": self.limit,
            "eval_fraction": self.eval_fraction,
            "hidden_dim": self.hidden_dim,
            "base_channels": self.base_channels,
            "metric_scale": self.metric_scale,
            "n_samples": self.n_samples,
            "classifier_epochs": self.classifier_epochs,
            "disentanglement_metrics": sorted(self.disentanglement_metrics),
        }

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON (resolved epochs and batch size) for ``summary.json``."""
        out = asdict(self)
        out.pop("force")
        out.pop("rescore")
        out.update(
            output_dir=str(self.output_dir),
            data_dir=None if self.data_dir is None else str(self.data_dir),
            models=list(self.models),
            seeds=list(self.seeds),
            disentanglement_metrics=list(self.disentanglement_metrics),
            epochs=self.num_epochs,
            batch_size=self.train_batch_size,
        )
        return out

    @property
    def dataset_dir(self) -> Path:
        return Path(self.output_dir) / self.dataset

    def run_dir(self, model: str, seed: int) -> Path:
        return self.dataset_dir / model / f"seed{seed}"


# ----- data and models --------------------------------------------------------------------


def base_config(
    settings: BenchmarkSettings, input_dim, variant: str = "infovaegan"
) -> InfoVAEGANConfig:
    """The data set's preset config, with the benchmark's width overrides."""
    overrides = {
        k: getattr(settings, k) for k in ("hidden_dim", "base_channels") if getattr(settings, k)
    }
    return model_config_for(settings.dataset, input_dim, variant, **overrides)


def _common_trainer_fields(settings: BenchmarkSettings, seed: int, out: Path) -> dict[str, Any]:
    return {
        "output_dir": str(out),
        "num_epochs": settings.num_epochs,
        "per_device_train_batch_size": settings.train_batch_size,
        "per_device_eval_batch_size": 256,
        "seed": seed,
        "steps_saving": None,
        "no_cuda": settings.device == "cpu",
    }


def train_model(
    name: str,
    settings: BenchmarkSettings,
    train_ds,
    eval_ds,
    seed: int,
    out: Path,
    callbacks: list | None = None,
) -> torch.nn.Module:
    """Train one model for the shared budget; returns it in eval mode (last epoch's weights)."""
    input_dim = tuple(train_ds.data.shape[1:])
    fields = _common_trainer_fields(settings, seed, out)
    torch.manual_seed(seed)
    with quiet_pythae():
        if name in INFOVAEGAN_VARIANTS:
            model = build_model(base_config(settings, input_dim, name), seed)
            trained = fit(model, InfoVAEGANTrainerConfig(**fields), train_ds, eval_ds,
                          callbacks).model
        else:
            model = build_baseline(name, base_config(settings, input_dim))
            trainer = make_trainer(
                model, baseline_trainer_config(name, **fields), train_ds, eval_ds, callbacks
            )
            trainer.train()
            trained = trainer.model
    return trained.eval()


# ----- resumability -----------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _settings_diff(result: dict[str, Any], settings: BenchmarkSettings) -> dict[str, tuple]:
    old = {**FINGERPRINT_BEFORE_FIELD, **result.get("fingerprint", {})}
    return {k: (old.get(k), v) for k, v in settings.fingerprint().items() if old.get(k) != v}


def existing_result(settings: BenchmarkSettings, model: str, seed: int) -> dict[str, Any] | None:
    """The finished result of a run, ``None`` when it must (re)run; raises when the folder holds
    a result of other settings (averaging it with new runs would mix budgets).

    With ``settings.rescore`` a result that differs only in :data:`EVALUATION_FIELDS` is
    returned as it is; :func:`needs_rescore` tells it apart from a finished one."""
    path = settings.run_dir(model, seed) / RESULT_FILE
    if settings.force or not path.is_file():
        return None
    result = _read_json(path)
    if result is None:
        return None  # a torn write: rerun
    diff = _settings_diff(result, settings)
    if settings.rescore:
        diff = {k: v for k, v in diff.items() if k not in EVALUATION_FIELDS}
    if diff:
        changes = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
        hint = "" if settings.rescore else (
            "; --rescore scores saved models again when only the evaluation settings differ"
        )
        raise BenchmarkError(
            f"{path} was written with other settings ({changes}); use another --output-dir, "
            f"the same settings, or --force to retrain{hint}."
        )
    return result


def needs_rescore(result: dict[str, Any], settings: BenchmarkSettings) -> bool:
    """A result of the same training budget scored with other evaluation settings."""
    return bool(_settings_diff(result, settings))


def saved_model_dir(run_dir: Path) -> Path:
    """The ``final_model`` folder pythae wrote in the run's ``training/`` folder."""
    found = sorted((run_dir / "training").glob("*/final_model/model.pt"))
    if len(found) != 1:
        what = "no saved model" if not found else f"{len(found)} saved models"
        raise BenchmarkError(
            f"cannot rescore {run_dir}: {what} under training/*/final_model/ (expected one); "
            "retrain it with --force."
        )
    return found[0].parent


def load_trained(
    name: str, settings: BenchmarkSettings, input_dim, run_dir: Path
) -> torch.nn.Module:
    """A benchmark run's final model, rebuilt from the settings and read with
    ``weights_only=True`` (pythae's pickled baseline networks are never unpickled)."""
    folder = saved_model_dir(run_dir)
    if name in INFOVAEGAN_VARIANTS:
        return InfoVAEGAN.load_from_folder(str(folder)).eval()
    model = build_baseline(name, base_config(settings, input_dim))
    try:
        payload = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(payload["model_state_dict"])
    except (RuntimeError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        raise BenchmarkError(
            f"cannot rescore {folder}: its weights do not fit a {name} of these settings ({exc})."
        ) from exc
    return model.eval()


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    write_text(path, json.dumps(payload, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ----- the benchmark ----------------------------------------------------------------------


Callbacks = Callable[[], list]


@dataclass(frozen=True)
class Scoring:
    """What every run of one benchmark is scored with: the settings, the (training, held-out)
    data, the Frechet classifier and the dSprites ground truth (``None`` elsewhere)."""

    settings: BenchmarkSettings
    data: tuple[ImageData, ImageData]
    classifier: Any
    ground_truth: Any
    console: Console


def run_one(
    name: str,
    seed: int,
    scoring: Scoring,
    datasets: tuple[Any, Any],
    make_callbacks: Callbacks | None = None,
) -> dict[str, Any]:
    """Train, evaluate, draw and record one (model, seed) run."""
    training_dir = scoring.settings.run_dir(name, seed) / "training"
    if training_dir.exists():
        shutil.rmtree(training_dir)  # a run that stopped half-way: start it again
    training_dir.mkdir(parents=True)
    started = time.perf_counter()
    model = train_model(
        name, scoring.settings, *datasets, seed, training_dir,
        make_callbacks() if make_callbacks else None,
    )
    train_time = time.perf_counter() - started
    scoring.console.print(f"  trained in {train_time:.1f} s; evaluating")
    return score_run(name, seed, scoring, model,
                     {"n_train": len(scoring.data[0]), "train_time_s": train_time})


def rescore_one(name: str, seed: int, scoring: Scoring, previous: dict[str, Any]) -> dict[str, Any]:
    """Score a finished run's saved model again under the current evaluation settings."""
    settings = scoring.settings
    input_dim = tuple(scoring.data[0].images.shape[1:])
    model = load_trained(name, settings, input_dim, settings.run_dir(name, seed))
    old = previous.get("fingerprint", {})
    training = {
        "n_train": previous.get("n_train"),
        "train_time_s": previous.get("train_time_s"),
        "rescored_from": {k: old.get(k) for k in sorted(EVALUATION_FIELDS)},
    }
    return score_run(name, seed, scoring, model, training)


def score_run(
    name: str, seed: int, scoring: Scoring, model: torch.nn.Module, training: dict[str, Any]
) -> dict[str, Any]:
    """Evaluate, draw and record a trained model; ``training`` holds what its training
    measured (``n_train``, ``train_time_s``), kept as it was when a run is scored again."""
    settings, eval_data = scoring.settings, scoring.data[1]
    run_dir = settings.run_dir(name, seed)
    adapter = adapter_for(model)
    eval_settings = EvaluationSettings(
        seed=seed, metric_scale=settings.metric_scale, n_samples=settings.n_samples,
        disentanglement_metrics=settings.disentanglement_metrics,
    )
    started = time.perf_counter()
    evaluation = evaluate_adapter(
        adapter,
        eval_data,
        eval_settings,
        ground_truth=scoring.ground_truth,
        classifier=scoring.classifier,
        on_step=lambda step: scoring.console.print(f"  - {step}"),
    )
    grids = write_grids(adapter, eval_data, run_dir, seed=seed,
                        sprites=scoring.ground_truth is not None)
    eval_time = time.perf_counter() - started
    result = {
        "model": name,
        "dataset": settings.dataset,
        "seed": seed,
        "fingerprint": settings.fingerprint(),
        **training,
        "eval_time_s": eval_time,
        "architecture": describe_model(model),
        **evaluation,
        "grids": {k: os.path.relpath(v, run_dir) for k, v in grids["paths"].items()},
        "traversal_rows": grids["traversal_rows"],
        **({"traversal_effects": grids["traversal_effects"]} if "traversal_effects" in grids else {}),
    }
    _write_json_atomic(run_dir / RESULT_FILE, result)
    return result


def run_benchmark(
    settings: BenchmarkSettings,
    console: Console | None = None,
    make_callbacks: Callbacks | None = None,
) -> dict[str, Any]:
    """Run (or resume) every (model, seed) pair, then write the summary, table and charts.

    ``make_callbacks`` builds fresh training callbacks per run (e.g. a progress bar).
    Returns the summary dict written to ``summary.json``, plus the ``"ran"``, ``"rescored"``
    and ``"skipped"`` lists.
    """
    console = console or Console()
    jobs = [(m, s) for s in settings.seeds for m in settings.models]
    done: dict[tuple[str, int], dict[str, Any]] = {}
    stale: dict[tuple[str, int], dict[str, Any]] = {}
    for name, seed in jobs:  # check every finished run first: fail before hours of training
        result = existing_result(settings, name, seed)
        if result is None:
            continue
        if needs_rescore(result, settings):
            saved_model_dir(settings.run_dir(name, seed))  # missing weights: fail now
            stale[(name, seed)] = result
        else:
            done[(name, seed)] = result
    ran: list[str] = []
    rescored: list[str] = []
    skipped = [f"{m}/seed{s}" for (m, s) in done]
    if len(done) < len(jobs):
        data = train_held_out(
            settings.dataset, settings.data_dir, settings.limit, settings.eval_fraction, DATA_SEED
        )
        console.print(
            f"[bold]{settings.dataset}[/]: {len(data[0])} training / {len(data[1])} held-out "
            f"images, {settings.num_epochs} epochs, batch {settings.train_batch_size}"
        )
        datasets = (to_pythae_dataset(data[0]), to_pythae_dataset(data[1]))
        classifier = load_or_train_classifier(
            settings.dataset_dir / "classifier", data[0], data[1], settings.classifier_epochs
        )
        ground_truth = DSpritesGroundTruth() if settings.dataset == "dsprites" else None
        scoring = Scoring(settings, data, classifier, ground_truth, console)
        steps = planned_steps(data[1], ground_truth, classifier)
        console.print(f"metrics: {', '.join(steps)}")
    for i, (name, seed) in enumerate(jobs, 1):
        label = f"[{i}/{len(jobs)}] {name} seed {seed}"
        if (name, seed) in done:
            finished = settings.run_dir(name, seed) / RESULT_FILE
            console.print(f"{label}: skipped (finished: {finished})")
            continue
        if (name, seed) in stale:
            console.print(f"[bold]{label}[/]: scoring the saved model again")
            done[(name, seed)] = rescore_one(name, seed, scoring, stale[(name, seed)])
            rescored.append(f"{name}/seed{seed}")
            continue
        console.print(f"[bold]{label}[/]: training")
        done[(name, seed)] = run_one(name, seed, scoring, datasets, make_callbacks)
        ran.append(f"{name}/seed{seed}")
    summary = write_report(settings, [done[j] for j in jobs])
    return {**summary, "ran": ran, "rescored": rescored, "skipped": skipped}


__all__ = [
    "MODEL_NAMES",
    "INFOVAEGAN_VARIANTS",
    "DATASETS",
    "BenchmarkError",
    "BenchmarkSettings",
    "base_config",
    "train_model",
    "Scoring",
    "run_one",
    "score_run",
    "rescore_one",
    "load_trained",
    "saved_model_dir",
    "needs_rescore",
    "EVALUATION_FIELDS",
    "run_benchmark",
    "existing_result",
    "matched_latent_dim",
]

"""One training run of InfoVAEGAN, as ``infovaegan train`` does it: data, preset configs,
pipeline, callbacks, run folder, ``metrics.json`` and the PNG grids.

:func:`prepare_run` loads the data and builds the configs (cheap, and where bad input is
found); :func:`train_run` trains, keeps nothing of a run that failed before keeping anything,
and writes the summary. :func:`build_model` + :func:`fit` are the bare seeded model and
pipeline steps the benchmarks share.
The data set's name is stored in the model config (``trained_on``), so it travels with every
saved model and checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_text
from .data import ImageData, is_named, to_pythae_dataset, train_held_out
from .models.infovaegan import VARIANTS, InfoVAEGAN, InfoVAEGANConfig
from .presets import model_config_for, preset_for
from .trainers import InfoVAEGANTrainerConfig
from .trainers.infovaegan_trainer.infovaegan_trainer_config import batch_size_error
from .trainers.infovaegan_trainer.resume import (
    Checkpoint,
    check_resumable,
    check_variant,
    merge_settings,
)
from .trainers.infovaegan_trainer.run_control import RUN_SETTINGS_FILE, remove_empty_run

__all__ = ["DEFAULTS", "METRICS_FILE", "PreparedRun", "RunResult", "build_model", "fit",
           "prepare_run", "run_settings", "train_run", "trainer_config"]

#: Defaults of the settings that a resumed run may take from its checkpoint instead.
DEFAULTS: dict[str, Any] = {
    "dataset": "digits", "data_dir": None, "limit": None, "eval_fraction": 0.1,
    "variant": "infovaegan", "seed": 0, "device": "auto", "amp": False, "threads": None,
    "checkpoint_every": 1, "keep_checkpoints": 3, "data_seed": None, "purity": True,
}
METRICS_FILE = "metrics.json"


def build_model(model_config: InfoVAEGANConfig, seed: int) -> InfoVAEGAN:
    """InfoVAEGAN with its weights initialised under ``seed``."""
    import torch

    torch.manual_seed(seed)
    return InfoVAEGAN(model_config)


def fit(model: Any, training_config: InfoVAEGANTrainerConfig, train_data: Any,
        eval_data: Any = None, callbacks: list | None = None,
        on_pipeline: Callable[[Any], None] | None = None) -> Any:
    """Train ``model`` with pythae's pipeline; returns the trainer (``trainer.model`` is the
    trained model, ``trainer.history`` the epochs).

    ``train_data``/``eval_data``: ImageData or pythae datasets. ``on_pipeline`` receives the
    pipeline before training, for callers that need its trainer when training fails.
    """
    from pythae.pipelines import TrainingPipeline

    def dataset(data: Any) -> Any:
        return to_pythae_dataset(data) if isinstance(data, ImageData) else data

    pipeline = TrainingPipeline(model=model, training_config=training_config)
    if on_pipeline is not None:
        on_pipeline(pipeline)
    try:
        pipeline(train_data=dataset(train_data),
                 eval_data=None if eval_data is None else dataset(eval_data), callbacks=callbacks)
    finally:
        _one_console_handler()
    return pipeline.trainer


def _one_console_handler() -> None:
    """pythae's ``MetricConsolePrinterCallback`` adds a console handler to its module's logger
    each time a trainer is built, so a process that trains several runs (restarts, benchmarks)
    printed every loss line once more per run. Keep the first."""
    import logging

    logger = logging.getLogger("pythae.trainers.training_callbacks")
    consoles = [h for h in logger.handlers if type(h) is logging.StreamHandler]
    for extra in consoles[1:]:
        logger.removeHandler(extra)


@dataclass
class PreparedRun:
    """A run ready to train: its settings (epochs and batch size resolved), data and configs."""

    settings: dict[str, Any]
    train_data: ImageData
    eval_data: ImageData
    model_config: InfoVAEGANConfig
    checkpoint: Checkpoint | None = None

    def describe(self, device: str) -> str:
        """One line on the data and where the run trains (after the data set's name)."""
        import torch

        data, held = self.train_data, self.eval_data
        return (f"{len(data)} training / {len(held)} held-out images "
                f"{tuple(data.images.shape[1:])}, variant {self.settings['variant']}, device "
                f"{device}, {torch.get_num_threads()} thread(s)"
                + (f", resuming after epoch {self.checkpoint.epoch}" if self.checkpoint else ""))


@dataclass
class RunResult:
    """What a finished run wrote."""

    folder: Path
    dataset: str
    final_metrics: dict[str, Any]
    health_warnings: list[str]
    grids: dict[str, Path] = field(default_factory=dict)

    @property
    def final_model(self) -> Path:
        return self.folder / "final_model"

    @property
    def metrics_path(self) -> Path:
        return self.folder / METRICS_FILE


def run_settings(given: Mapping[str, Any], checkpoint: Checkpoint | None = None
                 ) -> dict[str, Any]:
    """The settings of ``infovaegan train``: the options given (``None``: not given) win,
    then those ``checkpoint`` recorded, then :data:`DEFAULTS`.

    Raises ``ValueError``, naming the option, without an output folder or for an unknown
    variant: both are found before any data is read or folder made.
    """
    settings = merge_settings(given, checkpoint, DEFAULTS)
    if settings.get("output_dir") is None:
        raise ValueError("--output-dir is required (where the run folder is created).")
    if settings["variant"] not in VARIANTS:
        raise ValueError(f"--variant must be one of {', '.join(VARIANTS)}, "
                         f"got {settings['variant']!r}.")
    settings["device"] = settings["device"] or "auto"
    return settings


def prepare_run(settings: Mapping[str, Any], checkpoint: Checkpoint | None = None,
                given_variant: str | None = None) -> PreparedRun:
    """Load the data and build the model config (the data set's preset, or ``custom`` for a
    path); with a ``checkpoint``, check that it resumes the same model with epochs left (a
    resumed run keeps the checkpoint's ``trained_on``, ``None`` for checkpoints saved before
    it existed, whose data set export then finds in the run's metrics.json).

    Raises ``DataError``/``InvalidInputError``/``ValueError`` for bad data and
    :class:`ResumeError` for a checkpoint that does not fit.
    """
    settings = dict(settings)
    dataset = settings["dataset"]
    preset = preset_for(dataset if is_named(dataset) else "custom")
    settings["epochs"] = settings.get("epochs") or preset["epochs"]
    settings["batch_size"] = settings.get("batch_size") or preset["batch_size"]
    too_large = batch_size_error("batch_size", settings["batch_size"])
    if too_large is not None:  # found before the data is read
        raise ValueError(too_large)
    # restarts (:mod:`.restarts`) train several seeds on the base seed's split
    data_seed = settings.get("data_seed")
    train_data, eval_data = train_held_out(
        dataset, settings["data_dir"], settings["limit"], settings["eval_fraction"],
        settings["seed"] if data_seed is None else data_seed)
    model_config = model_config_for(dataset if is_named(dataset) else "custom",
                                    train_data.images.shape[1:], settings["variant"])
    model_config.trained_on = train_data.name
    if checkpoint is not None:
        check_variant(checkpoint, given_variant)
        # the checkpoint's config: equal in every field it records, and in the fields it
        # predates it keeps the behaviour it trained with (the trainer compares whole configs)
        model_config = check_resumable(checkpoint, model_config, settings["epochs"])
    return PreparedRun(settings, train_data, eval_data, model_config, checkpoint)


def trainer_config(run: PreparedRun, device: str) -> InfoVAEGANTrainerConfig:
    """The trainer config of ``run`` on ``device`` ("cpu" or "cuda"), as :func:`train_run`
    trains it (benchmarks/dsprites_step_speed.py times its steps)."""
    settings = run.settings
    return InfoVAEGANTrainerConfig(
        output_dir=str(Path(settings["output_dir"])),
        num_epochs=settings["epochs"],
        per_device_train_batch_size=settings["batch_size"],
        seed=settings["seed"],
        steps_saving=settings["checkpoint_every"],
        keep_checkpoints=settings["keep_checkpoints"] or None,
        resume_from_checkpoint=str(run.checkpoint.path) if run.checkpoint else None,
        no_cuda=device == "cpu",
        amp=bool(settings["amp"]),
    )


def _recordable(settings: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready settings with paths made absolute, so a resume works from any folder."""
    out = {k: str(v.absolute()) if isinstance(v, Path) else v for k, v in settings.items()}
    if out.get("dataset") is not None and not is_named(out["dataset"]):
        out["dataset"] = str(Path(out["dataset"]).absolute())
    return out


def _run_settings_callback(holder: dict[str, Any], settings: dict[str, Any]) -> Any:
    """Writes ``run_settings.json`` into the run folder when training begins, so every
    checkpoint can be resumed with the same settings."""
    from pythae.trainers.training_callbacks import TrainingCallback

    class RunSettings(TrainingCallback):
        def on_train_begin(self, training_config, **kwargs):
            trainer = getattr(holder.get("pipeline"), "trainer", None)
            if trainer is not None and trainer.is_main_process:
                path = Path(trainer.training_dir) / RUN_SETTINGS_FILE
                write_text(path, json.dumps(settings, indent=2) + "\n")

    return RunSettings()


def _summary(trainer: Any, run: PreparedRun, grids: dict[str, Path]) -> dict[str, Any]:
    folder = Path(trainer.training_dir)
    final = dict(trainer.history[-1]) if trainer.history else {}
    warnings = final.pop("health_warnings", [])
    return {
        "dataset": run.train_data.name,
        "variant": run.settings["variant"],
        "run_dir": str(folder),
        "final_model": str(folder / "final_model"),
        "epochs": trainer.training_config.num_epochs,
        "resumed_from": str(run.checkpoint.path) if run.checkpoint else None,
        "final_metrics": final,
        "health_warnings": warnings,
        "health_by_epoch": {str(h["epoch"]): h.get("health_warnings", [])
                            for h in trainer.history},
        "grids": {k: str(v) for k, v in grids.items()},
    }


def purity_probe_for(run: PreparedRun, seed: int, log: Callable[[str], None]
                     ) -> tuple[Callable[[Any], dict] | None, str | None]:
    """``(probe, None)``: the generator-purity probe of ``run``'s labelled training images;
    ``(None, refusal)`` when its classifier is too weak (logged); ``(None, None)`` without
    labels or a categorical code."""
    from .metrics.dataset_classifier import UntrustworthyClassifierError
    from .metrics.purity import purity_probe

    if run.train_data.labels is None or not run.model_config.categorical_dims:
        return None, None
    log("training the purity classifier on the labels ...")
    try:
        return purity_probe(run.train_data.images, run.train_data.labels, seed), None
    except UntrustworthyClassifierError as exc:
        log(str(exc))
        return None, str(exc)


def train_run(run: PreparedRun, device: str, callbacks: list | None = None,
              purity: bool = True, log: Callable[[str], None] = lambda message: None,
              probe: tuple[Callable[[Any], dict] | None, str | None] | None = None
              ) -> RunResult:
    """Train ``run`` on ``device`` ("cpu" or "cuda") and write ``metrics.json`` and the grids.

    ``callbacks``: extra training callbacks (e.g. a progress bar). ``purity``: with labelled
    data, add generator purity and its classifier's held-out accuracy to each epoch (a small
    classifier is trained first; a too-weak one is refused, recorded as
    ``generator_purity_refused`` in ``metrics.json``). ``probe``: a
    :func:`purity_probe_for` result to use instead of training a classifier (restarts share
    one; the probe's classifier does not change the training). A run that
    fails before keeping a checkpoint or final model leaves no folder; the exception then has
    ``empty_run_removed = True``.
    """
    from .callbacks import ProbeCallback
    from .viz import write_model_grids

    settings, seed = run.settings, run.settings["seed"]
    model = build_model(run.model_config, seed)
    out = Path(settings["output_dir"])
    created_output = not out.exists()
    training_config = trainer_config(run, device)
    holder: dict[str, Any] = {}
    callbacks = [*(callbacks or []), _run_settings_callback(holder, _recordable(settings))]
    refused = None
    if purity:
        purity_probe, refused = probe if probe is not None else purity_probe_for(run, seed, log)
        if purity_probe is not None:
            callbacks.append(ProbeCallback(purity_probe))
    try:
        trainer = fit(model, training_config, run.train_data, run.eval_data, callbacks,
                      on_pipeline=lambda p: holder.update(pipeline=p))
    except BaseException as exc:
        folder = getattr(getattr(holder.get("pipeline"), "trainer", None), "training_dir", None)
        exc.empty_run_removed = remove_empty_run(folder, str(out), created_output)
        raise
    folder = Path(trainer.training_dir)
    grids = write_model_grids(trainer.model, folder, real_images=run.eval_data.images, seed=seed)
    summary = _summary(trainer, run, grids)
    if refused is not None:
        summary["generator_purity_refused"] = refused
    write_text(folder / METRICS_FILE, json.dumps(summary, indent=2))
    return RunResult(folder, run.train_data.name, summary["final_metrics"],
                     summary["health_warnings"], grids)

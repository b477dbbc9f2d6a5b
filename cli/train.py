"""``infovaegan train``: train on a named data set or a path, write the run folder + PNG grids.

Nothing is lost: every run gets a folder of its own (created exclusively), a checkpoint is
written after every epoch by default (the newest ``--keep-checkpoints`` are kept), Ctrl-C or
SIGTERM saves the state after the last finished epoch and prints the exact command that
resumes it (exit 130), and a run that fails before keeping anything removes its empty folder.

``--resume CHECKPOINT`` continues a run with the settings it was started with (data set,
data folder, limit, variant, seed, target epochs, batch size, device, threads: recorded in
``run_settings.json``), each overridable by giving the option again.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from infovaegan_plugin.cli.common import (
    at_least,
    check_writable,
    console,
    fail,
    open_fraction,
    resolve_device,
    set_threads,
    user_errors,
)

NAMED = ("digits", "mnist", "dsprites")
#: Defaults of the options that ``--resume`` may take from the checkpoint instead.
DEFAULTS: dict[str, Any] = {
    "dataset": "digits", "data_dir": None, "limit": None, "eval_fraction": 0.1,
    "variant": "infovaegan", "seed": 0, "device": "auto", "amp": False, "threads": None,
    "checkpoint_every": 1, "keep_checkpoints": 3,
}
INTERRUPTED_EXIT = 130


def load_train_eval(dataset: str, data_dir: Path | None, limit: int | None,
                    eval_fraction: float, seed: int):
    """Training and held-out data: MNIST's official test split, else a seeded hold-out."""
    from infovaegan_plugin.data import load_dataset

    if dataset == "mnist":
        train = load_dataset("mnist", data_dir, split="train", limit=limit)
        held_out = load_dataset("mnist", data_dir, split="test", limit=limit)
        return train, held_out
    kw = {"n": limit or 20000, "seed": seed} if dataset == "dsprites" and data_dir is None else {}
    data = load_dataset(dataset, data_dir, split="train", **kw)
    if limit is not None and dataset != "dsprites":
        data = data.subset(slice(0, limit))
    return data.split(eval_fraction, seed)


def metrics_table(metrics: dict, title: str) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


# --------------------------------------------------------------------------- resuming


@dataclass
class Checkpoint:
    """What a ``checkpoint_epoch_N`` folder says about the run it belongs to."""

    path: Path
    epoch: int
    settings: dict[str, Any] = field(default_factory=dict)  # run_settings.json
    training: dict[str, Any] = field(default_factory=dict)  # training_config.json


def _read_json(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"--resume: {path} cannot be read ({exc}).")
    return content if isinstance(content, dict) else {}


def read_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint ``--resume`` names (a run folder means its newest checkpoint), with
    one-line errors for a missing, wrong or corrupt folder."""
    import torch

    from infovaegan_plugin.trainers.infovaegan_trainer.infovaegan_trainer import OPTIMIZERS_FILE
    from infovaegan_plugin.trainers.infovaegan_trainer.run_control import (
        RUN_SETTINGS_FILE,
        list_checkpoints,
    )

    if not path.exists():
        fail(f"--resume {path}: checkpoint folder not found.")
    if not path.is_dir():
        fail(f"--resume {path} is a file; give a checkpoint_epoch_N folder of a training run.")
    if not (path / OPTIMIZERS_FILE).is_file():
        found = list_checkpoints(str(path))
        if not found:
            fail(f"--resume {path} is not a checkpoint: it has no {OPTIMIZERS_FILE} (give a "
                 "checkpoint_epoch_N folder of a training run, or the run folder).")
        path = Path(found[-1][1])
        console.print(f"resuming from the newest checkpoint of that run: {escape(str(path))}")
    try:
        payload = torch.load(path / OPTIMIZERS_FILE, map_location="cpu", weights_only=True)
        epoch = int(payload["epoch"])
    except Exception as exc:  # torch raises several types for a corrupt file
        fail(f"--resume {path}: {OPTIMIZERS_FILE} is corrupt or not an InfoVAEGAN checkpoint "
             f"({type(exc).__name__}).")
    settings: dict[str, Any] = {}
    for folder in (path, path.parent):
        if (folder / RUN_SETTINGS_FILE).is_file():
            settings = _read_json(folder / RUN_SETTINGS_FILE)
            break
    training = (_read_json(path / "training_config.json")
                if (path / "training_config.json").is_file() else {})
    return Checkpoint(path, epoch, settings, training)


def merge_settings(given: dict[str, Any], checkpoint: Checkpoint | None) -> dict[str, Any]:
    """Options given on the command line win; then the checkpoint's; then the defaults."""
    recorded: dict[str, Any] = {}
    if checkpoint is not None:
        training = checkpoint.training
        recorded = {
            "epochs": training.get("num_epochs"),
            "batch_size": training.get("per_device_train_batch_size"),
            "seed": training.get("seed"),
            "amp": training.get("amp"),
            "keep_checkpoints": training.get("keep_checkpoints"),
            "checkpoint_every": training.get("steps_saving"),
            "output_dir": training.get("output_dir"),
        }
        recorded = {k: v for k, v in recorded.items() if v is not None}
        recorded.update({k: v for k, v in checkpoint.settings.items() if v is not None})
    merged = {**DEFAULTS, **recorded}
    merged.update({k: v for k, v in given.items() if v is not None})
    for key in ("data_dir", "output_dir"):
        if merged.get(key) is not None:
            merged[key] = Path(merged[key])
    return merged


def check_resumable(checkpoint: Checkpoint, given: dict[str, Any], model_config: Any,
                    epochs: int) -> None:
    """Same model as the checkpoint's, and something left to train, or a one-line error."""
    from infovaegan_plugin import ModelLoadError
    from infovaegan_plugin.models.infovaegan.infovaegan_config import InfoVAEGANConfig

    recorded_variant = checkpoint.settings.get("variant")
    if given.get("variant") and recorded_variant and given["variant"] != recorded_variant:
        fail(f"--variant {given['variant']} does not match the checkpoint {checkpoint.path}, "
             f"which was trained as {recorded_variant}; drop --variant to resume it.")
    config_path = checkpoint.path / "model_config.json"
    raw = _read_json(config_path)
    raw.pop("name", None)
    raw.pop("latent_dim", None)
    with user_errors(ModelLoadError):
        try:
            saved = InfoVAEGANConfig.from_dict(raw)
        except (ValueError, TypeError) as exc:
            from infovaegan_plugin.load_errors import invalid_config_message

            raise ModelLoadError(invalid_config_message(config_path, exc)) from None
    if saved != model_config:
        names = [k for k in model_config.__dataclass_fields__
                 if getattr(saved, k, None) != getattr(model_config, k, None)]
        shown = "; ".join(f"{k}: checkpoint {getattr(saved, k, None)!r}, these options "
                          f"{getattr(model_config, k, None)!r}" for k in names[:4])
        fail(f"--resume {checkpoint.path} was trained with another model ({shown}); resume "
             "it with the data set and --variant it was trained with.")
    if checkpoint.epoch >= epochs:
        fail(f"--resume {checkpoint.path} has already reached epoch {checkpoint.epoch} and the "
             f"target is {epochs} epoch(s): nothing to train. Pass --epochs N with N > "
             f"{checkpoint.epoch} to train further.")


def resume_command(checkpoint: str) -> str:
    return f"infovaegan train --resume {shlex.quote(str(checkpoint))}"


# --------------------------------------------------------------------------- run folder


def _has_results(run_dir: Path) -> bool:
    from infovaegan_plugin.trainers.infovaegan_trainer.run_control import list_checkpoints

    return (run_dir / "final_model").is_dir() or bool(list_checkpoints(str(run_dir)))


def remove_empty_run(run_dir: Path | None, output_dir: Path, created_output: bool) -> bool:
    """Remove the folder of a run that kept nothing (and the output folder this command
    created, when it is left empty); returns whether the run folder was removed."""
    removed = False
    if run_dir is not None and run_dir.is_dir() and not _has_results(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
        removed = True
    if created_output and output_dir.is_dir() and not any(output_dir.iterdir()):
        output_dir.rmdir()
    return removed


def _run_settings_callback(pipeline: Any, settings: dict[str, Any]):
    """Writes ``run_settings.json`` into the run folder when training begins, so every
    checkpoint can be resumed with the same options."""
    from pythae.trainers.training_callbacks import TrainingCallback

    from infovaegan_plugin.trainers.infovaegan_trainer.run_control import RUN_SETTINGS_FILE

    class RunSettings(TrainingCallback):
        def on_train_begin(self, training_config, **kwargs):
            trainer = getattr(pipeline, "trainer", None)
            if trainer is not None and trainer.is_main_process:
                path = Path(trainer.training_dir) / RUN_SETTINGS_FILE
                path.write_text(json.dumps(settings, indent=2) + "\n")

    return RunSettings()


def _recordable(settings: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready settings with paths made absolute, so a resume works from any folder."""
    out = {}
    for key, value in settings.items():
        if isinstance(value, Path):
            value = str(value.absolute())
        out[key] = value
    if out.get("dataset") not in NAMED and out.get("dataset") is not None:
        out["dataset"] = str(Path(out["dataset"]).absolute())
    return out


# --------------------------------------------------------------------------- command


def train(
    dataset: str | None = typer.Option(
        None, help="digits (default), mnist, dsprites, or a path (.npy/.npz/IDX/image folder)."),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o",
        help="Where the run folder is created (required, except with --resume)."),
    data_dir: Path | None = typer.Option(
        None, help="Folder of the named data set (MNIST IDX files; dSprites npz)."),
    epochs: int | None = typer.Option(
        None, callback=at_least(1), help="Epochs to reach (default: the data set's preset)."),
    batch_size: int | None = typer.Option(
        None, callback=at_least(1), help="Batch size (default: the data set's preset)."),
    seed: int | None = typer.Option(
        None, callback=at_least(0), help="Seed of weights, sampling and the eval split "
        "(default 0)."),
    device: str | None = typer.Option(None, help="auto (default), cpu or cuda."),
    variant: str | None = typer.Option(
        None, help="infovaegan (default), or the ablations infogan / ali."),
    limit: int | None = typer.Option(
        None, callback=at_least(1), help="Use only the first N images (quick runs)."),
    eval_fraction: float | None = typer.Option(
        None, callback=open_fraction,
        help="Held-out share when the data has no test split (default 0.1)."),
    checkpoint_every: int | None = typer.Option(
        None, callback=at_least(1), help="Save checkpoint_epoch_N every N epochs (default 1)."),
    keep_checkpoints: int | None = typer.Option(
        None, callback=at_least(0),
        help="Keep the newest N checkpoints of the run (default 3; 0 keeps all)."),
    resume: Path | None = typer.Option(
        None, help="Continue from a checkpoint_epoch_N folder (or a run folder's newest); "
        "options not given again are taken from the checkpoint."),
    amp: bool | None = typer.Option(
        None, "--amp/--no-amp", help="Mixed precision (fp16 on CUDA, bf16 on CPU)."),
    threads: int | None = typer.Option(
        None, callback=at_least(0),
        help="torch CPU threads (default: OMP_NUM_THREADS when set, else half the usable "
        "cores, 1..8; 0: torch's own default, every core)."),
    purity: bool = typer.Option(
        True, "--purity/--no-purity",
        help="With labelled data, report generator purity each epoch (a small classifier is "
        "trained on the labels first): low purity blames the generator, high purity with low "
        "accuracy the encoder."),
) -> None:
    """Train InfoVAEGAN; writes final_model/, checkpoints, metrics.json and PNG grids.

    Ctrl-C (or SIGTERM) saves the state after the last finished epoch and prints the
    command that resumes it.
    """
    from infovaegan_plugin.models.infovaegan.infovaegan_config import VARIANTS

    given = {"dataset": dataset, "output_dir": output_dir, "data_dir": data_dir,
             "epochs": epochs, "batch_size": batch_size, "seed": seed, "device": device,
             "variant": variant, "limit": limit, "eval_fraction": eval_fraction,
             "checkpoint_every": checkpoint_every, "keep_checkpoints": keep_checkpoints,
             "amp": amp, "threads": threads}
    checkpoint = read_checkpoint(resume) if resume is not None else None
    settings = merge_settings(given, checkpoint)
    if settings.get("output_dir") is None:
        fail("--output-dir is required (where the run folder is created).")
    if settings["variant"] not in VARIANTS:
        fail(f"--variant must be one of {', '.join(VARIANTS)}, got {settings['variant']!r}.")
    out = Path(settings["output_dir"])
    check_writable(out, "--output-dir", folder=True)
    settings["device"] = settings["device"] or "auto"
    resolved_device = resolve_device(settings["device"])
    set_threads(settings["threads"])
    from infovaegan_plugin.trainers.infovaegan_trainer.run_control import interrupt_signals

    with interrupt_signals():
        try:
            _train(settings, given, checkpoint, resolved_device, purity)
        except KeyboardInterrupt as exc:  # before or after the epochs (e.g. loading data)
            console.print(f"[yellow]interrupted[/] ({getattr(exc, 'signal_name', 'SIGINT')}) "
                          "before training started or after it ended; nothing more was saved.")
            raise typer.Exit(INTERRUPTED_EXIT)


def _train(settings: dict[str, Any], given: dict[str, Any], checkpoint: Checkpoint | None,
           device: str, purity: bool = True) -> None:
    import torch
    from pythae.customexception import DatasetError, ModelError
    from pythae.pipelines import TrainingPipeline

    from infovaegan_plugin import InfoVAEGAN, InfoVAEGANTrainerConfig, NonFiniteLossError
    from infovaegan_plugin.callbacks import RichProgressCallback
    from infovaegan_plugin.data import DataError, to_pythae_dataset
    from infovaegan_plugin.inputs import InvalidInputError
    from infovaegan_plugin.presets import model_config_for, preset_for
    from infovaegan_plugin.trainers.infovaegan_trainer.run_control import TrainingInterrupted
    from infovaegan_plugin.viz import write_model_grids

    dataset, variant, seed = settings["dataset"], settings["variant"], settings["seed"]
    preset_name = dataset if dataset in NAMED else "custom"
    preset = preset_for(preset_name)
    settings["epochs"] = settings.get("epochs") or preset["epochs"]
    settings["batch_size"] = settings.get("batch_size") or preset["batch_size"]
    with user_errors(DataError, InvalidInputError, ValueError, FileNotFoundError):
        train_data, eval_data = load_train_eval(dataset, settings["data_dir"], settings["limit"],
                                                settings["eval_fraction"], seed)
        model_config = model_config_for(preset_name, train_data.images.shape[1:], variant)
    if checkpoint is not None:
        check_resumable(checkpoint, given, model_config, settings["epochs"])
    console.print(
        f"[bold]{escape(train_data.name)}[/]: {len(train_data)} training / {len(eval_data)} "
        f"held-out images {tuple(train_data.images.shape[1:])}, variant {variant}, device "
        f"{device}, {torch.get_num_threads()} thread(s)"
        + (f", resuming after epoch {checkpoint.epoch}" if checkpoint else "")
    )
    torch.manual_seed(seed)
    model = InfoVAEGAN(model_config)
    out = Path(settings["output_dir"])
    created_output = not out.exists()
    training_config = InfoVAEGANTrainerConfig(
        output_dir=str(out),
        num_epochs=settings["epochs"],
        per_device_train_batch_size=settings["batch_size"],
        seed=seed,
        steps_saving=settings["checkpoint_every"],
        keep_checkpoints=settings["keep_checkpoints"] or None,
        resume_from_checkpoint=str(checkpoint.path) if checkpoint else None,
        no_cuda=device == "cpu",
        amp=bool(settings["amp"]),
    )
    pipeline = TrainingPipeline(model=model, training_config=training_config)
    progress = RichProgressCallback(console=console)
    callbacks = [progress, _run_settings_callback(pipeline, _recordable(settings))]
    if purity and train_data.labels is not None and model_config.categorical_dims:
        from infovaegan_plugin.callbacks import ProbeCallback
        from infovaegan_plugin.metrics.purity import purity_probe

        console.print("training the purity classifier on the labels ...")
        callbacks.append(ProbeCallback(purity_probe(train_data.images, train_data.labels, seed)))

    def run_dir() -> Path | None:
        trainer = getattr(pipeline, "trainer", None)
        folder = getattr(trainer, "training_dir", None)
        return Path(folder) if folder else None

    try:
        try:
            pipeline(train_data=to_pythae_dataset(train_data),
                     eval_data=to_pythae_dataset(eval_data), callbacks=callbacks)
        finally:
            progress.on_train_end(training_config)
    except TrainingInterrupted as exc:
        removed = remove_empty_run(run_dir(), out, created_output)
        if exc.checkpoint is None:
            console.print(f"[yellow]interrupted[/]: {escape(str(exc))}"
                          + ("; the empty run folder was removed." if removed else "."))
        else:
            console.print(f"[yellow]interrupted[/]: {escape(str(exc))}")
            console.print("resume with:")
            console.print(f"  {escape(resume_command(exc.checkpoint))}", soft_wrap=True)
        raise typer.Exit(INTERRUPTED_EXIT)
    except NonFiniteLossError as exc:
        remove_empty_run(run_dir(), out, created_output)
        fail(str(exc), code=3)
    except (FileNotFoundError, ValueError, OSError, ModelError, DatasetError) as exc:
        remove_empty_run(run_dir(), out, created_output)
        fail(str(exc))
    except BaseException:
        remove_empty_run(run_dir(), out, created_output)
        raise
    trainer = pipeline.trainer
    folder = Path(trainer.training_dir)
    with user_errors(OSError):
        grids = write_model_grids(trainer.model, folder, real_images=eval_data.images, seed=seed)
        final = dict(trainer.history[-1]) if trainer.history else {}
        warnings = final.pop("health_warnings", [])
        summary = {
            "dataset": train_data.name,
            "variant": variant,
            "run_dir": str(folder),
            "final_model": str(folder / "final_model"),
            "epochs": training_config.num_epochs,
            "resumed_from": str(checkpoint.path) if checkpoint else None,
            "final_metrics": final,
            "health_warnings": warnings,
            "health_by_epoch": {str(h["epoch"]): h.get("health_warnings", [])
                                for h in trainer.history},
            "grids": {k: str(v) for k, v in grids.items()},
        }
        (folder / "metrics.json").write_text(json.dumps(summary, indent=2))
    title = f"{train_data.name}: last epoch"
    console.print(metrics_table(
        {k: v for k, v in final.items() if not k.startswith("gradnorm_")}, title))
    if warnings:
        for warning in warnings:
            console.print(f"[bold yellow]health:[/] {escape(warning)}")
    else:
        console.print("health:       no collapse detected (discriminator, sample spread, "
                      "categories)")
    console.print(f"run folder:   {escape(str(folder))}")
    console.print(f"final model:  {escape(str(folder / 'final_model'))}")
    console.print(f"metrics:      {escape(str(folder / 'metrics.json'))}")
    for path in grids.values():
        console.print(f"grid:         {escape(str(path))}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)

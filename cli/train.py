"""``infovaegan train``: train on a named data set or a path, write the run folder + PNG grids.

The run is :func:`infovaegan_plugin.training.train_run` (run folder, checkpoints, Ctrl-C /
SIGTERM saving, ``metrics.json``); ``--resume`` merges the checkpoint's recorded settings
(:mod:`infovaegan_plugin.trainers.infovaegan_trainer.resume`). This command parses the options
and prints; an interrupt prints the command that resumes the run (exit 130).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from infovaegan_plugin.cli.common import (
    INTERRUPTED_EXIT,
    at_least,
    check_writable,
    console,
    fail,
    open_fraction,
    resolve_device,
    user_errors,
)
from infovaegan_plugin.cli.tables import print_run_result
from infovaegan_plugin.cli.train_restarts import train_restarts
from infovaegan_plugin.threads import set_threads


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
        None, "--amp/--no-amp", help="Mixed precision (fp16 on CUDA, bf16 on CPU; a CPU "
        "without AVX512-BF16 or AMX emulates bf16, ~20x slower: a warning says so)."),
    threads: int | None = typer.Option(
        None, callback=at_least(0),
        help="torch CPU threads (default: OMP_NUM_THREADS when set, else half the usable "
        "cores, 1..8; 0: torch's own default, every core)."),
    restarts: int = typer.Option(
        1, callback=at_least(1),
        help="Train K candidates (seeds S, S+1000, ...) for --restart-epochs, keep the one "
        "whose code carries most information about real images (no labels), train it on."),
    restart_epochs: int = typer.Option(
        1, callback=at_least(1), help="Epochs each restart trains before the choice."),
    purity: bool | None = typer.Option(
        None, "--purity/--no-purity",
        help="With labelled data, report generator purity each epoch (a small classifier is "
        "trained on the labels first): low purity blames the generator, high purity with low "
        "accuracy the encoder. Default on; --resume keeps the run's choice."),
) -> None:
    """Train InfoVAEGAN; writes final_model/, checkpoints, metrics.json and PNG grids.

    Ctrl-C (or SIGTERM) saves the state after the last finished epoch and prints the
    command that resumes it.
    """
    given = {k: v for k, v in locals().items()
             if k not in ("resume", "restarts", "restart_epochs")}
    from infovaegan_plugin.trainers.infovaegan_trainer.resume import ResumeError, read_checkpoint
    from infovaegan_plugin.trainers.infovaegan_trainer.run_control import interrupt_signals
    from infovaegan_plugin.training import run_settings

    checkpoint = None
    if restarts > 1 and resume is not None:
        fail("--restarts cannot be combined with --resume: resume the kept restart's run "
             "folder instead (restarts.json names it).")
    if resume is not None:
        with user_errors(ResumeError):
            checkpoint = read_checkpoint(resume)
        if checkpoint.picked_newest:
            console.print("resuming from the newest checkpoint of that run: "
                          f"{escape(str(checkpoint.path))}")
    with user_errors(ValueError):
        settings = run_settings(given, checkpoint)
    check_writable(Path(settings["output_dir"]), "--output-dir", folder=True)
    resolved_device = resolve_device(settings["device"])
    set_threads(settings["threads"])
    with interrupt_signals():
        try:
            if restarts > 1:
                train_restarts(settings, restarts, restart_epochs, resolved_device,
                               settings["purity"])
            else:
                _train(settings, variant, checkpoint, resolved_device, settings["purity"])
        except KeyboardInterrupt as exc:  # before or after the epochs (e.g. loading data)
            console.print(f"[yellow]interrupted[/] ({getattr(exc, 'signal_name', 'SIGINT')}) "
                          "before training started or after it ended; nothing more was saved.")
            raise typer.Exit(INTERRUPTED_EXIT)


def _train(settings: dict, given_variant: str | None, checkpoint, device: str,
           purity: bool) -> None:
    from pythae.customexception import DatasetError, ModelError

    from infovaegan_plugin import NonFiniteLossError
    from infovaegan_plugin.callbacks import RichProgressCallback
    from infovaegan_plugin.data import DataError
    from infovaegan_plugin.inputs import InvalidInputError
    from infovaegan_plugin.trainers.infovaegan_trainer.resume import ResumeError, resume_command
    from infovaegan_plugin.trainers.infovaegan_trainer.run_control import TrainingInterrupted
    from infovaegan_plugin.training import prepare_run, train_run

    with user_errors(DataError, InvalidInputError, ValueError, FileNotFoundError, ResumeError):
        run = prepare_run(settings, checkpoint, given_variant)
    console.print(f"[bold]{escape(run.train_data.name)}[/]: {escape(run.describe(device))}")
    progress = RichProgressCallback(console=console)
    try:
        try:
            result = train_run(run, device, [progress], purity, log=console.print)
        finally:
            progress.on_train_end(None)
    except TrainingInterrupted as exc:
        console.print(f"[yellow]interrupted[/]: {escape(str(exc))}" + (
            "" if exc.checkpoint else "; the empty run folder was removed."
            if getattr(exc, "empty_run_removed", False) else "."))
        if exc.checkpoint is not None:
            console.print("resume with:")
            console.print(f"  {escape(resume_command(exc.checkpoint))}", soft_wrap=True)
        raise typer.Exit(INTERRUPTED_EXIT)
    except NonFiniteLossError as exc:
        fail(str(exc), code=3)
    except (FileNotFoundError, ValueError, OSError, ModelError, DatasetError) as exc:
        fail(str(exc))
    print_run_result(console, result)


def register(app: typer.Typer) -> None:
    app.command("train")(train)

"""``infovaegan train --restarts K``: the restarts (:mod:`infovaegan_plugin.restarts`) with a
progress bar per run, the candidates' table, and an interrupt that names what resumes."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from infovaegan_plugin.cli.common import INTERRUPTED_EXIT, console, fail
from infovaegan_plugin.cli.tables import print_restarts, print_run_result


def train_restarts(settings: dict, restarts: int, restart_epochs: int, device: str,
                   purity: bool) -> None:
    """Train with restarts; print the candidates' table and the kept run's result."""
    from pythae.customexception import DatasetError, ModelError

    from infovaegan_plugin.callbacks import RichProgressCallback
    from infovaegan_plugin.data import DataError
    from infovaegan_plugin.inputs import InvalidInputError
    from infovaegan_plugin.restarts import RESTARTS_FILE, train_with_restarts
    from infovaegan_plugin.trainers.infovaegan_trainer.resume import ResumeError, resume_command
    from infovaegan_plugin.trainers.infovaegan_trainer.run_control import TrainingInterrupted

    bars: list[RichProgressCallback] = []

    def progress() -> list:
        bars.append(RichProgressCallback(console=console))
        return [bars[-1]]

    record = Path(settings["output_dir"]) / RESTARTS_FILE
    try:
        try:
            result = train_with_restarts(settings, restarts, restart_epochs, device, progress,
                                         purity, log=lambda m: console.print(escape(m)))
        finally:
            for bar in bars:
                bar.on_train_end(None)
    except TrainingInterrupted as exc:
        console.print(f"[yellow]interrupted[/]: {escape(str(exc))}")
        if exc.checkpoint is not None:
            console.print("this restart resumes with:")
            console.print(f"  {escape(resume_command(exc.checkpoint))}", soft_wrap=True)
        if record.is_file():
            console.print(f"finished restarts: {escape(str(record))}")
        raise typer.Exit(INTERRUPTED_EXIT)
    except (DataError, InvalidInputError, ResumeError, FileNotFoundError, ValueError, OSError,
            ModelError, DatasetError) as exc:
        fail(str(exc))
    print_restarts(console, result)
    print_run_result(console, result.final)

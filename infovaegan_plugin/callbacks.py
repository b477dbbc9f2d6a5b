"""Training callbacks: a rich progress bar that stands in for pythae's tqdm bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pythae.trainers.training_callbacks import TrainingCallback
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProbeCallback(TrainingCallback):
    """Adds ``probe(model) -> {name: float}`` to each epoch's metrics and history (the
    trainer calls ``epoch_metrics`` after the eval step), e.g. generator purity."""

    def __init__(self, probe: Callable[[Any], dict[str, float]]):
        self.probe = probe

    def epoch_metrics(self, model) -> dict[str, float]:
        return self.probe(model)


class RichProgressCallback(TrainingCallback):
    """One bar per epoch (train, then eval); the trainer skips tqdm when this is given."""

    is_progress_bar = True

    def __init__(self, console: Console | None = None):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = None
        self._started = False

    def _begin(self, description: str, total: int, rank: int) -> None:
        if rank not in (-1, 0):
            return
        if not self._started:
            self.progress.start()
            self._started = True
        self._task = self.progress.add_task(description, total=total)

    def _begin_phase(self, phase: str, training_config, kwargs) -> None:
        loader = kwargs.get(f"{phase}_loader")
        if loader is not None:
            epoch = kwargs.get("epoch")
            self._begin(
                f"epoch {epoch}/{training_config.num_epochs} {phase}",
                len(loader),
                kwargs.get("rank", -1),
            )

    def on_train_step_begin(self, training_config, **kwargs):
        self._begin_phase("train", training_config, kwargs)

    def on_eval_step_begin(self, training_config, **kwargs):
        self._begin_phase("eval", training_config, kwargs)

    def on_train_step_end(self, training_config, **kwargs):
        if self._task is not None:
            self.progress.advance(self._task)

    on_eval_step_end = on_train_step_end

    def on_log(self, training_config, logs, **kwargs):
        """Show the epoch's health warnings (see ``infovaegan_plugin.health``) under the bars."""
        if kwargs.get("rank", -1) not in (-1, 0):
            return
        for warning in logs.get("health_warnings", []) or []:
            self.progress.console.print(f"[bold yellow]health:[/] {warning}")

    def on_train_end(self, training_config, **kwargs):
        if self._started:
            self.progress.stop()
            self._started = False

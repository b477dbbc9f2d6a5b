"""Run folders, checkpoints and interrupts: what keeps a training run from being lost.

- :func:`create_run_dir`: every run gets its own folder, created exclusively
  (``<Model>_training_<date>``, then ``_2``, ``_3``, ... when runs start in the same second),
  where pythae would hand two runs the same folder.
- :func:`staged_dir`: a checkpoint is written into a hidden sibling folder and renamed into
  place, so a ``checkpoint_epoch_N`` folder is always complete; Ctrl-C and SIGTERM are held
  back while it is written (:func:`deferred_interrupts`).
- :func:`prune_checkpoints`: keep only the newest ``keep`` checkpoints of a run.
- :func:`remove_empty_run`: a run that failed before keeping anything leaves no folder.
- :class:`TrainingInterrupted`: raised by the trainer on Ctrl-C / SIGTERM after it saved the
  state of the last finished epoch; it says where that checkpoint is.
- :func:`interrupt_signals`: SIGTERM behaves as Ctrl-C does (commands install it).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from ...atomic import replace_folder, write_errors

__all__ = [
    "RUN_SETTINGS_FILE",
    "TrainingInterrupted",
    "create_run_dir",
    "deferred_interrupts",
    "interrupt_signals",
    "list_checkpoints",
    "prune_checkpoints",
    "remove_empty_run",
    "staged_dir",
]

#: A file of the run folder that every checkpoint carries a copy of (the command line's
#: settings), so a checkpoint folder alone says how to resume it.
RUN_SETTINGS_FILE = "run_settings.json"
OPTIMIZERS_FILE = "optimizers.pt"  # a checkpoint folder is recognised by this file
CHECKPOINT_PATTERN = re.compile(r"^checkpoint_epoch_(\d+)$")
_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None))
                 if s is not None)


# --------------------------------------------------------------------------- run folders


def create_run_dir(output_dir: str, model_name: str, create: bool = True,
                   now: _dt.datetime | None = None) -> str:
    """``output_dir/<model_name>_training_<YYYY-MM-DD_HH-MM-SS>[_k]``, created exclusively.

    ``os.mkdir`` fails when the folder exists, so two runs started in the same second (or two
    processes) never share one: the second gets ``_2``. With ``create=False`` (non-main ranks
    of a distributed run) only the name is computed.
    """
    stamp = (now or _dt.datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
    base = os.path.join(output_dir, f"{model_name}_training_{stamp}")
    if not create:
        return base
    os.makedirs(output_dir, exist_ok=True)
    for index in range(1, 10_000):
        candidate = base if index == 1 else f"{base}_{index}"
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{output_dir}: could not create a new run folder next to {base}.")


# --------------------------------------------------------------------------- interrupts


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C or SIGTERM.

    Attributes: ``checkpoint`` (the folder holding the state after the last finished epoch, or
    ``None`` when no epoch had finished), ``epoch`` (that epoch), ``signal_name``,
    ``run_dir``.
    """

    def __init__(self, message: str, checkpoint: str | None, epoch: int,
                 signal_name: str = "SIGINT", run_dir: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.checkpoint = checkpoint
        self.epoch = epoch
        self.signal_name = signal_name
        self.run_dir = run_dir

    def __str__(self) -> str:
        return self.message


class _SignalInterrupt(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, with the signal's name."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signal_name = signal.Signals(signum).name


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise _SignalInterrupt(signum)


def signal_name(exc: BaseException) -> str:
    return getattr(exc, "signal_name", "SIGINT")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def interrupt_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``KeyboardInterrupt`` (naming the signal) in the main thread,
    so training stops the same way for Ctrl-C, ``timeout`` or a job scheduler."""
    if not _in_main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in _SIGNALS:
        signal.signal(s, _raise_interrupt)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def deferred_interrupts(redeliver: bool = True) -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM back while files are written; deliver the first one afterwards
    (to whatever handler was installed before), or drop it with ``redeliver=False``. Yields
    the signals held so far (a list that fills as they come), so a long loop can stop at a
    point of its choosing (the benchmarks' ``run_state``)."""
    pending: list[int] = []
    if not _in_main_thread():
        yield pending
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in _SIGNALS:
        signal.signal(s, lambda signum, frame: pending.append(signum))
    try:
        yield pending
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if pending and redeliver:
            handler = previous[pending[0]]
            if callable(handler):
                handler(pending[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(pending[0])


def interrupted(trainer: Any, exc: BaseException, start_epoch: int) -> TrainingInterrupted:
    """Save the state after the last finished epoch (when training got past its start) and
    describe where it is; called by the trainer when a ``KeyboardInterrupt`` arrives."""
    good = getattr(trainer, "_last_good", None)
    epoch = good["epoch"] if good else start_epoch - 1
    resumed = trainer.training_config.resume_from_checkpoint
    checkpoint: str | None = None
    if epoch >= start_epoch:
        with deferred_interrupts(redeliver=False):  # a second Ctrl-C must not cut the save
            checkpoint = trainer._save_last_good()
    elif resumed:
        checkpoint = str(resumed)  # nothing new since the checkpoint we started from
    name = signal_name(exc)
    if checkpoint is None:
        message = (f"training stopped by {name} before the first epoch finished; "
                   "nothing to keep")
    else:
        message = f"training stopped by {name}; the state after epoch {epoch} is in {checkpoint}"
    return TrainingInterrupted(message, checkpoint, epoch, name,
                               getattr(trainer, "training_dir", None))


# --------------------------------------------------------------------------- checkpoints


@contextlib.contextmanager
def staged_dir(final_dir: str, copy_settings: bool = True) -> Iterator[str]:
    """Yield a hidden sibling folder to write into; on success it replaces ``final_dir`` in
    one rename (with a copy of the run's :data:`RUN_SETTINGS_FILE` unless
    ``copy_settings=False``), on failure it is removed and ``final_dir`` is left as it was.
    A failed write (disk full, file-size limit, ...) is raised as
    :class:`~infovaegan_plugin.atomic.WriteError` naming ``final_dir``.
    """
    parent = os.path.dirname(os.path.abspath(final_dir))
    with write_errors(final_dir):
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(final_dir)}.", suffix=".tmp",
                               dir=parent)
    try:
        with write_errors(final_dir):
            yield tmp
            settings = os.path.join(parent, RUN_SETTINGS_FILE)
            if (copy_settings and os.path.isfile(settings)
                    and not os.path.exists(os.path.join(tmp, RUN_SETTINGS_FILE))):
                shutil.copy2(settings, os.path.join(tmp, RUN_SETTINGS_FILE))
        replace_folder(tmp, final_dir)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def list_checkpoints(run_dir: str) -> list[tuple[int, str]]:
    """``(epoch, folder)`` of the complete ``checkpoint_epoch_N`` folders, oldest first."""
    if not os.path.isdir(run_dir):
        return []
    found = []
    for name in os.listdir(run_dir):
        match = CHECKPOINT_PATTERN.match(name)
        path = os.path.join(run_dir, name)
        if match and os.path.isdir(path):
            found.append((int(match.group(1)), path))
    return sorted(found)


def prune_checkpoints(run_dir: str, keep: int | None) -> list[str]:
    """Remove all but the newest ``keep`` checkpoints (``None`` or 0: keep every one);
    returns the removed folders."""
    if not keep:
        return []
    removed = []
    for _, path in list_checkpoints(run_dir)[:-keep]:
        with deferred_interrupts():
            shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def has_results(run_dir: str) -> bool:
    """Whether a run folder kept anything worth keeping (a final model or a checkpoint)."""
    return os.path.isdir(os.path.join(run_dir, "final_model")) or bool(list_checkpoints(run_dir))


def remove_empty_run(run_dir: str | None, output_dir: str, created_output: bool) -> bool:
    """Remove the folder of a run that kept nothing (and ``output_dir`` when the run created
    it and it is left empty); returns whether the run folder was removed."""
    removed = False
    if run_dir is not None and os.path.isdir(run_dir) and not has_results(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
        removed = True
    if created_output and os.path.isdir(output_dir) and not os.listdir(output_dir):
        os.rmdir(output_dir)
    return removed

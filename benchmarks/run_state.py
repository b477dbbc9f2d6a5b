"""Long benchmark runs that stop and continue: training states on disk, stop requests, and
training toward a step in short chunks so a stop is seen within seconds.

A run of these benchmarks can outlive the session or the device lease it runs in. On SIGTERM or
SIGINT (:func:`stop_requests`) the benchmark finishes the chunk it is in, saves every runner's
``training_state()`` (:func:`save_state`: atomic, loadable with ``weights_only=True``) and
stops; the same command with ``--resume`` loads them (:func:`load_state`) and goes on as if it
had never stopped.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import Any

import torch

#: steps trained between two looks at a stop request (about 10 s of a CPU step)
CHUNK = 25


def save_state(state: dict[str, Any], path: Path) -> Path:
    """``state`` into ``path`` atomically (an interrupted write leaves the previous file)."""
    from infovaegan_plugin.atomic import save_torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_torch(state, path)


def load_state(path: Path) -> dict[str, Any]:
    """A state :func:`save_state` wrote (tensors, numbers, strings: ``weights_only=True``)."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SystemExit(f"error: no saved training state {path}") from None
    except Exception as exc:  # torch says "PytorchStreamReader failed ..." etc.
        raise SystemExit(f"error: the training state {path} cannot be read ({type(exc).__name__}"
                         f": {str(exc).splitlines()[0][:200]}); it is damaged or not a state "
                         "file: delete it to start that run again") from None


def stop_requests() -> contextlib.AbstractContextManager[list[int]]:
    """SIGTERM/SIGINT noted instead of ending the process, for the ``with`` block: the list
    of signals that came (``if stop:`` says whether one did); the handlers before are restored
    after it and a noted signal is not delivered again (the trainer's ``deferred_interrupts``,
    which holds signals back while a checkpoint is written)."""
    from infovaegan_plugin.trainers.infovaegan_trainer.run_control import deferred_interrupts

    return deferred_interrupts(redeliver=False)


def stopped_by(stop: list[int]) -> str:
    """The name of the first signal :func:`stop_requests` noted (``SIGTERM``)."""
    return signal.Signals(stop[0]).name


def train_to(runner: Any, step: int, stop: list[int] | None, chunk: int | None = None
             ) -> bool:
    """Train ``runner`` until its ``steps`` reach ``step``, ``chunk`` (:data:`CHUNK`) steps
    at a time; False when a stop request came first (the runner is then between two steps)."""
    while runner.steps < step:
        if stop:
            return False
        runner.train(min(chunk or CHUNK, step - runner.steps))
    return True

"""How many CPU threads torch uses when the caller does not say: a share of the machine
that stays fast when other jobs run beside it."""

from __future__ import annotations

__all__ = ["default_threads", "set_threads"]


def default_threads() -> int:
    """torch CPU threads when ``--threads`` is not given: ``OMP_NUM_THREADS`` when set, else
    half of the cores this process may use (at least 1, at most 8).

    torch's own default (every core) collapses when another job shares the CPU: a digits
    epoch took 56-107 s instead of 1.7 s with one thread. Half the cores leaves room for
    the rest of the machine; the small networks here gain little from more threads.
    """
    import os

    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(usable // 2, 8))


def set_threads(threads: int | None) -> int | None:
    """Apply ``--threads`` (``None``: :func:`default_threads`; 0: leave torch's default);
    returns the number set, or ``None`` for torch's default."""
    import torch

    if threads == 0:
        return None
    count = default_threads() if threads is None else int(threads)
    torch.set_num_threads(count)
    return count

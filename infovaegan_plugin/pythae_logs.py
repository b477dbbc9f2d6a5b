"""pythae's log lines, written to the stream that is ``sys.stderr`` now.

pythae's modules attach a ``StreamHandler`` bound to whatever ``sys.stderr`` was when they
were first imported. When that was an earlier caller's captured stream (Typer's test runner,
a notebook cell), their log lines raise "I/O operation on closed file" and a logging
traceback lands in the middle of the caller's output. Only the standard library is imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["library_logs_to_current_stderr"]


@contextlib.contextmanager
def library_logs_to_current_stderr() -> Iterator[None]:
    """For the block's duration each of pythae's stream handlers writes to the current
    ``sys.stderr``; the old streams come back after (the ``infovaegan`` command wraps every
    command in it)."""
    import logging
    import sys

    rebound = []
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if not name.startswith("pythae") or not isinstance(logger, logging.Logger):
            continue
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler and handler.stream is not sys.stderr:
                # not setStream: it flushes the old stream, which raises when it is closed
                rebound.append((handler, handler.stream))
                handler.stream = sys.stderr
    try:
        yield
    finally:
        for handler, stream in rebound:
            handler.stream = stream

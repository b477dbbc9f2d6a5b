"""Can this file or folder be written? Asked before the work, so a bad output path is one
clear error now instead of a failed write after minutes of training or encoding.

The answer is found by doing: the missing parent folders are created and a probe file is
written and removed; whatever was created to find out is removed again, so a refused (or an
accepted) path leaves the disk as it was. Only the standard library is imported here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["NotWritableError", "check_writable"]


class NotWritableError(ValueError):
    """``path`` cannot be written; ``str()`` is one line naming ``label`` and the reason."""


def check_writable(path: str | os.PathLike[str], label: str, folder: bool = False) -> None:
    """Raise :class:`NotWritableError` when ``path`` (a file, or a folder with
    ``folder=True``) cannot be written. ``label`` names what the path is to the caller
    (e.g. the command's option, ``--output``) and starts every message."""
    path = Path(path)
    target = path if folder else path.parent
    if not folder and path.is_dir():
        raise NotWritableError(f"{label} {path} is a folder; give a file name inside it.")
    if folder and path.exists() and not path.is_dir():
        raise NotWritableError(f"{label} {path} is a file, not a folder.")
    missing: list[Path] = []
    existing = target.absolute()
    while not existing.exists() and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise NotWritableError(
            f"cannot write {label} {path}: {existing} is a file, not a folder.")
    created: list[Path] = []
    try:
        for directory in reversed(missing):
            try:
                directory.mkdir()
            except OSError as exc:
                raise NotWritableError(
                    f"cannot write {label} {path}: cannot create the folder {directory} "
                    f"({exc.strerror or exc}).") from None
            created.append(directory)
        try:
            handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=target)
            os.close(handle)
            os.unlink(probe)
        except OSError as exc:
            raise NotWritableError(
                f"cannot write {label} {path}: the folder {target} is not writable "
                f"({exc.strerror or exc}).") from None
    finally:
        for directory in reversed(created):
            try:
                directory.rmdir()
            except OSError:
                pass

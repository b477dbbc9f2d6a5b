"""Writes that either finish or change nothing, and one error for every failed write.

Every file the library keeps (model weights, checkpoints, codes files, grids, summaries) is
written under a hidden temporary name in the target's folder and renamed over the target only
once it is complete (:func:`atomic_file`); folders (checkpoints, exports) are staged the same
way and swapped in with :func:`replace_folder`. A full disk, a file-size limit or a vanished
mount therefore never leaves a half-written file where a good one was, and the failure is one
:class:`WriteError` naming the target and the operating system's reason, whatever raised it
(``OSError`` from Python, or torch's ``RuntimeError: [enforce fail at inline_container.cc]``).

Only the standard library is imported here (torch and Pillow lazily, when used).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["WriteError", "atomic_file", "replace_folder", "save_picture", "save_torch",
           "write_bytes", "write_errors", "write_text"]

PathLike = str | os.PathLike[str]

#: Temporary files are created private (0600); the finished file gets the mode a plain
#: ``open(path, "w")`` would have given it.
_UMASK = os.umask(0)
os.umask(_UMASK)


class WriteError(OSError):
    """A file or folder could not be written; ``str()`` is one line naming the target and
    why (``kept``, when given, says what was left intact)."""

    def __init__(self, path: PathLike, reason: str, errno: int | None = None,
                 kept: str | None = None) -> None:
        super().__init__(errno, reason, str(path))
        self.kept = kept

    def __str__(self) -> str:
        return (f"cannot write {self.filename}: {self.strerror}"
                + (f"; {self.kept}" if self.kept else ""))


def is_torch_write_failure(exc: BaseException) -> bool:
    """torch's stream writer reports a failed write (disk full, file-size limit) as a
    ``RuntimeError`` from ``inline_container.cc`` with no errno."""
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "inline_container" in text or "PytorchStreamWriter" in text)


def as_write_error(path: PathLike, exc: BaseException) -> WriteError | None:
    """The :class:`WriteError` for ``exc`` raised while writing ``path``, or ``None`` when
    ``exc`` is not a write failure."""
    if isinstance(exc, WriteError):
        return exc
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return WriteError(path, reason, exc.errno)
    if is_torch_write_failure(exc):
        return WriteError(path, "the write stopped part-way (torch could not finish the file: "
                                "a full disk or a file-size limit)")
    return None


@contextlib.contextmanager
def write_errors(path: PathLike) -> Iterator[None]:
    """Turn an ``OSError`` (or torch's write failure) inside the block into a
    :class:`WriteError` naming ``path``."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        error = as_write_error(path, exc)
        if error is None or error is exc:
            raise
        raise error from exc


def _sync(path: PathLike) -> None:
    """Flush a finished file to the disk before it replaces the previous one."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix, so writers that pick the format
    from the name still work) and rename it over ``path`` when the block succeeds; on any
    error the temporary file is removed, ``path`` is untouched and write failures are raised
    as :class:`WriteError`."""
    target = Path(path)
    with write_errors(target):
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}",
                                        dir=target.parent)
        os.close(handle)
        tmp = Path(name)
        try:
            os.chmod(tmp, 0o666 & ~_UMASK)
            yield tmp
            _sync(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def write_bytes(path: PathLike, payload: bytes | memoryview) -> Path:
    """``payload`` into ``path``, atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as tmp, open(tmp, "wb") as handle:
        handle.write(payload)
    return Path(path)


def write_text(path: PathLike, text: str) -> Path:
    """``text`` (UTF-8) into ``path``, atomically."""
    return write_bytes(path, text.encode("utf-8"))


def save_torch(obj: Any, path: PathLike) -> Path:
    """``torch.save`` atomically. The bytes are built in memory first and written by Python,
    so a failed write is an ``OSError`` with the operating system's reason rather than
    torch's ``inline_container.cc`` message (the objects saved here are model weights and
    optimizer states, a few MB to a few hundred)."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_bytes(path, buffer.getbuffer())


def replace_folder(staged: PathLike, target: PathLike) -> None:
    """Put the complete folder ``staged`` where ``target`` is, with two renames; the previous
    ``target`` is put back when the second rename fails, and removed after success."""
    staged, target = Path(staged), Path(target)
    with write_errors(target):
        if not target.exists():
            os.rename(staged, target)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old",
                                    dir=target.parent))
        os.rename(target, old / "previous")
        try:
            os.rename(staged, target)
        except OSError:
            os.rename(old / "previous", target)  # put the previous folder back
            raise
        shutil.rmtree(old, ignore_errors=True)


def save_picture(picture: Any, path: PathLike, **params: Any) -> Path:
    """Write a Pillow image atomically, in the format ``path``'s suffix names (``params`` go
    to ``Image.save``); an earlier picture at ``path`` stays intact when the write fails."""
    from PIL import Image

    path = Path(path)
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format is None:
        raise ValueError(f"{path}: unknown picture format {path.suffix or '(no suffix)'!r}; "
                         "use .png")
    with write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        picture.save(tmp, format=image_format, **params)
    return path

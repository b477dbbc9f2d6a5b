"""Atomic writes: a failed write (injected error, a real file-size limit, torch's own failure
message) is one WriteError naming the path, and the file that was there stays intact."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from infovaegan_plugin import atomic
from infovaegan_plugin.atomic import (
    WriteError,
    as_write_error,
    replace_folder,
    save_torch,
    write_text,
)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_failed_write_keeps_the_previous_file_and_says_why(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    write_text(target, "old")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(WriteError) as caught:
        write_text(target, "new")
    assert str(caught.value) == f"cannot write {target}: No space left on device"
    assert caught.value.errno == errno.ENOSPC
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_the_finished_file_gets_the_usual_permissions(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = write_text(tmp_path / "atomic.txt", "x")
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_torch_write_failures_read_as_one_line(tmp_path):
    error = as_write_error(tmp_path / "model.pt", RuntimeError(
        "[enforce fail at inline_container.cc:672] . unexpected pos 640 vs 512"))
    assert isinstance(error, WriteError)
    assert str(error).startswith(f"cannot write {tmp_path / 'model.pt'}: the write stopped")
    assert as_write_error(tmp_path, RuntimeError("CUDA out of memory")) is None


FILE_SIZE_LIMIT = textwrap.dedent(
    """
    import importlib.util, resource, signal, sys
    # atomic.py needs only the standard library: load it alone (no torch import, fast)
    spec = importlib.util.spec_from_file_location("atomic", sys.argv[2])
    atomic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(atomic)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    try:
        atomic.write_bytes(sys.argv[1], bytes(200_000))
    except atomic.WriteError as exc:
        print(exc)
        sys.exit(2)
    """
)


def test_a_file_size_limit_keeps_the_previous_file(tmp_path):
    target = tmp_path / "model.pt"
    save_torch({"w": torch.ones(3)}, target)
    child = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMIT, str(target),
                            atomic.__file__], capture_output=True, text=True, timeout=60)
    assert child.returncode == 2, child.stderr
    assert child.stdout.strip() == f"cannot write {target}: File too large"
    assert torch.equal(torch.load(target, weights_only=True)["w"], torch.ones(3))
    assert leftovers(tmp_path) == []


def test_a_failed_folder_swap_puts_the_previous_folder_back(tmp_path, monkeypatch):
    target, staged = tmp_path / "export", tmp_path / ".export.staged"
    target.mkdir()
    (target / "encoder.onnx").write_text("previous")
    staged.mkdir()
    (staged / "encoder.onnx").write_text("new")
    real_rename = os.rename

    def rename(source, destination):
        if Path(source) == staged:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        real_rename(source, destination)

    monkeypatch.setattr(atomic.os, "rename", rename)
    with pytest.raises(WriteError, match=f"cannot write {target}: Permission denied"):
        replace_folder(staged, target)
    assert (target / "encoder.onnx").read_text() == "previous"

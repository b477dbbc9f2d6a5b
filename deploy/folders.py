"""Export folders that describe exactly one model.

An export is written into a hidden temporary folder next to the target and swapped in when
every file is written and checked, so a failed export leaves the previous folder untouched and
a re-export never leaves stale files behind (an fp16 / int8 variant or ``triton/`` of an earlier
export would otherwise keep serving the old model).

A non-empty target folder is replaced only when it holds an earlier export of the *same* model
(same SHA-256 of ``model.pt`` in every file's metadata). A folder holding another model's
export, files that are not part of an export, or the model being exported is refused unless
``overwrite=True`` (then every file in it is removed), except that the model's own folder is
never replaced.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from infovaegan_plugin.atomic import replace_folder, write_errors
from infovaegan_plugin.deploy import metadata as md

__all__ = ["ExportFolderError", "check_export_target", "export_sources", "staged_export_dir"]

#: What an export writes: the ONNX pairs (fp32 and variants), the sidecar, a Triton repository.
EXPORT_PATTERNS = ("encoder*.onnx", "generator*.onnx", "*.onnx.data", md.SIDECAR_NAME)
TRITON_DIR = "triton"


class ExportFolderError(ValueError):
    """The output folder holds something an export must not silently replace."""


def _is_export_entry(path: Path) -> bool:
    if path.is_dir():
        return path.name == TRITON_DIR
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in EXPORT_PATTERNS)


def export_sources(folder: Path) -> dict[str, str | None]:
    """``{file: source SHA-256}`` of every ONNX file under ``folder`` (``None`` when a file
    records no source or cannot be read)."""
    sources: dict[str, str | None] = {}
    for path in sorted(Path(folder).rglob("*.onnx")):
        try:
            sha = md.read_onnx_file_metadata(path).get(md.SOURCE_SHA256)
        except Exception:  # not an ONNX file after all: counts as unknown
            sha = None
        sources[path.relative_to(folder).as_posix()] = sha
    return sources


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


def check_export_target(output_dir: str | os.PathLike[str], source_sha256: str | None,
                        source_dir: str | os.PathLike[str] | None = None,
                        overwrite: bool = False) -> None:
    """Refuse a target the export must not replace (see the module docstring)."""
    out = Path(output_dir)
    if source_dir is not None and out.exists() and _inside(Path(source_dir), out):
        raise ExportFolderError(
            f"the output folder {out} holds the model being exported ({source_dir}); "
            "choose a folder of its own, e.g. <run>/onnx."
        )
    if not out.exists():
        return
    if not out.is_dir():
        raise ExportFolderError(f"the output folder {out} is a file; give a folder.")
    entries = sorted(out.iterdir())
    if not entries or overwrite:
        return
    foreign = [p.name + ("/" if p.is_dir() else "") for p in entries if not _is_export_entry(p)]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5
                                          else "")
        raise ExportFolderError(
            f"the output folder {out} holds files that are not part of an InfoVAEGAN export "
            f"({shown}); choose an empty or new folder, or pass overwrite=True to delete "
            "everything in it."
        )
    sources = set(export_sources(out).values())
    if source_sha256 is None or sources != {source_sha256}:
        others = sorted(s[:12] for s in sources if s) or ["unknown"]
        this = source_sha256[:12] if source_sha256 else "an in-memory model"
        raise ExportFolderError(
            f"the output folder {out} holds the export of another model (model.pt SHA-256 "
            f"{', '.join(others)}...), not of this one ({this}); choose another folder, or pass "
            "overwrite=True to replace it (every file in it is removed)."
        )


@contextlib.contextmanager
def staged_export_dir(output_dir: str | os.PathLike[str], source_sha256: str | None,
                      source_dir: str | os.PathLike[str] | None = None,
                      overwrite: bool = False) -> Iterator[Path]:
    """Check the target, yield an empty hidden folder next to it, and swap it in when the
    block succeeds; on an error (or Ctrl-C) the staged files are removed and the target is
    left as it was. Failing to create the staging folder or to swap it in is a
    :class:`~infovaegan_plugin.atomic.WriteError` naming the output folder."""
    out = Path(output_dir).absolute()
    check_export_target(out, source_sha256, source_dir, overwrite)
    with write_errors(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".export",
                                       dir=out.parent))
    try:
        yield staged
        replace_folder(staged, out)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)

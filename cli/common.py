"""Helpers shared by the commands: console, device choice, error reporting."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console

console = Console()
#: Exit code of a command stopped by Ctrl-C or SIGTERM (after saving what it had).
INTERRUPTED_EXIT = 130
err_console = Console(stderr=True)


def resolve_device(device: str) -> str:
    """'auto' -> cuda when available; an explicit 'cuda' without CUDA is a clear error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        fail("--device cuda was asked for, but torch sees no CUDA device; use --device cpu.")
    if device not in ("cpu", "cuda"):
        fail(f"--device must be auto, cpu or cuda, got {device!r}.")
    return device


def check_providers(providers: str) -> None:
    """The ``--providers`` choice of the ONNX Runtime commands, checked before any file is read."""
    if providers.lower() not in ("auto", "cpu", "cuda"):
        fail(f"--providers must be auto, cpu or cuda, got {providers!r}.")


def fail(message: str, code: int = 2) -> None:
    """One red line on stderr and exit ``code`` (2: bad input), never a traceback."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def warn(message: str) -> None:
    """One yellow line on stderr, the warning counterpart of :func:`fail`."""
    from rich.markup import escape

    err_console.print(f"[bold yellow]warning:[/] {escape(message)}")


@contextlib.contextmanager
def console_warnings() -> Iterator[None]:
    """While a command runs, Python warnings print as one clean line (:func:`warn`) instead
    of the source file, line number and code line; outside the CLI, library users keep
    ordinary Python warnings (filters, ``-W error`` and ``catch_warnings`` work as usual)."""
    import warnings

    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        warn(" ".join(str(message).split()))

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


@contextlib.contextmanager
def user_errors(*types: type) -> Iterator[None]:
    """Turn the library's input errors into one red line and exit code 2, not a traceback."""
    try:
        yield
    except types as exc:  # type: ignore[misc]
        fail(cli_text(str(exc)))


# --------------------------------------------------------------------------- library messages

#: Library messages name Python arguments; a person at the terminal needs the flag instead.
_CLI_WORDS: tuple[tuple[str, str], ...] = (
    (r"mnist needs data_dir:", "mnist needs --data-dir:"),
    (r"fetch them once with infovaegan_plugin\.data\.download_mnist\(dir\)",
     "fetch them once with: python -c \"from infovaegan_plugin.data import download_mnist; "
     "download_mnist('DIR')\""),
    (r"fetch MNIST with infovaegan_plugin\.data\.download_mnist\(('[^']*')\)",
     "fetch it once with: python -c \"from infovaegan_plugin.data import download_mnist; "
     "download_mnist(\\1)\""),
    (r"load split='train' \(or 'all'\) and hold out images with data\.split\(fraction, seed\)",
     "use --split train (or all)"),
    (r"pass key=\.\.\. to choose one", "pass --key NAME to choose one"),
    (r"key=('[^']*') given", r"--key \1 given"),
    (r"pass size=\(H, W\) to resize", "resize the pictures to one size first"),
    (r"Use providers='auto' or 'cpu'", "Use --providers auto or cpu"),
    (r"Use providers='auto' to fall back to CPU", "Use --providers auto to fall back to CPU"),
    (r"pass overwrite=True", "pass --overwrite"),
    (r"Pass allow_pickle=True", "Pass --allow-pickle"),
)


def cli_text(message: str) -> str:
    """A library message with Python argument names replaced by the command's flags."""
    import re

    for pattern, replacement in _CLI_WORDS:
        message = re.sub(pattern, replacement, message)
    return message


# --------------------------------------------------------------------------- option checks


def at_least(low: float):
    """Typer callback: the option must be >= ``low`` (``None`` passes); exit 2 naming it."""

    def check(value):
        if value is not None and value < low:
            raise typer.BadParameter(f"must be >= {low:g}, got {value:g}.")
        return value

    return check


def open_fraction(value):
    """Typer callback: a share strictly between 0 and 1 (``None`` passes)."""
    if value is not None and not 0.0 < value < 1.0:
        raise typer.BadParameter(f"must be between 0 and 1 (exclusive), got {value:g}.")
    return value


def positive_float(value):
    """Typer callback: a float > 0 (``None`` passes)."""
    if value is not None and not value > 0:
        raise typer.BadParameter(f"must be > 0, got {value:g}.")
    return value


def check_writable(path: Path, option: str, folder: bool = False) -> None:
    """Fail now, with the option named, when ``path`` (a file, or a folder with
    ``folder=True``) cannot be written (:func:`infovaegan_plugin.writable.check_writable`),
    instead of with a traceback after the work is done."""
    from infovaegan_plugin.writable import NotWritableError
    from infovaegan_plugin.writable import check_writable as probe

    try:
        probe(path, option, folder)
    except NotWritableError as exc:
        fail(str(exc))

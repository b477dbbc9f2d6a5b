"""Helpers shared by the commands: console, device choice, error reporting."""

from __future__ import annotations

import contextlib
from typing import Iterator

import typer
from rich.console import Console

console = Console()
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


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@contextlib.contextmanager
def user_errors(*types: type) -> Iterator[None]:
    """Turn the library's input errors into one red line and exit code 2, not a traceback."""
    try:
        yield
    except types as exc:  # type: ignore[misc]
        fail(str(exc))

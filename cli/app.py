"""Typer root of the ``infovaegan`` command.

Each command lives in its own module of this package and exposes ``register(app)``;
``COMMAND_MODULES`` is the one list to extend, so adding a command never means editing
another command's code.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from infovaegan_plugin.cli.common import console_warnings, fail
from infovaegan_plugin.pythae_logs import library_logs_to_current_stderr


class _Commands(TyperGroup):
    """What every command shares: warnings print as one line, library log lines go to the
    current stderr, and a file that cannot be written (disk full, permission, file-size
    limit) is one error line with exit code 2, whichever command and library call hit it."""

    def invoke(self, ctx: Any) -> Any:
        from infovaegan_plugin.atomic import WriteError

        with console_warnings(), library_logs_to_current_stderr():
            try:
                return super().invoke(ctx)
            except WriteError as exc:
                fail(str(exc))


app = typer.Typer(
    cls=_Commands,
    name="infovaegan",
    help="Train, evaluate and deploy InfoVAEGAN models (pythae plug-in, ONNX export).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    """``--version``: the installed distribution's version (``infovaegan_plugin.__version__``)."""
    if value:
        from infovaegan_plugin import __version__

        typer.echo(f"infovaegan-plugin {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version (infovaegan-plugin X.Y.Z) and exit."),
) -> None:
    """Train, evaluate and deploy InfoVAEGAN models (pythae plug-in, ONNX export)."""


COMMAND_MODULES: tuple[str, ...] = (
    "train",
    "export",
    "encode",
    "generate",
    "evaluate",
    "benchmark",
    "serve",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"infovaegan_plugin.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

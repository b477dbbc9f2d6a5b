"""Typer root of the ``infovaegan`` command.

Each command lives in its own module of this package and exposes ``register(app)``;
``COMMAND_MODULES`` is the one list to extend, so adding a command never means editing
another command's code.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="infovaegan",
    help="Train, evaluate and deploy InfoVAEGAN models (pythae plug-in, ONNX export).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """Train, evaluate and deploy InfoVAEGAN models (pythae plug-in, ONNX export)."""


COMMAND_MODULES: tuple[str, ...] = (
    "train",
    "export",
    "encode",
    "generate",
    "evaluate",
    "benchmark",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"infovaegan_plugin.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

"""``infovaegan generate`` and ``infovaegan traverse``: PNG grids from ``generator.onnx`` alone.

Both run on ONNX Runtime with the latent layout read from the file's metadata, so a machine
with only the exported generator (no PyTorch checkpoint) can inspect what a model learnt.
Codes are drawn with the runtime's seeded streams: the same ``--seed`` gives the same grid.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from infovaegan_plugin.cli.common import (
    at_least,
    check_providers,
    check_writable,
    console,
    fail,
    positive_float,
    user_errors,
)


def _check_picture_path(output: Path) -> None:
    from PIL import Image

    if output.suffix.lower() not in Image.registered_extensions():
        fail(f"--output must be a picture file such as grid.png, got {str(output)!r}.")
    check_writable(output, "--output")


def load_generator(path: Path, providers: str, threads: int | None) -> Any:
    """The ONNX generator, with file/provider problems turned into one-line errors."""
    from infovaegan_plugin.deploy.runtime import (
        InvalidModelError,
        OnnxGenerator,
        ProviderUnavailableError,
    )

    check_providers(providers)
    with user_errors(FileNotFoundError, InvalidModelError, ProviderUnavailableError):
        return OnnxGenerator(path, providers=providers, intra_op_num_threads=threads)


def generate(
    generator_onnx: Path = typer.Argument(..., help="generator.onnx (or the export folder)."),
    n: int = typer.Option(64, "--n", callback=at_least(1), help="Number of images."),
    output: Path = typer.Option(..., "--output", "-o", help="The grid picture, e.g. grid.png."),
    seed: int = typer.Option(0, callback=at_least(0), help="Seed of the sampled codes."),
    categorical: int | None = typer.Option(
        None, help="Fix the categorical code to this class (default: sampled per image)."),
    categorical_code: int = typer.Option(0, callback=at_least(0),
                                         help="Which categorical code --categorical sets."),
    ncol: int | None = typer.Option(None, callback=at_least(1),
                                    help="Grid columns (default: sqrt(n))."),
    providers: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int | None = typer.Option(None, callback=at_least(0),
                                       help="ONNX Runtime intra-op threads."),
) -> None:
    """Sample images from the prior with an exported generator and save them as a grid."""
    from infovaegan_plugin.deploy.runtime import InvalidInputError
    from infovaegan_plugin.grids import GridLabels, save_grid

    _check_picture_path(output)
    generator = load_generator(generator_onnx, providers, threads)
    classes = None if categorical is None else {categorical_code: categorical}
    with user_errors(InvalidInputError):
        images = generator.generate(n, seed=seed, classes=classes)
    columns = ncol or math.ceil(math.sqrt(n))
    what = ("sampled categorical codes" if categorical is None
            else f"categorical_{categorical_code} = {categorical}")
    labels = GridLabels(title=f"{n} images from {generator_onnx.name}: {what}, continuous codes "
                        f"and noise drawn from the prior (seed {seed}); read left to right, "
                        "top to bottom")
    with user_errors(OSError):
        path = save_grid(images, output, ncol=columns, labels=labels)
    console.print(f"wrote {escape(str(path))}: {n} images, {columns} per row, {what}, "
                  f"seed {seed}")


def traverse(
    generator_onnx: Path = typer.Argument(..., help="generator.onnx (or the export folder)."),
    code: str = typer.Option("continuous:0", help="Continuous dimension to vary: "
                             "continuous:<i> (or just <i>)."),
    output: Path = typer.Option(..., "--output", "-o", help="The grid picture."),
    num_values: int = typer.Option(10, callback=at_least(1),
                                   help="Values of the code (grid columns)."),
    span: float | None = typer.Option(
        None, callback=positive_float,
        help="Values run from -span to +span (default: 1 for a uniform prior, 2 for a normal)."),
    categorical_code: int = typer.Option(0, callback=at_least(0),
                                         help="Categorical code whose classes are the rows."),
    seed: int = typer.Option(0, callback=at_least(0),
                             help="Seed of the noise held fixed across the grid."),
    providers: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int | None = typer.Option(None, callback=at_least(0),
                                       help="ONNX Runtime intra-op threads."),
) -> None:
    """Latent traversal grid: rows = classes of a categorical code, columns = a continuous code.

    The noise and every other code are held fixed, so each column change shows what the one
    continuous dimension controls.
    """
    from infovaegan_plugin.grids import GridLabels, category_labels, code_values, save_grid

    _check_picture_path(output)
    if code.strip().startswith("categorical"):
        fail("traverse walks a continuous code; the grid's rows already show every class of "
             "--categorical-code.")
    generator = load_generator(generator_onnx, providers, threads)
    layout = generator.layout
    with user_errors(ValueError):
        if layout.continuous_dim:
            try:
                dimension = layout.continuous_index(code)
            except ValueError:
                fail(f"--code must name a continuous dimension 0..{layout.continuous_dim - 1} "
                     f"as continuous:<i> (or just <i>), got {code!r}.")
        else:
            dimension = layout.continuous_index(code)  # the one-line "no continuous code"
        values = layout.traversal_values(num_values, span)
        grid = generator.traverse(dimension, values=values, categorical_code=categorical_code,
                                  seed=seed)
    rows, columns = grid.shape[:2]
    name, limit = f"continuous:{dimension}", span or layout.traversal_limit
    row_text = (f"categorical_{categorical_code} categories 0..{rows - 1}"
                if layout.n_codes else "one row (no categorical code)")
    labels = GridLabels(
        title=f"Traversal of {name}: rows = {row_text}; columns = {name} from {-limit:g} to "
        f"{limit:g}; other codes fixed, noise seed {seed}",
        rows=category_labels(rows if layout.n_codes else 0),
        columns=code_values(values),
    )
    with user_errors(OSError):
        path = save_grid(grid.reshape(rows * columns, *grid.shape[2:]), output, ncol=columns,
                         labels=labels)
    console.print(f"wrote {escape(str(path))}: rows = {row_text}; columns = {name} "
                  f"from {-limit:g} to {limit:g} ({columns} values), seed {seed}")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
    app.command("traverse")(traverse)

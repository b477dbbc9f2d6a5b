"""``infovaegan generate`` and ``infovaegan traverse``: PNG grids from ``generator.onnx`` alone.

Both run on ONNX Runtime with the latent layout read from the file's metadata, so a machine
with only the exported generator (no PyTorch checkpoint) can inspect what a model learnt.
Codes are drawn with the runtime's seeded streams: the same ``--seed`` gives the same grid.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.markup import escape

from infovaegan_plugin.cli.common import (
    at_least,
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

    if providers.lower() not in ("auto", "cpu", "cuda"):
        fail(f"--providers must be auto, cpu or cuda, got {providers!r}.")
    with user_errors(FileNotFoundError, InvalidModelError, ProviderUnavailableError):
        return OnnxGenerator(path, providers=providers, intra_op_num_threads=threads)


def _check_categorical_code(generator: Any, code: int) -> None:
    sizes = generator.categorical_sizes
    if sizes and not 0 <= code < len(sizes):
        fail(f"--categorical-code must be 0..{len(sizes) - 1} (the model has {len(sizes)} "
             f"categorical code(s)), got {code}.")


def fix_class(generator: Any, codes: dict[str, np.ndarray], code: int, value: int) -> None:
    """Set categorical ``code`` to class ``value`` in every row of sampled ``codes``, leaving
    the other blocks' draws as they were (the runtime samples each block independently)."""
    sizes = generator.categorical_sizes
    if not sizes:
        fail("--categorical was given but this model has no categorical code.")
    _check_categorical_code(generator, code)
    if not 0 <= value < sizes[code]:
        fail(f"--categorical must be a class of categorical code {code}: 0..{sizes[code] - 1}, "
             f"got {value}.")
    start = sum(sizes[:code])
    block = codes["categorical"][:, start : start + sizes[code]]
    block[:] = 0.0
    block[:, value] = 1.0


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
    from infovaegan_plugin.viz import GridLabels, save_grid

    _check_picture_path(output)
    generator = load_generator(generator_onnx, providers, threads)
    with user_errors(InvalidInputError):
        codes = generator.sample_codes(n, seed=seed)
        if categorical is not None:
            fix_class(generator, codes, categorical_code, categorical)
        images = generator.decode(codes)
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


def parse_continuous_code(code: str, continuous_dim: int) -> int:
    """``continuous:<i>`` (or just ``<i>``; ``continuous_<i>`` and ``c<i>`` are read too) ->
    ``i``, checked against the model's continuous codes."""
    text = code.strip()
    if text.startswith("categorical"):
        fail("traverse walks a continuous code; the grid's rows already show every class of "
             "--categorical-code.")
    if continuous_dim == 0:
        fail("this generator has no continuous code to traverse.")
    index = None
    for prefix in ("continuous:", "continuous_", "c", ""):
        tail = text[len(prefix):].strip()
        if text.startswith(prefix) and tail.isdigit():
            index = int(tail)
            break
    if index is None or not 0 <= index < continuous_dim:
        fail(f"--code must name a continuous dimension 0..{continuous_dim - 1} as "
             f"continuous:<i> (or just <i>), got {code!r}.")
    return index


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
    from infovaegan_plugin.deploy.runtime import InvalidInputError
    from infovaegan_plugin.viz import GridLabels, code_values, save_grid

    _check_picture_path(output)
    if code.strip().startswith("categorical"):
        parse_continuous_code(code, 0)  # the one-line explanation
    generator = load_generator(generator_onnx, providers, threads)
    dimension = parse_continuous_code(code, generator.continuous_dim)
    _check_categorical_code(generator, categorical_code)
    if span is None:
        span = 1.0 if generator.continuous_prior == "uniform" else 2.0
    values = np.linspace(-span, span, num_values)
    with user_errors(InvalidInputError):
        grid = generator.traverse(dimension, values=values, categorical_code=categorical_code,
                                  seed=seed)
    rows, columns = grid.shape[:2]
    name = f"continuous:{dimension}"
    row_text = (f"categorical_{categorical_code} classes 0..{rows - 1}"
                if generator.categorical_sizes else "one row (no categorical code)")
    labels = GridLabels(
        title=f"Traversal of {name}: rows = {row_text}; columns = {name} from {-span:g} to "
        f"{span:g}; other codes fixed, noise seed {seed}",
        rows=([f"class {k}" for k in range(rows)] if generator.categorical_sizes else ["all"]),
        columns=code_values(values),
    )
    with user_errors(OSError):
        path = save_grid(grid.reshape(rows * columns, *grid.shape[2:]), output, ncol=columns,
                         labels=labels)
    console.print(f"wrote {escape(str(path))}: rows = {row_text}; columns = {name} "
                  f"from {-span:g} to {span:g} ({columns} values), seed {seed}")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
    app.command("traverse")(traverse)

"""The tables ``infovaegan export`` prints: the files written and each variant's deviation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def deviation_table(result: Any, encoder_dev: dict[str, dict[str, Any]],
                    fp32_images: str) -> Table:
    """Max abs errors per output and categorical argmax agreement, one row per file pair.

    The fp32 row is the exported graph against PyTorch; the other rows are variants against
    the fp32 graph. "gen. px" is the generator's pixel error on the same prior samples.
    """
    table = Table(title="Deviation (max abs error)")
    table.add_column("model", no_wrap=True)
    for column in ("cat. probs", "cont. mean", "features", "argmax", "gen. px"):
        table.add_column(column, justify="right", no_wrap=True)
    parity = result.parity
    table.add_row("fp32 vs PyTorch", _fmt(parity.get("encoder.categorical_probs")),
                  _fmt(parity.get("encoder.continuous_mean")),
                  _fmt(parity.get("encoder.features")), "-",
                  _fmt(parity.get("generator.images")))
    notes = [f"fp32: {fp32_images}"]
    for name, variant in result.variants.items():
        dev = encoder_dev.get(name, variant.encoder_deviation)
        images = dev["images"] if name in encoder_dev else (
            f"{dev['n_images']} calibration images" if dev["images"] == "caller"
            else f"{dev['n_images']} images the fp32 generator sampled from the prior")
        errors = dev["max_abs_error"]
        agreement = dev.get("argmax_agreement")
        table.add_row(f"{name} vs fp32", _fmt(errors.get("categorical_probs")),
                      _fmt(errors.get("continuous_mean")), _fmt(errors.get("features")),
                      "-" if agreement is None else f"{agreement:.2%}",
                      _fmt(variant.generator_deviation["max_abs_error"]))
        notes.append(f"{name}: encoder on {images}, generator on "
                     f"{variant.generator_deviation['n_samples']} prior samples")
    table.caption = escape("; ".join(notes))
    return table


def files_table(paths: list[Path], root: Path) -> Table:
    table = Table(title=f"Files written to {escape(str(root))}")
    table.add_column("file")
    table.add_column("size", justify="right")
    for path in paths:
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        table.add_row(escape(str(shown)), f"{path.stat().st_size / 1024:.1f} KiB")
    return table

"""Tables the commands print: metric values, and for ``export`` the files written and each
variant's deviation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table


def metrics_table(metrics: dict, title: str) -> Table:
    """A two-column table of metric values (floats to 4 decimals)."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


def print_run_result(console: Any, result: Any) -> None:
    """What ``infovaegan train`` prints after a run: last epoch, health, where things are."""
    title = f"{result.dataset}: last epoch"
    console.print(metrics_table(
        {k: v for k, v in result.final_metrics.items() if not k.startswith("gradnorm_")}, title))
    for warning in result.health_warnings:
        console.print(f"[bold yellow]health:[/] {escape(warning)}")
    if not result.health_warnings:
        console.print("health:       no collapse detected (discriminator, sample spread, "
                      "categories)")
    console.print(f"run folder:   {escape(str(result.folder))}")
    console.print(f"final model:  {escape(str(result.final_model))}")
    console.print(f"metrics:      {escape(str(result.metrics_path))}")
    for path in result.grids.values():
        console.print(f"grid:         {escape(str(path))}")


def print_restarts(console: Any, result: Any) -> None:
    """One row per restart: seed, label-free score, accuracy when labels exist, the choice."""
    table = Table(title=f"restarts (chosen after {result.after_epochs} epoch(s) by code "
                        f"information on {result.score_images} training images)")
    for column in ("restart", "seed", "code information", "eval_accuracy", ""):
        table.add_column(column, justify="right" if column else "left")
    for c in result.candidates:
        table.add_row(str(c.index + 1), str(c.seed),
                      "failed" if c.score is None else f"{c.score:.4f}",
                      "-" if c.eval_accuracy is None else f"{c.eval_accuracy:.4f}",
                      "kept" if c.index == result.chosen else "")
    console.print(table)
    console.print(f"restarts:     {escape(str(result.record))}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def deviation_table(result: Any, encoder_dev: dict[str, dict[str, Any]],
                    fp32_images: str) -> Table:
    """Max abs errors per output and categorical argmax agreement, one row per file pair.

    The fp32 row is the exported graph against PyTorch; the other rows are variants against
    the fp32 graph. "gen. px" is the generator's pixel error on the same prior samples.
    The caption adds each variant's agreement on the images whose fp32 decision is not a
    near tie (none, for a collapsed model): the number that does not depend on the CPU.
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
        notes.append(f"{name}: encoder on {images}{_decided_note(dev)}, generator on "
                     f"{variant.generator_deviation['n_samples']} prior samples")
    table.caption = escape("; ".join(notes))
    return table


def _decided_note(dev: dict[str, Any]) -> str:
    """The agreement on the images whose fp32 top-2 probabilities are not a near tie."""
    if "decided_fraction_per_code" not in dev:  # measured before the field existed
        return ""
    share = min(dev["decided_fraction_per_code"], default=0.0)
    if dev.get("argmax_agreement_decided") is None:
        return (f" (every fp32 argmax a near tie, top-2 probabilities within "
                f"{dev['near_tie_margin']})")
    return (f" (argmax {dev['argmax_agreement_decided']:.2%} on the {share:.1%} not near "
            "ties)")


def files_table(paths: list[Path], root: Path) -> Table:
    table = Table(title=f"Files written to {escape(str(root))}")
    table.add_column("file")
    table.add_column("size", justify="right")
    for path in paths:
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        table.add_row(escape(str(shown)), f"{path.stat().st_size / 1024:.1f} KiB")
    return table


#: Metric groups printed as separate tables, so each fits an 80-column terminal.
TABLE_GROUPS = (
    ("clustering, reconstruction, samples",
     ("accuracy", "nmi", "ari", "recon_mse", "recon_bce", "cfd")),
    ("disentanglement", ("beta_vae", "factor_vae", "mig", "dci")),
)


def summary_tables(summary: dict) -> list[Table]:
    """Headline metrics per model (mean over seeds), one table per metric group."""
    from infovaegan_plugin.evaluation import METRICS
    from infovaegan_plugin.evaluation.report import DISPLAY, SHORT

    models = summary["models"]
    tables = []
    for i, (title, group) in enumerate(TABLE_GROUPS):
        keys = [k for k in group if any(k in m["metrics"] for m in models.values())]
        if not keys:
            continue
        table = Table(title=f"{summary['dataset']}: {title} (mean over seeds)")
        table.add_column("model", no_wrap=True)
        for key in keys:
            table.add_column(f"{SHORT[key]} {'↑' if METRICS[key][1] else '↓'}", justify="right")
        if i == 0:
            table.add_column("train s", justify="right")
        for name, entry in models.items():
            cells = [
                f"{entry['metrics'][k]['mean']:.3f}" if k in entry["metrics"] else "n/a"
                for k in keys
            ]
            if i == 0:
                cells.append(f"{entry['train_time_s']['mean']:.0f}")
            table.add_row(DISPLAY.get(name, name), *cells)
        tables.append(table)
    return tables

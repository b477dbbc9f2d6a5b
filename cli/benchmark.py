"""``infovaegan benchmark``: train InfoVAEGAN and the compared models on one budget, score all
with the same metrics, write a markdown table, JSON, bar charts and traversal grids."""

from __future__ import annotations

from pathlib import Path

import typer

from infovaegan_plugin.cli.common import (
    at_least,
    console,
    fail,
    open_fraction,
    positive_float,
    resolve_device,
    user_errors,
)
from infovaegan_plugin.cli.tables import summary_tables


def parse_list(text: str, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        fail(f"--{what} is empty.")
    return items


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in parse_list(text, "seeds")]
    except ValueError:
        fail(f"--seeds must be comma-separated integers, e.g. 0,1,2; got {text!r}.")
        raise  # unreachable: fail() exits
    if any(s < 0 for s in seeds):
        fail(f"--seeds must be >= 0, got {text!r}.")
    return seeds


def benchmark(
    dataset: str = typer.Option("dsprites", help="mnist or dsprites (digits for smoke runs)."),
    models: str = typer.Option(
        "infovaegan,infogan,ali,beta_vae,factor_vae,beta_tc_vae,vaegan",
        help="Comma-separated models to compare.",
    ),
    epochs: int | None = typer.Option(None, callback=at_least(1),
                                      help="Epochs for every model (default: preset)."),
    seeds: str = typer.Option("0", help="Comma-separated seeds, e.g. 0,1,2 (one run per seed)."),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Results folder (resumable)."),
    data_dir: Path | None = typer.Option(None, help="MNIST IDX folder (or the dSprites npz)."),
    batch_size: int | None = typer.Option(None, callback=at_least(1),
                                          help="Batch size (default: preset)."),
    metric_scale: float = typer.Option(
        1.0, callback=positive_float,
        help="Disentanglement sample sizes; 1.0 = disentanglement_lib defaults."
    ),
    metrics: str = typer.Option(
        "beta_vae,factor_vae,mig,dci",
        help="Disentanglement metrics on dSprites (comma-separated; each costs minutes at "
        "--metric-scale 1.0 on a CPU).",
    ),
    n_samples: int = typer.Option(5000, callback=at_least(1),
                                  help="Generated images for the Frechet distance."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int = typer.Option(0, callback=at_least(0),
                                help="torch CPU threads (0: torch's default, every core)."),
    force: bool = typer.Option(False, help="Retrain runs that already have a result."),
    rescore: bool = typer.Option(
        False, help="Score finished runs again from their saved models when only the metric "
        "settings differ (--metric-scale, --metrics, --n-samples); nothing is retrained."
    ),
    limit: int | None = typer.Option(
        None, callback=at_least(1),
        help="Images used: dSprites renders N (default 20000); others keep the first N."
    ),
    hidden_dim: int | None = typer.Option(None, callback=at_least(1), hidden=True),
    base_channels: int | None = typer.Option(None, callback=at_least(1), hidden=True),
    classifier_epochs: int | None = typer.Option(None, callback=at_least(1), hidden=True),
    eval_fraction: float = typer.Option(0.1, callback=open_fraction, hidden=True),
) -> None:
    """Compare InfoVAEGAN, InfoGAN, ALI, beta-VAE, FactorVAE, beta-TCVAE and VAEGAN."""
    import torch

    from infovaegan_plugin.callbacks import RichProgressCallback
    from infovaegan_plugin.data import DataError, available_datasets, is_named
    from infovaegan_plugin.evaluation import BenchmarkError, BenchmarkSettings, run_benchmark

    if not is_named(dataset):
        fail(f"--dataset must be one of {', '.join(available_datasets())}, got {dataset!r}.")
    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(device)
    with user_errors(BenchmarkError, DataError, FileNotFoundError):
        settings = BenchmarkSettings(
            dataset=dataset,
            output_dir=output_dir,
            models=tuple(parse_list(models, "models")),
            seeds=tuple(parse_seeds(seeds)),
            epochs=epochs,
            batch_size=batch_size,
            data_dir=data_dir,
            limit=limit,
            eval_fraction=eval_fraction,
            hidden_dim=hidden_dim,
            base_channels=base_channels,
            metric_scale=metric_scale,
            n_samples=n_samples,
            classifier_epochs=classifier_epochs,
            disentanglement_metrics=tuple(parse_list(metrics, "metrics")),
            device=device,
            force=force,
            rescore=rescore,
        )
        summary = run_benchmark(
            settings, console, make_callbacks=lambda: [RichProgressCallback(console=console)]
        )
    for table in summary_tables(summary):
        console.print(table)
    for target in summary["targets"]:
        word = {True: "[green]met[/]", False: "[red]missed[/]", None: "not checked"}[target["met"]]
        console.print(f"target: {target['target']}: {word} ({target['detail']})")
    out = settings.dataset_dir
    console.print(
        f"ran {len(summary['ran'])}, rescored {len(summary['rescored'])}, "
        f"skipped {len(summary['skipped'])} finished run(s)"
    )
    console.print(f"table:    {out / 'comparison.md'}")
    console.print(f"summary:  {out / 'summary.json'}")
    console.print(f"charts:   {out / 'charts'}")


def register(app: typer.Typer) -> None:
    app.command("benchmark")(benchmark)

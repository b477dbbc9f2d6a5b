"""``infovaegan evaluate MODEL_DIR``: every metric of a trained model on its held-out data, as a
table and a JSON file, plus traversal / sample / reconstruction grids."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infovaegan_plugin.cli.common import (
    at_least,
    check_writable,
    console,
    fail,
    open_fraction,
    positive_float,
    resolve_device,
    user_errors,
)
from infovaegan_plugin.cli.tables import metrics_table


def resolve_model_dir(path: Path) -> Path:
    """A saved model folder, or the newest ``final_model`` inside a run or benchmark folder
    (:func:`infovaegan_plugin.saved_models.find_model_dir`)."""
    from infovaegan_plugin.saved_models import CONFIG_FILE, find_model_dir

    if not path.exists():
        fail(f"MODEL_DIR {path} does not exist.")
    if not path.is_dir():
        fail(f"MODEL_DIR {path} is a file; pass the folder holding {CONFIG_FILE} and model.pt.")
    with user_errors(FileNotFoundError):
        folder = find_model_dir(path, what="model")
    if folder not in (path, path / "final_model"):
        console.print(f"evaluating the newest saved model in {path}: {folder}")
    return folder


def evaluate(
    model_dir: Path = typer.Argument(..., help="Saved model folder (or a training run folder)."),
    dataset: str = typer.Option(..., help="digits, mnist, dsprites, or a path: the model's data."),
    data_dir: Path | None = typer.Option(None, help="Folder of the named data set (MNIST IDX)."),
    seed: int = typer.Option(0, callback=at_least(0),
                             help="Seed of the held-out split (as in training) and the metrics."),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o",
        help="Where evaluation.json and PNGs go (default: evaluation/ in the model folder)."
    ),
    classifier_dir: Path | None = typer.Option(
        None, help="Feature-classifier cache; share it to compare models' Frechet distances."
    ),
    metric_scale: float = typer.Option(
        1.0, callback=positive_float,
        help="Disentanglement sample sizes (dSprites); 1.0 = disentanglement_lib defaults."
    ),
    n_samples: int = typer.Option(5000, callback=at_least(1),
                                  help="Generated images for the classifier Frechet distance."),
    cfd: bool = typer.Option(
        True, help="Compute the classifier Frechet distance (trains a small classifier once)."
    ),
    allow_pickle: bool = typer.Option(
        False, help="Also load pythae models whose networks are pickled (trusted folders only)."
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    limit: int | None = typer.Option(None, callback=at_least(1),
                                     help="Use only the first N images (as in training)."),
    eval_fraction: float = typer.Option(0.1, callback=open_fraction,
                                        help="Held-out share when the data has no test split."),
    classifier_epochs: int | None = typer.Option(None, callback=at_least(1), hidden=True),
) -> None:
    """Score a trained model: clustering, reconstruction, Frechet distance, disentanglement."""
    from infovaegan_plugin import ModelLoadError
    from infovaegan_plugin.data import DataError, is_named, train_held_out
    from infovaegan_plugin.evaluation import (
        DSpritesGroundTruth,
        EvaluationSettings,
        load_or_train_classifier,
        planned_steps,
    )
    from infovaegan_plugin.evaluation.evaluate import OUTPUT_FILE, evaluate_and_record
    from infovaegan_plugin.evaluation.report import by_factor_rows
    from infovaegan_plugin.saved_models import load_saved_model

    device = resolve_device(device)
    folder = resolve_model_dir(model_dir)
    with user_errors(ModelLoadError, FileNotFoundError):
        model = load_saved_model(folder, allow_pickle).to(device)
    out = output_dir or folder / "evaluation"
    check_writable(out, "--output-dir", folder=True)
    if classifier_dir is not None:
        check_writable(classifier_dir, "--classifier-dir", folder=True)
    with user_errors(DataError, ValueError, FileNotFoundError):
        settings = EvaluationSettings(seed=seed, metric_scale=metric_scale, n_samples=n_samples)
        train_data, held_out = train_held_out(dataset, data_dir, limit, eval_fraction, seed)
        expected = tuple(model.model_config.input_dim)
        if tuple(held_out.input_dim) != expected:
            fail(f"the model takes images {expected}, {dataset} has {held_out.input_dim}.")
        classifier = None
        if cfd and train_data.labels is not None:
            console.print("feature classifier: loading or training (once per directory)")
            classifier = load_or_train_classifier(
                classifier_dir or out / "classifier", train_data, held_out, classifier_epochs, seed
            )
    ground_truth = DSpritesGroundTruth() if dataset == "dsprites" else None
    steps = planned_steps(held_out, ground_truth, classifier)
    console.print(f"[bold]{folder}[/] on {len(held_out)} held-out {held_out.name} images")
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=console)
    with progress:
        task = progress.add_task("evaluating", total=len(steps))

        def on_step(name: str) -> None:
            done = steps.index(name) if name in steps else 0
            progress.update(task, completed=done, description=f"evaluating: {name}")

        with user_errors(OSError):
            result = evaluate_and_record(
                model, folder, dataset if is_named(dataset) else str(dataset), held_out, out,
                settings, ground_truth, classifier, on_step)
        progress.update(task, completed=len(steps), description="evaluated")
    console.print(metrics_table(result["metrics"], f"{held_out.name} (held-out)"))
    if result["details"].get("by_factor"):
        console.print(metrics_table(by_factor_rows(result["details"]["by_factor"]),
                                    "where the disentanglement scores are lost, by factor"))
    print_cfd_classifier(result["details"].get("cfd"))
    console.print(f"clustering: {result['clustering_method']}")
    console.print(f"evaluation:  {out / OUTPUT_FILE}")
    for path in result["grids"].values():
        console.print(f"grid:        {path}")


def print_cfd_classifier(cfd: dict | None) -> None:
    """The held-out accuracy of the classifier behind the CFD, or why the CFD was refused."""
    if cfd is None:
        return
    if "refused" in cfd:
        console.print(f"[bold yellow]cfd:[/] {escape(cfd['refused'])}")
    else:
        console.print(f"cfd classifier held-out accuracy: "
                      f"{cfd['classifier_held_out_accuracy']:.4f}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)

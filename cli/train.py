"""``infovaegan train``: train on a named data set or a path, write the run folder + PNG grids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .common import console, fail, resolve_device, user_errors

NAMED = ("digits", "mnist", "dsprites")


def load_train_eval(dataset: str, data_dir: Optional[Path], limit: Optional[int],
                    eval_fraction: float, seed: int):
    """Training and held-out data: MNIST's official test split, else a seeded hold-out."""
    from infovaegan_plugin.data import load_dataset

    if dataset == "mnist":
        train = load_dataset("mnist", data_dir, split="train", limit=limit)
        held_out = load_dataset("mnist", data_dir, split="test", limit=limit)
        return train, held_out
    kw = {"n": limit or 20000, "seed": seed} if dataset == "dsprites" and data_dir is None else {}
    data = load_dataset(dataset, data_dir, split="train", **kw)
    if limit is not None and dataset != "dsprites":
        data = data.subset(slice(0, limit))
    return data.split(eval_fraction, seed)


def metrics_table(metrics: dict, title: str) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


def train(
    dataset: str = typer.Option("digits", help="digits, mnist, dsprites, or a path (.npy/.npz/IDX/image folder)."),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Where the run folder is created."),
    data_dir: Optional[Path] = typer.Option(None, help="Folder of the named data set (MNIST IDX files; dSprites npz)."),
    epochs: Optional[int] = typer.Option(None, help="Epochs (default: the data set's preset)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default: the data set's preset)."),
    seed: int = typer.Option(0, help="Seed of weights, sampling and the eval split."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    variant: str = typer.Option("infovaegan", help="infovaegan, or the ablations infogan / ali."),
    limit: Optional[int] = typer.Option(None, help="Use only the first N images (quick runs)."),
    eval_fraction: float = typer.Option(0.1, help="Held-out share when the data has no test split."),
    checkpoint_every: Optional[int] = typer.Option(None, help="Save checkpoint_epoch_N every N epochs."),
    resume: Optional[Path] = typer.Option(None, help="A checkpoint_epoch_N folder to continue from."),
    amp: bool = typer.Option(False, help="Mixed precision (fp16 on CUDA, bf16 on CPU)."),
) -> None:
    """Train InfoVAEGAN; writes final_model/, checkpoints, metrics.json and PNG grids."""
    import torch
    from pythae.pipelines import TrainingPipeline

    from infovaegan_plugin import InfoVAEGAN, InfoVAEGANTrainerConfig, NonFiniteLossError
    from infovaegan_plugin.callbacks import RichProgressCallback
    from infovaegan_plugin.data import DataError, to_pythae_dataset
    from infovaegan_plugin.presets import model_config_for, preset_for
    from infovaegan_plugin.viz import write_model_grids

    device = resolve_device(device)
    preset_name = dataset if dataset in NAMED else "custom"
    preset = preset_for(preset_name)
    with user_errors(DataError, ValueError, FileNotFoundError):
        train_data, eval_data = load_train_eval(dataset, data_dir, limit, eval_fraction, seed)
        model_config = model_config_for(preset_name, train_data.images.shape[1:], variant)
    console.print(
        f"[bold]{train_data.name}[/]: {len(train_data)} training / {len(eval_data)} held-out "
        f"images {tuple(train_data.images.shape[1:])}, variant {variant}, device {device}"
    )
    torch.manual_seed(seed)
    model = InfoVAEGAN(model_config)
    training_config = InfoVAEGANTrainerConfig(
        output_dir=str(output_dir),
        num_epochs=epochs or preset["epochs"],
        per_device_train_batch_size=batch_size or preset["batch_size"],
        seed=seed,
        steps_saving=checkpoint_every,
        resume_from_checkpoint=str(resume) if resume else None,
        no_cuda=device == "cpu",
        amp=amp,
    )
    pipeline = TrainingPipeline(model=model, training_config=training_config)
    progress = RichProgressCallback(console=console)
    try:
        pipeline(
            train_data=to_pythae_dataset(train_data),
            eval_data=to_pythae_dataset(eval_data),
            callbacks=[progress],
        )
    except NonFiniteLossError as exc:
        fail(str(exc), code=3)
    except FileNotFoundError as exc:
        fail(str(exc))
    finally:
        progress.on_train_end(training_config)
    trainer = pipeline.trainer
    run_dir = Path(trainer.training_dir)
    grids = write_model_grids(trainer.model, run_dir, real_images=eval_data.images, seed=seed)
    final = trainer.history[-1] if trainer.history else {}
    summary = {
        "dataset": train_data.name,
        "variant": variant,
        "run_dir": str(run_dir),
        "final_model": str(run_dir / "final_model"),
        "epochs": training_config.num_epochs,
        "final_metrics": final,
        "grids": {k: str(v) for k, v in grids.items()},
    }
    (run_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    console.print(metrics_table({k: v for k, v in final.items()}, f"{train_data.name}: last epoch"))
    console.print(f"run folder:   {run_dir}")
    console.print(f"final model:  {run_dir / 'final_model'}")
    console.print(f"metrics:      {run_dir / 'metrics.json'}")
    for path in grids.values():
        console.print(f"grid:         {path}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)

"""Bisect the dSprites recipe toward the reference InfoGAN, one difference at a time.

The reference (../shared/reference/infogan_dsprites.py, InfoGAN-CR's InfoGAN baseline)
disentangles dSprites on this machine; our InfoGAN ablation with the dSprites preset differs
from it in a handful of named ways (:data:`DIFFERENCES`). Each *arm* is the preset with a set
of those differences switched to the reference's value:

- ``preset``: the dSprites preset as ``infovaegan train --dataset dsprites`` builds it;
- ``all``: every difference switched (the reference's recipe in our code, its fresh sprites
  as 200,000 rendered training images);
- ``codes+g_steps``: the preset with those two switched;
- ``all-codes``: every difference but ``codes`` switched (leave one out);
- ``pooled_category``, ``pooled_category+nuisance_augmentation``, ``contrastive``: changes the
  reference does not have (:data:`BEYOND_REFERENCE`), tried on the same proxy; ``all`` never
  includes one.

Every arm trains with the trainer ``infovaegan train`` builds (``dsprites_gpu_runners.
InfoVAEGANRunner``: its data loader, its ``training_step``) and is scored every
``--eval-every`` steps by the same code as ``benchmarks/dsprites_gpu.py`` (FactorVAE metric and
MIG at disentanglement_lib's sizes times ``--eval-scale``, the sprites its prior draws). Arms run
one after another; each writes ``arm_<name>_s<seed>.json`` and its training state
(``state/arm_<name>_s<seed>.pt``) at every evaluation, and on SIGTERM/SIGINT within ~25 steps;
a finished arm is not run again and a stopped one continues where it stopped, bit for bit, so
a stopped run continues with the same command (a finished arm, too, with a larger
``--steps``). ``--reference-jsonl`` adds the reference script's own points (its JSON lines)
to the table and the chart;
``--report`` trains nothing and reports every arm JSON in ``--out``.

    python benchmarks/dsprites_bisect.py --out runs/bisect --arms preset all all-codes \\
        --steps 4000 --eval-every 2000 --reference-jsonl runs/ref_s0.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dsprites_gpu import (  # noqa: E402  (benchmarks/, the script's own folder)
    CachedGroundTruth,
    eval_targets,
    evaluate,
    factor_line,
    real_area_range,
    real_sprites,
    save_side_by_side,
    write_json,
)
from dsprites_gpu_runners import InfoVAEGANRunner, prepared_run, variant_run  # noqa: E402
from machine import cpu_model  # noqa: E402
from run_state import load_state, save_state, stop_requests, stopped_by, train_to  # noqa: E402

METRICS = ("factor_vae", "mig")
SUMMARY_NAME = "dsprites_bisect.json"
CHART_NAME = "bisect_metrics_vs_steps.png"


@dataclass(frozen=True)
class Difference:
    """One way the preset differs from the reference: the reference's values of the model
    config (``model``) and of the trainer config (``trainer``) fields involved, or the
    training images rendered (``limit``: the reference draws fresh sprites every step)."""

    what: str
    model: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None


#: The reference's recipe, as switches of our configs (its docstring and README; the MI
#: weight: the reference's 0.05 times its 0.5 squared error is 0.025 of our
#: ``mean_squared_error``, the InfoGAN form the preset uses).
DIFFERENCES: dict[str, Difference] = {
    "codes": Difference("5 continuous codes + 5 noise dims, no categorical code (nor the "
                        "category's own head and self-augmentation)",
                        model={"categorical_dims": [], "continuous_dim": 5, "noise_dim": 5,
                               "categorical_head": "dense", "self_augmentation_weight": 0.0}),
    "hidden": Difference("FC width 128 (preset 256)", model={"hidden_dim": 128}),
    "d_batch_norm": Difference("no BatchNorm in D", model={"discriminator_batch_norm": False}),
    "spectral_norm": Difference("spectral norm on D's layers",
                                model={"discriminator_spectral_norm": True}),
    "instance_noise": Difference("no instance noise (preset 0.2)",
                                 model={"instance_noise_std": 0.0}),
    "mi_weight": Difference("MI weight 0.025 = 0.05 x 0.5 (preset 0.1)",
                            model={"mi_continuous_weight": 0.025}),
    "d_lr": Difference("D learning rate 2e-3 (preset 2e-4)",
                       trainer={"discriminator_learning_rate": 2e-3}),
    "g_steps": Difference("G stepped twice per D step", trainer={"generator_steps": 2}),
    "data": Difference("200,000 rendered training images, about one pass in 4,000 steps, as "
                       "the reference's fresh sprites (preset 20,000)", limit=200_000),
}

#: Changes the reference does not have, tried on the same proxy (arms may switch them by name;
#: ``all`` is the reference's differences only).
#: the self-augmentation ranges of the nuisance arms: full rotation, 40% rescaling, no shift
NUISANCE_RANGES = {"self_augmentation_rotation_deg": 180.0, "self_augmentation_scale": 0.4,
                   "self_augmentation_shift": 0.0}
BEYOND_REFERENCE: dict[str, Difference] = {
    "pooled_category": Difference("categorical logits from D's penultimate conv map averaged "
                                  "over positions (the category cannot read position)",
                                  model={"categorical_head": "mean_pooled"}),
    "max_pooled_category": Difference("categorical logits from the maximum of D's penultimate "
                                      "conv map over positions (the category cannot read position)",
                                      model={"categorical_head": "max_pooled"}),
    "nuisance_augmentation": Difference(
        "self-augmented training of the category on real sprites rotated by up to 180 degrees "
        "and rescaled by up to 40% (weight 1, no shift): q(c|x) must not follow orientation "
        "or scale; with a pooled head, not position either, which leaves the shape",
        model={"self_augmentation_weight": 1.0, **NUISANCE_RANGES}),
    "heavy_nuisance_augmentation": Difference(
        "the same self-augmentation at 4x the weight (4): at weight 1 real sprites' categories "
        "still change under rotation and rescaling (consistency KL 0.29-0.30 nats)",
        model={"self_augmentation_weight": 4.0, **NUISANCE_RANGES}),
    "contrastive": Difference(
        "InfoGAN-CR's contrastive regulariser at its weight 2, on from the first step (InfoGAN-CR "
        "switches it on after 288,000 steps): a classifier names the code a pair of generated "
        "images shares, the generator helps it", model={"contrastive_weight": 2.0}),
}
SWITCHES: dict[str, Difference] = {**DIFFERENCES, **BEYOND_REFERENCE}


@dataclass(frozen=True)
class Arm:
    """A named set of switched differences."""

    name: str
    switched: tuple[str, ...]

    def overrides(self) -> tuple[dict[str, Any], dict[str, Any]]:
        model: dict[str, Any] = {}
        trainer: dict[str, Any] = {}
        for name in self.switched:
            model.update(SWITCHES[name].model)
            trainer.update(SWITCHES[name].trainer)
        return model, trainer

    def limit(self, default: int | None) -> int | None:
        """The training images rendered: the ``data`` difference's when switched."""
        limits = [SWITCHES[n].limit for n in self.switched if SWITCHES[n].limit]
        return max(limits) if limits else default


def parse_arm(spec: str) -> Arm:
    """``preset``, ``all``, ``a+b`` (the preset with a and b switched), ``all-a-b`` (all but
    a and b). Unknown names are an error that lists the known ones."""
    spec = spec.strip()
    if spec == "preset":
        return Arm(spec, ())
    if spec == "all" or spec.startswith("all-"):
        left_out = spec.split("-")[1:]
        chosen = [n for n in DIFFERENCES if n not in left_out]
    else:
        left_out, chosen = [], spec.split("+")
    unknown = [n for n in [*left_out, *chosen] if n not in SWITCHES]
    if unknown or not spec:
        raise SystemExit(f"error: unknown difference {', '.join(unknown) or repr(spec)} in arm "
                         f"{spec!r}; known: {', '.join(SWITCHES)} (arms: preset, all, a+b, "
                         "all-a-b)")
    return Arm(spec, tuple(chosen))


def arm_runner(arm: Arm, seed: int, variant: str, limit: int | None, scratch: str
               ) -> InfoVAEGANRunner:
    """The trainer of ``infovaegan train --dataset dsprites --variant V --seed S`` with the
    arm's switches applied to the model and trainer configs."""
    run = prepared_run(seed, arm.limit(limit), False, scratch)
    model_switches, trainer_switches = arm.overrides()
    return InfoVAEGANRunner(variant_run(run, variant, **model_switches), "cpu",
                            trainer_overrides=trainer_switches)


def reference_points(path: Path | None) -> list[dict[str, Any]]:
    """The evaluations of the reference script's JSON lines (other lines are skipped)."""
    if path is None:
        return []
    points = []
    for line in Path(path).read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if all(k in entry for k in ("step", *METRICS)):
            points.append({k: entry[k] for k in ("step", *METRICS)})
    return sorted(points, key=lambda p: p["step"])


def train_arm(arm: Arm, seed: int, args: argparse.Namespace, path: Path,
              areas: tuple[float, float], data: CachedGroundTruth,
              real: Any = None) -> dict[str, Any]:
    """Train one arm for ``--steps``, scoring it every ``--eval-every``; the record is
    rewritten at every point, the training state saved with it (``state/``), and an arm with
    a saved state continues from it."""
    model_switches, trainer_switches = arm.overrides()
    state_file = path.parent / "state" / f"{path.stem}.pt"
    with tempfile.TemporaryDirectory(prefix="dsprites_bisect_") as scratch:
        runner = arm_runner(arm, seed, args.variant, args.limit, scratch)
        record: dict[str, Any] = {
            "arm": arm.name, "switched": list(arm.switched), "seed": seed,
            "variant": args.variant, "model_overrides": model_switches,
            "trainer_overrides": trainer_switches, "steps_planned": args.steps,
            "train_images": runner.images_per_epoch, "curve": [], "complete": False,
        }
        if state_file.is_file():
            saved = load_state(state_file)
            if (saved["record"]["switched"], saved["record"]["variant"]) != (
                    record["switched"], record["variant"]):
                raise SystemExit(f"error: {state_file} is the state of another arm or variant "
                                 "than its name says; delete it to train the arm again")
            runner.load_training_state(saved["training"])
            record = {**saved["record"], "steps_planned": args.steps}
            print(f"{arm.name} seed {seed}: continues from step {runner.steps}", flush=True)

        def keep() -> None:
            save_state({"training": runner.training_state(), "record": record}, state_file)
            write_json(path, record)

        with stop_requests() as stop:
            for target in eval_targets(runner.steps, args.steps, args.eval_every):
                if not train_to(runner, target, stop):
                    keep()
                    raise SystemExit(f"stopped by {stopped_by(stop)} at step {runner.steps} of "
                                     f"{arm.name} seed {seed} (saved in {state_file}); the "
                                     "same command continues it")
                point = evaluate(runner, data, seed, args.eval_scale, areas, real)
                point["ms_per_step"] = round(1e3 * runner.train_s / runner.steps, 1)
                record["curve"].append(point)
                record["complete"] = runner.steps >= args.steps
                keep()
                print(f"{arm.name} seed {seed} step {runner.steps}: FactorVAE "
                      f"{point['factor_vae']:.3f} MIG {point['mig']:.3f} sprites "
                      f"{point['sprite_fraction']:.3f} ({point['ms_per_step']:.0f} ms/step, "
                      f"eval {point['eval_s']:.0f} s); {factor_line(point)}", flush=True)
    return record


def chart(path: Path, records: list[dict[str, Any]], reference: list[dict[str, Any]]) -> Path:
    """FactorVAE metric and MIG against steps, one line per arm (and the reference)."""
    from PIL import Image

    from infovaegan_plugin.evaluation.charts import line_chart

    pictures = []
    with tempfile.TemporaryDirectory() as folder:
        for metric, title in (("factor_vae", "FactorVAE metric"), ("mig", "MIG")):
            series = [(f"{r['arm']} s{r['seed']}", [p["step"] for p in r["curve"]],
                       [p[metric] for p in r["curve"]]) for r in records if r["curve"]]
            if reference:
                series.append(("reference script", [p["step"] for p in reference],
                               [p[metric] for p in reference]))
            top = max(v for _, _, ys in series for v in ys)
            high = 1.0 if metric == "factor_vae" else min(1.0, max(0.2, 1.2 * top))
            pictures.append(Image.open(line_chart(Path(folder) / f"{metric}.png", title, series,
                                                  x_label="training steps",
                                                  y_range=(0.0, high))).copy())
    return save_side_by_side(pictures, path)


def print_table(records: list[dict[str, Any]], reference: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="dSprites bisection toward the reference (metric scale: eval points)")
    for column in ("arm", "seed", "step", "FactorVAE", "MIG", "sprites", "ms/step"):
        table.add_column(column, justify="right")
    for r in records:
        for p in r["curve"]:
            table.add_row(r["arm"], str(r["seed"]), str(p["step"]), f"{p['factor_vae']:.3f}",
                          f"{p['mig']:.3f}", f"{p['sprite_fraction']:.3f}",
                          f"{p['ms_per_step']:.0f}")
    for p in reference:
        table.add_row("reference script", "", str(p["step"]), f"{p['factor_vae']:.3f}",
                      f"{p['mig']:.3f}", "", "")
    Console(width=max(Console().width, 100)).print(table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder of the arms' JSON, the chart, summary")
    ap.add_argument("--arms", nargs="+", default=["preset", "all"],
                    help=f"preset, all, a+b, all-a-b; differences: {', '.join(DIFFERENCES)}; "
                         f"beyond the reference: {', '.join(BEYOND_REFERENCE)}")
    ap.add_argument("--variant", default="infogan", choices=("infogan", "infovaegan"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--eval-every", type=int, default=2000)
    ap.add_argument("--eval-scale", type=float, default=0.2,
                    help="disentanglement_lib's sample sizes times this")
    ap.add_argument("--limit", type=int, default=None,
                    help="rendered training images (default: the train default, 20,000)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reference-jsonl", type=Path, default=None,
                    help="the reference script's output, drawn beside the arms")
    ap.add_argument("--report", action="store_true",
                    help="train nothing: the table, chart and summary of every arm JSON in --out")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.eval_every < 1 or not args.eval_scale > 0:
        ap.error("--steps and --eval-every must be >= 1, --eval-scale > 0")
    args.arm_list = [parse_arm(a) for a in args.arms]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    import infovaegan_plugin  # noqa: F401  (registers InfoVAEGAN with pythae)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    reference = reference_points(args.reference_jsonl)
    records = []
    if args.report:
        records = [json.loads(p.read_text()) for p in sorted(out.glob("arm_*.json"))]
        if not records:
            raise SystemExit(f"error: no arm_*.json in {out} to report")
    # rendered only to train
    areas, real = (None, None) if args.report else (real_area_range(), real_sprites())
    for seed in [] if args.report else args.seeds:
        data = CachedGroundTruth()  # every arm of a seed is scored on the same pictures
        for arm in args.arm_list:
            path = out / f"arm_{arm.name}_s{seed}.json"
            if path.is_file():
                done = json.loads(path.read_text())
                if (done.get("complete") and done.get("steps_planned") == args.steps
                        and done.get("switched") == list(arm.switched)
                        and done.get("variant") == args.variant):
                    print(f"{arm.name} seed {seed}: done before ({path.name})", flush=True)
                    records.append(done)
                    continue
            records.append(train_arm(arm, seed, args, path, areas, data, real))
    summary = {
        "benchmark": "dsprites_bisect",
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None
                                                         else sys.argv[1:])]),
        "environment": {"cpu": cpu_model(), "torch": torch.__version__,
                        "threads": torch.get_num_threads()},
        "differences": {k: {"what": d.what, "model": d.model, "trainer": d.trainer,
                            "limit": d.limit}
                        for k, d in SWITCHES.items()},
        "settings": {"steps": args.steps, "eval_every": args.eval_every,
                     "eval_scale": args.eval_scale, "variant": args.variant,
                     "seeds": args.seeds, "limit": args.limit},
        "arms": records, "reference_script": reference,
        "wall_s": round(time.time() - started, 1),
    }
    chart(out / CHART_NAME, records, reference)
    write_json(out / SUMMARY_NAME, summary)
    print_table(records, reference)
    print(f"wrote {out / SUMMARY_NAME} and {CHART_NAME}", flush=True)
    return summary


if __name__ == "__main__":
    main()

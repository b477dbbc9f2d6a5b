"""``benchmarks/dsprites_gpu.sh`` / ``dsprites_gpu.py``: the reference's port is the reference
script on the CPU (same weights, optimizer states, random streams and losses after the same
steps), the whole comparison runs on the CPU at a tiny budget and writes what it promises, the
pictures are rendered once, and the budget plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import dsprites_gpu as bench  # noqa: E402
import dsprites_gpu_runners as runners  # noqa: E402

def test_the_port_is_the_reference_script_on_the_cpu(tmp_path, one_thread, reference_script):
    checkpoint = tmp_path / "ref.pt"
    # the script: 3 steps, then its evaluation (tiny metrics; 1,000 samples from its codes'
    # generator) and its checkpoint of everything; the port trains meanwhile
    script = subprocess.Popen(
        [sys.executable, str(reference_script), "--steps", "3", "--eval-every", "100",
         "--seed", "0",
         "--threads", "1", "--metric-scale", "0.0005", "--checkpoint", str(checkpoint)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    ref = runners.load_reference(reference_script)
    port = runners.ReferenceRunner(ref, seed=0, device="cpu")
    untrained = {k: v.clone() for k, v in port.G.state_dict().items()}
    port.train(3)
    with port.evaluating():
        port.samples()  # the script's evaluate draws 1,000 codes from the same generator
    stdout, stderr = script.communicate(timeout=300)
    assert script.returncode == 0, stderr[-2000:]
    line = json.loads(stdout.strip().splitlines()[-1])
    state = torch.load(checkpoint, weights_only=False)
    assert state["step"] == line["step"] == 3

    for name, net in (("G", port.G), ("D", port.D)):
        ours = net.state_dict()
        assert ours.keys() == state[name].keys()
        for key, value in state[name].items():
            assert torch.equal(ours[key], value), f"{name}.{key} differs"
    for name, optimizer in (("oG", port.oG), ("oD", port.oD)):
        theirs = state[name]["state"]
        ours = optimizer.state_dict()["state"]
        assert ours.keys() == theirs.keys()
        for index, slots in theirs.items():
            for slot, value in slots.items():
                assert torch.equal(ours[index][slot], value), f"{name}[{index}].{slot} differs"
    assert torch.equal(port.gen.get_state(), state["gen"])
    assert port.rng.bit_generator.state == state["rng"]
    losses = port.losses()
    assert round(losses["d_loss"], 4) == line["d_loss"]
    assert round(losses["mi"], 4) == line["mi"]
    # the comparison can fail: three steps moved the weights away from the initial ones
    assert not all(torch.equal(untrained[k], v) for k, v in state["G"].items())


def test_the_cpu_run_writes_the_comparison(tmp_path, reference_script):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "DEVICE": "cpu", "SEEDS": "0", "STEPS": "4",
           "EVAL_EVERY": "2", "METRIC_SCALE": "0.002", "EVAL_SCALE": "0.001", "LIMIT": "128",
           "REFERENCE": str(reference_script), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
           "EXTRA_ARGS": "--threads 1"}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "dsprites_gpu.sh")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "infovaegan" in done.stdout and "FactorVAE" in done.stdout

    record = json.loads((out / "dsprites_gpu.json").read_text())
    assert record["environment"]["device"] == "cpu"
    assert record["environment"]["torch"] == torch.__version__
    assert record["settings"]["steps"] == 4 and record["settings"]["mode"] == "steps"
    assert record["settings"]["infovaegan_train_images"] == 115  # 90% of --limit 128
    assert record["probe"] is None  # fixed steps on the CPU: nothing to plan or choose
    assert set(record["models"]) == {"reference", "infovaegan"}
    for name, model in record["models"].items():
        assert model["amp"] is False
        run = model["seeds"]["0"]
        assert run["steps"] == 4 and run["train_s"] > 0 and run["ms_per_step"] > 0
        assert [p["step"] for p in run["curve"]] == [2, 4]
        assert [p["metric_scale"] for p in run["curve"]] == [0.001, 0.002]
        assert run["final"] == run["curve"][-1]
        for point in run["curve"]:
            for key in ("factor_vae", "mig", "sprite_fraction", "any_pixel_fraction"):
                assert 0.0 <= point[key] <= 1.0, (name, key, point[key])
            assert point["losses"] and all(np.isfinite(list(point["losses"].values())))
    assert set(record["models"]["reference"]["seeds"]["0"]["final"]["losses"]) == {
        "d_loss", "g_loss", "mi"}
    assert record["summary"]["reference"]["seeds"] == 1
    # both models of a seed score the same pictures, rendered once: at least the FactorVAE
    # metric's variance rows and MIG's (10 + 10 at scale 0.001, 20 + 20 at 0.002) are served
    # to the second model (the votes too, unless FactorVAE prunes every dimension of one)
    render = record["render"]["0"]
    assert render["rendered"] >= 60 and render["served"] >= 60

    assert record["files"] == sorted(["dsprites_gpu.json", "dsprites_gpu.log",
                                      "metrics_vs_steps.png", "traversal_infovaegan.png",
                                      "traversal_reference.png"])
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == record["files"]
    # every run's training state, for --resume (tests/benchmarks/test_dsprites_run_state.py)
    assert sorted(p.name for p in (out / "state").iterdir()) == ["infovaegan_s0.pt",
                                                                 "reference_s0.pt"]
    chart = Image.open(out / "metrics_vs_steps.png")
    assert chart.size[0] == 2 * 760 and chart.size[1] >= 400  # FactorVAE beside MIG
    traversals = record["traversals"]
    assert traversals["reference"]["rows"] == [f"c{d}" for d in range(5)]
    assert len(traversals["infovaegan"]["rows"]) == 15  # 5 continuous codes x 3 categories
    sizes = {m: Image.open(out / f"traversal_{m}.png").size for m in traversals}
    assert sizes["reference"][0] > 10 * 32 and sizes["reference"][1] > 5 * 32
    assert sizes["infovaegan"][1] > sizes["reference"][1]  # 15 rows against 5
    assert len(traversals["infovaegan"]["effects"]) == 15


@pytest.mark.parametrize("name", ["beta_vae", "factor_vae"])
def test_a_baseline_steps_as_the_benchmark_trains_it(tmp_path, one_thread, name):
    from infovaegan_plugin.data import to_pythae_dataset
    from infovaegan_plugin.evaluation.comparison import BenchmarkSettings, train_model

    run = runners.prepared_run(0, 128, False, str(tmp_path / "scratch"))
    runner = runners.RUNNERS[name](None, run, "cpu", False)
    untrained = {k: v.clone() for k, v in runner.model.state_dict().items()}
    per_epoch = len(runner.trainer.train_loader)
    assert per_epoch == 2  # 115 images (90% of 128) at batch 64
    runner.train(1)
    runner.train(2 * per_epoch - 1)  # two epochs, in two calls (the benchmark's rounds)
    assert runner.steps == 4 and runner.epoch == 2  # the second ends at the next step
    assert runner.losses() and all(np.isfinite(list(runner.losses().values())))

    settings = BenchmarkSettings(dataset="dsprites", output_dir=tmp_path / "bench",
                                 models=(name,), seeds=(0,), epochs=2, device="cpu")
    trained = train_model(name, settings, to_pythae_dataset(run.train_data), None, 0,
                          tmp_path / "bench")
    ours, theirs = runner.model.state_dict(), trained.state_dict()
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), f"{key} differs"
    assert not all(torch.equal(untrained[k], v) for k, v in theirs.items())


def test_the_ablation_and_the_vaes_run_without_the_reference(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "dsprites_gpu.py"), "--out", str(out),
         "--device", "cpu", "--seeds", "1", "--steps", "2", "--eval-every", "2",
         "--metric-scale", "0.001", "--limit", "128", "--threads", "1",
         "--models", "infogan", "beta_vae", "factor_vae", "--reference", str(tmp_path / "none"),
         "--keep-models"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    record = json.loads((out / "dsprites_gpu.json").read_text())
    assert record["reference_script"] is None  # not asked for: not needed
    assert record["settings"]["models"] == ["infogan", "beta_vae", "factor_vae"]
    assert list(record["models"]) == ["infogan", "beta_vae", "factor_vae"]
    factors = ["shape", "scale", "orientation", "posX", "posY"]
    for name, model in record["models"].items():
        run = model["seeds"]["1"]
        assert run["steps"] == 2 and [p["step"] for p in run["curve"]] == [2], name
        assert 0.0 <= run["final"]["mig"] <= 1.0
        # where the scores are lost, by factor; one entry per code dimension
        final = run["final"]
        assert list(final["factor_vae_per_factor"]) == list(final["mig_per_factor"]) == factors
        assert all(v is None or 0.0 <= v <= 1.0 for v in final["factor_vae_per_factor"].values())
        assert set(final["factor_vae_dim_factor"]) <= {*factors, None}
    # the representation: 3 category probabilities and 5 continuous codes
    assert len(record["models"]["infogan"]["seeds"]["1"]["final"]["factor_vae_dim_factor"]) == 8
    assert "by factor: FactorVAE accuracy / MIG gap" in done.stdout
    assert set(record["models"]["factor_vae"]["seeds"]["1"]["final"]["losses"]) >= {
        "autoencoder_loss", "discriminator_loss"}
    assert "mutual_information_loss" in record["models"]["infogan"]["seeds"]["1"]["final"][
        "losses"]
    assert "elbo_loss" not in record["models"]["infogan"]["seeds"]["1"]["final"]["losses"]
    # the kept models are the scored ones: reloaded, they reconstruct the same real sprites
    # with the recorded errors (the ablation as the package loads it, a VAE from its weights)
    from infovaegan_plugin.evaluation.adapters import adapter_for
    from infovaegan_plugin.evaluation.baselines import build_baseline
    from infovaegan_plugin.metrics.reconstruction import evaluate_reconstruction
    from infovaegan_plugin.models.infovaegan import InfoVAEGAN, InfoVAEGANConfig

    real = bench.real_sprites()
    assert record["saved_models"] == {m: {"1": f"models/{m}_s1"} for m in record["models"]}
    ablation = InfoVAEGAN.load_from_folder(str(out / "models" / "infogan_s1"))
    payload = torch.load(out / "models" / "beta_vae_s1" / "model.pt", weights_only=True)
    config = InfoVAEGANConfig.from_json_file(
        str(out / "models" / "beta_vae_s1" / "infovaegan_config.json"))
    vae = build_baseline("beta_vae", config)
    vae.load_state_dict(payload["model_state_dict"])
    assert payload["step"] == 2
    for name, model in (("infogan", ablation), ("beta_vae", vae)):
        final = record["models"][name]["seeds"]["1"]["final"]
        again = evaluate_reconstruction(adapter_for(model.eval()).reconstruct, real)
        assert again["mse"] == pytest.approx(final["recon_mse"], rel=1e-6), name
        assert again["bce"] == pytest.approx(final["recon_bce"], rel=1e-6), name
        assert 0.0 < final["recon_mse"] < 1.0 and final["recon_bce"] > 0.0
        assert 0.0 <= final["recon_iou"] <= 1.0 and 0.0 <= final["recon_blank_fraction"] <= 1.0
    summary = record["summary"]["infogan"]
    assert summary["recon_mse_mean"] == record["models"]["infogan"]["seeds"]["1"]["final"][
        "recon_mse"]
    traversals = record["traversals"]
    assert len(traversals["infogan"]["rows"]) == 15  # the ablation keeps the codes
    assert traversals["beta_vae"]["rows"][0].startswith("z")  # latents, most informative first
    assert {f"traversal_{m}.png" for m in record["models"]} <= set(record["files"])


@pytest.mark.parametrize("model", ["reference", "infovaegan"])
def test_scoring_reconstruction_does_not_steer_the_run(tmp_path, one_thread, model, request):
    """The same run scored with and without real sprites to reconstruct trains on to the same
    weights: the reconstruction draws nothing from a run's streams, so points of runs from
    before it was scored stay comparable."""
    ref = (runners.load_reference(request.getfixturevalue("reference_script"))
           if model == "reference" else None)
    run = runners.prepared_run(0, 128, False, str(tmp_path / "scratch"))
    areas, real = bench.real_area_range(), bench.real_sprites(64)
    weights, errors = [], []
    for sprites in (None, real):
        runner = runners.RUNNERS[model](ref, run, "cpu", False)
        runner.train(2)
        point = bench.evaluate(runner, runners.CachedGroundTruth(), 0, 0.0005, areas, sprites)
        errors.append(point.get("recon_mse"))
        runner.train(2)
        nets = {"model": runner.model} if hasattr(runner, "model") else {
            "G": runner.G, "D": runner.D}
        weights.append({f"{net}.{k}": v.clone() for net, module in nets.items()
                        for k, v in module.state_dict().items()})
    assert errors[0] is None and 0.0 < errors[1] < 1.0
    assert weights[0].keys() == weights[1].keys()
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


def test_real_sprites_are_fixed_and_real():
    first, again = bench.real_sprites(20), bench.real_sprites(20)
    assert first.shape == (20, 1, 64, 64) and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert set(np.unique(first)) <= {0.0, 1.0} and (first.reshape(20, -1).sum(1) > 0).all()


def test_the_budget_estimates_count_every_model():
    probe = {"serve_s_per_image": 1e-5, "render_s_per_image": 1e-4,
             "encode_s_per_image": {"a": 2e-5, "b": 3e-5, "c": 5e-5},
             "eval_fixed_s": {"a": 1.0, "b": 2.0, "c": 3.0}}
    rows, final_rows = bench.metric_rows(0.2), bench.metric_rows(1.0)
    estimates = bench.eval_estimates(probe, 0.2, 1.0)
    assert estimates["round_eval_s"] == pytest.approx(rows * (3e-5 + 1e-4) + 6.0)
    assert estimates["first_render_s"] == pytest.approx(rows * 1e-4)
    assert estimates["final_s"] == pytest.approx(final_rows * (1e-4 + 2e-5 + 1e-4) + 6.0)


def test_pictures_are_rendered_once_and_served_the_same(tmp_path):
    from infovaegan_plugin.evaluation.dsprites_ground_truth import DSpritesGroundTruth

    plain, cached = DSpritesGroundTruth(), runners.CachedGroundTruth()
    rng = np.random.default_rng(3)
    factors = plain.sample_factors(50, rng)
    expected = plain.sample_observations_from_factors(factors, rng)
    first = cached.sample_observations_from_factors(factors, rng)
    again = cached.sample_observations_from_factors(factors.copy(), rng)
    assert first.dtype == np.float32 and np.array_equal(first, expected)
    assert np.array_equal(again, expected)
    assert cached.stats["rendered"] == 50 and cached.stats["served"] == 50
    cached.sample_observations_from_factors(factors[:49], rng)  # other rows: rendered
    assert cached.stats["rendered"] == 99
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(2) as pool:
        parallel = runners.CachedGroundTruth(pool, pieces=2)
        assert np.array_equal(parallel.sample_observations_from_factors(factors, rng), expected)


def test_the_plan_fits_the_budget_and_counts_every_cost():
    costs = dict(seeds=3, step_s=0.02, eval_every=1000, round_eval_s=3.0, first_render_s=2.0,
                 final_s=15.0, fixed_s=15.0, safety=1.0)
    steps = bench.plan_steps(500.0, **costs)
    # 3 x (steps x 0.02 + (rounds - 1) x 3 + 15 + 2) + 15 <= 500
    def needed(s: int) -> float:
        rounds = -(-s // 1000)
        return 3 * (s * 0.02 + (rounds - 1) * 3 + 15 + 2 * (rounds > 1)) + 15

    assert needed(steps) <= 500 < needed(steps + 1)
    assert steps == 6333
    assert bench.plan_steps(1000.0, **costs) > steps
    assert bench.plan_steps(10.0, **costs) == 1  # nothing fits: one step, and the caller says so


def test_metric_rows_are_disentanglement_lib_sizes():
    assert bench.metric_rows(1.0) == 10000 + (10000 + 5000) * 64 + 10000
    assert bench.metric_rows(0.2) == 2000 + (2000 + 1000) * 64 + 2000


def test_options_are_checked():
    args = bench.parse_args(["--steps", "10", "--seeds", "0", "1"])
    assert args.steps == 10 and args.seeds == [0, 1] and args.eval_scale == 0.2
    assert args.models == ["reference", "infovaegan"]
    for bad in (["--steps", "0"], ["--seeds", "1", "1"], ["--eval-every", "0"],
                ["--metric-scale", "0"], ["--device", "tpu"], ["--models", "vae"],
                ["--models", "infogan", "infogan"]):
        with pytest.raises(SystemExit):
            bench.parse_args(bad)

"""A stopped dSprites benchmark run continues bit for bit: every runner's training state (weights,
optimizers, random streams, its place in the data), saved and loaded as the benchmarks do
(``weights_only=True``), trains on to the weights of the run that never stopped."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import dsprites_gpu_runners as runners  # noqa: E402
import run_state  # noqa: E402

def _weights(runner) -> dict[str, torch.Tensor]:
    nets = {"model": runner.model} if hasattr(runner, "model") else {"G": runner.G,
                                                                     "D": runner.D}
    return {f"{n}.{k}": v.clone() for n, m in nets.items() for k, v in m.state_dict().items()}


def _moments(runner) -> dict[str, torch.Tensor]:
    optimizers = runner._optimizers() if hasattr(runner, "_optimizers") else {
        "oG": runner.oG, "oD": runner.oD}
    return {f"{name}.{index}.{slot}": value.clone()
            for name, o in optimizers.items() if isinstance(o, torch.optim.Optimizer)
            for index, slots in o.state_dict()["state"].items()
            for slot, value in slots.items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and a
    for key, value in a.items():
        assert torch.equal(value, b[key]), f"{key} differs"


@pytest.mark.parametrize("model", ["reference", "infovaegan", "infogan", "beta_vae",
                                   "factor_vae"])
def test_a_stopped_run_continues_bit_for_bit(tmp_path, one_thread, model, request):
    ref = (runners.load_reference(request.getfixturevalue("reference_script"))
           if model == "reference" else None)
    run = runners.prepared_run(0, 128, False, str(tmp_path / "scratch"))  # 2 batches an epoch

    def build():
        return runners.RUNNERS[model](ref, run, "cpu", False)

    straight = build()
    untrained = _weights(straight)
    straight.train(5)  # through two epoch ends

    stopped = build()
    stopped.train(3)  # mid-epoch: the second epoch's first batch done
    path = run_state.save_state(stopped.training_state(), tmp_path / "state.pt")
    torch.rand(1000)  # the process's own stream moves on meanwhile: the run must not use it
    resumed = build()
    resumed.load_training_state(run_state.load_state(path))
    assert resumed.steps == 3
    resumed.train(2)

    assert resumed.steps == straight.steps == 5
    _assert_same(_weights(straight), _weights(resumed))
    _assert_same(_moments(straight), _moments(resumed))
    assert resumed.train_s > stopped.train_s  # the time trained before is kept
    # the comparison can fail: five steps moved the weights
    assert not all(torch.equal(v, _weights(straight)[k]) for k, v in untrained.items())


def test_a_prefetching_reference_saves_the_stream_before_the_batch_drawn_ahead(
        tmp_path, one_thread, reference_script):
    ref = runners.load_reference(reference_script)
    straight = runners.ReferenceRunner(ref, seed=1, device="cpu")
    straight.train(4)
    ahead = runners.ReferenceRunner(ref, seed=1, device="cpu", prefetch=True)
    ahead.train(2)  # a third batch is drawn meanwhile
    state = run_state.load_state(run_state.save_state(ahead.training_state(),
                                                      tmp_path / "ref.pt"))
    assert set(state) >= {"G", "D", "oG", "oD", "gen", "torch", "rng", "step"}  # the script's
    resumed = runners.ReferenceRunner(ref, seed=1, device="cpu")
    resumed.load_training_state(state)
    resumed.train(2)
    _assert_same(_weights(straight), _weights(resumed))
    with pytest.raises(ValueError, match="seed 1"):
        runners.ReferenceRunner(ref, seed=2, device="cpu").load_training_state(state)


def test_a_state_of_another_model_is_refused(tmp_path):
    run = runners.prepared_run(0, 128, False, str(tmp_path / "scratch"))
    beta = runners.RUNNERS["beta_vae"](None, run, "cpu", False)
    factor = runners.RUNNERS["factor_vae"](None, run, "cpu", False)
    with pytest.raises(ValueError, match="'beta_vae' run, this run is 'factor_vae'"):
        factor.load_training_state(beta.training_state())


def test_a_damaged_state_file_says_which_and_why(tmp_path):
    path = tmp_path / "infovaegan_s0.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(SystemExit, match="infovaegan_s0.pt"):
        run_state.load_state(path)


def test_a_stop_request_is_seen_between_steps_and_restores_the_handlers():
    import signal

    before = signal.getsignal(signal.SIGTERM)
    with run_state.stop_requests() as stop:
        assert not stop
        signal.raise_signal(signal.SIGTERM)
        assert stop and run_state.stopped_by(stop) == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_comparison_stopped_by_sigterm_resumes_to_the_same_points(tmp_path, monkeypatch):
    """``dsprites_gpu.py``: SIGTERM in the middle of a round saves every run; ``--resume``
    ends with the points, losses and weights of the run that never stopped; a new run into
    the folder is refused."""
    import signal

    import dsprites_gpu as bench

    argv = ["--device", "cpu", "--seeds", "1", "--steps", "4", "--eval-every", "2",
            "--metric-scale", "0.001", "--eval-scale", "0.001", "--limit", "128",
            "--threads", "1", "--models", "infogan", "beta_vae", "--keep-models"]
    straight = bench.main(["--out", str(tmp_path / "straight"), *argv])

    monkeypatch.setattr(run_state, "CHUNK", 1)
    train = runners.BaselineRunner.train

    def stopped_at_3(runner, n):
        train(runner, n)
        if runner.steps == 3:
            signal.raise_signal(signal.SIGTERM)  # noted by the benchmark, not fatal

    monkeypatch.setattr(runners.BaselineRunner, "train", stopped_at_3)
    out = tmp_path / "stopped"
    with pytest.raises(SystemExit, match="stopped by SIGTERM .* --resume"):
        bench.main(["--out", str(out), *argv])
    halted = json.loads((out / "dsprites_gpu.json").read_text())
    assert halted["settings"]["stopped"]["at_steps"] == {"infogan": {"1": 4},
                                                         "beta_vae": {"1": 3}}
    monkeypatch.setattr(runners.BaselineRunner, "train", train)
    with pytest.raises(SystemExit, match="holds the training state .* --resume"):
        bench.main(["--out", str(out), *argv])
    resumed = bench.main(["--out", str(out), *argv, "--resume"])

    assert resumed["resumed"][0]["at_steps"] == halted["settings"]["stopped"]["at_steps"]
    assert "stopped" not in resumed["settings"]
    for model in ("infogan", "beta_vae"):
        ours, theirs = (r["models"][model]["seeds"]["1"] for r in (resumed, straight))
        assert [p["step"] for p in ours["curve"]] == [2, 4]
        for a, b in zip(ours["curve"], theirs["curve"]):
            for key in ("factor_vae", "mig", "sprite_fraction", "recon_mse", "losses"):
                assert a[key] == b[key], (model, a["step"], key)
        kept = [torch.load(tmp_path / name / "models" / f"{model}_s1" / "model.pt",
                           weights_only=True)["model_state_dict"]
                for name in ("straight", "stopped")]
        _assert_same(*kept)


def test_resume_keeps_the_runs_settings_and_rounds_continue_on_the_grid(capsys):
    import dsprites_gpu as bench

    settings = {"models": ["infovaegan"], "seeds": [0, 1], "metric_scale": 1.0,
                "eval_scale": 0.2, "infovaegan_train_images": 18000, "batch_size": 64,
                "limit": None, "steps": 4000}
    bench.check_resumable(settings, {**settings, "steps": 20000})  # more steps: allowed
    with pytest.raises(SystemExit, match=r"seeds \[0, 1\] -> \[0\]; eval_scale 0.2 -> 0.1"):
        bench.check_resumable(settings, {**settings, "seeds": [0], "eval_scale": 0.1})
    assert bench.eval_targets(0, 4000, 2000) == [2000, 4000]
    assert bench.eval_targets(4000, 20000, 4000) == [8000, 12000, 16000, 20000]
    assert bench.eval_targets(2500, 7000, 2000) == [4000, 6000, 7000]  # stopped mid-round
    assert bench.eval_targets(4000, 4000, 2000) == []  # finished: only the final is left
    with pytest.raises(SystemExit):
        bench.parse_args(["--resume"])
    assert "--resume needs --steps" in capsys.readouterr().err

"""``benchmarks/dsprites_equal_steps.py``: runs trained apart are compared at equal steps only
where they are the same training scored alike (the bisection's preset arm is
``dsprites_gpu.py``'s run, point for point), with means, paired differences and the scale
filter as promised."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import dsprites_equal_steps as equal  # noqa: E402


def _point(step: int, fv: float, mig: float, scale: float = 0.2, **extra: object) -> dict:
    return {"step": step, "factor_vae": fv, "mig": mig, "sprite_fraction": 0.9,
            "metric_scale": scale, **extra}


def _inputs(tmp_path: Path) -> tuple[Path, list[Path], Path]:
    gpu = tmp_path / "dsprites_gpu.json"
    gpu.write_text(json.dumps({"models": {"beta_vae": {"seeds": {
        "0": {"curve": [_point(2000, 0.50, 0.02, recon_mse=0.03, recon_iou=0.4,
                               factor_vae_per_factor={"shape": 0.0}),
                        _point(4000, 0.60, 0.04, scale=1.0)]},
        "1": {"curve": [_point(2000, 0.70, 0.06, recon_mse=0.05, recon_iou=0.4)]}}},
        "factor_vae": {"seeds": {
            "0": {"curve": [_point(2000, 0.55, 0.03, recon_mse=0.02, recon_iou=0.5,
                                   factor_vae_per_factor={"shape": 0.0, "scale": 1.0,
                                                          "posX": None})]},
            "1": {"curve": [_point(2000, 0.65, 0.05, recon_mse=0.07, recon_iou=0.6,
                                   factor_vae_per_factor={"shape": 0.2, "scale": 0.8,
                                                          "posX": 0.5})]}}}}}))
    arms = []
    # the ablation's seed 1 is a run from before reconstruction was scored
    for seed, fv, recon in ((0, 0.40, {"recon_mse": 0.06}), (1, 0.80, {})):
        arm = tmp_path / f"arm_preset_s{seed}.json"
        arm.write_text(json.dumps({"arm": "preset", "variant": "infogan", "seed": seed,
                                   "curve": [_point(2000, fv, 0.01, **recon)]}))
        arms.append(arm)
    reference = tmp_path / "ref.jsonl"
    reference.write_text('{"resumed_at_step": 69}\n'
                         '{"step": 2000, "factor_vae": 0.3, "mig": 0.05, "sprite_fraction": 1}\n')
    return gpu, arms, reference


def test_models_are_compared_at_equal_steps_and_paired_by_seed(tmp_path):
    gpu, arms, reference = _inputs(tmp_path)
    out = tmp_path / "out"
    record = equal.main(["--out", str(out), "--gpu-json", str(gpu), "--bisect-arm",
                         *map(str, arms), "--reference-jsonl", f"0={reference}",
                         "--paired-with", "infogan", "beta_vae"])
    comparison = record["comparison"]
    # the 4,000-step point is at scale 1.0: left out, so beta-VAE's steps are 2,000 only
    assert list(comparison["beta_vae"]) == ["2000"]
    row = comparison["beta_vae"]["2000"]
    assert row["seeds"] == ["0", "1"]
    assert row["factor_vae"]["mean"] == pytest.approx(0.60)
    assert row["factor_vae"]["std"] == pytest.approx(0.1414, abs=1e-4)
    assert row["paired"]["infogan"]["factor_vae"] == pytest.approx([0.10, -0.10])
    # by factor: the mean over seeds where every seed has the breakdown, a factor without a
    # vote on one seed left out; a model with a seed scored before the breakdown has none
    assert comparison["factor_vae"]["2000"]["factor_vae_per_factor"] == pytest.approx(
        {"shape": 0.1, "scale": 0.9})
    assert "factor_vae_per_factor" not in row
    assert list(row["paired"]) == ["infogan"]  # not with itself
    assert row["recon_mse"]["mean"] == pytest.approx(0.04)
    # one seed of the ablation has no reconstruction: no mean of it, no pairing on it
    assert "recon_mse" not in comparison["infogan"]["2000"]
    assert "recon_mse" not in row["paired"]["infogan"]
    paired = comparison["factor_vae"]["2000"]["paired"]["beta_vae"]
    assert paired["recon_mse"] == pytest.approx([-0.01, 0.02])
    assert paired["recon_iou"] == pytest.approx([0.1, 0.2])
    assert comparison["infogan"]["2000"]["paired"]["beta_vae"]["factor_vae"] == pytest.approx(
        [-0.10, 0.10])
    ref = comparison[equal.REFERENCE]["2000"]
    assert ref["factor_vae"]["mean"] == 0.3 and "sprite_fraction" not in ref
    assert ref["paired"]["infogan"]["seeds"] == ["0"]
    assert ref["paired"]["infogan"]["mig"] == pytest.approx([0.04])
    assert json.loads((out / equal.JSON_NAME).read_text())["comparison"] == comparison
    assert Image.open(out / equal.CHART_NAME).size[0] == 2 * 760


def test_the_same_run_given_twice_is_refused(tmp_path):
    _, arms, _ = _inputs(tmp_path)
    with pytest.raises(SystemExit, match="infogan seed 0 is given twice"):
        equal.main(["--out", str(tmp_path / "out"), "--bisect-arm", str(arms[0]), str(arms[0])])
    with pytest.raises(SystemExit, match="SEED=PATH"):
        equal.main(["--out", str(tmp_path / "out"), "--reference-jsonl", "ref.jsonl"])


def test_an_arm_a_preset_has_taken_is_shown_under_the_models_name(tmp_path):
    gpu, _, _ = _inputs(tmp_path)
    arms = []
    for seed, fv in ((0, 0.70), (1, 0.60)):
        arm = tmp_path / f"arm_invariant_s{seed}.json"
        arm.write_text(json.dumps({"arm": "invariant", "variant": "infovaegan", "seed": seed,
                                   "curve": [_point(2000, fv, 0.05)]}))
        arms.append(arm)
    out = tmp_path / "out"
    record = equal.main(["--out", str(out), "--gpu-json", str(gpu), "--bisect-arm",
                         *map(str, arms), "--arm-as", "infovaegan:invariant=infovaegan",
                         "--paired-with", "beta_vae"])
    comparison = record["comparison"]
    assert "infovaegan:invariant" not in comparison
    assert comparison["infovaegan"]["2000"]["factor_vae"]["mean"] == pytest.approx(0.65)
    assert comparison["infovaegan"]["2000"]["paired"]["beta_vae"]["factor_vae"] == (
        pytest.approx([0.20, -0.10]))
    # without the option the arm keeps its own name; a spec without the variant is refused
    plain = equal.main(["--out", str(out), "--bisect-arm", *map(str, arms)])
    assert list(plain["comparison"]) == ["infovaegan:invariant"]
    with pytest.raises(SystemExit, match="VARIANT:ARM=MODEL, got 'invariant=infovaegan'"):
        equal.main(["--out", str(out), "--bisect-arm", *map(str, arms),
                    "--arm-as", "invariant=infovaegan"])


def test_the_bisection_preset_is_the_comparison_run(tmp_path, one_thread):
    """What makes merging the two scripts' points valid: the same seed trains the same model
    on the same images and scores the same numbers."""
    import dsprites_bisect
    import dsprites_gpu

    tiny = ["--steps", "2", "--eval-every", "2", "--limit", "128", "--threads", "1"]
    arm = dsprites_bisect.main(["--out", str(tmp_path / "bisect"), "--arms", "preset",
                                "--variant", "infogan", "--seeds", "0", "--eval-scale", "0.001",
                                *tiny])["arms"][0]
    run = dsprites_gpu.main(["--out", str(tmp_path / "gpu"), "--device", "cpu", "--models",
                             "infogan", "--seeds", "0", "--metric-scale", "0.001",
                             "--eval-scale", "0.001", *tiny])["models"]["infogan"]["seeds"]["0"]
    ours, theirs = arm["curve"][-1], run["final"]
    assert ours["step"] == theirs["step"] == 2
    for key in ("factor_vae", "mig", "sprite_fraction", "any_pixel_fraction", "recon_mse",
                "recon_bce", "recon_iou", "losses"):
        assert ours[key] == theirs[key], key
    assert ours["losses"]["mutual_information_loss"] > 0

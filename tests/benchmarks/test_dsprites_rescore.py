"""``benchmarks/dsprites_rescore.py``: kept models scored again at the run's own scale give the
run's numbers (so a score at another scale is the same instrument), and a reference script's
checkpoint gives the script's own printout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import dsprites_equal_steps as equal  # noqa: E402
import dsprites_rescore as rescore  # noqa: E402

SCORES = ("factor_vae", "mig", "factor_vae_active_dims", "sprite_fraction", "recon_mse",
          "recon_bce", "recon_iou", "recon_blank_fraction")


def test_kept_models_rescored_at_the_runs_scale_give_its_numbers(tmp_path, one_thread):
    import dsprites_gpu

    run = dsprites_gpu.main(["--out", str(tmp_path / "run"), "--device", "cpu", "--models",
                             "infogan", "factor_vae", "--seeds", "2", "--steps", "2",
                             "--eval-every", "2", "--metric-scale", "0.001", "--limit", "128",
                             "--threads", "1", "--keep-models"])
    out = tmp_path / "rescore"
    record = rescore.main(["--out", str(out), "--scale", "0.001", "--threads", "1",
                           "--gpu-json", str(tmp_path / "run" / "dsprites_gpu.json")])
    assert set(record["models"]) == {"infogan", "factor_vae"}
    for model in ("infogan", "factor_vae"):
        again = record["models"][model]["seeds"]["2"]
        final = run["models"][model]["seeds"]["2"]["final"]
        assert again["steps"] == final["step"] == 2
        for key in SCORES:  # the reloaded weights may run other kernels: float rounding
            assert again["final"][key] == pytest.approx(final[key], rel=1e-6, abs=1e-9), (
                model, key)
    assert json.loads((out / rescore.JSON_NAME).read_text())["models"] == record["models"]
    with pytest.raises(SystemExit, match="no kept model of the seeds"):
        rescore.main(["--out", str(out), "--seeds", "0", "--gpu-json",
                      str(tmp_path / "run" / "dsprites_gpu.json")])
    # the equal-steps comparison reads the rescored file as a run of its own
    curves = equal.gather([out / rescore.JSON_NAME], [], [], 0.001)
    assert curves["infogan"]["2"][0]["recon_mse"] == record["models"]["infogan"]["seeds"]["2"][
        "final"]["recon_mse"]


def test_a_reference_checkpoint_scores_as_the_script_printed(tmp_path, one_thread,
                                                             reference_script):
    checkpoint = tmp_path / "ref.pt"
    done = subprocess.run(
        [sys.executable, str(reference_script), "--steps", "3", "--eval-every", "100",
         "--seed", "1", "--threads", "1", "--metric-scale", "0.0005", "--checkpoint", str(checkpoint)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    record = rescore.main(["--out", str(tmp_path / "out"), "--scale", "0.0005", "--threads",
                           "1", "--reference-checkpoint", f"1={checkpoint}",
                           "--reference", str(reference_script)])
    point = record["models"][rescore.REFERENCE]["seeds"]["1"]["final"]
    assert point["step"] == printed["step"] == 3
    assert round(point["factor_vae"], 4) == printed["factor_vae"]
    assert round(point["mig"], 4) == printed["mig"]
    assert 0.0 < point["recon_mse"] < 1.0


def test_a_bisection_arms_state_scores_as_its_last_point(tmp_path, one_thread):
    """An arm's saved state, rebuilt from the config its record names, gives the arm's own
    last point at the same scale (so its score at another scale is the same instrument)."""
    import dsprites_bisect as bisect

    summary = bisect.main(["--out", str(tmp_path / "bisect"), "--arms", "pooled_category",
                           "--variant", "infovaegan", "--seeds", "1", "--steps", "2",
                           "--eval-every", "2", "--eval-scale", "0.001", "--limit", "200",
                           "--threads", "1"])
    last = summary["arms"][0]["curve"][-1]
    state = tmp_path / "bisect" / "state" / "arm_pooled_category_s1.pt"
    renamed = tmp_path / "kept.pt"  # the seed is read from the record, not the name
    renamed.write_bytes(state.read_bytes())
    record = rescore.main(["--out", str(tmp_path / "out"), "--scale", "0.001", "--threads",
                           "1", "--arm-state", str(renamed)])
    assert list(record["models"]) == ["infovaegan[pooled_category]"]
    again = record["models"]["infovaegan[pooled_category]"]["seeds"]["1"]
    assert again["steps"] == last["step"] == 2
    for key in SCORES:
        assert again["final"][key] == pytest.approx(last[key], rel=1e-6, abs=1e-9), key
    not_a_state = tmp_path / "other.pt"
    torch.save({"G": {}}, not_a_state)
    with pytest.raises(SystemExit, match="not a bisection arm's state"):
        rescore.main(["--out", str(tmp_path / "o"), "--arm-state", str(not_a_state)])


def test_bad_inputs_are_named(tmp_path):
    run = tmp_path / "dsprites_gpu.json"
    run.write_text(json.dumps({"models": {}}))
    with pytest.raises(SystemExit, match="no kept models"):
        rescore.main(["--out", str(tmp_path / "o"), "--gpu-json", str(run)])
    with pytest.raises(SystemExit, match="SEED=PATH"):
        rescore.main(["--out", str(tmp_path / "o"), "--reference-checkpoint", "ref.pt"])
    with pytest.raises(SystemExit, match="not found"):
        rescore.main(["--out", str(tmp_path / "o"), "--reference-checkpoint", "0=missing.pt"])
    with pytest.raises(SystemExit):
        rescore.main(["--out", str(tmp_path / "o")])

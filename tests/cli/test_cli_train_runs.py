"""``infovaegan train`` loses nothing: per-epoch checkpoints, Ctrl-C / SIGTERM keep the last
finished epoch and print the resume command, ``--resume`` continues to the same weights as an
uninterrupted run, failed runs leave no empty folders, runs never share a folder."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from infovaegan_plugin.cli.app import app

runner = CliRunner()
#: A few hundred digits, small batches: an epoch takes a fraction of a second on one thread.
TINY = ["--dataset", "digits", "--limit", "160", "--batch-size", "32", "--seed", "3",
        "--device", "cpu", "--threads", "1"]


def flat(text: str) -> str:
    return " ".join(text.split())


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(model_dir / "model.pt", map_location="cpu",
                      weights_only=True)["model_state_dict"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


def checkpoint_epochs(root: Path) -> list[int]:
    return sorted(int(p.name.rsplit("_", 1)[1]) for p in root.glob("*/checkpoint_epoch_*"))


def spawn(*args: str, script: str | None = None) -> subprocess.Popen:
    """``infovaegan ARGS`` in a child process (a real terminal program gets real signals)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "250"}
    command = ([sys.executable, "-c", script, *args] if script
               else [sys.executable, "-m", "infovaegan_plugin.cli.app", *args])
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def reference_run(tmp_path: Path, epochs: int) -> Path:
    result = runner.invoke(app, ["train", *TINY, "--epochs", str(epochs),
                                 "-o", str(tmp_path / "reference")])
    assert result.exit_code == 0, result.output
    return next((tmp_path / "reference").glob("InfoVAEGAN_training_*")) / "final_model"


def test_sigint_keeps_the_last_epoch_and_resume_gives_the_uninterrupted_weights(tmp_path):
    out = tmp_path / "runs"
    process = spawn("train", *TINY, "--epochs", "400", "-o", str(out))
    deadline = time.monotonic() + 180
    while not [e for e in checkpoint_epochs(out) if e >= 2]:
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "no checkpoint_epoch_2 in time"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "Traceback" not in output
    line = next(x for x in output.splitlines() if x.strip().startswith("infovaegan train"))
    command = shlex.split(line)
    assert command[:3] == ["infovaegan", "train", "--resume"] and len(command) == 4
    checkpoint = Path(command[3])
    epoch = int(checkpoint.name.rsplit("_", 1)[1])
    assert epoch >= 2 and (checkpoint / "optimizers.pt").is_file()
    assert f"the state after epoch {epoch} is in" in flat(output)
    run = checkpoint.parent
    assert not (run / "final_model").exists()
    assert len(list(run.glob("checkpoint_epoch_*"))) <= 3  # the newest three are kept
    assert not list(run.glob(".*"))  # no half-written staging folder

    target = epoch + 2
    resumed = runner.invoke(app, [*command[1:], "--epochs", str(target)])  # the printed command
    assert resumed.exit_code == 0, resumed.output
    assert f"resuming after epoch {epoch}" in flat(resumed.output)
    settings = json.loads((checkpoint / "run_settings.json").read_text())
    assert settings["dataset"] == "digits" and settings["limit"] == 160
    new_run = next(p for p in out.glob("InfoVAEGAN_training_*") if p != run)
    history = json.loads((new_run / "final_model" / "training_history.json").read_text())
    assert [h["epoch"] for h in history] == [epoch + 1, epoch + 2]
    assert_same_weights(new_run / "final_model", reference_run(tmp_path, target))


def test_sigterm_in_the_middle_of_an_epoch(tmp_path, monkeypatch):
    """Deterministic in-process variant: SIGTERM at the 3rd step of epoch 3."""
    from infovaegan_plugin.callbacks import RichProgressCallback

    state = {"steps": 0}
    original = RichProgressCallback.on_train_step_end

    def send_sigterm(self, training_config, **kwargs):
        original(self, training_config, **kwargs)
        state["steps"] += 1
        if state["steps"] == 2 * 5 + 3:  # 160 images -> 144 train / 32 per batch = 5 steps
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(RichProgressCallback, "on_train_step_end", send_sigterm)
    out = tmp_path / "runs"
    result = runner.invoke(app, ["train", *TINY, "--epochs", "50", "-o", str(out)])
    assert result.exit_code == 130, result.output
    text = flat(result.output)
    assert "training stopped by SIGTERM; the state after epoch 2 is in" in text
    assert checkpoint_epochs(out) == [1, 2]
    monkeypatch.setattr(RichProgressCallback, "on_train_step_end", original)
    checkpoint = next(out.glob("*/checkpoint_epoch_2"))
    resumed = runner.invoke(app, ["train", "--resume", str(checkpoint), "--epochs", "4"])
    assert resumed.exit_code == 0, resumed.output
    new_run = next(p for p in out.glob("*") if p != checkpoint.parent)
    assert_same_weights(new_run / "final_model", reference_run(tmp_path, 4))


def test_resume_takes_the_run_folder_and_needs_a_target_beyond_the_checkpoint(tmp_path):
    out = tmp_path / "runs"
    first = runner.invoke(app, ["train", *TINY, "--epochs", "2", "-o", str(out)])
    assert first.exit_code == 0, first.output
    run = next(out.glob("InfoVAEGAN_training_*"))
    assert checkpoint_epochs(out) == [1, 2]  # one per epoch by default
    done = runner.invoke(app, ["train", "--resume", str(run)])
    assert done.exit_code == 2
    assert "has already reached epoch 2 and the target is 2" in flat(done.output)
    more = runner.invoke(app, ["train", "--resume", str(run), "--epochs", "3"])
    assert more.exit_code == 0, more.output
    assert "newest checkpoint of that run" in flat(more.output)


def test_keep_checkpoints_limits_what_is_kept(tmp_path):
    out = tmp_path / "runs"
    result = runner.invoke(app, ["train", *TINY, "--epochs", "5", "--keep-checkpoints", "2",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert checkpoint_epochs(out) == [4, 5]
    every = runner.invoke(app, ["train", *TINY, "--epochs", "4", "--keep-checkpoints", "0",
                                "--checkpoint-every", "2", "-o", str(tmp_path / "all")])
    assert every.exit_code == 0, every.output
    assert checkpoint_epochs(tmp_path / "all") == [2, 4]


@pytest.mark.parametrize("failure", [ValueError("the disk is full"), KeyboardInterrupt()])
def test_a_run_that_keeps_nothing_removes_its_folder(tmp_path, monkeypatch, failure):
    from infovaegan_plugin import InfoVAEGANTrainer

    def broken(self, real, epoch, step=1):
        raise failure

    monkeypatch.setattr(InfoVAEGANTrainer, "training_step", broken)
    out = tmp_path / "runs"
    result = runner.invoke(app, ["train", *TINY, "--epochs", "3", "-o", str(out)])
    assert "Traceback" not in result.output
    if isinstance(failure, KeyboardInterrupt):
        assert result.exit_code == 130
        assert "before the first epoch finished" in flat(result.output)
    else:
        assert result.exit_code == 2 and "the disk is full" in result.output
    assert not out.exists()  # neither an empty run folder nor the output folder it made


FROZEN_CLOCK = textwrap.dedent(
    """
    import datetime, sys, types
    from infovaegan_plugin.trainers.infovaegan_trainer import run_control

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2024, 1, 2, 3, 4, 5)

    run_control._dt = types.SimpleNamespace(datetime=Frozen)  # both runs: the same second
    from infovaegan_plugin.cli.app import app
    app(sys.argv[1:], prog_name="infovaegan")
    """
)


def test_two_runs_started_in_the_same_second_both_survive(tmp_path):
    out = tmp_path / "shared"
    processes = [spawn("train", "--dataset", "digits", "--limit", "160", "--seed", str(seed),
                       "--device", "cpu", "--threads", "1", "--epochs", "1", "-o", str(out),
                       script=FROZEN_CLOCK)
                 for seed in (0, 1)]
    outputs = [p.communicate(timeout=180)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    runs = sorted(p.name for p in out.iterdir())
    assert runs == ["InfoVAEGAN_training_2024-01-02_03-04-05",
                    "InfoVAEGAN_training_2024-01-02_03-04-05_2"]
    seeds = set()
    for name in runs:
        summary = json.loads((out / name / "metrics.json").read_text())
        assert summary["run_dir"] == str(out / name)
        assert (out / name / "final_model" / "model.pt").is_file()
        seeds.add(json.loads((out / name / "run_settings.json").read_text())["seed"])
    assert seeds == {0, 1}


def test_threads_default_is_safe_under_load(monkeypatch):
    from infovaegan_plugin import threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(2)), raising=False)
    assert threads.default_threads() == 1  # 2 cores: leave one to the rest of the machine
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert threads.default_threads() == 8
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.default_threads() == 3
    help_text = flat(runner.invoke(app, ["train", "--help"]).output)
    assert "--threads" in help_text and "half the usable cores" in help_text


def test_resume_keeps_the_runs_purity_choice_unless_given_again(tmp_path):
    out = tmp_path / "runs"
    first = runner.invoke(app, ["train", *TINY, "--epochs", "1", "--no-purity", "-o", str(out)])
    assert first.exit_code == 0, first.output
    run = next(out.glob("InfoVAEGAN_training_*"))
    assert json.loads((run / "run_settings.json").read_text())["purity"] is False
    kept = runner.invoke(app, ["train", "--resume", str(run), "--epochs", "2"])
    assert kept.exit_code == 0, kept.output
    assert "purity classifier" not in flat(kept.output)
    resumed = next(p for p in out.glob("InfoVAEGAN_training_*") if p != run)
    assert json.loads((resumed / "run_settings.json").read_text())["purity"] is False
    again = runner.invoke(app, ["train", "--resume", str(resumed), "--epochs", "3", "--purity"])
    assert again.exit_code == 0, again.output
    assert "training the purity classifier" in flat(again.output)

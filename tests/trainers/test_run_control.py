"""Run folders, staged checkpoints, pruning and signal handling (``run_control``)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
from pathlib import Path

import pytest

from infovaegan_plugin.trainers.infovaegan_trainer.run_control import (
    RUN_SETTINGS_FILE,
    create_run_dir,
    deferred_interrupts,
    interrupt_signals,
    list_checkpoints,
    prune_checkpoints,
    staged_dir,
)

NOW = dt.datetime(2024, 5, 6, 7, 8, 9)


def test_run_folders_of_the_same_second_are_distinct(tmp_path):
    names = [create_run_dir(str(tmp_path), "InfoVAEGAN", now=NOW) for _ in range(3)]
    assert [Path(n).name for n in names] == [
        "InfoVAEGAN_training_2024-05-06_07-08-09",
        "InfoVAEGAN_training_2024-05-06_07-08-09_2",
        "InfoVAEGAN_training_2024-05-06_07-08-09_3",
    ]
    assert not os.path.exists(create_run_dir(str(tmp_path / "x"), "M", create=False, now=NOW))


def test_concurrent_creation_never_shares_a_folder(tmp_path):
    made: list[str] = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        made.append(create_run_dir(str(tmp_path), "InfoVAEGAN", now=NOW))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8 and all(os.path.isdir(m) for m in made)


def test_prune_keeps_the_newest(tmp_path):
    for epoch in (1, 2, 3, 10, 11):
        (tmp_path / f"checkpoint_epoch_{epoch}").mkdir()
    (tmp_path / "final_model").mkdir()
    removed = prune_checkpoints(str(tmp_path), keep=2)
    assert sorted(Path(p).name for p in removed) == [
        "checkpoint_epoch_1", "checkpoint_epoch_2", "checkpoint_epoch_3"]
    assert [e for e, _ in list_checkpoints(str(tmp_path))] == [10, 11]
    assert prune_checkpoints(str(tmp_path), keep=0) == [] and (tmp_path / "final_model").is_dir()


def test_staged_dir_is_all_or_nothing_and_carries_the_run_settings(tmp_path):
    (tmp_path / RUN_SETTINGS_FILE).write_text("{}")
    target = tmp_path / "checkpoint_epoch_1"
    with pytest.raises(RuntimeError):
        with staged_dir(str(target)) as staging:
            Path(staging, "model.pt").write_text("half")
            raise RuntimeError("crash while writing")
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        RUN_SETTINGS_FILE]
    with staged_dir(str(target)) as staging:
        Path(staging, "model.pt").write_text("v1")
    with staged_dir(str(target)) as staging:
        Path(staging, "model.pt").write_text("v2")
    assert (target / "model.pt").read_text() == "v2"
    assert (target / RUN_SETTINGS_FILE).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([RUN_SETTINGS_FILE, target.name])


@pytest.fixture
def sigint_handler():
    """Set SIGINT's handler for one test: a process started in the background (``cmd &``)
    inherits SIGINT ignored, so the test must not rely on Python's default."""
    previous = signal.getsignal(signal.SIGINT)
    yield lambda handler: signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGINT, previous)


def test_signals_wait_until_files_are_written(sigint_handler):
    sigint_handler(signal.default_int_handler)  # Ctrl-C raises KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            written = True  # reached: the signal was held back
        pytest.fail("the held-back SIGINT was not delivered")  # pragma: no cover
    assert written
    with deferred_interrupts(redeliver=False):
        os.kill(os.getpid(), signal.SIGINT)  # dropped


def test_an_ignored_sigint_stays_ignored(sigint_handler):
    sigint_handler(signal.SIG_IGN)  # e.g. started with nohup or in the background
    with deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # restored, nothing raised


def test_sigterm_stops_like_ctrl_c():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as info:
        with interrupt_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
    assert info.value.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before  # restored

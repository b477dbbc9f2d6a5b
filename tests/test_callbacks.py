"""Training callbacks: the rich progress bar and the per-epoch probe."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from infovaegan_plugin.callbacks import ProbeCallback, RichProgressCallback

CONFIG = SimpleNamespace(num_epochs=5)


def _callback():
    out = io.StringIO()
    return RichProgressCallback(Console(file=out, width=120, force_terminal=False)), out


def test_probe_callback_adds_what_the_probe_measures_on_the_model():
    seen = []

    def probe(model):
        seen.append(model)
        return {"purity": 0.75}

    callback = ProbeCallback(probe)
    model = object()
    assert callback.epoch_metrics(model) == {"purity": 0.75}
    assert seen == [model]


def test_one_bar_per_phase_advanced_once_per_step():
    callback, _ = _callback()
    assert callback.is_progress_bar is True  # the trainer then skips its tqdm bars
    callback.on_train_step_begin(CONFIG, train_loader=[0] * 3, epoch=2)
    for _ in range(3):
        callback.on_train_step_end(CONFIG)
    callback.on_eval_step_begin(CONFIG, eval_loader=[0] * 2, epoch=2)
    callback.on_eval_step_end(CONFIG)
    tasks = callback.progress.tasks
    assert [t.description for t in tasks] == ["epoch 2/5 train", "epoch 2/5 eval"]
    assert [(t.total, t.completed) for t in tasks] == [(3, 3), (2, 1)]
    assert callback.progress.live.is_started
    callback.on_train_end(CONFIG)
    assert not callback.progress.live.is_started
    callback.on_train_end(CONFIG)  # a second end (e.g. after an interrupt) is harmless


def test_no_bar_without_a_loader_or_on_other_ranks():
    callback, _ = _callback()
    callback.on_eval_step_begin(CONFIG, epoch=1)  # no eval data: no eval bar
    callback.on_train_step_begin(CONFIG, train_loader=[0] * 4, epoch=1, rank=1)
    callback.on_train_step_end(CONFIG, rank=1)
    assert callback.progress.tasks == []
    assert not callback.progress.live.is_started


def test_health_warnings_are_printed_on_the_main_process_only():
    callback, out = _callback()
    callback.on_log(CONFIG, {"health_warnings": ["discriminator wins"]}, rank=1)
    callback.on_log(CONFIG, {"train_epoch_loss": 1.0})
    assert out.getvalue() == ""
    callback.on_log(CONFIG, {"health_warnings": ["discriminator wins", "codes collapsed"]})
    text = out.getvalue()
    assert "health: discriminator wins" in text and "health: codes collapsed" in text

"""``import infovaegan_plugin`` is cheap: torch loads with the first torch-side name or with
pythae, and pythae's entry points know InfoVAEGAN however the import order goes."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(script: str) -> str:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_command_line_and_the_runtime_import_without_torch():
    """``infovaegan encode`` runs on ONNX Runtime alone: its process must not pay for torch."""
    out = run("import sys, infovaegan_plugin.cli.app, infovaegan_plugin.deploy.runtime\n"
              "print(sorted(m for m in ('torch', 'pythae') if m in sys.modules))")
    assert out == "[]"


@pytest.mark.parametrize(
    "imports",
    [
        "import infovaegan_plugin; from pythae.models import AutoModel",
        "from pythae.models import AutoModel; import infovaegan_plugin",
        "from infovaegan_plugin.models import InfoVAEGAN; from pythae.models import AutoModel",
        "import infovaegan_plugin.registry; from pythae.models import AutoModel",
    ],
)
def test_automodel_loads_infovaegan_whatever_the_import_order(imports, tmp_path):
    from infovaegan_plugin import InfoVAEGAN, InfoVAEGANConfig

    InfoVAEGAN(InfoVAEGANConfig(input_dim=(1, 8, 8), hidden_dim=16, base_channels=4,
                                noise_dim=3)).save(str(tmp_path))
    out = run(f"{imports}\nprint(type(AutoModel.load_from_folder({str(tmp_path)!r})).__name__)")
    assert out == "InfoVAEGAN"


def test_a_torch_side_name_loads_on_first_use():
    out = run("import sys, infovaegan_plugin\n"
              "before = 'torch' in sys.modules\n"
              "cls = infovaegan_plugin.InfoVAEGANTrainer\n"
              "print(before, 'torch' in sys.modules, cls.__name__)")
    assert out == "False True InfoVAEGANTrainer"


def test_call_after_import_runs_once_after_the_module_or_at_once(tmp_path, monkeypatch):
    from infovaegan_plugin._after_import import call_after_import

    (tmp_path / "late_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    calls = []
    call_after_import("late_module", lambda: calls.append(sys.modules["late_module"].VALUE))
    assert calls == []
    import late_module  # noqa: F401

    assert calls == [1]
    call_after_import("late_module", lambda: calls.append("now"))
    assert calls == [1, "now"]
    monkeypatch.delitem(sys.modules, "late_module")

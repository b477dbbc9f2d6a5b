"""The runtime must import and run where only numpy + onnxruntime are installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import sys

    class Blocker:
        # torch and onnx are absent on a serving machine: any import of them must fail here.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "onnx"):
                raise ImportError(f"blocked import of {name}")
            return None

    sys.modules["torch"] = None
    sys.modules["onnx"] = None
    sys.meta_path.insert(0, Blocker())
    """
)


SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from infovaegan_plugin.deploy import OnnxGenerator, runtime  # lazy package attribute too
    assert runtime.resolve_providers("auto")
    codes = runtime.OnnxEncoder({encoder!r}).encode(np.zeros((2, 8, 8), np.uint8))
    images = OnnxGenerator({generator!r}).generate(3)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx")
                    and sys.modules[m] is not None)
    assert not loaded, loaded
    print("ok", codes["features"].shape, images.shape)
    """
)

#: Stands in for a lazily-importing parent package: ``infovaegan_plugin`` as a bare package
#: object, so only the deploy modules themselves are under test.
BARE_PARENT = textwrap.dedent(
    """
    import importlib.util, types
    spec = importlib.util.find_spec("infovaegan_plugin")
    parent = types.ModuleType("infovaegan_plugin")
    parent.__path__ = list(spec.submodule_search_locations)
    sys.modules["infovaegan_plugin"] = parent
    """
)


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)


def test_deploy_runtime_modules_need_neither_torch_nor_onnx(digits_export):
    """The runtime modules (runtime, providers, session, ...) alone: no torch/onnx import,
    nothing on stderr."""
    encoder, generator = (str(p) for p in digits_export)
    result = _run(BLOCKER + BARE_PARENT + SCRIPT.format(encoder=encoder, generator=generator))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok (2, 16) (3, 1, 8, 8)"
    assert result.stderr == ""


def test_runtime_imports_through_the_package_without_torch_or_onnx(digits_export):
    """The real import path a serving machine uses: ``infovaegan_plugin/__init__.py`` runs
    first, so it must not import torch eagerly either."""
    encoder, generator = (str(p) for p in digits_export)
    result = _run(BLOCKER + SCRIPT.format(encoder=encoder, generator=generator))
    assert result.returncode == 0, (
        "importing infovaegan_plugin.deploy.runtime pulled in torch/onnx; the last lines of "
        "the traceback show which module did:\n" + "\n".join(result.stderr.splitlines()[-6:])
    )
    assert result.stdout.strip() == "ok (2, 16) (3, 1, 8, 8)"
    assert result.stderr == ""


def test_latent_layout_needs_neither_torch_nor_onnx():
    """The layout (sizes, sampling) is what a serving machine rebuilds from the metadata."""
    script = BLOCKER + textwrap.dedent(
        """
        from infovaegan_plugin.layout import LatentLayout
        layout = LatentLayout.from_sizes(2, [3], 1)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx")
                        and sys.modules[m] is not None)
        assert not loaded, loaded
        print(layout.generator_input_dim, layout.sample_prior(2)["categorical"].sum())
        """
    )
    result = _run(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["6", "2.0"]


def test_the_encode_command_runs_without_torch_or_onnx(digits_export, tmp_path):
    """``infovaegan encode`` runs on ONNX Runtime alone: a serving machine (or a batch job that
    should not pay ~300 MB for torch) encodes files without it."""
    import numpy as np

    images = tmp_path / "images.npy"
    np.save(images, np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32))
    codes = tmp_path / "codes.npz"
    script = BLOCKER + textwrap.dedent(
        f"""
        from infovaegan_plugin.cli.app import app
        app(["encode", {str(digits_export[0])!r}, {str(images)!r}, "-o", {str(codes)!r},
             "--providers", "cpu"], prog_name="infovaegan", standalone_mode=False)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx", "pythae")
                        and sys.modules[m] is not None)
        assert not loaded, loaded
        """
    )
    result = _run(script)
    assert result.returncode == 0, "\n".join(result.stderr.splitlines()[-8:])
    with np.load(codes) as saved:
        assert saved["features"].shape == (5, 16)


def test_generate_and_traverse_draw_their_grids_without_torch(digits_export, tmp_path):
    """The ONNX commands draw labelled PNG grids with numpy and Pillow alone
    (``infovaegan_plugin.grids``), so a serving machine without torch runs them."""
    _, generator = digits_export
    out = tmp_path / "grid.png"
    script = BLOCKER + textwrap.dedent(
        f"""
        from infovaegan_plugin.cli.app import app
        for args in (["generate", {str(generator)!r}, "--n", "8", "--output", {str(out)!r}],
                     ["traverse", {str(generator)!r}, "--output", {str(out)!r}]):
            try:
                app(args)
            except SystemExit as exc:
                assert not exc.code, exc.code
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "torch"
                        and sys.modules[m] is not None)
        assert not loaded, loaded
        print("ok")
        """
    )
    result = _run(script)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
    assert out.is_file() and out.stat().st_size > 0

"""A release a user can pin.

One version: ``pyproject.toml``, the installed distribution (``infovaegan_plugin.__version__``,
``infovaegan --version``) and the newest release in ``CHANGELOG.md`` name the same number.

One wheel: built from the repository's files, it installs without ``-e`` and runs the
README's main job (train -> export -> encode) from another folder. What goes in is what git
would commit (tracked files and new ones not ignored), copied to a temporary folder first, so
ignored local files (``build/``, ``*.egg-info``, ``runs/``) cannot leak into the wheel. It is
installed with ``--no-deps`` into a throwaway venv; the test environment's dependencies are
made visible by a ``.pth`` file listing its site-packages folders: a folder named in a
``.pth`` file is only appended to ``sys.path`` (its own ``.pth`` files are not run), so the
development install's editable finder stays off, and the test checks that the package
imported is the installed copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

import infovaegan_plugin
from infovaegan_plugin.cli.app import app

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
#: Source folder -> where its files are installed (``package-dir`` in pyproject.toml).
INSTALLED_AS = {"infovaegan_plugin": "infovaegan_plugin", "deploy": "infovaegan_plugin/deploy",
                "cli": "infovaegan_plugin/cli"}
DIGITS = 1797
#: A released section of the changelog: ``## [X.Y.Z] - YYYY-MM-DD``.
RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$")


def pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def changelog_releases() -> list[str]:
    """The released versions in ``CHANGELOG.md``, newest first; any other ``## [`` heading
    than ``[Unreleased]`` must have the release form, so a typo cannot hide a release."""
    versions = []
    for line in (ROOT / "CHANGELOG.md").read_text().splitlines():
        if not line.startswith("## [") or line == "## [Unreleased]":
            continue
        match = RELEASE.match(line)
        assert match, f"CHANGELOG.md heading {line!r} is not '## [X.Y.Z] - YYYY-MM-DD'"
        versions.append(match.group(1))
    return versions


def test_version_is_the_installed_distributions_and_pyproject_s():
    assert infovaegan_plugin.__version__ == version("infovaegan-plugin")
    assert infovaegan_plugin.__version__ == pyproject_version(), (
        "the installed metadata is older than pyproject.toml: reinstall (pip install -e .) "
        "after changing the version")


def test_version_option_prints_the_version_and_exits_0():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"infovaegan-plugin {infovaegan_plugin.__version__}\n"
    assert re.fullmatch(r"infovaegan-plugin \d+\.\d+\.\d+\S*\n", result.output)


def test_newest_changelog_release_is_the_pyproject_version():
    releases = changelog_releases()
    if not releases:
        pytest.skip("CHANGELOG.md has no released section ('## [X.Y.Z] - YYYY-MM-DD') yet, "
                    "only [Unreleased]: nothing to compare with pyproject.toml's version")
    assert releases[0] == pyproject_version(), (
        f"CHANGELOG.md's newest release is {releases[0]}, pyproject.toml says "
        f"{pyproject_version()}")
    assert releases == sorted(releases, key=lambda v: tuple(map(int, v.split("."))),
                              reverse=True), f"releases not newest first: {releases}"


# --------------------------------------------------------------------------- the wheel


def run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, (f"{' '.join(map(str, args))} -> {result.returncode}\n"
                                    f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def committable_files() -> list[str]:
    """Paths (relative to the repository) git would commit: tracked and not ignored."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout of the repository (git ls-files)")
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    return sorted({p for p in listed.stdout.split("\0") if p and (ROOT / p).is_file()})


def expected_in_wheel(files: list[str]) -> set[str]:
    """Every file of the package folders, where the wheel must hold it (subpackages and
    package data alike)."""
    expected = set()
    for path in files:
        top, _, rest = path.partition("/")
        if top in INSTALLED_AS and rest and "__pycache__" not in rest:
            expected.add(f"{INSTALLED_AS[top]}/{rest}")
    return expected


@pytest.mark.slow
def test_wheel_installs_without_editable_and_runs_the_main_job(tmp_path):
    files = committable_files()
    source = tmp_path / "source"
    for path in files:
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, source / path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"), PIP_NO_INPUT="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = [sys.executable, "-m", "pip"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w",
         tmp_path / "dist", source], tmp_path, env)
    (wheel,) = (tmp_path / "dist").glob("infovaegan_plugin-*.whl")
    assert wheel.name.startswith(f"infovaegan_plugin-{pyproject_version()}-")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = expected_in_wheel(files) - names
    assert not missing, f"the wheel lacks {sorted(missing)} (pyproject.toml's packages?)"
    assert "infovaegan_plugin/cli/app.py" in names and "infovaegan_plugin/deploy/runtime.py" in (
        names)
    strays = {n.split("/")[0] for n in names} - {
        "infovaegan_plugin", f"infovaegan_plugin-{pyproject_version()}.dist-info"}
    assert not strays, f"the wheel installs more than the package: {sorted(strays)}"

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python = venv / "bin" / "python"
    run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], tmp_path, env)
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                      "['purelib'])"], tmp_path, env).stdout.strip())
    ours = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    (purelib / "_test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))

    work = tmp_path / "work"
    work.mkdir()
    probe = ("import json, sys, infovaegan_plugin, infovaegan_plugin.cli, "
             "infovaegan_plugin.deploy; print(json.dumps({'files': [infovaegan_plugin.__file__, "
             "infovaegan_plugin.cli.__file__, infovaegan_plugin.deploy.__file__], 'finders': "
             "[type(f).__module__ + '.' + type(f).__name__ for f in sys.meta_path], "
             "'version': infovaegan_plugin.__version__}))")
    seen = json.loads(run([python, "-c", probe], work, env).stdout)
    for file in seen["files"]:
        assert Path(file).resolve().is_relative_to(venv.resolve()), seen
        assert not Path(file).resolve().is_relative_to(ROOT), seen
    assert not any("editable" in finder.lower() for finder in seen["finders"]), seen
    assert seen["version"] == pyproject_version()

    infovaegan = venv / "bin" / "infovaegan"
    printed = run([infovaegan, "--version"], work, env).stdout
    assert printed == f"infovaegan-plugin {pyproject_version()}\n"
    run([infovaegan, "train", "--dataset", "digits", "--epochs", "1", "--output-dir",
         "runs/digits"], work, env)
    (run_dir,) = (work / "runs" / "digits").glob("InfoVAEGAN_training_*")
    assert (run_dir / "final_model" / "model.pt").is_file()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (metrics["dataset"], metrics["epochs"]) == ("digits", 1)
    run([infovaegan, "export", "runs/digits", "--onnx", "--output-dir", "runs/digits/onnx"],
        work, env)
    onnx = work / "runs" / "digits" / "onnx"
    assert {"encoder.onnx", "generator.onnx", "export_metadata.json"} <= {
        p.name for p in onnx.iterdir()}
    encoded = run([infovaegan, "encode", "runs/digits/onnx/encoder.onnx", "digits", "--output",
                   "runs/digits/codes.csv"], work, env)
    assert f"encoded {DIGITS} image(s)" in encoded.stdout
    lines = (work / "runs" / "digits" / "codes.csv").read_text().splitlines()
    assert lines[0].startswith("row,categorical_0_argmax,")
    assert len(lines) == 1 + DIGITS
    assert [line.split(",")[0] for line in lines[1:]] == [str(i) for i in range(DIGITS)]

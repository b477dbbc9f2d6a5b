"""The command line stays thin: each module under ``cli/`` parses options, makes one library
call and prints. A module that grows past the limit holds work that belongs in the library
(``infovaegan_plugin/``) or ``deploy/`` (docs/ARCHITECTURE.md, "Where each job lives")."""

from __future__ import annotations

from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "cli"
MAX_LINES = 160


def line_counts() -> dict[str, int]:
    """Lines of every ``cli/*.py`` as ``wc -l`` counts them."""
    return {p.name: p.read_bytes().count(b"\n") for p in sorted(CLI.glob("*.py"))}


def test_every_cli_module_is_read():
    counts = line_counts()
    assert {"app.py", "common.py", "train.py", "encode.py"} <= set(counts)
    assert all(n > 0 for name, n in counts.items() if name != "__init__.py")


def test_no_cli_module_exceeds_the_limit():
    too_long = {name: n for name, n in line_counts().items() if n > MAX_LINES}
    assert not too_long, (
        f"cli modules over {MAX_LINES} lines: {too_long}; move the helpers to where their job "
        "lives (docs/ARCHITECTURE.md, 'Where each job lives'), not into another cli module")

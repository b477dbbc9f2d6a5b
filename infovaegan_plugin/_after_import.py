"""Run a function once a module has been imported, whoever imports it, without importing it.

Python has no post-import hook; a one-shot meta-path finder wraps the module's loader so the
function runs right after the module's code, then steps aside.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable


def call_after_import(module: str, function: Callable[[], None]) -> None:
    """``function()`` now when ``module`` is imported already, else right after its import."""
    if module in sys.modules:
        function()
        return
    sys.meta_path.insert(0, _AfterImport(module, function))


class _AfterImport(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, function: Callable[[], None]):
        self.module, self.function = module, function

    def find_spec(self, name, path=None, target=None):
        if name != self.module:
            return None
        sys.meta_path.remove(self)  # one shot; the other finders locate the module
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, function = spec.loader, self.function
        run_module = loader.exec_module

        def exec_module(module) -> None:
            run_module(module)
            function()

        loader.exec_module = exec_module
        return spec

"""The protocol package as users of the standalone library get it: no Home Assistant.

Importing ``custom_components.alphaess_local.protocol`` runs the integration's
``__init__`` and loads Home Assistant (~100 MiB), which would be measured as the
server's memory. The benchmarks that run the server on its own load the directory as
the top-level package ``alphaess_cloud``, the way ``bin/alphaess-cloud`` does.
"""

from __future__ import annotations

import importlib
from pathlib import Path
import runpy
import sys
from types import ModuleType

LAUNCHER = Path(__file__).resolve().parent.parent / "bin" / "alphaess-cloud"


def load(submodule: str = "") -> ModuleType:
    """``alphaess_cloud`` (or one of its submodules), loaded once."""
    if "alphaess_cloud" not in sys.modules:
        runpy.run_path(str(LAUNCHER), run_name="launcher")["load_library"]()
    name = f"alphaess_cloud.{submodule}" if submodule else "alphaess_cloud"
    return importlib.import_module(name)

"""The protocol library runs where Home Assistant is not installed.

``bin/alphaess-cloud`` is run with ``python -S``: no site-packages at all, so neither
Home Assistant nor any other third-party package can be imported. ``-X importtime``
lists every module the process loaded; none may be Home Assistant's.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.machinery
import importlib.util
import json
from pathlib import Path
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest

LAUNCHER = Path(__file__).parents[2] / "bin" / "alphaess-cloud"


async def run(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-S",
        "-X",
        "importtime",
        str(LAUNCHER),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop(process: asyncio.subprocess.Process) -> str:
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    _, stderr = await process.communicate()
    return stderr.decode()


@pytest.mark.usefixtures("socket_enabled")
async def test_serve_and_simulate_run_without_home_assistant() -> None:
    serve = await run("serve", "--host", "127.0.0.1", "--port", "0")
    simulate: asyncio.subprocess.Process | None = None
    assert serve.stdout is not None
    assert serve.stderr is not None
    try:
        async with asyncio.timeout(30):
            port = None
            while port is None:
                line = (await serve.stderr.readline()).decode()
                assert line, "serve exited before listening"
                if found := re.search(r"listening on \S+:(\d+)", line):
                    port = found.group(1)
            simulate = await run("simulate", "--port", port, "--speed", "200")
            kinds: set[str] = set()
            while "RealtimeRecord" not in kinds:
                printed = json.loads(await serve.stdout.readline())
                kinds.add(printed["type"])
                assert "AL9002021030042" not in json.dumps(printed)
    finally:
        logs = await stop(serve)
        if simulate is not None:
            logs += await stop(simulate)
    assert {"Login", "RealtimeRecord"} <= kinds
    loaded = re.findall(r"import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", logs)
    assert "alphaess_cloud.server" in loaded
    assert "alphaess_cloud.simulator" in loaded
    assert [m for m in loaded if m.startswith("homeassistant")] == []


def _launcher_module() -> Any:
    loader = importlib.machinery.SourceFileLoader(
        "alphaess_cloud_launcher", str(LAUNCHER)
    )
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_an_old_python_is_told_in_one_line() -> None:
    launcher = _launcher_module()
    launcher.require_python(tuple(sys.version_info))  # this one is new enough
    with pytest.raises(SystemExit) as refused:
        launcher.require_python((3, 11, 2, "final", 0))
    message = str(refused.value.code)
    assert "\n" not in message
    assert "needs Python 3.13 or newer; this is Python 3.11.2" in message


def _older_interpreters() -> list[str]:
    found = []
    for name in ("python3.12", "python3.11", "python3.10", "python3"):
        path = shutil.which(name)
        if path is None:
            continue
        version = subprocess.run(  # noqa: S603 - an interpreter on PATH, --version
            [path, "-c", "import sys; print(sys.version_info[:2] < (3, 13))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if version.stdout.strip() == "True":
            found.append(path)
    return found[:1]


@pytest.mark.parametrize(
    "python",
    _older_interpreters()
    or [pytest.param("", marks=pytest.mark.skip("no Python older than 3.13 here"))],
)
def test_the_launcher_on_an_old_python_exits_without_a_traceback(python: str) -> None:
    result = subprocess.run(  # noqa: S603 - our launcher
        [python, str(LAUNCHER), "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "needs Python 3.13 or newer" in result.stderr

"""The protocol library runs where Home Assistant is not installed.

``bin/alphaess-cloud`` is run with ``python -S``: no site-packages at all, so neither
Home Assistant nor any other third-party package can be imported. ``-X importtime``
lists every module the process loaded; none may be Home Assistant's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
import re
import sys

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

"""The package a user installs is the package we test.

``pip install .`` builds a wheel from ``pyproject.toml`` and installs only that: a
module the packaging leaves out works in the checkout and fails for the user (it did:
``alphaess_cloud.simulator`` was missing and ``alphaess-cloud serve`` could not start).
So this builds the wheel offline with the pinned setuptools, installs it into a fresh
venv that has no Home Assistant and nothing else, and runs the installed
``alphaess-cloud serve`` with the installed simulator connected to it.

The build runs on a copy of the sources in a temporary directory: setuptools writes
``build/`` and ``*.egg-info`` next to ``pyproject.toml``, and a stale ``build/lib`` in
the checkout would hide a module missing from the configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = Path(__file__).parents[1]
PROTOCOL = ROOT / "custom_components" / "alphaess_local" / "protocol"
PACKAGE = "alphaess_cloud"
# Only bounds a hang: each step ends as soon as it is done (a few seconds in all).
PATIENCE = 120
BUILD = "import sys, setuptools.build_meta as backend; print(backend.build_wheel(sys.argv[1]))"


def run(*command: str | Path, cwd: Path) -> str:
    """Run one bounded step; its output is the failure message when it fails."""
    done = subprocess.run(  # noqa: S603 - our interpreter and our files
        [str(part) for part in command],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=PATIENCE,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _clean_env() -> dict[str, str]:
    """Nothing from the development venv leaks in through the environment.

    That includes pytest-cov's variables: with them the development venv's build and
    pip would record coverage of their own, which ``--cov`` then fails to combine.
    """
    return {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
        and not key.startswith(("COV_CORE_", "COVERAGE_"))
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip install .`` would build, built offline from a copy."""
    source = tmp_path_factory.mktemp("source")
    shutil.copy2(ROOT / "pyproject.toml", source)
    shutil.copy2(ROOT / "README.md", source)
    shutil.copytree(PROTOCOL, source / PROTOCOL.relative_to(ROOT))
    out = tmp_path_factory.mktemp("dist")
    name = run(sys.executable, "-c", BUILD, out, cwd=source).strip().splitlines()[-1]
    return out / name


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel alone; returns its ``bin``."""
    home = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", home, cwd=home)
    python = home / "bin" / "python"
    # The development venv's pip installs into it: no index, no network.
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
        "--no-index", "--no-deps", "--disable-pip-version-check", wheel,
        cwd=home,
    )  # fmt: skip
    return home / "bin"


def test_the_wheel_holds_every_module_of_the_library(wheel: Path) -> None:
    expected = {
        f"{PACKAGE}/{path.relative_to(PROTOCOL).as_posix()}"
        for path in PROTOCOL.rglob("*")
        if path.suffix == ".py" or path.name == "py.typed"
    }
    assert any("/" in name.removeprefix(f"{PACKAGE}/") for name in expected)
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if n.startswith(f"{PACKAGE}/")}
    assert shipped == expected


def test_the_installed_package_has_no_home_assistant(venv: Path) -> None:
    probe = (
        "import importlib.util, alphaess_cloud.simulator as s; "
        "print(s.__file__); print(importlib.util.find_spec('homeassistant'))"
    )
    where, found = run(venv / "python", "-c", probe, cwd=venv).splitlines()
    assert Path(where).is_relative_to(venv.parent)
    assert found == "None"


async def _start(venv: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        venv / "alphaess-cloud",
        *args,
        cwd=venv,
        env=_clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _stop(process: asyncio.subprocess.Process) -> str:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    _, stderr = await process.communicate()
    return stderr.decode(errors="backslashreplace")


@pytest.mark.usefixtures("socket_enabled")
async def test_installed_serve_hears_the_installed_simulated_battery(
    venv: Path,
) -> None:
    serve = await _start(venv, "serve", "--host", "127.0.0.1", "--port", "0")
    simulate: asyncio.subprocess.Process | None = None
    assert serve.stdout is not None
    assert serve.stderr is not None
    kinds: set[str] = set()
    try:
        async with asyncio.timeout(PATIENCE):
            port = None
            said = ""
            while port is None:
                line = (await serve.stderr.readline()).decode()
                said += line
                assert line, f"serve exited before listening:\n{said}"
                if found := re.search(r"listening on 127\.0\.0\.1:(\d+)", line):
                    port = found.group(1)
            simulate = await _start(venv, "simulate", "--port", port, "--speed", "200")
            while "RealtimeRecord" not in kinds:
                line = (await serve.stdout.readline()).decode()
                assert line, "serve exited before the battery's data"
                kinds.add(json.loads(line)["type"])
    finally:
        logs = await _stop(serve)
        if simulate is not None:
            logs += await _stop(simulate)
    assert {"Login", "RealtimeRecord"} <= kinds, logs

"""``alphaess-cloud modbus``: serve's sibling reads an inverter and prints as serve does.

The real process (``bin/alphaess-cloud``) reads pymodbus's own TCP server through the
counting proxy of ``test_modbus_reader.py``, prints the records as JSON lines with the
serial masked, and stops on SIGTERM in order: its link closed with a reset (the
inverter's one slot freed at once), "stopped" last, status 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import contextlib
import json
from pathlib import Path
import signal
import sys
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import cli
from custom_components.alphaess_local.protocol.codec.redact import mask_serial

from .conftest import HOST, PATIENCE
from .test_modbus_reader import SERIAL, Tap, tapped_inverter

LAUNCHER = Path(__file__).parents[2] / "bin" / "alphaess-cloud"


@pytest.fixture
async def tap() -> AsyncGenerator[Tap]:
    async with tapped_inverter() as proxy:
        yield proxy


@pytest.mark.usefixtures("socket_enabled")
async def test_modbus_prints_records_as_serve_and_stops_on_sigterm(tap: Tap) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(LAUNCHER),
        "modbus",
        "--host",
        HOST,
        "--port",
        str(tap.port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    lines: list[dict[str, object]] = []
    err = ""
    try:
        async with asyncio.timeout(PATIENCE):
            while len(lines) < 3:
                line = await process.stdout.readline()
                assert line, "modbus exited early"
                lines.append(json.loads(line))
            process.send_signal(signal.SIGTERM)
            out, rest = await process.communicate()
            err = rest.decode()
            await tap.wait_for(lambda: tap.resets + tap.eofs >= 1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
    assert process.returncode == 0, err
    assert [line["type"] for line in lines] == [
        "SystemReport",
        "RealtimeRecord",
        "DetailedRecord",
    ]
    assert {line["serial"] for line in lines} == {mask_serial(SERIAL)}
    assert {line["peer"] for line in lines} == {f"{HOST}:{tap.port}"}
    assert SERIAL not in out.decode() + err + json.dumps(lines)
    assert err.endswith("stopped\n"), err
    assert (tap.resets, tap.eofs) == (1, 0)  # let go with a reset
    assert tap.connections == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["modbus"],  # the host is not guessed
        ["modbus", "--host", HOST, "--interval", "0.2"],  # one poll a second at most
        ["modbus", "--host", HOST, "--interval", "nan"],
    ],
)
def test_modbus_arguments_are_checked(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[object] = []

    async def modbus(args: object) -> None:  # what would read the inverter
        ran.append(args)

    monkeypatch.setattr(cli, "_modbus", modbus)
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    assert not ran


def test_modbus_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[Any] = []

    async def modbus(args: Any) -> None:
        ran.append(args)

    monkeypatch.setattr(cli, "_modbus", modbus)
    assert cli.main(["modbus", "--host", "192.0.2.7"]) == 0
    assert [(a.host, a.port, a.unit, a.interval) for a in ran] == [
        ("192.0.2.7", 502, 85, 10.0)
    ]


async def test_modbus_without_pymodbus_says_what_to_install() -> None:
    # -I -S: no site-packages and no PYTHONPATH, as the library's base install.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        str(LAUNCHER),
        "modbus",
        "--host",
        HOST,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(PATIENCE):
            out, err = await process.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
    assert process.returncode == 1
    assert out == b""
    assert err.decode().strip() == (
        "alphaess-cloud: the modbus command needs pymodbus "
        "(pip install 'alphaess-local[modbus]')"
    )

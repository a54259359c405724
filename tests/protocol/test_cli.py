"""The terminal tool, in-process: its arguments, ``serve`` and ``simulate``, its output.

``main()`` runs until interrupted, so each test swaps the command's coroutine for one
that starts the real one as a task, drives it over loopback TCP and then cancels it,
as Ctrl-C would. ``test_standalone.py`` runs the same commands as processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
import json
import logging
from pathlib import Path
import re
import runpy
import socket
import ssl
import sys
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.alphaess_local.protocol import (
    CredentialPins,
    RealtimeRecord,
    cli,
    create_identity,
)
from custom_components.alphaess_local.protocol.server.server import (
    DEFAULT_MAX_CONNECTIONS,
    AlphaServer,
)
from custom_components.alphaess_local.protocol.simulator import (
    DEFAULT_SERIAL,
    Identity,
    SimulatedBattery,
)

from .conftest import HOST, EventLog, RawClient
from .test_server import login, realtime

MASKED = "AL90*********42"
OTHER = "AL2000000000002"
# Only bounds a hang: every wait below ends as soon as what it waits for happens.
PATIENCE = 30


class Output:
    """Everything printed so far; ``capsys`` hands each piece out only once."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.out = ""
        self.err = ""

    def read(self) -> Output:
        captured = self._capsys.readouterr()
        self.out += captured.out
        self.err += captured.err
        return self

    async def wait_for(self, predicate: Callable[[Output], bool]) -> None:
        async with asyncio.timeout(PATIENCE):
            while not predicate(self.read()):
                await asyncio.sleep(0.01)


@pytest.fixture
def logging_config(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What ``main()`` asked of ``logging.basicConfig`` (the test's logging stays)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: calls.append(kw))
    return calls


def stop_after(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    drive: Callable[[asyncio.Task[None]], Any],
) -> None:
    """Run ``cli.<name>`` as a task while ``drive`` runs, then cancel it."""
    real = getattr(cli, name)

    async def run_and_stop(args: Any) -> None:
        task = asyncio.create_task(real(args))
        try:
            await drive(task)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    monkeypatch.setattr(cli, name, run_and_stop)


def recording_servers(monkeypatch: pytest.MonkeyPatch) -> list[AlphaServer]:
    """Every server ``serve`` makes, kept for the test to look at."""
    servers: list[AlphaServer] = []

    class RecordingServer(AlphaServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            servers.append(self)

    monkeypatch.setattr(cli, "AlphaServer", RecordingServer)
    return servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.usefixtures("socket_enabled")
def test_serve_prints_redacted_events_and_honours_its_options(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logging_config: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    servers = recording_servers(monkeypatch)
    output = Output(capsys)
    dump = tmp_path / "unknown.jsonl"

    async def drive(serve: asyncio.Task[None]) -> None:
        await output.wait_for(lambda o: "listening on" in o.err)
        found = re.search(rf"listening on {re.escape(HOST)}:(\d+)", output.err)
        assert found, output.err
        port = int(found.group(1))
        assert port == servers[0].port != 0

        battery = SimulatedBattery(HOST, port, speed=200)
        running = asyncio.create_task(battery.run())
        try:
            await output.wait_for(lambda o: '"type": "RealtimeRecord"' in o.out)
            # A serial that --allow does not name is shown the door.
            stranger = await RawClient.connect(port)
            await stranger.send(login(OTHER, "stranger-secret"))
            assert await stranger.closed_by_server(timeout=PATIENCE)
            await stranger.close()
            # A damaged frame is acknowledged, reported on stderr and dumped.
            damaged = bytearray(realtime(DEFAULT_SERIAL).encode())
            damaged[-1] ^= 0x55
            broken = await RawClient.connect(port)
            await broken.send(bytes(damaged))
            assert (await broken.frames(1, timeout=PATIENCE))[0].header == (1, 2, 16)
            await broken.close()
            await output.wait_for(lambda o: "corrupt bytes (crc_mismatch)" in o.err)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        await output.wait_for(
            lambda o: f"{MASKED} " in o.err and "disconnected" in o.err
        )
        assert not serve.done()

    stop_after(monkeypatch, "_serve", drive)
    argv = ["-v", "serve", "--host", HOST, "--port", "0", "--dump", str(dump)]
    argv += ["--allow", DEFAULT_SERIAL, "--allow", "AL9999999999999"]
    argv += ["--max-connections", "5"]
    assert cli.main(argv) == 0
    output.read()

    (server,) = servers
    assert server.allowlist == {DEFAULT_SERIAL, "AL9999999999999"}
    assert server.max_connections == 5
    assert server.dump is not None
    assert server.dump.path == dump
    assert logging_config[0]["level"] == logging.DEBUG
    # One JSON object per decoded message on stdout, personal data masked.
    lines = [json.loads(line) for line in output.out.splitlines()]
    kinds = [line["type"] for line in lines]
    assert kinds[:2] == ["Login", "Heartbeat"]
    assert "RealtimeRecord" in kinds
    assert {line["serial"] for line in lines} == {MASKED}
    assert all(line["peer"].startswith(f"{HOST}:") for line in lines)
    assert lines[0]["message"]["password"] == "**REDACTED**"
    # A readable line per event on stderr: received, corrupt, disconnected.
    assert re.search(
        rf"{re.escape(MASKED)} {re.escape(HOST)}:\d+: Login$", output.err, re.M
    )
    assert re.search(r": \d+ corrupt bytes \(crc_mismatch\)$", output.err, re.M)
    assert re.search(
        rf"{re.escape(MASKED)} {re.escape(HOST)}:\d+: disconnected$", output.err, re.M
    )
    for secret in (DEFAULT_SERIAL, OTHER, Identity().password, "stranger-secret"):
        assert secret not in output.out + output.err, secret
    # The dump was closed with the server: its line is on disk, redacted.
    (dumped,) = (json.loads(line) for line in dump.read_text().splitlines())
    assert dumped["reason"] == "crc_mismatch"
    assert DEFAULT_SERIAL not in json.dumps(dumped)


@pytest.mark.usefixtures("socket_enabled")
def test_serve_defaults(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logging_config: list[dict[str, Any]],
) -> None:
    servers = recording_servers(monkeypatch)
    output = Output(capsys)

    async def drive(serve: asyncio.Task[None]) -> None:
        # No --host: every interface, printed as "*".
        await output.wait_for(lambda o: "listening on *:" in o.err)

    stop_after(monkeypatch, "_serve", drive)
    # Port 0 only because the default, 7777, may be taken on a test machine.
    assert cli.main(["serve", "--port", "0"]) == 0
    (server,) = servers
    assert server.allowlist == frozenset()  # everyone
    assert server.max_connections == DEFAULT_MAX_CONNECTIONS
    assert server.dump is None
    assert logging_config[0]["level"] == logging.INFO


@pytest.mark.usefixtures("socket_enabled")
def test_simulate_connects_a_battery_with_the_given_serial(
    monkeypatch: pytest.MonkeyPatch,
    logging_config: list[dict[str, Any]],
) -> None:
    batteries: list[SimulatedBattery] = []

    class RecordingBattery(SimulatedBattery):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            batteries.append(self)

    monkeypatch.setattr(cli, "SimulatedBattery", RecordingBattery)
    port = free_port()
    heard: list[RealtimeRecord] = []

    async def drive(simulate: asyncio.Task[None]) -> None:
        events = EventLog()
        server = AlphaServer(events, host=HOST, port=port)
        await server.start()
        try:
            await events.wait_for(
                lambda: len(events.messages(RealtimeRecord)) >= 2, timeout=PATIENCE
            )
        finally:
            await server.close()
        heard.extend(events.messages(RealtimeRecord))

    stop_after(monkeypatch, "_simulate", drive)
    argv = ["simulate", "--host", HOST, "--port", str(port)]
    argv += ["--serial", OTHER, "--speed", "200"]
    assert cli.main(argv) == 0
    (battery,) = batteries
    assert battery.identity.serial == OTHER
    assert {record.serial for record in heard} == {OTHER}
    assert logging_config[0]["level"] == logging.INFO


def test_ctrl_c_ends_with_status_zero(
    monkeypatch: pytest.MonkeyPatch, logging_config: list[dict[str, Any]]
) -> None:
    reached: list[str] = []

    async def interrupted(args: Any) -> None:
        reached.append(args.command)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_simulate", interrupted)
    assert cli.main(["simulate"]) == 0
    assert reached == ["simulate"]


def test_help_describes_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: alphaess-cloud")
    assert "answer batteries in the cloud's place" in text
    assert "behave like a battery" in text

    with pytest.raises(SystemExit) as done:
        cli.main(["serve", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--host", "--port", "--dump", "--allow", "--max-connections"):
        assert option in text
    assert f"(default: {DEFAULT_MAX_CONNECTIONS})" in text


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([])
    assert done.value.code == 2
    assert "required: command" in capsys.readouterr().err


def test_python_dash_m_runs_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["alphaess-cloud", "simulate", "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module(
            "custom_components.alphaess_local.protocol", run_name="__main__"
        )
    assert done.value.code == 0
    assert "--speed" in capsys.readouterr().out


def test_serve_prints_a_diagnosis_line_for_a_foreign_protocol(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from datetime import UTC, datetime

    from custom_components.alphaess_local.protocol import (
        Foreign,
        ForeignKind,
        ForeignProtocol,
    )
    from custom_components.alphaess_local.protocol.cli import _print_event

    _print_event(
        ForeignProtocol(
            None,
            datetime(2026, 12, 2, tzinfo=UTC),
            "192.168.1.23:40000",
            Foreign(ForeignKind.TLS, {"sni": "www.alphaess.com"}),
        )
    )
    err = capsys.readouterr().err
    assert "192.168.1.23:40000: spoke TLS (sni=www.alphaess.com)" in err


@pytest.mark.usefixtures("socket_enabled")
def test_serve_keeps_pins_in_its_pin_file_and_names_other_credentials(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logging_config: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    output = Output(capsys)
    pin_file = tmp_path / "pins.json"

    async def drive(serve: asyncio.Task[None]) -> None:
        await output.wait_for(lambda o: "listening on" in o.err)
        found = re.search(rf"listening on {re.escape(HOST)}:(\d+)", output.err)
        assert found, output.err
        port = int(found.group(1))
        battery = await RawClient.connect(port)
        await battery.send(login(DEFAULT_SERIAL, "first-secret"))
        await battery.send(realtime(DEFAULT_SERIAL))  # its data earns the pin
        await battery.frames(2, timeout=PATIENCE)
        await battery.close()
        async with asyncio.timeout(PATIENCE):
            while not pin_file.exists():
                await asyncio.sleep(0.01)
        await output.wait_for(lambda o: "disconnected" in o.err)
        impostor = await RawClient.connect(port)
        await impostor.send(login(DEFAULT_SERIAL, "other-secret"))
        await output.wait_for(lambda o: "not the ones pinned first" in o.err)
        await impostor.close()

    stop_after(monkeypatch, "_serve", drive)
    argv = ["serve", "--host", HOST, "--port", "0", "--pin-file", str(pin_file)]
    assert cli.main(argv) == 0
    output.read()
    pins = json.loads(pin_file.read_text())
    assert list(pins) == [DEFAULT_SERIAL, f"{DEFAULT_SERIAL}/seen"]  # no password
    text = pin_file.read_text() + output.out + output.err
    for secret in ("first-secret", "other-secret"):
        assert secret not in text
    assert re.search(
        rf"{re.escape(MASKED)} {re.escape(HOST)}:\d+: logged in with new credentials",
        output.err,
    )


@pytest.mark.usefixtures("socket_enabled")
def test_serve_relays_to_the_cloud_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logging_config: list[dict[str, Any]],
) -> None:
    servers = recording_servers(monkeypatch)
    output = Output(capsys)
    heard = bytearray()

    async def drive(serve: asyncio.Task[None]) -> None:
        await output.wait_for(lambda o: "listening on" in o.err)
        battery = await RawClient.connect(servers[0].port)
        await battery.send(login(DEFAULT_SERIAL, "secret"))
        await battery.frames(1, timeout=PATIENCE)
        async with asyncio.timeout(PATIENCE):
            while not heard:
                await asyncio.sleep(0.01)
        await battery.close()

    async def cloud(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heard.extend(await reader.read(65536))
        writer.close()

    async def with_cloud(args: Any) -> None:
        upstream = await asyncio.start_server(cloud, HOST, 0)
        args.relay = f"{HOST}:{upstream.sockets[0].getsockname()[1]}"
        try:
            await real(args)
        finally:
            upstream.close()

    stop_after(monkeypatch, "_serve", drive)
    real = cli._serve
    monkeypatch.setattr(cli, "_serve", with_cloud)
    argv = ["serve", "--host", HOST, "--port", "0", "--relay", "x:1"]
    argv += ["--relay-pass", "Resume"]
    assert cli.main(argv) == 0
    (server,) = servers
    assert server.relay is not None
    assert server.relay.passed == {"Resume"}
    assert bytes(heard) == login(DEFAULT_SERIAL, "secret").encode()


def test_serve_refuses_a_relay_without_a_port() -> None:
    with pytest.raises(SystemExit, match="HOST:PORT"):
        cli._relay("cloud.example", ())
    assert cli._relay(None, ("Resume",)) is None


@pytest.mark.usefixtures("socket_enabled")
def test_serve_accepts_the_new_credentials_it_is_told_to(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A device pinned its login before the battery ever came (issue #28).

    ``--accept-new-credentials SERIAL@ADDRESS`` pins the login the battery makes from
    its address: it takes the serial at once, and the first login is refused, in the
    pin file too.
    """
    forger_at, battery_at = "127.0.9.66", "127.0.9.5"
    pin_file = tmp_path / "pins.json"
    forged = CredentialPins()
    forged.accepted(DEFAULT_SERIAL, DEFAULT_SERIAL, "forged", forger_at)
    pin_file.write_text(json.dumps(forged.to_store()))
    output = Output(capsys)

    async def connect_from(port: int, source: str) -> RawClient:
        reader, writer = await asyncio.open_connection(
            HOST, port, local_addr=(source, 0)
        )
        return RawClient(reader, writer)

    async def drive(serve: asyncio.Task[None]) -> None:
        await output.wait_for(lambda o: "listening on" in o.err)
        found = re.search(rf"listening on {re.escape(HOST)}:(\d+)", output.err)
        assert found, output.err
        port = int(found.group(1))
        forger = await connect_from(port, forger_at)
        await forger.send(login(password="forged"))
        await forger.send(realtime(soc="1"))
        await forger.frames(2, timeout=PATIENCE)
        battery = await connect_from(port, battery_at)
        await battery.send(login(password="battery-own"))
        await battery.send(realtime(soc="50"))
        await battery.frames(2, timeout=PATIENCE)  # taken at once
        assert await forger.closed_by_server(timeout=PATIENCE)
        again = await connect_from(port, forger_at)
        await again.send(login(password="forged"))
        assert await again.closed_by_server(timeout=PATIENCE)
        await output.wait_for(lambda o: "pinned (--accept-new-credentials)" in o.err)
        async with asyncio.timeout(PATIENCE):
            while True:
                stored = CredentialPins(json.loads(pin_file.read_text() or "{}"))
                if stored.check(DEFAULT_SERIAL, DEFAULT_SERIAL, "forged").name == (
                    "REFUSED"
                ):
                    break
                await asyncio.sleep(0.01)
        assert stored.check(DEFAULT_SERIAL, DEFAULT_SERIAL, "battery-own").name == (
            "PROVEN"
        )
        for client in (forger, battery, again):
            await client.close()
        assert not serve.done()

    stop_after(monkeypatch, "_serve", drive)
    argv = ["serve", "--host", HOST, "--port", "0", "--pin-file", str(pin_file)]
    argv += ["--accept-new-credentials", f"{DEFAULT_SERIAL}@{battery_at}"]
    assert cli.main(argv) == 0
    output.read()
    assert "new credentials, not the ones pinned first" in output.err
    assert DEFAULT_SERIAL not in output.err + output.out
    assert "forged" not in output.err + output.out


@pytest.mark.usefixtures("socket_enabled")
def test_serve_answers_tls_with_the_given_certificate_or_not_at_all(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logging_config: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    servers = recording_servers(monkeypatch)
    output = Output(capsys)
    made = create_identity()
    (tmp_path / "cert.pem").write_text(made.certificate)
    (tmp_path / "key.pem").write_text(made.key)
    seen: list[str] = []
    runs: list[None] = []

    async def drive(serve: asyncio.Task[None]) -> None:
        runs.append(None)
        await output.wait_for(lambda o: o.err.count("listening on") == len(runs))
        server = servers[-1]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if server.tls is None:
            return
        _, writer = await asyncio.open_connection(HOST, server.port, ssl=context)
        ssl_object = writer.get_extra_info("ssl_object")
        seen.append(ssl.DER_cert_to_PEM_cert(ssl_object.getpeercert(binary_form=True)))
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)

    stop_after(monkeypatch, "_serve", drive)
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    argv = ["serve", "--host", HOST, "--port", "0", "--tls-cert", cert]
    assert cli.main([*argv, "--tls-key", key]) == 0
    assert [s.strip() for s in seen] == [made.certificate.strip()]
    assert made.key not in output.read().err + output.out
    assert cli.main(["serve", "--host", HOST, "--port", "0", "--no-tls"]) == 0
    assert servers[-1].tls is None


def test_simulate_keeps_its_clock_in_the_time_zone_it_is_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Summer in Berlin: UTC+2, naive as a battery's clock is.
    now = datetime(2026, 7, 1, 10, 0, 30, 500_000, tzinfo=UTC)
    start = cli.clock_start(ZoneInfo("Europe/Berlin"), now)
    assert start == datetime(2026, 7, 1, 12, 0, 30)
    with pytest.raises(SystemExit):
        cli.main(["simulate", "--tz", "Mars/Olympus_Mons"])
    assert "unknown time zone 'Mars/Olympus_Mons'" in capsys.readouterr().err

"""Strings a peer sends never steer what we print, and odd serials never get in.

A login ``UserName`` or a record's ``SN`` such as ``"ABCDEFGH\\nX"`` once forged log
lines, cleared the owner's terminal and reordered text with a right-to-left override.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
import logging
from pathlib import Path
import re
from typing import Any

from hypothesis import given, strategies as st
import pytest

from custom_components.alphaess_local.protocol import (
    AlphaServer,
    Frame,
    Spoke,
    TrafficDump,
    cli,
    is_serial,
    mask_serial,
    printable,
    to_jsonable,
)
from custom_components.alphaess_local.protocol.codec.messages import decode_message

from .conftest import HOST, EventLog, RawClient
from .test_cli import PATIENCE, Output, stop_after
from .test_server import SERIAL, login, realtime

# What a terminal or a log reader must never see raw: C0 controls but the line feed
# that ends each printed line, DEL, C1, bidi and other format characters, separators.
UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ufeff\ud800-\udfff]"
)
ODD_SERIALS = [
    "ABCDEFGH\nX 127.0.0.1:57152: Login",  # a forged log line
    "\x1b[2J\x1b]0;pwned\x07AL9002021030042",  # clear screen, window title
    "AL90\u202e24000210",  # right-to-left override
    "AL90\x85\x7f\x9b31m0042",  # C1 next line, DEL, C1 CSI
    "AL9002021030042\ud800",  # a lone surrogate (JSON \\ud800)
    "AL9002021030042-1",  # not letters and digits
    "A" * 33,  # longer than any serial
    "AL9002\t021030042",  # a tab inside (whitespace around a serial is stripped)
]


def test_printable_escapes_what_steers_a_terminal_and_keeps_the_rest() -> None:
    assert printable("AL9002021030042") == "AL9002021030042"
    assert printable("Zähler 中") == "Zähler 中"
    assert printable("a\nb\x1b[2J\u202ec\\") == "a\\nb\\x1b[2J\\u202ec\\\\"
    assert printable("\x85\x7f\ud800") == "\\x85\\x7f\\ud800"
    assert printable("x" * 100) == "x" * 80 + "…"
    assert printable("x" * 100, None) == "x" * 100
    assert printable(b"\xff\x1b") == "\ufffd\\x1b"


@given(st.text())
def test_nothing_printable_returns_can_steer_a_terminal(text: str) -> None:
    for shown in (printable(text), printable(text, None), mask_serial(text)):
        assert shown.isprintable()


@given(st.text(max_size=200))
def test_a_masked_serial_stays_short(text: str) -> None:
    # 26 stars and an ellipsis at most, and six characters shown, each escaped at worst
    # as \U0001xxxx: a 4 KiB "serial" does not make a 4 KiB log line.
    assert len(mask_serial(text)) <= 27 + 6 * 10


def test_a_serial_is_short_and_letters_and_digits() -> None:
    assert is_serial("AL9002021030042")
    assert is_serial("abc123")
    for odd in (
        *ODD_SERIALS,
        "",
        "AL1",
        "AL90 0042",
        "ÄL9002021030042",
        "AL9002021030042\n",
    ):
        assert not is_serial(odd), odd


def test_typed_messages_print_escaped_keys_and_text() -> None:
    payload = json.dumps(
        {
            "Time": "2021/03/24 10:01:52",
            "SN": "AL9002021030042",
            "SOC": "50",
            "Odd\x1bKey": "value\u202e\n",
        }
    ).encode()
    shown = json.dumps(to_jsonable(decode_message(Frame(1, 16, payload))))
    assert not UNSAFE.search(json.loads(shown.replace("\\\\", "/")).__repr__())
    assert "Odd\\\\x1bKey" in shown
    assert "value\\\\u202e\\\\n" in shown


def unsafe_in_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if UNSAFE.search(r.getMessage())]


@pytest.mark.parametrize("odd", ODD_SERIALS)
@pytest.mark.parametrize("how", ["login", "record"])
async def test_an_odd_serial_is_refused_logged_escaped_and_dumped(
    make_server: Callable[..., Any],
    events: EventLog,
    connect: Callable[[int], Any],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    odd: str,
    how: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    dump = TrafficDump(tmp_path / "dump.jsonl")
    server: AlphaServer = await make_server(dump=dump)
    client: RawClient = await connect(server.port)
    await client.send(login(odd) if how == "login" else realtime(odd))
    assert await client.closed_by_server()
    await events.wait_for(lambda: not server.connection_count)
    await dump.flush()

    assert not server.connected_serials
    assert not events.messages()
    record = server.connections.recent[-1]
    assert (record.spoke, record.detail) == (Spoke.REFUSED, "not a battery serial")
    refusals = [
        r.getMessage() for r in caplog.records if "not 6 to 32" in r.getMessage()
    ]
    assert len(refusals) == 1, caplog.text
    assert unsafe_in_log(caplog) == []
    (line,) = (tmp_path / "dump.jsonl").read_text().splitlines()
    assert line.isascii()
    assert json.loads(line)["reason"] == "not a battery serial"
    # The serial is masked in the dump as in the log: only its ends are shown.
    assert odd.strip() not in json.loads(line)["payload"]


async def test_a_battery_serial_next_to_odd_ones_is_served(
    server: AlphaServer, events: EventLog, connect: Callable[[int], Any]
) -> None:
    for odd in ODD_SERIALS[:3]:
        stranger: RawClient = await connect(server.port)
        await stranger.send(realtime(odd))
        assert await stranger.closed_by_server()
    battery: RawClient = await connect(server.port)
    await battery.send(login())
    await battery.send(realtime())
    await battery.frames(2)
    assert server.connected_serials == {SERIAL}


@pytest.mark.usefixtures("socket_enabled")
def test_serve_prints_no_raw_control_character_for_odd_serials_or_text(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """Everything ``serve`` writes (stdout JSON, stderr lines, log, dump) is escaped."""
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: None)
    caplog.set_level(logging.DEBUG)
    output = Output(capsys)
    dump = tmp_path / "dump.jsonl"
    odd_text = {
        "Time": "2021/03/24 10:01:52",
        "SN": SERIAL,
        "SOC": "50\x1b[2J",
        "Ppv1\u202e": "\x85\x7f1",
        "MsgType": "x\nX 127.0.0.1:1: Login",
    }

    async def drive(serve: asyncio.Task[None]) -> None:
        await output.wait_for(lambda o: "listening on" in o.err)
        found = re.search(rf"listening on {re.escape(HOST)}:(\d+)", output.err)
        assert found, output.err
        port = int(found.group(1))
        for odd in ODD_SERIALS:
            for frame in (login(odd), realtime(odd)):
                stranger = await RawClient.connect(port)
                await stranger.send(frame)
                assert await stranger.closed_by_server(timeout=PATIENCE)
                await stranger.close()
        battery = await RawClient.connect(port)
        await battery.send(login())
        await battery.send(Frame(1, 16, json.dumps(odd_text).encode()))
        await battery.send(Frame(1, 77, json.dumps({"K\x1b": "v\u2028"}).encode()))
        await battery.frames(3, timeout=PATIENCE)
        await output.wait_for(lambda o: o.out.count("\n") >= 3)
        await battery.close()
        await output.wait_for(lambda o: "disconnected" in o.err)

    stop_after(monkeypatch, "_serve", drive)
    argv = ["serve", "--host", HOST, "--port", "0", "--dump", str(dump)]
    assert cli.main(argv) == 0
    output.read()
    printed = {
        "stdout": output.out,
        "stderr": output.err,
        "log": "\n".join(r.getMessage() for r in caplog.records),
        "dump": dump.read_text(),
    }
    for name, text in printed.items():
        assert not UNSAFE.search(text), (name, UNSAFE.findall(text))
    assert output.out.isascii()  # any terminal or pipe can take it
    assert len(output.out.splitlines()) == 3  # login, realtime, unknown: no forged line
    assert all(json.loads(line) for line in output.out.splitlines())
    assert not re.search(r"^X 127\.0\.0\.1", output.err, re.MULTILINE)

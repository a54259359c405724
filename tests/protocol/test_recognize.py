"""Connections that speak TLS, MQTT or HTTP are named, reported once and closed at once.

Real clients over loopback where Python has them (``ssl`` with the cloud's name as
SNI, an HTTP GET), real MQTT CONNECT bytes; bytes-level tests for the parsers, and a
property test that no input makes them raise or read past what they were given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
import logging
from pathlib import Path
import ssl
from typing import Any

from hypothesis import given, strategies as st
import pytest

from custom_components.alphaess_local.protocol import (
    Foreign,
    ForeignKind,
    ForeignProtocol,
    Frame,
    TrafficDump,
    recognize,
)
from custom_components.alphaess_local.protocol.server import session
from custom_components.alphaess_local.protocol.server.server import AlphaServer

from .conftest import HOST, EventLog, RawClient
from .test_server import SERIAL, login, realtime

MQTT_CONNECT = (
    b"\x10\x2a\x00\x04MQTT\x04\xc2\x00\x3c"  # level 4, user + password + clean session
    b"\x00\x0fAL9002021030042"  # client id: the battery's serial
    b"\x00\x0fAL9002021030042"  # user name
    b"\x00\x04pass"
)
HTTP_GET = b"GET /api/Account/Login HTTP/1.1\r\nHost: www.alphaess.com\r\n\r\n"


async def tls_hello(port: int) -> None:
    """What a battery with encrypting firmware does: a TLS handshake to the cloud."""
    context = ssl.create_default_context()
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        await asyncio.open_connection(
            HOST, port, ssl=context, server_hostname="www.alphaess.com"
        )


async def recorded_client_hello() -> bytes:
    """The first bytes a real TLS client sends, as a battery with encrypting firmware."""
    hello = bytearray()

    async def record(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        hello.extend(await reader.read(65536))
        writer.close()

    recorder = await asyncio.start_server(record, HOST, 0)
    await tls_hello(recorder.sockets[0].getsockname()[1])
    recorder.close()
    await recorder.wait_closed()
    return bytes(hello)


def foreign_events(events: EventLog) -> list[ForeignProtocol]:
    return [e for e in events.events if isinstance(e, ForeignProtocol)]


async def test_a_tls_client_is_named_with_its_sni_and_closed_at_once(
    server: AlphaServer, events: EventLog, caplog: pytest.LogCaptureFixture
) -> None:
    # At once: long before the deadline of a connection that sends no frame, which
    # is what ends the handshake if the server does not recognise it.
    async with asyncio.timeout(session.FIRST_FRAME_TIMEOUT / 2):
        await tls_hello(server.port)
    await events.wait_for(lambda: bool(foreign_events(events)))
    (event,) = foreign_events(events)
    assert event.foreign.kind is ForeignKind.TLS
    assert event.foreign.details["sni"] == "www.alphaess.com"
    assert event.foreign.details["version"] == "TLS 1.3"
    assert event.serial is None
    assert "spoke TLS (sni=www.alphaess.com" in caplog.text
    assert "firmware encrypts its cloud link" in caplog.text


async def test_mqtt_and_http_are_named_and_personal_data_masked(
    server: AlphaServer, events: EventLog, connect: Callable[[int], Any]
) -> None:
    for first in (MQTT_CONNECT, HTTP_GET):
        client: RawClient = await connect(server.port)
        await client.send(first)
        assert await client.closed_by_server(timeout=1)
    await events.wait_for(lambda: len(foreign_events(events)) == 2)
    mqtt, http = (e.foreign for e in foreign_events(events))
    assert mqtt == Foreign(
        ForeignKind.MQTT,
        {
            "protocol": "MQTT",
            "level": "4",
            "client_id": "AL90*********42",
            "user": "AL90*********42",
        },
    )
    assert http == Foreign(
        ForeignKind.HTTP,
        {"method": "GET", "path": "/api/Account/Login", "host": "www.alphaess.com"},
    )
    assert SERIAL not in repr(foreign_events(events))


async def test_a_battery_on_the_same_listener_keeps_its_acknowledgements(
    server: AlphaServer, events: EventLog, connect: Callable[[int], Any]
) -> None:
    battery: RawClient = await connect(server.port)
    await battery.send(login())
    await battery.frames(1)
    for _ in range(5):
        await tls_hello(server.port)
        other: RawClient = await connect(server.port)
        await other.send(MQTT_CONNECT)
    for n in range(5):
        await battery.send(realtime(soc=f"{50 + n}.0"))
    assert len(await battery.frames(6)) == 6
    assert SERIAL in server.connected_serials


async def test_a_thousand_hellos_make_one_line_and_one_dump_sample(
    make_server: Callable[..., Any],
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.WARNING)
    dump = TrafficDump(tmp_path / "unknown.jsonl")
    server: AlphaServer = await make_server(dump=dump)
    # One real ClientHello, recorded, then replayed 1 000 times as fast as possible.
    hello = await recorded_client_hello()
    assert recognize(hello) is not None

    async def one() -> None:
        _, writer = await asyncio.open_connection(HOST, server.port)
        writer.write(hello)
        await writer.drain()
        writer.close()

    for _ in range(100):
        await asyncio.gather(*(one() for _ in range(10)))
    # Hellos still unread when the per-address limit made room were closed unread;
    # one more, waited for, is the last the server handles.
    last = await RawClient.connect(server.port)
    await last.send(hello)
    assert await last.closed_by_server(timeout=5)
    await last.close()
    await events.wait_for(lambda: len(foreign_events(events)) >= 1)
    await dump.flush()
    lines = (tmp_path / "unknown.jsonl").read_text().splitlines()
    assert [json.loads(line)["reason"] for line in lines] == ["foreign protocol: tls"]
    warnings = [r for r in caplog.records if "spoke TLS" in r.getMessage()]
    assert len(warnings) == 1
    assert len(server._foreign_reported) == 1


def test_our_own_frames_and_junk_are_not_foreign() -> None:
    assert recognize(login().encode()) is None
    assert recognize(b"") is None
    assert recognize(b"\x00\x01\x02") is None
    assert recognize(b"hello world\r\n") is None
    assert recognize(b"\x10\x05\x00\x04XXXX") is None  # not MQTT's protocol name


def test_a_cut_client_hello_is_still_tls() -> None:
    assert recognize(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") == Foreign(
        ForeignKind.TLS,
        {"version": "TLS 1.2"},  # the legacy field, all it had
    )


def test_peer_strings_are_escaped_and_short() -> None:
    request = b"GET /\x1b[2J\xe2\x80\xae" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\nX\r\n"
    found = recognize(request)
    assert found is not None
    path = found.details["path"]
    assert "\x1b" not in path
    assert "\u202e" not in path
    assert "\\x1b" in path
    assert "\\u202e" in path
    assert len(path) <= 90
    assert all(" " <= c <= "~" or c == "…" for c in found.describe())


@given(st.binary(max_size=600))
def test_recognize_never_raises(data: bytes) -> None:
    for head in (b"", b"\x16\x03\x01", b"\x10", b"GET / HTTP/1.1\r\n"):
        found = recognize(head + data)
        if found is not None:
            assert all(" " <= c <= "~" or c == "…" for c in found.describe())


def test_the_frame_decoder_is_not_the_recognizer() -> None:
    """Frames split anywhere are not mistaken: only a connection's first read is read."""
    first = Frame(1, 16, b'{"SN":"AL9002021030042"}').encode()[:1]
    assert recognize(first) is None

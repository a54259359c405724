"""A TLS ClientHello is answered with our certificate; each outcome is told once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
import shutil
import ssl
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import (
    ForeignKind,
    ForeignProtocol,
    Frame,
    FrameDecoder,
    Login,
    RealtimeRecord,
    Spoke,
    TlsAnswer,
    TlsIdentity,
    TlsOutcome,
    create_identity,
    server_context,
)
from custom_components.alphaess_local.protocol.server import tls_answer
from custom_components.alphaess_local.protocol.server.server import AlphaServer
from custom_components.alphaess_local.protocol.simulator import SimulatedBattery

from .conftest import HOST, EventLog, Ticks
from .test_recognize import recorded_client_hello
from .test_server import SERIAL, login, realtime, stop

_IDENTITY: list[TlsIdentity] = []


def identity() -> TlsIdentity:
    """One certificate for the module (an RSA key takes a moment to make)."""
    if not _IDENTITY:
        _IDENTITY.append(create_identity())
    return _IDENTITY[0]


def trusting() -> ssl.SSLContext:
    """A client that does not check the server's certificate, as many sticks do."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def tls_server(make_server: Callable[..., Any], **kwargs: Any) -> AlphaServer:
    ticks = kwargs.pop("ticks", None) or Ticks()
    answer = TlsAnswer(server_context(identity()), ticks)
    server: AlphaServer = await make_server(tls=answer, ticks=ticks, **kwargs)
    return server


async def all_closed(server: AlphaServer) -> None:
    """Wait (bounded) until every connection has ended; no event says so."""
    async with asyncio.timeout(30):
        while server.connection_count:
            await asyncio.sleep(0.01)


def foreign(events: EventLog) -> list[ForeignProtocol]:
    return [e for e in events.events if isinstance(e, ForeignProtocol)]


def mqtt_packet(kind: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([kind, len(body)]) + body


def mqtt_string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


MQTT_CONNECT = mqtt_packet(
    0x10, mqtt_string("MQTT") + b"\x04\x02\x00\x3c" + mqtt_string(SERIAL)
)
MQTT_SUBSCRIBE = mqtt_packet(
    0x82, b"\x00\x01" + mqtt_string(f"alpha/{SERIAL}/cmd") + b"\x01"
)
MQTT_PUBLISH = mqtt_packet(0x30, mqtt_string(f"alpha/{SERIAL}/data") + b'{"SOC":50}')


async def test_a_battery_that_accepts_our_certificate_is_read(
    make_server: Callable[..., Any],
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    server = await tls_server(make_server)
    battery = SimulatedBattery(HOST, server.port, speed=200)
    battery.link.tls = trusting()
    task = asyncio.create_task(battery.run())
    try:
        await events.wait_for(
            lambda: bool(events.messages(Login))
            and len(events.messages(RealtimeRecord)) >= 2
        )
    finally:
        await stop(task)
    assert SERIAL in {e.serial for e in events.events if e.serial}
    assert not foreign(events)
    records = [r for r in server.connections.recent if r.spoke is Spoke.BATTERY]
    assert records
    assert records[0].tls is not None
    assert records[0].tls.startswith("TLS 1.")
    assert "SNI www.alphaess.com" in records[0].tls
    assert records[0].as_dict()["tls"] == records[0].tls
    read = [r for r in caplog.records if "accepted our certificate" in r.getMessage()]
    assert len(read) == 1
    assert identity().key not in caplog.text


async def test_acks_and_commands_pass_through_tls(
    make_server: Callable[..., Any], events: EventLog
) -> None:
    server = await tls_server(make_server)
    reader, writer = await asyncio.open_connection(
        HOST, server.port, ssl=trusting(), server_hostname="www.alphaess.com"
    )
    try:
        writer.write(login().encode() + realtime().encode())
        await writer.drain()
        decoder, frames = FrameDecoder(), []
        async with asyncio.timeout(10):
            while len(frames) < 2:
                chunk = await reader.read(4096)
                assert chunk
                frames += [f for f in decoder.feed(chunk) if isinstance(f, Frame)]
        assert [f.command for f in frames] == [2, 16]  # both acknowledged
        await events.wait_for(lambda: bool(events.messages(RealtimeRecord)))
        assert SERIAL in server.connected_serials
    finally:
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    await events.wait_for(lambda: SERIAL not in server.connected_serials)


async def test_mqtt_inside_tls_is_named_with_its_topics(
    make_server: Callable[..., Any], events: EventLog
) -> None:
    server = await tls_server(make_server)
    reader, writer = await asyncio.open_connection(
        HOST, server.port, ssl=trusting(), server_hostname="www.alphaess.com"
    )
    try:
        writer.write(MQTT_CONNECT)
        async with asyncio.timeout(10):
            assert await reader.readexactly(4) == b"\x20\x02\x00\x00"  # CONNACK
        writer.write(MQTT_SUBSCRIBE + MQTT_PUBLISH)
        await events.wait_for(lambda: bool(foreign(events)))
    finally:
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    event = foreign(events)[0]
    assert event.foreign.kind is ForeignKind.MQTT
    details = event.foreign.details
    assert details["tls"] == TlsOutcome.READ
    assert details["tls_session"].startswith("TLS 1.")
    assert details["client_id"] == "AL90*********42"
    assert details["topics"] == "alpha/AL90*********42/cmd,alpha/AL90*********42/data"
    assert SERIAL not in repr(event)
    assert server.connections.recent[-1].spoke is Spoke.MQTT


async def test_a_client_that_checks_the_certificate_refuses_it(
    make_server: Callable[..., Any],
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    server = await tls_server(make_server)
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.open_connection(
            HOST,
            server.port,
            ssl=ssl.create_default_context(),
            server_hostname="www.alphaess.com",
        )
    await events.wait_for(lambda: bool(foreign(events)))
    event = foreign(events)[0]
    assert event.foreign.kind is ForeignKind.TLS
    assert event.foreign.details["tls"] == TlsOutcome.REFUSED
    assert event.foreign.details["sni"] == "www.alphaess.com"
    assert "checks the cloud's certificate" in caplog.text


async def test_a_stalled_handshake_is_closed_at_its_deadline(
    make_server: Callable[..., Any],
    events: EventLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tls_answer, "HANDSHAKE_TIMEOUT", 0.2)
    server = await tls_server(make_server)
    hello = await recorded_client_hello()
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        writer.write(hello[: len(hello) // 2])  # half a ClientHello, then silence
        async with asyncio.timeout(10):
            while await reader.read(4096):
                pass
    finally:
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    await events.wait_for(lambda: bool(foreign(events)))
    details = foreign(events)[0].foreign.details
    assert details["tls"] == TlsOutcome.FAILED
    assert details["why"] == "no handshake within 0 s"
    await all_closed(server)


async def test_a_thousand_hellos_make_one_outcome_and_few_lines(
    make_server: Callable[..., Any],
    events: EventLog,
    ticks: Ticks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    server = await tls_server(make_server, ticks=ticks)
    hello = await recorded_client_hello()

    async def one() -> None:
        _, writer = await asyncio.open_connection(HOST, server.port)
        writer.write(hello)
        await writer.drain()
        writer.close()

    for _ in range(100):
        await asyncio.gather(*(one() for _ in range(10)))
        ticks.advance(3)  # the door's rate lets each batch in
    await all_closed(server)
    # Each one ended: answered, or closed by the door's per-address limit
    # (four unidentified connections an address) before it was read.
    assert sum(server.connections.counts.values()) == 1000
    assert len(foreign(events)) >= 100
    fresh = [e for e in foreign(events) if e.first]
    assert len(fresh) == 1
    assert fresh[0].foreign.details["tls"] == TlsOutcome.REFUSED
    lines = [
        r
        for r in caplog.records
        if r.levelno >= logging.INFO and r.name.startswith("custom_components")
    ]
    assert len(lines) <= 3, [r.getMessage() for r in lines]
    assert len(server._foreign_reported) == 1
    assert server.tls is not None
    assert len(server.tls._reported) <= 1
    assert len(server.connections.recent) <= 20


def test_the_key_is_never_shown() -> None:
    shown = repr(identity())
    assert "PRIVATE" not in shown
    assert identity().key.startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_without_cryptography_the_openssl_command_makes_the_certificate() -> None:
    made = tls_answer._create_with_openssl("www.alphaess.com")
    assert "BEGIN CERTIFICATE" in made.certificate
    assert server_context(made) is not None


async def test_a_handshake_cut_by_the_server_is_not_a_refusal(
    make_server: Callable[..., Any], events: EventLog
) -> None:
    server = await tls_server(make_server)
    hello = await recorded_client_hello()
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        writer.write(hello)  # a whole ClientHello: answered, then the client waits
        async with asyncio.timeout(10):
            assert await reader.read(1)
        await server.close()
    finally:
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    assert not foreign(events)
    assert server.connections.recent[-1].ended == "closed by the server"


def test_mqtt_topics_are_read_from_either_version() -> None:
    subscribe_5 = mqtt_packet(
        0x82, b"\x00\x01\x02\x0b\x01" + mqtt_string(f"alpha/{SERIAL}/cmd") + b"\x01"
    )
    assert tls_answer._topics(subscribe_5, v5=True) == ["alpha/AL90*********42/cmd"]
    assert tls_answer._topics(MQTT_SUBSCRIBE + MQTT_PUBLISH) == [
        "alpha/AL90*********42/cmd",
        "alpha/AL90*********42/data",
    ]
    # Cut or hostile packets end the reading, never raise.
    assert tls_answer._topics(MQTT_PUBLISH[:5]) == []
    assert tls_answer._topics(b"\x30\xff\xff\xff\xff\x7f") == []
    many = b"".join(mqtt_packet(0x30, mqtt_string(f"t/{n}") + b"x") for n in range(20))
    assert len(tls_answer._topics(many)) == tls_answer.MAX_TOPICS

"""A TLS ClientHello is answered with our certificate; each outcome is told once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
from pathlib import Path
import shutil
import socket
import ssl
import sys
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
    TlsUnavailableError,
    create_identity,
    server_context,
)
from custom_components.alphaess_local.protocol.codec.recognize import Foreign, recognize
from custom_components.alphaess_local.protocol.server import (
    session as session_module,
    tls_answer,
)
from custom_components.alphaess_local.protocol.server.log_budget import (
    MAX_LOGGED_REFUSALS,
)
from custom_components.alphaess_local.protocol.server.server import AlphaServer
from custom_components.alphaess_local.protocol.server.tls_answer import Upgraded
from custom_components.alphaess_local.protocol.simulator import SimulatedBattery

from .conftest import HOST, EventLog, Ticks, await_chain
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


# --- a TLS client driven by hand: every byte it sends is the test's choice ----------


class HandClient:
    """A TLS client over a raw socket, its records fed and sent by the test.

    Python's own TLS client would hide what a stick's stack may do: stop half-way,
    send an alert, corrupt a record, drop the TCP link without a ``close_notify``.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        context: ssl.SSLContext,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(
            self.incoming, self.outgoing, server_hostname="www.alphaess.com"
        )

    @classmethod
    async def connect(cls, port: int, context: ssl.SSLContext) -> HandClient:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer, context)

    async def send_pending(self) -> None:
        if self.outgoing.pending:
            self.writer.write(self.outgoing.read())
            await self.writer.drain()

    async def handshake(self) -> None:
        """Complete the handshake; a refusal's alert still goes out before raising."""
        async with asyncio.timeout(10):
            while True:
                try:
                    self.tls.do_handshake()
                except ssl.SSLWantReadError:
                    await self.send_pending()
                    data = await self.reader.read(65536)
                    if not data:
                        raise ConnectionResetError("closed in the handshake") from None
                    self.incoming.write(data)
                    continue
                except ssl.SSLError:
                    await self.send_pending()
                    raise
                await self.send_pending()
                return

    def encrypt(self, plain: bytes) -> bytes:
        self.tls.write(plain)
        return self.outgoing.read()

    async def read_plain(self) -> bytes:
        """The next decrypted bytes, or ``b""`` once the server closed the link."""
        async with asyncio.timeout(10):
            while True:
                try:
                    return self.tls.read(65536)
                except ssl.SSLWantReadError:
                    data = await self.reader.read(65536)
                    if not data:
                        return b""
                    self.incoming.write(data)

    async def wait_closed_by_server(self) -> None:
        async with asyncio.timeout(10):
            with contextlib.suppress(ConnectionError):
                while await self.reader.read(65536):
                    pass

    async def close(self) -> None:
        self.writer.close()
        await asyncio.gather(self.writer.wait_closed(), return_exceptions=True)


def checking(
    maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
) -> ssl.SSLContext:
    """A client that checks the server's certificate against the public roots."""
    context = ssl.create_default_context()
    context.maximum_version = maximum
    return context


@pytest.mark.parametrize(
    "maximum", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.MAXIMUM_SUPPORTED]
)
async def test_a_refusal_alert_names_the_alert(
    make_server: Callable[..., Any],
    events: EventLog,
    maximum: ssl.TLSVersion,
) -> None:
    """The stick sends its ``unknown_ca`` alert, as a careful TLS stack does."""
    server = await tls_server(make_server)
    client = await HandClient.connect(server.port, checking(maximum))
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            await client.handshake()
        await events.wait_for(lambda: bool(foreign(events)))
    finally:
        await client.close()
    details = foreign(events)[0].foreign.details
    assert details["tls"] == TlsOutcome.REFUSED
    assert details["why"] == "alert unknown_ca"


async def test_another_alert_is_a_failed_handshake_not_a_refusal(
    make_server: Callable[..., Any], events: EventLog
) -> None:
    """An alert that says nothing of our certificate (``handshake_failure``)."""
    server = await tls_server(make_server)
    client = await HandClient.connect(server.port, trusting())
    try:
        with contextlib.suppress(ssl.SSLWantReadError):
            client.tls.do_handshake()
        await client.send_pending()  # the ClientHello
        async with asyncio.timeout(10):
            assert await client.reader.read(65536)  # our answer
        client.writer.write(b"\x15\x03\x03\x00\x02\x02\x28")  # fatal handshake_failure
        await events.wait_for(lambda: bool(foreign(events)))
    finally:
        await client.close()
    details = foreign(events)[0].foreign.details
    assert details["tls"] == TlsOutcome.FAILED
    assert details["why"] not in ("TLS error", "closed after our certificate")
    assert "alert" not in details["why"].split()


async def test_a_client_gone_before_our_answer_failed_the_handshake(
    make_server: Callable[..., Any], events: EventLog
) -> None:
    """Half a ClientHello, then the TCP link closes: nothing of ours was refused."""
    server = await tls_server(make_server)
    hello = await recorded_client_hello()
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        writer.write(hello[: len(hello) // 2])
        await writer.drain()
        writer.write_eof()
        await events.wait_for(lambda: bool(foreign(events)))
    finally:
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    details = foreign(events)[0].foreign.details
    assert details["tls"] == TlsOutcome.FAILED
    assert details["why"] == "closed during the handshake"
    await all_closed(server)


async def test_a_battery_that_drops_tcp_without_close_notify_is_seen_leaving(
    make_server: Callable[..., Any], events: EventLog
) -> None:
    """Many sticks just close the socket: the session still ends, as in clear text."""
    server = await tls_server(make_server)
    client = await HandClient.connect(server.port, trusting())
    try:
        await client.handshake()
        client.writer.write(client.encrypt(login().encode()))
        await client.writer.drain()
        decoder = FrameDecoder()
        plain = await client.read_plain()
        assert [f.command for f in decoder.feed(plain) if isinstance(f, Frame)] == [2]
        await events.wait_for(lambda: SERIAL in server.connected_serials)
        client.writer.write_eof()  # a FIN, no close_notify
        await events.wait_for(lambda: SERIAL not in server.connected_serials)
    finally:
        await client.close()
    record = [r for r in server.connections.recent if r.spoke is Spoke.BATTERY][-1]
    assert record.ended == "closed by the peer"


async def test_a_corrupted_record_closes_the_connection(
    make_server: Callable[..., Any], events: EventLog
) -> None:
    """A record whose integrity check fails: nothing of it is read, the link ends."""
    server = await tls_server(make_server)
    client = await HandClient.connect(server.port, trusting())
    try:
        await client.handshake()
        client.writer.write(client.encrypt(login().encode()))
        await client.writer.drain()
        assert await client.read_plain()  # logged in
        await events.wait_for(lambda: SERIAL in server.connected_serials)
        damaged = bytearray(client.encrypt(realtime(soc="99.0").encode()))
        damaged[-1] ^= 0xFF
        client.writer.write(bytes(damaged))
        await client.wait_closed_by_server()
        await events.wait_for(lambda: SERIAL not in server.connected_serials)
    finally:
        await client.close()
    assert not events.messages(RealtimeRecord)
    await all_closed(server)


def hostile_hello(announced: int) -> bytes:
    """A ClientHello record whose handshake message announces ``announced`` bytes."""
    body = b"\x01" + announced.to_bytes(3, "big") + b"\x03\x03" + bytes(16384 - 6)
    return b"\x16\x03\x01" + len(body).to_bytes(2, "big") + body


async def answer_directly(
    socket_enabled: None, hello: bytes, more: bytes = b""
) -> Foreign:
    """Hand ``hello`` to :meth:`TlsAnswer.upgrade` as the session would; the peer
    then sends ``more`` over a real loopback connection."""
    found = recognize(hello)
    assert found is not None
    assert found.kind is ForeignKind.TLS
    answer = TlsAnswer(server_context(identity()), Ticks())
    outcome: asyncio.Future[Upgraded | Foreign] = asyncio.Future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            outcome.set_result(await answer.upgrade(reader, writer, hello, found))
        finally:
            writer.close()

    listener = await asyncio.start_server(serve, HOST, 0)
    try:
        _, writer = await asyncio.open_connection(
            HOST, listener.sockets[0].getsockname()[1]
        )
        try:
            with contextlib.suppress(ConnectionError):
                for start in range(0, len(more), 16384):
                    writer.write(more[start : start + 16384])
                    await writer.drain()
            async with asyncio.timeout(10):
                result = await outcome
        finally:
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    finally:
        listener.close()
        await listener.wait_closed()
    assert isinstance(result, Foreign)
    return result


async def test_a_handshake_that_never_ends_is_cut_at_its_byte_limit(
    socket_enabled: None,
) -> None:
    """A ClientHello announcing 100 kB, sent record by record: cut past 64 KiB."""
    first = hostile_hello(100_000)
    rest = b"".join(
        b"\x16\x03\x01\x40\x00" + bytes(16384) for _ in range(5)
    )  # its continuation, five more full records
    result = await answer_directly(socket_enabled, first, rest)
    assert result.details["tls"] == TlsOutcome.FAILED
    assert result.details["why"] == "handshake too long"


async def test_a_first_read_of_a_whole_buffer_is_not_answered(
    socket_enabled: None,
) -> None:
    """The session's first read was already 64 KiB: no TLS stack sends that much."""
    hello = b"".join(hostile_hello(100_000) for _ in range(4))
    assert len(hello) >= tls_answer.MAX_HANDSHAKE_BYTES
    result = await answer_directly(socket_enabled, hello)
    assert result.details["tls"] == TlsOutcome.FAILED
    assert result.details["why"] == "ClientHello too long"


async def test_a_battery_accepting_our_certificate_is_told_once_an_hour(
    make_server: Callable[..., Any],
    events: EventLog,
    ticks: Ticks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stick that reconnects every minute is not a log line every minute."""
    caplog.set_level(logging.INFO)
    server = await tls_server(make_server, ticks=ticks)

    async def one_visit() -> None:
        reader, writer = await asyncio.open_connection(
            HOST, server.port, ssl=trusting(), server_hostname="www.alphaess.com"
        )
        try:
            writer.write(login().encode())
            await writer.drain()
            async with asyncio.timeout(10):
                assert await reader.read(4096)  # the acknowledgement
        finally:
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)
        await events.wait_for(lambda: SERIAL not in server.connected_serials)

    def told() -> int:
        return sum("accepted our certificate" in r.getMessage() for r in caplog.records)

    for _ in range(3):
        await one_visit()
        ticks.advance(60)
    assert told() == 1
    ticks.advance(3600)
    await one_visit()
    assert told() == 2


async def test_mqtt_inside_tls_that_publishes_nothing_is_named_in_time(
    make_server: Callable[..., Any],
    events: EventLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A CONNECT, then silence: named MQTT when the listening time is up."""
    monkeypatch.setattr(tls_answer, "MQTT_LISTEN", 0.2)
    server = await tls_server(make_server)
    reader, writer = await asyncio.open_connection(
        HOST, server.port, ssl=trusting(), server_hostname="www.alphaess.com"
    )
    try:
        writer.write(MQTT_CONNECT)
        async with asyncio.timeout(10):
            assert await reader.readexactly(4) == b"\x20\x02\x00\x00"
        await events.wait_for(lambda: bool(foreign(events)))
    finally:
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    details = foreign(events)[0].foreign.details
    assert details["tls"] == TlsOutcome.READ
    assert "topics" not in details


async def test_mqtt_inside_tls_that_leaves_after_connect_is_named(
    make_server: Callable[..., Any], events: EventLog
) -> None:
    server = await tls_server(make_server)
    client = await HandClient.connect(server.port, trusting())
    try:
        await client.handshake()
        client.writer.write(client.encrypt(MQTT_CONNECT))
        await client.writer.drain()
        assert await client.read_plain() == b"\x20\x02\x00\x00"
        client.writer.write(client.encrypt(MQTT_SUBSCRIBE))
        client.writer.write_eof()
        await events.wait_for(lambda: bool(foreign(events)))
    finally:
        await client.close()
    details = foreign(events)[0].foreign.details
    assert details["client_id"] == "AL90*********42"
    assert details["topics"] == "alpha/AL90*********42/cmd"


def test_hostile_mqtt_packets_give_bounded_masked_topics() -> None:
    long_topic = f"alpha/{SERIAL}/" + "x" * 200
    body = mqtt_string(long_topic) + b"{}"
    publish = bytes([0x30, (len(body) & 0x7F) | 0x80, len(body) >> 7]) + body
    shown = tls_answer._topics(publish + publish)
    assert len(shown) == 1  # the same topic twice is named once
    assert shown[0].startswith("alpha/AL90*********42/xxx")
    assert len(shown[0]) <= 64 + 3
    assert SERIAL not in shown[0]
    # A SUBSCRIBE too short to hold a filter names nothing.
    assert tls_answer._topics(mqtt_packet(0x82, b"\x00\x01\x00")) == []
    # MQTT 5: a property length in two bytes, and one that runs off the packet.
    properties = b"\x80\x01" + bytes(128)
    subscribe_5 = mqtt_packet(0x82, b"\x00\x01" + properties[:2] + bytes(0)) + b""
    assert tls_answer._topics(subscribe_5, v5=True) == []
    long_5 = bytes([0x82, 0x80 | 0x0B, 0x01]) + b"\x00\x01" + properties
    long_5 += mqtt_string("alpha/cmd") + b"\x01"
    long_5 = bytes([0x82]) + _remaining(len(long_5) - 3) + long_5[3:]
    assert tls_answer._topics(long_5, v5=True) == ["alpha/cmd"]
    running_off = mqtt_packet(0x82, b"\x00\x01\xff\xff\xff")
    assert tls_answer._topics(running_off, v5=True) == []


def _remaining(length: int) -> bytes:
    """MQTT's variable byte integer."""
    out = bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def test_only_mqtt_is_given_topics() -> None:
    tls = Foreign(ForeignKind.TLS, {"sni": "www.alphaess.com"})
    assert tls_answer.with_topics(tls, ["alpha/x"]) is tls


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_the_standalone_package_without_cryptography_uses_openssl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``alphaess-cloud serve`` installed alone has no ``cryptography``."""
    monkeypatch.setitem(sys.modules, "cryptography", None)  # import fails
    made = create_identity("www.alphaess.com")
    assert "BEGIN CERTIFICATE" in made.certificate
    assert server_context(made) is not None


def test_with_neither_cryptography_nor_openssl_the_owner_is_told_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no openssl
    with pytest.raises(TlsUnavailableError, match="--tls-cert and --tls-key"):
        create_identity()


async def test_closing_the_server_drops_an_encrypted_battery_at_once(
    make_server: Callable[..., Any], events: EventLog
) -> None:
    server = await tls_server(make_server)
    client = await HandClient.connect(server.port, trusting())
    try:
        await client.handshake()
        client.writer.write(client.encrypt(login().encode()))
        await client.writer.drain()
        assert await client.read_plain()  # logged in
        await events.wait_for(lambda: SERIAL in server.connected_serials)
        async with asyncio.timeout(10):
            await server.close()
        await client.wait_closed_by_server()
    finally:
        await client.close()
    record = [r for r in server.connections.recent if r.spoke is Spoke.BATTERY][-1]
    assert record.ended == "closed by the server"
    assert server.connection_count == 0


async def test_an_encrypted_peer_that_never_reads_our_replies_is_closed(
    make_server: Callable[..., Any],
    events: EventLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Encrypted acks pile up unread: the session waits, bounded, then gives up."""
    monkeypatch.setattr(session_module, "WRITE_TIMEOUT", 0.5)
    server = await tls_server(make_server)
    loop = asyncio.get_running_loop()
    peer = socket.socket()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peer.setblocking(False)
    await loop.sock_connect(peer, (HOST, server.port))
    reader, writer = await asyncio.open_connection(sock=peer)
    client = HandClient(reader, writer, trusting())
    flood: asyncio.Task[None] | None = None
    try:
        await client.handshake()
        client.writer.write(client.encrypt(login().encode()))
        await events.wait_for(lambda: SERIAL in server.connected_serials)
        (held,) = list(server._sessions)
        raw = held._writer.transport.get_extra_info("socket")
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        burst = realtime().encode() * 200

        async def send_for_ever() -> None:
            while True:  # each record sealed anew: a replayed one fails its check
                client.writer.write(client.encrypt(burst))
                await client.writer.drain()

        flood = asyncio.create_task(send_for_ever())
        await events.wait_for(lambda: SERIAL not in server.connected_serials)
    finally:
        if flood is not None:
            flood.cancel()
            await asyncio.gather(flood, return_exceptions=True)
        await client.close()
    record = [r for r in server.connections.recent if r.spoke is Spoke.BATTERY][-1]
    assert record.ended == "closed: it did not read our replies"


async def test_an_encrypted_peer_that_reads_late_is_waited_for(
    make_server: Callable[..., Any], events: EventLog
) -> None:
    """Replies wait while the peer does not read, and flow again once it does."""
    server = await tls_server(make_server)
    loop = asyncio.get_running_loop()
    peer = socket.socket()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peer.setblocking(False)
    await loop.sock_connect(peer, (HOST, server.port))
    reader, writer = await asyncio.open_connection(sock=peer)
    client = HandClient(reader, writer, trusting())
    sent = 0
    try:
        await client.handshake()
        client.writer.write(client.encrypt(login().encode()))
        await events.wait_for(lambda: SERIAL in server.connected_serials)
        (held,) = list(server._sessions)
        raw = held._writer.transport.get_extra_info("socket")
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        burst = realtime().encode() * 100

        def held_in_drain() -> bool:
            return any("drain" in await_chain(t) for t in server._sessions.values())

        async with asyncio.timeout(30):
            while not held_in_drain():  # a burst, then a moment to answer it
                client.writer.write(client.encrypt(burst))
                sent += 100
                await client.writer.drain()
                await asyncio.sleep(0.01)
        decoder, acks = FrameDecoder(), 0
        async with asyncio.timeout(30):
            while acks < sent + 1:  # every record, and the login, acknowledged
                plain = await client.read_plain()
                assert plain, "closed while its replies were read"
                acks += sum(isinstance(f, Frame) for f in decoder.feed(plain))
        assert SERIAL in server.connected_serials
    finally:
        await client.close()


async def test_batteries_told_for_a_lan_of_tls_devices_stay_bounded(
    make_server: Callable[..., Any], events: EventLog, ticks: Ticks
) -> None:
    """Each address's "accepted our certificate" is remembered for an hour, but
    never more than a table's worth: a device walking through addresses (or a LAN
    of sticks) cannot grow it."""
    server = await tls_server(make_server, ticks=ticks)
    count = MAX_LOGGED_REFUSALS + 1
    hosts = [f"127.0.{n // 200 + 20}.{n % 200 + 1}" for n in range(count)]

    async def one(n: int) -> None:
        reader, writer = await asyncio.open_connection(
            HOST,
            server.port,
            ssl=trusting(),
            server_hostname="www.alphaess.com",
            local_addr=(hosts[n], 0),
        )
        try:
            writer.write(login(f"AL9002021{n:06d}").encode())
            await writer.drain()
            async with asyncio.timeout(10):
                assert await reader.read(4096)  # acknowledged
        finally:
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)

    for start in range(0, count, 10):
        await asyncio.gather(*(one(n) for n in range(start, min(start + 10, count))))
        ticks.advance(3)  # the door's rate lets each batch in
    await all_closed(server)
    assert len(events.messages(Login)) == count
    assert server.tls is not None
    assert 0 < len(server.tls._reported) <= MAX_LOGGED_REFUSALS

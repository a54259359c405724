"""Answering a battery that opens with TLS: our certificate, then the same session.

Newer firmware opens its cloud link with a TLS ClientHello. Whether its network stick
checks the server's certificate nobody knew; many embedded clients do not. Closing the
connection taught the owner nothing, so the listener answers: it completes the
handshake with a self-signed certificate made once (per Home Assistant entry, or by
the terminal tool) and hands the decrypted stream to the very same
:class:`~.session.Session` code that reads clear text. Three outcomes follow, each
told once per address (``docs/protocol.md``, "Encrypted connections"):

1. the handshake completes and the battery speaks our protocol inside: it is read;
2. it completes and something else is inside (MQTT, HTTP): named like any foreign
   protocol, with what could be learned safely (MQTT topics, serials masked);
3. the client refuses our certificate (an ``unknown_ca`` / ``bad_certificate`` /
   ``certificate_unknown`` alert, or a close right after our answer): its cloud
   link cannot be read locally.

Why a memory-BIO handshake rather than ``loop.start_tls``: the session already read
the ClientHello to recognise it, and ``start_tls`` would wait for bytes the client
has sent already. Here an :class:`ssl.SSLObject` is fed those bytes, then the
connection's transport is handed to a small bridge protocol that decrypts into a
fresh :class:`asyncio.StreamReader` and encrypts what the session writes. Bounded
like every other connection: the handshake has :data:`HANDSHAKE_TIMEOUT`, at most
:data:`MAX_HANDSHAKE_BYTES` are taken before it completes, the decrypted stream
pauses the socket as a clear-text one does, and the door's per-address limits
applied before any of this ran.

The key never leaves :class:`TlsIdentity` except into the SSL context (through a
private temporary file, as :meth:`ssl.SSLContext.load_cert_chain` only reads files)
and the owner's storage; its ``repr`` leaves it out so no log or dump can show it.
Certificates are made with ``cryptography`` (part of Home Assistant) or, for the
standalone package which has no dependencies, the ``openssl`` command if present.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
from enum import StrEnum
import logging
import os
from pathlib import Path
import shutil
import ssl
import subprocess
import tempfile
import time
from typing import Final

from ..codec.escape import is_serial, printable
from ..codec.recognize import Foreign, ForeignKind
from ..codec.redact import mask_serial
from .log_budget import MAX_LOGGED_REFUSALS, REFUSAL_LOG_INTERVAL

_LOGGER = logging.getLogger(__package__ + ".server")

DEFAULT_NAME: Final = "www.alphaess.com"
# The client has this long to complete its handshake after its ClientHello.
HANDSHAKE_TIMEOUT: Final = 10.0
# Encrypted bytes taken from a client before its handshake completes (a ClientHello
# and a key exchange are a few KiB); more closes it.
MAX_HANDSHAKE_BYTES: Final = 64 * 1024
# Decrypted bytes handed to the session per read, as a clear-text read.
_READ_SIZE: Final = 64 * 1024
CERT_DAYS: Final = 3650
# MQTT inside TLS: after our CONNACK, this long and this many bytes to learn topics.
MQTT_LISTEN: Final = 3.0
MQTT_LISTEN_BYTES: Final = 16 * 1024
MAX_TOPICS: Final = 8
_TOPIC_SHOWN: Final = 64
# OpenSSL's names for the alerts a client sends when it does not trust our answer.
_REFUSAL_ALERTS: Final = {
    "TLSV1_ALERT_UNKNOWN_CA": "unknown_ca",
    "SSLV3_ALERT_BAD_CERTIFICATE": "bad_certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "certificate_unknown",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "unsupported_certificate",
    "TLSV1_ALERT_ACCESS_DENIED": "access_denied",
}
_TLS_NAMES: Final = {
    "TLSv1": "TLS 1.0",
    "TLSv1.1": "TLS 1.1",
    "TLSv1.2": "TLS 1.2",
    "TLSv1.3": "TLS 1.3",
}


class TlsUnavailableError(RuntimeError):
    """No way to make a certificate here (neither ``cryptography`` nor ``openssl``)."""


class TlsOutcome(StrEnum):
    """How a TLS connection we answered went (the ``tls`` detail of a foreign one)."""

    READ = "read"  # handshake done; what is inside is then read or named
    REFUSED = "certificate refused"
    FAILED = "handshake failed"


@dataclass(frozen=True, slots=True)
class TlsIdentity:
    """Our certificate and its private key, both PEM; ``repr`` never shows the key."""

    certificate: str
    key: str = field(repr=False)


def create_identity(name: str = DEFAULT_NAME) -> TlsIdentity:
    """A new self-signed certificate for ``name`` (blocking: run it in an executor).

    RSA 2048, the key type every embedded TLS stack accepts.
    """
    try:
        return _create_with_cryptography(name)
    except ImportError:
        pass
    if shutil.which("openssl") is None:
        raise TlsUnavailableError(
            "Answering TLS needs a certificate: install 'cryptography', put the "
            "'openssl' command on the PATH, or pass --tls-cert and --tls-key"
        )
    return _create_with_openssl(name)


def _create_with_cryptography(name: str) -> TlsIdentity:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=CERT_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.DNSName("*.alphaess.com")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return TlsIdentity(
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )


def _create_with_openssl(name: str) -> TlsIdentity:
    with tempfile.TemporaryDirectory() as folder:
        cert, key = Path(folder, "cert.pem"), Path(folder, "key.pem")
        subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [  # noqa: S607 - found on the PATH above
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                str(CERT_DAYS),
                "-subj",
                f"/CN={name}",
                "-addext",
                f"subjectAltName=DNS:{name},DNS:*.alphaess.com",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return TlsIdentity(cert.read_text(), key.read_text())


def load_identity(cert_path: str, key_path: str) -> TlsIdentity:
    """The owner's own certificate and key (``serve --tls-cert/--tls-key``)."""
    return TlsIdentity(Path(cert_path).read_text(), Path(key_path).read_text())


def server_context(identity: TlsIdentity) -> ssl.SSLContext:
    """A server context with ``identity`` (blocking: a private temporary file).

    Old protocol versions and ciphers are allowed: the point is to learn what the
    firmware does, on a connection it opened to us on the LAN.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.num_tickets = 0  # no resumption, so no early data before we answer
    try:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ssl.SSLError, ValueError):
        pass  # this OpenSSL's defaults, then
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "identity.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(identity.key)
            file.write("\n")
            file.write(identity.certificate)
        context.load_cert_chain(path)
    return context


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """What the handshake told: shown in the connection log and diagnostics."""

    version: str
    cipher: str
    sni: str

    def describe(self) -> str:
        """``TLS 1.3, TLS_AES_256_GCM_SHA384, SNI www.alphaess.com``."""
        return f"{self.version}, {self.cipher}, SNI {self.sni}"


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The handshake completed: the session reads and writes through these."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    info: TlsInfo


class TlsAnswer:
    """The server's TLS answer: one context, and outcomes logged once per address."""

    def __init__(
        self,
        context: ssl.SSLContext,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        """Answer with ``context`` (:func:`server_context`)."""
        self.context = context
        self._ticks = ticks
        self._reported: dict[tuple[str, str], float] = {}

    def fresh(self, host: str, outcome: str) -> bool:
        """Whether ``outcome`` from ``host`` was not told within the hour (and is now).

        Keyed by address and outcome, both ours to name: a client retrying every
        second costs one line an hour, and the table is bounded.
        """
        now = self._ticks()
        key = (host, outcome)
        if now - self._reported.get(key, -REFUSAL_LOG_INTERVAL) < REFUSAL_LOG_INTERVAL:
            return False
        if len(self._reported) >= MAX_LOGGED_REFUSALS:
            self._reported.clear()
        self._reported[key] = now
        return True

    def read(self, host: str, label: str, info: TlsInfo) -> None:
        """Outcome 1's log line: the battery accepted our certificate."""
        if self.fresh(host, TlsOutcome.READ):
            _LOGGER.warning(
                "%s accepted our certificate (%s): its encrypted connection is read",
                label,
                info.describe(),
            )

    async def upgrade(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        hello: bytes,
        foreign: Foreign,
    ) -> Upgraded | Foreign:
        """Answer the ClientHello ``hello`` that ``reader`` gave; bounded in time.

        Returns the decrypted streams, or ``foreign`` (the ClientHello's) with the
        outcome and, for a refusal, the client's alert added to its details.
        """
        transport = writer.transport
        if len(hello) >= MAX_HANDSHAKE_BYTES or not isinstance(
            transport, asyncio.Transport
        ):
            return _failed(foreign, TlsOutcome.FAILED, "ClientHello too long")
        loop = asyncio.get_running_loop()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        sslobj = self.context.wrap_bio(incoming, outgoing, server_side=True)
        original = transport.get_protocol()
        bridge = _Bridge(loop, sslobj, incoming, outgoing, transport, original)
        transport.set_protocol(bridge)
        bridge.received(hello)
        transport.resume_reading()
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                await bridge.handshake
        except TimeoutError:
            outcome, why = (
                TlsOutcome.FAILED,
                f"no handshake within {HANDSHAKE_TIMEOUT:.0f} s",
            )
        except ssl.SSLError as err:
            # OpenSSL's errors name a reason; ours (too many bytes) has a message only.
            reason = getattr(err, "reason", None) or str(
                err.args[-1] if err.args else "TLS error"
            )
            alert = _REFUSAL_ALERTS.get(reason)
            if alert is not None:
                outcome, why = TlsOutcome.REFUSED, f"alert {alert}"
            else:
                outcome, why = TlsOutcome.FAILED, printable(reason)
        except ConnectionError:
            if bridge.answered:
                outcome, why = TlsOutcome.REFUSED, "closed after our certificate"
            else:
                outcome, why = TlsOutcome.FAILED, "closed during the handshake"
        else:
            inner = bridge.attach()
            cipher = sslobj.cipher()
            version = sslobj.version() or "TLS"
            info = TlsInfo(
                _TLS_NAMES.get(version, printable(version)),
                cipher[0] if cipher else "-",
                foreign.details.get("sni", "-"),
            )
            return Upgraded(inner[0], inner[1], info)
        # Hand the socket back, so the session's close is told when it is gone.
        transport.set_protocol(original)
        return _failed(foreign, outcome, why)


def _failed(foreign: Foreign, outcome: TlsOutcome, why: str) -> Foreign:
    return Foreign(foreign.kind, {**foreign.details, "tls": str(outcome), "why": why})


def inside(foreign: Foreign, info: TlsInfo) -> Foreign:
    """``foreign`` as found inside a TLS connection we answered."""
    details = {**foreign.details, "tls": str(TlsOutcome.READ)}
    return Foreign(foreign.kind, {**details, "tls_session": info.describe()})


class _Bridge(asyncio.Protocol):
    """The socket's protocol once TLS is answered: decrypts for the session's reader.

    Before the handshake completes it only feeds :class:`ssl.SSLObject`; afterwards
    it hands plain text to a :class:`asyncio.StreamReaderProtocol`, whose reader
    pauses the socket when the session falls behind, as on a clear-text connection.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sslobj: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        raw: asyncio.Transport,
        original: asyncio.BaseProtocol,
    ) -> None:
        self.loop = loop
        self.sslobj = sslobj
        self.incoming = incoming
        self.outgoing = outgoing
        self.raw = raw
        self.original = original
        self.handshake: asyncio.Future[None] = loop.create_future()
        self.answered = False  # our server hello went out
        self.taken = 0
        self.inner: asyncio.StreamReaderProtocol | None = None

    def attach(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The session's new reader and writer, fed with what is already decrypted."""
        reader = asyncio.StreamReader(limit=_READ_SIZE, loop=self.loop)
        inner = asyncio.StreamReaderProtocol(reader, loop=self.loop)
        transport = _TlsTransport(self)
        inner.connection_made(transport)
        self.inner = inner
        self.pump()
        return reader, asyncio.StreamWriter(transport, inner, reader, self.loop)

    def flush(self) -> None:
        """Send what the TLS layer has for the client."""
        if self.outgoing.pending:
            self.answered = True
            data = self.outgoing.read()
            if not self.raw.is_closing():
                self.raw.write(data)

    def received(self, data: bytes) -> None:
        self.incoming.write(data)
        if self.handshake.done():
            self.pump()
            return
        self.taken += len(data)
        if self.taken > MAX_HANDSHAKE_BYTES:
            self.handshake.set_exception(ssl.SSLError("handshake too long"))
            self.raw.pause_reading()
            return
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self.flush()
            return
        except ssl.SSLError as err:
            self.flush()  # our alert
            self.handshake.set_exception(err)
            self.raw.pause_reading()
            return
        self.flush()
        self.handshake.set_result(None)
        # What came with the client's Finished waits in ``incoming`` for attach().

    def pump(self) -> None:
        """Decrypt what arrived and hand it to the session's reader."""
        inner = self.inner
        if inner is None:
            return
        while True:
            try:
                data = self.sslobj.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLError as err:  # a client's close_notify reads as b""
                _LOGGER.debug(
                    "TLS error on %s: %s", self.raw.get_extra_info("peername"), err
                )
                self.raw.abort()
                break
            if not data:
                inner.eof_received()
                break
            inner.data_received(data)
        self.flush()  # key updates and the like

    # --- asyncio.Protocol ------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.received(data)

    def eof_received(self) -> bool:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionResetError("closed in handshake"))
        elif self.inner is not None:
            self.inner.eof_received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionResetError("closed in handshake"))
        if self.inner is not None:
            self.inner.connection_lost(exc)
        if isinstance(self.original, asyncio.Protocol):
            self.original.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


class _TlsTransport(asyncio.Transport):
    """What the session's writer writes to: encrypted onto the socket."""

    def __init__(self, bridge: _Bridge) -> None:
        super().__init__()
        self._info: dict[str, object] = {"ssl_object": bridge.sslobj}
        self._bridge = bridge
        self._raw = bridge.raw

    def get_extra_info(self, name: str, default: object = None) -> object:
        if name in self._info:
            return self._info[name]
        return self._raw.get_extra_info(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._raw.is_closing():
            return
        try:
            self._bridge.sslobj.write(data)
        except ssl.SSLError:
            self._raw.abort()
            return
        self._bridge.flush()

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._raw.get_write_buffer_limits()

    def set_write_buffer_limits(
        self, high: int | None = None, low: int | None = None
    ) -> None:
        self._raw.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return False

    def is_closing(self) -> bool:
        return self._raw.is_closing()

    def close(self) -> None:
        if self._raw.is_closing():
            return
        with contextlib.suppress(ssl.SSLError, ValueError):
            self._bridge.sslobj.unwrap()  # our close_notify
        self._bridge.flush()
        self._raw.close()

    def abort(self) -> None:
        self._raw.abort()

    def is_reading(self) -> bool:
        return self._raw.is_reading()

    def pause_reading(self) -> None:
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        self._raw.resume_reading()

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._bridge.inner or self._bridge

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        raise NotImplementedError


# --- MQTT inside TLS: what it would publish ------------------------------------

_CONNACK: Final = b"\x20\x02\x00\x00"
_CONNACK_5: Final = b"\x20\x03\x00\x00\x00"  # MQTT 5: empty properties


async def mqtt_topics(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    connect: bytes,
    foreign: Foreign,
) -> list[str]:
    """Accept an MQTT CONNECT and read its first packets' topics, bounded.

    The topic names tell the project what the firmware publishes; a serial in them
    is masked like any serial. Until its first PUBLISH, at most :data:`MQTT_LISTEN`
    seconds and :data:`MQTT_LISTEN_BYTES` bytes; nothing is answered but the CONNACK.
    """
    v5 = foreign.details.get("level") == "5"
    writer.write(_CONNACK_5 if v5 else _CONNACK)
    data = bytearray(connect[_packet_end(connect) or len(connect) :])
    try:
        async with asyncio.timeout(MQTT_LISTEN):
            while len(data) < MQTT_LISTEN_BYTES and not _published(data):
                chunk = await reader.read(MQTT_LISTEN_BYTES - len(data))
                if not chunk:
                    break
                data += chunk
    except (TimeoutError, ConnectionError, OSError):
        pass
    return _topics(bytes(data), v5=v5)


def _packet_end(data: bytes | bytearray, pos: int = 0) -> int | None:
    """Where the MQTT packet at ``pos`` ends, or ``None`` if it is cut."""
    length, shift, i = 0, 0, pos + 1
    while i < len(data) and shift < 28:
        byte = data[i]
        length |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            end = i + length
            return end if end <= len(data) else None
        shift += 7
    return None


def _published(data: bytes | bytearray) -> bool:
    """Whether ``data`` holds a whole PUBLISH (what a client subscribes to comes first)."""
    pos = 0
    while (end := _packet_end(data, pos)) is not None:
        if data[pos] >> 4 == 3:
            return True
        pos = end
    return False


def _topics(data: bytes | bytearray, *, v5: bool = False) -> list[str]:
    """Topic names of the PUBLISH and SUBSCRIBE packets in ``data`` (masked)."""
    topics: list[str] = []
    pos = 0
    while pos < len(data) and len(topics) < MAX_TOPICS:
        end = _packet_end(data, pos)
        if end is None:
            break
        kind = data[pos] >> 4
        body = pos + 1
        while data[body] & 0x80:
            body += 1
        body += 1
        if kind == 3 and body + 2 <= end:  # PUBLISH: topic first
            size = int.from_bytes(data[body : body + 2], "big")
            _add(topics, bytes(data[body + 2 : min(end, body + 2 + size)]))
        elif kind == 8 and body + 4 <= end:  # SUBSCRIBE: packet id, then filters
            i = body + 2
            if v5:  # properties: a variable byte integer length, then themselves
                size, shift = 0, 0
                while i < end and shift < 28:
                    size |= (data[i] & 0x7F) << shift
                    i += 1
                    if not data[i - 1] & 0x80:
                        break
                    shift += 7
                i += size
            while i + 2 <= end and len(topics) < MAX_TOPICS:
                size = int.from_bytes(data[i : i + 2], "big")
                _add(topics, bytes(data[i + 2 : min(end, i + 2 + size)]))
                i += 2 + size + 1  # options byte
        pos = end
    return topics


def _add(topics: list[str], raw: bytes) -> None:
    parts = raw.decode("utf-8", "replace").split("/")
    shown = printable(
        "/".join(
            mask_serial(p) if is_serial(p) and any(c.isdigit() for c in p) else p
            for p in parts
        ),
        _TOPIC_SHOWN,
    )
    if shown not in topics:
        topics.append(shown)


def with_topics(foreign: Foreign, topics: list[str]) -> Foreign:
    """``foreign`` (an MQTT CONNECT inside TLS) with the topics it then used."""
    if foreign.kind is not ForeignKind.MQTT or not topics:
        return foreign
    return Foreign(foreign.kind, {**foreign.details, "topics": ",".join(topics)})


def advice(foreign: Foreign) -> str | None:
    """What the log says to the owner after a TLS outcome, if it is one."""
    outcome = foreign.details.get("tls")
    if outcome == TlsOutcome.REFUSED:
        return (
            "It refused our certificate: it checks the cloud's certificate, so its "
            "cloud link cannot be read locally. Use Modbus TCP where the inverter "
            "has it, or keep the cloud."
        )
    if outcome == TlsOutcome.FAILED:
        return "We answered its TLS, but the handshake did not complete."
    if outcome == TlsOutcome.READ:
        return "It accepted our certificate, but speaks this inside, not our protocol."
    return None

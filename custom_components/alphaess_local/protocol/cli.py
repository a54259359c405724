"""Terminal entry points: run the fake cloud alone, read an inverter, or simulate one.

``serve`` prints one JSON object per decoded message on stdout (personal data redacted)
and a readable line per event on stderr, as the original home fake server did.
``modbus`` prints the records it reads from an inverter over Modbus TCP the same way.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable
import contextlib
from dataclasses import replace
from datetime import UTC, datetime
import io
import json
import logging
from pathlib import Path
import signal
import ssl
import sys
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .codec.redact import mask_serial, to_jsonable
from .modbus.events import LinkRestored, LinkTrouble, ModbusEvent
from .modbus.reader import (
    DEFAULT_INTERVAL as MODBUS_INTERVAL,
    DEFAULT_PORT as MODBUS_PORT,
    DEFAULT_UNIT as MODBUS_UNIT,
    ModbusReader,
)
from .relay import CommandKind, RelayPolicy
from .server.credentials import CredentialPins
from .server.dump import TrafficDump
from .server.events import (
    Corrupted,
    CredentialsMismatch,
    Disconnected,
    ForeignProtocol,
    Received,
    Refused,
    ServerEvent,
)
from .server.server import DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT, AlphaServer
from .server.tls_answer import (
    TlsAnswer,
    TlsUnavailableError,
    create_identity,
    load_identity,
    server_context,
)
from .simulator import DEFAULT_SERIAL, Identity, SimulatedBattery


def _print_event(event: ServerEvent) -> None:
    stamp = event.received_at.isoformat(timespec="seconds")
    serial = mask_serial(event.serial)
    match event:
        case Received(message=message):
            kind = type(message).__name__
            line = {
                "received_at": stamp,
                "serial": serial,
                "peer": event.peer,
                "type": kind,
            }
            line["message"] = to_jsonable(message)
            print(json.dumps(line), flush=True)  # ASCII: any terminal, any pipe
            summary = f"{kind}"
        case Corrupted(corrupt=corrupt):
            summary = f"{len(corrupt.data)} corrupt bytes ({corrupt.reason})"
        case Disconnected():
            summary = "disconnected"
        case ForeignProtocol(foreign=foreign):
            summary = f"spoke {foreign.describe()}, not the cloud protocol; closed"
        case Refused(reason=reason):
            summary = f"refused ({reason}); closed"
        case CredentialsMismatch(first=first):
            summary = (
                "logged in with new credentials, not the ones pinned first (last seen "
                f"from {first.address if first else 'nowhere since the start'}); "
                "the login pinned first keeps precedence unless you start serve with "
                "--accept-new-credentials SERIAL@ADDRESS"
            )
    print(f"{stamp} {serial} {event.peer}: {summary}", file=sys.stderr, flush=True)


def _print_modbus_event(event: ServerEvent | ModbusEvent) -> None:
    """Records as ``serve`` prints them; the link's state as a line on stderr."""
    match event:
        case LinkTrouble(trouble=trouble):
            summary = f"link trouble: {trouble}"
        case LinkRestored():
            summary = "answers again"
        case _:
            _print_event(event)
            return
    stamp = event.received_at.isoformat(timespec="seconds")
    print(
        f"{stamp} {mask_serial(event.serial)} {event.peer}: {summary}",
        file=sys.stderr,
        flush=True,
    )


def _pins(path: str | None) -> CredentialPins:
    """In memory, or kept in ``path`` (salted hashes only), written off the loop."""
    if path is None:
        return CredentialPins()
    file = Path(path)
    stored = json.loads(file.read_text()) if file.exists() else {}
    loop = asyncio.get_running_loop()

    def save() -> None:
        text = json.dumps(pins.to_store(), indent=1)
        loop.run_in_executor(None, file.write_text, text)

    pins = CredentialPins(stored, on_change=save)
    return pins  # noqa: RET504 - save() needs the name


def _relay(upstream: str | None, passed: Iterable[str]) -> RelayPolicy | None:
    """``--relay HOST:PORT`` with the ``--relay-pass`` kinds; off without it."""
    if upstream is None:
        return None
    host, _, port = upstream.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"alphaess-cloud: --relay needs HOST:PORT, not {upstream!r}")
    return RelayPolicy(host, int(port), frozenset(CommandKind(k) for k in passed))


def _accepting(specs: Iterable[str]) -> dict[str, str]:
    """``--accept-new-credentials SERIAL@ADDRESS``: whose new login to pin, by serial."""
    accepted = {}
    for spec in specs:
        serial, _, address = spec.rpartition("@")
        if not serial or not address:
            raise SystemExit(
                f"alphaess-cloud: --accept-new-credentials needs SERIAL@ADDRESS, "
                f"not {spec!r}"
            )
        accepted[serial] = address
    return accepted


async def _tls_answer(args: argparse.Namespace) -> TlsAnswer | None:
    """The certificate a TLS ClientHello is answered with (``tls_answer.py``).

    The owner's own (``--tls-cert/--tls-key``), else one made for this run (with
    ``cryptography`` or the ``openssl`` command); without either, TLS connections are
    named and closed as with ``--no-tls``.
    """
    if args.no_tls:
        return None
    try:
        if args.tls_cert or args.tls_key:
            if not (args.tls_cert and args.tls_key):
                raise SystemExit("alphaess-cloud: --tls-cert and --tls-key go together")
            identity = await asyncio.to_thread(
                load_identity, args.tls_cert, args.tls_key
            )
        else:
            identity = await asyncio.to_thread(create_identity)
        context = await asyncio.to_thread(server_context, identity)
    except (TlsUnavailableError, OSError, ssl.SSLError) as err:
        print(
            f"alphaess-cloud: TLS connections will be closed, not answered: {err}",
            file=sys.stderr,
            flush=True,
        )
        return None
    return TlsAnswer(context)


async def _serve(args: argparse.Namespace) -> None:
    dump = TrafficDump(args.dump) if args.dump else None
    accepting = _accepting(args.accept_new_credentials or ())

    def on_event(event: ServerEvent) -> None:
        _print_event(event)
        # The owner said beforehand which new login is the battery's: pin it, the
        # login pinned first is refused from now on (and in the pin file).
        if (
            isinstance(event, CredentialsMismatch)
            and event.new is not None
            and accepting.get(event.serial) == event.new.address
            and server.holders.choose_login(
                event.serial, first=False, address=event.new.address
            )
        ):
            print(
                f"{mask_serial(event.serial)} {event.peer}: its new credentials are "
                "pinned (--accept-new-credentials)",
                file=sys.stderr,
                flush=True,
            )

    server = AlphaServer(
        on_event,
        tls=await _tls_answer(args),
        host=args.host,
        port=args.port,
        allowlist=args.allow or None,
        max_connections=args.max_connections,
        dump=dump,
        pins=_pins(args.pin_file),
        relay=_relay(args.relay, args.relay_pass or ()),
    )
    await server.start()
    print(f"listening on {args.host or '*'}:{server.port}", file=sys.stderr, flush=True)
    # SIGTERM (systemd, docker stop, kill) leaves the wait below as Ctrl-C does, through
    # the same `finally`: the server closes its sessions, relay and dump, then
    # asyncio.run() waits for the pin file's pending write. Its default action, an
    # immediate exit, would drop all of that. (Windows' loops take no signal handler.)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        # A second SIGTERM while closing ends the process at once, as a second Ctrl-C.
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGTERM)
        await server.close()
        print("stopped", file=sys.stderr, flush=True)


async def _modbus(args: argparse.Namespace) -> None:
    """Read one inverter until SIGTERM or Ctrl-C; its link is closed with a reset."""
    reader = ModbusReader(
        _print_modbus_event,
        host=args.host,
        port=args.port,
        unit=args.unit,
        interval=args.interval,
    )
    try:
        await reader.start()
    except ImportError as err:
        raise SystemExit(
            "alphaess-cloud: the modbus command needs pymodbus "
            "(pip install 'alphaess-local[modbus]')"
        ) from err
    print(
        f"reading {reader.peer} unit {args.unit} every {args.interval:g} s",
        file=sys.stderr,
        flush=True,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGTERM)
        await reader.close()
        print("stopped", file=sys.stderr, flush=True)


async def _simulate(args: argparse.Namespace) -> None:
    identity = Identity(serial=args.serial)
    if args.password is not None:
        identity = replace(identity, password=args.password)
    start = clock_start(args.tz, datetime.now(UTC)) if args.tz else None
    battery = SimulatedBattery(
        args.host, args.port, identity=identity, speed=args.speed, start=start
    )
    if args.modbus_port is None:
        if args.no_cloud:
            raise SystemExit("alphaess-cloud: --no-cloud needs --modbus-port")
        await battery.run()
        return
    # The same battery's inverter, read over Modbus TCP (pymodbus loads as it starts).
    from .simulator.modbus_server import SimulatedInverter

    inverter = SimulatedInverter.beside(
        battery,
        host=args.modbus_host,
        port=args.modbus_port,
        one_client=not args.modbus_many_clients,
    )
    try:
        await inverter.start()
    except (ImportError, OSError) as err:
        raise SystemExit(f"alphaess-cloud: cannot serve Modbus TCP: {err}") from err
    print(
        f"Modbus TCP on {args.modbus_host}:{inverter.port}, unit {inverter.server.unit}"
        f"{'' if args.modbus_many_clients else ', one client at a time'}",
        file=sys.stderr,
        flush=True,
    )
    try:
        if args.no_cloud:
            await asyncio.Event().wait()  # until interrupted
        else:
            await battery.run()
    finally:
        await inverter.close()


def clock_start(zone: ZoneInfo, now: datetime) -> datetime:
    """The battery's clock at ``now``: naive local time in ``zone``, as a battery's is.

    A real battery's clock is set to local time; the simulator's follows the host's
    unless told the owner's zone, so a host in UTC serving a Home Assistant in Berlin
    would see an hour of clock offset that no real battery has.
    """
    return now.astimezone(zone).replace(tzinfo=None, microsecond=0)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise argparse.ArgumentTypeError(f"unknown time zone {name!r}") from err


def _interval(text: str) -> float:
    """A poll interval: one second at least (the inverter serves others too)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds >= 1.0:
        raise argparse.ArgumentTypeError(f"an interval of 1 s or more, not {text!r}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run until interrupted."""
    parser = argparse.ArgumentParser(
        prog="alphaess-cloud",
        description="AlphaESS cloud protocol: fake-cloud server, Modbus TCP reader and "
        "simulated battery.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="answer batteries in the cloud's place")
    serve.add_argument("--host", default="", help="listen address (default: all)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--dump", help="append undecodable traffic to this file")
    serve.add_argument("--allow", action="append", help="accept only this serial")
    serve.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help="open connections at most; unidentified ones make room for batteries "
        f"(default: {DEFAULT_MAX_CONNECTIONS})",
    )
    serve.add_argument(
        "--relay",
        metavar="HOST:PORT",
        help="also forward what accepted batteries send to the vendor cloud at this "
        "address (its real one: your DNS may answer its name with this host); "
        "off by default",
    )
    serve.add_argument(
        "--relay-pass",
        action="append",
        choices=[str(kind) for kind in CommandKind if kind is not CommandKind.UNKNOWN],
        help="let this cloud command through to the battery (default: refuse all)",
    )
    serve.add_argument(
        "--pin-file",
        help="keep each battery's pinned credentials (salted hashes) in this file "
        "across restarts (default: in memory)",
    )
    serve.add_argument(
        "--accept-new-credentials",
        action="append",
        metavar="SERIAL@ADDRESS",
        help="pin the new credentials battery SERIAL logs in with from ADDRESS, "
        "refusing the ones pinned first (see the warning that names both logins)",
    )
    serve.add_argument(
        "--tls-cert", help="answer TLS with this certificate (PEM; default: made now)"
    )
    serve.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    serve.add_argument(
        "--no-tls", action="store_true", help="close TLS connections, do not answer"
    )
    modbus = commands.add_parser(
        "modbus", help="read an inverter over Modbus TCP (needs pymodbus)"
    )
    modbus.add_argument("--host", required=True, help="the inverter or its gateway")
    modbus.add_argument("--port", type=int, default=MODBUS_PORT)
    modbus.add_argument("--unit", type=int, default=MODBUS_UNIT, help="Modbus unit id")
    modbus.add_argument(
        "--interval",
        type=_interval,
        default=MODBUS_INTERVAL,
        help=f"seconds between polls (default: {MODBUS_INTERVAL:g})",
    )
    simulate = commands.add_parser("simulate", help="behave like a battery")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=DEFAULT_PORT)
    simulate.add_argument("--serial", default=DEFAULT_SERIAL)
    simulate.add_argument("--speed", type=float, default=1.0, help="clock speed-up")
    simulate.add_argument("--password", help="log in with this password")
    simulate.add_argument(
        "--tz",
        type=_zone,
        help="the battery clock's time zone, e.g. Europe/Berlin (default: the host's)",
    )
    simulate.add_argument(
        "--modbus-port",
        type=int,
        help="also answer Modbus TCP (unit 85) on this port, as the battery's inverter "
        "does on 502 (needs pymodbus)",
    )
    simulate.add_argument(
        "--modbus-host",
        default="127.0.0.1",
        help="the address the Modbus port listens on (default: 127.0.0.1)",
    )
    simulate.add_argument(
        "--modbus-many-clients",
        action="store_true",
        help="accept more than one Modbus client at a time (a real inverter has "
        "one slot: a second client is closed at once)",
    )
    simulate.add_argument(
        "--no-cloud",
        action="store_true",
        help="answer Modbus only: do not connect to the cloud port (with --modbus-port)",
    )
    args = parser.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        # A terminal or pipe that cannot show a character gets its escape, never an
        # exception per event (the log's "…" and a battery's "ä" are not ASCII).
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    runner = {"serve": _serve, "modbus": _modbus, "simulate": _simulate}[args.command]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner(args))
    return 0

"""A simulated AlphaESS battery that talks to a server as the real one does.

Session order (PROTOCOL.md, section 2): login (first connection only), heartbeat, event
log, a short pause in which the server may send ``Resume``, configuration request, then
realtime pushes every 10 s, a detailed record every 5 min and a system report every
30 min. After a dropped link it reconnects *without* logging in again, and it keeps
recording one-minute rows while offline so a ``Resume`` can fetch them.

Every data frame waits for its acknowledgement and an unanswered one drops the link, as
on the real battery. The heartbeat does not: a real battery streamed for months against
the original home fake server, which never answered it.

``speed`` runs the battery's clock that many times faster than the host's and divides
every interval by it, so tests and demos see hours in seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
import time
from typing import Final

from .builders import encode_json
from .frame import Command, Frame, FrameDecoder, Kind
from .messages import ServerCommand, decode_message, parse_json_object
from .model import BatteryModel, Sample
from .values import TIME_FORMAT, parse_float, parse_int, parse_time

_LOGGER = logging.getLogger(__name__)

DEFAULT_SERIAL: Final = "AL9002021030042"
REALTIME_INTERVAL: Final = 10.0
DETAIL_INTERVAL: Final = 300.0
REPORT_INTERVAL: Final = 1800.0
ACK_TIMEOUT: Final = 10.0
HISTORY_ROWS_PER_FRAME: Final = 3
RECONNECT_DELAY: Final = 5.0
# Sent without waiting for an answer (see the module docstring); a reply is ignored.
UNACKNOWLEDGED: Final = frozenset({Command.HEARTBEAT})

CSV_COLUMNS: Final = [
    "Date",
    "Time",
    "SN",
    "Ppv1",
    "Ppv2",
    "Vpv1",
    "Vpv2",
    "Ua",
    "Ub",
    "Uc",
    "Fac",
    "Ubus",
    "PrealL1",
    "PrealL2",
    "PrealL3",
    "Tinv",
    "PacL1",
    "PacL2",
    "PacL3",
    "InvWorkMode",
    "EpvTotal",
    "Einput",
    "Eoutput",
    "Echarge",
    "PmeterL1",
    "PmeterL2",
    "PmeterL3",
    "PmeterDC",
    "Pbat",
    "SOC",
    "BatV",
    "BatC",
    "FlagBms",
    "BmsWork",
    "Pcharge",
    "Pdischarge",
    "BmsRelay",
    "BmsNum",
    "VcellLow",
    "VcellHigh",
    "TcellLow",
    "TcellHigh",
    "IdTempelover",
    "IdTempEover",
    "IdTempediffe",
    "IdChargcurre",
    "IdDischcurre",
    "IdCellvolover",
    "IdCellvollower",
    "IdSoclower",
    "IdCellvoldiffe",
    "BatC1",
    "BatC2",
    "BatC3",
    "BatC4",
    "BatC5",
    "BatC6",
    "SOC1",
    "SOC2",
    "SOC3",
    "SOC4",
    "SOC5",
    "SOC6",
    "ErrInv",
    "WarInv",
    "ErrEms",
    "ErrBms",
    "ErrMeter",
    "ErrBackupBox",
    "EGridCharge",
    "EDischarge",
    "EmsStatus",
    "BmsShutdown",
    "InvBatV",
    "BmuRelay",
    "BmsHardVer1",
    "BmsHardVer2",
    "BmsHardVer3",
    "DispatchSwitch",
    "Pdispatch",
    "DispatchSoc",
    "DispatchMode",
]


@dataclass(frozen=True, slots=True)
class Identity:
    """What the simulated battery says about itself (all invented)."""

    serial: str = DEFAULT_SERIAL
    password: str = "simulated-password"  # noqa: S105 - a fake battery's fake password
    address: str = "1 Simulation Road"
    zip_code: str = "S1234"
    phone: str = "0400000000"
    license: str = "SIM-LICENCE-1"
    inverter_serial: str = "SIMINV0001"
    battery_serial: str = "SIMBAT0001"


def _f(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def detail_values(sample: Sample, serial: str) -> dict[str, str]:
    """The detailed-record fields of ``sample`` as the battery formats them."""
    bat_v = 50.0 + sample.soc / 50
    totals = sample.totals
    return {
        "Time": sample.time.strftime(TIME_FORMAT),
        "SN": serial,
        "Ppv1": _f(sample.ppv1, 0),
        "Ppv2": _f(sample.ppv2, 0),
        "Upv1": "256.2" if sample.ppv1 else "0.0",
        "Upv2": "275.1" if sample.ppv2 else "0.0",
        "Ua": "239.8",
        "Ub": "0.0",
        "Uc": "0.0",
        "Fac": "50.01",
        "Ubus": "390",
        "PrealL1": _f(sample.inverter, 0),
        "PrealL2": "0",
        "PrealL3": "0",
        "Tinv": "38",
        "PacL1": "5000",
        "PacL2": "0",
        "PacL3": "0",
        "InvWorkMode": "3",
        "EpvTotal": _f(totals.pv),
        "Einput": _f(totals.grid_import, 2),
        "Eoutput": _f(totals.grid_export, 2),
        "Echarge": _f(totals.charge),
        "PmeterL1": _f(sample.grid, 0),
        "PmeterL2": "0",
        "PmeterL3": "0",
        "PmeterDC": "0",
        "Pbat": _f(sample.pbat, 4),
        "SOC": _f(sample.soc),
        "BatV": _f(bat_v, 2),
        "BatC": _f(sample.pbat / bat_v, 2),
        "FlagBms": "257",
        "BmsWork": "1",
        "Pcharge": "5050",
        "Pdischarge": "5050",
        "BmsRelay": "3",
        "BmsNum": "1",
        "VcellLow": str((1 << 24) | (4 << 16) | 3340),
        "VcellHigh": str((1 << 24) | (11 << 16) | 3352),
        "TcellLow": str((1 << 24) | (6 << 16) | 256 | 24),
        "TcellHigh": str((1 << 24) | (2 << 16) | 26),
        "BatC1": _f(sample.pbat / bat_v, 2),
        "SOC1": _f(sample.soc),
        "ErrInv": "0",
        "WarInv": "0",
        "ErrEms": "0",
        "ErrBms": "0",
        "ErrMeter": "0",
        "ErrBackupBox": "0",
        "EGridCharge": _f(totals.grid_charge),
        "EDischarge": _f(totals.discharge),
        "EmsStatus": "Normal",
        "BmsShutdown": "0",
        "InvBatV": _f(bat_v + 1, 2),
        "BmuRelay": "0",
        "DispatchSwitch": "0",
        "Pdispatch": "0",
        "DispatchSoc": "0",
        "DispatchMode": "0",
    }


def history_csv(rows: list[Sample], serial: str) -> bytes:
    """A command-12 payload: header plus ``rows``, as the battery writes it."""
    lines = [",".join(CSV_COLUMNS)]
    for row in rows:
        values = detail_values(row, serial)
        date, clock = values["Time"].split(" ")
        values |= {
            "Date": date,
            "Time": clock,
            "Vpv1": values["Upv1"],
            "Vpv2": values["Upv2"],
        }
        lines.append(",".join(values.get(column, "0") for column in CSV_COLUMNS))
    return ("\n".join(lines) + "\n").encode("ascii")


class SimulatedBattery:
    """Connects to a server and behaves like the battery in PROTOCOL.md."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        identity: Identity | None = None,
        speed: float = 1.0,
        start: datetime | None = None,
        clock: Callable[[], datetime] | None = None,
        model: BatteryModel | None = None,
    ) -> None:
        """Prepare a battery; ``clock`` (battery time) overrides ``speed`` for tests."""
        self.host = host
        self.port = port
        self.identity = identity or Identity()
        self.speed = speed
        begin = start or datetime.now().replace(microsecond=0)  # noqa: DTZ005 - battery clock is naive local
        origin = time.monotonic()
        self.clock = clock or (
            lambda: begin + timedelta(seconds=(time.monotonic() - origin) * speed)
        )
        self.model = model or BatteryModel(begin)
        self.ack_timeout = ACK_TIMEOUT
        # Settings as the battery reports them (strings, as the real one sends them).
        self.settings: dict[str, object] = {
            "GridCharge": "false",
            "CtrDis": "false",
            "TimeChaF1": "0",
            "TimeChaE1": "0",
            "TimeChaF2": "0",
            "TimeChaE2": "0",
            "TimeDisF1": "0",
            "TimeDisE1": "0",
            "TimeDisF2": "0",
            "TimeDisE2": "0",
            "BatHighCap": "100",
            "BatUseCap": "10",
            "SetFeed": "100",
        }
        # Test knobs: take SetConfig but keep the old settings (a battery that ignores);
        # server commands received but never answered; history frames sent per Resume
        # before the upload stalls (a link about to drop).
        self.ignore_settings = False
        self.ignore_commands: set[str] = set()
        self.upload_limit: int | None = None
        self.logged_in = False
        self.connected = asyncio.Event()
        self.online = asyncio.Event()
        self.online.set()
        self.frames_sent = 0
        self.commands: list[ServerCommand] = []
        self.config_answers: list[dict[str, object]] = []
        self._writer: asyncio.StreamWriter | None = None
        self._acks: dict[int, asyncio.Queue[Frame]] = {}
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        # Whether the last attempt reached the server (None: no attempt yet); only a
        # change is worth an info line, the retries in between are debug.
        self._reached: bool | None = None

    # --- public control ---------------------------------------------------------

    async def run(self, *, reconnect: bool = True) -> None:
        """Connect, run sessions, reconnect after drops (until cancelled).

        The server may be absent for a long time (``scripts/develop`` starts the battery
        before the integration is added), so only the first failure is logged at info
        and the retries after it at debug, until a connection succeeds again.
        """
        while True:
            await self.online.wait()
            try:
                await self.run_session()
            except (ConnectionError, OSError, TimeoutError) as err:
                self._link_down(err)
            if not reconnect:
                return
            await asyncio.sleep(RECONNECT_DELAY / self.speed)

    async def run_session(self) -> None:
        """One connection, from connect to drop."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        if not self._reached:
            _LOGGER.info("Simulated battery connected to %s:%s", self.host, self.port)
        self._reached = True
        self._writer = writer
        self._acks = {}
        reader_task = asyncio.create_task(self._read(reader))
        converse_task = asyncio.create_task(self._converse())
        try:
            # Whichever ends first (link lost, or a request unanswered) ends the session.
            done, _ = await asyncio.wait(
                {reader_task, converse_task}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()
        finally:
            self.connected.clear()
            self._writer = None
            pending = {reader_task, converse_task, *self._tasks}
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _link_down(self, err: BaseException) -> None:
        reason = str(err) or type(err).__name__
        if self._reached is False:
            _LOGGER.debug("Simulated battery link still down: %s", reason)
            return
        self._reached = False
        _LOGGER.info(
            "Simulated battery link down: %s (retrying every %g s)",
            reason,
            RECONNECT_DELAY / self.speed,
        )

    def drop(self) -> None:
        """Cut the link abruptly, as a Wi-Fi outage would."""
        if self._writer is not None:
            self._writer.transport.abort()

    def go_offline(self) -> None:
        """Lose the link and stay away (recording minutes) until :meth:`go_online`."""
        self.online.clear()
        self.drop()

    def go_online(self) -> None:
        """Reconnect (without logging in again) on the next attempt."""
        self.online.set()

    # --- the conversation ---------------------------------------------------------

    async def _converse(self) -> None:
        ident = self.identity
        if not self.logged_in:
            await self._request(
                Command.LOGIN,
                {
                    "UserName": ident.serial,
                    "Password": ident.password,
                    "CompanyName": "AlphaESS",
                },
            )
            self.logged_in = True
        await self._request(Command.HEARTBEAT, None)
        await self._request(Command.EVENT_LOG, self._event_log())
        self.connected.set()
        # The cloud sends its Resume here; give the server a moment to do so.
        await asyncio.sleep(1.0 / self.speed)
        await self._request(Command.CONFIG, {"SN": ident.serial})
        await self._push_report()
        loop = asyncio.get_running_loop()
        next_detail = loop.time()
        next_report = loop.time() + REPORT_INTERVAL / self.speed
        while True:
            self._advance()
            now = loop.time()
            if now >= next_detail:
                await self._push_detail()
                next_detail = now + DETAIL_INTERVAL / self.speed
            if now >= next_report:
                await self._push_report()
                next_report = now + REPORT_INTERVAL / self.speed
            await self._push_realtime()
            await asyncio.sleep(REALTIME_INTERVAL / self.speed)

    def _advance(self) -> None:
        self.model.advance_to(self.clock())
        self.model.forget_before(self.model.now - timedelta(days=8))

    async def _push_realtime(self) -> None:
        await self._request(Command.REALTIME, self._realtime_values)

    def _realtime_values(self) -> dict[str, str]:
        s = self.model.snapshot()
        return {
            "Time": s.time.strftime(TIME_FORMAT),
            "SN": self.identity.serial,
            "Ppv1": _f(s.ppv1, 0),
            "Ppv2": _f(s.ppv2, 0),
            "PrealL1": _f(s.inverter, 0),
            "PrealL2": "0.0",
            "PrealL3": "0.0",
            "PmeterL1": _f(s.grid, 0),
            "PmeterL2": "0",
            "PmeterL3": "0",
            "PmeterDC": "0",
            "Pbat": _f(s.pbat, 4),
            "Sva": _f(abs(s.inverter), 0),
            "VarAC": "-120",
            "VarDC": "10",
            "SOC": _f(s.soc),
        }

    async def _push_detail(self) -> None:
        def values() -> dict[str, str]:
            payload = detail_values(self.model.snapshot(), self.identity.serial)
            return payload | {"Eirp": "-63", "CSQ": "99,99"}

        await self._request(Command.DETAILED_RECORD, values)

    async def _push_report(self) -> None:
        ident = self.identity
        m = self.model
        await self._request(
            Command.SYSTEM_REPORT,
            {
                "SN": ident.serial,
                "Address": ident.address,
                "ZipCode": ident.zip_code,
                "Country": "Australia",
                "PhoneNumber": ident.phone,
                "License": ident.license,
                "Popv": _f(m.pv_peak / 500, 1),
                "Minv": "Storion-GINLANG-S5",
                "Poinv": "4.6",
                "Cobat": _f(m.capacity_kwh, 3),
                "Mbat": "Smile-BAT-10.1P",
                "Uscapacity": "90",
                "BatterySN1": ident.battery_serial,
                "BMSVersion": "V1.04",
                "EMSVersion": "V1.01.05",
                "InvVersion": "V00.21",
                "InvHWVersion": "V1.02",
                "InvSN": ident.inverter_serial,
                **self.settings,
                "FirmwareVersion": "V1.01",
                "NetType": "E_Linker",
                "WifiSN": "SIMWIFI0001",
            },
        )

    def _event_log(self) -> dict[str, str]:
        now = self.clock()
        stamp = now.strftime("%y/%m/%d %H:%M:%S")
        earlier = (now - timedelta(minutes=1)).strftime("%y/%m/%d %H:%M:%S")
        return {
            "MsgType": "EventLog",
            "MsgContent": f"{stamp} 41;{earlier} 42;",
            "Description": "OK",
        }

    async def _upload_history(self, start: datetime, minutes: int) -> None:
        self._advance()
        rows = self.model.minute_rows(start, minutes)
        for sent, first in enumerate(range(0, len(rows), HISTORY_ROWS_PER_FRAME)):
            if self.upload_limit is not None and sent >= self.upload_limit:
                return
            chunk = rows[first : first + HISTORY_ROWS_PER_FRAME]
            await self._request(
                Command.HISTORY, history_csv(chunk, self.identity.serial)
            )

    # --- wire -----------------------------------------------------------------------

    async def _request(
        self,
        command: Command,
        payload: Mapping[str, object]
        | bytes
        | Callable[[], Mapping[str, object]]
        | None,
    ) -> None:
        """Send a request and wait for its acknowledgement, as the battery does.

        A timed record is passed as a function: it is stamped when it is sent, not
        when it started waiting behind another request's acknowledgement. Commands in
        ``UNACKNOWLEDGED`` are only sent; a missing answer to one never drops the link.
        """
        async with self._send_lock:
            if callable(payload):
                self._advance()
                payload = payload()
            if isinstance(payload, bytes):
                body = payload
            else:
                body = b"" if payload is None else encode_json(payload)
            frame = Frame(Kind.REQUEST, command, body)
            if command in UNACKNOWLEDGED:
                self._write(frame)
                return
            queue = self._acks.setdefault(command, asyncio.Queue())
            self._write(frame)
            try:
                async with asyncio.timeout(self.ack_timeout):
                    await queue.get()
            except TimeoutError as err:
                # The bare TimeoutError says nothing in the link-down line.
                raise TimeoutError(
                    f"no acknowledgement of {command.name.lower()} "
                    f"within {self.ack_timeout:g} s"
                ) from err

    def _write(self, frame: Frame) -> None:
        if self._writer is None:
            raise ConnectionResetError("not connected")
        self._writer.write(frame.encode())
        self.frames_sent += 1

    async def _read(self, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder()
        while data := await reader.read(65536):
            for frame in decoder.feed(data):
                if not isinstance(frame, Frame):
                    continue
                if frame.kind == Kind.REPLY:
                    if frame.command in UNACKNOWLEDGED:
                        continue
                    if frame.command == Command.CONFIG:
                        with contextlib.suppress(ValueError):
                            self.config_answers.append(parse_json_object(frame.payload))
                    self._acks.setdefault(frame.command, asyncio.Queue()).put_nowait(
                        frame
                    )
                elif frame.command == Command.SERVER_COMMAND:
                    self._obey(frame)
        raise ConnectionResetError("server closed the connection")

    def _obey(self, frame: Frame) -> None:
        command = decode_message(frame)
        if not isinstance(command, ServerCommand):
            return
        self.commands.append(command)
        if command.command in self.ignore_commands:
            return
        reply = {
            "Command": command.command or "",
            "CmdIndex": command.index or "",
            "Status": "Success",
        }
        self._write(Frame(Kind.REPLY, Command.SERVER_COMMAND, encode_json(reply)))
        if command.command == "SetConfig":
            self._spawn(self._reconfigure())
        if command.command == "Resume" and len(command.parameters) >= 2:
            start = parse_time(command.parameters[0])
            minutes = parse_int(command.parameters[1])
            if start is not None and minutes is not None:
                self._spawn(self._upload_history(start, minutes))

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconfigure(self) -> None:
        """SetConfig: ask for the configuration, apply what it holds, report back."""
        answers = len(self.config_answers)
        await self._request(Command.CONFIG, {"SN": self.identity.serial})
        if len(self.config_answers) > answers and not self.ignore_settings:
            answer = self.config_answers[-1]
            for key in self.settings.keys() & answer.keys():
                self.settings[key] = answer[key]
            self._apply_limits()
        await self._push_report()

    def _apply_limits(self) -> None:
        """The model follows the SOC limits the battery was given."""
        for key, attribute in (("BatHighCap", "max_soc"), ("BatUseCap", "min_soc")):
            value = parse_float(self.settings.get(key))
            if value is not None:
                setattr(self.model, attribute, value)

"""From a frame to a typed message, whatever the payload holds.

:func:`decode_message` never raises: a payload it cannot read becomes
:class:`Undecodable` with the raw bytes and the reason, a command it does not know
becomes :class:`UnknownMessage`. The caller acknowledges either and dumps them.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
import json
import logging
from typing import Final, cast

from .frame import Command, Frame, Kind

try:  # Home Assistant ships orjson; the standalone library works without it.
    import orjson

    _HAVE_ORJSON = True
except ImportError:  # pragma: no cover - exercised where orjson is missing
    _HAVE_ORJSON = False
from .record_plans import BUILDERS
from .records import (
    DetailedRecord,
    PowerRecord,
    RealtimeRecord,
    SystemReport,
    build_general,
)
from .values import Value, parse_any, parse_event_time, parse_str

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Command 0: an empty push before bigger exchanges."""

    extra: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Login:
    """Command 2: the serial doubles as user name; the password is never shown."""

    serial: str | None
    password: str | None = field(repr=False)
    company: str | None = None
    extra: Mapping[str, Value] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class EventLogEntry:
    """One ``YY/MM/DD HH:MM:SS code`` entry, time on the battery's clock."""

    timestamp: datetime
    code: int


@dataclass(frozen=True, slots=True)
class EventLog:
    """Command 9 with ``MsgType`` ``EventLog``; entries newest first, as sent."""

    entries: tuple[EventLogEntry, ...]
    description: str | None = None
    unparsed: tuple[str, ...] = ()
    extra: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SystemMessage:
    """Command 9 with any other ``MsgType`` (``System``: restarts, with a reason)."""

    msg_type: str | None
    content: str | None
    description: str | None = None
    extra: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConfigRequest:
    """Command 3 from the battery: it asks for its configuration."""

    serial: str | None
    extra: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConfigAnswer:
    """Command 3 reply from a server: a status, and settings only if it sends any."""

    status: str | None
    settings: SystemReport | None = None


@dataclass(frozen=True, slots=True)
class HistoryUpload:
    """Command 12: one-minute records as CSV, header first, each row typed.

    A big frame reaches the owner as several uploads, a slice of its rows each, so
    that no one event costs the loop much (``pacing.py``): ``more`` is true on every
    slice but the frame's last. A battery's own frames (three rows) come whole.
    """

    header: tuple[str, ...]
    rows: tuple[DetailedRecord, ...]
    malformed_rows: tuple[str, ...] = ()
    more: bool = False

    @property
    def serial(self) -> str | None:
        """Serial of the first row that carries one."""
        return next((r.serial for r in self.rows if r.serial), None)


@dataclass(frozen=True, slots=True)
class ServerCommand:
    """Command 8 from the server (``Resume``, ``SetConfig``, ``SyncTime``)."""

    command: str | None
    index: str | None
    parameters: tuple[str, ...] = ()
    extra: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommandReply:
    """Command 8 reply from the battery, echoing ``CmdIndex``."""

    command: str | None
    index: str | None
    status: str | None
    extra: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Any other reply frame, normally ``{"Status":"Success"}``."""

    command: int
    status: str | None
    extra: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A command nobody has documented; payload kept as parsed JSON if it was JSON."""

    frame: Frame
    data: Mapping[str, Value] | None


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A known command whose payload could not be read."""

    frame: Frame
    reason: str

    @property
    def raw(self) -> bytes:
        """The payload exactly as received."""
        return self.frame.payload


type Message = (
    Heartbeat
    | Login
    | EventLog
    | SystemMessage
    | ConfigRequest
    | ConfigAnswer
    | SystemReport
    | DetailedRecord
    | HistoryUpload
    | RealtimeRecord
    | ServerCommand
    | CommandReply
    | Acknowledgement
    | UnknownMessage
    | Undecodable
)

_MAX_PARAMETERS: Final = 9
_KNOWN_COMMANDS: Final = frozenset(Command)
# Reasons end up in logs, events and the dump: quote at most this much of a peer's text.
_QUOTE_LIMIT: Final = 40
# Event codes are small; a longer run of digits is junk, and int() caps at 4 300 digits.
_MAX_CODE_DIGITS: Final = 9


# Objects and arrays one payload may hold; a system report holds a handful.
MAX_CONTAINERS: Final = 256


class PayloadError(ValueError):
    """The payload is not what its command promises."""


def _reject_constant(name: str) -> float:
    raise PayloadError(f"non-standard JSON constant {name}")


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """Build an object; tolerate a repeated key only if it repeats the same value.

    The system report always names ``Generator`` twice with one value (a firmware
    quirk); a key given two different values is ambiguous, so the payload is refused.
    """
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result and result[key] != value:
            raise PayloadError(f"duplicate key {_quote(key)} with conflicting values")
        result[key] = value
    return result


def _quote(text: str) -> str:
    """Quote a peer's text in a reason without letting it grow the reason unbounded."""
    if len(text) <= _QUOTE_LIMIT:
        return repr(text)
    return f"{text[:_QUOTE_LIMIT]!r}…"


_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
# orjson reads integers into 64 bits and gives a float past that, where the stdlib gives
# the exact int: an integral float this large may be such an integer.
_INT64: Final = float(2**63)
# Repeated keys the fast path checks itself; more go to the strict parser.
_MAX_REPEATS: Final = 8


def _fast_object(payload: bytes, text: str) -> dict[str, object] | None:
    """A flat object parsed by orjson when that gives the strict parser's answer.

    orjson keeps the last of two equal keys silently, at the first one's place, as
    :func:`_unique_pairs` does when the values agree. Whether a key repeats is told
    exactly by counting colons: each member has one outside strings, so the text holds
    ``len(data)`` colons plus those inside keys and string values, and more if a member
    was dropped (without a backslash, strings appear in the text as they are). Nesting,
    a number orjson reads differently, invalid JSON: the strict parser runs instead.
    """
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict:
        return None
    values = data.values()
    try:  # every value a string: flat, and no number orjson could read differently
        joined: str | None = "".join(values)
    except TypeError:
        types = set(map(type, values))
        if not types <= _SCALARS or (
            float in types
            and any(
                type(v) is float and abs(v) >= _INT64 and v.is_integer() for v in values
            )
        ):
            return None
        joined = None
    colons = text.count(":")
    if colons == len(data):  # no colon inside a string, none for a dropped member
        return data
    if "\\" not in text:
        # str() of a number, a boolean or null holds no colon.
        inside = ("".join(map(str, values)) if joined is None else joined).count(":")
        if colons == len(data) + inside:  # (so no key holds one either)
            return data
        if inside:
            return None
    return data if _repeats_agree(payload, data, colons) else None


def _repeats_agree(payload: bytes, data: dict[str, object], colons: int) -> bool:
    """Whether every repeated key of ``payload`` repeats the value orjson kept.

    The object re-read as an array (``{"a":1}`` as ``["a",1]``) lists every member in
    order; that is exact when no string holds a colon, i.e. when the array has one pair
    per colon. Keys first seen line up with ``data``; each repeat is where they stop
    lining up, found by bisection. Equality is transitive for JSON scalars, so checking
    every occurrence against the last is the strict rule (each against the one before).
    """
    body = payload.strip()
    try:
        items = orjson.loads(b"[" + body[1:-1].replace(b":", b",") + b"]")
    except orjson.JSONDecodeError:  # pragma: no cover - the object parsed, so does this
        return False
    if type(items) is not list or len(items) != 2 * colons:
        return False
    keys: list[object] = items[0::2]
    order = list(data)
    repeats = len(keys) - len(order)
    if not 0 < repeats <= _MAX_REPEATS:
        return False
    start = 0
    for offset in range(repeats):
        lo, hi = start, len(keys)
        while lo < hi:  # first member whose key is not the next one first seen
            mid = (lo + hi) // 2
            if mid - offset < len(order) and keys[mid] == order[mid - offset]:
                lo = mid + 1
            else:
                hi = mid
        key = keys[lo]
        if type(key) is not str or key not in data:
            return False
        kept = data[key]
        if items[2 * lo + 1] != kept or items[2 * keys.index(key) + 1] != kept:
            return False
        start = lo + 1
    return True


def parse_json_object(payload: bytes) -> dict[str, object]:
    """Strictly parse a JSON object payload; raise :class:`PayloadError` otherwise."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PayloadError(f"not UTF-8 at byte {err.start}") from None
    # Records are flat objects. Deep nesting is refused before parsing, the same on
    # every Python (3.14's parser recurses further than 3.13's before giving up).
    if text.count("[") + text.count("{") > MAX_CONTAINERS:
        raise PayloadError("JSON nested too deeply")
    if _HAVE_ORJSON and (fast := _fast_object(payload, text)) is not None:
        return fast
    try:
        data = json.loads(
            text, object_pairs_hook=_unique_pairs, parse_constant=_reject_constant
        )
    except PayloadError:
        raise
    except json.JSONDecodeError as err:
        raise PayloadError(f"invalid JSON: {err.msg} at char {err.pos}") from None
    except RecursionError:
        raise PayloadError("JSON nested too deeply") from None
    except ValueError:
        # json hands integers to int(), which refuses more digits than
        # sys.get_int_max_str_digits() (4 300 by default) to bound its own CPU time.
        raise PayloadError("number too long") from None
    if not isinstance(data, dict):
        raise PayloadError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _extra(data: Mapping[str, object], *known: str) -> dict[str, Value]:
    return {k: parse_any(v) for k, v in data.items() if k not in known}


def build_record[R](cls: type[R], data: Mapping[str, object], **known: object) -> R:
    """Build ``cls`` from ``data``; unconsumed or unparsable keys land in ``extra``.

    Every realtime push and every history row comes through here, so each record type
    has a builder of its own, planned once from its fields (record_plans.py). It hands
    back ``None`` for the rare payload it does not handle, and the general loop builds
    that one.
    """
    builder = BUILDERS.get(cls)
    if builder is not None:
        record = builder(data, known)
        if record is not None:
            return cast(R, record)
    return build_general(cls, data, known)


def _event_log(data: Mapping[str, object]) -> EventLog | SystemMessage:
    msg_type = parse_str(data.get("MsgType"))
    content = parse_str(data.get("MsgContent"))
    description = parse_str(data.get("Description"))
    extra = _extra(data, "MsgType", "MsgContent", "Description")
    if msg_type != "EventLog":
        return SystemMessage(msg_type, content, description, extra)
    entries: list[EventLogEntry] = []
    unparsed: list[str] = []
    for item in (content or "").split(";"):
        text = item.strip()
        if not text:
            continue
        stamp, _, code = text.rpartition(" ")
        timestamp = parse_event_time(stamp)
        # isdigit() alone admits "²", which int() refuses.
        if (
            timestamp is None
            or not (code.isascii() and code.isdigit())
            or len(code) > _MAX_CODE_DIGITS
        ):
            unparsed.append(text)
            continue
        entries.append(EventLogEntry(timestamp, int(code)))
    return EventLog(tuple(entries), description, tuple(unparsed), extra)


def parse_history_csv(text: str) -> HistoryUpload:
    """Parse a command-12 payload; rows whose column count is wrong are set aside."""
    return complete(history_steps(text))


def history_steps(
    text: str, rows_per_step: int | None = None
) -> Generator[None, None, HistoryUpload]:
    """:func:`parse_history_csv`, pausing before every ``rows_per_step``-th line.

    ``None`` never pauses.

    Sans-IO: what a pause means is the caller's. The session yields to the event loop
    there, so a 64 KiB upload (~1 500 rows) is not parsed in one loop step while other
    batteries wait for their acknowledgements.
    """
    header: tuple[str, ...] | None = None
    rows: list[DetailedRecord] = []
    malformed: list[str] = []
    # Lines are stripped one by one, blank ones counted too: 64 KiB of blank lines is
    # no cheaper a step than 64 KiB of rows.
    for count, raw in enumerate(text.splitlines(), 1):
        if rows_per_step and count % rows_per_step == 0:
            yield
        line = raw.strip()
        if not line:
            continue
        if header is None:
            header = tuple(name.strip() for name in line.split(","))
            if "Date" not in header or "Time" not in header:
                raise PayloadError("history header lacks Date and Time")
            continue
        cells = line.split(",")
        if len(cells) != len(header):
            malformed.append(line)
            continue
        values: dict[str, object] = dict(zip(header, cells, strict=True))
        values["Time"] = f"{values.pop('Date')} {values['Time']}"
        row = build_record(DetailedRecord, values)
        if row.time is None:
            malformed.append(line)
            continue
        rows.append(row)
    if header is None:
        raise PayloadError("empty history upload")
    return HistoryUpload(header, tuple(rows), tuple(malformed))


def complete[T](steps: Generator[None, None, T]) -> T:
    """Run ``steps`` to the end without pausing; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(T, done.value)


def _command(data: Mapping[str, object]) -> ServerCommand:
    parameters: list[str] = []
    for n in range(1, _MAX_PARAMETERS + 1):
        value = parse_str(data.get(f"Parameter{n}"))
        if value is None:
            break
        parameters.append(value)
    known = [
        "Command",
        "CmdIndex",
        *(f"Parameter{n + 1}" for n in range(len(parameters))),
    ]
    return ServerCommand(
        parse_str(data.get("Command")),
        parse_str(data.get("CmdIndex")),
        tuple(parameters),
        _extra(data, *known),
    )


def _reply(frame: Frame, data: Mapping[str, object]) -> Message:
    status = parse_str(data.get("Status"))
    if frame.command == Command.SERVER_COMMAND:
        return CommandReply(
            parse_str(data.get("Command")),
            parse_str(data.get("CmdIndex")),
            status,
            _extra(data, "Command", "CmdIndex", "Status"),
        )
    if frame.command == Command.CONFIG:
        settings = {k: v for k, v in data.items() if k != "Status"}
        report = build_record(SystemReport, settings) if settings else None
        return ConfigAnswer(status, report)
    return Acknowledgement(frame.command, status, _extra(data, "Status"))


def _request(frame: Frame, data: Mapping[str, object]) -> Message:
    # Most frequent first: a match tries its cases in turn.
    match frame.command:
        case Command.REALTIME:
            return _timed(build_record(RealtimeRecord, data))
        case Command.SYSTEM_REPORT:
            return build_record(SystemReport, data, raw=data)
        case Command.DETAILED_RECORD:
            return _timed(build_record(DetailedRecord, data))
        case Command.HEARTBEAT:
            return Heartbeat(_extra(data))
        case Command.LOGIN:
            return Login(
                parse_str(data.get("UserName")),
                parse_str(data.get("Password")),
                parse_str(data.get("CompanyName")),
                _extra(data, "UserName", "Password", "CompanyName"),
            )
        case Command.CONFIG:
            return ConfigRequest(parse_str(data.get("SN")), _extra(data, "SN"))
        case Command.SERVER_COMMAND:
            return _command(data)
        case Command.EVENT_LOG:
            return _event_log(data)
    return UnknownMessage(frame, {k: parse_any(v) for k, v in data.items()})


def _timed[T: PowerRecord](record: T) -> T:
    if record.time is None:
        raise PayloadError("record without a readable Time")
    return record


def decode_message(frame: Frame) -> Message:
    """Type the payload of ``frame``; never raises.

    Every byte comes from whoever reached the port, and the session that calls this
    serves a real battery: an exception here would drop that battery's link. The
    payload problems we know of carry their own reason; anything else is a bug in a
    parser, caught last so that it costs one frame and not the connection.
    """
    try:
        return _decode(frame)
    except Exception as err:  # noqa: BLE001 - last line of defence (docstring)
        return _not_typed(frame, err)


def decode_steps(frame: Frame, rows_per_step: int) -> Generator[None, None, Message]:
    """:func:`decode_message`, pausing every ``rows_per_step`` history rows.

    The same message as :func:`decode_message`, and it never raises either; only a
    history upload (command 12) pauses (:func:`history_steps`).
    """
    try:
        if is_history(frame):
            return (yield from history_steps(_history_text(frame), rows_per_step))
        return _decode(frame)
    except Exception as err:  # noqa: BLE001 - as in decode_message
        return _not_typed(frame, err)


def _not_typed(frame: Frame, err: Exception) -> Message:
    """What a frame whose payload raised ``err`` becomes (called in its handler)."""
    if isinstance(err, PayloadError):
        reason = str(err)
    else:
        # Debug only: a peer can trigger this at will; the session already warns with
        # the reason, rate-limited, and the traceback is for whoever fixes the parser.
        _LOGGER.debug("Cannot type the payload of %s", frame.header, exc_info=True)
        reason = f"payload could not be typed ({type(err).__name__})"
    if frame.command not in _KNOWN_COMMANDS:
        return UnknownMessage(frame, None)
    return Undecodable(frame, reason)


def _history_text(frame: Frame) -> str:
    try:
        return frame.payload.decode("ascii")
    except UnicodeDecodeError as err:
        raise PayloadError(f"not ASCII at byte {err.start}") from None


def is_history(frame: Frame) -> bool:
    """Whether ``frame`` is a history upload (the one payload parsed in steps)."""
    return frame.kind == Kind.REQUEST and frame.command == Command.HISTORY


def _decode(frame: Frame) -> Message:
    if is_history(frame):
        return parse_history_csv(_history_text(frame))
    if not frame.payload.strip():
        data: dict[str, object] = {}
    else:
        data = parse_json_object(frame.payload)
    if frame.kind == Kind.REPLY:
        return _reply(frame, data)
    if frame.kind == Kind.REQUEST:
        return _request(frame, data)
    return UnknownMessage(frame, {k: parse_any(v) for k, v in data.items()})


def message_serial(message: Message) -> str | None:
    """The system serial a message names, if it names one."""
    match message:
        case Login() | ConfigRequest() | PowerRecord() | SystemReport():
            serial = message.serial
        case HistoryUpload():
            serial = message.serial
        case _:
            return None
    return serial.strip() or None if serial else None


__all__ = [
    "Acknowledgement",
    "CommandReply",
    "ConfigAnswer",
    "ConfigRequest",
    "EventLog",
    "EventLogEntry",
    "Heartbeat",
    "HistoryUpload",
    "Login",
    "Message",
    "PayloadError",
    "ServerCommand",
    "SystemMessage",
    "Undecodable",
    "UnknownMessage",
    "build_record",
    "decode_message",
    "decode_steps",
    "is_history",
    "message_serial",
    "parse_json_object",
]

"""AlphaESS cloud protocol: codec, fake-cloud server and a simulated battery.

Nothing in this package imports Home Assistant; it also ships alone as
``alphaess_cloud`` (docs/library.md). What is listed here is the public API: the
integration uses nothing else, and the rest may change without notice.

- Codec (sans-IO): :class:`FrameDecoder` cuts frames from bytes, :func:`decode_message`
  types them, :func:`acknowledge` and :func:`config_answer` build replies.
- Server: :class:`AlphaServer` answers batteries in any asyncio loop and reports
  :data:`ServerEvent` values to one callback; its commands raise :class:`ServerError`.
- Settings: the table of what a battery takes (:data:`SETTINGS`) and the rules for
  changing it without touching anything else.
- Who is on the port: :class:`CredentialPins` (what each battery proved at its first
  login, :class:`Proof`) and the server's :class:`ConnectionLog` of recent
  connections (:class:`Spoke`: what each turned out to be).
- Relay (opt-in): :class:`RelayPolicy` forwards identified batteries' frames to the
  vendor cloud behind a command firewall (:class:`CommandKind`), with
  :class:`RelayStats` per battery.
- Privacy and hygiene: :func:`mask_serial` and :func:`to_jsonable` for logs and
  diagnostics, :func:`printable` for any other peer string, :func:`is_serial`,
  :class:`TrafficDump` for a redacted copy of traffic that could not be decoded.
- Modbus (sans-IO): :class:`RegisterMap` turns the register :class:`Block` reads
  (:data:`LIVE_BLOCKS`, :data:`IDENTITY_BLOCKS`, :data:`SETTINGS_BLOCKS`) into the same
  records; :func:`read_serial`, :func:`setting_writes`; :func:`encode_live` and
  :func:`encode_identity` for a simulated inverter.
- Modbus reader (needs pymodbus, imported only when used): :class:`ModbusReader` polls
  an inverter and reports the same :data:`ServerEvent` values plus
  :data:`ModbusEvent` (:class:`LinkTrouble` with a :class:`Trouble`,
  :class:`LinkRestored`); :func:`probe` reads its serial or raises a
  :class:`ModbusError`; :class:`ModbusStats` for diagnostics.
"""

from .codec.crc import crc16_modbus
from .codec.escape import is_serial, printable
from .codec.frame import (
    DEFAULT_MAX_PAYLOAD,
    Command,
    CorruptBytes,
    CorruptReason,
    Frame,
    FrameDecoder,
    Kind,
)
from .codec.messages import (
    Acknowledgement,
    CommandReply,
    ConfigAnswer,
    ConfigRequest,
    EventLog,
    EventLogEntry,
    Heartbeat,
    HistoryUpload,
    Login,
    Message,
    ServerCommand,
    SystemMessage,
    Undecodable,
    UnknownMessage,
    decode_message,
)
from .codec.recognize import Foreign, ForeignKind, recognize
from .codec.records import DetailedRecord, PowerRecord, RealtimeRecord, SystemReport
from .codec.redact import mask_serial, to_jsonable
from .codec.replies import acknowledge, config_answer
from .codec.settings import (
    CHARGE_STOP_SOC,
    CHARGE_WINDOW_ENDS,
    DISCHARGE_CONTROL,
    DISCHARGE_CUTOFF_SOC,
    DISCHARGE_WINDOW_ENDS,
    GRID_CHARGING,
    MINUTE_SUFFIX,
    SETTINGS,
    WINDOWS,
    Requested,
    Setting,
    SettingError,
    SettingKind,
    SettingValue,
    build_answer,
    charge_window,
    minute_key,
    normalize,
    setting_label,
    shows,
    spoken,
    spoken_changes,
    validate,
)
from .codec.values import PackedCell
from .modbus import (
    IDENTITY_BLOCKS,
    LIVE_BLOCKS,
    SETTINGS_BLOCKS,
    Block,
    LinkRestored,
    LinkTrouble,
    ModbusError,
    ModbusEvent,
    ModbusNoSerial,
    ModbusNotApplied,
    ModbusReader,
    ModbusSlotTaken,
    ModbusStats,
    ModbusUnreachable,
    RegisterMap,
    Trouble,
    encode_identity,
    encode_live,
    probe,
    read_serial,
    setting_writes,
)
from .relay import CommandKind, RelayPolicy, RelayStats
from .server.connections import ConnectionLog, ConnectionRecord, Spoke
from .server.credentials import CredentialPins, LoginSeen, Proof
from .server.dump import TrafficDump
from .server.events import (
    BatteryNotConnectedError,
    CloudSettings,
    CommandTimeoutError,
    Corrupted,
    CredentialsMismatch,
    Disconnected,
    ForeignProtocol,
    Received,
    Refusal,
    Refused,
    ServerError,
    ServerEvent,
)
from .server.server import DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT, AlphaServer
from .server.tls_answer import (
    TlsAnswer,
    TlsIdentity,
    TlsOutcome,
    TlsUnavailableError,
    create_identity,
    server_context,
)

__all__ = [
    "CHARGE_STOP_SOC",
    "CHARGE_WINDOW_ENDS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_PAYLOAD",
    "DEFAULT_PORT",
    "DISCHARGE_CONTROL",
    "DISCHARGE_CUTOFF_SOC",
    "DISCHARGE_WINDOW_ENDS",
    "GRID_CHARGING",
    "IDENTITY_BLOCKS",
    "LIVE_BLOCKS",
    "MINUTE_SUFFIX",
    "SETTINGS",
    "SETTINGS_BLOCKS",
    "WINDOWS",
    "Acknowledgement",
    "AlphaServer",
    "BatteryNotConnectedError",
    "Block",
    "CloudSettings",
    "Command",
    "CommandKind",
    "CommandReply",
    "CommandTimeoutError",
    "ConfigAnswer",
    "ConfigRequest",
    "ConnectionLog",
    "ConnectionRecord",
    "CorruptBytes",
    "CorruptReason",
    "Corrupted",
    "CredentialPins",
    "CredentialsMismatch",
    "DetailedRecord",
    "Disconnected",
    "EventLog",
    "EventLogEntry",
    "Foreign",
    "ForeignKind",
    "ForeignProtocol",
    "Frame",
    "FrameDecoder",
    "Heartbeat",
    "HistoryUpload",
    "Kind",
    "LinkRestored",
    "LinkTrouble",
    "Login",
    "LoginSeen",
    "Message",
    "ModbusError",
    "ModbusEvent",
    "ModbusNoSerial",
    "ModbusNotApplied",
    "ModbusReader",
    "ModbusSlotTaken",
    "ModbusStats",
    "ModbusUnreachable",
    "PackedCell",
    "PowerRecord",
    "Proof",
    "RealtimeRecord",
    "Received",
    "Refusal",
    "Refused",
    "RegisterMap",
    "RelayPolicy",
    "RelayStats",
    "Requested",
    "ServerCommand",
    "ServerError",
    "ServerEvent",
    "Setting",
    "SettingError",
    "SettingKind",
    "SettingValue",
    "Spoke",
    "SystemMessage",
    "SystemReport",
    "TlsAnswer",
    "TlsIdentity",
    "TlsOutcome",
    "TlsUnavailableError",
    "TrafficDump",
    "Trouble",
    "Undecodable",
    "UnknownMessage",
    "acknowledge",
    "build_answer",
    "charge_window",
    "config_answer",
    "crc16_modbus",
    "create_identity",
    "decode_message",
    "encode_identity",
    "encode_live",
    "is_serial",
    "mask_serial",
    "minute_key",
    "normalize",
    "printable",
    "probe",
    "read_serial",
    "recognize",
    "server_context",
    "setting_label",
    "setting_writes",
    "shows",
    "spoken",
    "spoken_changes",
    "to_jsonable",
    "validate",
]

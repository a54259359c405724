"""AlphaESS cloud protocol: codec, fake-cloud server and a simulated battery.

Nothing in this package imports Home Assistant; it could ship on PyPI on its own.
"""

from .builders import (
    CommandIndex,
    acknowledge,
    config_answer,
    resume_command,
    set_config_command,
    sync_time_command,
)
from .crc import crc16_modbus
from .frame import (
    DEFAULT_MAX_PAYLOAD,
    Command,
    CorruptBytes,
    CorruptReason,
    Frame,
    FrameDecoder,
    Kind,
)
from .messages import (
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
from .records import DetailedRecord, PowerRecord, RealtimeRecord, SystemReport
from .values import PackedCell

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "Acknowledgement",
    "Command",
    "CommandIndex",
    "CommandReply",
    "ConfigAnswer",
    "ConfigRequest",
    "CorruptBytes",
    "CorruptReason",
    "DetailedRecord",
    "EventLog",
    "EventLogEntry",
    "Frame",
    "FrameDecoder",
    "Heartbeat",
    "HistoryUpload",
    "Kind",
    "Login",
    "Message",
    "PackedCell",
    "PowerRecord",
    "RealtimeRecord",
    "ServerCommand",
    "SystemMessage",
    "SystemReport",
    "Undecodable",
    "UnknownMessage",
    "acknowledge",
    "config_answer",
    "crc16_modbus",
    "decode_message",
    "resume_command",
    "set_config_command",
    "sync_time_command",
]

"""What the Modbus reader tells its owner besides the server's own events.

Records and the end of a serial's session travel as the server's ``Received`` and
``Disconnected`` (``protocol/server/events.py``), so the integration's coordinator
handles a Modbus inverter exactly as a battery on the cloud port. What only a Modbus
link has is the state of the link itself: the inverter serves one client at a time,
may sleep at night, and sits behind gateways that drop links. These events say so,
once per outage (``LinkTrouble``) and once at its end (``LinkRestored``), so an owner
can be told in a repair what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Trouble(StrEnum):
    """Why the reader gets no answers from the inverter."""

    # Refused or closed before the first answer: the inverter serves one Modbus TCP
    # client, and another one (a second Home Assistant, a proxy, a vendor app)
    # holds its only slot.
    SLOT_TAKEN = "slot_taken"
    # No TCP connection: wrong address, inverter off or Modbus TCP switched off.
    UNREACHABLE = "unreachable"
    # Connected, but no answer within the request timeout: asleep at night, a
    # gateway whose serial side is stuck, or a half-open link.
    SILENT = "silent"


@dataclass(frozen=True, slots=True)
class LinkTrouble:
    """The link to the inverter is in trouble (once per outage and kind).

    ``serial`` is the inverter's when it has answered since the reader started
    (``None`` before): the integration names the device in its repair.
    """

    received_at: datetime
    peer: str
    trouble: Trouble
    serial: str | None = None


@dataclass(frozen=True, slots=True)
class LinkRestored:
    """The inverter answers again after a ``LinkTrouble``."""

    received_at: datetime
    peer: str
    serial: str | None = None


type ModbusEvent = LinkTrouble | LinkRestored

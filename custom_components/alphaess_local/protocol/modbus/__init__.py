"""Reading an AlphaESS inverter over Modbus TCP (docs/modbus.md).

:mod:`.registers` is sans-IO: the blocks to read and the register map that turns their
words into the cloud's records. :mod:`.reader` polls an inverter with pymodbus
(:class:`ModbusReader`, :func:`probe`) through :mod:`.compat`, the one module that
knows pymodbus's versions. Importing this package never imports pymodbus: that
happens when a reader starts or a probe runs.
"""

from .events import LinkRestored, LinkTrouble, ModbusEvent, Trouble
from .reader import (
    BlockStats,
    ModbusError,
    ModbusNoSerial,
    ModbusNotApplied,
    ModbusReader,
    ModbusSlotTaken,
    ModbusStats,
    ModbusUnreachable,
    probe,
)
from .registers import (
    DOCUMENTED,
    IDENTITY_BLOCKS,
    LIVE_BLOCKS,
    MEASURED,
    SETTINGS_BLOCKS,
    Block,
    RegisterMap,
    Scales,
    Surroundings,
    Words,
    encode_clock,
    encode_identity,
    encode_live,
    encode_settings,
    read_clock,
    read_serial,
    setting_writes,
)

__all__ = [
    "DOCUMENTED",
    "IDENTITY_BLOCKS",
    "LIVE_BLOCKS",
    "MEASURED",
    "SETTINGS_BLOCKS",
    "Block",
    "BlockStats",
    "LinkRestored",
    "LinkTrouble",
    "ModbusError",
    "ModbusEvent",
    "ModbusNoSerial",
    "ModbusNotApplied",
    "ModbusReader",
    "ModbusSlotTaken",
    "ModbusStats",
    "ModbusUnreachable",
    "RegisterMap",
    "Scales",
    "Surroundings",
    "Trouble",
    "Words",
    "encode_clock",
    "encode_identity",
    "encode_live",
    "encode_settings",
    "probe",
    "read_clock",
    "read_serial",
    "setting_writes",
]

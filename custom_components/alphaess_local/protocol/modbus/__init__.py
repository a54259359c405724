"""Reading an AlphaESS inverter over Modbus TCP (docs/modbus.md).

:mod:`.registers` is sans-IO: the blocks to read and the register map that turns their
words into the cloud's records. Importing this package never imports pymodbus.
"""

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
    "RegisterMap",
    "Scales",
    "Surroundings",
    "Words",
    "encode_clock",
    "encode_identity",
    "encode_live",
    "encode_settings",
    "read_clock",
    "read_serial",
    "setting_writes",
]

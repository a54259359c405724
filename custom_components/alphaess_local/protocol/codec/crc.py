"""CRC-16/MODBUS, the checksum that closes every frame.

The decoder uses ``fastcrc`` (a Rust wheel published for CPython 3.13-3.15 on musl and
glibc, x86-64, aarch64 and armv7, so it installs wherever Home Assistant runs without a
compiler): ``benchmarks/codec.py`` measured it far ahead of anything pure Python
(figures in ``docs/performance.md``).

The pure-Python version stays as the fallback that keeps this package importable with
no dependency at all. A CRC-16 register is exactly one 16-bit word wide, so XOR-ing a
whole little-endian word of input into it and looking the result up in a 65 536-entry
table advances it by two bytes in one step, half the interpreter loop of a byte table.
"""

from __future__ import annotations

from array import array
from functools import cache
import sys
from typing import Final

_POLY: Final = 0xA001  # 0x8005 reflected
_INIT: Final = 0xFFFF


def _byte_table() -> list[int]:
    table = []
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_T8: Final = _byte_table()


def _word_table() -> array[int]:
    # For a 16-bit register, feeding the word w = lo | hi << 8 is the same as feeding
    # lo then hi through the byte table; precompute that for every register value.
    t8 = _T8
    words = array("H", bytes(2 * 65536))
    for reg in range(65536):
        crc = (reg >> 8) ^ t8[reg & 0xFF]
        words[reg] = (crc >> 8) ^ t8[crc & 0xFF]
    return words


_WORD_THRESHOLD: Final = 64
_LITTLE_ENDIAN: Final = sys.byteorder == "little"


@cache
def _t16() -> list[int]:
    # A list indexes faster than an array; 64 Ki small ints cost ~2 MB, built on the
    # first long frame so short-lived tools and tests of short frames do not pay for it.
    return _word_table().tolist()


def crc16_modbus_python(data: bytes | bytearray | memoryview, crc: int = _INIT) -> int:
    """Return the CRC-16/MODBUS of ``data`` (continuing from ``crc`` if given)."""
    view = memoryview(data).cast("B")
    length = len(view)
    if length < _WORD_THRESHOLD:
        t8 = _T8
        for byte in view:
            crc = (crc >> 8) ^ t8[(crc ^ byte) & 0xFF]
        return crc
    table = _t16()
    even = length & ~1
    words = array("H")
    words.frombytes(view[:even])
    if not _LITTLE_ENDIAN:
        words.byteswap()
    for word in words:
        crc = table[crc ^ word]
    if even != length:
        crc = (crc >> 8) ^ _T8[(crc ^ view[-1]) & 0xFF]
    return crc


def _fast_crc16_modbus(data: bytes | bytearray | memoryview, crc: int = _INIT) -> int:
    return _fastcrc_modbus(data, crc)


try:
    from fastcrc.crc16 import modbus as _fastcrc_modbus
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    crc16_modbus = crc16_modbus_python
else:
    crc16_modbus = _fast_crc16_modbus

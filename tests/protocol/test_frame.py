"""Framing: golden vectors, chunking, corruption and the payload cap."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from custom_components.alphaess_local.protocol import (
    CorruptBytes,
    CorruptReason,
    Frame,
    FrameDecoder,
    crc16_modbus,
)
from custom_components.alphaess_local.protocol.crc import crc16_modbus_python

HEARTBEAT = bytes.fromhex("01 01 00 00 00 00 00 11 0A")


def frames_of(items: list[Frame | CorruptBytes]) -> list[Frame]:
    return [i for i in items if isinstance(i, Frame)]


def corrupt_of(items: list[Frame | CorruptBytes]) -> list[CorruptBytes]:
    return [i for i in items if isinstance(i, CorruptBytes)]


def test_heartbeat_golden_vector() -> None:
    assert crc16_modbus(HEARTBEAT[:-2]) == 0x110A
    assert Frame(1, 0).encode() == HEARTBEAT
    assert FrameDecoder().feed(HEARTBEAT) == [Frame(1, 0, b"")]


@pytest.mark.parametrize("size", [0, 1, 2, 63, 64, 65, 127, 3001])
@pytest.mark.parametrize("implementation", [crc16_modbus, crc16_modbus_python])
def test_crc_matches_bitwise_reference(
    size: int, implementation: Callable[[bytes | bytearray | memoryview], int]
) -> None:
    data = bytes((i * 37 + 11) & 0xFF for i in range(size))
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    assert implementation(data) == crc
    assert implementation(bytearray(data)) == crc
    assert implementation(memoryview(data)) == crc


def test_header_fields() -> None:
    frame = Frame(2, 16, b'{"Status":"Success"}')
    wire = frame.encode()
    assert wire[:7] == bytes([1, 2, 16, 0, 0, 0, 20])
    assert frame.header == (1, 2, 16)


def test_split_at_every_boundary() -> None:
    stream = b"".join(
        [
            Frame(1, 16, b'{"SOC":"33.2"}').encode(),
            HEARTBEAT,
            Frame(1, 12, b"Date,Time\n2021/03/24,10:00:00\n").encode(),
        ]
    )
    expected = FrameDecoder().feed(stream)
    assert len(expected) == 3
    for cut in range(len(stream) + 1):
        decoder = FrameDecoder()
        out = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert out == expected, cut
        assert decoder.buffered == 0


def test_one_byte_at_a_time_and_many_in_one_chunk() -> None:
    frames = [Frame(1, c, f'{{"n":"{c}"}}'.encode()) for c in range(40)]
    stream = b"".join(f.encode() for f in frames)
    assert FrameDecoder().feed(stream) == frames
    decoder = FrameDecoder()
    out: list[Frame | CorruptBytes] = []
    for byte in stream:
        out += decoder.feed(bytes([byte]))
    assert out == frames


def test_crc_mismatch_reports_frame_and_keeps_next() -> None:
    bad = bytearray(Frame(1, 16, b'{"SOC":"1"}').encode())
    bad[-1] ^= 0xFF
    good = Frame(1, 5, b'{"SOC":"2"}')
    out = FrameDecoder().feed(bytes(bad) + good.encode())
    assert frames_of(out) == [good]
    (corrupt,) = corrupt_of(out)
    assert corrupt.reason is CorruptReason.CRC_MISMATCH
    assert corrupt.data == bytes(bad)


def test_garbage_before_and_between_frames() -> None:
    good = Frame(1, 16, b"{}")
    out = FrameDecoder().feed(
        b"GET / HTTP/1.1\r\n" + good.encode() + b"\xff\xfe" + good.encode()
    )
    assert frames_of(out) == [good, good]
    assert [c.reason for c in corrupt_of(out)] == [CorruptReason.BAD_HEADER] * 2
    assert corrupt_of(out)[0].data == b"GET / HTTP/1.1\r\n"


def test_hostile_length_is_never_buffered() -> None:
    decoder = FrameDecoder(max_payload=1024)
    hostile = bytes([1, 1, 16]) + (2**31).to_bytes(4, "big")
    out = decoder.feed(hostile + b"x" * 5000)
    assert corrupt_of(out)[0].reason is CorruptReason.OVERSIZED
    assert decoder.buffered < 1024 + 9
    good = Frame(1, 0, b"")
    assert frames_of(decoder.feed(good.encode())) == [good]


def test_payload_at_cap_is_accepted() -> None:
    decoder = FrameDecoder(max_payload=100)
    frame = Frame(1, 4, b"x" * 100)
    assert decoder.feed(frame.encode()) == [frame]
    assert corrupt_of(decoder.feed(Frame(1, 4, b"x" * 101).encode()))


def test_partial_frame_waits_without_output() -> None:
    decoder = FrameDecoder()
    wire = Frame(1, 16, b'{"SOC":"5"}').encode()
    assert decoder.feed(wire[:-1]) == []
    assert decoder.buffered == len(wire) - 1
    assert frames_of(decoder.feed(wire[-1:]))


def test_lone_trailing_bytes_are_dropped_or_kept_sensibly() -> None:
    decoder = FrameDecoder()
    # A lone 0x02 can never start a header: dropped and reported.
    out = decoder.feed(b"\x02")
    assert corrupt_of(out)[0].data == b"\x02"
    assert decoder.buffered == 0
    # A lone 0x01 may start the next header: kept.
    assert decoder.feed(b"\x01") == []
    assert decoder.buffered == 1
    # 0x01 0x07 cannot: dropped at once.
    out = decoder.feed(b"\x07")
    assert corrupt_of(out)[0].data == b"\x01\x07"
    assert decoder.buffered == 0


def test_unknown_command_and_version_bytes_survive() -> None:
    frame = Frame(1, 200, b"{}")
    assert FrameDecoder().feed(frame.encode()) == [frame]

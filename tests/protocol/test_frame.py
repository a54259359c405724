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
from custom_components.alphaess_local.protocol.codec import frame as frame_module
from custom_components.alphaess_local.protocol.codec.crc import crc16_modbus_python

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


# --- hostile input: bounded work, no swallowed frames ------------------------------


def _login(serial: str = "AL9002021030042") -> bytes:
    body = f'{{"UserName":"{serial}","Password":"pw","CompanyName":"AlphaESS"}}'
    return Frame(1, 2, body.encode()).encode()


def test_damaged_frame_never_swallows_the_valid_frames_after_it() -> None:
    # The login's length bytes (00 00 00 4f) followed by '{"' read as a reply header
    # claiming ~20 KB when resynchronising inside the frame: the old decoder waited
    # for it and took the 200 good frames after it as its payload.
    bad = bytearray(_login())
    bad[-1] ^= 0xFF
    good = [Frame(1, 16, f'{{"SOC":"{n}"}}'.encode()) for n in range(200)]
    decoder = FrameDecoder()
    out = decoder.feed(bytes(bad))
    for frame in good:
        out += decoder.feed(frame.encode())
    assert frames_of(out) == good
    assert [c.reason for c in corrupt_of(out)] == [CorruptReason.CRC_MISMATCH]
    assert decoder.buffered == 0


def test_damaged_length_is_abandoned_when_the_stream_goes_quiet() -> None:
    # A length field damaged upwards holds the decoder; the battery meanwhile waits for
    # its ack. abandon_partial() (called by the session after a quiet spell) resyncs.
    wire = bytearray(Frame(1, 16, b'{"SOC":"1"}').encode())
    wire[5] = 0x20  # length 11 -> 8 203, still plausible for a realtime record
    good = Frame(1, 16, b'{"SOC":"2"}')
    decoder = FrameDecoder()
    assert decoder.feed(bytes(wire) + good.encode()) == []
    out = decoder.abandon_partial()
    assert frames_of(out) == [good]
    assert decoder.buffered == 0


def test_forged_length_beyond_the_command_limit_is_refused_at_once() -> None:
    decoder = FrameDecoder()
    forged = bytes([1, 1, 16]) + (900 * 1024).to_bytes(4, "big")
    out = decoder.feed(forged + b"x" * 100)
    assert corrupt_of(out)[0].reason is CorruptReason.OVERSIZED
    assert decoder.buffered == 0


def test_overlapping_headers_cost_crc_work_linear_in_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked = 0
    real = frame_module.crc16_modbus

    def counting(data: bytes | bytearray | memoryview) -> int:
        nonlocal checked
        checked += len(data)
        return real(data)

    monkeypatch.setattr(frame_module, "crc16_modbus", counting)
    # Every 7 bytes a header claiming the longest plausible history frame.
    piece = bytes([1, 1, 12]) + (60 * 1024).to_bytes(4, "big")
    decoder = FrameDecoder()
    fed = 0
    for _ in range(60_000):
        decoder.feed(piece)
        fed += len(piece)
    assert decoder.buffered <= 64 * 1024 + 9
    # Failed candidates may cost at most what was received; the old decoder checked
    # ~60 KB per 7 bytes once the first claim was complete (~3 000x more).
    assert checked <= fed + frame_module.MAX_PLAUSIBLE_PAYLOAD


def test_failure_limit_stops_parsing_and_forgive_opens_a_new_window() -> None:
    decoder = FrameDecoder(max_failures=3)
    out = decoder.feed(
        b"\x02junk\x01\x01\xff\xff\xff\xff\xffmore\x01\x02\xff\xff\xff\xff\xff"
    )
    assert decoder.failures == 3
    assert decoder.exhausted
    assert corrupt_of(out)[-1].reason is CorruptReason.TOO_MANY_ERRORS
    assert decoder.feed(Frame(1, 0).encode()) == []
    assert decoder.discarded == 9
    assert decoder.buffered == 0

    healthy = FrameDecoder(max_failures=3)
    healthy.feed(b"\x02\x03")
    healthy.forgive()
    assert healthy.failures == 0
    assert frames_of(healthy.feed(Frame(1, 0).encode()))

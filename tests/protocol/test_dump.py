"""The unknown-traffic dump: one ordered writer, bounded lines and files, no leaks."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
import random
from typing import Any

import pytest

from custom_components.alphaess_local.protocol.server.dump import TrafficDump

SERIAL = "AL9002021030042"
MASKED = "AL90*********42"
HISTORY = (
    b"Date,Time,SN,Ppv1,Ppv2,SOC\n"
    b"2021/03/24,11:00:35,AL9002021030042,2228,2200,62.4\n"
    b"2021/03/24,11:01:36,AL9002021030042,300,282,62.8\n"
)


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def payload_of(line: dict[str, Any]) -> bytes:
    if "payload_base64" in line:
        return base64.b64decode(line["payload_base64"], validate=True)
    return str(line["payload"]).encode()


def dump_files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


async def test_lines_land_in_the_order_they_were_written(tmp_path: Path) -> None:
    dump = TrafficDump(tmp_path / "d.jsonl", max_pending=5000)
    for n in range(2000):
        dump.write(peer="p", reason="r", data=f"line {n}".encode())
        if n % 97 == 0:
            await asyncio.sleep(0)  # let the writer start mid-stream, too
    await dump.aclose()
    payloads = [line["payload"] for line in read_lines(tmp_path / "d.jsonl")]
    assert payloads == [f"line {n}" for n in range(2000)]
    assert (dump.written, dump.dropped) == (2000, 0)


async def test_rotation_keeps_the_order_across_files(tmp_path: Path) -> None:
    dump = TrafficDump(tmp_path / "d.jsonl", max_bytes=2000, backups=1000)
    for n in range(300):
        dump.write(peer="p", reason="r", data=f"line {n}".encode())
    await dump.aclose()
    files = [tmp_path / "d.jsonl"]
    files += [tmp_path / f"d.jsonl.{n}" for n in range(1, len(dump_files(tmp_path)))]
    lines = [line for file in reversed(files) for line in read_lines(file)]
    assert [line["payload"] for line in lines] == [f"line {n}" for n in range(300)]
    assert all(file.stat().st_size <= 2000 for file in files)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        pytest.param(b"{" + b"x" * 1_000_000 + b"}", "text", id="ascii"),
        pytest.param("é€😀".encode() * 100_000, "text", id="multibyte"),
        pytest.param(b"\x01\x1f" * 100_000, "text", id="escaped-controls"),
        pytest.param(bytes(range(256)) * 4000, "binary", id="binary"),
    ],
)
async def test_a_line_never_exceeds_max_line_bytes(
    tmp_path: Path, data: bytes, kind: str
) -> None:
    dump = TrafficDump(tmp_path / "d.jsonl", max_line_bytes=4096)
    dump.write(peer="p", reason="r", data=data, header=(1, 1, 77))
    dump.write(peer="p", reason="r", data=b"small")
    await dump.aclose()
    raw_lines = (tmp_path / "d.jsonl").read_bytes().splitlines(keepends=True)
    assert len(raw_lines[0]) <= 4096
    big, small = (json.loads(line) for line in raw_lines)
    assert big["truncated"] is True
    assert big["length"] == len(data)
    assert ("payload" in big) == (kind == "text")
    kept = payload_of(big)
    assert kept
    assert data.startswith(kept)
    # The cut keeps as much as fits, not a token amount.
    assert len(raw_lines[0]) > 4096 - 16
    assert (small["payload"], small["truncated"], small["length"]) == (
        "small",
        False,
        5,
    )


async def test_no_file_ever_exceeds_max_bytes(tmp_path: Path) -> None:
    rng = random.Random(7)
    dump = TrafficDump(tmp_path / "d.jsonl", max_bytes=3000, backups=3)
    for n in range(60):
        size = rng.choice([10, 500, 2900, 3000, 70_000, 1_000_000])
        data = rng.randbytes(size) if n % 2 else (f"{n} " + "y" * size).encode()[:size]
        dump.write(peer="192.0.2.1:5000", reason="unknown command", data=data)
    await dump.aclose()
    files = dump_files(tmp_path)
    assert [f.name for f in files] == ["d.jsonl", "d.jsonl.1", "d.jsonl.2", "d.jsonl.3"]
    for file in files:
        assert file.stat().st_size <= 3000
        for line in read_lines(file):
            assert line["length"] >= len(payload_of(line))
    assert dump.written == 60


async def test_a_line_that_cannot_fit_is_dropped_not_written(tmp_path: Path) -> None:
    dump = TrafficDump(tmp_path / "d.jsonl", max_bytes=120)
    dump.write(peer="p", reason="r", data=b"x" * 10_000)
    await dump.aclose()
    assert (dump.written, dump.dropped) == (0, 1)
    assert dump_files(tmp_path) == []


async def test_non_utf8_history_is_masked_before_base64(tmp_path: Path) -> None:
    # A reconnected battery's first frame: the session does not know the serial yet.
    payload = HISTORY.replace(b"2228,", b"22\xff28,")
    dump = TrafficDump(tmp_path / "d.jsonl")
    dump.write(peer="p", reason="crc_mismatch", data=payload, serials=())
    await dump.aclose()
    text = (tmp_path / "d.jsonl").read_text()
    (line,) = read_lines(tmp_path / "d.jsonl")
    decoded = payload_of(line)
    assert "payload_base64" in line
    assert SERIAL not in text
    assert SERIAL.encode() not in decoded
    assert decoded.count(MASKED.encode()) == 2
    assert decoded == payload.replace(SERIAL.encode(), MASKED.encode())


async def test_truncated_binary_history_leaks_no_part_of_a_serial(
    tmp_path: Path,
) -> None:
    rows = b"".join(
        b"2021/03/24,11:%02d:00,AL9002021030042,%d,\xfe,1\n" % (n % 60, n)
        for n in range(50_000)
    )
    payload = b"Date,Time,SN,Ppv1,X,SOC\n" + rows
    dump = TrafficDump(tmp_path / "d.jsonl", max_line_bytes=10_000)
    dump.write(peer="p", reason="r", data=payload)
    await dump.aclose()
    (line,) = read_lines(tmp_path / "d.jsonl")
    decoded = payload_of(line)
    assert line["truncated"] is True
    assert MASKED.encode() in decoded
    for start in range(len(SERIAL) - 4):
        assert SERIAL.encode()[start : start + 5] not in decoded


async def test_reason_is_bounded_and_redacted(tmp_path: Path) -> None:
    dump = TrafficDump(tmp_path / "d.jsonl")
    reason = f"undecodable: duplicate key '{SERIAL}' " + "x" * 10_000
    dump.write(peer="p", reason=reason, data=b"{}", serials=["my-battery"])
    await dump.aclose()
    (line,) = read_lines(tmp_path / "d.jsonl")
    assert len(line["reason"]) <= 200
    assert MASKED in line["reason"]
    assert line["serial"] == "my-b****ry"


async def test_flush_and_aclose_run_concurrently(tmp_path: Path) -> None:
    dump = TrafficDump(tmp_path / "d.jsonl")
    for n in range(500):
        dump.write(peer="p", reason="r", data=f"{n}".encode())
    cancelled = asyncio.create_task(dump.flush())
    flushes = [asyncio.create_task(dump.flush()) for _ in range(3)]
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(dump.aclose(), dump.aclose(), *flushes)
    assert cancelled.cancelled()
    assert dump.written == 500
    assert len(read_lines(tmp_path / "d.jsonl")) == 500
    await dump.flush()  # nothing left: returns at once
    dump.write(peer="p", reason="r", data=b"after close")
    assert dump.dropped == 1
    await dump.flush()
    assert len(read_lines(tmp_path / "d.jsonl")) == 500


async def test_flush_waits_for_what_was_queued_when_called(tmp_path: Path) -> None:
    dump = TrafficDump(tmp_path / "d.jsonl")
    for n in range(10):
        dump.write(peer="p", reason="r", data=f"{n}".encode())
    flush = asyncio.create_task(dump.flush())
    for n in range(10, 20):
        dump.write(peer="p", reason="r", data=f"{n}".encode())
    await flush
    assert dump.written >= 10
    await dump.aclose()
    assert dump.written == 20


async def test_unwritable_path_counts_lines_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("not a directory")
    dump = TrafficDump(tmp_path / "file" / "d.jsonl")
    for _ in range(3):
        dump.write(peer="p", reason="r", data=b"x")
        await dump.flush()
    await dump.aclose()
    assert (dump.written, dump.dropped) == (0, 3)
    assert caplog.text.count("Cannot write the unknown-traffic dump") == 1


async def test_writer_bug_is_logged_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = TrafficDump(tmp_path / "d.jsonl")

    def broken(lines: list[bytes]) -> int:
        raise RuntimeError("writer bug")

    monkeypatch.setattr(dump, "_write_lines", broken)
    dump.write(peer="p", reason="r", data=b"x")
    await dump.aclose()
    assert (dump.written, dump.dropped) == (0, 1)
    assert "Unexpected error writing the unknown-traffic dump" in caplog.text


async def test_write_while_the_executor_shuts_down_drops_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise RuntimeError("cannot schedule new futures after shutdown")

    monkeypatch.setattr(asyncio.get_running_loop(), "run_in_executor", refuse)
    dump = TrafficDump(tmp_path / "d.jsonl")
    dump.write(peer="p", reason="r", data=b"x")
    await dump.aclose()
    assert (dump.written, dump.dropped) == (0, 1)


async def test_backlog_is_bounded_while_the_writer_is_busy(tmp_path: Path) -> None:
    dump = TrafficDump(tmp_path / "d.jsonl", max_pending=100)
    for _ in range(1000):
        dump.write(peer="p", reason="r", data=b"x" * 100_000)
        assert dump.pending <= 100
    assert dump.dropped == 900
    await dump.aclose()
    assert dump.written == 100


async def test_no_writer_is_left_running_after_aclose(tmp_path: Path) -> None:
    dump = TrafficDump(tmp_path / "d.jsonl")
    for _ in range(50):
        dump.write(peer="p", reason="r", data=b"x")
    await dump.aclose()
    assert dump.pending == 0
    assert dump._job is None
    assert not dump._waiters
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert dump.written == 50

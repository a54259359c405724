"""Parsers for the loosely typed payload values."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, strategies as st
import pytest

from custom_components.alphaess_local.protocol import (
    DetailedRecord,
    Frame,
    HistoryUpload,
    RealtimeRecord,
    decode_message,
)
from custom_components.alphaess_local.protocol.codec.values import (
    _time_fields,
    parse_any,
    parse_bool,
    parse_float,
    parse_int,
    parse_packed_temperature,
    parse_packed_voltage,
    parse_str,
    parse_time,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("33.2", 33.2),
        (5, 5.0),
        ("x", None),
        (True, None),
        (None, None),
        ([], None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_float(raw: object, expected: float | None) -> None:
    assert parse_float(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("3", 3), (3, 3), ("3.0", 3), ("3.5", None), (False, None), ("x", None), (4.0, 4)],
)
def test_parse_int(raw: object, expected: int | None) -> None:
    assert parse_int(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        ("False", False),
        ("true", True),
        ("0", False),
        (1, True),
        (2, None),
        ("maybe", None),
        (None, None),
    ],
)
def test_parse_bool(raw: object, expected: bool | None) -> None:
    assert parse_bool(raw) == expected


def test_parse_str_and_any() -> None:
    assert parse_str(5) == "5"
    assert parse_str(None) is None
    assert parse_str(True) is None
    assert parse_any([1]) == "[1]"
    assert parse_any("0.5") == 0.5
    assert parse_any("abc") == "abc"
    assert parse_time(5) is None
    assert parse_time("2021/13/01 00:00:00") is None


def test_packed_words_out_of_range() -> None:
    assert parse_packed_voltage("-1") is None
    assert parse_packed_voltage(2**32) is None
    assert parse_packed_temperature("x") is None
    below_zero = parse_packed_temperature((1 << 24) | (2 << 16) | 0xFB)
    assert below_zero is not None
    assert below_zero.value == -5


def test_derived_powers_need_their_inputs() -> None:
    record = decode_message(Frame(1, 16, b'{"Time":"2021/03/24 10:00:00"}'))
    assert isinstance(record, RealtimeRecord)
    assert record.pv_power is None
    assert record.house_load is None
    assert record.time == datetime(2021, 3, 24, 10)


def test_history_rows_carry_date_and_time_joined() -> None:
    upload = decode_message(
        Frame(1, 12, b"Date,Time\n2021/03/24,10:00:00\n2021/03/24,10:01:00\n")
    )
    assert isinstance(upload, HistoryUpload)
    assert [row.time for row in upload.rows] == [
        datetime(2021, 3, 24, 10),
        datetime(2021, 3, 24, 10, 1),
    ]


def test_error_codes_and_module_socs() -> None:
    record = decode_message(
        Frame(
            1,
            5,
            b'{"Time":"2021/03/24 10:00:00","ErrInv":"0","ErrBms":"12",'
            b'"BmsNum":"2","SOC1":"50","SOC2":"52","SOC3":"0"}',
        )
    )
    assert isinstance(record, DetailedRecord)
    assert record.error_codes == {"ErrBms": 12}
    assert record.module_socs == (50, 52)


_TIME_CHARS = st.sampled_from([*"0123456789", " ", "+", "-", "_", "/", "٣", "x", "T"])


@given(st.lists(_TIME_CHARS, min_size=14, max_size=14), st.sampled_from(["", "24"]))
def test_parse_time_fast_path_reads_what_the_fields_read(
    chars: list[str], hour: str
) -> None:
    digits = "".join(chars)
    if hour:
        digits = digits[:8] + hour + digits[10:]
    text = f"{digits[:4]}/{digits[4:6]}/{digits[6:8]} {digits[8:10]}:{digits[10:12]}:{digits[12:]}"
    assert parse_time(text) == _time_fields(text)


@pytest.mark.parametrize(
    "text",
    [
        "2021/03/24 20:59:22",
        "2021/02/29 10:00:00",
        "2021/03/24 24:00:00",
        "2021/03/24X20:59:22",
    ],
)
def test_parse_time_fast_path_examples(text: str) -> None:
    assert parse_time(text) == _time_fields(text)

"""Personal data never leaves through printed messages or raw-text redaction."""

from __future__ import annotations

import json
import string

from hypothesis import given, strategies as st
import pytest

from custom_components.alphaess_local.protocol import (
    Frame,
    UnknownMessage,
    decode_message,
)
from custom_components.alphaess_local.protocol.codec.redact import (
    REDACTED,
    SECRET_KEYS,
    SERIAL_KEYS,
    mask_serial,
    redact_bytes,
    redact_head,
    redact_mapping,
    redact_text,
    to_jsonable,
)

from ..conftest import load_fixture_bytes, load_session

SECRETS = ("AL9002021030042", "1 Example Street", "X123", "123456")


def test_mask_serial() -> None:
    assert mask_serial("AL9002021030042") == "AL90*********42"
    assert mask_serial("SHORT") == "*****"
    assert mask_serial(None) == "<unknown>"


def test_every_session_message_prints_without_personal_data() -> None:
    session = load_session()
    frames = [
        Frame(1, 4, session["system_report_raw"].encode()),
        Frame(2, 3, session["cloud_config_raw"].encode()),
        Frame(1, 5, json.dumps(session["detail"]).encode()),
        Frame(1, 16, json.dumps(session["realtime"][0]).encode()),
        Frame(
            1,
            12,
            "\n".join([session["csv_header"], *session["history_rows"][:3]]).encode(),
        ),
        Frame(1, 9, json.dumps(session["event_log"]).encode()),
        Frame(1, 2, b'{"UserName":"AL9002021030042","Password":"123456"}'),
        Frame(1, 42, b'{"SN":"AL9002021030042","PhoneNumber":123456}'),
        Frame(1, 16, b'{"SN":"AL9002021030042","broken'),
    ]
    for frame in frames:
        text = json.dumps(to_jsonable(decode_message(frame)))
        for secret in SECRETS:
            assert secret not in text, (frame.header, secret)


def test_printed_values_keep_their_meaning() -> None:
    record = decode_message(Frame(1, 5, load_fixture_bytes("1-1-5.json")))
    data = to_jsonable(record)
    assert data["vcell_low"] == {"module": 1, "index": 4, "value": 3364}
    assert data["time"] == "2021-03-24T11:00:35"
    unknown = decode_message(Frame(1, 42, b'{"SN":"AL9002021030042"}'))
    assert isinstance(unknown, UnknownMessage)
    assert to_jsonable(unknown)["frame"] == {"header": [1, 1, 42], "length": 24}
    assert to_jsonable(b"abc") == "<3 bytes>"


def test_raw_text_redaction() -> None:
    raw = '{"SN":"AL9002021030042","Address":"1 Example Street","PhoneNumber":123456,"X":"1"}'
    text = redact_text(raw, ["AL9002021030042"])
    assert text == (
        '{"SN":"AL90*********42","Address":"**REDACTED**",'
        '"PhoneNumber":"**REDACTED**","X":"1"}'
    )
    assert redact_mapping({"License": "L", "UserName": "AL9002021030042", "a": 1}) == {
        "License": REDACTED,
        "UserName": "AL90*********42",
        "a": 1,
    }


def test_cli_prints_redacted_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from custom_components.alphaess_local.protocol.cli import _print_event
    from custom_components.alphaess_local.protocol.codec.frame import (
        CorruptBytes,
        CorruptReason,
    )
    from custom_components.alphaess_local.protocol.server.events import (
        Corrupted,
        Disconnected,
        Received,
    )

    now = datetime(2026, 1, 1, tzinfo=UTC)
    login = decode_message(
        Frame(1, 2, b'{"UserName":"AL9002021030042","Password":"pw-1"}')
    )
    _print_event(Received("AL9002021030042", now, "1.2.3.4:5", login))
    _print_event(
        Corrupted(None, now, "1.2.3.4:5", CorruptBytes(b"xx", CorruptReason.BAD_HEADER))
    )
    _print_event(Disconnected("AL9002021030042", now, "1.2.3.4:5"))
    out, err = capsys.readouterr()
    assert json.loads(out)["message"]["password"] == REDACTED
    assert "AL9002021030042" not in out + err
    assert "pw-1" not in out + err
    assert "2 corrupt bytes (bad_header)" in err
    assert "disconnected" in err


# --- raw bytes: serials nobody named, payloads that are not text ---------------------

SERIAL = "AL9002021030042"
MASKED = "AL90*********42"


def test_history_csv_serial_column_is_masked_without_being_told() -> None:
    session = load_session()
    csv = "\n".join([session["csv_header"], *session["history_rows"]]).encode()
    clean = redact_bytes(csv)
    assert SERIAL.encode() not in clean
    assert clean.count(MASKED.encode()) == len(session["history_rows"])
    # Nothing but the serial changed.
    assert clean == csv.replace(SERIAL.encode(), MASKED.encode())


def test_csv_column_masks_serials_of_any_shape() -> None:
    payload = (
        b"Date,Time, SN ,Ppv1,InvSN\r\n"
        b"2021/03/24,11:00:35, my-battery-7 ,2228,INV-1\r\n"
        b"2021/03/24,11:01:35,\xffzz\xfe,2200\r\n"
        b"Date,Time,SN,Ppv1,InvSN\r\n"
        b"2021/03/24,11:02:35,,2100,\r\n"
        b"2021/03/24,11:03:35,XY9,2100,INV-2,extra,cells\r\n"
    )
    assert redact_bytes(payload) == (
        b"Date,Time, SN ,Ppv1,InvSN\r\n"
        b"2021/03/24,11:00:35, my-b******-7 ,2228,**REDACTED**\r\n"
        b"2021/03/24,11:01:35,****,2200\r\n"
        b"Date,Time,SN,Ppv1,InvSN\r\n"
        b"2021/03/24,11:02:35,,2100,\r\n"
        b"2021/03/24,11:03:35,***,2100,**REDACTED**,extra,cells\r\n"
    )


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (b"\xff\x00AL9002021030042\x01", b"\xff\x00AL90*********42\x01"),
        (b"sn=AL9002021030042;", b"sn=AL90*********42;"),
        (b"ALB1234567890", b"ALB1*******90"),  # three letters, ten more
        (b"TD0123456789ABCDEF", b"TD01************EF"),
        (b"(AL9002021030042)", b"(AL90*********42)"),
        (b"XAL9002021030042", b"XAL9**********42"),
    ],
)
def test_serial_shaped_tokens_are_masked_anywhere(raw: bytes, clean: bytes) -> None:
    assert redact_bytes(raw) == clean
    assert redact_text(raw.decode("latin-1")) == clean.decode("latin-1")


@pytest.mark.parametrize(
    "text",
    [
        "2021/03/24 10:01:52",
        "2021-03-24T10:01:52Z",
        "21/03/24 10:01:40 41;21/03/24 10:01:41 12",
        "12345678901234567890",
        "-1847.5680",
        "17042724",
        '"PMeterDCL1":"12","BatterySN1":',
        "PMETERDCL1234567890",  # capitals but no digit where a serial has one
        "HELLOWORLDFOOBARBAZ",
        "V1.01.05",
        "Storion-GINLANG-S5",
        "AL900202103",  # too short for a serial
        "ABCD9002021030042",  # four letters: not a serial's prefix
        "al9002021030042",
        "AL9002021030042123456789",  # too long
        "AL9002021030042x",
    ],
)
def test_ordinary_values_are_left_alone(text: str) -> None:
    assert redact_bytes(text.encode()) == text.encode()


def test_session_payloads_lose_only_their_secrets() -> None:
    session = load_session()
    payloads = [
        session["system_report_raw"],
        session["cloud_config_raw"],
        json.dumps(session["realtime"][0]),
        json.dumps(session["detail"]),
        json.dumps(session["event_log"]),
        load_fixture_bytes("1-1-4.json").decode(),
        load_fixture_bytes("1-1-9.json").decode(),
    ]
    for payload in payloads:
        before = json.loads(payload)
        after = json.loads(redact_bytes(payload.encode()))
        changed = {k for k in before if before[k] != after[k]}
        assert changed <= SECRET_KEYS | SERIAL_KEYS
        assert before.keys() == after.keys()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"Password":"hunter2-secret',
        b'{"Password":"hunter2-secret\\',
        b'{"Address": "1 Secret Lane\\"quoted',
        b'{"PhoneNumber":0499111222',
    ],
)
def test_secret_cut_off_by_the_end_of_the_data_is_redacted(raw: bytes) -> None:
    clean = redact_bytes(raw)
    assert clean.endswith(b'"**REDACTED**"')
    for secret in (b"hunter2", b"Secret Lane", b"0499"):
        assert secret not in clean


MIXED = (
    b'{"SN":"AL9002021030042","Address":"1 Secret Lane","InvSN":"INV-SN-1"}\n'
    b"Date,Time,SN,Ppv1\n2021/03/24,11:00:35,AL9002021030042,2228\n"
    b"2021/03/24,11:01:35,my-battery-7,2200\n"
    b"\xff\x00AL9002021030042\x01 owner caf\xc3\xa9 my-battery-7 ALB9002021030042;"
)
LEAKS = (b"00202", b"21030", b"Secret", b"INV-S", b"battery-", b"B900")


def test_redact_head_never_leaves_a_cut_secret_behind() -> None:
    for limit in range(len(MIXED) + 2):
        head, whole = redact_head(MIXED, limit, ["my-battery-7"])
        assert whole == (limit >= len(MIXED))
        for leak in LEAKS:
            assert leak not in head, (limit, leak, head)
    assert redact_head(MIXED, len(MIXED), ["my-battery-7"]) == (
        redact_bytes(MIXED, ["my-battery-7"]),
        True,
    )


def test_redact_head_keeps_text_whole_characters() -> None:
    text = "é" * 100
    for limit in range(1, 60):
        head, whole = redact_head(text.encode(), limit)
        assert not whole
        assert head.decode("utf-8") == "é" * (limit // 2)


# Junk without digits: any five characters of the serial found after redaction leaked.
JUNK = st.binary(max_size=60).map(lambda b: b.translate(None, string.digits.encode()))
SEPARATORS = st.sampled_from([b" ", b",", b";", b'"', b"\n", b"\x00", b"\xff", b":"])
CONTEXTS = st.sampled_from(
    [
        b"%s",
        b'{"SN":"%s"}',
        b'"UserName":%s,',
        b"Date,Time,SN\n2021/03/24,11:00:35,%s\n",
        b"Date,SN,Ppv1\r\nx,%s,1\r\n",
    ]
)


@given(st.lists(st.tuples(JUNK, SEPARATORS, CONTEXTS, SEPARATORS), max_size=5), JUNK)
def test_redaction_never_leaks_a_serial_in_any_surroundings(
    parts: list[tuple[bytes, bytes, bytes, bytes]], tail: bytes
) -> None:
    data = b"".join(
        j + a + c.replace(b"%s", SERIAL.encode()) + b for j, a, c, b in parts
    )
    data += tail
    windows = {SERIAL.encode()[i : i + 5] for i in range(len(SERIAL) - 4)}
    clean = redact_bytes(data)
    assert not any(w in clean for w in windows), clean
    for limit in (0, 7, len(data) // 2, len(data) - 3):
        head, _ = redact_head(data, limit)
        assert not any(w in head for w in windows), (limit, head)

"""Personal data never leaves through printed messages or raw-text redaction."""

from __future__ import annotations

import json

import pytest

from custom_components.alphaess_local.protocol import (
    Frame,
    UnknownMessage,
    decode_message,
)
from custom_components.alphaess_local.protocol.redact import (
    REDACTED,
    mask_serial,
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
    from custom_components.alphaess_local.protocol.events import (
        Corrupted,
        Disconnected,
        Received,
    )
    from custom_components.alphaess_local.protocol.frame import (
        CorruptBytes,
        CorruptReason,
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

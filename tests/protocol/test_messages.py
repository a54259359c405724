"""Every recorded sample decodes into the typed values it holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
import json
import string
import sys
from typing import get_args

from hypothesis import given, strategies as st
import pytest

from custom_components.alphaess_local.protocol import (
    Acknowledgement,
    CommandReply,
    ConfigAnswer,
    ConfigRequest,
    DetailedRecord,
    EventLog,
    Frame,
    FrameDecoder,
    Heartbeat,
    HistoryUpload,
    Login,
    PackedCell,
    RealtimeRecord,
    ServerCommand,
    SystemMessage,
    SystemReport,
    Undecodable,
    UnknownMessage,
    decode_message,
)
from custom_components.alphaess_local.protocol.codec import messages
from custom_components.alphaess_local.protocol.codec.frame import Command, payload_limit
from custom_components.alphaess_local.protocol.codec.messages import (
    Message,
    build_record,
)
from custom_components.alphaess_local.protocol.codec.records import (
    _ANY_MEMO,
    _MEMOS,
    CACHE_LIMIT as _CACHE_LIMIT,
    build_general as _build_general,
)
from custom_components.alphaess_local.protocol.codec.values import (
    parse_any,
    parse_float,
    parse_int,
    parse_str,
)

from ..conftest import load_fixture_bytes, load_session

MESSAGE_TYPES = get_args(Message.__value__)


def roundtrip(kind: int, command: int, payload: bytes) -> Message:
    """Encode, decode through the stream decoder, then type the payload.

    Payloads longer than the frame type may be on the wire (the decoder refuses those
    as oversized) are typed directly: ``decode_message`` must survive them too.
    """
    if len(payload) > payload_limit(kind, command):
        return decode_message(Frame(kind, command, payload))
    (frame,) = FrameDecoder().feed(Frame(kind, command, payload).encode())
    assert isinstance(frame, Frame)
    assert frame.payload == payload
    return decode_message(frame)


def sample(name: str) -> Message:
    version, kind, command = (int(p) for p in name.split(".")[0].split("-"))
    assert version == 1
    return roundtrip(kind, command, load_fixture_bytes(name))


def test_realtime_sample() -> None:
    record = sample("1-1-16.json")
    assert isinstance(record, RealtimeRecord)
    assert record.soc == 93.6
    assert record.pbat == 333.66
    assert record.time == datetime(2021, 3, 24, 20, 59, 22)
    assert record.preal_l1 == 220
    assert record.reactive_power_ac == -622
    assert record.extra == {}
    assert record.house_load == 220 + 31 + 0


def test_detailed_sample() -> None:
    record = sample("1-1-5.json")
    assert isinstance(record, DetailedRecord)
    assert record.epv_total == 436.1
    assert record.e_input == 60.0
    assert record.e_output == 128.4
    assert record.e_charge == 146.8
    assert record.e_discharge == 138.6
    assert record.e_grid_charge == 3.0
    assert record.upv1 == 256.2
    assert record.vcell_low == PackedCell(1, 4, 3364, 17042724)
    assert record.vcell_high == PackedCell(1, 11, 3369, 17501481)
    assert record.tcell_low is not None
    assert record.tcell_low.value == 26
    assert record.tcell_high is not None
    assert record.tcell_high.value == 27
    assert record.ems_status == "Normal"
    assert record.module_socs == (62.4,)
    assert record.error_codes == {}
    # Keys without a field are kept, typed as well as they can be.
    assert record.extra["Eirp"] == -63
    assert record.extra["CSQ"] == "99,99"
    assert record.extra["MeterDCUa"] == 249.4


def test_history_sample() -> None:
    upload = sample("1-1-12.csv")
    assert isinstance(upload, HistoryUpload)
    assert len(upload.rows) == 3
    first = upload.rows[0]
    assert first.time == datetime(2021, 3, 24, 11, 0, 35)
    assert first.upv1 == 256.2  # spelled Vpv1 in the CSV header
    assert first.vcell_low == PackedCell(module=1, index=4, value=3364, raw=17042724)
    assert upload.rows[1].vcell_low == PackedCell(1, 6, 3355, 17173787)
    assert upload.malformed_rows == ()
    # The detailed-record sample was rebuilt from this first row.
    detailed = sample("1-1-5.json")
    assert isinstance(detailed, DetailedRecord)
    for name in ("epv_total", "e_input", "pbat", "soc", "vcell_low", "tcell_high"):
        assert getattr(first, name) == getattr(detailed, name), name


def test_system_report_sample_with_duplicate_key() -> None:
    report = sample("1-1-4.json")
    assert isinstance(report, SystemReport)
    assert report.inverter_model == "Storion-GINLANG-S5"
    assert report.battery_model == "Smile-BAT-10.1P"
    assert report.battery_capacity == 10.1
    assert report.usable_capacity == 90
    assert report.grid_charge is False
    assert report.charge_stop_soc == 100
    assert report.discharge_cutoff_soc == 13
    assert report.ems_version == "V1.01.05"
    assert report.extra["Generator"] == 0
    assert report.extra["BackUpBox"] is False


def test_system_report_repr_hides_personal_data() -> None:
    session = load_session()
    report = roundtrip(1, 4, session["system_report_raw"].encode())
    assert isinstance(report, SystemReport)
    assert report.address == "1 Example Street"
    assert report.battery_serials == ("X123",)
    text = repr(report)
    assert "Example Street" not in text
    assert "X123" not in text
    assert "123456" not in text


def test_login_sample_hides_password() -> None:
    login = sample("1-1-2.json")
    assert isinstance(login, Login)
    assert login.serial == "serialnumber"
    assert login.password == "password"
    assert login.company == "AlphaESS"
    assert "password" not in repr(login).replace("Login(", "")


def test_event_log_sample() -> None:
    log = sample("1-1-9.json")
    assert isinstance(log, EventLog)
    assert len(log.entries) == 16
    assert log.entries[0].timestamp == datetime(2021, 3, 24, 20, 59, 10)
    assert log.entries[0].code == 41
    assert log.description == "OK"


def test_system_message() -> None:
    payload = b'{"MsgType":"System","MsgContent":"Restart: watchdog","MAC":"AA"}'
    message = roundtrip(1, 9, payload)
    assert isinstance(message, SystemMessage)
    assert message.msg_type == "System"
    assert message.content == "Restart: watchdog"
    assert message.extra == {"MAC": "AA"}


def test_event_log_keeps_unreadable_entries() -> None:
    payload = b'{"MsgType":"EventLog","MsgContent":"21/03/24 10:01:40 41;garbage;","Description":"OK"}'
    log = roundtrip(1, 9, payload)
    assert isinstance(log, EventLog)
    assert len(log.entries) == 1
    assert log.unparsed == ("garbage",)


def test_config_answer_sample() -> None:
    answer = sample("1-2-3.json")
    assert isinstance(answer, ConfigAnswer)
    assert answer.status == "Success"
    assert answer.settings is not None
    assert answer.settings.grid_charge is False
    assert answer.settings.charge_stop_soc == 100


def test_command_and_reply_samples() -> None:
    command = sample("1-1-8.json")
    assert command == ServerCommand(
        "Resume", "35967905", ("2021/03/24 10:17:43", "641"), {}
    )
    reply = sample("1-2-8.json")
    assert reply == CommandReply("Resume", "35967905", "Success", {})


def test_session_payloads() -> None:
    session = load_session()
    header = session["csv_header"]
    rows = session["history_rows"]
    csv = "\n".join([header, *rows]) + "\n"
    upload = roundtrip(1, 12, csv.encode())
    assert isinstance(upload, HistoryUpload)
    assert len(upload.rows) == 20
    assert upload.serial == session["serial"]
    for raw in session["realtime"]:
        record = roundtrip(1, 16, json.dumps(raw).encode())
        assert isinstance(record, RealtimeRecord)
        assert record.serial == session["serial"]
    detail = roundtrip(1, 5, json.dumps(session["detail"]).encode())
    assert isinstance(detail, DetailedRecord)
    assert detail.soc == 33.6
    answer = roundtrip(2, 3, session["cloud_config_raw"].encode())
    assert isinstance(answer, ConfigAnswer)
    assert answer.settings is not None
    assert answer.settings.serial == session["serial"]


def test_small_messages() -> None:
    assert roundtrip(1, 0, b"") == Heartbeat()
    assert roundtrip(1, 3, b'{"SN":"AL1"}') == ConfigRequest("AL1", {})
    assert roundtrip(2, 16, b'{"Status":"Success"}') == Acknowledgement(
        16, "Success", {}
    )
    assert roundtrip(2, 3, b'{"Status":"Success"}') == ConfigAnswer("Success", None)


def test_unknown_command_is_kept() -> None:
    message = roundtrip(1, 77, b'{"Foo":"1"}')
    assert isinstance(message, UnknownMessage)
    assert message.data == {"Foo": 1}
    assert message.frame.command == 77
    binary = roundtrip(1, 78, b"\x00\xff")
    assert isinstance(binary, UnknownMessage)
    assert binary.data is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"SOC":"1","SOC":"2","Time":"2021/03/24 10:00:00"}', "duplicate key"),
        (b'{"SOC":"1"", "Time":"x"}', "invalid JSON"),
        (b'{"SOC":"1","Time":"2021/03/24 10:', "invalid JSON"),
        (b'{"SOC":"\xff\xfe"}', "not UTF-8"),
        (b'["SOC"]', "expected a JSON object"),
        (b'{"SOC":NaN}', "non-standard JSON constant"),
        (b'{"SOC":"1"}', "without a readable Time"),
        (b"[" * 16_000, "nested too deeply"),
    ],
)
def test_malformed_payloads_are_undecodable(payload: bytes, reason: str) -> None:
    message = roundtrip(1, 16, payload)
    assert isinstance(message, Undecodable)
    assert reason in message.reason
    assert message.raw == payload


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty history"),
        (b"a,b\n1,2\n", "lacks Date and Time"),
        (b"Date,Time\n\xff", "not ASCII"),
    ],
)
def test_malformed_history(payload: bytes, reason: str) -> None:
    message = roundtrip(1, 12, payload)
    assert isinstance(message, Undecodable)
    assert reason in message.reason


def test_history_sets_aside_bad_rows() -> None:
    payload = b"Date,Time,SOC\n2021/03/24,10:00:00,5\n1,2\nbad,date,3\n"
    upload = roundtrip(1, 12, payload)
    assert isinstance(upload, HistoryUpload)
    assert [r.soc for r in upload.rows] == [5]
    assert upload.malformed_rows == ("1,2", "bad,date,3")


def test_numbers_booleans_and_odd_values() -> None:
    payload = (
        b'{"Time":"2021/03/24 10:00:00","SOC":55.5,"Ppv1":"abc","Pbat":true,'
        b'"Flag":"False","Serialish":"0012","Neg":"-3","Empty":""}'
    )
    record = roundtrip(1, 16, payload)
    assert isinstance(record, RealtimeRecord)
    assert record.soc == 55.5
    assert record.ppv1 is None
    assert record.pbat is None
    # Unparsable values of known keys stay visible in extra, as sent.
    assert record.extra["Ppv1"] == "abc"
    assert record.extra["Pbat"] is True
    assert record.extra["Flag"] is False
    assert record.extra["Serialish"] == "0012"
    assert record.extra["Neg"] == -3
    assert record.extra["Empty"] == ""


# --- hostile payloads: decode_message never raises --------------------------------

HUGE = "9" * 5000  # past int()'s 4 300-digit cap
TIME = '"Time":"2021/03/24 10:00:00"'


def test_huge_integer_in_realtime_is_undecodable() -> None:
    payload = f'{{{TIME},"SOC":{HUGE}}}'.encode()
    message = roundtrip(1, 16, payload)
    assert isinstance(message, Undecodable)
    assert message.reason == "number too long"
    assert message.raw == payload


def test_huge_integer_as_login_key_value_is_undecodable() -> None:
    # Longer than a login frame may be on the wire (the decoder refuses it as
    # oversized); typed directly, it still must not raise.
    message = decode_message(
        Frame(1, 2, f'{{"UserName":{HUGE},"Password":"pw"}}'.encode())
    )
    assert isinstance(message, Undecodable)
    assert message.reason == "number too long"
    unknown = roundtrip(1, 77, f'{{"X":{HUGE}}}'.encode())
    assert unknown == UnknownMessage(unknown.frame, None)  # type: ignore[union-attr]


def test_integer_beyond_float_range_is_kept_as_sent() -> None:
    big = 10**400  # parses as JSON, but float() overflows
    message = roundtrip(1, 16, f'{{{TIME},"SOC":{big},"Pbat":"-5"}}'.encode())
    assert isinstance(message, RealtimeRecord)
    assert message.soc is None
    assert message.extra["SOC"] == big
    assert message.pbat == -5


def test_huge_numbers_in_history_csv_cells() -> None:
    header = "Date,Time,SN,Ppv1,VcellLow,InvWorkMode,EmsStatus,Odd"
    row = f"2021/03/24,11:00:35,AL9002021030042,{HUGE},{HUGE},{HUGE},{HUGE},{HUGE}"
    fine = "2021/03/24,11:01:35,AL9002021030042,1.5e400,1e400,-1e400,Normal,1e999"
    message = roundtrip(1, 12, f"{header}\n{row}\n{fine}\n".encode())
    assert isinstance(message, HistoryUpload)
    first, second = message.rows
    assert (first.ppv1, first.vcell_low, first.inv_work_mode) == (None, None, None)
    assert first.ems_status == HUGE
    # Unreadable values of known columns stay visible, as text.
    assert first.extra["Ppv1"] == HUGE
    assert first.extra["Odd"] == HUGE
    assert (second.ppv1, second.vcell_low, second.inv_work_mode) == (None, None, None)
    assert second.extra["Odd"] == "1e999"


def test_huge_time_in_history_csv_row_is_set_aside() -> None:
    payload = f"Date,Time,SOC\n{HUGE},{HUGE},5\n2021/03/24,10:00:00,6\n".encode()
    message = roundtrip(1, 12, payload)
    assert isinstance(message, HistoryUpload)
    assert [r.soc for r in message.rows] == [6]
    assert len(message.malformed_rows) == 1


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("²", id="superscript-two"),
        pytest.param("٣", id="arabic-indic-three"),
        pytest.param(HUGE, id="5000-digits"),
        pytest.param("-1", id="negative"),
        pytest.param("1.5", id="fraction"),
    ],
)
def test_event_codes_that_int_refuses_stay_unparsed(code: str) -> None:
    content = f"21/03/24 10:01:40 41;21/03/24 10:01:41 {code}"
    message = roundtrip(
        1, 9, json.dumps({"MsgType": "EventLog", "MsgContent": content}).encode()
    )
    assert isinstance(message, EventLog)
    assert [e.code for e in message.entries] == [41]
    assert message.unparsed == (f"21/03/24 10:01:41 {code}",)


@pytest.mark.parametrize("depth", [1, 50, 500, 990, 1000, 5000, 200_000])
@pytest.mark.parametrize("command", [0, 2, 4, 5, 8, 9, 16, 77])
def test_deeply_nested_json_never_raises(depth: int, command: int) -> None:
    nested = "[" * depth + "]" * depth
    mixed = '{"a":' * depth + "1" + "}" * depth
    for inner in (nested, mixed):
        payload = f'{{{TIME},"MsgType":"EventLog","X":{inner}}}'.encode()
        message = decode_message(Frame(1, command, payload))
        assert isinstance(message, MESSAGE_TYPES)
        if isinstance(message, Undecodable):
            assert message.reason == "JSON nested too deeply"


def test_duplicate_key_reason_quotes_a_bounded_key() -> None:
    key = "K" * 10_000
    message = roundtrip(1, 16, f'{{"{key}":1,"{key}":2}}'.encode())
    assert isinstance(message, Undecodable)
    assert message.reason.startswith("duplicate key 'KKKK")
    assert len(message.reason) < 100


def test_a_parser_bug_costs_one_frame_not_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("AL9002021030042 parser bug")

    monkeypatch.setattr(messages, "build_record", broken)
    message = roundtrip(1, 16, f"{{{TIME}}}".encode())
    assert isinstance(message, Undecodable)
    # The exception's text may quote the payload: only its type reaches the reason.
    assert message.reason == "payload could not be typed (RuntimeError)"
    monkeypatch.setattr(messages, "parse_any", broken)
    unknown = roundtrip(1, 77, b'{"a":1}')
    assert isinstance(unknown, UnknownMessage)
    assert unknown.data is None
    assert isinstance(roundtrip(1, 0, b'{"a":1}'), Undecodable)


@pytest.mark.parametrize(
    ("parser", "raw", "expected"),
    [
        pytest.param(parse_int, HUGE, None, id="int-huge-text"),
        pytest.param(parse_int, "-" + HUGE, None, id="int-huge-negative-text"),
        pytest.param(parse_int, HUGE + ".0", None, id="int-huge-decimal-text"),
        pytest.param(parse_int, 10**400, 10**400, id="int-big-int"),
        pytest.param(parse_int, "1" * 400, int("1" * 400), id="int-big-text"),
        pytest.param(parse_float, HUGE, None, id="float-huge-text"),
        pytest.param(parse_float, 10**400, None, id="float-int-out-of-range"),
        pytest.param(parse_float, -(10**400), None, id="float-negative-out-of-range"),
        pytest.param(parse_float, 10**300, 1e300, id="float-big-int-in-range"),
        pytest.param(parse_any, HUGE, HUGE, id="any-huge-text-stays-text"),
        pytest.param(parse_any, "-" + HUGE, "-" + HUGE, id="any-huge-negative-text"),
        pytest.param(parse_str, 10**4000, "1" + "0" * 4000, id="str-big-int"),
    ],
)
def test_value_parsers_survive_interpreter_number_limits(
    parser: Callable[[object], object], raw: object, expected: object
) -> None:
    assert parser(raw) == expected


def test_parse_str_refuses_integers_past_the_digit_cap() -> None:
    limit = sys.get_int_max_str_digits()
    assert parse_str(10 ** (limit + 10)) is None


# --- property: no payload of any known command makes decode_message raise ----------


def _payload_keys(*classes: type) -> set[str]:
    return {
        key for c in classes for f in fields(c) for key in f.metadata.get("keys", ())
    }


KEYS = sorted(
    _payload_keys(RealtimeRecord, DetailedRecord, SystemReport)
    | {"UserName", "Password", "CompanyName", "MsgType", "MsgContent", "Description"}
    | {"Command", "CmdIndex", "Parameter1", "Parameter2", "Status", "X"}
)
NUMBERS = st.one_of(
    st.sampled_from([HUGE, "-" + HUGE, "1" * 400, "-" + "1" * 400, HUGE + ".5"]),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["1e400", "-1e400", "1e-400", "-0", "0.5", "4294967295", "1E5"]),
)
STRINGS = st.one_of(
    st.sampled_from(
        [
            "",
            "EventLog",
            "2021/03/24 10:00:00",
            "21/03/24 10:01:40 41;21/03/24 10:01:40 ²;garbage",
            "9" * 5000,
            "nan",
            "-inf",
            "true",
            "AL9002021030042",
        ]
    ),
    st.text(max_size=12),
).map(json.dumps)
JSON_TEXT = st.recursive(
    st.one_of(NUMBERS, STRINGS, st.sampled_from(["true", "false", "null"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=4).map(
            lambda pairs: "{" + ",".join(f'"{k}":{v}' for k, v in pairs) + "}"
        ),
    ),
    max_leaves=12,
)
JSON_OBJECTS = st.lists(
    st.tuples(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), JSON_TEXT),
    max_size=10,
).map(lambda pairs: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}")
CELLS = st.one_of(
    st.sampled_from(
        [
            "2021/03/24",
            "11:00:35",
            "AL9002021030042",
            "",
            "1e400",
            "nan",
            "-0",
            "9" * 5000,
        ]
    ),
    st.text(string.ascii_letters + string.digits + " .:/+-", max_size=10),
)
CSV_TEXT = st.tuples(
    st.lists(st.sampled_from(["Date", "Time", *KEYS[:30]]), min_size=1, max_size=8),
    st.lists(st.lists(CELLS, max_size=9), max_size=5),
).map(lambda t: "\n".join([",".join(t[0]), *(",".join(row) for row in t[1])]))
PAYLOADS = st.one_of(
    JSON_OBJECTS.map(str.encode),
    JSON_TEXT.map(str.encode),
    CSV_TEXT.map(str.encode),
    st.binary(max_size=200),
)


@given(st.sampled_from(sorted(Command)), st.sampled_from([1, 2]), PAYLOADS)
def test_known_commands_never_raise_whatever_the_payload(
    command: Command, kind: int, payload: bytes
) -> None:
    message = decode_message(Frame(kind, command, payload))
    assert isinstance(message, MESSAGE_TYPES)
    # A known command is typed or refused with a reason, never taken for unknown.
    assert not isinstance(message, UnknownMessage)
    if isinstance(message, Undecodable):
        assert len(message.reason) < 120


# --- property: the planned builders give the general loop's record exactly ---------

_RAW_VALUES = st.one_of(
    st.sampled_from(["", "0", "0.0", "12.5", "-3", "x", "true", "False", "1e400"]),
    st.sampled_from(["2021/03/24 20:59:22", "017", " 7 ", "nan", "4294967295"]),
    st.text(max_size=6),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


def _typed(
    record: RealtimeRecord | DetailedRecord | SystemReport,
) -> list[tuple[str, type, object]]:
    values = [(f.name, getattr(record, f.name)) for f in fields(record)]
    return [(n, type(v), v) for n, v in values] + [
        (k, type(v), v) for k, v in record.extra.items()
    ]


@pytest.mark.parametrize("cls", [RealtimeRecord, DetailedRecord, SystemReport])
@given(data=st.data())
def test_planned_builders_match_the_general_loop(
    cls: type[RealtimeRecord | DetailedRecord | SystemReport], data: st.DataObject
) -> None:
    keys = [*sorted(_payload_keys(cls)), "Unknown", "Other", "Vpv1", "Upv1"]
    payload = data.draw(
        st.dictionaries(st.sampled_from(keys), _RAW_VALUES, max_size=12)
    )
    known = data.draw(
        st.sampled_from([{}, {"raw": payload}] if cls is SystemReport else [{}])
    )
    planned = build_record(cls, payload, **known)
    general = _build_general(cls, payload, known)
    assert _typed(planned) == _typed(general)
    assert getattr(planned, "raw", None) == getattr(general, "raw", None)


def test_both_aliases_present_take_the_general_path() -> None:
    record = build_record(DetailedRecord, {"Vpv1": "2", "Upv1": "1", "Time": "x"})
    assert record.upv1 == 2.0
    assert record.extra == {"Upv1": 1, "Time": "x"}


def test_parser_memos_stay_bounded() -> None:
    for n in range(5000):
        build_record(RealtimeRecord, {"Pbat": f"{n}.5", "Novel": f"x{n}"})
    assert 0 < len(_MEMOS[parse_float]) <= _CACHE_LIMIT
    assert 0 < len(_ANY_MEMO) <= _CACHE_LIMIT
    build_record(RealtimeRecord, {"Pbat": "1" * 40})
    assert "1" * 40 not in _MEMOS[parse_float]

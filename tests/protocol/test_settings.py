"""Settings answers keep the battery's own forms; rules refuse what it cannot hold."""

from __future__ import annotations

from datetime import time

import pytest

from custom_components.alphaess_local.protocol.codec.settings import (
    CHARGE_WINDOW_ENDS,
    SettingError,
    build_answer,
    normalize,
    shows,
    spoken,
    spoken_changes,
    validate,
    write_like,
)

TIME_SETTING = CHARGE_WINDOW_ENDS[0]  # charge window 1 start

REPORT = {
    "SN": "AL1",
    "GridCharge": "false",
    "CtrDis": False,
    "BatHighCap": "100.00",
    "BatUseCap": "13",
    "TimeChaF1": "0",
    "Fan": "False",
    "Flag": "0",
}


@pytest.mark.parametrize(
    ("old", "new", "written"),
    [
        ("false", True, "true"),
        ("False", True, "True"),
        ("0", True, "1"),
        ("1", False, "0"),
        (False, True, True),
        ("100.00", 90, "90.00"),
        ("13", 20, "20"),
        (13, 20, 20),
        (13.5, 20.5, 20.5),
        (None, 5, 5),
    ],
)
def test_write_like(old: object, new: bool | int | float, written: object) -> None:
    assert write_like(old, new) == written


def test_build_answer_changes_only_requested_keys() -> None:
    answer, changes = build_answer(REPORT, {"GridCharge": True, "BatHighCap": 90})
    assert {k for k in answer if answer[k] != REPORT.get(k)} == {
        "GridCharge",
        "BatHighCap",
    }
    assert answer["BatHighCap"] == "90.00"
    assert [(c.key, c.old, c.new) for c in changes] == [
        ("GridCharge", "false", True),
        ("BatHighCap", "100.00", 90),
    ]
    assert shows(
        {**REPORT, "GridCharge": "True", "BatHighCap": "90"},
        {"GridCharge": True, "BatHighCap": 90},
    )
    assert not shows(REPORT, {"GridCharge": True})
    assert shows(REPORT, {"CtrDis": False})


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"BatHighCap": 101}, "soc_out_of_range"),
        ({"BatUseCap": -1}, "soc_out_of_range"),
        ({"TimeChaF1": 24}, "hour_out_of_range"),
        ({"TimeChaF1": 2.5}, "hour_out_of_range"),
        ({"BatHighCap": 13}, "stop_below_cutoff"),
        ({"GridCharge": 1}, "invalid_value"),
        ({"BatHighCap": True}, "invalid_value"),
        ({"SetFeed": 50}, "unknown_setting"),
    ],
)
def test_rules(changes: dict[str, bool | int | float], rule: str) -> None:
    with pytest.raises(SettingError) as err:
        validate(changes, REPORT)
    assert err.value.key == rule


def test_valid_changes_pass() -> None:
    validate({"BatHighCap": 90, "TimeChaE2": 23, "CtrDis": True}, REPORT)
    validate(
        {"BatUseCap": 50}, {"BatHighCap": "x"}
    )  # unreadable stop: nothing to compare


def test_build_answer_leaves_out_what_the_battery_already_shows() -> None:
    answer, changes = build_answer(REPORT, {"GridCharge": False, "BatHighCap": 90})
    assert answer["GridCharge"] == "false"  # as the battery wrote it
    assert [c.key for c in changes] == ["BatHighCap"]
    answer, changes = build_answer(REPORT, {"CtrDis": False})
    assert (answer, changes) == (REPORT, [])


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("GridCharge", "true", "on"),
        ("GridCharge", True, "on"),
        ("CtrDis", "False", "off"),
        ("CtrDis", "1", "on"),
        ("TimeChaF1", "2", "02:00"),
        ("TimeDisE2", 23, "23:00"),
        ("BatHighCap", "90.00", "90 %"),
        ("BatUseCap", 13.5, "13.5 %"),
        ("SetFeed", "100", "100"),  # not one of ours: the bare number
        ("BatHighCap", "n/a", "n/a"),  # unreadable: as the battery sent it
        ("BatHighCap", True, "True"),
        ("BatHighCap", None, "None"),
    ],
)
def test_spoken(key: str, value: object, words: str) -> None:
    assert spoken(key, value) == words


def test_minutes_only_where_the_channel_holds_them() -> None:
    """The cloud's whole hours refuse 02:30; a Modbus channel writes hour and minute."""
    with pytest.raises(SettingError) as refused:
        normalize({"TimeChaF1": time(2, 30)})
    assert refused.value.key == "whole_hours_only"
    assert normalize({"TimeChaF1": time(2)}) == {"TimeChaF1": 2}
    assert normalize({"TimeChaF1": time(2, 30)}, minutes=True) == {
        "TimeChaF1": 2,
        "TimeChaF1_minute": 30,
    }
    # Back to the full hour: the minute is written too (00), not left at 30.
    assert normalize({"TimeChaF1": time(3)}, minutes=True) == {
        "TimeChaF1": 3,
        "TimeChaF1_minute": 0,
    }
    with pytest.raises(SettingError):
        normalize({"TimeChaF1": time(2, 30, 15)}, minutes=True)
    # A number is an hour alone; the minute register keeps what it holds.
    assert normalize({"TimeChaF1": 4}, minutes=True) == {"TimeChaF1": 4}


def test_a_window_end_is_read_and_spoken_with_its_minute() -> None:
    before = {"TimeChaF1": 0, "TimeChaF1_minute": 0, "BatHighCap": 100}
    changes = normalize({"TimeChaF1": time(2, 30), "BatHighCap": 90}, minutes=True)
    answer, applied = build_answer(before, changes)
    assert TIME_SETTING.read_time(answer) == time(2, 30)
    assert TIME_SETTING.read_time(REPORT) == time(0)  # the cloud's: no minute
    assert spoken_changes(applied, before, answer) == [
        ("Charge window 1 start", "00:00", "02:30"),
        ("Charge stop state of charge", "100 %", "90 %"),
    ]
    # Only the minute changed: still one time, in plain words.
    answer, applied = build_answer(
        answer, normalize({"TimeChaF1": time(2, 45)}, minutes=True)
    )
    assert [c.key for c in applied] == ["TimeChaF1_minute"]
    assert spoken_changes(applied, before | {"TimeChaF1": 2}, answer) == [
        ("Charge window 1 start", "02:00", "02:45")
    ]

"""Settings answers keep the battery's own forms; rules refuse what it cannot hold."""

from __future__ import annotations

import pytest

from custom_components.alphaess_local.protocol.codec.settings import (
    SettingError,
    build_answer,
    shows,
    spoken,
    validate,
    write_like,
)

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

"""Every user-facing string has a translation, and the English file is the source."""

from __future__ import annotations

import json
from pathlib import Path
import re

from custom_components.alphaess_local import (
    binary_sensor,
    event,
    number,
    sensor,
    switch,
    time,
)

PACKAGE = Path(sensor.__file__).parent
STRINGS = json.loads((PACKAGE / "strings.json").read_text())


def test_english_translation_is_strings_json() -> None:
    assert json.loads((PACKAGE / "translations" / "en.json").read_text()) == STRINGS


def test_every_entity_has_a_name() -> None:
    tables = {
        "sensor": sensor.SENSORS,
        "binary_sensor": binary_sensor.BINARY_SENSORS,
        "event": (event.EVENT_LOG,),
        "switch": switch.SWITCHES,
        "number": number.NUMBERS,
        "time": time.TIMES,
    }
    for platform, descriptions in tables.items():
        names = STRINGS["entity"][platform]
        for description in descriptions:
            assert description.translation_key in names, (platform, description.key)
            placeholders = set(
                re.findall(r"{(\w+)}", names[description.translation_key]["name"])
            )
            given = set(description.translation_placeholders or {})
            assert placeholders == given, description.key
    icons = json.loads((PACKAGE / "icons.json").read_text())["entity"]
    for platform, keys in icons.items():
        assert set(keys) <= set(STRINGS["entity"][platform])


def test_every_code_string_is_translated() -> None:
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    entity_keys = {key for platform in STRINGS["entity"].values() for key in platform}
    known = entity_keys | set(STRINGS["exceptions"]) | set(STRINGS["issues"])
    used = set(re.findall(r'translation_key="(\w+)"', source))
    # Setting rules raised from the protocol package surface as exceptions too.
    rules = set(re.findall(r'SettingError\(\s*"(\w+)"', source))
    assert rules
    assert rules <= set(STRINGS["exceptions"])
    assert used <= known, used - known
    for key in ("port_in_use", "cannot_listen"):
        assert key in STRINGS["exceptions"]
        assert key in STRINGS["config"]["error"]
    assert {"no_battery", "clock_offset"} <= set(STRINGS["issues"])


def test_services_are_described() -> None:
    import yaml

    services = yaml.safe_load((PACKAGE / "services.yaml").read_text())
    for name, spec in services.items():
        described = STRINGS["services"][name]
        assert described["name"]
        assert set(spec["fields"]) == set(described["fields"])

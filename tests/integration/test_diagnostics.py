"""Diagnostics tell what we know without the owner's personal data."""

from __future__ import annotations

from collections.abc import Callable
import json
from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .conftest import SERIAL, RecordedBattery


async def test_diagnostics_are_redacted(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
) -> None:
    hass.config_entries.async_update_entry(
        loaded_entry,
        options={
            "allowlist": [SERIAL],
            "dump_unknown_traffic": False,
            "unavailable_after": 5,
        },
    )
    await hass.async_block_till_done()
    client: RecordedBattery = await battery()
    await client.replay()
    await client.request(99, b'{"SN":"AL9002021030042","Mystery":"1"}')
    await client.request(5, b'{"broken')
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, loaded_entry
    )
    text = json.dumps(diagnostics)
    for secret in (SERIAL, "1 Example Street", "X123", "123456", "recorded-pw"):
        assert secret not in text, secret
    battery_diag = diagnostics["batteries"]["AL90*********42"]
    assert battery_diag["counters"] == {"frames": 10, "unknown": 1, "undecodable": 1}
    assert battery_diag["report"]["address"] == "**REDACTED**"
    assert battery_diag["report"]["battery_model"] == "Smile-BAT-10.1P"
    assert battery_diag["detail"]["epv_total"] == 433.0
    assert battery_diag["energy_totals"]["pv"] == 433.0
    assert diagnostics["entry"]["options"]["allowlist"] == ["AL90*********42"]
    assert diagnostics["server"]["open_connections"] == 1

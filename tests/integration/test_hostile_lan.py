"""Issue #23 in Home Assistant: odd serials and squatters against the integration's port.

The library's rules are tested over loopback in tests/protocol; these check what an
owner of Home Assistant sees: no device, repair or raw control character for a made-up
serial, and the battery back in the Energy dashboard once a squatter is displaced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
import logging
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.alphaess_local.const import DOMAIN
from custom_components.alphaess_local.protocol import (
    Frame,
    Proof,
)
from custom_components.alphaess_local.protocol.server import holders

from ..protocol.test_peer_strings import ODD_SERIALS, UNSAFE
from .conftest import SERIAL, RecordedBattery


def devices(hass: HomeAssistant, entry: MockConfigEntry) -> list[dr.DeviceEntry]:
    return dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)


async def test_odd_serials_create_nothing_and_print_nothing_raw(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before the battery (a fresh install takes the first serial) and after it."""
    caplog.set_level(logging.DEBUG)

    async def strangers() -> None:
        for odd in ODD_SERIALS:
            for command, payload in (
                (2, {"UserName": odd, "Password": "x", "CompanyName": "AlphaESS"}),
                (16, {"Time": "2021/03/24 10:01:52", "SN": odd, "SOC": "1"}),
            ):
                stranger: RecordedBattery = await battery()
                await stranger.send_json(command, payload)
                assert await stranger.closed_by_server()

    await strangers()
    await hass.async_block_till_done()
    assert devices(hass, loaded_entry) == []
    first: RecordedBattery = await battery()
    await first.replay()
    await strangers()
    await hass.async_block_till_done()

    (device,) = devices(hass, loaded_entry)
    assert device.identifiers == {(DOMAIN, SERIAL)}
    # The recorded session is from 2021: its clock repair is the only one raised.
    raised = [i.translation_key for (d, _), i in ir.async_get(hass).issues.items()]
    assert raised == ["clock_offset"]
    assert not UNSAFE.search(caplog.text), UNSAFE.findall(caplog.text)
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, loaded_entry
    )
    recent = diagnostics["connections"]["recent"]
    refused = [
        c for c in recent if c["detail"] == "connection refused: not a battery serial"
    ]
    assert len(refused) == len(recent) - 1  # all but the battery's
    text = json.dumps(diagnostics, ensure_ascii=False)
    assert not UNSAFE.search(text), UNSAFE.findall(text)


async def test_a_squatter_sending_replies_gives_way_to_the_battery(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It logged in first (any password) and sends command replies every 50 ms."""
    monkeypatch.setattr(holders, "TAKEOVER_AFTER", 0.5)
    squatter: RecordedBattery = await battery()
    await squatter.request(
        2, {"UserName": SERIAL, "Password": "guessed", "CompanyName": "AlphaESS"}
    )
    reply = Frame(2, 8, b'{"Command":"x","CmdIndex":"1","Status":"Success"}')

    async def keep_replying() -> None:
        while True:
            await squatter.send(reply)
            await asyncio.sleep(0.05)

    replying = asyncio.create_task(keep_replying())
    try:
        async with asyncio.timeout(20):
            while True:
                client: RecordedBattery = await battery()
                try:
                    await client.replay()
                    break
                except ConnectionResetError:
                    await asyncio.sleep(0.1)  # refused while the squatter was new
    finally:
        replying.cancel()
        await asyncio.gather(replying, return_exceptions=True)
    await hass.async_block_till_done()

    assert await squatter.closed_by_server()
    (device,) = devices(hass, loaded_entry)
    assert device.model == "Smile-BAT-10.1P"
    pins = loaded_entry.runtime_data.server.pins
    assert pins.check(SERIAL, SERIAL, "recorded-pw") is Proof.PROVEN
    assert pins.check(SERIAL, SERIAL, "guessed") is Proof.OTHER

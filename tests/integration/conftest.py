"""Fixtures for the Home Assistant layer: a config entry on a free loopback port and
a battery that replays the recorded 2021-03-24 session over real TCP."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
import json
import logging
import socket
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.alphaess_local.const import DOMAIN
from custom_components.alphaess_local.protocol import Frame

from ..conftest import load_session
from ..protocol.conftest import HOST, RawClient

SERIAL = "AL9002021030042"


def usage_reports(records: list[logging.LogRecord]) -> list[str]:
    """What Home Assistant said about how this integration uses it.

    ``report_usage`` writes to ``homeassistant.helpers.frame`` ("Detected that custom
    integration ... ", with the release it breaks in); deprecations elsewhere name it.
    """
    return [
        message
        for record in records
        if (message := record.getMessage())
        and (
            record.name == "homeassistant.helpers.frame"
            or ("deprecat" in message.lower() and DOMAIN in message)
        )
    ]


@pytest.fixture(autouse=True)
def no_usage_reports(caplog: pytest.LogCaptureFixture) -> Generator[None]:
    """Fail any test in which Home Assistant reports a use it deprecated or rejects."""
    yield
    records = caplog.get_records("setup") + caplog.get_records("call")
    assert usage_reports(records) == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def port(socket_enabled: None) -> int:
    return free_port()


@pytest.fixture
def config_entry(port: int) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"AlphaESS Local (port {port})",
        unique_id=str(port),
        data={CONF_HOST: HOST, CONF_PORT: port},
    )


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> AsyncGenerator[MockConfigEntry]:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    yield config_entry
    if (
        hass.config_entries.async_get_entry(config_entry.entry_id)
        and config_entry.state.recoverable
    ):
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


class RecordedBattery(RawClient):
    """Replays the recorded session's payloads, frame by frame, waiting for acks."""

    session: dict[str, Any]

    async def request(
        self, command: int, payload: bytes | str | dict[str, Any]
    ) -> Frame:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        if isinstance(payload, str):
            payload = payload.encode()
        await self.send(Frame(1, command, payload))
        return (await self.frames(len(self.received) + 1))[-1]

    async def send_json(self, command: int, payload: dict[str, Any]) -> None:
        """Send a request without waiting for its acknowledgement (it may be refused)."""
        await self.send(Frame(1, command, json.dumps(payload).encode()))

    async def replay(self) -> None:
        s = self.session
        serial = s["serial"]
        await self.request(
            2,
            {"UserName": serial, "Password": "recorded-pw", "CompanyName": "AlphaESS"},
        )
        await self.request(0, b"")
        await self.request(9, s["event_log"])
        await self.request(3, {"SN": serial})
        await self.request(4, s["system_report_raw"])
        await self.request(5, s["detail"])
        for record in s["realtime"]:
            await self.request(16, record)


@pytest.fixture
async def battery_at(socket_enabled: None) -> AsyncGenerator[Callable[[int], Any]]:
    """Connect a recorded battery to any port (an entry set up by the test itself)."""
    clients: list[RecordedBattery] = []

    async def _connect(port: int) -> RecordedBattery:
        raw = await RawClient.connect(port)
        client = RecordedBattery(raw.reader, raw.writer)
        client.session = load_session()
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.close()


@pytest.fixture
async def battery(
    loaded_entry: MockConfigEntry, battery_at: Callable[[int], Any]
) -> Callable[[], Any]:
    """Connect a recorded battery to the loaded entry's port."""

    async def _connect() -> RecordedBattery:
        client: RecordedBattery = await battery_at(loaded_entry.data[CONF_PORT])
        return client

    return _connect


def device_of(hass: HomeAssistant, entry_id: str, serial: str) -> dr.DeviceEntry | None:
    """The entry's device of battery ``serial``.

    Looked up through the entry: Home Assistant 2026.x deprecates the registry's
    lookup by identifier alone (identifiers are unique per entry, not overall), and
    2025.4 lacks its replacement.
    """
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(
                dr.async_get(hass), entry_id
            )
            if (DOMAIN, serial) in device.identifiers
        ),
        None,
    )

"""Shared fixtures.

The plugin mounts its own test ``custom_components`` package first; importing ours at
module level makes Home Assistant find this integration instead.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
import pytest

import custom_components.alphaess_local  # noqa: F401

# Every test ends within its time limit, pass or fail (tests/time_limit.py).
# pytester runs that very plugin in a pytest of its own (tests/test_time_limit.py).
# tests.protocol.modbus_server: the simulated inverter (``make_inverter``) for every
# Modbus test, the integration's too.
pytest_plugins = ["tests.time_limit", "pytester", "tests.protocol.modbus_server"]

FIXTURES = Path(__file__).parent / "fixtures"

# CI machines are shared: judge properties by their examples, never by wall-clock time.
settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("default")


def pytest_configure(config: pytest.Config) -> None:
    """Keep log lines out of the suite's output: pytest's progress and summary only.

    The Home Assistant plugin calls ``logging.basicConfig`` when it is imported
    (before any conftest): that root handler writes every record to stderr, and
    pytest's capture does not hold what the recorder's thread logs between test
    phases, so its lines landed between the progress dots. The handler goes; pytest's
    own handlers stay, so ``caplog`` and the "Captured log" section of a failure's
    report see what they always saw.
    """
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:
            root.removeHandler(handler)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load custom integrations in every test that runs it.

    Protocol tests never touch Home Assistant, so they do not pay for a ``hass``.
    """
    if "hass" in request.fixturenames:
        # The recorder must be prepared before hass exists.
        if "recorder_mock" in request.fixturenames:
            request.getfixturevalue("recorder_mock")
        request.getfixturevalue("enable_custom_integrations")


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records at WARNING and above, less asyncio's slow-callback reports.

    Home Assistant's test plugin runs every loop in debug mode, which warns about any
    callback that takes over 0.1 s: on a loaded machine under coverage, a push does.
    Those lines measure the machine, not our code (benchmarks measure our speed).
    """
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING
        and not (r.name == "asyncio" and r.getMessage().startswith("Executing "))
    ]


def load_fixture_bytes(name: str) -> bytes:
    """Raw bytes of a fixture file."""
    return (FIXTURES / name).read_bytes()


def load_session() -> dict[str, Any]:
    """The recorded 2021-03-24 session (payloads in order of kind)."""
    data: dict[str, Any] = json.loads(
        (FIXTURES / "session-2021-03-24.json").read_text()
    )
    return data

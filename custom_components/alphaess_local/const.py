"""Constants shared by the Home Assistant side of the integration."""

from __future__ import annotations

from datetime import timedelta
import itertools
import logging
from typing import Final

DOMAIN: Final = "alphaess_local"
LOGGER = logging.getLogger(__package__)


def unique_id(serial: str, key: str) -> str:
    """Unique id of battery ``serial``'s entity ``key``.

    Never change it: entity ids, customisations and long-term statistics hang on it,
    and the backfill finds its energy sensors by it.
    """
    return f"{serial}_{key}"


DEFAULT_HOST: Final = "0.0.0.0"  # noqa: S104 - the battery must reach us from the LAN
DEFAULT_PORT: Final = 7777

CONF_ALLOWLIST: Final = "allowlist"
CONF_DUMP: Final = "dump_unknown_traffic"
# Answer a TLS ClientHello with the entry's own certificate (on unless turned off).
CONF_ANSWER_TLS: Final = "answer_tls"
CONF_UNAVAILABLE_AFTER: Final = "unavailable_after"
DEFAULT_UNAVAILABLE_AFTER: Final = 5  # minutes; the battery pushes every 10 s

CONF_ALLOW_CONTROL: Final = "allow_control"
# How long a settings change may take: SetConfig reply, configuration request, report.
CONTROL_TIMEOUT: Final = 120.0
# A setting entity's change is sent once no other came for this long: Home Assistant's
# time field sends the hour edit on its own, then the minutes.
SETTING_SETTLE: Final = 3.0

# Opt-in relay to the vendor cloud (off by default).
CONF_RELAY: Final = "relay"
CONF_RELAY_UPSTREAM: Final = "relay_upstream"
CONF_RELAY_PASS: Final = "relay_pass"  # noqa: S105 - commands let through, not a password
CONF_RELAY_UPDATE: Final = "relay_allow_update"
# The battery endpoint's publicly documented address: offered in the form's text,
# never filled in for the owner (their DNS now answers the cloud's name with us).
RELAY_SUGGESTION: Final = "52.230.104.147:7777"
RELAY_PROBE_TIMEOUT: Final = 5.0
# The cloud out of reach this long raises a repair.
RELAY_UNREACHABLE_ISSUE_AFTER: Final = 3600.0

# Connections allowed beyond the batteries an entry knows (new batteries, retries).
CONNECTION_HEADROOM: Final = 8

DUMP_FILE: Final = "alphaess_local_unknown_traffic.jsonl"
STORAGE_VERSION: Final = 1

# A freshly added integration waits this long for a battery before it suggests
# checking the DNS override.
NO_BATTERY_ISSUE_DELAY: Final = timedelta(minutes=10)

# The battery has no NTP and ignores daylight saving; beyond this, tell the user.
CLOCK_ISSUE_THRESHOLD: Final = timedelta(minutes=5)

# Where an entry's data comes from. Entries made before Modbus have no CONF_SOURCE:
# they are the cloud listener.
CONF_SOURCE: Final = "source"
SOURCE_CLOUD: Final = "cloud"
SOURCE_MODBUS: Final = "modbus"

# Reading the inverter over Modbus TCP (docs/modbus.md).
CONF_UNIT: Final = "unit"
DEFAULT_MODBUS_PORT: Final = 502
DEFAULT_MODBUS_UNIT: Final = 85
CONF_POLL_INTERVAL: Final = "poll_interval"
# The cloud link's cadence: the same database growth as a battery that pushes.
DEFAULT_POLL_INTERVAL: Final = 10
MIN_POLL_INTERVAL: Final = 5
MAX_POLL_INTERVAL: Final = 60
# State rows (recorder rows) one poll writes with the default sensors, by poll interval
# in seconds: measured by ``benchmarks.recorder_rows --modbus`` (docs/performance.md).
# Every poll brings a detailed record too, so the detail sensors move each poll (the
# cloud link sends one every 5 min: 1 507 rows an hour, 4.2 a push); polls further
# apart find more changed. Below 10 s the figure is a floor: the simulator moves in
# 10 s steps, a real inverter's values between any two polls.
ROWS_PER_POLL: Final = ((10, 5.0), (30, 5.75), (60, 6.17))
# Another client holding the inverter's one slot is told at once; an inverter that has
# not answered for this long, longer than a night's sleep, raises "the inverter does
# not answer". A night without answers is a silent battery, not a fault.
MODBUS_UNREACHABLE_ISSUE_AFTER: Final = timedelta(hours=12)
# An inverter is reported to keep its one Modbus slot ~2 minutes after a client left.
MODBUS_SLOT_ISSUE_AFTER: Final = timedelta(minutes=3)


def rows_per_day(poll_interval: float) -> int:
    """Recorder rows a day at ``poll_interval`` seconds, rounded to a thousand."""
    per_poll = ROWS_PER_POLL[0][1]
    for (low, low_rows), (high, high_rows) in itertools.pairwise(ROWS_PER_POLL):
        if low <= poll_interval:
            share = min((poll_interval - low) / (high - low), 1.0)
            per_poll = low_rows + share * (high_rows - low_rows)
    return int(round(per_poll * 86400 / poll_interval, -3))

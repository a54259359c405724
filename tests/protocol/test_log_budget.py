"""Log lines a peer cannot multiply: budgets keyed by what it cannot choose.

A reviewer's measurement (issue #28): 100 s of connections each naming a new invented
serial gave 2 824 "not on the allowlist" warnings, because the budget was keyed by
the serial and its table was emptied at 256 entries. The flood here runs over loopback
from several source addresses on an injected monotonic clock, so two simulated hours
take a second.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import (
    AlphaServer,
)
from custom_components.alphaess_local.protocol.server import log_budget
from custom_components.alphaess_local.protocol.server.log_budget import (
    ADDRESSES_NAMED,
    REFUSAL_LOG_INTERVAL,
    UNKNOWN_SERIAL,
    WARNED_HOSTS,
    WARNINGS_PER_HOST,
    LogBudget,
)

from .conftest import From, Ticks
from .test_server import SERIAL, login

SERVER_LOGGER = "custom_components.alphaess_local.protocol.server"


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == SERVER_LOGGER and r.levelno >= logging.WARNING
    ]


async def test_a_flood_of_invented_serials_gives_a_handful_of_lines_an_hour(
    make_server: Callable[..., Any],
    connect_from: From,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Ticks()
    server: AlphaServer = await make_server(allowlist=[SERIAL], ticks=clock)
    sources = [f"127.0.{7 + n // 4}.{1 + n % 4}" for n in range(8)]
    per_hour = 100  # connections per simulated hour, each a new serial
    hours = 2
    total = per_hour * hours
    for n in range(total):
        client = await connect_from(server.port, sources[n % len(sources)])
        await client.send(login(f"AL{n:013d}"))
        assert await client.closed_by_server(timeout=5)
        await client.close()
        clock.now += REFUSAL_LOG_INTERVAL / per_hour
    # One more after the last hour: its summary is owed and comes with it.
    last = await connect_from(server.port, sources[0])
    await last.send(login("AL9999999999998"))
    assert await last.closed_by_server(timeout=5)

    lines = warnings(caplog)
    named = [line for line in lines if line.startswith("Refused battery")]
    summaries = [line for line in lines if "not logged one by one" in line]
    assert len(named) == ADDRESSES_NAMED * hours + 1  # the last opens a new hour
    assert len(summaries) == hours
    assert (
        f"{per_hour - ADDRESSES_NAMED} more {UNKNOWN_SERIAL} from 8 addresses"
        in (summaries[0])
    )
    assert len(lines) == len(named) + len(summaries)
    print(  # noqa: T201 - the figure the issue asks for
        f"{total + 1} connections with invented serials from {len(sources)} "
        f"addresses over {hours} h: {len(lines)} warning lines, "
        f"{(len(named) + len(summaries)) / hours:.1f} lines an hour "
        f"(keyed by serial: {per_hour} an hour)"
    )


def test_bad_input_from_ever_new_addresses_is_bounded_and_summarised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Addresses are plenty (IPv6): past a few per hour they share one summary.

    No table is emptied to make room, which would give every address its budget back.
    """
    clock = Ticks()
    budget = LogBudget(clock)
    caplog.set_level(logging.WARNING, SERVER_LOGGER)
    rounds = 3  # the same 400 addresses, three times within the hour
    allowed = 0
    for _ in range(rounds):
        for n in range(400):
            allowed += budget.may_warn(f"2001:db8::{n:x}")
        clock.now += 60
    assert allowed == WARNED_HOSTS * rounds
    assert not warnings(caplog)  # nobody reached the per-address limit yet
    assert [budget.may_warn("2001:db8::1") for _ in range(4)] == [
        True,
        True,
        False,
        False,
    ]
    assert rounds + 2 == WARNINGS_PER_HOST
    assert len(warnings(caplog)) == 1  # "further bad input ... at debug level"
    budget.flush()
    (summary,) = warnings(caplog)[1:]
    assert "1178 more warnings about bad input from 393 addresses" in summary
    clock.now += REFUSAL_LOG_INTERVAL
    assert budget.may_warn("2001:db8::399")  # a new hour: a new budget
    assert len(warnings(caplog)) == 2  # the flushed window is not summarised again


def test_the_summary_comes_with_the_next_line_asked_for_after_the_hour(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Ticks()
    budget = LogBudget(clock)
    caplog.set_level(logging.WARNING, SERVER_LOGGER)
    hosts = [f"192.0.2.{n}" for n in range(1, 41)]
    assert [budget.refusal(UNKNOWN_SERIAL, h) for h in hosts[:4]] == [
        True,
        True,
        True,
        False,
    ]
    for host in hosts * 3:
        assert not budget.refusal(UNKNOWN_SERIAL, host)
    clock.now += REFUSAL_LOG_INTERVAL - 1
    assert not budget.refusal(UNKNOWN_SERIAL, hosts[0])
    assert not warnings(caplog)
    clock.now += 1
    assert budget.once_an_hour("reserved slots")  # any budgeted line will do
    (summary,) = warnings(caplog)
    assert summary.startswith(f"122 more {UNKNOWN_SERIAL} from 40 addresses in the")
    assert budget.refusal(UNKNOWN_SERIAL, hosts[5])  # the new hour names again


def test_code_chosen_keys_are_never_forgotten_all_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(log_budget, "MAX_LOGGED_REFUSALS", 4)
    budget = LogBudget(Ticks())
    assert budget.once_an_hour("connection limit")
    for n in range(3):
        assert budget.once_an_hour(f"kind {n}")
    assert budget.once_an_hour("one too many")  # forgets the oldest only
    for n in range(3):
        assert not budget.once_an_hour(f"kind {n}")

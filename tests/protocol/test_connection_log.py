"""The connection log over loopback: lines in words, counts that agree with them.

Issue #31: diagnostics counted ``battery: 0`` beside the live battery, printed
"(none credentials)" and lost every line when the server was rebuilt.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from custom_components.alphaess_local.protocol import AlphaServer, ConnectionLog
from custom_components.alphaess_local.protocol.server import doorway
from custom_components.alphaess_local.protocol.server.connections import closest_entry

from .conftest import HOST, RawClient
from .test_server import SERIAL, login, realtime

WEB = b"GET / HTTP/1.1\r\nHost: alphaess.local\r\n\r\n"


async def served(connect: Callable[[int], Any], port: int) -> RawClient:
    """A battery that logged in and had its data acknowledged."""
    client: RawClient = await connect(port)
    await client.send(login())
    await client.send(realtime())
    await client.frames(2)
    return client


async def web_visit(connect: Callable[[int], Any], port: int) -> None:
    client: RawClient = await connect(port)
    await client.send(WEB)
    assert await client.closed_by_server(timeout=2)
    await client.close()


async def ended(log: ConnectionLog, count: int) -> None:
    async with asyncio.timeout(5):
        while sum(log.counts.values()) < count:
            await asyncio.sleep(0.01)


def lines(log: ConnectionLog) -> list[dict[str, Any]]:
    return log.as_dict()["recent"]  # type: ignore[return-value]


async def test_counts_agree_with_the_lines_and_the_live_battery_stays_listed(
    make_server: Callable[..., Any], connect: Callable[[int], Any], monkeypatch: Any
) -> None:
    monkeypatch.setattr(doorway, "BURST", 100)  # one address stands for many
    log = ConnectionLog(kept=5)
    server: AlphaServer = await make_server(connections=log)
    battery = await served(connect, server.port)
    for _ in range(6):
        await web_visit(connect, server.port)
    await ended(log, 6)

    shown = log.as_dict()
    recent = lines(log)
    assert len(recent) == 5
    said = [line["detail"] for line in recent]
    assert "battery AL90*********42 served" in said  # open, older than the rest
    assert said.count("other protocol: HTTP (method=GET, path=/, host=alphaess.local)")
    listed = Counter(line["spoke"] for line in recent)
    assert shown["counts"] == {kind: listed[kind] for kind in shown["counts"]}  # type: ignore[attr-defined]
    assert shown["counts"]["battery"] == 1  # type: ignore[index]
    assert shown["earlier"]["http"] == 2  # type: ignore[index]
    total = sum(shown["counts"].values()) + sum(shown["earlier"].values())  # type: ignore[attr-defined]
    assert total == 7
    assert "None" not in repr(said)
    assert SERIAL not in repr(shown)
    await battery.close()


async def test_a_refusal_names_the_closest_allowlist_entry_masked_alike(
    make_server: Callable[..., Any], connect: Callable[[int], Any]
) -> None:
    """One digit typed wrong in the middle: the mask hides it, the position shows."""
    typo = SERIAL[:11] + "8" + SERIAL[12:]
    server: AlphaServer = await make_server(allowlist=[typo, "BX1234567890123"])
    client: RawClient = await connect(server.port)
    await client.send(login())
    assert await client.closed_by_server(timeout=2)
    await client.close()
    await ended(server.connections, 1)

    (line,) = lines(server.connections)
    assert line["detail"] == (
        "battery AL90*********42 refused: not on the allowlist "
        "(closest entry: AL90*********42, differs at character 12)"
    )
    assert SERIAL not in repr(line)
    assert typo not in repr(line)


async def test_a_log_handed_to_a_new_server_keeps_its_lines(
    make_server: Callable[..., Any], connect: Callable[[int], Any], events: Any
) -> None:
    """What Home Assistant does on an options reload: the new server adds to it."""
    log = ConnectionLog()
    first = AlphaServer(events, host=HOST, port=0, connections=log)
    await first.start()
    try:
        battery = await served(connect, first.port)
    finally:
        await first.close()
    await battery.close()
    second: AlphaServer = await make_server(connections=log)
    await web_visit(connect, second.port)
    await ended(log, 2)

    said = [line["detail"] for line in lines(log)]
    assert said == [
        "other protocol: HTTP (method=GET, path=/, host=alphaess.local)",
        "battery AL90*********42 served",
    ]
    assert log.as_dict()["counts"]["battery"] == 1  # type: ignore[index]


def test_the_closest_entry_says_what_the_mask_hides() -> None:
    """Case and length differences are named; a serial far from every entry is not."""
    assert closest_entry("al9002021030042", frozenset({SERIAL})) == (
        "closest entry: AL90*********42, differs at characters 1 and 2 "
        "(upper/lower case)"
    )
    assert closest_entry(SERIAL[:-1], frozenset({SERIAL})) == (
        "closest entry: AL90*********42, 15 characters long, the battery's serial 14"
    )
    assert closest_entry("BX1234567890123", frozenset({SERIAL})) == (
        "closest entry: AL90*********42"
    )

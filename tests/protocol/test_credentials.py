"""Who speaks for a battery: the credentials it proved at its first login, over loopback.

The scenario the pin exists for (issue #20): a battery logs in and pushes, goes away
for a while, a LAN device logs in with the same serial and another password and keeps
pushing; when the battery comes back it must be served at once, and the impostor
never again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import (
    AlphaServer,
    CredentialPins,
    CredentialsMismatch,
    Frame,
    Proof,
    RealtimeRecord,
    Received,
    Spoke,
)
from custom_components.alphaess_local.protocol.server import doorway, holders

from .conftest import EventLog as Events, From, RawClient, Ticks
from .test_server import SERIAL, login, realtime

OWN = "hunter2"
STOLEN = "guessed"


async def logged_in(
    connect: Callable[[int], Any], port: int, password: str | None
) -> RawClient:
    """A connection that logged in with ``password`` (``None``: no login)."""
    client: RawClient = await connect(port)
    if password is not None:
        await client.send(login(password=password))
    return client


async def pushed(client: RawClient, soc: str, acks: int) -> None:
    await client.send(realtime(soc=soc))
    await client.frames(acks)


def socs(events: Events) -> list[float]:
    return [r.soc for r in events.messages(RealtimeRecord)]


async def test_the_returning_battery_displaces_an_impostor_at_once(
    server: AlphaServer,
    events: Events,
    connect: Callable[[int], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    battery = await logged_in(connect, server.port, OWN)
    await pushed(battery, "50", 2)
    await battery.close()  # a Wi-Fi drop
    await events.wait_for(lambda: not server.connected_serials)

    impostor = await logged_in(connect, server.port, STOLEN)
    await pushed(impostor, "1", 2)  # the serial was free: it is heard
    assert any(isinstance(e, CredentialsMismatch) for e in events.events)

    back = await logged_in(connect, server.port, OWN)
    (ack,) = await back.frames(1)
    assert ack.header == (1, 2, 2)
    assert await impostor.closed_by_server(timeout=2)
    await pushed(back, "51", 2)
    heard_back = len(events.messages())

    # The impostor keeps trying, with its password and without one: refused each time.
    for password in (STOLEN, None, STOLEN):
        again = await logged_in(connect, server.port, password)
        await again.send(realtime(soc="2"))
        assert await again.closed_by_server(timeout=2)
    await pushed(back, "52", 3)
    assert socs(events)[-2:] == [51, 52]
    assert all(r.soc != 2 for r in events.messages(RealtimeRecord)[heard_back - 1 :])
    assert server.connected_serials == {SERIAL}
    assert OWN not in caplog.text
    assert STOLEN not in caplog.text
    assert SERIAL not in caplog.text


async def test_other_credentials_never_take_a_proven_link_even_when_silent(
    make_server: Callable[..., Any],
    events: Events,
    connect: Callable[[int], Any],
    ticks: Ticks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server: AlphaServer = await make_server(ticks=ticks)
    battery = await logged_in(connect, server.port, OWN)
    await pushed(battery, "50", 2)
    ticks.advance(holders.TAKEOVER_AFTER + 1)  # silent past the no-takeover rule
    for _ in range(5):
        impostor = await logged_in(connect, server.port, STOLEN)
        assert await impostor.closed_by_server(timeout=2)
    await pushed(battery, "51", 3)
    assert socs(events) == [50, 51]
    refusals = [r for r in caplog.records if "second connection" in r.getMessage()]
    assert len(refusals) == 1
    assert "credentials pinned first" in refusals[0].getMessage()
    mismatch = [r for r in caplog.records if "new credentials" in r.getMessage()]
    assert len(mismatch) == 1  # rate-limited, and it names the address
    assert "127.0.0.1" in mismatch[0].getMessage()


async def test_a_battery_without_login_is_served_while_no_proven_link_holds_it(
    make_server: Callable[..., Any],
    events: Events,
    connect: Callable[[int], Any],
    ticks: Ticks,
) -> None:
    """After a dropped link the battery may push without logging in first.

    The no-takeover rule runs on the test's clock: however slow the machine, the
    proven link is alive until the test says a minute has passed.
    """
    server: AlphaServer = await make_server(ticks=ticks)
    battery = await logged_in(connect, server.port, OWN)
    await pushed(battery, "50", 2)
    # While its proven link is alive, a link without login is refused ...
    spoofer = await logged_in(connect, server.port, None)
    await spoofer.send(realtime(soc="1"))
    assert await spoofer.closed_by_server(timeout=2)
    # ... once it has gone silent (a half-open socket), the battery gets back in.
    ticks.advance(holders.TAKEOVER_AFTER + 1)
    again = await logged_in(connect, server.port, None)
    await pushed(again, "51", 1)
    assert await battery.closed_by_server(timeout=2)
    assert socs(events) == [50, 51]


async def test_a_proven_login_outranks_a_link_without_one_at_once(
    server: AlphaServer, events: Events, connect: Callable[[int], Any]
) -> None:
    first = await logged_in(connect, server.port, OWN)
    await pushed(first, "1", 2)  # its data pins its login
    await first.close()
    await events.wait_for(lambda: not server.connected_serials)
    squatter = await logged_in(connect, server.port, None)
    await pushed(squatter, "2", 1)
    battery = await logged_in(connect, server.port, OWN)
    await battery.frames(1)
    assert await squatter.closed_by_server(timeout=2)
    await pushed(battery, "50", 2)
    assert socs(events) == [1, 2, 50]


async def test_a_first_login_before_any_pin_cannot_take_a_live_link(
    server: AlphaServer, events: Events, connect: Callable[[int], Any]
) -> None:
    """After an install the battery may push without a login: nothing is pinned yet.

    A LAN device that logs in first must not take its link, nor pin its password.
    """
    battery = await logged_in(connect, server.port, None)
    await pushed(battery, "50", 1)
    impostor = await logged_in(connect, server.port, STOLEN)
    assert await impostor.closed_by_server(timeout=2)
    assert not server.pins.pinned(SERIAL)
    await pushed(battery, "51", 2)
    assert socs(events) == [50, 51]


async def test_a_login_after_the_first_records_still_counts(
    server: AlphaServer, events: Events, connect: Callable[[int], Any]
) -> None:
    battery = await logged_in(connect, server.port, None)
    await pushed(battery, "50", 1)
    await battery.send(login(password=OWN))
    await battery.frames(2)
    assert server.pins.pinned(SERIAL)  # the first login pins, even late
    squatter = await logged_in(connect, server.port, STOLEN)
    assert await squatter.closed_by_server(timeout=2)
    await pushed(battery, "51", 3)
    assert socs(events) == [50, 51]


async def test_pins_hold_no_password_survive_a_restart_and_change_on_the_owners_yes(
    make_server: Callable[..., Any], events: Events, connect: Callable[[int], Any]
) -> None:
    saved: list[dict[str, str]] = []
    pins = CredentialPins(on_change=lambda: saved.append(pins.to_store()))
    first: AlphaServer = await make_server(pins=pins)
    battery = await logged_in(connect, first.port, OWN)
    await pushed(battery, "50", 2)
    assert pins.pinned(SERIAL)
    assert len(saved) == 1
    assert OWN not in repr(saved)
    await first.close()

    # A restart: the new server starts from what was saved.
    restored = CredentialPins(saved[-1])
    second: AlphaServer = await make_server(pins=restored)
    assert restored.check(SERIAL, SERIAL, OWN) is Proof.PROVEN
    reset = await logged_in(connect, second.port, "after-reset")
    await reset.frames(1)  # nobody holds the serial: served, and asked about
    assert restored.has_candidate(SERIAL)
    assert restored.check(SERIAL, SERIAL, "after-reset") is Proof.OTHER
    assert restored.accept_candidate(SERIAL)
    assert restored.check(SERIAL, SERIAL, "after-reset") is Proof.PROVEN
    assert restored.check(SERIAL, SERIAL, OWN) is Proof.REFUSED  # the one not chosen


def test_the_owners_yes_pins_only_the_device_the_repair_named() -> None:
    pins = CredentialPins()
    pins.accepted(SERIAL, SERIAL, OWN)
    assert pins.check(SERIAL, SERIAL, "after-reset", "192.0.2.5") is Proof.OTHER
    assert pins.check(SERIAL, SERIAL, STOLEN, "192.0.2.66") is Proof.OTHER
    assert not pins.accept_candidate(SERIAL, "192.0.2.5")  # replaced since
    assert pins.check(SERIAL, SERIAL, STOLEN) is Proof.OTHER  # nothing pinned anew
    assert pins.check(SERIAL, SERIAL, "after-reset", "192.0.2.5") is Proof.OTHER
    assert pins.accept_candidate(SERIAL, "192.0.2.5")
    assert pins.check(SERIAL, SERIAL, "after-reset") is Proof.PROVEN


def test_stored_pins_that_are_damaged_prove_nothing() -> None:
    pins = CredentialPins({SERIAL: "not-hex$abc"})
    assert pins.check(SERIAL, SERIAL, OWN) is Proof.OTHER
    assert pins.check(SERIAL, None, None) is Proof.NONE


async def test_the_connection_log_says_who_was_on_the_port(
    make_server: Callable[..., Any], connect: Callable[[int], Any]
) -> None:
    server: AlphaServer = await make_server(allowlist=[SERIAL])
    battery = await logged_in(connect, server.port, OWN)
    await pushed(battery, "50", 2)
    stranger: RawClient = await connect(server.port)
    await stranger.send(login("AL2000000000002"))
    assert await stranger.closed_by_server(timeout=2)
    junk: RawClient = await connect(server.port)
    await junk.send(b"\x01\x02garbage that is not a frame" * 4)
    web: RawClient = await connect(server.port)
    await web.send(b"GET / HTTP/1.1\r\nHost: alphaess.local\r\n\r\n")
    assert await web.closed_by_server(timeout=2)
    await junk.close()
    await battery.close()
    log = server.connections

    async with asyncio.timeout(5):
        while sum(log.counts.values()) < 4:
            await asyncio.sleep(0.01)
    shown = log.as_dict()
    spoke = [entry["spoke"] for entry in shown["recent"]]  # type: ignore[index]
    assert sorted(spoke) == sorted(["battery", "refused", "junk", "http"])
    assert shown["counts"]["battery"] == 1  # type: ignore[index]
    text = repr(shown)
    assert SERIAL not in text
    assert "AL2000000000002" not in text
    assert (
        "battery AL20*********02 refused: not on the allowlist "
        "(closest entry: AL90*********42)"
    ) in text
    assert "alphaess.local" in text
    assert log.seen(Spoke.HTTP)
    assert not log.seen(Spoke.TLS)


async def test_the_connection_log_stays_bounded_under_a_flood(
    server: AlphaServer,
    connect: Callable[[int], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One address stands for many here (the per-address rate is test_doorway.py's).
    monkeypatch.setattr(doorway, "BURST", 100)
    for _ in range(60):
        client: RawClient = await connect(server.port)
        await client.send(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")
        assert await client.closed_by_server(timeout=2)
        await client.close()
    async with asyncio.timeout(5):
        while server.connections.counts[Spoke.TLS] < 60:
            await asyncio.sleep(0.01)
    assert len(server.connections.recent) == 20


# What a squatter can send forever without the battery's data (issue #23).
EMPTY_HANDED = {
    "command replies": Frame(
        2, 8, b'{"Command":"x","CmdIndex":"1","Status":"Success"}'
    ),
    "heartbeats": Frame(1, 0, b""),
    "logins": login(password=STOLEN),
    "history without rows": Frame(1, 12, b"Date,Time,SN,SOC\n"),
}


@pytest.mark.parametrize("sends", list(EMPTY_HANDED))
async def test_a_squatter_without_the_batterys_data_is_displaced(
    server: AlphaServer,
    events: Events,
    connect: Callable[[int], Any],
    sends: str,
) -> None:
    """It logged in first with the serial (any password) and only ever sends ``sends``.

    It earns neither the pin (its login delivered no data) nor a life sign, so the
    battery's first connection takes the serial at once, however recent the
    squatter's admission (issue #28).
    """
    squatter = await logged_in(connect, server.port, STOLEN)
    await squatter.frames(1)
    assert server.connected_serials == {SERIAL}

    async def keep_sending() -> None:
        while True:
            await squatter.send(EMPTY_HANDED[sends])
            await asyncio.sleep(0.05)

    sending = asyncio.create_task(keep_sending())
    try:
        await asyncio.sleep(0.2)  # a few of them went in
        battery = await logged_in(connect, server.port, OWN)
        await battery.send(realtime(soc="50"))
        await battery.frames(2)
        assert await squatter.closed_by_server(timeout=2)
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    assert socs(events) == [50]
    # The battery's data earned its login the pin: the squatter cannot come back.
    assert server.pins.check(SERIAL, SERIAL, OWN) is Proof.PROVEN
    again = await logged_in(connect, server.port, STOLEN)
    assert await again.closed_by_server(timeout=2)
    await battery.send(realtime(soc="51"))
    await events.wait_for(lambda: socs(events) == [50, 51])


@pytest.mark.parametrize("battery_password", [OWN, None], ids=["login", "no login"])
async def test_a_squatter_logging_in_again_and_again_never_keeps_the_battery_out(
    make_server: Callable[..., Any],
    events: Events,
    connect: Callable[[int], Any],
    battery_password: str | None,
) -> None:
    """The reviewer's lock-out (issue #28), over loopback, on a fresh start.

    ``serve --allow SERIAL`` with nothing pinned: a device logs in with the serial
    and any password just before each of the battery's visits and only ever sends
    replies. Its admission is never a life sign, so the battery (its data, with or
    without a login) gets in at once on every visit.
    """
    server: AlphaServer = await make_server(allowlist=[SERIAL])
    reply = EMPTY_HANDED["command replies"]
    visits = 6
    for visit in range(visits):
        squatter = await logged_in(connect, server.port, STOLEN)
        await squatter.send(reply)
        await squatter.frames(1)  # its login was read and answered
        battery = await logged_in(connect, server.port, battery_password)
        await battery.send(realtime(soc=str(10 + visit)))
        await battery.frames(2 if battery_password else 1)
        await squatter.send(reply)
        assert await squatter.closed_by_server(timeout=2), f"visit {visit}"
        await battery.close()
        await events.wait_for(lambda: not server.connected_serials)
    assert socs(events) == [10 + visit for visit in range(visits)]


async def test_a_login_earns_its_pin_only_with_the_batterys_data(
    server: AlphaServer, events: Events, connect: Callable[[int], Any]
) -> None:
    squatter = await logged_in(connect, server.port, STOLEN)
    await squatter.frames(1)
    assert not server.pins.pinned(SERIAL)
    await squatter.close()
    await events.wait_for(lambda: not server.connected_serials)
    battery = await logged_in(connect, server.port, OWN)
    await pushed(battery, "50", 2)
    assert server.pins.check(SERIAL, SERIAL, OWN) is Proof.PROVEN
    assert server.pins.check(SERIAL, SERIAL, STOLEN) is Proof.OTHER


async def test_a_first_login_forgery_is_the_owners_to_undo_and_moves_no_totals_meanwhile(
    server: AlphaServer,
    events: Events,
    connect_from: From,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The reviewer's first-login forgery (issue #28), over loopback.

    Before the battery ever connected, a device logged in with its serial and any
    password and sent data: its login was pinned. When the battery comes, both logins
    are recorded and reported, the battery's records are marked as not pinned (Home
    Assistant moves no totals with them), and once the owner chooses the battery's
    login it gets in at once, every time, and the forger never again.
    """
    forger_at, battery_at = "127.0.9.66", "127.0.9.5"

    async def visit(source: str, password: str, soc: str) -> RawClient:
        client: RawClient = await connect_from(server.port, source)
        await client.send(login(password=password))
        await client.send(realtime(soc=soc))
        return client

    forger = await visit(forger_at, STOLEN, "1")
    await forger.frames(2)
    assert server.pins.check(SERIAL, SERIAL, STOLEN) is Proof.PROVEN
    await forger.close()
    await events.wait_for(lambda: not server.connected_serials)

    battery = await visit(battery_at, OWN, "50")
    await battery.frames(2)  # the serial was free: served, and reported
    (mismatch,) = [e for e in events.events if isinstance(e, CredentialsMismatch)]
    assert mismatch.first is not None
    assert mismatch.new is not None
    assert mismatch.first.address == forger_at
    assert mismatch.new.address == battery_at
    assert mismatch.first.first_seen <= mismatch.new.first_seen
    heard = [e for e in events.events if isinstance(e, Received)]
    assert [e.unpinned for e in heard] == [False, False, True, True]

    # Until the owner chooses, the login pinned first keeps its precedence.
    forger = await visit(forger_at, STOLEN, "2")
    assert await battery.closed_by_server(timeout=2)
    await forger.frames(2)
    assert server.holders.choose_login(SERIAL, first=False, address=battery_at)
    assert await forger.closed_by_server(timeout=2)
    assert server.pins.check(SERIAL, SERIAL, OWN) is Proof.PROVEN
    assert server.pins.check(SERIAL, SERIAL, STOLEN) is Proof.REFUSED

    shown = len(socs(events))
    for visit_number in range(3):
        battery = await visit(battery_at, OWN, str(60 + visit_number))
        await battery.frames(2)
        forger = await visit(forger_at, STOLEN, "3")
        assert await forger.closed_by_server(timeout=2)
        await battery.close()
        await events.wait_for(lambda: not server.connected_serials)
    assert socs(events)[shown:] == [60, 61, 62]
    assert not [e for e in events.events[-12:] if getattr(e, "unpinned", False)]
    text = caplog.text
    assert "pinned first" in text
    assert "new credentials" in text
    for wording in ("is the battery", "battery's own credentials", "newcomer"):
        assert wording not in text
    for secret in (OWN, STOLEN, SERIAL):
        assert secret not in text


def test_the_owners_choice_is_kept_with_the_pins() -> None:
    pins = CredentialPins()
    pins.accepted(SERIAL, SERIAL, STOLEN, "192.0.2.66")
    assert pins.check(SERIAL, SERIAL, OWN, "192.0.2.5") is Proof.OTHER
    first, new = pins.contest(SERIAL) or (None, None)
    assert first is not None
    assert new is not None
    assert (first.address, new.address) == ("192.0.2.66", "192.0.2.5")
    assert pins.refuse_candidate(SERIAL, "192.0.2.5")  # the owner kept the first
    assert pins.contest(SERIAL) is None
    stored = pins.to_store()
    assert OWN not in repr(stored)
    restored = CredentialPins(stored)
    assert restored.check(SERIAL, SERIAL, OWN) is Proof.REFUSED
    assert restored.check(SERIAL, SERIAL, STOLEN) is Proof.PROVEN
    assert not restored.has_candidate(SERIAL)
    # Where the login pinned first was seen is kept with it, for the next question.
    assert restored.check(SERIAL, SERIAL, "third", "192.0.2.7") is Proof.OTHER
    kept, _ = restored.contest(SERIAL) or (None, None)
    assert kept is not None
    assert (kept.address, kept.first_seen) == (first.address, first.first_seen)
    restored.forget(SERIAL)
    assert restored.to_store() == {}


async def test_keeping_the_first_login_shuts_the_new_one_out_even_late(
    server: AlphaServer, events: Events, connect: Callable[[int], Any]
) -> None:
    """The owner kept the login pinned first: the other is closed and never served.

    Also when it comes without a login first and logs in after its records (the
    late-login path a battery takes after a dropped link).
    """
    battery = await logged_in(connect, server.port, OWN)
    await pushed(battery, "50", 2)
    await battery.close()
    await events.wait_for(lambda: not server.connected_serials)
    other = await logged_in(connect, server.port, STOLEN)
    await pushed(other, "1", 2)  # the serial was free: served, and asked about
    assert server.holders.choose_login(SERIAL, first=True, address="127.0.0.1")
    assert await other.closed_by_server(timeout=2)
    assert server.pins.check(SERIAL, SERIAL, STOLEN) is Proof.REFUSED
    assert not server.holders.choose_login(SERIAL, first=False, address="127.0.0.1")

    late = await logged_in(connect, server.port, None)
    await pushed(late, "2", 1)  # no login: served while nothing proven holds it
    await late.send(login(password=STOLEN))
    assert await late.closed_by_server(timeout=2)
    again = await logged_in(connect, server.port, STOLEN)
    assert await again.closed_by_server(timeout=2)
    assert socs(events) == [50, 1, 2]

"""Every test ends: a time limit that fires inside the event loop, then a backstop.

pytest-timeout's signal method raises its failure in whatever Python frame runs when
the alarm comes. In an asyncio test that is often a callback of some other task (a
session reading its socket, a simulated battery's timer): the exception kills that
task, and the test itself waits on, for ever. A failed assertion whose teardown then
waits on a server close did exactly that in CI (issue #28).

So the limit is applied where the test's coroutines run: every coroutine pytest (or
pytest-asyncio, or Home Assistant's plugin) hands to the test's event loop through
``run_until_complete`` is awaited against the test's deadline. Past it, the awaited
task's stack is taken (where it hung), the task is cancelled, and the test fails with
that stack. Setup and call share one deadline (``@pytest.mark.time_limit(seconds)``,
else :data:`DEFAULT_LIMIT`); teardown gets its own :data:`TEARDOWN_LIMIT`, so a
timed-out test still closes its servers, and a teardown that hangs fails too.

What no event loop runs (a synchronous test blocked in a call) is caught by
pytest-timeout's ``thread`` method, configured in ``pyproject.toml`` past these limits:
it prints every thread's stack and ends the run. That ends CI red, never hung.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
import io
import threading
import time
import traceback
from typing import Any, Final, TypeVar

import pytest

_T = TypeVar("_T")

# Seconds for a test's setup and call together, unless it says otherwise with
# ``@pytest.mark.time_limit(seconds)``; with the teardown's, below pytest-timeout's
# backstop (360 s). Most tests take well under 10 s under coverage on a quiet machine,
# a few times that on a loaded one.
DEFAULT_LIMIT: Final = 60.0
# Seconds for a test's teardown (closing Home Assistant, servers, clients).
TEARDOWN_LIMIT: Final = 30.0
# Seconds a cancelled task gets to unwind before the failure is raised anyway.
CANCEL_GRACE: Final = 5.0


class TimeLimitExceeded(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """A test (or its teardown) ran past its time limit."""


def _now() -> float:
    """Real monotonic seconds: freezegun (Home Assistant's ``freezer``) moves
    ``time.monotonic`` and the event loop's clock, and a frozen or jumping clock must
    neither stop a test's limit nor fire it early. Nor are the loop's timers used.
    """
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class _Deadline:
    """The time (:func:`_now`) by which the current phase must be over."""

    at: float | None = None
    phase: str = "outside a test"
    limit: float = DEFAULT_LIMIT


_DEADLINE = _Deadline()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker a slow test states its own limits with."""
    config.addinivalue_line(
        "markers",
        "time_limit(seconds, teardown=seconds): this test's limits for setup and "
        "call together, and for its teardown",
    )


def _limit_of(item: pytest.Item, phase: str) -> float:
    marker = item.get_closest_marker("time_limit")
    if phase == "teardown":
        given = marker.kwargs.get("teardown") if marker is not None else None
        return TEARDOWN_LIMIT if given is None else float(given)
    if marker is not None and marker.args:
        return float(marker.args[0])
    return DEFAULT_LIMIT


def _start(phase: str, limit: float) -> None:
    _DEADLINE.at = _now() + limit
    _DEADLINE.phase = phase
    _DEADLINE.limit = limit


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    """Setup and call share one deadline: it starts with the setup."""
    _start("setup and call", _limit_of(item, "setup and call"))
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, Any]:
    """Teardown gets a fresh, shorter deadline of its own."""
    _start("teardown", _limit_of(item, "teardown"))
    try:
        return (yield)
    finally:
        _DEADLINE.at = None
        _DEADLINE.phase = "outside a test"


def _stack_of(task: asyncio.Future[Any]) -> str:
    """Where ``task`` waits: its whole chain of awaits, not only its outer frame."""
    if not isinstance(task, asyncio.Task):
        return "(not a task)"
    out = io.StringIO()
    out.write(f"{task!r}\n")
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            out.write("".join(traceback.format_stack(frame, limit=1)))
        awaited = getattr(awaited, "cr_await", None) or getattr(
            awaited, "gi_yieldfrom", None
        )
    return out.getvalue()


def bound_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop.run_until_complete`` honour the current test's deadline.

    A watchdog thread waits on the real clock; at the deadline it has the loop take
    the awaited task's stack and cancel it, and :data:`CANCEL_GRACE` later, if the
    task ignored that, stop the loop. Either way the test fails with the stack.
    """
    original: Callable[[Awaitable[Any]], Any] = loop.run_until_complete
    if getattr(original, "_time_limited", False):
        return

    def run_until_complete(future: Awaitable[_T]) -> _T:
        if _DEADLINE.at is None:
            result: _T = original(future)
            return result
        task = asyncio.ensure_future(future, loop=loop)
        stacks: list[str] = []

        def expire() -> None:
            if not task.done():
                stacks.append(_stack_of(task))
                task.cancel()

        remaining = max(0.0, _DEADLINE.at - _now())
        watchdogs = [
            threading.Timer(remaining, loop.call_soon_threadsafe, (expire,)),
            threading.Timer(
                remaining + CANCEL_GRACE, loop.call_soon_threadsafe, (loop.stop,)
            ),
        ]
        for watchdog in watchdogs:
            watchdog.daemon = True
            watchdog.start()
        try:
            result = original(task)
        except (asyncio.CancelledError, RuntimeError):
            if not stacks:
                raise
        else:
            if not stacks:
                return result
        finally:
            for watchdog in watchdogs:
                watchdog.cancel()
                watchdog.join()  # Home Assistant's cleanup check counts threads
        raise TimeLimitExceeded(
            f"Time limit of {_DEADLINE.limit:.0f} s exceeded during "
            f"{_DEADLINE.phase}; the awaited task was cancelled. Where it waited:\n"
            f"{stacks[0]}"
        )

    run_until_complete._time_limited = True  # type: ignore[attr-defined]
    loop.run_until_complete = run_until_complete  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """Bound every event loop a test gets, as soon as its fixture makes it.

    pytest-asyncio before 1.0 (Home Assistant 2025.4's) hands tests the loop of its
    ``event_loop`` fixture; from 1.0 (Home Assistant 2026.x's) an ``asyncio.Runner``
    of a ``_<scope>_scoped_runner`` fixture, whose ``run`` calls the same
    ``run_until_complete``.
    """
    result = yield
    if isinstance(result, asyncio.AbstractEventLoop):
        bound_loop(result)
    elif isinstance(result, asyncio.Runner):
        bound_loop(result.get_loop())
    return result

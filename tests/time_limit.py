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
import contextlib
import io
import time
from typing import Any, Final, TypeVar

import pytest

_T = TypeVar("_T")

# Seconds for a test's setup and call together, unless it says otherwise with
# ``@pytest.mark.time_limit(seconds)`` (below pytest-timeout's backstop, 300 s). The slowest test of the suite takes ~12 s under
# coverage on a loaded two-core machine.
DEFAULT_LIMIT: Final = 60.0
# Seconds for a test's teardown (closing Home Assistant, servers, clients).
TEARDOWN_LIMIT: Final = 30.0
# Seconds a cancelled task gets to unwind before the failure is raised anyway.
CANCEL_GRACE: Final = 5.0


class TimeLimitExceeded(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """A test (or its teardown) ran past its time limit."""


class _Deadline:
    """The wall-clock (monotonic) time by which the current phase must be over."""

    at: float | None = None
    phase: str = "outside a test"
    limit: float = DEFAULT_LIMIT


_DEADLINE = _Deadline()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker a slow test states its own limit with."""
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
    _DEADLINE.at = time.monotonic() + limit
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
    if not isinstance(task, asyncio.Task):
        return "(not a task)"
    out = io.StringIO()
    task.print_stack(file=out)
    return out.getvalue()


async def _within_deadline(awaitable: Awaitable[_T]) -> _T:
    """Await ``awaitable`` until the current phase's deadline, then cancel it."""
    task = asyncio.ensure_future(awaitable)
    remaining = (
        None if _DEADLINE.at is None else max(0.0, _DEADLINE.at - time.monotonic())
    )
    done, _ = await asyncio.wait({task}, timeout=remaining)
    if done:
        return task.result()
    stack = _stack_of(task)
    task.cancel()
    with contextlib.suppress(BaseException):
        await asyncio.wait({task}, timeout=CANCEL_GRACE)
    raise TimeLimitExceeded(
        f"Time limit of {_DEADLINE.limit:.0f} s exceeded during {_DEADLINE.phase}; "
        f"the awaited task was cancelled. Where it waited:\n{stack}"
    )


def bound_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop.run_until_complete`` honour the current test's deadline."""
    original: Callable[[Awaitable[Any]], Any] = loop.run_until_complete
    if getattr(original, "_time_limited", False):
        return

    def run_until_complete(future: Awaitable[_T]) -> _T:
        result: _T = original(_within_deadline(future))
        return result

    run_until_complete._time_limited = True  # type: ignore[attr-defined]
    loop.run_until_complete = run_until_complete  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """Bound every event loop a test gets, as soon as its fixture makes it."""
    result = yield
    if fixturedef.argname == "event_loop" and isinstance(
        result, asyncio.AbstractEventLoop
    ):
        bound_loop(result)
    return result

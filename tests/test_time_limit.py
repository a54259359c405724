"""The suite's time limit fires in this harness, whatever the hung test awaits.

A pytest of its own (pytester, in a subprocess: the Home Assistant plugin and its
event loop policy load as they do for the real suite) runs tests that hang in the
ways a real one did: awaiting for ever, awaiting while another task keeps the loop
busy (where pytest-timeout's signal lands in the wrong task), and hanging in a
fixture's teardown after a failed assertion (issue #28: a server close that waited
for a paused session). Each must fail within its limit, and the run go on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

HUNG = """
import asyncio
import pytest

pytestmark = pytest.mark.time_limit(1, teardown=1)


async def test_hangs_awaiting() -> None:
    await asyncio.Event().wait()


async def test_hangs_while_another_task_keeps_the_loop_busy() -> None:
    async def spin() -> None:
        while True:
            await asyncio.sleep(0.001)

    spinner = asyncio.create_task(spin())
    try:
        await asyncio.Event().wait()
    finally:
        spinner.cancel()


@pytest.fixture
async def hangs_on_teardown():
    yield
    await asyncio.Event().wait()


async def test_fails_and_its_teardown_hangs(hangs_on_teardown: None) -> None:
    assert False


def test_after_them_all() -> None:
    pass
"""


@pytest.mark.time_limit(150)
def test_hung_tests_fail_within_their_limit_and_the_run_goes_on(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_hung=HUNG)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    # Not measured: pytest-cov's variables would have the inner run write coverage
    # data of its own, which the outer run cannot combine with its branch data.
    for name in [n for n in os.environ if n.startswith("COV_CORE_")]:
        monkeypatch.delenv(name)
    result = pytester.runpytest_subprocess(
        "-p",
        "tests.time_limit",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:cov",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-o",
        "timeout=120",
        "-q",
        timeout=140,
    )
    result.assert_outcomes(passed=1, failed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*TimeLimitExceeded: Time limit of 1 s exceeded during setup and call*",
            "*in test_hangs_awaiting*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*TimeLimitExceeded: Time limit of 1 s exceeded during teardown*"]
    )
    assert "Timeout" not in result.stdout.str()  # pytest-timeout's backstop: unused

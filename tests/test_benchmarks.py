"""Every benchmark still runs: each one's short mode, in the normal suite.

A benchmark nothing runs rots (issue #28): the code it drives moves, and the figures
``docs/performance.md`` quotes can no longer be reproduced. Each benchmark runs here
with ``--quick`` (``benchmarks/smoke.py``: one tiny iteration), as its own process
in its own session, so that whatever it starts (servers, simulated batteries, a Home
Assistant) is found afterwards and killed, never left behind. The benchmarks are
discovered, not listed: every ``benchmarks/*.py`` with a ``__main__`` block is one,
so a new benchmark is run from the day it is added, and one without the short mode
fails (no banner, or the time limit).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import re
import signal
import subprocess
import sys

import pytest

from benchmarks.smoke import BANNER, FLAG

ROOT = Path(__file__).parent.parent
BENCHMARKS = ROOT / "benchmarks"
MAIN = re.compile(r"^if __name__ == [\"']__main__[\"']:", re.MULTILINE)
# A smoke run takes seconds; a full run (a benchmark that ignores the flag) a minute
# or more. Generous for a loaded CI machine, and still a bound.
TIMEOUT = 120.0


def benchmark_modules() -> list[str]:
    """The runnable benchmarks: the modules of ``benchmarks/`` that have a main."""
    return sorted(
        path.stem for path in BENCHMARKS.glob("*.py") if MAIN.search(path.read_text())
    )


def session_members(session: int) -> list[int]:
    """Live processes (zombies aside) of ``session``, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # gone meanwhile
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


def child_environment(scratch: Path) -> dict[str, str]:
    """Our environment, temporary files in ``scratch``, and no coverage.

    pytest-cov would measure the benchmarks' processes too: slower, and coverage
    the tests did not earn.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("COV_CORE_", "COVERAGE_"))
    }
    return environment | {"TMPDIR": str(scratch)}


def test_the_benchmarks_are_discovered() -> None:
    # A broken discovery would run nothing and pass; the helpers have no main.
    found = benchmark_modules()
    assert {"codec", "server", "ha_push"} <= set(found)
    assert not {"library", "smoke", "bench_ha_push", "__init__"} & set(found)


@pytest.mark.parametrize("module", benchmark_modules())
def test_benchmark_runs_in_its_short_mode(module: str, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # Its output to a file, not a pipe: a process it leaves behind holding the pipe
    # would have us wait for the end of the output until the time limit.
    log = tmp_path / "output.txt"
    with log.open("w") as output_file:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our own module
            [sys.executable, "-m", f"benchmarks.{module}", FLAG],
            cwd=ROOT,
            env=child_environment(scratch),
            stdin=subprocess.DEVNULL,
            stdout=output_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its session id is its pid: all it starts is found
        )
    try:
        process.wait(timeout=TIMEOUT)
        left_behind = session_members(process.pid)
    except subprocess.TimeoutExpired:
        pytest.fail(f"benchmarks.{module} {FLAG} ran longer than {TIMEOUT:g} s")
    finally:  # whatever happened, nothing it started outlives the test
        for pid in [process.pid, *session_members(process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
    output = log.read_text(errors="replace")
    tail = output[-4000:]
    assert process.returncode == 0, f"benchmarks.{module} {FLAG} failed:\n{tail}"
    assert output.startswith(BANNER), (
        f"benchmarks.{module} has no short mode: {FLAG} must print the smoke banner "
        f"first (benchmarks/smoke.py):\n{tail}"
    )
    assert not left_behind, f"benchmarks.{module} left processes behind: {left_behind}"
    assert not list(scratch.iterdir()), f"benchmarks.{module} left temporary files"

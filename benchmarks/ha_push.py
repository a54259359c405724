"""What a push costs inside Home Assistant, with 1 and 20 batteries.

Run: ``.venv/bin/python -m benchmarks.ha_push [--quick]``. Runs
``benchmarks/bench_ha_push.py`` with the test harness (a real Home Assistant) and
prints its figures: event-loop CPU per realtime frame, state writes per frame,
receipt-to-state-written p50/p99.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import signal
import subprocess
import sys

from . import smoke

# The full run takes about a minute; past these, something hangs.
TIMEOUT = 600.0
QUICK_TIMEOUT = 90.0


def main(*, quick: bool) -> int:
    smoke.announce(quick=quick)
    here = Path(__file__).parent
    # Its own process group: Home Assistant and the simulated batteries it starts go
    # with it, whatever state a timeout leaves them in.
    process = subprocess.Popen(  # noqa: S603 - our own test file, our interpreter
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            # Plugins the bench does not use: a second of start-up less.
            *("-p", "no:hypothesispytest", "-p", "no:xdist", "-p", "no:pytest_cov"),
            *("-p", "no:sugar", "-p", "no:picked"),
            "-o",
            "addopts=",
            # A failure's report ends the output, without the captured log.
            *("--tb=short", "--show-capture=no"),
            "--rootdir",
            str(here.parent),
            str(here / "bench_ha_push.py"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # Home Assistant's log: shown if the run fails
        text=True,
        env=os.environ | {"BENCH_QUICK": "1" if quick else "0"},
        process_group=0,
    )
    try:
        stdout, _ = process.communicate(timeout=QUICK_TIMEOUT if quick else TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    lines = [line for line in stdout.splitlines() if line.startswith("BENCH")]
    print("\n".join(lines) if lines else stdout[-3000:])
    if process.returncode and lines:
        print(stdout[-3000:], file=sys.stderr)
    return process.returncode


if __name__ == "__main__":
    sys.exit(main(quick=smoke.parse(__doc__)))

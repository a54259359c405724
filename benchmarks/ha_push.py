"""What a push costs inside Home Assistant, with 1 and 20 batteries.

Run: ``.venv/bin/python -m benchmarks.ha_push``. Runs ``benchmarks/bench_ha_push.py``
with the test harness (a real Home Assistant) and prints its figures: event-loop CPU
per realtime frame, state writes per frame, receipt-to-state-written p50/p99.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys


def main() -> int:
    here = Path(__file__).parent
    result = subprocess.run(  # noqa: S603 - our own test file, our interpreter
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "--rootdir",
            str(here.parent),
            str(here / "bench_ha_push.py"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("BENCH")]
    print("\n".join(lines) if lines else result.stdout[-3000:])
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())

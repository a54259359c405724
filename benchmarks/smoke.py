"""The short mode every benchmark has, the one way for all of them: ``--quick``.

A benchmark nobody runs rots: the code it drives moves, and the next person who wants
a figure finds it broken (issue #28). ``tests/test_benchmarks.py`` runs every
benchmark with ``--quick`` in the normal suite: one tiny iteration through the same
code as the full run, seconds at most. What it prints is not a figure (a handful of
samples on a loaded CI machine), and the banner, printed first, says so.
"""

from __future__ import annotations

import argparse

FLAG = "--quick"
BANNER = (
    "SMOKE RUN (--quick): one tiny iteration to show this benchmark still runs; "
    "its numbers are not figures (run it without --quick for those)"
)


def add_flag(parser: argparse.ArgumentParser) -> None:
    """Give a benchmark's own parser the short mode."""
    parser.add_argument(
        FLAG,
        action="store_true",
        help="one tiny iteration, seconds: a smoke run that prints no figures",
    )


def parse(description: str | None) -> bool:
    """Parse a benchmark that has no options but the short mode: whether it is on."""
    parser = argparse.ArgumentParser(description=description)
    add_flag(parser)
    return bool(parser.parse_args().quick)


def announce(*, quick: bool) -> None:
    """Say, before anything else is printed, that what follows is not a figure."""
    if quick:
        print(BANNER, flush=True)

"""The rows a simulated battery keeps while offline, and the upload that answers Resume.

The battery records a row a minute, link or no link, and when the server's ``Resume``
asks for a stretch of minutes it sends them as CSV, a few rows per history frame
(command 12), each frame waiting for its acknowledgement. This module holds that: the
CSV the battery writes, the chunking, how long rows are kept, and which ``Resume`` can
be answered. The rows themselves come from the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Final

from ..codec.messages import ServerCommand
from ..codec.values import parse_int, parse_time
from .model import BatteryModel, Sample
from .readings import detail_values

HISTORY_ROWS_PER_FRAME: Final = 3
# Rows older than this are forgotten, so a long run does not grow without bound.
KEPT_FOR: Final = timedelta(days=8)

CSV_COLUMNS: Final = [
    "Date",
    "Time",
    "SN",
    "Ppv1",
    "Ppv2",
    "Vpv1",
    "Vpv2",
    "Ua",
    "Ub",
    "Uc",
    "Fac",
    "Ubus",
    "PrealL1",
    "PrealL2",
    "PrealL3",
    "Tinv",
    "PacL1",
    "PacL2",
    "PacL3",
    "InvWorkMode",
    "EpvTotal",
    "Einput",
    "Eoutput",
    "Echarge",
    "PmeterL1",
    "PmeterL2",
    "PmeterL3",
    "PmeterDC",
    "Pbat",
    "SOC",
    "BatV",
    "BatC",
    "FlagBms",
    "BmsWork",
    "Pcharge",
    "Pdischarge",
    "BmsRelay",
    "BmsNum",
    "VcellLow",
    "VcellHigh",
    "TcellLow",
    "TcellHigh",
    "IdTempelover",
    "IdTempEover",
    "IdTempediffe",
    "IdChargcurre",
    "IdDischcurre",
    "IdCellvolover",
    "IdCellvollower",
    "IdSoclower",
    "IdCellvoldiffe",
    "BatC1",
    "BatC2",
    "BatC3",
    "BatC4",
    "BatC5",
    "BatC6",
    "SOC1",
    "SOC2",
    "SOC3",
    "SOC4",
    "SOC5",
    "SOC6",
    "ErrInv",
    "WarInv",
    "ErrEms",
    "ErrBms",
    "ErrMeter",
    "ErrBackupBox",
    "EGridCharge",
    "EDischarge",
    "EmsStatus",
    "BmsShutdown",
    "InvBatV",
    "BmuRelay",
    "BmsHardVer1",
    "BmsHardVer2",
    "BmsHardVer3",
    "DispatchSwitch",
    "Pdispatch",
    "DispatchSoc",
    "DispatchMode",
]


def history_csv(rows: list[Sample], serial: str) -> bytes:
    """A command-12 payload: header plus ``rows``, as the battery writes it."""
    lines = [",".join(CSV_COLUMNS)]
    for row in rows:
        values = detail_values(row, serial)
        date, clock = values["Time"].split(" ")
        values |= {
            "Date": date,
            "Time": clock,
            "Vpv1": values["Upv1"],
            "Vpv2": values["Upv2"],
        }
        lines.append(",".join(values.get(column, "0") for column in CSV_COLUMNS))
    return ("\n".join(lines) + "\n").encode("ascii")


def resume_window(command: ServerCommand) -> tuple[datetime, int] | None:
    """The first minute and the number of minutes a ``Resume`` asks for, if it is one."""
    if command.command != "Resume" or len(command.parameters) < 2:
        return None
    start = parse_time(command.parameters[0])
    minutes = parse_int(command.parameters[1])
    if start is None or minutes is None:
        return None
    return start, minutes


class History:
    """One battery's kept rows, sent a few to a frame when the server asks."""

    def __init__(self, model: BatteryModel, serial: str) -> None:
        """Keep ``model``'s rows, uploaded under ``serial``."""
        self.model = model
        self.serial = serial
        # Test knob: history frames sent per Resume before the upload stalls (a link
        # about to drop); None sends them all.
        self.upload_limit: int | None = None

    def forget_old(self) -> None:
        """Drop the rows the battery no longer keeps."""
        self.model.forget_before(self.model.now - KEPT_FOR)

    def upload(self, start: datetime, minutes: int) -> Iterator[bytes]:
        """The history frames' payloads for ``minutes`` from ``start``, one by one.

        Each is made when it is asked for, so the knob may change during an upload.
        """
        rows = self.model.minute_rows(start, minutes)
        for sent, first in enumerate(range(0, len(rows), HISTORY_ROWS_PER_FRAME)):
            if self.upload_limit is not None and sent >= self.upload_limit:
                return
            chunk = rows[first : first + HISTORY_ROWS_PER_FRAME]
            yield history_csv(chunk, self.serial)

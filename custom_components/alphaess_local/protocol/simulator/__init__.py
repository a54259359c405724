"""A simulated AlphaESS battery that talks to a server as the real one does.

Used by the tests, the benchmarks and ``alphaess-cloud simulate``. One concept per
module, so each can be read at once:

- :mod:`.battery`: :class:`SimulatedBattery`, what a battery is and the order in
  which it talks; it composes the parts below.
- :mod:`.readings`: what it measures and says about itself, formatted as the real
  battery formats it (:class:`Identity`, :func:`detail_values`).
- :mod:`.link`: the wire: connect, send, wait for acknowledgements, reconnect.
- :mod:`.history`: the rows kept while offline and the upload that answers
  ``Resume`` (:func:`history_csv`).
- :mod:`.model`: the home system whose clock everything follows (PV, load, SOC).
- :mod:`.obedience`: settings, and the answers to the server's commands (the
  ``SetConfig`` round trip).

The names below were those of the single module this package replaces.
"""

from .battery import (
    DETAIL_INTERVAL,
    REALTIME_INTERVAL,
    REPORT_INTERVAL,
    SimulatedBattery,
)
from .history import CSV_COLUMNS, HISTORY_ROWS_PER_FRAME, history_csv
from .link import ACK_TIMEOUT, RECONNECT_DELAY, UNACKNOWLEDGED
from .readings import DEFAULT_SERIAL, Identity, detail_values

__all__ = [
    "ACK_TIMEOUT",
    "CSV_COLUMNS",
    "DEFAULT_SERIAL",
    "DETAIL_INTERVAL",
    "HISTORY_ROWS_PER_FRAME",
    "REALTIME_INTERVAL",
    "RECONNECT_DELAY",
    "REPORT_INTERVAL",
    "UNACKNOWLEDGED",
    "Identity",
    "SimulatedBattery",
    "detail_values",
    "history_csv",
]

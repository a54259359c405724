"""The owner's relay options, as the library's :class:`RelayPolicy`.

Off unless the owner turned it on: without a policy the server never opens a
connection out of the house. A firmware ``Update`` passes only with its own box ticked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .const import CONF_RELAY, CONF_RELAY_PASS, CONF_RELAY_UPDATE, CONF_RELAY_UPSTREAM
from .protocol import CommandKind, RelayPolicy


def relay_policy(options: Mapping[str, Any]) -> RelayPolicy | None:
    """The relay the options ask for, or ``None`` (off, or no usable address)."""
    if not options.get(CONF_RELAY):
        return None
    host, _, port = str(options.get(CONF_RELAY_UPSTREAM, "")).rpartition(":")
    if not host or not port.isdigit():
        return None
    passed = {CommandKind(kind) for kind in options.get(CONF_RELAY_PASS, [])}
    passed.discard(CommandKind.UPDATE)
    if options.get(CONF_RELAY_UPDATE):
        passed.add(CommandKind.UPDATE)
    return RelayPolicy(host, int(port), frozenset(passed))

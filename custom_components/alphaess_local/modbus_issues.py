"""Repairs of a Modbus entry: what keeps the inverter from answering, and the remedy.

The inverter takes one Modbus TCP client at a time. A second Home Assistant, another
integration or a proxy holding that slot is the commonest reason a reader gets
nothing, and the owner cannot see it anywhere else, so it is told and cleared when
the inverter answers again. Told after a few minutes, not at once: an inverter is
reported to hold the slot for about two minutes after a client leaves, so our own
flow's probe or the reader of a reloading entry can briefly be the other client. An inverter that does not answer at all is only told
after a long wait: many go quiet at night, which is a silent battery (its entities go
unavailable, ``silence.py``), not a fault. Another inverter answering at the address
(the router gave it to another device) is told too: its data is not this entry's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later

from .const import DOMAIN, MODBUS_SLOT_ISSUE_AFTER, MODBUS_UNREACHABLE_ISSUE_AFTER
from .protocol import mask_serial

SLOT_TAKEN: Final = "modbus_slot_taken"
NOT_ANSWERING: Final = "modbus_not_answering"
OTHER_INVERTER: Final = "modbus_other_inverter"


class ModbusIssues:
    """The repair issues of one Modbus entry (``host:port``, unit ``unit``)."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, title: str, address: str
    ) -> None:
        """Repairs for entry ``entry_id`` (named ``title``) reading ``address``."""
        self._hass = hass
        self._entry_id = entry_id
        self._placeholders = {
            "title": title,
            "address": address,
            "hours": f"{MODBUS_UNREACHABLE_ISSUE_AFTER.total_seconds() / 3600:.0f}",
        }
        self._timer: CALLBACK_TYPE | None = None
        self._slot_timer: CALLBACK_TYPE | None = None
        self._raised: set[str] = set()

    def issue_id(self, key: str) -> str:
        """The entry's issue of kind ``key`` (one of each per entry)."""
        return f"{key}_{self._entry_id}"

    @property
    def slot_wait(self) -> bool:
        """The slot was found taken and the repair waits to see if it stays so."""
        return self._slot_timer is not None

    @callback
    def slot_taken(self) -> None:
        """Another client holds the inverter's only Modbus slot: told if it stays so."""
        if self._slot_timer is None and SLOT_TAKEN not in self._raised:
            self._slot_timer = async_call_later(
                self._hass, MODBUS_SLOT_ISSUE_AFTER, self._slot_wait_over
            )

    @callback
    def not_answering(self) -> None:
        """The inverter is out of reach or silent: start the long wait, once."""
        if self._timer is None and NOT_ANSWERING not in self._raised:
            self._timer = async_call_later(
                self._hass, MODBUS_UNREACHABLE_ISSUE_AFTER, self._wait_over
            )

    @callback
    def other_inverter(self, serial: str) -> None:
        """Another inverter answers at the address (a DHCP lease moved, say)."""
        if OTHER_INVERTER in self._raised:
            return
        self._raised.add(OTHER_INVERTER)
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.issue_id(OTHER_INVERTER),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=OTHER_INVERTER,
            translation_placeholders={
                **self._placeholders,
                "serial": mask_serial(serial),
            },
        )

    @callback
    def answered(self) -> None:
        """The inverter answered: whatever kept it from it is over."""
        if self._timer is not None:
            self._timer()
            self._timer = None
        if self._slot_timer is not None:
            self._slot_timer()
            self._slot_timer = None
        for key in self._raised:
            ir.async_delete_issue(self._hass, DOMAIN, self.issue_id(key))
        self._raised.clear()

    @callback
    def shutdown(self) -> None:
        """The entry is going (or reloading): its issues go with it."""
        self.answered()

    @callback
    def _slot_wait_over(self, _now: datetime) -> None:
        self._slot_timer = None
        self._raise(SLOT_TAKEN)

    @callback
    def _wait_over(self, _now: datetime) -> None:
        self._timer = None
        self._raise(NOT_ANSWERING)

    def _raise(self, key: str) -> None:
        if key in self._raised:
            return
        self._raised.add(key)
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.issue_id(key),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR
            if key == SLOT_TAKEN
            else ir.IssueSeverity.WARNING,
            translation_key=key,
            translation_placeholders=self._placeholders,
        )

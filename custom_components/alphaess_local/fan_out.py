"""Which entities a push calls: its own battery's, and of those the ones it changed.

A battery pushes every 10 s and Home Assistant may hold twenty of them. Calling every
entity of every battery on every push would cost more than Home Assistant's own state
writes, so each entity says which battery it shows, which record part it reads and,
when it can, what it shows as a function of the battery's state (:class:`Listening`).
A push then calls only the entities whose value moved, and hands them that value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final, NamedTuple

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .battery import BatteryState, Part
from .protocol import (
    DetailedRecord,
    EventLog,
    HistoryUpload,
    RealtimeRecord,
    SystemReport,
)

# The part of a battery's state each kind of record replaces.
PARTS: Final[Mapping[type, Part]] = {
    RealtimeRecord: Part.REALTIME,
    DetailedRecord: Part.DETAIL,
    SystemReport: Part.REPORT,
    HistoryUpload: Part.HISTORY,
    EventLog: Part.EVENTS,
}


class Listening(NamedTuple):
    """An entity's listener context: its battery, the part it reads, what it shows.

    ``shows`` is what the entity shows as a function of the battery's state, when it
    can say. With it, a push of the entity's part that leaves that value as it was does
    not call the entity at all: of a realtime push's ~18 entities, the ~8 whose value
    moved are asked, and those are handed the value (``show``) instead of working it
    out again. Pushes that may change anything else (availability, a battery found)
    call every entity's ``update``, as without it.
    """

    serial: str
    part: Part | None
    shows: Callable[[BatteryState], object] | None = None
    show: Callable[[object], None] | None = None


_UNSEEN: Final = object()


class _Listener:
    """One entity's update callback, with the value it was last called for."""

    __slots__ = ("last", "show", "shows", "update")

    def __init__(self, update: CALLBACK_TYPE, context: Listening) -> None:
        self.update = update
        # A value function's own reader: one call less on every push.
        self.shows = getattr(context.shows, "read", context.shows)
        self.show = context.show
        self.last: object = _UNSEEN

    def notify(self, state: BatteryState | None, *, only_if_changed: bool) -> None:
        """Call the entity, unless ``only_if_changed`` and its value stayed."""
        if self.shows is not None and state is not None:
            shown = self.shows(state)
            if only_if_changed:
                if shown == self.last:
                    return
                self.last = shown
                if self.show is not None:
                    self.show(shown)
                    return
            self.last = shown
        self.update()


class PushFanOut:
    """Per battery, its entities by the record part they read; pushes once per turn.

    ``on_grown`` hears of the batteries that gained data they did not have (entity
    discovery looks only at those).
    """

    def __init__(
        self,
        hass: HomeAssistant,
        batteries: Mapping[str, BatteryState],
        on_grown: Callable[[Iterable[str]], None],
    ) -> None:
        """Fan pushes of ``batteries`` out to their entities."""
        self._hass = hass
        self._batteries = batteries
        self._on_grown = on_grown
        self._scheduled = False
        # Per battery, the record parts pushed since the last update (None: anything
        # may have changed, such as availability).
        self._changed: dict[str, set[Part] | None] = {}
        # Each battery's entities by the record part they read (None: any).
        self._listeners: dict[str, dict[Part | None, dict[object, _Listener]]] = {}
        self._shapes: dict[str, tuple[object, ...]] = {}

    def schedule(self, serial: str, part: Part | None = None) -> None:
        """Notify the battery's entities once per loop turn.

        A burst of pushes read from one TCP segment (late records arrive that way)
        then updates state once, with the newest. With ``part`` given, only the
        entities that read it or no part in particular are called.
        """
        if part is None:
            self._changed[serial] = None
        elif serial not in self._changed:
            self._changed[serial] = {part}
        elif (parts := self._changed[serial]) is not None:
            parts.add(part)
        if not self._scheduled:
            self._scheduled = True
            self._hass.loop.call_soon(self.push)

    @callback
    def push(self) -> None:
        """Call the entities of every battery pushed since the last turn."""
        self._scheduled = False
        changed, self._changed = self._changed, {}
        grown: list[str] = []
        for serial, parts in changed.items():
            state = self._batteries.get(serial)
            # A push of known parts only: entities that can say what they show are
            # called only if that changed (:class:`Listening`).
            only_if_changed = parts is not None
            for part, listeners in list(self._listeners.get(serial, {}).items()):
                if part is None or parts is None or part in parts:
                    for listener in list(listeners.values()):
                        listener.notify(state, only_if_changed=only_if_changed)
            if state is not None and self._shapes.get(serial) != (shape := state.shape):
                self._shapes[serial] = shape
                grown.append(serial)
        if grown:
            self._on_grown(grown)

    def add(self, update: CALLBACK_TYPE, context: Listening) -> Callable[[], None]:
        """Listen to one battery (and part) on an entity's behalf; returns removal."""
        listeners = self._listeners.setdefault(context.serial, {}).setdefault(
            context.part, {}
        )
        token = object()
        listeners[token] = _Listener(update, context)

        @callback
        def remove() -> None:
            listeners.pop(token, None)

        return remove
